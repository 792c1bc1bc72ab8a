"""Per-channel statistics of N-D batches, through the views of :mod:`.layout`.

Moments and minimum/maximum per channel, for ``ZScore``, ``MinMax`` and
``MiniBatchNormalizer`` (called through ``sknorm._base``): the 2-D kernels
on the columns view (every backend) or NumPy's per-row kernels on the rows
view, and the merge of each channel's parts.  Device-only work off NumPy:
no host read in a ``partial_fit``.
"""

from __future__ import annotations

import numpy as np

from .._array_api import array_device, is_numpy_namespace, namespace_of
from .._stats import (
    MinMaxState,
    Moments,
    _initial_shift,
    merge_min_max,
    merge_moments,
    min_max_of_batch,
    moments_of_batch,
    recentred,
)
from .._stats import update_min_max as _update_min_max_2d
from .._stats import update_moments as _update_moments_2d
from .layout import flat_batch, parts, repeat_each, viewed

__all__ = ["batch_moments", "merge_parts", "update_min_max", "update_moments"]


def merge_parts(xp, count, n_obs, shift, mean, var):
    """The moments of each channel from those of its parts, ``(G, C)``
    arrays along axis 0 (the multi-way form of Chan's merge).

    A part's mean is taken around its own shift; the channel's is the
    shift of its first part with data (a value of the channel's own
    magnitude, so re-expressing the parts around it is exact).  Parts
    without data (no observed entry, or weight 0) enter nothing, not even
    the shift.  Device-only work, no host read.
    """
    seen = count > 0
    zero = xp.zeros_like(mean)
    first = seen & (xp.cumulative_sum(xp.astype(seen, xp.int32), axis=0) == 1)
    channel_shift = xp.sum(xp.where(first, shift, zero), axis=0)
    total = xp.sum(count, axis=0)
    frac = count / xp.where(total > 0, total, xp.ones_like(total))
    # (NumPy: a spread beyond the float range overflows to an infinite
    # variance, as in the 2-D kernels; that is the answer, not a warning.)
    with np.errstate(over="ignore", invalid="ignore"):
        part_mean = xp.where(seen, mean + (shift - channel_shift), zero)
        # The mean as the first part's plus the weighted differences, as
        # Chan's pairwise ``a + fb (b - a)``: parts of equal means give that
        # mean exactly (a constant channel near the float maximum keeps a
        # variance of 0), and where the differences overflow (means of
        # opposite signs near the maximum) the convex form, which cannot.
        head = xp.sum(xp.where(first, part_mean, zero), axis=0)
        location = head + xp.sum(frac * (part_mean - head), axis=0)
        convex = xp.sum(frac * part_mean, axis=0)
        location = xp.where(xp.isfinite(location), location, convex)
        delta = xp.where(seen, part_mean - location, zero)
        within = xp.sum(frac * xp.where(seen, var, zero), axis=0)
        var = within + xp.sum((frac * delta) * delta, axis=0)
    return Moments(
        count=total,
        n_obs=xp.sum(n_obs, axis=0),
        shift=channel_shift,
        mean=location,
        var=var,
    )


def _rows_shift(cube, weights):
    """Per channel of ``cube`` (groups, C, B), the shift its moments are
    taken around: the 2-D path's :func:`sknorm._stats._initial_shift` (the
    first observed value, 0 beyond the shift limit) of the first group of
    positive weight, seen as the matrix (positions, channels); for a channel
    with nothing observed there, of the first row of its own that has data.

    Neither a NaN nor a group of weight 0 (a far sentinel sample) can give
    the shift.  Common case: one value per channel read (position 0 of the
    first group); the matrices are views, temporaries of one group at most,
    and a channel missing from the batch costs one ``isnan`` per row.
    """
    groups = range(cube.shape[0]) if weights is None else np.flatnonzero(weights > 0)
    if len(groups) == 0:
        return np.zeros(cube.shape[1])
    shift = _initial_shift(np, cube[groups[0]].T, np.float64)
    # 0 is also the answer for nothing observed in that group.
    for c in np.flatnonzero(shift == 0):
        for g in groups:
            row = cube[g, c]
            if not np.isnan(row).all():
                shift[c] = _initial_shift(np, row[:, None], np.float64)[0]
                break
    return shift


def _rows_moments(array, layout, weights):
    from .._kernels import numpy_channels

    C = layout.channels
    rows = array.reshape(-1, layout.after)
    w = None
    if weights is not None:
        w = repeat_each(np, np.asarray(weights, np.float64), layout.before)
    shift = _rows_shift(rows.reshape(-1, C, layout.after), w)
    n_obs, mean, var = (
        a.reshape(-1, C) for a in numpy_channels.row_moments(rows, C, shift)
    )
    count = n_obs if w is None else n_obs * w[:, None]
    shifts = np.broadcast_to(shift, n_obs.shape)
    return merge_parts(namespace_of(mean), count, n_obs, shifts, mean, var)


def batch_moments(X, layout, weights, dtype):
    """Per-channel :class:`~sknorm._stats.Moments` of one batch."""
    xp, view = viewed(X, layout)
    layout = view.layout
    if layout.flat:
        return moments_of_batch(*flat_batch(view.array, layout, weights), dtype)
    if layout.uses_rows(xp):
        return _rows_moments(view.array, layout, weights)
    k = layout.fold
    columns = xp.reshape(view.array, layout.columns_shape(k))
    w = repeat_each(xp, weights, layout.before // k)
    per_column = moments_of_batch(columns, w, dtype)
    return merge_parts(xp, *(parts(xp, a, k, layout) for a in per_column))


def update_moments(state, X, layout, weights, dtype):
    """``state`` (per-channel moments, or None) updated with the batch X and
    recentred, as :func:`sknorm._stats.update_moments` per feature."""
    flat = flat_batch(X, layout, weights)
    if flat is not None:
        return _update_moments_2d(state, *flat, dtype)
    return recentred(merge_moments(state, batch_moments(X, layout, weights, dtype)))


def _nan_min_max(xp, low, high):
    """NaN-aware minimum and maximum along axis 0 (NaN: nothing observed)."""
    if is_numpy_namespace(xp):
        return np.fmin.reduce(low, axis=0), np.fmax.reduce(high, axis=0)
    inf = xp.asarray(float("inf"), dtype=low.dtype, device=array_device(low))
    lo = xp.min(xp.where(xp.isnan(low), inf, low), axis=0)
    hi = xp.max(xp.where(xp.isnan(high), -inf, high), axis=0)
    nothing = xp.all(xp.isnan(low), axis=0)
    nan = xp.full_like(lo, float("nan"))
    return xp.where(nothing, nan, lo), xp.where(nothing, nan, hi)


def update_min_max(state, X, layout):
    """``state`` (per-channel :class:`~sknorm._stats.MinMaxState`, or None)
    updated with the batch X."""
    xp, view = viewed(X, layout)
    layout = view.layout
    if layout.flat:
        return _update_min_max_2d(state, flat_batch(view.array, layout, None)[0])
    if layout.uses_rows(xp):
        from .._kernels import numpy_channels

        rows = view.array.reshape(-1, layout.after)
        low, high = (
            a.reshape(-1, layout.channels) for a in numpy_channels.row_min_max(rows)
        )
    else:
        k = layout.fold
        low, high = min_max_of_batch(xp.reshape(view.array, layout.columns_shape(k)))
        low, high = parts(xp, low, k, layout), parts(xp, high, k, layout)
    return merge_min_max(state, MinMaxState(*_nan_min_max(xp, low, high)))
