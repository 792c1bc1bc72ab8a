"""Compiled loops over the feature columns of C-ordered rows (numba).

Imported on first use by :func:`.numba_cpu.kernels` (this module imports
numba; ``import sknorm`` does not).  Every loop is a module-level function
compiled with :func:`.numba_cpu.jit` for the argument types it is called
with, listed in its signatures: X in float32 or float64 (the NumPy kernels
convert float16 blocks to float32 first), read-only and unaligned views
accepted, the per-feature vectors contiguous (the callers make them so).
The signatures are compiled when the module is imported: the first import
after an install compiles all of them (about 15 s of CPU on the 2-core
development machine), every later one loads them from numba's cache
(about 0.3 s with numba's own start), and no call compiles another variant.

Numerics equal the NumPy path's: the same shift, float64 accumulation, sums
of row blocks added into the totals (a block's sum carries the rounding
error of ``BLOCK_ROWS`` terms, not of n), the same operation order in the
affine map and in the merges (no fused multiply-add: numba contracts none
without ``fastmath``).

Loops over a block of rows (the kernels' worker threads call them):

``moment_sums``, ``plain_sums``
    the sums of the shifted moments (with weights and NaN, or neither);
``min_max``
    NaN-aware column extremes;
``column_affine``
    ``(x - center) * scale + offset``, noting +-inf and NaN on request
    (``nonfinite``: the same notes alone);
``shift_block``
    a centred block for the co-moments' BLAS product, and its column sums.

Whole steps for a small batch, in one call (for a 10,000-row batch the NumPy
glue around the loops cost as much as the loops): ``moments_update``,
``min_max_update``, ``batchnorm_update``; for the co-moments, the tail of
the kernel (``finish_comoments``: the covariance of the block sums) and the
merge (``merge_comoments``).  They run on the calling thread.  Splitting
such a batch over numba's threads (``prange``) was measured and left out:
20 % faster on an idle 2-core machine, but about twice as slow right after
a BLAS call, while OpenBLAS's threads still spin (the usual case in a
training loop); numba's ``workqueue`` layer was slower still and aborts on
concurrent launches, and GNU OpenMP aborts forked children.
"""

from __future__ import annotations

import numpy as np
from numba import types

from .numba_cpu import BLOCK_ROWS, CENTER, CHECK, OFFSET, SCALE, jit

__all__ = [
    "batchnorm_update",
    "by_name",
    "column_affine",
    "finish_comoments",
    "merge_comoments",
    "min_max",
    "min_max_update",
    "moment_sums",
    "moments_update",
    "nonfinite",
    "plain_sums",
    "shift_block",
]

_FLOATS = (types.float32, types.float64)
_f8, _i8, _b1, _void = types.float64, types.int64, types.boolean, types.void


# An input's type has the weakest flags a caller's array may have: read-only
# and not necessarily aligned (Dask's distributed workers hand out chunks
# that are not); arrays with stronger flags convert to it (measured: the
# same loop speed as aligned types).  Outputs are the callers' own buffers,
# aligned (numba cannot pass a writable aligned array on to a writable
# unaligned argument inside compiled code), except the affine map's output,
# which may be X itself.
def _in(dtype, ndim=1, layout="C"):
    """An input's type: read-only, possibly unaligned."""
    return types.Array(dtype, ndim, layout, readonly=True, aligned=False)


def _out(dtype, ndim=1, aligned=True):
    """An output's type: writable and C-ordered."""
    return types.Array(dtype, ndim, "C", aligned=aligned)


# float64 vectors: read-only and contiguous (shifts, weights), accumulators
# and outputs; a running state's vectors (any float64 vector: a row of the
# step's own output, a column of a packed Dask state, read once per
# feature); a state's covariance; the steps' output matrices.
_V, _A, _S = _in(_f8), _out(_f8), _in(_f8, 1, "A")
_C, _M = _in(_f8, 2, "A"), _out(_f8, 2)


