"""Per-chunk states merged by Dask's own tree reduction.

A fit is one graph: ``map_blocks`` computes each chunk's packed state with
sknorm's kernels (the fast NumPy and CuPy paths apply to each chunk), and
``dask.array.reduction`` merges the states in a tree with the estimator's
own merge.  The tree's shape depends only on the number of chunks and on
:data:`SPLIT_EVERY` (fixed here, not Dask's default, which differs between
Dask's two array backends), and every merge sees its inputs in block order,
so the bits of the result depend on the chunking alone: not on the
scheduler, the number of workers or the order tasks finish in.  Each chunk
runs the kernels on its own thread only (:func:`sknorm._kernels._parallel.
serial`): Dask already runs chunks in parallel, and a per-chunk split over
threads would make the bits depend on the worker's core count.

Every function a task runs is module-level and pure (a worker that dies is
replaced and its tasks rerun from the graph: nothing is scattered).
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from .._array_api import (
    accumulation_dtype,
    array_device,
    is_numpy_namespace,
    move_to_namespace,
    namespace_of,
    output_float_dtype,
)
from .._kernels import finds_infinity
from .._kernels._parallel import serial
from .._validation import raise_if_nonfinite
from .packing import Layout

__all__ = ["SPLIT_EVERY", "ChunkSpec", "batch_pieces", "tree_statistics"]

# States merged per tree node.  Fixed: the bits of a fit depend on the tree,
# and Dask's default differs between its legacy (4) and array-expr (16)
# backends.
SPLIT_EVERY = 8


@dataclasses.dataclass(frozen=True)
class ChunkSpec:
    """What every chunk task needs; small and picklable.

    estimator : an unfitted clone (its parameters: what the statistics need)
    layout : where the states sit in the packed array
    chunk_type : the array type of every chunk (``type(X._meta)``)
    allow_nan : whether NaN is accepted (and ignored)
    kernel_checks : whether the estimator leaves the value checks to its
        statistics kernels (``_finite_check == "kernel"``)
    prefix : ``"Estimator.method(): "`` for the errors raised in tasks
    weights : "none", "scalar" or "array"
    scalar_weight : the weight of every row when ``weights == "scalar"``
    """

    estimator: object
    layout: Layout
    chunk_type: type
    allow_nan: bool
    kernel_checks: bool
    prefix: str
    weights: str = "none"
    scalar_weight: float = 1.0


def checked_chunk(block, spec):
    """One chunk of X as the kernels take it: the expected array type, a
    float dtype, and values checked as the estimator checks its input."""
    if type(block) is not spec.chunk_type:
        raise TypeError(
            spec.prefix + f"X's chunks mix array types: expected "
            f"{spec.chunk_type.__module__}.{spec.chunk_type.__name__} chunks "
            f"(the type of X._meta), got {type(block).__module__}."
            f"{type(block).__name__}. Convert every chunk to one type, e.g. "
            "X.map_blocks(cupy.asarray)."
        )
    xp = namespace_of(block)
    device = array_device(block)
    if block.ndim != 2 or block.shape[1] != spec.layout.n_features:
        raise ValueError(
            spec.prefix + f"a chunk of X has shape {tuple(block.shape)}, but X "
            f"has {spec.layout.n_features} columns; the chunks do not match "
            "the array's metadata (check how the collection was built)."
        )
    dtype = output_float_dtype(xp, device, block.dtype)
    if block.dtype != dtype:
        block = xp.astype(block, dtype)
    kernel_checks = spec.kernel_checks and (
        is_numpy_namespace(xp) or (spec.allow_nan and finds_infinity(xp))
    )
    if block.shape[0] and not kernel_checks:
        # Otherwise the statistics kernels find the refused values in their
        # own pass (NumPy's: infinity, and NaN where it is refused).
        raise_if_nonfinite(xp, block, spec.prefix, spec.allow_nan)
    return block, xp, device


def checked_weights(weights, n_rows, spec, xp, device, dtype):
    """The chunk's weights: 1-D, ``dtype``, finite and non-negative."""
    if spec.weights == "none":
        return None
    if spec.weights == "scalar":
        w = xp.full((n_rows,), spec.scalar_weight, dtype=dtype, device=device)
    else:
        if weights.shape[0] != n_rows:
            raise ValueError(
                spec.prefix + f"a chunk of sample_weight has {weights.shape[0]} "
                f"rows where the matching chunk of X has {n_rows}; partition "
                "both the same way (take them from one dataframe)."
            )
        w = xp.astype(move_to_namespace(weights[:, 0], xp, device), dtype)
    if n_rows and not bool(xp.all(xp.isfinite(w) & (w >= 0))):  # one read
        raise ValueError(
            spec.prefix + "sample_weight must be finite and non-negative; drop "
            "the rows you want ignored or give them weight 0."
        )
    return w


def chunk_state(block, weights=None, *, spec):
    """The packed ``(1, k, n_features)`` state of one chunk."""
    X, xp, device = checked_chunk(block, spec)
    dtype = accumulation_dtype(xp, device)
    n_rows = X.shape[0]
    w = checked_weights(weights, n_rows, spec, xp, device, dtype)
    if n_rows == 0:
        states = spec.layout.empty(xp, dtype, device)
    else:
        with serial():
            states = spec.estimator._batch_statistics(X, xp, device, w)
    packed = spec.layout.pack(xp, states, n_rows, dtype, device)
    return xp.reshape(packed, (1, *packed.shape))


