"""Compiled loops over the rows of a channels-first array (numba, optional).

A C-ordered ``(N, C, H, W)`` batch is, without any copy, the matrix
``(N * C, H * W)`` whose row ``r`` holds channel ``r % C`` of one sample,
contiguous in memory.  Per-channel statistics are then per-row statistics
merged over the samples (:mod:`sknorm._channels`), and a per-channel affine
map is a per-row one.  These loops do the per-row work while the row streams
through the registers once:

``row_moments``
    per row: observation count, mean of ``x - shift[r % C]`` and population
    variance, in float64.  The row is viewed as ``(length / lanes, lanes)``
    and summed lane by lane (independent accumulators the compiler turns
    into SIMD registers: a single running sum would be one dependent
    addition per element, four times slower), in blocks whose sums are
    added into the totals (a block's sum carries the rounding of ``block``
    terms, not of the row's length).  The sums are taken around a working
    shift, the mean of the row's first values (:data:`HEAD`), and again
    around the row's mean when that turns out far from it, exactly the
    shifted one-pass scheme of :mod:`.numpy_blocked` (the row is still in
    the cache when it is summed again);
``row_affine``
    ``(x - center) * scale + offset`` with per-row terms, in that order of
    operations (no fused multiply-add, the generic kernel's rounding),
    noting in the same pass, on request, whether X held ``+-inf`` or NaN
    (the transform's finiteness check, at no extra read).  Channels-last
    arrays have per-column terms: :func:`.numba_columns.column_affine`,
    the 2-D kernels' loop.

They release the GIL and run on the NumPy kernels' worker threads.  This
module imports numba: :mod:`.numpy_channels` imports it on first use, where
:func:`.numba_cpu.enabled` says numba is there.  Its loops are module-level
functions compiled with :func:`.numba_cpu.jit` for the signatures listed
(X in float32 or float64, read-only views accepted), loaded from numba's
cache after the first time.
"""

from __future__ import annotations

import numpy as np
from numba import types

from .numba_cpu import CENTER, CHECK, OFFSET, SCALE, jit

__all__ = ["HEAD", "kernels", "row_affine", "row_moments"]

# Values at the start of a row whose mean is the row's working shift.
HEAD = 64

_FLOATS = (types.float32, types.float64)
_f8, _i8, _void = types.float64, types.int64, types.void


def _in(dtype, ndim=1):
    """An input's type: read-only, possibly unaligned (as in
    :mod:`.numba_columns`)."""
    return types.Array(dtype, ndim, "C", readonly=True, aligned=False)


def _out(dtype, ndim=1, aligned=True):
    """An output's type: writable and C-ordered (aligned: the callers'
    buffers, except the affine map's output, as in :mod:`.numba_columns`)."""
    return types.Array(dtype, ndim, "C", aligned=aligned)


# The shifts; the per-lane accumulators; the moments' output and status.
_V, _A, _M, _I = _in(_f8), _out(_f8), _out(_f8, 2), _out(types.int8)


def kernels():
    """The loops by name."""
    return {
        "row_moments": row_moments,
        "row_affine": row_affine,
    }