# -------------------------------------------------------- block loops ----
@jit(
    signatures=[
        _void(_in(T, 2), _i8, _i8, _V, _V, _b1, _A, _A, _A, _A) for T in _FLOATS
    ]
)
def moment_sums(X, lo, hi, c, w, weighted, count, n_obs, s1, s2):
    """Add the weight, observation count, sum w d and sum w d^2 of rows
    [lo, hi) of X (d = x - c, NaN skipped) into the four vectors."""
    f = X.shape[1]
    b0 = np.empty(f)
    bn = np.empty(f)
    b1 = np.empty(f)
    b2 = np.empty(f)
    for start in range(lo, hi, BLOCK_ROWS):
        stop = min(start + BLOCK_ROWS, hi)
        b0[:] = 0.0
        bn[:] = 0.0
        b1[:] = 0.0
        b2[:] = 0.0
        for i in range(start, stop):
            wi = w[i] if weighted else 1.0
            for j in range(f):
                x = np.float64(X[i, j])
                seen = x == x
                d = x - c[j] if seen else 0.0
                o = 1.0 if seen else 0.0
                wd = wi * d
                bn[j] += o
                b0[j] += wi * o
                b1[j] += wd
                b2[j] += wd * d
        for j in range(f):
            count[j] += b0[j]
            n_obs[j] += bn[j]
            s1[j] += b1[j]
            s2[j] += b2[j]


@jit(signatures=[_void(_in(T, 2), _i8, _i8, _V, _A, _A) for T in _FLOATS])
def plain_sums(X, lo, hi, c, s1, s2):
    """:func:`moment_sums` without weights and without NaN handling: the
    common case, a third faster (a NaN makes the sums NaN, and the caller
    sums again with ``moment_sums``)."""
    f = X.shape[1]
    b1 = np.empty(f)
    b2 = np.empty(f)
    for start in range(lo, hi, BLOCK_ROWS):
        stop = min(start + BLOCK_ROWS, hi)
        b1[:] = 0.0
        b2[:] = 0.0
        for i in range(start, stop):
            for j in range(f):
                d = np.float64(X[i, j]) - c[j]
                b1[j] += d
                b2[j] += d * d
        for j in range(f):
            s1[j] += b1[j]
            s2[j] += b2[j]


@jit(signatures=[_void(_in(T, 2), _i8, _i8, _out(T), _out(T)) for T in _FLOATS])
def min_max(X, lo, hi, low, high):
    """Fold rows [lo, hi) into ``low``/``high`` (start them at +inf and
    -inf); NaN is skipped."""
    f = X.shape[1]
    # Local accumulators: the compiler cannot tell the outputs apart from
    # X and would reload them for every element (float32: 25 % slower).
    lo_acc = low.copy()
    hi_acc = high.copy()
    for i in range(lo, hi):
        for j in range(f):
            x = X[i, j]
            if x == x:
                lo_acc[j] = min(lo_acc[j], x)
                hi_acc[j] = max(hi_acc[j], x)
    low[:] = lo_acc
    high[:] = hi_acc


@jit(
    signatures=[
        _i8(_in(T, 2), _out(T, 2, False), _i8, _i8, *[_in(T)] * 3, _i8, T)
        for T in _FLOATS
    ]
)
def column_affine(X, out, lo, hi, center, scale, offset, flags, inf):
    """``out = (X - center) * scale + offset`` on rows [lo, hi), each term
    only if its bit (:data:`CENTER`, :data:`SCALE`, :data:`OFFSET`) is in
    ``flags``, in that order (``out`` may be ``X``).  With :data:`CHECK`,
    notes in the same pass whether X held +-inf (returns 1) and NaN (plus
    2); without it returns 0 (the test costs a third of an in-cache pass,
    and the compiler takes it out of the loop)."""
    f = X.shape[1]
    use_c = (flags & CENTER) != 0
    use_s = (flags & SCALE) != 0
    use_o = (flags & OFFSET) != 0
    check = (flags & CHECK) != 0
    found_inf = False
    found_nan = False
    for i in range(lo, hi):
        for j in range(f):
            x = X[i, j]
            if check:
                found_inf |= abs(x) == inf
                found_nan |= x != x
            y = x
            if use_c:
                y = y - center[j]
            if use_s:
                y = y * scale[j]
            if use_o:
                y = y + offset[j]
            out[i, j] = y
    return (1 if found_inf else 0) + (2 if found_nan else 0)


@jit(signatures=[_i8(_in(T, 2), _i8, _i8, T) for T in _FLOATS])
def nonfinite(X, lo, hi, inf):
    """The flags of :func:`column_affine`'s check for rows [lo, hi) of X,
    nothing written (the check of X before an in-place transform)."""
    found_inf = False
    found_nan = False
    for i in range(lo, hi):
        src = X[i]
        for j in range(X.shape[1]):
            x = src[j]
            found_inf |= abs(x) == inf
            found_nan |= x != x
    return (1 if found_inf else 0) + (2 if found_nan else 0)


