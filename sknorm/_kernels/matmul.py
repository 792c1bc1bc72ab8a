"""Array API kernels whose reductions are matrix products (torch on CUDA).

CuPy has compiled kernels of its own (:mod:`.cupy_fused`); this module is
the GPU path of torch CUDA tensors, and CuPy's with ``SKNORM_CUPY_FUSED=0``.

On a GPU a column reduction of a tall array is the slow case of a generic
reduction (CuPy's ``sum(axis=0)`` of 10,000,000 x 64 takes 224 ms, 340x
one read), while a matrix-vector product ``v @ D`` is a cuBLAS gemv at
memory speed.  This module keeps the numerics of :mod:`.generic` (shifted
data, the compensated two-pass variance, sums in the accumulation dtype) but
writes every column sum as a product with a weight vector, row block by row
block, and combines the blocks with the multi-way form of Chan's merge in
one step at the end.  Minimum and maximum (no product form) are reduced in
two stages over a ``(rows / k, k * n_features)`` view, which gives the
device ``k * n_features`` independent outputs instead of ``n_features``.

Nothing here reads a device value on the host (no ``bool()``, ``float()``,
``if`` on array values): the kernels queue work and return, so a
``partial_fit`` on the GPU does not wait for the device.  Block sizes are
fixed from the shapes alone.

Moments are summed around the caller's shift (the state's, 0 for values
beyond ``sknorm._kernels.generic.shift_limit``): unlike :mod:`.generic`, which takes a
value of the data as its working shift there (a host read), a constant
feature beyond 5e291 gets a variance of +inf here rather than 0 (the rounding
of values that large, squared, overflows); its mean is right.

Written against the Array API standard only, so the tests run it on NumPy,
torch (CPU) and array-api-strict against :mod:`.generic`.  What it does not
do: fuse the elementwise steps into one pass (that needs a custom CUDA
kernel per backend); see docs/performance.md for what that leaves on the
table.
"""

from __future__ import annotations

from .._array_api import compute_float_dtype, namespace_of
from . import generic

__all__ = ["affine", "comoments", "linear", "local_response", "min_max", "moments"]

# Elements per row block: large enough that the few kernel launches of a
# block are small next to its memory traffic, small enough that the block's
# temporaries are a fraction of X.
BLOCK_ELEMENTS = 1 << 24
# First-stage outputs of a two-stage column reduction.
FOLD_OUTPUTS = 1 << 14


