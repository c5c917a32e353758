"""Reports about models: ``info`` (what a model file holds) and ``plot`` (learning curves)."""

from .info import describe
from .plotting import plot_learning_curves

__all__ = ["describe", "plot_learning_curves"]