@jit(
    signatures=[
        _void(_in(T, 2), _i8, _i8, _in(B), _out(B, 2), _out(_f8))
        for T, B in (
            (types.float32, types.float32),
            (types.float32, types.float64),
            (types.float64, types.float64),
        )
    ]
)
def shift_block(X, lo, hi, c, out, s1):
    """``out = X[lo:hi] - c`` in ``out``'s dtype (the co-moments' block
    for BLAS) and its column sums added to ``s1`` in float64: one read
    of the rows.  The block's sums are taken row after row, then added
    to ``s1`` (NumPy's ``add.reduce(out, axis=0, dtype=float64)``)."""
    f = X.shape[1]
    b1 = np.zeros(f)
    for i in range(lo, hi):
        r = i - lo
        for j in range(f):
            d = out.dtype.type(X[i, j]) - c[j]
            out[r, j] = d
            b1[j] += np.float64(d)
    for j in range(f):
        s1[j] += b1[j]


# --------------------------------------------------------- whole steps ----
@jit(
    signatures=[
        _i8(_in(T, 2), _V, _b1, _i8, _f8, _f8, *[_S] * 5, _b1, _M) for T in _FLOATS
    ]
)
def moments_update(
    X, w, weighted, head_rows, cancellation, shift_limit,
    p_count, p_n_obs, p_shift, p_mean, p_var, has_prev, out,
):  # fmt: skip
    """The whole of ``_stats.update_moments`` for one batch, as
    :mod:`.numpy_blocked` computes it: the batch's shift, the head mean
    as the working shift, the sums (again around the batch's mean if the
    head mean was far from it), the batch's moments, the merge into the
    previous state and the recentring.  Writes (count, n_obs, shift,
    mean, var) into ``out`` and returns 0, or returns 1 without a result
    when the sums are not finite (+-inf, or values near the float
    maximum), for the NumPy path to handle."""
    n, f = X.shape
    # The batch's shift: the state's, else the first observed value in
    # a row of positive weight (0 beyond the shift limit).  The search of
    # generic.first_observed, compiled: this step calls no NumPy code.
    s = np.zeros(f)
    for j in range(f):
        if has_prev and p_count[j] > 0:
            s[j] = p_shift[j]
            continue
        for i in range(n):
            x = np.float64(X[i, j])
            if x == x and (not weighted or w[i] > 0):
                s[j] = x if abs(x) <= shift_limit else 0.0
                break
    # Working shift: the weighted mean of the head rows (as _head_mean).
    hw, hn, h1, h2 = np.zeros(f), np.zeros(f), np.zeros(f), np.zeros(f)
    moment_sums(X, 0, min(n, head_rows), s, w, weighted, hw, hn, h1, h2)
    c = s.copy()
    head = min(n, head_rows)
    for j in range(f):
        if hw[j] > 0:
            m = s[j] + h1[j] / hw[j]
            if np.isfinite(m):
                c[j] = m
            else:
                # Sums beyond the float range: the first value of the
                # head that carries data (numpy_blocked._head_mean).
                for i in range(head):
                    x = np.float64(X[i, j])
                    if x == x and (not weighted or w[i] > 0):
                        c[j] = x
                        break
    count = np.zeros(f)
    n_obs = np.zeros(f)
    s1 = np.zeros(f)
    s2 = np.zeros(f)
    b_mean = np.zeros(f)
    b_var = np.zeros(f)
    nan_aware = weighted  # unweighted: NaN-free sums first (faster)
    done = False
    # The attempts of numpy_blocked._segment, in the same order.
    for attempt in range(3):
        count[:] = 0.0
        n_obs[:] = 0.0
        s1[:] = 0.0
        s2[:] = 0.0
        if nan_aware:
            moment_sums(X, 0, n, c, w, weighted, count, n_obs, s1, s2)
        else:
            plain_sums(X, 0, n, c, s1, s2)
        if not (np.isfinite(s1).all() and np.isfinite(s2).all()):
            if nan_aware:
                return 1
            nan_aware = True  # a NaN made the plain sums NaN
            continue
        if not nan_aware:
            count[:] = n
            n_obs[:] = n
        far = np.zeros(f, np.bool_)
        for j in range(f):
            b_mean[j] = 0.0
            b_var[j] = 0.0
            if count[j] > 0:
                b_mean[j] = s1[j] / count[j]
                b_var[j] = s2[j] / count[j] - b_mean[j] * b_mean[j]
                far[j] = not (b_mean[j] * b_mean[j] <= cancellation * b_var[j])
        if attempt < 2 and far.any():
            # Sum again around the batch's own mean: the head rows were
            # far from it (a level that moved; a one-row batch's head
            # mean, rounded).
            for j in range(f):
                if far[j]:
                    c[j] += b_mean[j]
            continue
        done = True
        break
    if not done:
        return 1
    for j in range(f):
        b_count = count[j]
        if b_count > 0:
            b_var[j] = max(b_var[j], 0.0)
            b_mean[j] = b_mean[j] + (c[j] - s[j])
        # merge_moments(previous, batch), then recentred
        a_count = p_count[j] if has_prev else 0.0
        seen_a = a_count > 0
        shift = p_shift[j] if seen_a else s[j]
        a_mean = p_mean[j] if seen_a else 0.0
        if b_count > 0:
            batch_mean = b_mean[j] + (s[j] - shift)
        else:
            batch_mean = a_mean
        total = a_count + b_count
        safe = total if total > 0 else 1.0
        fa = a_count / safe
        fb = b_count / safe
        delta = batch_mean - a_mean
        mean = a_mean + fb * delta
        if not np.isfinite(delta):  # opposite signs near the maximum
            mean = fa * a_mean + fb * batch_mean
        a_var = p_var[j] if has_prev else 0.0
        var = fa * a_var + fb * b_var[j] + fa * fb * delta * delta
        if total > 0:
            moved = shift + mean
            if not abs(moved) <= shift_limit:
                moved = 0.0
            mean = mean - (moved - shift)
            shift = moved
        out[0, j] = total
        out[1, j] = (p_n_obs[j] if has_prev else 0.0) + n_obs[j]
        out[2, j] = shift
        out[3, j] = mean
        out[4, j] = var
    return 0


