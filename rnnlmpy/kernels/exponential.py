"""A float32 exponential that the compiler can vectorise, for the activations of whole hidden layers.

``math.exp`` compiles to one call of the C library per element, which keeps a
loop over a hidden layer scalar (about 4 ns an element here). ``exp_float32``
is plain arithmetic instead: ``e**x = 2**n * e**r`` with ``n = round(x /
ln 2)``, ``r = x - n ln 2`` (ln 2 in two parts, so ``r`` is exact to float32),
``e**r`` from a degree-7 polynomial (Cephes' ``expf`` coefficients, within 2
ulp of the exact value on |r| <= ln 2 / 2), and ``2**n`` built from its bit
pattern. A loop of it runs eight lanes per AVX2 instruction.

Two compiler settings matter to a loop that uses it: ``EXACT_FASTMATH``
(fast-math without reassociation, which would fold the two parts of ln 2
back into one and cost about 4 ulp), and ``error_model="numpy"`` where the
loop divides (Python's model checks every divisor for zero, and that branch
stops vectorisation). ``exponential`` picks ``exp_float32`` for float32 and
``math.exp`` for float64, at compile time.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import intrinsic, overload

EXACT_FASTMATH = {"nnan", "ninf", "nsz", "arcp", "contract", "afn"}  # fast-math less "reassoc"
EXP_LIMIT = 87.0  # |x| up to which exp_float32 is defined: 2**(x / ln 2) stays a normal float32

LOG2_E = 1.4426950408889634
LN2_HIGH = 0.693359375  # ln 2 = LN2_HIGH + LN2_LOW; LN2_HIGH has few bits, so n * LN2_HIGH is exact
LN2_LOW = -2.12194440e-4
# e**r = 1 + r + r**2 * (P0 + r * (P1 + ...)) on |r| <= ln 2 / 2 (Cephes expf)
P5, P4, P3, P2, P1, P0 = 1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, \
    5.0000001201e-1


@intrinsic
def float32_from_bits(typingctx, bits):
    """The float32 whose IEEE-754 bit pattern is the int32 ``bits`` (a bit cast, no conversion)."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float32))

    return types.float32(types.int32), codegen


@njit(cache=True, fastmath=EXACT_FASTMATH, inline="always")
def exp_float32(x):
    """e**x for a float32 ``x`` in [-EXP_LIMIT, EXP_LIMIT] (outside: garbage; callers clamp), within 2 ulp."""
    n = np.floor(x * np.float32(LOG2_E) + np.float32(0.5))
    r = x - n * np.float32(LN2_HIGH)
    r = r - n * np.float32(LN2_LOW)
    p = np.float32(P5)
    p = p * r + np.float32(P4)
    p = p * r + np.float32(P3)
    p = p * r + np.float32(P2)
    p = p * r + np.float32(P1)
    p = p * r + np.float32(P0)
    p = p * r * r + r + np.float32(1.0)
    return p * float32_from_bits((np.int32(n) + np.int32(127)) << np.int32(23))


def exponential(x):
    """e**x, float32 in and out through ``exp_float32`` (callers clamp to EXP_LIMIT), else ``math.exp``; for
    jitted code (its Python body serves plain calls)."""
    return math.exp(x)


@overload(exponential, inline="always", jit_options={"fastmath": EXACT_FASTMATH})
def _exponential(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        return lambda x: exp_float32(x)
    return lambda x: math.exp(x)
