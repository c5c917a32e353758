"""Matrix products with bfloat16 inputs and float32 sums (AVX-512 BF16), for the batched engine's training steps.

A bfloat16 is the upper half of a float32: the same 8 exponent bits, 8 significant bits (about 3 decimal
digits). The AVX-512 BF16 instruction VDPBF16PS multiplies 16 pairs of bfloat16 numbers and adds each pair's
two products into one float32 lane: twice the multiply-adds a cycle of float32 FMA on the same registers
(measured on this project's Zen 4 cores: ~230 against ~115 GFLOP/s a core). Sums stay float32, and only the
products' inputs are rounded (to nearest, ties to even), as in PyTorch's bfloat16 autocast.

Operands are stored *paired*: the summed index k two at a time, a pair packed into one uint32 (k even in the low
16 bits, k + 1 in the high ones; K odd: the last pair's high half is zero). For ``a @ b`` with ``a`` (M, K) and
``b`` (K, N):

- ``a`` as row pairs (M', P), made by ``pair_columns``: ``a_pairs[m, q]`` = (a[m, 2q], a[m, 2q + 1]);
- ``b`` as column pairs (P, N'), made by ``pair_rows``: ``b_pairs[q, n]`` = (b[2q, n], b[2q + 1, n]);

``P = ceil(K / 2)``, ``M'`` a multiple of ``TILE_ROWS``, ``N'`` of ``LANES``, and the padding zero. A tile of
``TILE_ROWS`` rows by ``TILE_VECTORS * LANES`` columns is summed in registers (24 accumulators of Zen 4's 32
vector registers) over a block of ``PAIR_BLOCK`` pairs at a time; the tile kernel is LLVM IR emitted through
Numba's ``intrinsic``, since Numba has no vector types of its own. Kernels need a CPU with AVX-512 BF16
(``supported``); ``reference_product`` is the NumPy reference they are tested against.
"""

from __future__ import annotations

import functools

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

LANES = 16  # float32 lanes of a 512-bit vector
TILE_ROWS = 6  # rows of a tile
TILE_VECTORS = 4  # vectors of LANES columns in a wide tile (a narrow tile: 1)
PAIR_BLOCK = 256  # pairs summed per tile call (a wide tile's block of b: 64 KB, in the 1 MB L2)


@functools.lru_cache(maxsize=None)
def supported() -> bool:
    """Whether kernels may use the AVX-512 BF16 instructions: this CPU has them (LLVM's view of the host), and
    Numba compiles for the host, or for a CPU named by ``NUMBA_CPU_NAME`` with ``+avx512bf16`` among its
    ``NUMBA_CPU_FEATURES`` (a portable cache's generic CPU has no such instructions to compile to)."""
    from llvmlite import binding
    from numba.core import config

    if (config.CPU_NAME or "host") != "host" and "+avx512bf16" not in (config.CPU_FEATURES or ""):
        return False
    return bool(binding.get_host_cpu_features().get("avx512bf16", False))