@jit(
    signatures=[
        _i8(_in(T, 2), _in(T, 1, "A"), _in(T, 1, "A"), _b1, _out(T), _out(T))
        for T in _FLOATS
    ]
)
def min_max_update(X, p_low, p_high, has_prev, low, high):
    """``_stats.update_min_max`` for one batch: its NaN-aware minimum and
    maximum merged into the previous ones (NaN: nothing observed).
    Returns 1 if X holds +-inf, else 0."""
    n, f = X.shape
    low[:] = np.inf
    high[:] = -np.inf
    min_max(X, 0, n, low, high)
    for j in range(f):
        lo = low[j]
        hi = high[j]
        if lo == np.inf and hi == -np.inf:  # nothing observed
            lo = hi = np.nan
        elif np.isinf(lo) or np.isinf(hi):
            return 1
        if has_prev:
            if not np.isnan(p_low[j]):
                lo = p_low[j] if np.isnan(lo) else min(lo, p_low[j])
            if not np.isnan(p_high[j]):
                hi = p_high[j] if np.isnan(hi) else max(hi, p_high[j])
        low[j] = lo
        high[j] = hi
    return 0


@jit(signatures=[_void(_V, _V, _V, _S, _S, _S, _S, _b1, _f8, _b1, _M)])
def batchnorm_running(
    count, mean_b, var_b, r_mean, r_var, k_mean, k_var, has_prev,
    momentum, first_batch, out,
):  # fmt: skip
    """The running-state half of ``MiniBatchNormalizer._step``, in its
    order of operations (PyTorch's): the batch's unbiased variance and
    ``factor * batch + (1 - factor) * running``, where ``factor`` is the
    momentum, 1 on a feature's first update (``first_batch``), or 1/k
    for the cumulative average (``momentum < 0``).  Writes (running
    mean, running var, mean updates, var updates) into ``out``."""
    for j in range(count.size):
        c = count[j]
        has_mean = c > 0
        has_var = c > 1
        unbiased = var_b[j] * c / (c - 1 if has_var else 1.0)
        km = k_mean[j] if has_prev else 0.0
        kv = k_var[j] if has_prev else 0.0
        rm = r_mean[j] if has_prev else 0.0
        rv = r_var[j] if has_prev else 1.0
        km_new = km + (1.0 if has_mean else 0.0)
        kv_new = kv + (1.0 if has_var else 0.0)
        if momentum < 0:
            fm = 1.0 / (km_new if km_new > 0 else 1.0)
            fv = 1.0 / (kv_new if kv_new > 0 else 1.0)
        elif first_batch:
            fm = 1.0 if km == 0 else momentum
            fv = 1.0 if kv == 0 else momentum
        else:
            fm = momentum
            fv = momentum
        out[0, j] = fm * mean_b[j] + (1 - fm) * rm if has_mean else rm
        out[1, j] = fv * unbiased + (1 - fv) * rv if has_var else rv
        out[2, j] = km_new
        out[3, j] = kv_new


