"""Reports about models: ``info`` (what a model file holds), ``plot`` (learning curves) and ``gradients``
(gradients through time)."""

from .gradients import GradientCurve, format_gradient_curves, gradient_curves
from .info import describe
from .plotting import plot_gradient_curves, plot_learning_curves

__all__ = ["GradientCurve", "describe", "format_gradient_curves", "gradient_curves", "plot_gradient_curves",
           "plot_learning_curves"]
