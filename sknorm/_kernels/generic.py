"""Reference kernels written against the Array API standard only.

Correct on every backend (NumPy, CuPy, torch, array-api-strict); the fast
paths are tested against these.  Numerics: all sums run in the accumulation
dtype on ``X - shift``, weights are normalised *before* summing (no overflow
for values near the float maximum), and the variance uses the compensated
two-pass formula of Chan, Golub & LeVeque (1983), which cancels the rounding
error of the mean.  16-bit floats (float16, bfloat16) are transformed in
float32 (a float32 copy of X) and rounded once to their dtype.
"""

from __future__ import annotations

import operator

import numpy as np

from .._array_api import array_device, compute_float_dtype, namespace_of

__all__ = [
    "affine",
    "bounded_shift",
    "chan_merge",
    "comoments",
    "first_observed",
    "linear",
    "local_response",
    "local_response_rows",
    "min_max",
    "moments",
    "observed",
    "shift_limit",
    "weight_fractions",
]


def _safe_divisor(xp, total):
    return xp.where(total > 0, total, xp.ones_like(total))


def shift_limit(xp, dtype):
    """The largest magnitude a shift may have: an eighth of an ulp of the
    float maximum (5e291 in float64, 5e30 in float32).

    Below it, ``x - shift`` cannot overflow for any finite ``x``: at most
    ``max + limit``, which rounds to ``max`` (half an ulp of the maximum is
    four times the limit); nor can a mean taken around the shift, nor the
    difference of two shifts.  Above it a shift is pointless: values that
    large are ``limit * eps`` apart or equal, so a feature there is constant
    or has an infinite variance, and a shift of 0 loses nothing.
    """
    finfo = xp.finfo(dtype)
    return float(finfo.max) * float(finfo.eps) / 8


def bounded_shift(xp, values, dtype):
    """``values`` as shifts: 0 where beyond :func:`shift_limit`."""
    limit = shift_limit(xp, dtype)
    return xp.where(xp.abs(values) <= limit, values, xp.zeros_like(values))


def observed(xp, X, weights=None):
    """Entries that carry data: not NaN, in a row of positive weight."""
    seen = ~xp.isnan(X)
    if weights is not None:
        seen = seen & (weights > 0)[:, None]
    return seen


def first_observed(xp, X, dtype, weights=None):
    """Per feature, the first value of ``X`` that carries data (not NaN, in
    a row of positive weight), in ``dtype``; 0 where there is none.

    The search every path shares: the shifts of :mod:`sknorm._stats`, the
    working shift of :func:`moments` and the head of an overflowing segment
    in :mod:`.numpy_blocked` (the compiled steps of :mod:`.numba_columns`
    search the same way, in their own loop).  Device-friendly: a cumulative
    count picks the entry, no host read.  A first value of -0.0 gives +0.0
    (a shift either way).
    """
    seen = observed(xp, X, weights)
    rank = xp.cumulative_sum(xp.astype(seen, xp.int32), axis=0)
    first = seen & (rank == 1)
    zero = xp.zeros((), dtype=dtype, device=array_device(X))
    return xp.sum(xp.where(first, xp.astype(X, dtype), zero), axis=0)


def weight_fractions(xp, a_count, b_count):
    """Total weight and each side's share of it (0 where the total is 0)."""
    total = a_count + b_count
    safe = xp.where(total > 0, total, xp.ones_like(total))
    return total, a_count / safe, b_count / safe


def chan_merge(xp, a_count, a_mean, a_var, b_count, b_mean, b_var):
    """Chan, Golub & LeVeque's merge of two sets of rows' weights, means
    and population variances (means taken around the same shift):
    ``(total, mean, var)``.

    The one merge of per-feature moments: :func:`sknorm._stats.merge_moments`
    (after putting both sides around one shift) and the segments and parts
    of :mod:`.numpy_blocked` (the compiled steps of :mod:`.numba_columns`
    merge the same way, in their own loop).  The mean is ``a + fb (b - a)``,
    Chan's form, or ``fa a + fb b`` where the difference overflowed (two
    means of opposite signs near the float maximum: the convex form cannot
    overflow, and the variance is +inf then anyway).  NumPy callers ignore
    its overflow warnings.
    """
    total, fa, fb = weight_fractions(xp, a_count, b_count)
    delta = b_mean - a_mean
    mean = a_mean + fb * delta
    mean = xp.where(xp.isfinite(delta), mean, fa * a_mean + fb * b_mean)
    return total, mean, fa * a_var + fb * b_var + fa * fb * delta * delta