@jit(
    signatures=[
        types.UniTuple(_f8, 2)(_in(T), _f8, _i8, _i8, _out(_f8), _out(_f8))
        for T in _FLOATS
    ]
)
def plain_sums(row, c, lanes, block, b1, b2):
    """``sum d`` and ``sum d^2`` of ``d = x - c`` over one row (NaN
    makes them NaN: the caller sums again with :func:`nan_sums`)."""
    length = row.shape[0]
    main = length - length % lanes
    grid = row[:main].reshape((main // lanes, lanes))
    s1 = 0.0
    s2 = 0.0
    for start in range(0, grid.shape[0], block):
        stop = min(start + block, grid.shape[0])
        b1[:] = 0.0
        b2[:] = 0.0
        for i in range(start, stop):
            for j in range(lanes):
                d = np.float64(grid[i, j]) - c
                b1[j] += d
                b2[j] += d * d
        s1 += b1.sum()
        s2 += b2.sum()
    for i in range(main, length):
        d = np.float64(row[i]) - c
        s1 += d
        s2 += d * d
    return s1, s2


@jit(
    signatures=[
        types.UniTuple(_f8, 3)(_in(T), _f8, _i8, _i8, _out(_f8), _out(_f8), _out(_f8))
        for T in _FLOATS
    ]
)
def nan_sums(row, c, lanes, block, b0, b1, b2):
    """Observation count, ``sum d`` and ``sum d^2`` with NaN skipped."""
    length = row.shape[0]
    main = length - length % lanes
    grid = row[:main].reshape((main // lanes, lanes))
    n = 0.0
    s1 = 0.0
    s2 = 0.0
    for start in range(0, grid.shape[0], block):
        stop = min(start + block, grid.shape[0])
        b0[:] = 0.0
        b1[:] = 0.0
        b2[:] = 0.0
        for i in range(start, stop):
            for j in range(lanes):
                x = np.float64(grid[i, j])
                seen = x == x
                d = x - c if seen else 0.0
                b0[j] += 1.0 if seen else 0.0
                b1[j] += d
                b2[j] += d * d
        n += b0.sum()
        s1 += b1.sum()
        s2 += b2.sum()
    for i in range(main, length):
        x = np.float64(row[i])
        if x == x:
            d = x - c
            n += 1.0
            s1 += d
            s2 += d * d
    return n, s1, s2


@jit(
    signatures=[
        _void(_in(T, 2), _i8, _i8, _V, _i8, _f8, _i8, _i8, _M, _I) for T in _FLOATS
    ]
)
def row_moments(X, lo, hi, shift, period, cancellation, lanes, block, out, status):
    """Rows [lo, hi) of X (R, length): ``out[:, r]`` = (observations,
    mean of ``x - shift[r % period]``, population variance);
    ``status[r]`` = 1 where the sums are not finite (+-inf, or values
    near the float maximum: the caller decides), else 0."""
    length = X.shape[1]
    b0 = np.empty(lanes)
    b1 = np.empty(lanes)
    b2 = np.empty(lanes)
    for r in range(lo, hi):
        row = X[r]
        s = shift[r % period]
        head_sum = 0.0
        head_n = 0.0
        for i in range(min(length, HEAD)):
            x = np.float64(row[i])
            if x == x:
                head_sum += x - s
                head_n += 1.0
        c = s
        if head_n > 0:
            m = s + head_sum / head_n
            if np.isfinite(m):
                c = m
        nan_aware = False
        resums = 2
        status[r] = 1
        while True:
            if nan_aware:
                n, s1, s2 = nan_sums(row, c, lanes, block, b0, b1, b2)
            else:
                s1, s2 = plain_sums(row, c, lanes, block, b1, b2)
                n = np.float64(length)
            if not (np.isfinite(s1) and np.isfinite(s2)):
                if nan_aware:
                    break  # +-inf or an overflow: status 1
                nan_aware = True  # a NaN made the plain sums NaN
                continue
            if n == 0:  # nothing observed in this row
                out[0, r] = 0.0
                out[1, r] = 0.0
                out[2, r] = 0.0
                status[r] = 0
                break
            m = s1 / n
            v = s2 / n - m * m
            if resums > 0 and not (m * m <= cancellation * v):
                # The head was far from the row's mean (a gradient, an
                # outlier among the first values): sum again around it,
                # from the cache.
                c = c + m
                resums -= 1
                continue
            out[0, r] = n
            out[1, r] = (c - s) + m
            out[2, r] = max(v, 0.0)
            status[r] = 0
            break


@jit(
    signatures=[
        _i8(_in(T, 2), _out(T, 2, False), _i8, _i8, _i8, *[_in(T)] * 3, _i8, T)
        for T in _FLOATS
    ]
)
def row_affine(X, out, lo, hi, period, center, scale, offset, flags, inf):
    """``out[r] = (X[r] - center[q]) * scale[q] + offset[q]`` with
    ``q = r % period``, each term only if its bit is in ``flags``
    (:data:`.numba_cpu.CENTER`, ``SCALE``, ``OFFSET``); with ``CHECK``,
    returns 1 if X held +-inf, plus 2 if it held NaN (else 0):
    :func:`.numba_columns.column_affine` with per-row terms."""
    length = X.shape[1]
    use_c = (flags & CENTER) != 0
    use_s = (flags & SCALE) != 0
    use_o = (flags & OFFSET) != 0
    check = (flags & CHECK) != 0
    found_inf = False
    found_nan = False
    for r in range(lo, hi):
        q = r % period
        c = center[q]
        s = scale[q]
        o = offset[q]
        src = X[r]
        dst = out[r]
        for i in range(length):
            x = src[i]
            if check:
                found_inf |= abs(x) == inf
                found_nan |= x != x
            y = x
            if use_c:
                y = y - c
            if use_s:
                y = y * s
            if use_o:
                y = y + o
            dst[i] = y
    return (1 if found_inf else 0) + (2 if found_nan else 0)
