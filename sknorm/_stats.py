"""Mergeable running statistics: pure functions on arrays.

Each statistic is an immutable state with three operations:

* ``*_of_batch(X, ...)`` -- the state of one batch (computed by a kernel),
* ``merge_*(a, b)``      -- the state of the union of two disjoint sets of rows,
* ``update_*(state, X)`` -- ``merge(state, of_batch(X))``, with ``state=None``
  meaning "nothing seen yet".

``partial_fit`` is ``update``; a distributed fit is a tree of ``merge``; two
fitted estimators can be merged.  Moments are kept as (count, shift, mean of
``x - shift``, population variance), not as sums: the shift keeps the variance
exact when the mean is huge compared with the spread, and normalised moments
cannot overflow where raw sums would (values near 1e307).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._array_api import is_numpy_namespace, namespace_of
from ._kernels import kernels_for
from ._kernels.generic import (
    bounded_shift,
    chan_merge,
    first_observed,
    observed,
    weight_fractions,
)
from ._naming import state_type

__all__ = [
    "CoMoments",
    "MinMaxState",
    "Moments",
    "Statistics",
    "merge_comoments",
    "merge_min_max",
    "merge_moments",
    "update_comoments",
    "update_min_max",
    "update_moments",
    "weight_fractions",
]


class Statistics(NamedTuple):
    """Everything an estimator's fitted state is derived from, mergeable.

    states : tuple of the estimator's mergeable states (``Moments``,
        ``MinMaxState``, ``CoMoments``, ...; ``None`` entries where nothing
        is accumulated)
    n_rows : number of rows seen
    weighted : whether ``sample_weight`` was ever given

    ``a.merge(b)`` and a Dask fit both combine two of these with the
    estimator's ``_merge_statistics`` and derive the fitted attributes from
    the result with ``_fitted_state``.
    """

    states: tuple
    n_rows: int
    weighted: bool


def _initial_shift(xp, X, dtype, weights=None):
    """A per-feature value close to the data: the first observed value.

    Statistics of ``x - shift`` are what stay exact when the mean is large
    compared with the spread; any value of the feature's own magnitude works,
    but 0 does not (a feature at 1e8 whose first row is NaN would lose eight
    digits).  Only values that carry data count: a NaN, or any value in a
    row of weight 0 (a sentinel far from the data, which would cost its
    distance in digits), is passed over.  The first row is enough unless it
    holds such entries; then the first rows, then the whole batch, are
    searched (0 remains only for a feature with no data in the batch).
    Values beyond :func:`shift_limit` give 0.
    """
    if not is_numpy_namespace(xp):
        # On a device, deciding whether to look further needs a host read
        # (a synchronisation per partial_fit): take the first observed value
        # of the head rows, which is device-only work on 1024 rows.  A
        # feature with no data in any head row keeps 0 as its shift; the
        # kernels' compensated variance keeps it accurate unless its mean is
        # huge compared with its spread.
        head = min(X.shape[0], 1024)
        w = None if weights is None else weights[:head]
        return bounded_shift(xp, first_observed(xp, X[:head, :], dtype, w), dtype)
    first = xp.astype(X[0, :], dtype)
    missing = xp.isnan(first)
    if not (bool(xp.any(missing)) or (weights is not None and not weights[0] > 0)):
        return bounded_shift(xp, first, dtype)
    n = X.shape[0]
    for stop in (min(n, 1024), n):
        w = None if weights is None else weights[:stop]
        first = first_observed(xp, X[:stop, :], dtype, w)
        missing = ~xp.any(observed(xp, X[:stop, :], w), axis=0)
        if stop == n or not bool(xp.any(missing)):
            break
    return bounded_shift(xp, first, dtype)


def _batch_shift(xp, state, X, dtype, weights=None):
    """The shift for a new batch: the state's where it has seen data, else
    one taken from the batch (features first observed in this batch)."""
    if state is None:
        return _initial_shift(xp, X, dtype, weights)
    seen = state.count > 0
    if is_numpy_namespace(xp) and bool(xp.all(seen)):
        return state.shift
    return xp.where(seen, state.shift, _initial_shift(xp, X, dtype, weights))


# --------------------------------------------------------------- moments ----
@state_type
class Moments(NamedTuple):
    """Per-feature weighted moments of ``x - shift`` (NaN entries skipped).

    count : total weight of the observed entries, per feature
    n_obs : number of observed entries, per feature
    shift : the reference point the moments are taken around
    mean  : weighted mean of ``x - shift``
    var   : weighted population variance
    """

    count: object
    n_obs: object
    shift: object
    mean: object
    var: object

    @property
    def location(self):
        """The mean of the data itself."""
        return self.shift + self.mean

    @classmethod
    def empty(cls, xp, n_features, dtype, device):
        """The moments of no rows (the neutral element of the merge)."""
        zeros = xp.zeros((n_features,), dtype=dtype, device=device)
        return cls(zeros, zeros, zeros, zeros, zeros)


def moments_of_batch(X, sample_weight, dtype, shift=None):
    xp = namespace_of(X)
    if shift is None:
        fused = getattr(kernels_for(xp), "update_moments", None)
        if fused is not None:  # the kernel picks its own shift
            result = fused(None, X, sample_weight, dtype)
            if result is not NotImplemented:
                return Moments(*result)
        shift = _initial_shift(xp, X, dtype, sample_weight)
    count, n_obs, mean, var = kernels_for(xp).moments(X, shift, sample_weight, dtype)
    return Moments(count, n_obs, shift, mean, var)


def merge_moments(a, b):
    """Chan, Golub & LeVeque's pairwise merge, in normalised form."""
    if a is None:
        return b
    if b is None:
        return a
    xp = namespace_of(a.mean)
    # Keep a's shift where a has data, else b's: a feature first seen in b
    # must not be taken around a's placeholder shift.  b is then expressed
    # around that shift (shifts of one feature are close to each other, so
    # the difference is exact).  A side without data for a feature gets a
    # neutral mean, so that its placeholder never enters the arithmetic.
    seen_a, seen_b = a.count > 0, b.count > 0
    shift = xp.where(seen_a, a.shift, b.shift)
    a_mean = xp.where(seen_a, a.mean, xp.zeros_like(a.mean))
    b_mean = xp.where(seen_b, b.mean + (b.shift - shift), a_mean)
    # Means of opposite signs near the float maximum: their difference and
    # the variance overflow (to +inf, which is the variance), the mean not.
    with np.errstate(over="ignore", invalid="ignore"):
        count, mean, var = chan_merge(
            xp, a.count, a_mean, a.var, b.count, b_mean, b.var
        )
    return Moments(count, a.n_obs + b.n_obs, shift, mean, var)


