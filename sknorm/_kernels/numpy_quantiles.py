"""The quantile kernels for NumPy: the compiled loops of
:mod:`.numba_quantiles` run over the features on the kernels' worker
threads, each feature's row on one thread (the bits do not depend on the
split).  Without numba (or with ``SKNORM_NUMBA=0``) these are
:mod:`.quantiles`' Array API functions, with NumPy's own sort where no
weights need to follow the values.
"""

from __future__ import annotations

import numpy as np

from . import numba_cpu, quantiles
from ._parallel import map_parts
from .numpy_common import workspace

__all__ = [
    "batch_block",
    "compact",
    "interp_columns",
    "interpolated",
    "merged_blocks",
    "quantile_map",
    "row_searchsorted",
    "sorted_block",
    "unit_batch",
]

interpolated = quantiles.interpolated
interp_columns = quantiles.interp_columns
_NONE = np.empty(0)
_NONE2 = np.empty((0, 0))


def row_searchsorted(sorted_rows, targets, side):
    """NumPy's searchsorted row by row (each row a contiguous sequence)."""
    out = np.empty(targets.shape, dtype=np.int64)
    for i in range(sorted_rows.shape[0]):
        out[i] = np.searchsorted(sorted_rows[i], targets[i], side=side)
    return out


def _compiled():
    if not numba_cpu.enabled():
        return None
    from . import numba_quantiles

    return numba_quantiles


def _over_rows(fn, values):
    """``fn(lo, hi)`` over row ranges of ``values`` on the worker threads."""
    n_rows, m = values.shape
    return map_parts(fn, n_rows, n_rows * m, 1)


def _sort_rows(loops, values, weights, counts=None):
    """Sort every row of ``values`` in place, ``weights`` along (None: no
    weights); with ``counts`` (unweighted rows) ``weights`` is written
    instead: 1 for the row's ``counts[i]`` observed entries, then 0."""

    def part(lo, hi):
        m = values.shape[1]
        keys = workspace("radix-keys", (m,), np.uint64)
        carried = workspace("radix-weights", (m,), np.float64)
        for i in range(lo, hi):
            if weights is None:
                loops.radix_sort(values[i], _NONE, keys, carried)
            elif counts is None:
                loops.radix_sort(values[i], weights[i], keys, carried)
            else:
                loops.radix_sort(values[i], _NONE, keys, carried)
                loops.unit_weights(weights[i], counts[i])

    _over_rows(part, values)


def batch_block(X, weights, dtype):
    """:func:`.quantiles.batch_block` for a NumPy batch."""
    loops = _compiled()
    if loops is None or dtype != np.float64 or X.dtype not in (np.float32, np.float64):
        return quantiles.batch_block(X, weights, dtype)
    n, n_features = X.shape
    X = np.ascontiguousarray(X)
    values = np.empty((n_features, n), dtype=np.float64)
    out_weights = np.empty((n_features, n), dtype=np.float64)
    row_weights = _NONE if weights is None else np.asarray(weights, np.float64)

    def part(lo, hi):
        counts = np.zeros(n_features, dtype=np.int64)
        loops.prepare_rows(
            X, lo, hi, row_weights, quantiles.EMPTY, values, out_weights, counts
        )
        return counts

    counts = sum(map_parts(part, n, n * n_features, 4096))
    _sort_rows(loops, values, out_weights, counts if weights is None else None)
    return values, out_weights


def unit_batch(X, slots, phis=None):
    """An unweighted dense batch, sorted and, where the summary compacts it
    at once, compacted, without storing its unit weights (an ``(f, n)``
    array of ones is as large as X, and the pages of a fresh one cost more
    than sorting them here): ``(values, weights, error, counts, exact)``.

    ``counts`` are the observed entries per feature; ``exact`` the quantiles
    ``phis`` of the batch (None without ``phis``).  When the longest row
    holds more than ``2 * slots`` observed entries, ``values`` and
    ``weights`` are the ``slots`` items of the compaction and ``error`` its
    cost (:func:`.quantiles.compact`'s, bit for bit); otherwise they are the
    sorted block cut to the longest row, with its weights, and ``error`` is
    None.  None without numba (the caller builds the block)."""
    loops = _compiled()
    if loops is None or X.dtype not in (np.float32, np.float64):
        return None
    n, n_features = X.shape
    X = np.ascontiguousarray(X)
    values = np.empty((n_features, n), dtype=np.float64)

    def prepare(lo, hi):
        counts = np.zeros(n_features, dtype=np.int64)
        loops.prepare_rows(X, lo, hi, _NONE, quantiles.EMPTY, values, _NONE2, counts)
        return counts

    counts = sum(map_parts(prepare, n, n * n_features, 4096))
    longest = int(counts.max(initial=0))
    _sort_rows(loops, values, None)
    exact = None
    if phis is not None:
        exact = quantiles.interpolated(
            values, None, phis, n_observed=counts.astype(np.float64), unit_weights=True
        )
    if longest <= 2 * slots:
        values = values[:, :longest]
        weights = (np.arange(longest)[None, :] < counts[:, None]).astype(np.float64)
        return values, weights, None, counts, exact
    out_values = np.empty((n_features, slots), dtype=np.float64)
    out_weights = np.empty((n_features, slots), dtype=np.float64)
    error = np.zeros(n_features, dtype=np.float64)

    def compact_rows(lo, hi):
        for i in range(lo, hi):
            error[i] = loops.compact_row(
                values[i, :longest],
                _NONE,
                counts[i],
                slots,
                True,
                out_values[i],
                out_weights[i],
            )

    _over_rows(compact_rows, values)
    return out_values, out_weights, error, counts, exact


