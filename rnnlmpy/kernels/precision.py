"""Markers of the arithmetic of a kernel's matrix products, whose Numba types pick the compiled code.

``FLOAT32`` (or the model's float64): BLAS and the kernels' own float loops. ``BFLOAT16``: the products' inputs
rounded to bfloat16 and summed in float32 (``bfloat16``), twice the multiply-adds a cycle on a CPU with AVX-512
BF16. Families that honour them: ``layer_products`` (the window cells) and ``softmax_products`` (the full
softmax).
"""

from __future__ import annotations

from typing import NamedTuple


class Float32(NamedTuple):
    """Products in the model's own float type (a marker)."""

    code: int = 0


class Bfloat16(NamedTuple):
    """Products with bfloat16 inputs and float32 sums (a marker)."""

    code: int = 1


FLOAT32 = Float32()
BFLOAT16 = Bfloat16()
MARKERS = {"float32": FLOAT32, "bfloat16": BFLOAT16}  # -product-precision name -> marker


def kind(marker_type) -> type | None:
    """The Python class of a marker's Numba type (None for other types): what an ``overload`` dispatches on."""
    return getattr(marker_type, "instance_class", None)