def recentred(state):
    """The same moments around a shift moved onto the running mean.

    A shift far from the data (0 for a feature whose first observed value
    came late in a device batch) costs digits in every later merge; moving
    it to ``shift + mean`` keeps later batches, and the merge deltas, small.
    ``new_shift - shift`` is exact (both are close, or one is 0), so the
    residual mean is exact too.  Device-only work, O(n_features).
    """
    xp = namespace_of(state.mean)
    seen = state.count > 0
    moved = bounded_shift(xp, state.shift + state.mean, state.mean.dtype)
    shift = xp.where(seen, moved, state.shift)
    mean = xp.where(seen, state.mean - (shift - state.shift), state.mean)
    return state._replace(shift=shift, mean=mean)


def update_moments(state, X, sample_weight, dtype):
    """``merge_moments(state, moments of X)``, X taken around state's shift,
    then recentred so that the next batch is taken around the running mean.

    A kernel module with its own ``update_moments`` (CuPy: two launches;
    NumPy with numba: one compiled call for a small batch) does all of it at
    once; the result is the same within float rounding.  It may return
    ``NotImplemented`` for a batch it leaves to the steps below.
    """
    xp = namespace_of(X)
    fused = getattr(kernels_for(xp), "update_moments", None)
    if fused is not None:
        result = fused(state, X, sample_weight, dtype)
        if result is not NotImplemented:
            return Moments(*result)
    shift = _batch_shift(xp, state, X, dtype, sample_weight)
    merged = merge_moments(state, moments_of_batch(X, sample_weight, dtype, shift))
    return recentred(merged)


