"""Whole ``partial_fit`` steps for small NumPy batches, compiled with numba.

For a batch below the worker threads' threshold (a 10,000 x 64 batch) the
NumPy glue around the loops of :mod:`.numpy_blocked` -- the shift, the
checks of the sums, the merge into the running state, the recentring, a few
dozen operations on per-feature vectors -- costs as much as reading the
batch.  These functions do a whole step in one compiled call
(:mod:`.numba_cpu`): the same shifts, sums and merge as the NumPy path, on
the calling thread.  They return ``NotImplemented`` for what they leave to
that path (large arrays, which the worker threads read; other layouts;
float32 statistics; sums that are not finite), and :mod:`sknorm._stats` and
``MiniBatchNormalizer`` then compose the step as before.

:func:`merge_comoments` is the merge of ``ZCAWhitening``'s co-moments (a
streaming ``partial_fit`` merges each batch's into the running ones): one
pass over the covariance matrices where NumPy makes six.
"""

from __future__ import annotations

import numpy as np

from . import NonFiniteError, numba_cpu
from ._parallel import PARALLEL_MIN_ELEMENTS
from .numpy_common import (
    CANCELLATION,
    HEAD_ROWS,
    NO_WEIGHTS,
    SHIFT_LIMIT,
    use_compiled,
)

__all__ = ["batchnorm_step", "merge_comoments", "update_min_max", "update_moments"]

_FLOAT64 = np.dtype(np.float64)


def _is_small(X):
    """X is a batch for the calling thread's compiled step: rows, fewer
    elements than the worker threads take, C-ordered float32/float64."""
    n, f = X.shape
    return n > 0 and n * f < PARALLEL_MIN_ELEMENTS and use_compiled(X)


def _float64_state(state, k, f):
    """The first ``k`` arrays of a running state as float64 vectors for a
    compiled loop (zeros, never read, when there is no state yet), or None
    when they are not ``f`` long: the loops read ``f`` of each, unchecked."""
    if state is None:
        return [np.zeros(f)] * k
    arrays = state[:k]
    for a in arrays:
        if type(a) is not np.ndarray or a.dtype is not _FLOAT64 or a.shape != (f,):
            break
    else:
        return arrays  # the compiled step's own output, as estimators keep it
    arrays = [np.asarray(a, np.float64) for a in arrays]
    return arrays if all(a.shape == (f,) for a in arrays) else None


def _weights(weights):
    """``(weights as a float64 vector, weighted)`` for a compiled loop."""
    if weights is None:
        return NO_WEIGHTS, False
    return np.ascontiguousarray(weights, np.float64), True


def update_moments(state, X, weights, dtype):
    """``(count, n_obs, shift, mean, var)`` of ``state`` (a ``Moments`` or
    None) updated with the batch X and recentred, in one compiled call, or
    ``NotImplemented`` for :func:`sknorm._stats.update_moments` to compose
    from :func:`.numpy_blocked.moments`."""
    float64 = dtype is np.float64 or np.dtype(dtype) == np.float64
    if not (float64 and _is_small(X)):
        return NotImplemented
    f = X.shape[1]
    previous = _float64_state(state, 5, f)
    if previous is None:
        return NotImplemented
    w, weighted = _weights(weights)
    out = np.empty((5, f))
    status = numba_cpu.kernels()["moments_update"](
        X,
        w,
        weighted,
        HEAD_ROWS,
        CANCELLATION,
        SHIFT_LIMIT,
        *previous,
        state is not None,
        out,
    )
    if status:
        return NotImplemented
    return out[0], out[1], out[2], out[3], out[4]


def batchnorm_step(state, X, weights, *, momentum, first_batch, gamma, eps):
    """``MiniBatchNormalizer``'s training step for a small batch in one
    compiled call (the batch's moments as :func:`update_moments` computes
    them, then the running update), or ``NotImplemented`` where
    :func:`update_moments` declines.  Same contract as
    :func:`.cupy_fused.batchnorm_step`, except that the training scale is
    left to the caller (None): ``gamma`` and ``eps`` are not used here."""
    if not _is_small(X):
        return NotImplemented
    f = X.shape[1]
    previous = _float64_state(state, 4, f)
    if previous is None:
        return NotImplemented
    w, weighted = _weights(weights)
    out = np.empty((6, f))
    status = numba_cpu.kernels()["batchnorm_update"](
        X,
        w,
        weighted,
        HEAD_ROWS,
        CANCELLATION,
        SHIFT_LIMIT,
        *previous,
        state is not None,
        -1.0 if momentum is None else float(momentum),
        bool(first_batch),
        out,
    )
    if status:
        return NotImplemented
    return out[0], out[1], out[2], out[3], out[4], out[5], None


def update_min_max(state, X):
    """``(min, max)`` of ``state`` (a ``MinMaxState`` or None) updated with
    the batch X, in one compiled call (:mod:`.numba_cpu`), or
    ``NotImplemented`` for :func:`sknorm._stats.update_min_max` to compose
    from :func:`.numpy_blocked.min_max` (large arrays, other layouts, a
    state of another dtype).  Raises :class:`NonFiniteError` on +-inf, as
    that does."""
    if not _is_small(X):
        return NotImplemented
    dtype = X.dtype
    f = X.shape[1]
    if state is None:
        low = high = np.empty(0, dtype)
    else:
        low, high = state[0], state[1]
        for a in (low, high):  # the compiled step's signature
            if type(a) is not np.ndarray or a.dtype != dtype or a.shape != (f,):
                return NotImplemented
    new_low, new_high = np.empty(f, dtype), np.empty(f, dtype)
    step = numba_cpu.kernels()["min_max_update"]
    if step(X, low, high, state is not None, new_low, new_high):
        raise NonFiniteError.for_dtype(dtype)
    return new_low, new_high


def _float64_arrays(arrays, shape):
    """The arrays are float64 ndarrays of this shape (the compiled merge's
    signature)."""
    for a in arrays:
        if type(a) is not np.ndarray or a.dtype is not _FLOAT64 or a.shape != shape:
            return False
    return True


def merge_comoments(a, b):
    """``(count, shift, mean, cov)`` of :func:`sknorm._stats.merge_comoments`
    for two float64 NumPy ``CoMoments``, in one compiled call with its
    operations in its order (the same numbers), or ``NotImplemented``
    (numba off, other arrays)."""
    if not numba_cpu.enabled():
        return NotImplemented
    f = a.mean.shape[0] if type(a.mean) is np.ndarray else -1
    vectors = (a.shift, a.mean, b.shift, b.mean)
    if not (_float64_arrays(vectors, (f,)) and _float64_arrays((a.cov, b.cov), (f, f))):
        return NotImplemented
    total = a.count + b.count  # the type NumPy's merge gives it
    shift, mean, cov = np.empty(f), np.empty(f), np.empty((f, f))
    numba_cpu.kernels()["merge_comoments"](
        float(a.count),
        a.shift,
        a.mean,
        a.cov,
        float(b.count),
        b.shift,
        b.mean,
        b.cov,
        shift,
        mean,
        cov,
    )
    return total, shift, mean, cov
