"""Kernels of the quantile summaries, written against the Array API only.

Everything here works on *blocks*: pairs ``(values, weights)`` of
``(n_features, m)`` arrays, one row per feature, each row sorted by value.
Feature-major rows keep every per-feature operation (sort, cumulative sum,
search) on contiguous memory.  An empty slot (a NaN, or a row of weight 0,
or padding) holds ``+inf`` with weight 0: the data never holds infinity
(validation refuses it), so ``+inf`` sorts last and marks "no value"
without NaN, whose place in a sort the standard leaves open.

Weights are in the accumulation dtype.  Unweighted data has weights 1, so
every cumulative weight, boundary and error below is an integer that
float64 holds exactly (``integral=True``): the arithmetic is then exact and
the same on every device; weighted data is computed in floating point and
the error bounds carry a margin for its rounding.

Functions
---------
batch_block(X, weights, dtype)
    one batch as a sorted block;
sorted_block(values, weights)
    a block with each row sorted (stable: the bits do not depend on
    anything but the inputs' order);
merged_blocks(blocks)
    sorted blocks merged into one, the earlier block first where values
    tie;
compact(values, weights, slots, integral)
    a sorted block reduced to ``slots`` items, and the rank error that
    costs, per feature;
interpolated(values, weights, phis, n_observed, unit_weights)
    the quantiles ``phis`` of a sorted block, with NumPy's ``linear``
    interpolation between the order statistics of the data the weights
    count (the rows a weight stands for);
interp_columns(X, xs, fs)
    ``np.interp`` of every column of X through its own points (the
    ``Quantile`` transform).
"""

from __future__ import annotations

import numpy as np

from .._array_api import array_device, namespace_of

__all__ = [
    "EMPTY",
    "batch_block",
    "compact",
    "interp_columns",
    "interpolated",
    "merged_blocks",
    "rounding_margin",
    "row_searchsorted",
    "sorted_block",
]

#: The value of an empty slot.
EMPTY = float("inf")


def _row_major(xp, X, dtype):
    """``X.T`` in ``dtype`` as a new C-ordered array (one copy of X)."""
    values = xp.astype(xp.permute_dims(X, (1, 0)), dtype, copy=True)
    # A reshape of a transposed view lays the rows out contiguously (NumPy,
    # torch and CuPy copy; the astype above may have kept the strides).
    return xp.reshape(values, (X.shape[1], X.shape[0]))


def batch_block(X, weights, dtype):
    """The sorted block of one batch ``X`` of shape ``(n, n_features)``.

    NaN entries and rows of weight 0 become empty slots (they carry no
    data: they never reach a statistic).  Without weights every observed
    entry weighs 1 and the weights need no sort: a row's weights are its
    observed count of ones followed by zeros, which is what sorting the
    values (empty slots last) pairs them with.
    """
    xp = namespace_of(X)
    device = array_device(X)
    values = _row_major(xp, X, dtype)
    observed = ~xp.isnan(values)
    if weights is not None:
        observed = observed & (weights > 0)[None, :]
    empty = xp.asarray(EMPTY, dtype=dtype, device=device)
    values = xp.where(observed, values, empty)
    if weights is None:
        w = xp.sort(xp.astype(observed, dtype), axis=1, descending=True)
        return xp.sort(values, axis=1), w
    zero = xp.zeros((), dtype=dtype, device=device)
    w = xp.where(observed, xp.astype(weights, dtype)[None, :], zero)
    return sorted_block(values, w)


def sorted_block(values, weights):
    """``(values, weights)`` with each row sorted by value (stable)."""
    xp = namespace_of(values)
    order = xp.argsort(values, axis=1, stable=True)
    return (
        xp.take_along_axis(values, order, axis=1),
        xp.take_along_axis(weights, order, axis=1),
    )


def merged_blocks(blocks):
    """One sorted block from sorted ``(values, weights)`` blocks, in order:
    where values tie, the earlier block's items come first (a stable sort of
    their concatenation)."""
    if len(blocks) == 1:
        return blocks[0]
    xp = namespace_of(blocks[0][0])
    values = xp.concat([v for v, _ in blocks], axis=1)
    weights = xp.concat([w for _, w in blocks], axis=1)
    return sorted_block(values, weights)


def row_searchsorted(sorted_rows, targets, side):
    """Per row ``i``: ``searchsorted(sorted_rows[i], targets[i], side)``.

    The standard's ``searchsorted`` is one-dimensional: one call per row
    (rows are contiguous, so no call copies its sequence).
    """
    xp = namespace_of(sorted_rows)
    rows = [
        xp.searchsorted(sorted_rows[i, :], targets[i, :], side=side)
        for i in range(sorted_rows.shape[0])
    ]
    return xp.stack(rows, axis=0)


def _boundaries(xp, total, j, slots, integral):
    """Interval ends ``total * j / slots``, floored to integers for integral
    weights (``total * j`` is an exact integer below 2**53, and the
    correctly rounded quotient of two exact integers floors exactly)."""
    b = (total * j) / slots
    return xp.floor(b) if integral else b


