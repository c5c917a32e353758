"""Learning curves of one or more models (``rnnlmpy plot``); matplotlib is an optional extra."""

from __future__ import annotations

import os

from ..base.errors import RnnlmpyError
from ..base.files import PNG, check_output, claimed_output, write_atomically
from .info import histories

INSTALL_HINT = "plotting needs matplotlib: pip install 'rnnlmpy[plot]' (or pip install matplotlib)"


def import_pyplot():
    """``matplotlib.pyplot`` drawing with Agg (a PNG file needs no screen); RnnlmpyError when matplotlib is
    missing or ``$MPLBACKEND`` names no backend (matplotlib reads it on import, before Agg can be chosen)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RnnlmpyError(INSTALL_HINT) from None
    except ValueError as error:  # matplotlib's "Key backend: 'x' is not a valid value for backend; ..."
        if "MPLBACKEND" not in os.environ:
            raise
        raise RnnlmpyError(f"MPLBACKEND={os.environ['MPLBACKEND']!r} is not a matplotlib backend; unset it "
                           "(plot draws with Agg whatever it names)") from None
    return plt


def plot_learning_curves(model_paths: list[str], output: str, force: bool = False) -> None:
    """Draw validation perplexity (taggers: train entropy) and alpha per epoch for each model into a PNG.

    ``output`` may replace an earlier PNG, or anything else with ``force`` (never one of the models).
    """
    check_output(output, [PNG], model_paths, force, "a PNG image")
    plt = import_pyplot()
    series = [(os.path.basename(path), histories(path)) for path in model_paths]
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(8, 7), sharex=True)
    for name, data in series:
        if data["kind"] == "rnnlm":
            top.plot(data["epoch"], data["valid_ppl"], marker="o", label=f"{name} (validation perplexity)")
        else:
            top.plot(data["epoch"], data["train_entropy"], marker="o", label=f"{name} (train entropy, bits)")
        bottom.plot(data["epoch"], data["alpha"], marker="o", label=name)
    top.set_ylabel("validation perplexity" if all(d["kind"] == "rnnlm" for _, d in series) else "value")
    top.set_title("Learning curves")
    top.grid(True, alpha=0.3)
    top.legend()
    bottom.set_ylabel("learning rate alpha")
    bottom.set_xlabel("epoch")
    bottom.set_yscale("log")
    bottom.grid(True, alpha=0.3)
    bottom.legend()
    write_figure(plt, figure, output, model_paths, force)


def write_figure(plt, figure, output: str, inputs: list[str], force: bool) -> None:
    """Save ``figure`` as the PNG ``output`` (atomically, claimed as this command's output, never over one of
    ``inputs``) and close it, written or not."""
    figure.tight_layout()
    try:
        with claimed_output(output, [PNG], inputs, force, "a PNG image"):
            write_atomically(output, lambda handle: figure.savefig(handle, format="png", dpi=100))
    finally:
        plt.close(figure)


def plot_gradient_curves(curves: list, output: str, inputs: list[str], force: bool = False) -> None:
    """Draw gradient-through-time curves (``report.gradients.GradientCurve``: mean ||dL(t)/dh(t-k)|| against k)
    on a log-scale y axis into a PNG. ``output`` may replace an earlier PNG, or anything else with ``force``
    (never one of the ``inputs``)."""
    check_output(output, [PNG], inputs, force, "a PNG image")
    plt = import_pyplot()
    figure, axes = plt.subplots(figsize=(8, 5))
    for curve in curves:
        shown = [(k, norm) for k, norm in enumerate(curve.norms.tolist()) if norm > 0 and norm != float("inf")]
        axes.plot([k for k, _ in shown], [norm for _, norm in shown], marker="o", markersize=3,
                  label=os.path.basename(curve.label))
    axes.set_yscale("log")
    axes.set_xlabel("k (steps back)")
    axes.set_ylabel("mean ||d loss(t) / d h(t-k)||")
    axes.set_title("Gradients through time")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    write_figure(plt, figure, output, inputs, force)