# --------------------------------------------------------------- min/max ----
@state_type
class MinMaxState(NamedTuple):
    """Per-feature NaN-aware minimum and maximum (NaN: nothing observed)."""

    min: object
    max: object

    @classmethod
    def empty(cls, xp, n_features, dtype, device):
        """Nothing observed (the neutral element of the merge)."""
        nan = xp.full((n_features,), float("nan"), dtype=dtype, device=device)
        return cls(nan, nan)


def _nan_aware(xp, op, a, b):
    return xp.where(xp.isnan(a), b, xp.where(xp.isnan(b), a, op(a, b)))


def min_max_of_batch(X):
    xp = namespace_of(X)
    lo, hi = kernels_for(xp).min_max(X)
    return MinMaxState(lo, hi)


def merge_min_max(a, b):
    if a is None:
        return b
    if b is None:
        return a
    xp = namespace_of(a.min)
    return MinMaxState(
        _nan_aware(xp, xp.minimum, a.min, b.min),
        _nan_aware(xp, xp.maximum, a.max, b.max),
    )


def update_min_max(state, X):
    xp = namespace_of(X)
    fused = getattr(kernels_for(xp), "update_min_max", None)
    if fused is not None:  # may promote (CuPy: a float64 state)
        result = fused(state, X)
        if result is not NotImplemented:
            return MinMaxState(*result)
    return merge_min_max(state, min_max_of_batch(X))


# ------------------------------------------------------------ co-moments ----
@state_type
class CoMoments(NamedTuple):
    """Weighted mean and population covariance matrix of ``x - shift``.

    count : total weight (a 0-d array)
    shift : the per-feature reference point
    mean  : weighted mean of ``x - shift``
    cov   : weighted population covariance (n_features x n_features)
    """

    count: object
    shift: object
    mean: object
    cov: object

    @property
    def location(self):
        return self.shift + self.mean

    @classmethod
    def empty(cls, xp, n_features, dtype, device):
        """The co-moments of no rows (the neutral element of the merge)."""
        zeros = xp.zeros((n_features,), dtype=dtype, device=device)
        return cls(
            xp.zeros((), dtype=dtype, device=device),
            zeros,
            zeros,
            xp.zeros((n_features, n_features), dtype=dtype, device=device),
        )


def comoments_of_batch(X, sample_weight, dtype, shift=None):
    xp = namespace_of(X)
    if shift is None:
        shift = _initial_shift(xp, X, dtype, sample_weight)
    count, mean, cov = kernels_for(xp).comoments(X, shift, sample_weight, dtype)
    return CoMoments(count, shift, mean, cov)


def merge_comoments(a, b):
    """Chan's pairwise merge of co-moments (the covariance's outer-product
    correction).  A kernel module with its own ``merge_comoments`` (NumPy
    with numba: one compiled pass) does it with the same operations; it may
    return ``NotImplemented``."""
    if a is None:
        return b
    if b is None:
        return a
    xp = namespace_of(a.mean)
    fused = getattr(kernels_for(xp), "merge_comoments", None)
    if fused is not None:
        result = fused(a, b)
        if result is not NotImplemented:
            return CoMoments(*result)
    # As in merge_moments: a side without rows (an empty Dask chunk, a batch
    # of zero weights) must not lend its placeholder shift, or b's mean
    # would be taken around 0 and lose the digits the shift protects.
    seen_a = a.count > 0
    shift = xp.where(seen_a, a.shift, b.shift)
    a_mean = xp.where(seen_a, a.mean, xp.zeros_like(a.mean))
    b_mean = b.mean + (b.shift - shift)
    total, fa, fb = weight_fractions(xp, a.count, b.count)
    delta = b_mean - a_mean
    return CoMoments(
        count=total,
        shift=shift,
        mean=a_mean + fb * delta,
        cov=fa * a.cov + fb * b.cov + (fa * fb) * (delta[:, None] * delta[None, :]),
    )


def update_comoments(state, X, sample_weight, dtype):
    shift = None if state is None else state.shift
    return merge_comoments(state, comoments_of_batch(X, sample_weight, dtype, shift))