def rounding_margin(xp, total, n_items, dtype):
    """A bound on the rounding of cumulative weights of ``n_items`` terms
    and of the boundaries (floating-point weights only)."""
    return total * ((n_items + 8) * float(xp.finfo(dtype).eps))


def compact(values, weights, slots, integral):
    """Reduce a sorted block to ``slots`` items; return ``(values, weights,
    error)``.

    The total weight ``W`` of each row is cut into ``slots`` consecutive
    intervals of equal length (integers for integral weights); each
    interval becomes one item of the interval's weight, whose value is the
    value at the interval's midpoint rank.  At every value ``q`` the rank
    ``#(x <= q)`` (and ``#(x < q)``) of the result is the input's rank
    rounded to the nearest interval end, so the rank error the compaction
    costs is the largest distance of an input rank to an interval end --
    computed here exactly, per feature, at the ends of the input's runs of
    equal values (the only ranks a value can have), and at most half an
    interval.  An input that fits (``W <= slots`` with integral weights)
    is kept exactly: every integer is an interval end.

    Intervals of length 0 give items of weight 0; they keep their neighbour's
    value, so the result stays sorted, and weigh nothing anywhere.
    """
    xp = namespace_of(values)
    device = array_device(values)
    dtype = weights.dtype
    n_features, m = values.shape
    cumulative = xp.cumulative_sum(weights, axis=1)
    total = cumulative[:, -1:]
    j = xp.reshape(xp.arange(slots + 1, dtype=dtype, device=device), (1, slots + 1))
    ends = _boundaries(xp, total, j, slots, integral)
    lengths = ends[:, 1:] - ends[:, :-1]
    middles = (ends[:, :-1] + ends[:, 1:]) * 0.5
    picked = row_searchsorted(cumulative, middles, side="left")
    picked = xp.clip(picked, 0, m - 1)
    new_values = xp.take_along_axis(values, picked, axis=1)

    # The error: the largest distance of a rank to its nearest interval end.
    safe = xp.where(total > 0, total, xp.ones_like(total))
    nearest = xp.floor(cumulative * (slots / safe))
    distance = None
    for offset in (-1.0, 0.0, 1.0, 2.0):
        k = xp.clip(nearest + offset, 0.0, float(slots))
        d = xp.abs(cumulative - _boundaries(xp, total, k, slots, integral))
        distance = d if distance is None else xp.minimum(distance, d)
    last = xp.ones((n_features, 1), dtype=xp.bool, device=device)
    run_end = xp.concat([values[:, :-1] != values[:, 1:], last], axis=1)
    zero = xp.zeros((), dtype=dtype, device=device)
    error = xp.max(xp.where(run_end, distance, zero), axis=1)
    if not integral:
        error = error + rounding_margin(xp, total[:, 0], m + slots, dtype)
    return new_values, lengths, error


def _lerp(xp, a, b, t):
    """NumPy's ``_lerp`` (the ``linear`` method of ``np.percentile``), the
    same operations in the same order: ``a + (b - a) t`` below ``t = 0.5``,
    ``b - (b - a) (1 - t)`` from there."""
    diff = b - a
    return xp.where(t >= 0.5, b - diff * (1.0 - t), a + diff * t)


