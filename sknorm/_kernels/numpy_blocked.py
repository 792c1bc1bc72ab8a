"""NumPy kernels that stream X once in cache-sized row blocks.

Every reduction reads each block of X from memory once, does its few
elementwise passes while the block sits in L2, and folds the block's
statistics into the running ones with the shifted Chan merge.  No temporary
is larger than one block.  The numbers match :mod:`.generic` within float
rounding (tested).

Why blocks and not one vectorised expression: ``X - shift`` on the whole
array allocates a full-size temporary and makes every further pass go to
main memory; scikit-learn's ``StandardScaler.fit`` pays for exactly that.
"""

from __future__ import annotations

import numpy as np

from . import generic

__all__ = ["affine", "comoments", "linear", "min_max", "moments"]

# float64 working set of one block: half of a core's L2 on current CPUs.
BLOCK_BYTES = 256 * 1024


def block_rows(n_features, itemsize=8, target=BLOCK_BYTES):
    """Rows per block so that one float64 block fills ``target`` bytes."""
    return max(16, target // max(1, n_features * itemsize))


def _blocks(n_samples, rows):
    for start in range(0, n_samples, rows):
        yield start, min(start + rows, n_samples)


def _chan_merge(count, mean, var, b_count, b_mean, b_var):
    """Fold one block (same shift) into the running per-feature moments."""
    total = count + b_count
    safe = np.where(total > 0, total, 1.0)
    fa, fb = count / safe, b_count / safe
    delta = b_mean - mean
    return total, mean + fb * delta, fa * var + fb * b_var + fa * fb * delta * delta


def moments(X, shift, weights, dtype):
    X = np.asarray(X)
    n, f = X.shape
    dtype = np.dtype(dtype)
    rows = block_rows(f, dtype.itemsize)
    buf = np.empty((min(rows, n), f), dtype=dtype)
    sq = np.empty_like(buf)
    count = np.zeros(f, dtype)
    n_obs = np.zeros(f, dtype)
    mean = np.zeros(f, dtype)
    var = np.zeros(f, dtype)
    for start, stop in _blocks(n, rows):
        block = X[start:stop]
        d = buf[: stop - start]
        np.subtract(block, shift, out=d, dtype=dtype)
        w = None if weights is None else np.asarray(weights[start:stop], dtype)
        # The block's own first row is its local shift: the sums below are
        # then of deviations of the order of the spread, so the one-pass
        # formula loses nothing, and no second pass over the block is needed.
        local = d[0].copy()
        d -= local
        s1 = d.sum(axis=0) if w is None else w @ d
        if not np.all(np.isfinite(s1)):
            # NaNs in this block: the NaN-aware reference kernel handles it.
            b_count, b_obs, b_mean, b_var = generic.moments(block, shift, w, dtype)
        else:
            s = sq[: stop - start]
            np.multiply(d, d, out=s)
            if w is None:
                b_count = np.full(f, float(stop - start), dtype)
                s2 = s.sum(axis=0)
                b_obs = b_count
            else:
                b_count = np.full(f, w.sum(), dtype)
                s2 = w @ s
                b_obs = np.full(f, float(stop - start), dtype)
            safe = np.where(b_count > 0, b_count, 1.0)
            b_mean = s1 / safe
            b_var = np.maximum(s2 / safe - b_mean * b_mean, 0.0)
            b_mean = b_mean + local
        count, mean, var = _chan_merge(count, mean, var, b_count, b_mean, b_var)
        n_obs = n_obs + b_obs
    return count, n_obs, mean, var


def min_max(X):
    X = np.asarray(X)
    n, f = X.shape
    rows = block_rows(f, X.dtype.itemsize)
    lo = np.full(f, np.nan, X.dtype)
    hi = np.full(f, np.nan, X.dtype)
    for start, stop in _blocks(n, rows):
        block = X[start:stop]
        # fmin/fmax ignore NaN unless a whole column is NaN: exactly the
        # NaN-aware semantics, in one pass per block.
        np.fmin(lo, np.fmin.reduce(block, axis=0), out=lo)
        np.fmax(hi, np.fmax.reduce(block, axis=0), out=hi)
    return lo, hi


def comoments(X, shift, weights, dtype):
    X = np.asarray(X)
    n, f = X.shape
    dtype = np.dtype(dtype)
    rows = max(block_rows(f, dtype.itemsize, 4 * BLOCK_BYTES), 4 * f)
    buf = np.empty((min(rows, n), f), dtype=dtype)
    count = np.zeros((), dtype)
    mean = np.zeros(f, dtype)
    cov = np.zeros((f, f), dtype)
    for start, stop in _blocks(n, rows):
        d = buf[: stop - start]
        np.subtract(X[start:stop], shift, out=d, dtype=dtype)
        w = None if weights is None else np.asarray(weights[start:stop], dtype)
        local = d[0].copy()
        d -= local
        if w is None:
            b_count = np.asarray(float(stop - start), dtype)
            s1 = d.sum(axis=0)
            s2 = d.T @ d
        else:
            b_count = np.asarray(w.sum(), dtype)
            s1 = w @ d
            s2 = (d * w[:, None]).T @ d
        safe = b_count if b_count > 0 else 1.0
        b_mean = s1 / safe
        b_cov = s2 / safe - np.outer(b_mean, b_mean)
        b_mean = b_mean + local
        total = count + b_count
        safe_total = total if total > 0 else 1.0
        fa, fb = count / safe_total, b_count / safe_total
        delta = b_mean - mean
        mean = mean + fb * delta
        cov = fa * cov + fb * b_cov + (fa * fb) * np.outer(delta, delta)
        count = total
    cov = 0.5 * (cov + cov.T)
    return count, mean, cov


def affine(X, center, scale, offset, copy):
    X = np.asarray(X)
    terms = [
        None if a is None else np.asarray(a, dtype=X.dtype)
        for a in (center, scale, offset)
    ]
    center, scale, offset = terms
    out = np.empty_like(X) if copy else X
    n, f = X.shape
    rows = block_rows(f, X.dtype.itemsize)
    for start, stop in _blocks(n, rows):
        src, dst = X[start:stop], out[start:stop]
        if center is not None:
            np.subtract(src, center, out=dst)
            src = dst
        if scale is not None:
            np.multiply(src, scale, out=dst)
            src = dst
        if offset is not None:
            np.add(src, offset, out=dst)
            src = dst
        if src is not dst:
            dst[...] = src
    return out


def linear(X, center, matrix, copy):
    X = np.asarray(X)
    matrix = np.asarray(matrix, dtype=X.dtype)
    n, f = X.shape
    k = matrix.shape[0]
    out = np.empty((n, k), dtype=X.dtype)
    if center is None:
        return np.matmul(X, matrix.T, out=out)
    center = np.asarray(center, dtype=X.dtype)
    rows = max(block_rows(f, X.dtype.itemsize, 4 * BLOCK_BYTES), 256)
    buf = np.empty((min(rows, n), f), dtype=X.dtype)
    for start, stop in _blocks(n, rows):
        c = buf[: stop - start]
        # Centre one block at a time: no centred copy of X is ever held.
        np.subtract(X[start:stop], center, out=c)
        np.matmul(c, matrix.T, out=out[start:stop])
    return out