def sorted_block(values, weights):
    """:func:`.quantiles.sorted_block`: a stable sort of every row."""
    loops = _compiled()
    if loops is None or values.dtype != np.float64:
        return quantiles.sorted_block(values, weights)
    values = values.copy()
    weights = np.array(weights, dtype=np.float64, copy=True)
    _sort_rows(loops, values, weights)
    return values, weights


def merged_blocks(blocks):
    """:func:`.quantiles.merged_blocks`, compiled: pairwise linear merges
    (each pass reads the rows once, where a sort would take eight)."""
    loops = _compiled()
    if loops is None or any(v.dtype != np.float64 for v, _ in blocks):
        return quantiles.merged_blocks(blocks)
    values, weights = blocks[0]
    for more_values, more_weights in blocks[1:]:
        values, weights = _merged_pair(
            loops, values, weights, more_values, more_weights
        )
    return values, weights


def _merged_pair(loops, a_values, a_weights, b_values, b_weights):
    n_rows = a_values.shape[0]
    m = a_values.shape[1] + b_values.shape[1]
    out_values = np.empty((n_rows, m), dtype=np.float64)
    out_weights = np.empty((n_rows, m), dtype=np.float64)

    def part(lo, hi):
        for i in range(lo, hi):
            loops.merge_rows(
                a_values[i],
                a_weights[i],
                b_values[i],
                b_weights[i],
                out_values[i],
                out_weights[i],
            )

    map_parts(part, n_rows, n_rows * m, 1)
    return out_values, out_weights


def compact(values, weights, slots, integral):
    """:func:`.quantiles.compact` of every row, compiled."""
    loops = _compiled()
    if loops is None or values.dtype != np.float64:
        return quantiles.compact(values, weights, slots, integral)
    n_rows = values.shape[0]
    out_values = np.empty((n_rows, slots), dtype=np.float64)
    out_weights = np.empty((n_rows, slots), dtype=np.float64)
    error = np.zeros(n_rows, dtype=np.float64)
    weights = np.ascontiguousarray(weights, dtype=np.float64)

    def part(lo, hi):
        for i in range(lo, hi):
            error[i] = loops.compact_row(
                values[i], weights[i], 0, slots, integral, out_values[i], out_weights[i]
            )

    _over_rows(part, values)
    return out_values, out_weights, error


def quantile_map(X, quantiles_, references, output_distribution, inverse):
    """The interpolation step of the ``Quantile`` map, compiled: ``(n,
    n_features)`` float64 in C order (see :mod:`sknorm._robust.quantile_map`),
    or None without numba (the caller then uses :func:`interp_columns`)."""
    loops = _compiled()
    if loops is None:
        return None
    X = np.ascontiguousarray(X, dtype=np.float64)
    n, n_features = X.shape
    Q = np.ascontiguousarray(quantiles_.T, dtype=np.float64)  # (f, k)
    R = np.broadcast_to(np.asarray(references, dtype=np.float64), Q.shape)
    R = np.ascontiguousarray(R)
    threshold = 1e-7 if output_distribution == "normal" else 0.0
    if inverse:
        xs, fs, xs_back, fs_back = R, Q, _NONE2, _NONE2
        ends = np.tile(np.array([0.0, 1.0]), (n_features, 1))
    else:
        xs, fs = Q, R
        xs_back = np.ascontiguousarray(-xs[:, ::-1])
        fs_back = np.ascontiguousarray(-fs[:, ::-1])
        ends = np.ascontiguousarray(np.stack([xs[:, 0], xs[:, -1]], axis=1))
    out = np.empty((n, n_features), dtype=np.float64)

    def part(lo, hi):
        loops.quantile_map_rows(
            X, lo, hi, xs, fs, xs_back, fs_back, ends, threshold, out
        )

    map_parts(part, n, n * n_features, 4096)
    return out
