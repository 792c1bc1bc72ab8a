"""A mergeable quantile summary with a certified rank error.

No finite state gives the exact quantiles of a stream; this one gives, for
every feature, estimates whose rank in all the data seen is within a
counted error ``E`` of the target, for any order of the rows, any split
into batches and any tree of merges.  It is deterministic (no random
compaction): the same batches give the same bits.

The state
---------
Blocks of ``(value, weight)`` items, one row per feature, each row sorted
(see :mod:`sknorm._kernels.quantiles`).  A block has a *level*: 0 for the
exact items of batches, ``h >= 1`` for a block compacted ``h`` times (it
summarises about ``slots * 2**h`` rows).  ``E`` is counted exactly: every
compaction adds the largest rank error it causes, computed from the items
themselves.

The schedule (merge and reduce)
-------------------------------
Exact items accumulate until there are more than ``2 * slots`` of them; they
are then compacted into one block of ``slots`` items.  Two blocks of one
level are merged and compacted into one block of the next level.  A
compaction of input weight ``W_in`` into ``slots`` items costs a rank error
of at most ``W_in / (2 slots)``; each unit of weight passes each level at
most once, in any merge tree, so ``E / W <= (levels + 1) / (2 slots)``.  The
number of slots grows with the height, ``slots = ceil((height + 2) /
(2 rank_error))``, which keeps ``E / W`` below ``rank_error`` as the data
grows: memory is ``O((1 / rank_error) log^2(rank_error n))`` values per
feature (Manku, Rajagopalan & Lindsay 1998; Greenwald & Khanna's summary
is smaller but not fully mergeable, KLL's is randomized).

All schedule decisions use host integers (block sizes and levels): a
summary on a GPU is built and merged without reading anything back.  The
slots growing with the height keep ``E / W`` within ``rank_error`` for
unweighted data observed evenly, but not for every input: the weight
that passes low levels early, while the slots are still few, carries their
larger error, and a feature observed only in the first part of a stream
(or weighted there most) can end above the budget -- measured: 1.12 x
``rank_error`` for a feature observed in the first quarter of the rows.
So on the CPU (NumPy, torch's CPU tensors), where reading is free, every
compaction is checked: one that would take ``E`` past ``rank_error * W``
is redone with twice the slots, or skipped, so the bound holds for every
input and memory grows instead.  On a device the check would be a read
per compaction; there ``rank_error_`` reports the ``E / W`` reached, which
can exceed ``rank_error`` for such features.  ``rank_error_`` always
reports the ``E / W`` a fit holds, whichever way it was built.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from ._array_api import array_device, namespace_of, reads_are_free
from ._kernels import quantile_kernels_for
from ._naming import state_type

__all__ = [
    "QuantileSummary",
    "merge_summaries",
    "slots_for",
    "summary_of_batch",
    "summary_of_block",
    "summary_quantiles",
    "summary_rank_error",
    "update_summary",
]


def slots_for(rank_error, height):
    """Items per compacted block that keep ``E / W`` within ``rank_error``
    for a summary of ``height`` levels."""
    return max(16, math.ceil((height + 2) / (2.0 * rank_error)))


@state_type
class QuantileSummary(NamedTuple):
    """Per-feature mergeable quantile summary (see the module docstring).

    values : tuple of ``(n_features, m)`` arrays, one per block, each row
        sorted; ``+inf`` marks an empty slot
    weights : tuple of the blocks' item weights (0 for empty slots)
    levels : tuple of the blocks' levels (host ints)
    total : (n_features,) total weight seen
    n_observed : (n_features,) entries seen (not NaN, of positive weight)
    error : (n_features,) the certified rank error, in weight units
    integral : whether every weight is an integer (exact arithmetic)

    Blocks are kept apart: a merge hands them on without copying, and only
    the blocks a compaction reads are touched.
    """

    values: tuple
    weights: tuple
    levels: tuple
    total: object
    n_observed: object
    error: object
    integral: bool

    @classmethod
    def empty(cls, xp, n_features, dtype, device):
        """The summary of no rows (the neutral element of the merge)."""
        zeros = xp.zeros((n_features,), dtype=dtype, device=device)
        return cls((), (), (), zeros, zeros, zeros, True)

    @property
    def height(self):
        """The highest level (1 for a summary of exact items only)."""
        return max([1, *self.levels])

    # Packed for Dask's tree reduction (sknorm._dask.packing): rows of
    # n_features values in the accumulation dtype, exactly.
    def to_rows(self, xp, dtype):
        """``(k, n_features)``: a header (the header's length, the number of
        blocks, ``integral``, each block's level and size), ``total``,
        ``n_observed``, ``error``, then each block's values and weights, one
        row per item."""
        n_features = self.total.shape[0]
        device = array_device(self.total)
        header = [float(len(self.levels)), float(self.integral)]
        for level, block in zip(self.levels, self.values, strict=True):
            header += [float(level), float(block.shape[1])]
        n_header = -(-len(header) // n_features)
        header += [0.0] * (n_header * n_features - len(header))
        head = xp.asarray(header, dtype=dtype, device=device)
        parts = [
            xp.full((1, n_features), float(n_header), dtype=dtype, device=device),
            xp.reshape(head, (n_header, n_features)),
            xp.reshape(xp.astype(self.total, dtype), (1, n_features)),
            xp.reshape(xp.astype(self.n_observed, dtype), (1, n_features)),
            xp.reshape(xp.astype(self.error, dtype), (1, n_features)),
        ]
        for values, weights in zip(self.values, self.weights, strict=True):
            parts.append(xp.permute_dims(xp.astype(values, dtype), (1, 0)))
            parts.append(xp.permute_dims(xp.astype(weights, dtype), (1, 0)))
        return xp.concat(parts, axis=0)

    @classmethod
    def from_rows(cls, rows):
        """The summary :meth:`to_rows` packed (reads the header on the
        host)."""
        xp = namespace_of(rows)
        n_header = int(_host_float(rows[0, 0]))
        header = rows[1 : 1 + n_header, :]
        header = _host_list(xp, xp.reshape(header, (-1,)))
        n_blocks, integral = int(header[0]), bool(header[1])
        shape = [
            (int(header[2 + 2 * b]), int(header[3 + 2 * b])) for b in range(n_blocks)
        ]
        row = 1 + n_header
        total, n_observed, error = (rows[row + i, :] for i in range(3))
        row += 3
        values, weights = [], []
        for _, size in shape:
            values.append(_row_major(xp, rows[row : row + size, :]))
            weights.append(_row_major(xp, rows[row + size : row + 2 * size, :]))
            row += 2 * size
        return cls(
            tuple(values),
            tuple(weights),
            tuple(level for level, _ in shape),
            total,
            n_observed,
            error,
            integral,
        )

    @property
    def n_items(self):
        """Items held per feature."""
        return sum(v.shape[1] for v in self.values)


def _host_float(value):
    if hasattr(value, "get"):  # CuPy
        value = value.get()
    return float(value)


def _host_list(xp, vector):
    if hasattr(vector, "get"):  # CuPy
        vector = vector.get()
    return [
        float(v) for v in (vector.tolist() if hasattr(vector, "tolist") else vector)
    ]


def _row_major(xp, items):
    """``(n_features, m)`` C-ordered rows from ``(m, n_features)`` items."""
    m, n_features = items.shape
    return xp.reshape(xp.permute_dims(items, (1, 0)), (n_features, m))


def _weighted_count(xp, weights):
    """Total weight and number of observed items, per feature."""
    observed = xp.count_nonzero(weights > 0, axis=1)
    return xp.sum(weights, axis=1), xp.astype(observed, weights.dtype)


def summary_of_block(values, weights, rank_error, integral, n_observed=None):
    """The summary of one batch given as its sorted block
    (:func:`~sknorm._kernels.quantiles.batch_block`).

    ``n_observed``: the entries each feature observed, where an item stands
    for several (a sparse column's implicit zeros); default: the items of
    positive weight.

    On the CPU the block is first cut to the longest row's observed items:
    its empty slots (NaN, rows of weight 0) then never reach the schedule,
    so rows of weight 0 change nothing at all.  (On a device that length
    would be a read; there they may change when compactions happen, never
    a value or a rank.)"""
    xp = namespace_of(values)
    total, observed = _weighted_count(xp, weights)
    if reads_are_free(xp, total) and values.shape[1]:
        longest = int(xp.max(xp.count_nonzero(weights > 0, axis=1)))
        values, weights = values[:, :longest], weights[:, :longest]
    n_observed = observed if n_observed is None else n_observed
    zeros = xp.zeros_like(total)
    summary = QuantileSummary(
        (values,), (weights,), (0,), total, n_observed, zeros, integral
    )
    return _settled(summary, rank_error)


def summary_of_batch(X, sample_weight, dtype, rank_error, integral, phis=None):
    """``(summary, exact)``: the summary of one dense batch ``X`` and, with
    ``phis``, the batch's own quantiles ``(n_features, len(phis))`` (exact:
    the batch is sorted whole first), else None.

    ``phis`` is a function of the batch's summary giving the levels (those
    of weighted data depend on its total weight); an unweighted batch calls
    it with None, before its summary exists."""
    xp = namespace_of(X)
    kernels = quantile_kernels_for(xp)
    fused = getattr(kernels, "unit_batch", None)
    if sample_weight is None and fused is not None:
        slots = slots_for(rank_error, 1)
        result = fused(X, slots, None if phis is None else phis(None))
        if result is not None:
            values, weights, error, counts, exact = result
            if error is None:  # small enough to be kept whole
                summary = summary_of_block(values, weights, rank_error, integral)
                return summary, exact
            # What summary_of_block and _settled make of the block, without
            # the block: one compaction of the longest row's observed items
            # (a first batch's compaction is always within the budget:
            # E / W <= 1 / slots).
            longest = int(xp.max(counts))
            level = max(1, round(math.log2(longest / slots)))
            total = xp.astype(counts, dtype)
            summary = QuantileSummary(
                (values,), (weights,), (level,), total, total, error, integral
            )
            return summary, exact
    values, weights = kernels.batch_block(X, sample_weight, dtype)
    summary = summary_of_block(values, weights, rank_error, integral)
    exact = None
    if phis is not None:
        exact = kernels.interpolated(
            values, weights, phis(summary), unit_weights=sample_weight is None
        )
    return summary, exact


def update_summary(state, X, sample_weight, dtype, rank_error, integral):
    """``merge_summaries(state, summary of X)``."""
    batch, _ = summary_of_batch(X, sample_weight, dtype, rank_error, integral)
    return batch if state is None else merge_summaries(state, batch, rank_error)


def merge_summaries(a, b, rank_error):
    """The summary of the union of the rows of ``a`` and ``b``.

    Ranks of disjoint data add, and so do the errors; the blocks of both
    sides are then settled as one summary (exact items compacted, blocks of
    one level merged), ``a``'s items first wherever values tie.
    """
    if a is None:
        return b
    if b is None:
        return a
    merged = QuantileSummary(
        a.values + b.values,
        a.weights + b.weights,
        a.levels + b.levels,
        a.total + b.total,
        a.n_observed + b.n_observed,
        a.error + b.error,
        a.integral and b.integral,
    )
    return _settled(merged, rank_error)


class _Blocks:
    """The blocks of a summary being settled: host bookkeeping, the blocks'
    arrays untouched until a compaction reads them."""

    def __init__(self, summary, rank_error):
        self.xp = namespace_of(summary.total)
        self.kernels = quantile_kernels_for(self.xp)
        self.rank_error = rank_error
        self.integral = summary.integral
        self.total = summary.total
        self.error = summary.error
        # On the CPU every compaction is checked against the budget; on a
        # device that would read the error back (a synchronisation).
        self.checked = reads_are_free(self.xp, summary.total)
        self.items = [
            [level, v, w]
            for level, v, w in zip(
                summary.levels, summary.values, summary.weights, strict=True
            )
        ]

    @property
    def height(self):
        return max([1, *(level for level, _, _ in self.items)])

    def take(self, selected):
        """Remove the blocks ``selected`` (indices); return them merged into
        one sorted block (stable: the earlier block first where values
        tie)."""
        chosen = [self.items[i] for i in selected]
        self.items = [b for i, b in enumerate(self.items) if i not in selected]
        if len(chosen) == 1:
            return chosen[0][1], chosen[0][2]
        return self.kernels.merged_blocks([(b[1], b[2]) for b in chosen])

    def compacted(self, values, weights, slots):
        """``values, weights`` compacted to ``slots`` items, the error added
        to the count; on the CPU within the budget (more slots, or none
        dropped, where ``slots`` would exceed it)."""
        xp = self.xp
        while slots < values.shape[1]:
            new_values, new_weights, cost = self.kernels.compact(
                values, weights, slots, self.integral
            )
            error = self.error + cost
            if not self.checked or bool(xp.all(error <= self.rank_error * self.total)):
                self.error = error
                return new_values, new_weights
            slots *= 2
        return values, weights  # kept exactly: no error

    def settle(self):
        raw = [i for i, (level, _, _) in enumerate(self.items) if level == 0]
        raw_items = sum(self.items[i][1].shape[1] for i in raw)
        slots = slots_for(self.rank_error, self.height)
        if raw_items > 2 * slots:
            level = max(1, round(math.log2(raw_items / slots)))
            values, weights = self.take(raw)
            values, weights = self.compacted(values, weights, slots)
            self.items.append([level, values, weights])
        while True:
            levels = [level for level, _, _ in self.items if level > 0]
            repeated = sorted({h for h in levels if levels.count(h) > 1})
            if not repeated:
                break
            h = repeated[0]
            pair = [i for i, (level, _, _) in enumerate(self.items) if level == h][:2]
            values, weights = self.take(pair)
            slots = slots_for(self.rank_error, max(self.height, h + 1))
            values, weights = self.compacted(values, weights, slots)
            self.items.append([h + 1, values, weights])

    def summary(self, n_observed):
        # Highest level first (a canonical order: the same blocks give the
        # same state whichever merge produced them).
        ordered = sorted(self.items, key=lambda b: -b[0])
        return QuantileSummary(
            tuple(b[1] for b in ordered),
            tuple(b[2] for b in ordered),
            tuple(b[0] for b in ordered),
            self.total,
            n_observed,
            self.error,
            self.integral,
        )


def _settled(summary, rank_error):
    blocks = _Blocks(summary, rank_error)
    blocks.settle()
    return blocks.summary(summary.n_observed)


def summary_quantiles(summary, phis):
    """The quantiles ``phis`` of every feature: ``(n_features, len(phis))``
    (NaN for a feature without data)."""
    xp = namespace_of(summary.total)
    kernels = quantile_kernels_for(xp)
    if not summary.values:
        shape = (summary.total.shape[0], len(phis))
        return xp.full(
            shape,
            float("nan"),
            dtype=summary.total.dtype,
            device=array_device(summary.total),
        )
    values, weights = kernels.merged_blocks(
        list(zip(summary.values, summary.weights, strict=True))
    )
    return kernels.interpolated(values, weights, phis, n_observed=summary.n_observed)


def summary_rank_error(summary):
    """``max_features E / W`` (a host float; 0 without data).

    For floating-point weights the rounding of the query's cumulative
    weights is added to ``E``."""
    xp = namespace_of(summary.total)
    error = summary.error
    if not summary.integral:
        eps = float(xp.finfo(summary.total.dtype).eps)
        error = error + summary.total * ((summary.n_items + 8) * eps)
    seen = summary.total > 0
    safe = xp.where(seen, summary.total, xp.ones_like(summary.total))
    ratio = xp.where(seen, error / safe, xp.zeros_like(error))
    return float(xp.max(ratio)) if ratio.shape[0] else 0.0
