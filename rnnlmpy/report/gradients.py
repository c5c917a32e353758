"""Gradients through time of several models (``rnnlmpy gradients``): their curves, as lines and as a plot."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..base.files import PNG, check_output
from ..rnnlm import gradient_norms_file, load_model
from ..rnnlm.gradients import check_steps
from ..tagger import tagger_gradient_norms_file
from .plotting import import_pyplot

__all__ = ["GradientCurve", "format_gradient_curves", "gradient_curves"]


@dataclass
class GradientCurve:
    """One model's (or tagger direction's) mean ||dL(t)/dh(t-k)|| for k = 0..K: ``norms`` float64 (K+1,) (NaN
    where no pair is k apart), ``pairs`` int64 (K+1,) the pairs (t, t-k) averaged; ``label`` names it."""

    label: str
    norms: np.ndarray
    pairs: np.ndarray


def gradient_curves(language_models: list[str], taggers: list[str], test_file: str, steps: int,
                    output: str | None = None, force: bool = False) -> list[GradientCurve]:
    """The curves of each language model file and each tagger file (one per reading direction) over
    ``test_file`` (a tagger's: ``word_TAG`` lines), k = 0..``steps``. ``output``, the plot to be written later
    (``plot_gradient_curves``), is checked first, and matplotlib with it, so that a bad path or a missing
    matplotlib fails before the work."""
    steps = check_steps(steps)
    if output is not None:
        check_output(output, [PNG], [*language_models, *taggers, test_file], force, "a PNG image")
        import_pyplot()
    curves = []
    for path in language_models:
        norms, pairs = gradient_norms_file(load_model(path), test_file, steps)
        curves.append(GradientCurve(path, norms, pairs))
    for path in taggers:
        for direction, (norms, pairs) in tagger_gradient_norms_file(path, test_file, steps).items():
            curves.append(GradientCurve(f"{path} ({direction})", norms, pairs))
    return curves


def format_gradient_curves(curves: list[GradientCurve]) -> str:
    """One ``k norm`` line per step (the norm in %e, ``nan`` where no pair is k apart); with several curves each
    block opens with ``# LABEL`` and blocks are separated by an empty line (gnuplot's and NumPy's ``loadtxt``
    conventions)."""
    blocks = []
    for curve in curves:
        lines = [f"# {curve.label}"] if len(curves) > 1 else []
        lines += [f"{k} {norm:.6e}" if math.isfinite(norm) else f"{k} {norm}" for k, norm in enumerate(curve.norms)]
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)
