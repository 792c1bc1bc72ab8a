"""Ranks in the full data: the reference of the quantile tests.

The rank of a value ``q`` in the data ``x`` (weights ``w``, 1 without) is
the interval ``[#(x < q), #(x <= q)] / W``, ``#`` counting weight and ``W``
the total weight, NaN entries and rows of weight 0 left out (issue 19).  An
estimate of the ``phi`` quantile is certified to ``e`` when ``phi`` lies
within ``e`` of that interval, plus the slack of NumPy's ``linear``
interpolation itself (:func:`interpolation_slack`).  Everything here is
plain NumPy on the whole data: sorts and searches, nothing of sknorm.
"""

import numpy as np

__all__ = ["certified_interval", "interpolation_slack", "observed", "rank_deviation"]


def observed(X, sample_weight=None):
    """Per feature: ``(values, weights)`` of the entries that carry data
    (not NaN, weight > 0), sorted by value."""
    w_all = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight)
    out = []
    for j in range(X.shape[1]):
        keep = ~np.isnan(X[:, j]) & (w_all > 0)
        values, weights = X[keep, j].astype(np.float64), w_all[keep].astype(float)
        order = np.argsort(values, kind="stable")
        out.append((values[order], weights[order]))
    return out


def rank_deviation(X, quantiles, phis, sample_weight=None):
    """``(n_features,)``: per feature, the largest distance of a target
    ``phis[k]`` to the rank interval of ``quantiles[j, k]`` in the data.

    ``quantiles``: ``(n_features, len(phis))``.  A feature without data
    must have NaN quantiles; its deviation is 0.
    """
    phis = np.asarray(phis, dtype=float)
    out = np.zeros(X.shape[1])
    for j, (values, weights) in enumerate(observed(X, sample_weight)):
        q = np.asarray(quantiles[j], dtype=float)
        if values.size == 0:
            assert np.all(np.isnan(q)), f"feature {j} has no data: {q}"
            continue
        assert not np.any(np.isnan(q)), f"feature {j}: NaN quantile {q}"
        cumulative = np.concatenate([[0.0], np.cumsum(weights)])
        total = cumulative[-1]
        below = cumulative[np.searchsorted(values, q, side="left")] / total
        at_most = cumulative[np.searchsorted(values, q, side="right")] / total
        distance = np.maximum(below - phis, phis - at_most)
        out[j] = max(0.0, float(distance.max()))
    return out


def interpolation_slack(X, sample_weight=None, *, fractional=False):
    """``(n_features,)``: the rank slack that NumPy's ``linear``
    interpolation between order statistics allows, as a fraction of ``W``.

    The quantile at position ``p = phi (n - 1)`` lies between the order
    statistics ``floor(p)`` and ``floor(p) + 1``; a value strictly between
    two data values has the rank of the lower one, so the rank of an
    interpolated value is within one row of ``phi n``.  Weights count rows
    (weights averaging below 1 are first scaled to a mean of 1, so a row is
    ``unit = min(1, W / n)`` weight units).  With integer weights every
    cumulative weight is a whole row and the slack is one row.  With
    fractional weights the item holding ``floor(p)`` may end anywhere in
    ``(floor(p), floor(p) + 1]`` rows: a value interpolated just below the
    next item then has a rank of just over ``floor(p)`` rows, while ``phi
    n = p + phi`` approaches ``floor(p) + 2`` -- a slack of two rows.
    """
    out = np.zeros(X.shape[1])
    for j, (_, weights) in enumerate(observed(X, sample_weight)):
        if weights.size == 0:
            continue
        total = weights.sum()
        unit = min(1.0, total / weights.size)
        out[j] = (2.0 if fractional else 1.0) * unit / total
    return out


def certified_interval(values, weights, phi, tolerance):
    """``(lo, hi)``: the closure of the values whose rank interval in the
    sorted data ``values`` (weights ``weights``) lies within ``tolerance``
    of ``phi`` (ranks grow with the value: those values form an interval).

    A data value ``u`` has the rank ``[#(x < u), #(x <= u)] / W``; a value
    strictly between two neighbouring data values has the rank of the lower
    one, below all of them 0 and above all of them 1.
    """
    unique, start = np.unique(values, return_index=True)
    cumulative = np.concatenate([[0.0], np.cumsum(weights)])
    total = cumulative[-1]
    below = cumulative[start] / total
    at_most = np.concatenate([cumulative[start[1:]], [total]]) / total
    point = np.maximum(below - phi, phi - at_most) <= tolerance
    # Gaps: (-inf, u_0), (u_0, u_1), ..., (u_last, inf), of ranks 0, at_most.
    gap = np.abs(np.concatenate([[0.0], at_most]) - phi) <= tolerance
    ends = np.concatenate([[-np.inf], unique, [np.inf]])
    lows = np.concatenate([unique[point], ends[:-1][gap]])
    highs = np.concatenate([unique[point], ends[1:][gap]])
    assert lows.size, f"no value is within {tolerance} of rank {phi}"
    return float(lows.min()), float(highs.max())