def _working_shift(xp, X, shift, weights, dtype):
    """What the sums are taken around: the caller's shift, except for
    features whose values lie beyond the shift limit (where the caller's
    shift is 0).  There the first value of the first rows that carries data
    is used, unless some ``x - value`` of the batch overflows (values of
    both signs near the float maximum): around 0 the rounding of values that
    large would give a constant feature a variance of +inf, around one of
    its own values the variance is 0 and the mean exact.

    The test reads one small per-feature vector on the host; it is only
    true for data near the float maximum.
    """
    head = X[: min(X.shape[0], 1024), ...]
    w = None if weights is None else weights[: head.shape[0]]
    first = first_observed(xp, head, dtype, w)
    huge = xp.abs(first) > shift_limit(xp, dtype)
    if not bool(xp.any(huge)):
        return shift
    candidate = xp.where(huge, first, shift)
    with np.errstate(over="ignore"):  # NumPy-backed namespaces warn
        D = xp.astype(X, dtype) - candidate
    overflowed = xp.any(xp.isinf(D) & ~xp.isnan(X), axis=0)
    return xp.where(overflowed, shift, candidate)


def moments(X, shift, weights, dtype):
    xp = namespace_of(X)
    c = _working_shift(xp, X, shift, weights, dtype)
    D = xp.astype(X, dtype) - c
    observed = ~xp.isnan(D)
    D = xp.where(observed, D, xp.zeros_like(D))
    present = xp.astype(observed, dtype)
    n_obs = xp.sum(present, axis=0)
    if weights is None:
        w = present
        carries = observed
    else:
        w = present * xp.astype(weights, dtype)[:, None]
        carries = w > 0
    count = xp.sum(w, axis=0)
    w = w / _safe_divisor(xp, count)
    mean = xp.sum(w * D, axis=0)
    # Entries without data (NaN, or weight 0) centred to 0, not multiplied
    # by 0: a far zero-weight value may be infinitely far from the mean.
    centred = xp.where(carries, D - mean, xp.zeros_like(D))
    correction = xp.sum(w * centred, axis=0)
    square = xp.sum(w * centred * centred, axis=0)
    # correction**2 <= square; where square overflowed (spread beyond the
    # float range, e.g. values near 1e307) the variance is +inf, not inf - inf.
    correction = xp.where(xp.isinf(square), xp.zeros_like(correction), correction)
    var = square - correction * correction
    # Clamp rounding below 0; a NaN (overflowed spread) stays visible.
    var = xp.where(var < 0, xp.zeros_like(var), var)
    mean = mean + correction
    if c is not shift:
        mean = mean + (c - shift)  # around the caller's shift (0 there)
    return count, n_obs, mean, var


def min_max(X):
    xp = namespace_of(X)
    nan = xp.isnan(X)
    if not xp.any(nan):
        return xp.min(X, axis=0), xp.max(X, axis=0)
    big = xp.asarray(float("inf"), dtype=X.dtype, device=X.device)
    lo = xp.min(xp.where(nan, big, X), axis=0)
    hi = xp.max(xp.where(nan, -big, X), axis=0)
    all_nan = xp.all(nan, axis=0)
    nan_value = xp.asarray(float("nan"), dtype=X.dtype, device=X.device)
    return xp.where(all_nan, nan_value, lo), xp.where(all_nan, nan_value, hi)


def comoments(X, shift, weights, dtype):
    xp = namespace_of(X)
    D = xp.astype(X, dtype) - shift
    n = D.shape[0]
    if weights is None:
        w = xp.full((n,), 1.0 / n, dtype=dtype, device=D.device)
        count = xp.asarray(float(n), dtype=dtype, device=D.device)
    else:
        w = xp.astype(weights, dtype)
        count = xp.sum(w)
        w = w / _safe_divisor(xp, count)
    mean = xp.sum(w[:, None] * D, axis=0)
    centred = D - mean
    correction = xp.sum(w[:, None] * centred, axis=0)
    cov = (centred * w[:, None]).T @ centred
    cov = cov - correction[:, None] * correction[None, :]
    return count, mean + correction, cov


def _as(xp, a, dtype):
    return None if a is None else xp.astype(a, dtype)