def _block_rows(n_features):
    return max(1, BLOCK_ELEMENTS // max(1, n_features))


def _row_blocks(n, n_features):
    rows = _block_rows(n_features)
    for start in range(0, n, rows):
        yield start, min(start + rows, n)


def _shifted(xp, X, shift, dtype):
    """``X - shift`` in ``dtype`` (one elementwise pass when X is a float
    no wider than ``dtype``: promotion does the cast)."""
    if X.dtype != dtype and not (
        xp.isdtype(X.dtype, "real floating") and xp.result_type(X.dtype, dtype) == dtype
    ):
        X = xp.astype(X, dtype)
    return X - shift


def _safe(xp, total):
    return xp.where(total > 0, total, xp.ones_like(total))


def _combine(xp, counts, means, variances):
    """Moments of the union of row blocks, from each block's (count, mean,
    variance) stacked on axis 0: the multi-way form of Chan's merge."""
    count = xp.sum(counts, axis=0)
    frac = counts / _safe(xp, count)
    mean = xp.sum(frac * means, axis=0)
    delta = means - mean
    var = xp.sum(frac * variances, axis=0) + xp.sum(frac * delta * delta, axis=0)
    return count, mean, var


# --------------------------------------------------------------- moments ----
def moments(X, shift, weights, dtype):
    xp = namespace_of(X)
    n, f = X.shape
    zero = xp.zeros((), dtype=dtype, device=X.device)
    counts, n_obs, means, variances = [], [], [], []
    for start, stop in _row_blocks(n, f):
        m = stop - start
        D = _shifted(xp, X[start:stop, ...], shift, dtype)
        observed = ~xp.isnan(D)
        D = xp.where(observed, D, zero)
        P = xp.astype(observed, dtype)
        units = xp.ones((m,), dtype=dtype, device=X.device)
        obs = units @ P  # exact counts
        # Row weights divided by a host-known or block-level total first, so
        # that no sum below can overflow (values near the float maximum).
        if weights is None:
            v = xp.full((m,), 1.0 / m, dtype=dtype, device=X.device)
            count, total = obs, obs / m
        else:
            w = xp.astype(weights[start:stop], dtype)
            v = w / _safe(xp, xp.sum(w))
            count, total = w @ P, v @ P
        mean = (v @ D) / _safe(xp, total)
        centred = (D - mean) * P
        # (v * c) * c, in the generic kernel's order: a row of weight 0 adds
        # 0 even where c * c would overflow.
        weighted = v[:, None] * centred
        correction = (units @ weighted) / _safe(xp, total)
        square = (units @ (weighted * centred)) / _safe(xp, total)
        # As in the generic kernel: a square beyond the float range is a
        # variance of +inf, not inf - inf.
        correction = xp.where(xp.isinf(square), xp.zeros_like(correction), correction)
        var = square - correction * correction
        counts.append(count)
        n_obs.append(obs)
        means.append(mean + correction)
        variances.append(xp.where(var < 0, xp.zeros_like(var), var))
    if len(counts) == 1:
        return counts[0], n_obs[0], means[0], variances[0]
    count, mean, var = _combine(
        xp, xp.stack(counts), xp.stack(means), xp.stack(variances)
    )
    return count, xp.sum(xp.stack(n_obs), axis=0), mean, var


# --------------------------------------------------------------- min/max ----
def _column_reduce(xp, op, A):
    """``op(A, axis=0)`` of a tall block in two stages (see module doc)."""
    m, f = A.shape
    k = min(m, max(1, FOLD_OUTPUTS // max(1, f)))
    q = m // k
    head = xp.reshape(A[: q * k, ...], (q, k * f))
    out = op(xp.reshape(op(head, axis=0), (k, f)), axis=0)
    if q * k < m:
        tail = op(A[q * k :, ...], axis=0)
        out = op(xp.stack([out, tail]), axis=0)
    return out


def min_max(X):
    xp = namespace_of(X)
    n, f = X.shape
    inf = xp.asarray(float("inf"), dtype=X.dtype, device=X.device)
    lows, highs = [], []
    for start, stop in _row_blocks(n, f):
        B = X[start:stop, ...]
        nan = xp.isnan(B)
        lows.append(_column_reduce(xp, xp.min, xp.where(nan, inf, B)))
        highs.append(_column_reduce(xp, xp.max, xp.where(nan, -inf, B)))
    low = xp.min(xp.stack(lows), axis=0)
    high = xp.max(xp.stack(highs), axis=0)
    # A feature with an observed value v has low <= v <= high: low = +inf
    # together with high = -inf means nothing was observed.
    nothing = (low == inf) & (high == -inf)
    nan_value = xp.asarray(float("nan"), dtype=X.dtype, device=X.device)
    return xp.where(nothing, nan_value, low), xp.where(nothing, nan_value, high)


# ------------------------------------------------------------ co-moments ----
def comoments(X, shift, weights, dtype):
    xp = namespace_of(X)
    n, f = X.shape
    counts, means, covs = [], [], []
    for start, stop in _row_blocks(n, f):
        m = stop - start
        D = _shifted(xp, X[start:stop, ...], shift, dtype)
        if weights is None:
            v = xp.full((m,), 1.0 / m, dtype=dtype, device=X.device)
            count = xp.asarray(float(m), dtype=dtype, device=X.device)
        else:
            w = xp.astype(weights[start:stop], dtype)
            count = xp.sum(w)
            v = w / _safe(xp, count)
        mean = v @ D
        centred = D - mean
        correction = v @ centred
        if weights is None:
            cov = (centred.T @ centred) / m
        else:
            cov = (centred * v[:, None]).T @ centred
        cov = cov - correction[:, None] * correction[None, :]
        counts.append(count)
        means.append(mean + correction)
        covs.append(cov)
    if len(counts) == 1:
        return counts[0], means[0], covs[0]
    counts = xp.stack(counts)
    count = xp.sum(counts)
    frac = counts / _safe(xp, count)
    means = xp.stack(means)
    mean = frac @ means
    delta = means - mean
    cov = xp.sum(frac[:, None, None] * xp.stack(covs), axis=0)
    cov = cov + (delta * frac[:, None]).T @ delta
    return count, mean, cov


# ------------------------------------------------------------ transforms ----
def affine(X, center, scale, offset, copy):
    """Elementwise already runs at the device's speed per pass: generic."""
    return generic.affine(X, center, scale, offset, copy)


def linear(X, center, matrix, copy, offset=None):
    """``(X - center) @ matrix.T + offset``, centred one row block at a
    time: no centred copy of X, and the numbers of the generic kernel."""
    xp = namespace_of(X)
    work = compute_float_dtype(xp, X.dtype)
    if work != X.dtype:  # 16-bit floats: computed in float32, rounded once
        Y = linear(xp.astype(X, work), center, matrix, False, offset)
        return xp.astype(Y, X.dtype)
    matrix = xp.astype(matrix, X.dtype)
    center = None if center is None else xp.astype(center, X.dtype)
    offset = None if offset is None else xp.astype(offset, X.dtype)

    def block(B):
        if center is not None:
            B = B - center
        Y = B @ matrix.T
        return Y if offset is None else Y + offset

    n, f = X.shape
    rows = _block_rows(f)
    if center is None or rows >= n:
        return block(X)
    out = xp.empty((n, matrix.shape[0]), dtype=X.dtype, device=X.device)
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        out[start:stop, ...] = block(X[start:stop, ...])
    return out


# Elementwise work over shifted column slices: nothing for a matrix product
# to do; CuPy runs the generic expression as it is.
local_response = generic.local_response
