"""NumPy kernels that read X once, in cache-sized row blocks, on a few threads.

Each reduction streams X from memory once: the rows are split over worker
threads (:mod:`._parallel`), each thread walks its part in blocks that stay
in L2, and only per-feature vectors survive a block; no temporary is larger
than a block.  With numba installed the work on a block is one compiled loop
(:mod:`.numba_cpu`); without it, a few NumPy passes over the cached block.
The numbers match :mod:`.generic` within float rounding (tested in
``tests/test_kernels.py``).

Moments: one pass, with a shift that follows the data.
    The sums ``S1 = sum w d`` and ``S2 = sum w d^2`` of ``d = x - c`` give
    the variance ``S2/W - (S1/W)^2``, exact to a few ulps as long as ``c``
    lies within about one standard deviation of the mean.  ``c`` starts at
    the weighted mean of the first rows of each thread's part, then follows
    the running mean segment by segment; a segment whose mean ends up
    farther than that from ``c`` (a far caller's shift with missing first
    rows, a level that jumps) is summed again around its own mean.  A
    segment whose sums are not finite holds NaNs (summed again with them
    masked out), infinite values (an error, below) or values near the float
    maximum (the generic kernel, whose normalised sums cannot overflow).

Infinite values raise :class:`~sknorm._kernels.NonFiniteError` (moments and
min/max find them in their own pass at no cost, which lets ZScore and MinMax
skip validation's separate finiteness pass over X).

Column reductions run on ``(rows / fold, fold * n_features)`` views of a
block: NumPy reduces over axis 0 of a C-ordered array one row at a time, and
a 64-element row is too short to reach memory speed.

float16: the compiled loops take float32 and float64 only.  The moments read
float16 blocks straight into their float64 buffers (NumPy converts), the
minimum and maximum and the transforms convert each row block into a float32
buffer (no full-size copy) and run the float32 code on it, the transforms
rounding their float32 result once into the float16 output.  NumPy's half
conversions run at ~1.7 ns (to float32) and ~2.7 ns (back) per element on the
development machine, which bounds a float16 transform at about ten times a
float32 one (1,000,000 x 64: ~390 ms; scikit-learn: ~2 s).
"""

from __future__ import annotations

import math
from functools import reduce
from typing import NamedTuple

import numpy as np

from .._array_api import namespace_of
from . import NonFiniteError, generic, numba_cpu
from . import _blas_threads as blas_threads
from ._parallel import blocks, map_parts, plan_for, split
from .numpy_common import (
    CANCELLATION,
    HEAD_ROWS,
    NO_WEIGHTS,
    use_compiled,
    workspace,
)

# The whole partial_fit steps of small batches (kernels_for() hands out this
# module, so they are offered from here).
from .numpy_steps import (
    batchnorm_step,
    merge_comoments,
    update_min_max,
    update_moments,
)

__all__ = [
    "affine",
    "batchnorm_step",
    "comoments",
    "linear",
    "local_response",
    "merge_comoments",
    "min_max",
    "moments",
    "update_min_max",
    "update_moments",
]

# moments and min_max raise NonFiniteError on +-inf found in their own pass.
STATISTICS_CHECK_FINITENESS = True

# linear: centring each block in cache before its product is cheaper than
# adding a folded offset to the product's rows (1,000,000 x 64, against
# X @ W.T in the same rounds: 0.75x centred, 0.91x folded, float32 and
# float64), and keeps every digit: the whitening transform does not fold.
FOLDS_CENTRING = False

# Rows of a segment, in blocks: the shift follows the mean once per segment.
SEGMENT_BLOCKS = 16
# Blocks of the co-moment and linear kernels: large enough for BLAS to run
# its threads at full speed, small enough to stay in L3 (measured: 4 MiB
# beats 1 and 16 MiB on the 2-core development machine).
COMOMENT_BLOCK_BYTES = 1 << 22
# float32 co-moment blocks: the products of a block are summed in float32
# (BLAS), the blocks' Gram matrices in float64.  Blocks of about 2 MiB (at
# least FLOAT32_GRAM_ROWS rows, and twice the features): fewer, larger BLAS
# calls on narrow data (16 features: 32,768 rows, ~1x one float32 X.T @ X
# where 1,024 rows took 2.8x), cache-sized ones on wide data (256 features:
# 2,048 rows; 8,192 took 2x), measured on the 2-core development machine.
# Precision (covariance, Frobenius norm, against float64; means up to 100,
# spreads 0.5-5): 1e-7 relative at 5,000 rows, 9e-9 at 1,000,000 x 64,
# 3e-9 at 4,000,000 x 16, for blocks of 1,024 to 32,768 rows alike (BLAS
# sums a block's products in short runs); the centred float32 product
# X_c.T @ X_c is off by 1e-7 to 1.2e-6.
FLOAT32_GRAM_BLOCK_BYTES = 1 << 21
FLOAT32_GRAM_ROWS = 1024
# Below two blocks' rows the input is multiplied in float64: fast either
# way, and exact to float64 where a few float32 roundings would show.
FLOAT32_GRAM_MIN_ROWS = 2 * FLOAT32_GRAM_ROWS
# Co-moment blocks are split over the worker threads below this many
# features: there BLAS multiplies a 1,024-row block on one thread whatever
# its own thread count (OpenBLAS, measured on the 2-core development
# machine: 64 features, 78 us on one thread and 83 us on two), so the
# threads are idle otherwise; wider blocks are left to BLAS's threads.
GRAM_PARALLEL_FEATURES = 128
# Co-moment blocks of wider data (one part, BLAS's threads): the larger
# the block, the longer BLAS's inner dimension and the closer to one X.T @ X
# (measured, 250,000 x 256 and 62,500 x 1,024: 1.3-1.6x X.T @ X with 2-4 MiB
# blocks, 1.1-1.2x with 32 MiB); one buffer, independent of n_samples.
WIDE_GRAM_BLOCK_BYTES = 1 << 25
# Blocks of the linear transform: at least this many rows (and this many
# per output column), so that BLAS's packing of the matrix, once per call,
# stays small next to the block's product on wide data.
LINEAR_MIN_ROWS = 512
LINEAR_MIN_ROWS_PER_FEATURE = 2
# Blocks of local_response: it keeps two block-sized buffers per thread.
LRN_BLOCK_BYTES = 1 << 19