def _rounded_once(xp, X, Y, copy):
    """``Y`` (computed in float32 for 16-bit ``X``) rounded to X's dtype
    once: a new array, or written into ``X`` (``copy=False``)."""
    Y = xp.astype(Y, X.dtype)
    if copy:
        return Y
    X[...] = Y
    return X


def affine(X, center, scale, offset, copy):
    xp = namespace_of(X)
    work = compute_float_dtype(xp, X.dtype)
    if work != X.dtype:  # 16-bit floats: computed in float32, rounded once
        Y = affine(xp.astype(X, work), center, scale, offset, False)
        return _rounded_once(xp, X, Y, copy)
    center, scale, offset = (_as(xp, a, X.dtype) for a in (center, scale, offset))
    # With copy, the first step writes the new array (no copy of X before
    # it: one pass less, and a tensor that requires grad keeps its graph);
    # the others work in place, in the same order.
    Y = X
    for step, term in zip(_AFFINE_STEPS, (center, scale, offset), strict=True):
        if term is None:
            continue
        if copy and Y is X:
            Y = step(X, term)
        else:
            Y = _AFFINE_IN_PLACE[step](Y, term)
    if copy and Y is X:
        Y = xp.asarray(X, copy=True)
    return Y


_AFFINE_STEPS = (operator.sub, operator.mul, operator.add)
_AFFINE_IN_PLACE = {
    operator.sub: operator.isub,
    operator.mul: operator.imul,
    operator.add: operator.iadd,
}


def linear(X, center, matrix, copy, offset=None):
    """``(X - center) @ matrix.T + offset``, each step in X's float dtype
    (``center`` and ``offset`` may be None)."""
    xp = namespace_of(X)
    work = compute_float_dtype(xp, X.dtype)
    if work != X.dtype:  # 16-bit floats: computed in float32, rounded once
        Y = linear(xp.astype(X, work), center, matrix, False, offset)
        return xp.astype(Y, X.dtype)
    matrix = xp.astype(matrix, X.dtype)
    if center is not None:
        X = X - xp.astype(center, X.dtype)
    Y = X @ matrix.T
    if offset is not None:
        Y = Y + xp.astype(offset, X.dtype)
    return Y


def local_response(X, size, alpha, beta, k):
    """``x / (k + alpha / size * window_sum(x**2)) ** beta``, torch's order.

    The window of feature ``i`` is features ``i - size // 2`` to
    ``i + (size - 1) // 2``, zero padded at the edges: exactly the padding
    and the average pool of ``torch.nn.functional.local_response_norm``,
    summed in the same (increasing) order.  A direct sum of shifted slices
    rather than a difference of cumulative sums: the latter cancels
    catastrophically when large and small features mix.
    """
    xp = namespace_of(X)
    n, f = X.shape
    Y = local_response_rows(xp.reshape(X, (n, f, 1)), size, alpha, beta, k)
    return xp.reshape(Y, (n, f))


def local_response_rows(X, size, alpha, beta, k):
    """:func:`local_response` of ``(M, C, B)`` across axis 1 (the channels of
    a channels-first array, at every one of the ``B`` positions)."""
    xp = namespace_of(X)
    work = compute_float_dtype(xp, X.dtype)
    if work != X.dtype:  # 16-bit floats: computed in float32, rounded once
        Y = local_response_rows(xp.astype(X, work), size, alpha, beta, k)
        return xp.astype(Y, X.dtype)
    m, f, b = X.shape
    sq = X * X
    # Missing values add nothing to their neighbours' windows (as the zero
    # padding at the edges) and stay NaN in the output (x / ... is NaN).
    sq = xp.where(xp.isnan(sq), xp.zeros_like(sq), sq)
    # Window cells further than f - 1 away are always padding: skip them.
    before = min(size // 2, f - 1)
    after = min((size - 1) // 2, f - 1)
    if before or after:
        device = array_device(X)
        parts = [sq]
        if before:
            parts.insert(0, xp.zeros((m, before, b), dtype=X.dtype, device=device))
        if after:
            parts.append(xp.zeros((m, after, b), dtype=X.dtype, device=device))
        padded = xp.concat(parts, axis=1)
        div = padded[:, 0:f, :] + padded[:, 1 : f + 1, :]
        for d in range(2, before + after + 1):
            div += padded[:, d : d + f, :]
    else:
        div = sq
    # torch: avg_pool (sum / size), then .mul(alpha).add(k).pow(beta).
    div /= size
    div *= alpha
    div += k
    div **= beta
    return X / div