@njit(cache=True)
def padded(count, multiple):
    """``count`` rounded up to a multiple of ``multiple``."""
    return -(-count // multiple) * multiple


@njit(cache=True)
def row_pairs_shape(rows, columns):
    """The shape of ``pair_columns``'s output for an (rows, columns) input: (rows', pairs)."""
    return padded(rows, TILE_ROWS), (columns + 1) // 2


@njit(cache=True)
def column_pairs_shape(rows, columns):
    """The shape of ``pair_rows``'s output for an (rows, columns) input: (pairs, columns')."""
    return (rows + 1) // 2, padded(columns, LANES)


# ---------------------------------------------------------------------------------------------------------------
# rounding and packing


@njit(cache=True, inline="always")
def bfloat16_bits(value):
    """The bfloat16 nearest ``value`` (float32), ties to even, as the low 16 bits of a uint64."""
    bits = np.uint64(np.float32(value).view(np.uint32))
    return (bits + np.uint64(0x7FFF) + ((bits >> np.uint64(16)) & np.uint64(1))) >> np.uint64(16)


@njit(cache=True, inline="always")
def pair(low, high):
    """One uint32 holding bfloat16(``low``) in its low half and bfloat16(``high``) in its high half."""
    return np.uint32(bfloat16_bits(low) | (bfloat16_bits(high) << np.uint64(16)))


@njit(cache=True, nogil=True)
def pair_columns(source, out):
    """``out`` (M', P) uint32 = row pairs of ``source`` (M, K) float32: ``out[m, q]`` = (source[m, 2q],
    source[m, 2q + 1]); rows past M and the missing half of an odd K are zero."""
    rows, columns = source.shape
    zero = np.float32(0.0)
    for m in range(rows):
        for q in range(columns // 2):
            out[m, q] = pair(source[m, 2 * q], source[m, 2 * q + 1])
        if columns % 2:
            out[m, columns // 2] = pair(source[m, columns - 1], zero)
    out[rows:] = 0


@njit(cache=True, nogil=True)
def pair_rows(source, out):
    """``out`` (P, N') uint32 = column pairs of ``source`` (K, N) float32: ``out[q, n]`` = (source[2q, n],
    source[2q + 1, n]); columns past N and the missing half of an odd K are zero."""
    rows, columns = source.shape
    zero = np.float32(0.0)
    for q in range(out.shape[0]):
        low = source[2 * q]
        if 2 * q + 1 < rows:
            high = source[2 * q + 1]
            for n in range(columns):
                out[q, n] = pair(low[n], high[n])
        else:
            for n in range(columns):
                out[q, n] = pair(low[n], zero)
        out[q, columns:] = 0


def reference_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """NumPy reference of ``product``: ``a`` (M, K) @ ``b`` (K, N) with both rounded to bfloat16 (nearest, ties to
    even), summed in float64 (the kernels sum in float32: they agree to float32 rounding)."""
    def rounded(values: np.ndarray) -> np.ndarray:
        bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
        bits = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
        return bits.astype(np.uint32).view(np.float32).astype(np.float64)

    return rounded(a) @ rounded(b)


# ---------------------------------------------------------------------------------------------------------------
# the tile kernel


class _BFloat(ir.Type):
    """LLVM's ``bfloat`` type (llvmlite's IR builder has no class of its own for it)."""

    def _to_string(self) -> str:
        return "bfloat"

    def __eq__(self, other) -> bool:
        return isinstance(other, _BFloat)

    def __hash__(self) -> int:
        return hash("bfloat")


_I32, _I64 = ir.IntType(32), ir.IntType(64)
_FLOATS = ir.VectorType(ir.FloatType(), LANES)
_PAIRS = ir.VectorType(_I32, LANES)
_BFLOATS = ir.VectorType(_BFloat(), 2 * LANES)
_DOT = "llvm.x86.avx512bf16.dpbf16ps.512"  # <16 x float> (<16 x float> acc, <32 x bfloat> a, <32 x bfloat> b)


def _tile_kernel(rows: int, vectors: int, transposed: bool):
    """An intrinsic ``tile(a, a_stride, b, b_stride, pairs, c, c_stride, add)`` (all int64; addresses in bytes,
    strides in elements): the (rows, vectors * LANES) tile ``sum_q a[i, q] . b[q, j]`` over ``pairs`` pairs of
    row pairs ``a`` and column pairs ``b``, stored to ``c[i, j]`` (``transposed``: ``c[j, i]``), or added to it
    where ``add`` is not 0."""

    @intrinsic
    def tile(typingctx, a_addr, a_stride, b_addr, b_stride, pairs, c_addr, c_stride, add):
        signature = types.void(*([types.int64] * 8))

        def codegen(context, builder, signature, args):
            a_addr, a_stride, b_addr, b_stride, pairs, c_addr, c_stride, add = args
            dot = builder.module.declare_intrinsic(_DOT, fnty=ir.FunctionType(_FLOATS, [_FLOATS, _BFLOATS,
                                                                                       _BFLOATS]))
            a = builder.inttoptr(a_addr, _I32.as_pointer())
            b = builder.inttoptr(b_addr, _I32.as_pointer())
            c = builder.inttoptr(c_addr, ir.FloatType().as_pointer())
            sums = [[cgutils.alloca_once_value(builder, ir.Constant(_FLOATS, [0.0] * LANES))
                     for _ in range(vectors)] for _ in range(rows)]
            undefined = ir.Constant(_PAIRS, None)
            broadcast = ir.Constant(_PAIRS, [0] * LANES)
            with cgutils.for_range(builder, pairs) as loop:
                b_row = builder.gep(b, [builder.mul(loop.index, b_stride)])
                b_vectors = []
                for v in range(vectors):
                    pointer = builder.bitcast(builder.gep(b_row, [ir.Constant(_I64, LANES * v)]),
                                              _PAIRS.as_pointer())
                    b_vectors.append(builder.bitcast(builder.load(pointer, align=4), _BFLOATS))
                for i in range(rows):
                    a_pointer = builder.gep(a, [builder.add(builder.mul(ir.Constant(_I64, i), a_stride),
                                                            loop.index)])
                    one = builder.insert_element(undefined, builder.load(a_pointer, align=4), ir.Constant(_I32, 0))
                    a_vector = builder.bitcast(builder.shuffle_vector(one, undefined, broadcast), _BFLOATS)
                    for v in range(vectors):
                        builder.store(builder.call(dot, [builder.load(sums[i][v]), a_vector, b_vectors[v]]),
                                      sums[i][v])
            adding = builder.icmp_signed("!=", add, ir.Constant(_I64, 0))
            with builder.if_else(adding) as (then, otherwise):
                for branch, accumulate in ((then, True), (otherwise, False)):
                    with branch:
                        _store_tile(builder, sums, c, c_stride, accumulate, transposed)
            return context.get_dummy_value()

        return signature, codegen

    return tile


def _store_tile(builder, sums, c, c_stride, accumulate: bool, transposed: bool) -> None:
    """Store (or add) the tile's sums at ``c``: rows of ``c_stride`` floats, or transposed."""
    for i, row in enumerate(sums):
        for v, cell in enumerate(row):
            value = builder.load(cell)
            if not transposed:
                offset = builder.add(builder.mul(ir.Constant(_I64, i), c_stride), ir.Constant(_I64, LANES * v))
                pointer = builder.bitcast(builder.gep(c, [offset]), _FLOATS.as_pointer())
                if accumulate:
                    value = builder.fadd(value, builder.load(pointer, align=4))
                builder.store(value, pointer, align=4)
                continue
            for lane in range(LANES):
                offset = builder.add(builder.mul(ir.Constant(_I64, LANES * v + lane), c_stride), ir.Constant(_I64, i))
                pointer = builder.gep(c, [offset])
                element = builder.extract_element(value, ir.Constant(_I32, lane))
                if accumulate:
                    element = builder.fadd(element, builder.load(pointer, align=4))
                builder.store(element, pointer, align=4)


_WIDE = _tile_kernel(TILE_ROWS, TILE_VECTORS, False)
_NARROW = _tile_kernel(TILE_ROWS, 1, False)
_WIDE_TRANSPOSED = _tile_kernel(TILE_ROWS, TILE_VECTORS, True)
_NARROW_TRANSPOSED = _tile_kernel(TILE_ROWS, 1, True)
_WIDTH = TILE_VECTORS * LANES


@njit(cache=True, inline="always")
def _full_tile(width, transposed, a_addr, a_stride, b_addr, b_stride, pairs, c_addr, c_stride, add):
    """The tile kernel of ``width`` columns (wide or narrow), plain or ``transposed``."""
    if width == _WIDTH:
        if transposed:
            _WIDE_TRANSPOSED(a_addr, a_stride, b_addr, b_stride, pairs, c_addr, c_stride, add)
        else:
            _WIDE(a_addr, a_stride, b_addr, b_stride, pairs, c_addr, c_stride, add)
    elif transposed:
        _NARROW_TRANSPOSED(a_addr, a_stride, b_addr, b_stride, pairs, c_addr, c_stride, add)
    else:
        _NARROW(a_addr, a_stride, b_addr, b_stride, pairs, c_addr, c_stride, add)


@njit(cache=True, nogil=True)
def _product(a_pairs, b_pairs, out, transposed, accumulate):
    """``out`` = a @ b (``transposed``: its transpose; ``accumulate``: added to ``out``) from ``a_pairs`` (M', P)
    and ``b_pairs`` (P, N'); ``out`` (M, N) (transposed: (N, M)) float32 with contiguous rows."""
    if transposed:
        columns, rows = out.shape
    else:
        rows, columns = out.shape
    pairs = a_pairs.shape[1]
    a_stride, b_stride = a_pairs.shape[1], b_pairs.shape[1]
    c_stride = out.strides[0] // 4
    a_addr, b_addr, c_addr = a_pairs.ctypes.data, b_pairs.ctypes.data, out.ctypes.data
    spare = np.empty(TILE_ROWS * _WIDTH, dtype=np.float32)  # an edge tile, copied to ``out`` element by element
    for p0 in range(0, pairs, PAIR_BLOCK):
        count = min(PAIR_BLOCK, pairs - p0)
        add = 1 if p0 > 0 or accumulate else 0
        j0 = 0
        while j0 < b_pairs.shape[1]:
            width = _WIDTH if j0 + _WIDTH <= b_pairs.shape[1] else LANES
            b_at = b_addr + 4 * (p0 * b_stride + j0)
            for i0 in range(0, rows, TILE_ROWS):
                a_at = a_addr + 4 * (i0 * a_stride + p0)
                if i0 + TILE_ROWS <= rows and j0 + width <= columns:
                    at = c_addr + 4 * ((j0 * c_stride + i0) if transposed else (i0 * c_stride + j0))
                    _full_tile(width, transposed, a_at, a_stride, b_at, b_stride, count, at, c_stride, add)
                    continue
                _full_tile(width, False, a_at, a_stride, b_at, b_stride, count, spare.ctypes.data, width, 0)
                for i in range(min(TILE_ROWS, rows - i0)):
                    for j in range(min(width, columns - j0)):
                        value = spare[i * width + j]
                        if transposed:
                            out[j0 + j, i0 + i] = value + out[j0 + j, i0 + i] if add else value
                        else:
                            out[i0 + i, j0 + j] = value + out[i0 + i, j0 + j] if add else value
            j0 += width


@njit(cache=True, nogil=True)
def product(a_pairs, b_pairs, out):
    """``out`` (M, N) float32 = a @ b, from ``a_pairs`` (M', P) (``pair_columns`` of a (M, K)) and ``b_pairs``
    (P, N') (``pair_rows`` of b (K, N)); ``out``'s rows contiguous. Sums in float32."""
    _product(a_pairs, b_pairs, out, False, False)


@njit(cache=True, nogil=True)
def add_product(a_pairs, b_pairs, out):
    """``out`` (M, N) float32 += a @ b, as ``product``."""
    _product(a_pairs, b_pairs, out, False, True)


@njit(cache=True, nogil=True)
def product_transposed(a_pairs, b_pairs, out):
    """``out`` (N, M) float32 = (a @ b).T, from ``a_pairs`` and ``b_pairs`` as in ``product``."""
    _product(a_pairs, b_pairs, out, True, False)


@njit(cache=True, nogil=True)
def add_product_transposed(a_pairs, b_pairs, out):
    """``out`` (N, M) float32 += (a @ b).T, as ``product_transposed``."""
    _product(a_pairs, b_pairs, out, True, True)


@njit(cache=True, nogil=True)
def row_pairs(source):
    """``pair_columns`` of ``source`` (M, K) into a new array."""
    out = np.empty(row_pairs_shape(source.shape[0], source.shape[1]), dtype=np.uint32)
    pair_columns(source, out)
    return out


@njit(cache=True, nogil=True)
def column_pairs(source):
    """``pair_rows`` of ``source`` (K, N) into a new array."""
    out = np.empty(column_pairs_shape(source.shape[0], source.shape[1]), dtype=np.uint32)
    pair_rows(source, out)
    return out