def interpolated(
    values, weights, phis, *, n_observed=None, unit_weights=False, exact=False
):
    """Quantiles ``phis`` (in [0, 1]) of each row of a sorted block:
    ``(n_features, len(phis))``, NaN for a row without data.

    The weights count rows: the block stands for the data in which each
    value appears as often as its weight says (a weight of 3 is three
    rows, of 0.5 half a row), and the quantile is NumPy's ``linear``
    interpolation between its order statistics: position ``phi * (W - 1)``,
    0-based, of the data of ``W`` rows.  For integer weights that is exactly
    ``np.percentile`` of the repeated rows, and for unit weights that of
    the values themselves (scikit-learn's ``RobustScaler`` and
    ``QuantileTransformer``).  Weights whose mean is below 1 (weights that
    sum to 1, say) are first scaled to a mean of 1: a sample of
    probabilities counts one row per sample.

    ``n_observed``: the number of rows the weights stand for, per feature
    (default: the items of positive weight; a compacted summary passes the
    rows it has seen).  ``unit_weights``: every weight is 1 or 0 (an
    unweighted batch): the position is then the index itself, no search.
    """
    xp = namespace_of(values)
    device = array_device(values)
    dtype = values.dtype if weights is None else weights.dtype
    m = values.shape[1]
    phis = xp.reshape(xp.asarray(phis, dtype=dtype, device=device), (1, -1))
    one = xp.ones((), dtype=dtype, device=device)
    zero = xp.zeros((), dtype=dtype, device=device)
    if unit_weights:
        if weights is None:  # the observed counts say it all
            total = xp.reshape(xp.astype(n_observed, dtype), (-1, 1))
        else:
            total = xp.sum(weights, axis=1, keepdims=True)
        unit = one
    else:
        cumulative = xp.cumulative_sum(weights, axis=1)
        total = cumulative[:, -1:]
        if n_observed is None:
            n_observed = xp.sum(xp.astype(weights > 0, dtype), axis=1)
        n_observed = xp.reshape(xp.astype(n_observed, dtype), (-1, 1))
        mean = total / xp.where(n_observed > 0, n_observed, one)
        unit = xp.where((mean < 1) & (mean > 0), mean, one)
    last = xp.maximum(total / unit - 1, zero)
    position = phis * last
    below = xp.floor(position)
    fraction = position - below
    above = xp.minimum(below + 1, last)
    if unit_weights:
        i_below = xp.astype(below, xp.int64)
        i_above = xp.astype(above, xp.int64)
    else:
        # Position p (in rows) lies in the item whose cumulative rows first
        # exceed p.  Floating-point weights: a cumulative within rounding of
        # p (0.1 + 0.1 + 0.1 is 0.30000000000000004) ends at p.
        rows = cumulative / unit
        slack = rounding_margin(xp, total / unit, m, dtype) if not exact else zero
        i_below = row_searchsorted(rows, below + slack, side="right")
        i_above = row_searchsorted(rows, above + slack, side="right")
    i_below = xp.clip(i_below, 0, m - 1)
    i_above = xp.clip(i_above, 0, m - 1)
    # A row without data holds only empty slots: 0 stands in for them (no
    # inf - inf), and the result is NaN.
    seen = total > 0
    a = xp.where(seen, xp.take_along_axis(values, i_below, axis=1), zero)
    b = xp.where(seen, xp.take_along_axis(values, i_above, axis=1), zero)
    result = _lerp(xp, a, b, fraction)
    return xp.where(seen, result, xp.full_like(result, float("nan")))


def _search_right(xp, points, X):
    """Per column ``c``: ``searchsorted(points[:, c], X[:, c], side="right")``
    for ``points`` of shape ``(k, n_features)`` (each column sorted) and X of
    shape ``(n, n_features)``: a binary search on every entry at once, one
    gather per halving (no per-column loop, no transposed copy of X)."""
    device = array_device(X)
    k = points.shape[0]
    lo = xp.zeros(X.shape, dtype=xp.int64, device=device)
    hi = xp.full(X.shape, k, dtype=xp.int64, device=device)
    for _ in range(max(1, k.bit_length())):
        mid = (lo + hi) // 2
        probe = xp.take_along_axis(points, xp.clip(mid, 0, k - 1), axis=0)
        right = (probe <= X) & (mid < hi)
        lo = xp.where(right, mid + 1, lo)
        hi = xp.where(right, hi, mid)
    return lo


def interp_columns(X, xs, fs):
    """``np.interp(X[:, c], xs[:, c], fs[:, c])`` for every column ``c``, with
    NumPy's exact operations: ``xs`` of shape ``(k, n_features)``,
    non-decreasing per column, ``fs`` the same shape; below ``xs[0]`` the
    result is ``fs[0]``, from ``xs[-1]`` on ``fs[-1]``, at a point of ``xs``
    its ``fs`` (the last of a run of equal points), in between
    ``slope * (x - xs[j]) + fs[j]`` (and NumPy's fallbacks where that is
    NaN); NaN stays NaN."""
    xp = namespace_of(X)
    # A run of equal points gives 0 / 0 slopes, never used, and points far
    # apart an infinite one (np.interp's fallbacks then apply): NumPy's
    # floating-point warnings are silenced for those, as np.interp's C loop
    # raises none.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return _interp_columns(xp, X, xs, fs)


def _interp_columns(xp, X, xs, fs):
    k = xs.shape[0]
    j = _search_right(xp, xs, X) - 1  # the last point <= x, -1 below all
    inside = xp.clip(j, 0, k - 2) if k > 1 else xp.zeros_like(j)
    x0 = xp.take_along_axis(xs, inside, axis=0)
    f0 = xp.take_along_axis(fs, inside, axis=0)
    if k > 1:
        x1 = xp.take_along_axis(xs, inside + 1, axis=0)
        f1 = xp.take_along_axis(fs, inside + 1, axis=0)
        slope = (f1 - f0) / (x1 - x0)
        result = slope * (X - x0) + f0
        # NumPy: "if we get nan in one direction, try the other".
        other = slope * (X - x1) + f1
        result = xp.where(xp.isnan(result), other, result)
        result = xp.where(xp.isnan(result) & (f0 == f1), f0, result)
        result = xp.where(X == x0, f0, result)
    else:
        result = f0
    first = xp.take_along_axis(fs, xp.zeros_like(j[:1, :]), axis=0)
    last = xp.take_along_axis(fs, xp.full_like(j[:1, :], k - 1), axis=0)
    result = xp.where(j < 0, first, result)
    result = xp.where(j >= k - 1, last, result)
    return xp.where(xp.isnan(X), X, result)