@jit(
    signatures=[
        _i8(_in(T, 2), _V, _b1, _i8, _f8, _f8, *[_S] * 4, _b1, _f8, _b1, _M)
        for T in _FLOATS
    ]
)
def batchnorm_update(
    X, w, weighted, head_rows, cancellation, shift_limit,
    r_mean, r_var, k_mean, k_var, has_prev, momentum, first_batch, out,
):  # fmt: skip
    """A whole ``MiniBatchNormalizer`` training step in one call: the
    batch's moments as :func:`moments_update` computes them (no state),
    its mean ``shift + mean`` and the running update
    (:func:`batchnorm_running`).  Writes (running mean, running var,
    mean updates, var updates, batch mean, batch variance) into ``out``
    and returns 0, or returns :func:`moments_update`'s 1 without a
    result."""
    f = X.shape[1]
    batch = np.empty((5, f))
    none = np.zeros(f)
    status = moments_update(
        X, w, weighted, head_rows, cancellation, shift_limit,
        none, none, none, none, none, False, batch,
    )  # fmt: skip
    if status:
        return status
    for j in range(f):
        out[4, j] = batch[2, j] + batch[3, j]
        out[5, j] = batch[4, j]
    batchnorm_running(
        batch[0], out[4], out[5], r_mean, r_var, k_mean, k_var, has_prev,
        momentum, first_batch, out,
    )  # fmt: skip
    return 0


@jit(signatures=[_f8(_f8, _S, _S, _C, _f8, _S, _S, _C, _A, _A, _M)])
def merge_comoments(
    a_count, a_shift, a_mean, a_cov, b_count, b_shift, b_mean, b_cov,
    shift, mean, cov,
):  # fmt: skip
    """``_stats.merge_comoments`` of two co-moment states (count, shift,
    mean, covariance) in one pass over the covariances, with its
    operations in its order: writes the merged shift, mean and covariance
    and returns the total weight.  ``cov`` may be ``a_cov`` or ``b_cov``
    (each entry is read before it is written)."""
    f = a_mean.shape[0]
    seen_a = a_count > 0
    total = a_count + b_count
    safe = total if total > 0 else 1.0
    fa = a_count / safe
    fb = b_count / safe
    ff = fa * fb
    delta = np.empty(f)
    for j in range(f):
        s = a_shift[j] if seen_a else b_shift[j]
        am = a_mean[j] if seen_a else 0.0
        bm = b_mean[j] + (b_shift[j] - s)
        d = bm - am
        delta[j] = d
        shift[j] = s
        mean[j] = am + fb * d
    for i in range(f):
        di = delta[i]
        for j in range(f):
            cov[i, j] = (fa * a_cov[i, j] + fb * b_cov[i, j]) + ff * (di * delta[j])
    return total


@jit(signatures=[_i8(_f8, _V, _in(_f8, 2), _f8, _A, _M, _out(_b1))])
def finish_comoments(total, s1, gram, cancellation, mean, cov, far):
    """The co-moments of block sums (:func:`.numpy_blocked.comoments`'s
    tail, its operations in its order): ``mean = s1 / total``, ``cov`` the
    symmetrised ``gram / total - mean meanᵀ``, ``far`` where the mean is
    farther from the shift than :data:`CANCELLATION` allows.  Returns 1 if
    a feature is far, plus 2 if the mean is not finite, plus 4 if ``s1`` or
    ``gram`` is not."""
    f = s1.shape[0]
    safe = total if total > 0 else 1.0
    flags = 0
    for j in range(f):
        m = s1[j] / safe
        mean[j] = m
        if not np.isfinite(s1[j]):
            flags |= 4
        if not np.isfinite(m):
            flags |= 2
    for i in range(f):
        mi = mean[i]
        for j in range(f):
            g = gram[i, j]
            if not np.isfinite(g):
                flags |= 4
            upper = g / safe - mi * mean[j]
            cov[i, j] = 0.5 * (upper + (gram[j, i] / safe - mean[j] * mi))
        far[i] = not (mi * mi <= cancellation * (gram[i, i] / safe - mi * mi))
        if far[i]:
            flags |= 1
    return flags


def by_name():
    """The loops by name (:func:`.numba_cpu.kernels`), with ``affine``,
    the calling convention of :func:`.numpy_blocked.linear`'s centring
    (three booleans for the three terms) over :func:`column_affine`."""
    loops = {name: globals()[name] for name in __all__ if name != "by_name"}
    loops["affine"] = _affine_with_booleans
    return loops


def _affine_with_booleans(X, out, lo, hi, center, scale, offset, use_c, use_s, use_o):
    flags = (CENTER if use_c else 0) | (SCALE if use_s else 0)
    flags |= OFFSET if use_o else 0
    column_affine(X, out, lo, hi, center, scale, offset, flags, X.dtype.type(np.inf))
