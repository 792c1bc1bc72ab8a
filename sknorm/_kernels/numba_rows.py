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
``row_affine`` / ``column_affine``
    ``(x - center) * scale + offset`` with per-row (channels-first) or
    per-column (channels-last) terms, in that order of operations (no
    fused multiply-add, the generic kernel's rounding), noting in the same
    pass whether X held ``+-inf`` or NaN (the transform's finiteness check,
    at no extra read);
``nonfinite``
    the same two flags alone (the check of X before an in-place transform).

They release the GIL and run on the NumPy kernels' worker threads.  Loaded
with :func:`sknorm._kernels.numba_cpu.enabled`; compiled on first use.
"""

from __future__ import annotations

__all__ = ["HEAD", "kernels"]

# Values at the start of a row whose mean is the row's working shift.
HEAD = 64

_compiled = None


def kernels():
    """The compiled loops (compiled lazily on their first call)."""
    global _compiled
    if _compiled is None:
        _compiled = _build()
    return _compiled


def _build():
    import numpy as np

    from .numba_cpu import jit

    @jit
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

    @jit
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

    @jit
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

    @jit
    def row_affine(X, out, lo, hi, period, center, scale, offset, flags, inf):
        """``out[r] = (X[r] - center[q]) * scale[q] + offset[q]`` with
        ``q = r % period``, each term only if its bit is in ``flags``
        (1, 2, 4); returns 1 if X held +-inf, plus 2 if it held NaN."""
        length = X.shape[1]
        use_c = (flags & 1) != 0
        use_s = (flags & 2) != 0
        use_o = (flags & 4) != 0
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

    @jit
    def column_affine(X, out, lo, hi, center, scale, offset, flags, inf):
        """:func:`row_affine` with per-column terms (rows [lo, hi))."""
        f = X.shape[1]
        use_c = (flags & 1) != 0
        use_s = (flags & 2) != 0
        use_o = (flags & 4) != 0
        found_inf = False
        found_nan = False
        for i in range(lo, hi):
            src = X[i]
            dst = out[i]
            for j in range(f):
                x = src[j]
                found_inf |= abs(x) == inf
                found_nan |= x != x
                y = x
                if use_c:
                    y = y - center[j]
                if use_s:
                    y = y * scale[j]
                if use_o:
                    y = y + offset[j]
                dst[j] = y
        return (1 if found_inf else 0) + (2 if found_nan else 0)

    @jit
    def nonfinite(X, lo, hi, inf):
        """The flags of :func:`row_affine` for rows [lo, hi), nothing written."""
        found_inf = False
        found_nan = False
        for i in range(lo, hi):
            src = X[i]
            for j in range(X.shape[1]):
                x = src[j]
                found_inf |= abs(x) == inf
                found_nan |= x != x
        return (1 if found_inf else 0) + (2 if found_nan else 0)

    return {
        "row_moments": row_moments,
        "row_affine": row_affine,
        "column_affine": column_affine,
        "nonfinite": nonfinite,
    }