def _identity(x, axis=None, keepdims=None):
    return x


def merge_packed(stacked, axis=None, keepdims=None, *, spec):
    """Merge ``(m, k, f)`` packed states, in block order, into one."""
    if stacked.shape[0] <= 1:
        return stacked
    xp = namespace_of(stacked)
    layout = spec.layout
    states, n_rows = layout.unpack(stacked[0, ...])
    with serial():
        for i in range(1, stacked.shape[0]):
            more, n_more = layout.unpack(stacked[i, ...])
            states = spec.estimator._merge_statistics(states, more)
            n_rows = n_rows + n_more
    packed = layout.pack(xp, states, n_rows, stacked.dtype, array_device(stacked))
    return xp.reshape(packed, (1, *packed.shape))


def _map_to_states(fn, inputs, weights, chunks, meta, **kwargs):
    """``fn`` on the blocks of ``inputs`` (and of ``weights``, when given)
    to packed ``(pieces, k, f)`` states: a new axis for the packed rows."""
    import dask.array as da

    inputs = [*inputs] if weights is None else [*inputs, weights]
    return da.map_blocks(
        fn,
        *inputs,
        new_axis=[1],
        chunks=chunks,
        dtype=meta.dtype,
        meta=meta,
        **kwargs,
    )


def _state_meta(xp, device):
    return xp.empty((0, 0, 0), dtype=accumulation_dtype(xp, device), device=device)


def tree_statistics(inp, weights, spec):
    """The merged packed state of all of X, as a lazy ``(1, k, f)`` array."""
    import dask.array as da

    array = inp.array
    meta = _state_meta(inp.xp, inp.device)
    chunks = ((1,) * array.numblocks[0], (spec.layout.rows,), (array.shape[1],))
    states = _map_to_states(chunk_state, [array], weights, chunks, meta, spec=spec)
    merge = functools.partial(merge_packed, spec=spec)
    return da.reduction(
        states,
        chunk=_identity,
        combine=merge,
        aggregate=merge,
        axis=0,
        keepdims=True,
        concatenate=True,
        split_every=SPLIT_EVERY,
        dtype=meta.dtype,
        meta=meta,
        name="sknorm-merge",
    )


# ------------------------------------------------- MiniBatchNormalizer ----
def _row_count(block):
    return np.full((1, 1), block.shape[0], dtype=np.int64)


def _row_offsets(array):
    """Global index of each row chunk's first row, one ``(1, 1)`` block per
    chunk: constants when the chunk sizes are known, else a running sum of
    the chunks' lengths computed in the same graph (no separate pass)."""
    import dask.array as da

    rows = array.chunks[0]
    n_blocks = len(rows)
    if not any(np.isnan(rows)):
        starts = np.concatenate([[0], np.cumsum(rows)[:-1]]).astype(np.int64)
        return da.from_array(starts[:, None], chunks=1)
    lengths = array.map_blocks(
        _row_count,
        chunks=((1,) * n_blocks, (1,)),
        dtype=np.int64,
        meta=np.empty((0, 0), dtype=np.int64),
    )
    return da.cumsum(lengths, axis=0) - lengths


def chunk_pieces(block, offset, weights=None, *, spec, batch_size):
    """The chunk cut where the global mini-batches of ``batch_size`` rows
    end: one packed ``(k, f)`` moments state per piece, whose extra row is
    the index of the batch the piece belongs to."""
    X, xp, device = checked_chunk(block, spec)
    dtype = accumulation_dtype(xp, device)
    n_rows = X.shape[0]
    w = checked_weights(weights, n_rows, spec, xp, device, dtype)
    first = int(np.asarray(offset).reshape(-1)[0])
    pieces = []
    start = 0
    with serial():
        while start < n_rows:
            batch = (first + start) // batch_size
            stop = min(n_rows, (batch + 1) * batch_size - first)
            wp = None if w is None else w[start:stop]
            states = spec.estimator._batch_statistics(
                X[start:stop, ...], xp, device, wp
            )
            packed = spec.layout.pack(
                xp, states, stop - start, dtype, device, extra=(batch,)
            )
            pieces.append(xp.reshape(packed, (1, *packed.shape)))
            start = stop
    if not pieces:
        return xp.zeros((0, spec.layout.rows, spec.layout.n_features), dtype=dtype)
    return xp.concat(pieces, axis=0)


def _pieces_per_chunk(rows, batch_size):
    """How many pieces each chunk is cut into (NaN for unknown sizes)."""
    if any(np.isnan(rows)):
        return (np.nan,) * len(rows)
    counts, start = [], 0
    for n in rows:
        n = int(n)
        first, last = start // batch_size, (start + n - 1) // batch_size
        counts.append(last - first + 1 if n else 0)
        start += n
    return tuple(counts)


def batch_pieces(inp, weights, spec, batch_size):
    """Every piece of every mini-batch, as a lazy ``(n_pieces, k, f)``
    array in row order."""
    array = inp.array
    offsets = _row_offsets(array)
    meta = _state_meta(inp.xp, inp.device)
    chunks = (
        _pieces_per_chunk(array.chunks[0], batch_size),
        (spec.layout.rows,),
        (array.shape[1],),
    )
    return _map_to_states(
        chunk_pieces,
        [array, offsets],
        weights,
        chunks,
        meta,
        spec=spec,
        batch_size=int(batch_size),
    )