class _Moments(NamedTuple):
    count: np.ndarray
    n_obs: np.ndarray
    mean: np.ndarray
    var: np.ndarray


def _chan(a, b):
    """Chan, Golub & LeVeque's merge of two sets of rows (same shift):
    :func:`.generic.chan_merge`."""
    count, mean, var = generic.chan_merge(
        np, a.count, a.mean, a.var, b.count, b.mean, b.var
    )
    return _Moments(count, a.n_obs + b.n_obs, mean, var)


def _fold(v, fold, f):
    return v.reshape(fold, f).sum(axis=0)


def _sums(X, lo, hi, c, w_all, plan, buf, wbuf, nan_aware):
    """Weight, observation count, ``sum w d`` and ``sum w d^2`` of rows
    [lo, hi) with ``d = x - c``; NaN entries skipped when ``nan_aware``."""
    f = X.shape[1]
    dtype = buf.dtype
    s1, s2 = (
        workspace("s1", (plan.fold * f,), dtype),
        workspace("s2", (plan.fold * f,), dtype),
    )
    s1.fill(0.0)
    s2.fill(0.0)
    count = np.zeros(f, dtype)
    n_obs = np.zeros(f, dtype)
    c_folded = np.tile(c, plan.fold)
    for start, stop in blocks(lo, hi, plan.rows):
        m = stop - start
        d = buf[:m]
        block = X[start:stop]
        if m % plan.fold == 0 and block.flags.c_contiguous:
            # (rows / fold, fold * n_features) views: long inner loops
            k = plan.fold
            np.subtract(
                block.reshape(m // k, k * f),
                c_folded,
                out=d.reshape(m // k, k * f),
                dtype=dtype,
            )
        else:
            np.subtract(block, c, out=d, dtype=dtype)
        w = None if w_all is None else w_all[start:stop]
        if nan_aware:
            missing = np.isnan(d)
            np.copyto(d, 0.0, where=missing)
            present = np.logical_not(missing, out=missing).view(np.uint8)
            obs = np.add.reduce(present, axis=0, dtype=dtype)
            n_obs += obs
            count += obs if w is None else np.einsum("i,ij->j", w, present)
        else:
            n_obs += m
            count += m if w is None else np.add.reduce(w)
        k = plan.fold if m % plan.fold == 0 else 1
        width = k * f
        r = d.reshape(m // k, width)
        if w is None:
            s1[:width] += np.add.reduce(r, axis=0)
            s2[:width] += np.einsum("ij,ij->j", r, r)
        else:
            wd = wbuf[:m]
            np.multiply(d, w[:, None], out=wd)
            rw = wd.reshape(m // k, width)
            s1[:width] += np.add.reduce(rw, axis=0)
            s2[:width] += np.einsum("ij,ij->j", rw, r)
    return count, n_obs, _fold(s1, plan.fold, f), _fold(s2, plan.fold, f)


def _generic_segment(X, lo, hi, c, w_all, plan, dtype):
    """The reference kernel, block by block (values near the float max),
    around ``c`` or 0 where ``c`` is beyond the shift limit (so that
    ``x - c`` cannot overflow: see :func:`.generic.shift_limit`).
    Returns ``(c used, moments)``."""
    c = generic.bounded_shift(np, c, dtype)
    state = None
    for start, stop in blocks(lo, hi, plan.rows):
        w = None if w_all is None else w_all[start:stop]
        b = _Moments(*generic.moments(X[start:stop], c, w, dtype))
        state = b if state is None else _chan(state, b)
    return c, state


def _numba_sums(X, lo, hi, c, w_all, nan_aware=True):
    """:func:`_sums` as one fused loop."""
    f = X.shape[1]
    if w_all is None and not nan_aware:
        s1, s2 = np.zeros(f), np.zeros(f)
        numba_cpu.kernels()["plain_sums"](X, lo, hi, c, s1, s2)
        rows = np.full(f, float(hi - lo))
        return rows, rows.copy(), s1, s2
    out = [np.zeros(f) for _ in range(4)]
    weighted = w_all is not None
    w = w_all if weighted else NO_WEIGHTS
    numba_cpu.kernels()["moment_sums"](X, lo, hi, c, w, weighted, *out)
    return tuple(out)


def _segment(X, lo, hi, c, w_all, plan, buf, wbuf):
    """Moments of rows [lo, hi) around ``c`` (``buf`` None: the numba loop)."""
    nan_aware = buf is None and w_all is not None  # weighted: one loop does both
    for _attempt in range(3):
        if buf is None:
            count, n_obs, s1, s2 = _numba_sums(X, lo, hi, c, w_all, nan_aware)
        else:
            count, n_obs, s1, s2 = _sums(
                X, lo, hi, c, w_all, plan, buf, wbuf, nan_aware
            )
        if not (np.isfinite(s1).all() and np.isfinite(s2).all()):
            if not nan_aware:
                nan_aware = True
                continue
            if np.isinf(X[lo:hi]).any():
                raise NonFiniteError.for_dtype(X.dtype)
            break  # finite values near the float maximum: the generic kernel
        seen = count > 0
        safe = np.where(seen, count, 1.0)
        mean = s1 / safe
        var = s2 / safe - mean * mean
        far = seen & ~(mean * mean <= CANCELLATION * var)
        if _attempt < 2 and far.any():
            # Sum again around the segment's own mean: rare (a shift far
            # from the data: an outlier among the first rows, a level that
            # moved); any value of the feature's own magnitude is a shift.
            c = c + np.where(far, mean, 0.0)
            continue
        return c, _Moments(count, n_obs, mean, np.maximum(var, 0.0))
    return _generic_segment(X, lo, hi, c, w_all, plan, c.dtype)


def _head_mean(X, lo, hi, shift, w_all, dtype, fused=False):
    """Weighted mean of the first observed rows of [lo, hi) (``shift`` where
    there are none): a starting shift within a fraction of a standard
    deviation of the mean, so that the first segment is rarely summed twice.
    Rows of weight 0 do not count (a zero-weight outlier must not pull it).
    """
    stop = min(hi, lo + HEAD_ROWS)
    if fused:
        weight, _, total, _ = _numba_sums(X, lo, stop, shift, w_all)
        mean = shift + total / np.where(weight > 0, weight, 1.0)
    else:
        head = np.asarray(X[lo:stop], dtype)
        observed = ~np.isnan(head)
        w = np.ones(stop - lo, dtype) if w_all is None else w_all[lo:stop]
        weight = np.einsum("i,ij->j", w, observed, dtype=dtype)
        total = np.einsum("i,ij->j", w, np.where(observed, head, 0.0))
        mean = total / np.where(weight > 0, weight, 1.0)
    start = np.where((weight > 0) & np.isfinite(mean), mean, shift)
    overflowed = (weight > 0) & ~np.isfinite(mean)
    if overflowed.any():
        # A sum beyond the float range (values near the maximum): a value
        # of the head itself is as good a start, and exact for a constant
        # feature (around the caller's shift, possibly 0 there, the
        # rounding of the sums would not be).
        w = None if w_all is None else w_all[lo:stop]
        first = generic.first_observed(namespace_of(X), X[lo:stop], dtype, w)
        start = np.where(overflowed, first, start)
    return start


def _moments_part(X, lo, hi, shift, w_all, plan, fused):
    f = X.shape[1]
    dtype = shift.dtype
    buf = wbuf = None
    if not fused:
        buf = workspace("d", (min(plan.rows, hi - lo), f), dtype)
        wbuf = None if w_all is None else workspace("wd", buf.shape, dtype)
    state = None
    seg_rows = plan.rows * SEGMENT_BLOCKS
    with np.errstate(all="ignore"):  # non-finite sums are detected and redone
        c = _head_mean(X, lo, hi, shift, w_all, dtype, fused)
        for start, stop in blocks(lo, hi, seg_rows):
            c_used, seg = _segment(X, start, stop, c, w_all, plan, buf, wbuf)
            # Moments around the caller's shift: c_used - shift is exact
            # (both are values of the feature's own magnitude).
            seg = seg._replace(mean=seg.mean + (c_used - shift))
            state = seg if state is None else _chan(state, seg)
            c = np.where(state.count > 0, shift + state.mean, c)
    return state


def moments(X, shift, weights, dtype):
    X = np.asarray(X)
    dtype = np.dtype(dtype)
    n, f = X.shape
    shift = np.ascontiguousarray(shift, dtype)  # (the compiled loops' vectors)
    if not np.isfinite(shift).all():
        # The shift is a value of the data (the first one observed): inf - inf
        # would make the infinite value look missing below.
        raise NonFiniteError.for_dtype(X.dtype)
    w_all = None if weights is None else np.ascontiguousarray(weights, dtype)
    if n == 0:
        zeros = np.zeros(f, dtype)
        return zeros, zeros.copy(), zeros.copy(), zeros.copy()
    plan = plan_for(f, dtype.itemsize)
    fused = use_compiled(X) and dtype == np.float64
    parts = map_parts(
        lambda lo, hi: _moments_part(X, lo, hi, shift, w_all, plan, fused),
        n,
        n * f,
        plan.rows,
    )
    with np.errstate(all="ignore"):
        state = reduce(_chan, parts)
    return state.count, state.n_obs, state.mean, state.var


# --------------------------------------------------------------- min/max ----
def _min_max_part(X, lo, hi, plan):
    f = X.shape[1]
    width = plan.fold * f
    low = np.full(width, np.nan, X.dtype)
    high = np.full(width, np.nan, X.dtype)
    for start, stop in blocks(lo, hi, plan.rows):
        b = X[start:stop]
        m = stop - start
        k = plan.fold if (m % plan.fold == 0 and b.flags.c_contiguous) else 1
        r = b.reshape(m // k, k * f)
        # fmin/fmax skip NaN unless every value is NaN: exactly the NaN-aware
        # semantics, in one pass.
        np.fmin(low[: k * f], np.fmin.reduce(r, axis=0), out=low[: k * f])
        np.fmax(high[: k * f], np.fmax.reduce(r, axis=0), out=high[: k * f])
    fold = (plan.fold, f)
    return np.fmin.reduce(low.reshape(fold), axis=0), np.fmax.reduce(
        high.reshape(fold), axis=0
    )


def _numba_min_max_part(X, lo, hi):
    low = np.full(X.shape[1], np.inf, X.dtype)
    high = np.full(X.shape[1], -np.inf, X.dtype)
    numba_cpu.kernels()["min_max"](X, lo, hi, low, high)
    # +inf / -inf: nothing observed (an observed value v has low <= v <= high)
    nothing = (low == np.inf) & (high == -np.inf)
    low[nothing] = high[nothing] = np.nan
    return low, high


def _float16_min_max_part(X, lo, hi):
    """NaN-aware extremes of float16 rows [lo, hi), each block converted
    into a float32 buffer first (NumPy's float16 reductions are emulated in
    software, ten times slower than the conversion); exact, as every
    float16 value is a float32 value."""
    f = X.shape[1]
    rows = plan_for(f, 4).rows
    buf = workspace("float32_block", (min(rows, hi - lo), f), np.float32)
    low = np.full(f, np.nan, np.float32)
    high = np.full(f, np.nan, np.float32)
    for start, stop in blocks(lo, hi, rows):
        block = buf[: stop - start]
        np.copyto(block, X[start:stop])
        if use_compiled(block):
            b_low, b_high = _numba_min_max_part(block, 0, stop - start)
        else:
            b_low, b_high = _min_max_part(block, 0, stop - start, plan_for(f, 4))
        np.fmin(low, b_low, out=low)
        np.fmax(high, b_high, out=high)
    return low.astype(X.dtype), high.astype(X.dtype)


def min_max(X):
    X = np.asarray(X)
    n, f = X.shape
    plan = plan_for(f, X.dtype.itemsize)
    if X.dtype == np.float16:
        part = lambda lo, hi: _float16_min_max_part(X, lo, hi)  # noqa: E731
    elif use_compiled(X):
        part = lambda lo, hi: _numba_min_max_part(X, lo, hi)  # noqa: E731
    else:
        part = lambda lo, hi: _min_max_part(X, lo, hi, plan)  # noqa: E731
    parts = map_parts(part, n, n * f, plan.rows)
    low = reduce(np.fmin, [p[0] for p in parts])
    high = reduce(np.fmax, [p[1] for p in parts])
    if np.isinf(low).any() or np.isinf(high).any():
        # An infinite extreme is an infinite value: the finiteness check of
        # the input, for free.
        raise NonFiniteError.for_dtype(X.dtype)
    return low, high


# ------------------------------------------------------------ co-moments ----
def _block_buffer(name, shape, dtype):
    """A block buffer: the per-thread workspace up to
    :data:`COMOMENT_BLOCK_BYTES` (kept between calls: a stream of batches
    would page-fault a fresh one in every time), a new array beyond."""
    if math.prod(shape) * np.dtype(dtype).itemsize <= COMOMENT_BLOCK_BYTES:
        return workspace(name, shape, dtype)
    return np.empty(shape, dtype)


def _comoment_part(X, lo, hi, c, w_all, rows, single):
    """Total weight, ``sum w d`` and ``sum w d d^T`` of rows [lo, hi) with
    ``d = x - c``, block by block: each block of ``d`` is formed in a buffer
    (with numba, in one loop that also takes its column sums) and multiplied
    by BLAS (``d.T @ d``: a symmetric rank-k update, syrk).

    ``single``: the blocks are formed and multiplied in float32 (twice the
    speed of float64 and half the memory traffic; unweighted float32 or
    float16 X, ``c`` a float32 value), and their Gram matrices and sums
    added in float64.  Precision: ``x - c`` rounds to float32 (the input's
    own precision) and a block's products are summed over at most
    ``rows`` (:func:`_block_rows`) rows in float32; across blocks
    everything is float64 (measured errors: :data:`FLOAT32_GRAM_BLOCK_BYTES`).
    Otherwise everything is float64 (``c``'s dtype).
    """
    f = X.shape[1]
    block_dtype = np.float32 if single else c.dtype
    c_block = c.astype(block_dtype)
    name = "gram_block32" if single else "gram_block"
    buf = _block_buffer(name, (min(rows, hi - lo), f), block_dtype)
    s1 = np.zeros(f)
    gram = np.zeros((f, f))
    total = 0.0
    if w_all is None:
        fused = use_compiled(X)
        shift_block = numba_cpu.kernels()["shift_block"] if fused else None
        # Around 0 (nearly centred data, see _around_zero) the blocks of X
        # are multiplied where they are: no shifted copy.
        in_place = X.dtype == block_dtype and not c_block.any()
        # One buffer for every block's product (a fresh p x p result per
        # block is page-faulted in each time: at 1,024 features, 8 MiB).
        product = _block_buffer(name + "_product", (f, f), block_dtype)
        for start, stop in blocks(lo, hi, rows):
            d = buf[: stop - start]
            if in_place:
                d = X[start:stop]
                s1 += np.add.reduce(d, axis=0, dtype=np.float64)
            elif fused:
                shift_block(X, start, stop, c_block, d, s1)
            else:
                np.subtract(X[start:stop], c_block, out=d, dtype=block_dtype)
                s1 += np.add.reduce(d, axis=0, dtype=np.float64)
            total += stop - start
            # syrk (float32: then added in float64)
            gram += np.matmul(d.T, d, out=product)
        return total, s1, gram
    wbuf = _block_buffer(name + "_weighted", buf.shape, block_dtype)
    for start, stop in blocks(lo, hi, rows):
        m = stop - start
        d = buf[:m]
        np.subtract(X[start:stop], c_block, out=d, dtype=block_dtype)
        w = w_all[start:stop]
        wd = wbuf[:m]
        np.multiply(d, w[:, None], out=wd)
        total += np.add.reduce(w)
        s1 += np.add.reduce(wd, axis=0)
        gram += wd.T @ d
    return total, s1, gram


def _block_rows(n_features, single, itemsize):
    """Rows of a co-moment block: :data:`WIDE_GRAM_BLOCK_BYTES` for wide data
    (:data:`GRAM_PARALLEL_FEATURES` features or more), else
    :data:`FLOAT32_GRAM_BLOCK_BYTES` (float32 blocks, at least
    :data:`FLOAT32_GRAM_ROWS` rows) or :data:`COMOMENT_BLOCK_BYTES`; always
    at least twice the features (a block's Gram matrix is added into the
    float64 total once per block: for 1,024 features that addition costs a
    sixth of the product of a block of 2,048 rows)."""
    if n_features >= GRAM_PARALLEL_FEATURES:
        block_bytes = WIDE_GRAM_BLOCK_BYTES
    elif single:
        block_bytes = FLOAT32_GRAM_BLOCK_BYTES
    else:
        block_bytes = COMOMENT_BLOCK_BYTES
    rows = block_bytes // (itemsize * n_features)
    return max(FLOAT32_GRAM_ROWS if single else 1, 2 * n_features, rows)


def _comoment_sums(X, c, w_all, rows, single):
    """:func:`_comoment_part` of all of X: split over the worker threads
    where BLAS multiplies one block on one thread anyway (fewer than
    :data:`GRAM_PARALLEL_FEATURES` features), else one part whose blocks
    BLAS multiplies on its own threads.  The parts' float64 results are
    added in row order."""
    n, f = X.shape

    def part(lo, hi):
        return _comoment_part(X, lo, hi, c, w_all, rows, single)

    if f >= GRAM_PARALLEL_FEATURES:
        if w_all is None and not single and X.dtype == c.dtype and not c.any():
            # Wide data around 0: one syrk of all of X on BLAS's threads
            # (62,500 x 1,024: 0.75 s against 0.84 s in blocks), summed in
            # X's dtype as the blocks would be.
            return float(n), np.add.reduce(X, axis=0, dtype=np.float64), X.T @ X
        return part(0, n)
    parts = map_parts(part, n, n * f, rows)
    total, s1, gram = parts[0]
    for p_total, p_s1, p_gram in parts[1:]:
        total += p_total
        s1 += p_s1
        gram += p_gram
    return total, s1, gram


def _around_zero(X, c, dtype):
    """Whether the head's mean ``c`` lies within the far test's distance
    of the origin (:data:`CANCELLATION` variances, squared) for every
    feature, with the head rows' spread: then the Gram matrix is taken
    around 0, of X where it lies (no shifted copy).  The far test after the
    pass, with the whole data's mean and variance, still decides whether
    0 was close enough (the rounding error grows like ``eps * (1 +
    mean^2 / var)``: at most twice the centred one); a mean beyond it is
    summed again around itself, as for any other shift."""
    # Two small NumPy calls (a stream of small batches asks once per batch).
    d = np.asarray(X[:HEAD_ROWS], dtype) - c
    var = np.einsum("ij,ij->j", d, d) / d.shape[0]
    return bool((c * c <= CANCELLATION * var).all())


def comoments(X, shift, weights, dtype):
    """One pass: the Gram matrix of ``X - c`` block by block (BLAS), with
    ``c`` the mean of the first rows; summed again around the mean in the
    rare case that ``c`` turns out far from it (see :data:`CANCELLATION`).

    Unweighted float32 (and float16) input of at least
    :data:`FLOAT32_GRAM_MIN_ROWS` rows is multiplied in float32 blocks and
    summed in float64 (:func:`_comoment_part`); everything else is
    multiplied in ``dtype``.
    """
    X = np.asarray(X)
    n, f = X.shape
    dtype = np.dtype(dtype)
    shift = np.asarray(shift, dtype)
    w_all = None if weights is None else np.asarray(weights, dtype)
    # float16 is computed exactly as float32 (its values are float32 values,
    # and its outputs are the float32 computation rounded once).
    single = X.dtype in (np.float16, np.float32) and w_all is None
    single = single and dtype == np.float64 and n >= FLOAT32_GRAM_MIN_ROWS
    rows = _block_rows(f, single, 4 if single else dtype.itemsize)
    # Blocks of equal size: a 10,000-row batch as two blocks of 5,000 rows,
    # not 8,192 and 1,808 (a short BLAS call costs nearly a long one).
    if n > rows:
        rows = -(-n // -(-n // rows))
    with np.errstate(all="ignore"):
        c = _head_mean(X, 0, n, shift, w_all, dtype)
        if w_all is None and _around_zero(X, c, dtype):
            c = np.zeros_like(c)
        for attempt in range(2):
            if single:
                # The shift the float32 blocks are taken around, exactly.
                c = c.astype(np.float32).astype(dtype)
            total, s1, gram = _comoment_sums(X, c, w_all, rows, single)
            mean, cov, far, flags = _finish_comoments(total, s1, gram)
            if attempt or not flags & 1 or flags & 2:
                break
            c = c + np.where(far, mean, 0.0)
    if flags & 4:
        # The finiteness check of the input, for free (validation leaves it
        # to this pass: the co-moments take no NaN); or finite values whose
        # products overflow, summed again in float64 by the generic kernel.
        if not np.isfinite(X).all():
            raise NonFiniteError.nan_or_infinity()
        if single:
            return comoments(X.astype(dtype), shift, weights, dtype)
    return np.asarray(total, dtype), mean + (c - shift), cov


def _finish_comoments(total, s1, gram):
    """``(mean, cov, far, flags)`` of the block sums: ``mean = s1 / total``,
    ``cov`` the symmetrised ``gram / total - mean meanᵀ``, ``far`` where the
    mean is farther from the shift than :data:`CANCELLATION` allows, and
    the flags of :func:`.numba_columns.finish_comoments` (1: a feature is
    far, 2: the mean is not finite, 4: the sums are not).  One compiled
    pass with numba (the same operations: the same bits), else NumPy's."""
    f = s1.shape[0]
    if numba_cpu.enabled():
        mean, cov, far = np.empty(f), np.empty((f, f)), np.empty(f, np.bool_)
        finish = numba_cpu.kernels()["finish_comoments"]
        flags = finish(float(total), s1, gram, CANCELLATION, mean, cov, far)
        return mean, cov, far, flags
    safe = total if total > 0 else 1.0
    mean = s1 / safe
    cov = gram / safe - np.outer(mean, mean)
    far = ~(mean * mean <= CANCELLATION * np.diagonal(cov))
    flags = int(far.any()) | 2 * int(not np.isfinite(mean).all())
    flags |= 4 * int(not (np.isfinite(s1).all() and np.isfinite(gram).all()))
    return mean, 0.5 * (cov + cov.T), far, flags


# ------------------------------------------------------------ transforms ----
def _terms(X, *arrays):
    return [None if a is None else np.asarray(a, dtype=X.dtype) for a in arrays]


_AFFINE_UFUNCS = (np.subtract, np.multiply, np.add)
_AFFINE_BITS = (numba_cpu.CENTER, numba_cpu.SCALE, numba_cpu.OFFSET)


def _in_float32_blocks(X, out, kernel, blas=False):
    """``out`` = ``kernel`` applied to float16 ``X`` in float32, rounded once.

    Each row block is converted into a per-thread float32 buffer (no
    full-size float32 copy of X), ``kernel(block)`` (the float32 kernel of
    this module, on one block: serial) computes it, and the result is
    rounded into the block's rows of ``out`` (which may be X itself).
    ``blas``: the kernel calls BLAS (one BLAS thread per call while the
    worker threads run, :func:`_blas_parts`).
    """
    n, f = X.shape
    rows = plan_for(f, 4).rows

    def part(lo, hi):
        buf = workspace("float32_block", (min(rows, hi - lo), f), np.float32)
        for start, stop in blocks(lo, hi, rows):
            block = buf[: stop - start]
            np.copyto(block, X[start:stop])
            np.copyto(out[start:stop], kernel(block), casting="same_kind")

    if blas:
        _blas_parts(part, n, n * f, rows)
    else:
        map_parts(part, n, n * f, rows)
    return out


# The finiteness checks a transform may make of X (the channel path's):
# none, +-inf ("inf", where NaN is allowed), NaN or +-inf ("nonfinite").
CHECK_MODES = {None: 0, "inf": 1, "nonfinite": 2}


def raise_for_flags(bits, mode):
    """Raise for the flags of a pass (1: +-inf seen, 2: NaN seen) under a
    :data:`CHECK_MODES` mode."""
    if mode == 0:
        return
    if bits & 1:
        raise (
            NonFiniteError.infinity() if mode == 1 else NonFiniteError.nan_or_infinity()
        )
    if mode == 2 and bits & 2:
        raise NonFiniteError.nan_or_infinity()


def check_finiteness(X, check):
    """Raise :class:`NonFiniteError` if the 2-D ``X`` holds +-inf (``check
    ="inf"``) or NaN or +-inf (``"nonfinite"``); nothing for None.  One
    read of X, on the worker threads.  (Not named ``has_nonfinite``: that
    is the kernel modules' optional test of validation, which returns a
    bool; NumPy's validation uses scikit-learn's.)"""
    mode = CHECK_MODES[check]
    if mode == 0:
        return
    n, f = X.shape
    rows = plan_for(f, X.dtype.itemsize).rows
    if use_compiled(X):
        loop, inf = numba_cpu.kernels()["nonfinite"], X.dtype.type(np.inf)
        parts = map_parts(lambda lo, hi: loop(X, lo, hi, inf), n, X.size, rows)
    else:

        def part(lo, hi):
            bits = 0
            for start, stop in blocks(lo, hi, rows):
                block = X[start:stop]
                bits |= int(np.isinf(block).any()) | 2 * int(np.isnan(block).any())
            return bits

        parts = map_parts(part, n, X.size, rows)
    bits = 0
    for b in parts:
        bits |= int(b)
    raise_for_flags(bits, mode)


def affine(X, center, scale, offset, copy, check=None):
    """``(X - center) * scale + offset`` per column (any term None, scalars
    broadcast), in that order of operations; float16 computed in float32
    and rounded once.

    ``check`` (a :data:`CHECK_MODES` key: the channel path's transforms)
    raises :class:`NonFiniteError` for the values X must not hold: noted by
    the compiled loop in the pass that writes a new output, else in a read
    of X before (in place, X must be checked before it is overwritten)."""
    X = np.asarray(X)
    mode = CHECK_MODES[check]
    out = np.empty_like(X) if copy else X
    fused = use_compiled(X, out)
    if mode and (not copy or not fused):
        check_finiteness(X, check)
        mode = 0
    if X.dtype == np.float16:  # computed in float32, rounded once
        return _in_float32_blocks(
            X, out, lambda b: affine(b, center, scale, offset, False)
        )
    center, scale, offset = _terms(X, center, scale, offset)
    if offset is not None and not np.any(offset):
        offset = None  # adding zeros changes no value
    n, f = X.shape
    plan = plan_for(f, X.dtype.itemsize)
    width = plan.fold * f

    if fused:
        flags = numba_cpu.CHECK if mode else 0
        vectors = []
        for bit, a in zip(_AFFINE_BITS, (center, scale, offset), strict=True):
            if a is None:
                vectors.append(np.zeros(f, X.dtype))
            else:
                flags |= bit
                vectors.append(np.ascontiguousarray(np.broadcast_to(a, (f,))))
        loop, inf = numba_cpu.kernels()["column_affine"], X.dtype.type(np.inf)

        def fused_part(lo, hi):
            return loop(X, out, lo, hi, *vectors, flags, inf)

        bits = 0
        for b in map_parts(fused_part, n, n * f, plan.rows):
            bits |= int(b)
        raise_for_flags(bits, mode)
        return out

    # The per-feature vectors repeated ``fold`` times, for the folded views.
    folded = [
        None if a is None else np.tile(np.broadcast_to(a, (f,)), plan.fold)
        for a in (center, scale, offset)
    ]

    def part(lo, hi):
        # The first operation reads the block from memory and writes the
        # output block; the others run on it while it is in cache.
        for start, stop in blocks(lo, hi, plan.rows):
            src, dst = X[start:stop], out[start:stop]
            m = stop - start
            terms = (center, scale, offset)
            if m % plan.fold == 0 and src.flags.c_contiguous and dst.flags.c_contiguous:
                # Rows of fold * n_features: long inner loops.
                src = src.reshape(m // plan.fold, width)
                dst = dst.reshape(m // plan.fold, width)
                terms = folded
            for ufunc, term in zip(_AFFINE_UFUNCS, terms, strict=True):
                if term is not None:
                    ufunc(src, term, out=dst)
                    src = dst
            if src is not dst:
                dst[...] = src

    map_parts(part, n, n * f, plan.rows)
    return out


def _linear_rows(n_features, n_outputs, itemsize):
    """Rows of a block of :func:`linear`: :data:`LINEAR_BLOCK_BYTES` of
    input (``_parallel.BLOCK_BYTES``, shrunk by the tests), and at least
    :data:`LINEAR_MIN_ROWS`: BLAS packs the matrix once per call, which a
    short block of wide data would repeat too often."""
    rows = plan_for(n_features, itemsize).rows
    return max(rows, min(LINEAR_MIN_ROWS, LINEAR_MIN_ROWS_PER_FEATURE * n_outputs))


def _blas_parts(part, n, n_elements, rows):
    """``part(lo, hi)`` over the rows, on the worker threads where there are
    several parts (BLAS on one thread per call meanwhile: each thread
    multiplies the block in its own core's cache), else on this thread
    with BLAS's own threads."""
    if len(split(n, n_elements, rows)) == 1 or not blas_threads.available():
        part(0, n)
        return
    with blas_threads.one_per_call():
        map_parts(part, n, n_elements, rows)


def _vector(a, dtype, size):
    return np.ascontiguousarray(np.broadcast_to(np.asarray(a), (size,)), dtype=dtype)


def _add_rows(block, vector, folded, fold):
    """``block += vector`` (per column) in place, on a block in cache: a
    NumPy pass over ``fold``-row views (long inner loops) where the rows
    divide.  (Not the compiled affine loop: in place, numba cannot prove
    its input and output apart and leaves the loop unvectorised, 2x
    NumPy's time on a 4,096 x 64 float32 block.)"""
    m, k = block.shape
    if m % fold == 0:
        view = block.reshape(m // fold, fold * k)
        np.add(view, folded, out=view)
    else:
        np.add(block, vector, out=block)


def linear(X, center, matrix, copy, offset=None):
    """``(X - center) @ matrix.T + offset`` (``center``, ``offset`` may be
    None) in cache-sized row blocks, on the worker threads: each block is
    centred into a per-thread buffer (one fused loop with numba, else a
    NumPy pass over folded rows), multiplied by BLAS into its rows of the
    output, and ``offset`` added to those rows while they are in cache; no
    centred copy of X is ever held.  Rounding: the generic kernel's (the
    block's centring, then the product, then the offset, in X's dtype).
    Without ``center`` and ``offset``: one BLAS call, BLAS's threads."""
    X = np.asarray(X)
    n, f = X.shape
    k = np.shape(matrix)[0]
    if X.dtype == np.float16:  # computed in float32, rounded once
        out = np.empty((n, k), dtype=X.dtype)

        def block_kernel(b):
            return linear(b, center, matrix, False, offset)

        return _in_float32_blocks(X, out, block_kernel, blas=True)
    matrix_t = np.asarray(matrix, dtype=X.dtype).T
    out = np.empty((n, k), dtype=X.dtype)
    if offset is not None:
        offset = _vector(offset, X.dtype, k)
        if not np.any(offset):
            offset = None  # adding zeros changes no value
    if center is None and offset is None:
        return np.matmul(X, matrix_t, out=out)
    rows = _linear_rows(f, k, X.dtype.itemsize)
    fold = plan_for(k, X.dtype.itemsize).fold
    folded = None if offset is None else np.tile(offset, fold)
    centre = None if center is None else _centring(X, _vector(center, X.dtype, f))

    def part(lo, hi):
        if centre is not None:
            buf = workspace("linear_block", (min(rows, hi - lo), f), X.dtype)
        for start, stop in blocks(lo, hi, rows):
            dst = out[start:stop]
            if centre is None:
                np.matmul(X[start:stop], matrix_t, out=dst)
            else:
                block = buf[: stop - start]
                centre(start, stop, block)
                np.matmul(block, matrix_t, out=dst)
            if offset is not None:
                _add_rows(dst, offset, folded, fold)

    _blas_parts(part, n, n * f, rows)
    return out


def _centring(X, center):
    """``centre(start, stop, dst)``: ``dst = X[start:stop] - center``."""
    f = X.shape[1]
    if use_compiled(X):
        loop, unused = numba_cpu.kernels()["affine"], np.zeros(f, X.dtype)

        def centre(start, stop, dst):
            loop(
                X[start:stop],
                dst,
                0,
                stop - start,
                center,
                unused,
                unused,
                True,
                False,
                False,
            )

        return centre
    fold = plan_for(f, X.dtype.itemsize).fold
    folded = np.tile(center, fold)

    def centre(start, stop, dst):
        src, m = X[start:stop], stop - start
        if m % fold == 0 and src.flags.c_contiguous:
            width = fold * f
            np.subtract(
                src.reshape(m // fold, width),
                folded,
                out=dst.reshape(m // fold, width),
            )
        else:
            np.subtract(src, center, out=dst)

    return centre


def local_response(X, size, alpha, beta, k):
    """The generic expression, block by block with every step written into
    per-thread scratch buffers (no allocation per block: fresh block-sized
    temporaries are page-faulted in each time, which costs more than the
    arithmetic), on the worker threads.  Same operations in the same order
    as :func:`.generic.local_response`, so the same numbers as torch."""
    X = np.asarray(X)
    if X.dtype == np.float16:  # computed in float32, rounded once
        return _in_float32_blocks(
            X, np.empty_like(X), lambda b: local_response(b, size, alpha, beta, k)
        )
    n, f = X.shape
    out = np.empty_like(X)
    before = min(size // 2, f - 1)
    after = min((size - 1) // 2, f - 1)
    width = f + before + after
    rows = plan_for(width, X.dtype.itemsize, LRN_BLOCK_BYTES).rows

    def part(lo, hi):
        padded = workspace("lrn_padded", (rows, width), X.dtype)
        div = workspace("lrn_div", (rows, f), X.dtype)
        padded[:, :before] = 0.0
        padded[:, before + f :] = 0.0
        for start, stop in blocks(lo, hi, rows):
            m = stop - start
            src, sq, d = X[start:stop], padded[:m, before : before + f], div[:m]
            np.multiply(src, src, out=sq)
            # A missing value adds nothing to its neighbours' windows: fmax
            # ignores NaN, so this turns NaN into 0 and keeps the rest.
            np.fmax(sq, 0.0, out=sq)
            if before or after:
                np.add(padded[:m, 0:f], padded[:m, 1 : f + 1], out=d)
                for shift in range(2, before + after + 1):
                    d += padded[:m, shift : shift + f]
            else:
                d[...] = sq
            d /= size
            d *= alpha
            d += k
            d **= beta
            np.divide(src, d, out=out[start:stop])

    map_parts(part, n, n * f, rows)
    return out
