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

N-D input with a channel axis is chunked along the samples and along the
other non-channel axes: every block of the grid is one chunk state (the
channel path's per-channel statistics of that block), and the first level
of the tree merges, in C order of the grid, the states of up to
:data:`SPLIT_EVERY` consecutive sample blocks times every block of the
other axes; the next levels merge :data:`SPLIT_EVERY` at a time.  So the
bits depend on the chunk grid alone; another chunking of the non-sample
axes changes the states and the tree, hence the rounding (the statistics
agree to float64 rounding), nothing else.

Every function a task runs is module-level and pure (a worker that dies is
replaced and its tasks rerun from the graph: nothing is scattered).
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np

from .._array_api import (
    accumulation_dtype,
    array_device,
    is_numpy_namespace,
    move_to_namespace,
    namespace_of,
    output_float_dtype,
)
from .._kernels import statistics_check_finiteness
from .._kernels._parallel import serial
from .._validation import raise_if_nonfinite
from .channels import check_chunk_finiteness, chunk_values
from .packing import StateLayout

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
    kernel_checks_finiteness : whether the estimator leaves the value checks to its
        statistics kernels (``_finiteness_check == "kernel"``)
    prefix : ``"Estimator.method(): "`` for the errors raised in tasks
    weights : "none", "scalar" or "array"
    scalar_weight : the weight of every row when ``weights == "scalar"``
    ndim : the number of dimensions of X (and of every chunk)
    channel_axis : X's channel axis (non-negative), None for 2-D input
    """

    estimator: object
    layout: StateLayout
    chunk_type: type
    allow_nan: bool
    kernel_checks_finiteness: bool
    prefix: str
    weights: str = "none"
    scalar_weight: float = 1.0
    ndim: int = 2
    channel_axis: int | None = None

    @property
    def block_axes(self):
        """The number of axes of the block grid (every axis but the one of
        the features or channels)."""
        return self.ndim - 1


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
    if spec.channel_axis is not None:
        return _checked_channel_chunk(block, spec)
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
    kernel_checks_finiteness = spec.kernel_checks_finiteness and (
        is_numpy_namespace(xp) or (spec.allow_nan and statistics_check_finiteness(xp))
    )
    if block.shape[0] and not kernel_checks_finiteness:
        # Otherwise the statistics kernels find the refused values in their
        # own pass (NumPy's: infinity, and NaN where it is refused).
        raise_if_nonfinite(xp, block, spec.prefix, spec.allow_nan)
    return block, xp, device


def _checked_channel_chunk(block, spec):
    """:func:`checked_chunk` of an N-D chunk: the channel path's conversion
    and finiteness check (NumPy's statistics kernels find infinity in their
    own pass)."""
    axis = spec.channel_axis
    if block.ndim != spec.ndim or block.shape[axis] != spec.layout.n_features:
        raise ValueError(
            spec.prefix + f"a chunk of X has shape {tuple(block.shape)}, but X "
            f"is {spec.ndim}D with {spec.layout.n_features} channels along "
            f"axis {axis}; the chunks do not match the array's metadata "
            "(check how the collection was built)."
        )
    block = chunk_values(spec.estimator, block, spec.prefix)
    if block.shape[0]:
        check_chunk_finiteness(
            spec.estimator,
            block,
            spec.prefix,
            spec.allow_nan,
            spec.kernel_checks_finiteness,
        )
    return block, namespace_of(block), array_device(block)


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
        # (n, 1) for 2-D X, (n, 1, ..., 1) for N-D: one weight per sample.
        column = weights.reshape(weights.shape[0])
        w = xp.astype(move_to_namespace(column, xp, device), dtype)
    if n_rows and not bool(xp.all(xp.isfinite(w) & (w >= 0))):  # one read
        raise ValueError(
            spec.prefix + "sample_weight must be finite and non-negative; drop "
            "the rows you want ignored or give them weight 0."
        )
    return w


def _one_block(xp, packed, spec):
    """A packed ``(k, f)`` state as one block of the states' grid,
    ``(1, ..., 1, k, f)`` with one 1 per block axis."""
    return xp.reshape(packed, (1,) * spec.block_axes + tuple(packed.shape))


def chunk_state(block, weights=None, *, spec):
    """The packed ``(1, ..., 1, k, n_features)`` state of one chunk (one 1
    per axis of the block grid)."""
    X, xp, device = checked_chunk(block, spec)
    dtype = accumulation_dtype(xp, device)
    n_rows = X.shape[0]
    w = checked_weights(weights, n_rows, spec, xp, device, dtype)
    if math.prod(X.shape) == 0:  # no rows (or, N-D, no positions): no data
        states = spec.layout.empty(xp, dtype, device)
    else:
        with serial():
            states = spec.estimator._batch_statistics(X, xp, device, w)
    packed = spec.layout.pack(xp, states, n_rows, dtype, device)
    return _one_block(xp, packed, spec)


def _identity(x, axis=None, keepdims=None):
    return x


def _packed_states(stacked):
    """The ``(k, f)`` packed states of a merge's input, in C order of the
    blocks: one concatenated ``(m, k, f)`` array (N-D input: ``(m0, m1,
    ..., k, f)``), or, for a variable layout (states of different lengths,
    which Dask does not concatenate), the nested lists of blocks Dask
    hands over instead."""
    if isinstance(stacked, list | tuple):
        flat = []
        for item in stacked:
            flat.extend(_packed_states(item))
        return flat
    xp = namespace_of(stacked)
    stacked = xp.reshape(stacked, (-1, *stacked.shape[-2:]))
    return [stacked[i, ...] for i in range(stacked.shape[0])]


def merge_packed(stacked, axis=None, keepdims=None, *, spec):
    """Merge packed states, in block order, into one (see
    :func:`_packed_states` for the input)."""
    blocks = _packed_states(stacked)
    if len(blocks) == 1 and not isinstance(stacked, list | tuple):
        return stacked
    xp = namespace_of(blocks[0])
    layout = spec.layout
    states, n_rows = layout.unpack(blocks[0])
    with serial():
        for block in blocks[1:]:
            more, n_more = layout.unpack(block)
            states = spec.estimator._merge_statistics(states, more)
            n_rows = n_rows + n_more
    packed = layout.pack(xp, states, n_rows, blocks[0].dtype, array_device(blocks[0]))
    return _one_block(xp, packed, spec)


def _aligned(extra, ndim):
    """A ``(n, 1)`` array of one value per sample (or per row chunk) with
    X's number of dimensions, ``(n, 1, ..., 1)``, so that its blocks pair
    with every block of X's rows (size-1 axes are broadcast)."""
    if getattr(extra, "ndim", ndim) == ndim:  # (a scalar weight: as it is)
        return extra
    return extra[(slice(None), slice(None)) + (None,) * (ndim - extra.ndim)]


def _map_to_states(fn, inp, extras, weights, chunks, meta, **kwargs):
    """``fn`` on the blocks of X (with the matching blocks of ``extras`` and
    of ``weights``, when given) to packed states, one block of the states'
    grid per block of X: the axis of the features or channels gives way to
    the two axes of a packed ``(k, f)`` state."""
    import dask.array as da

    ndim = inp.array.ndim
    inputs = [inp.array, *(_aligned(e, ndim) for e in extras)]
    if weights is not None:
        inputs.append(_aligned(weights, ndim))
    grid_axes = ndim - 1
    return da.map_blocks(
        fn,
        *inputs,
        drop_axis=[inp.axis],
        new_axis=[grid_axes, grid_axes + 1],
        chunks=chunks,
        dtype=meta.dtype,
        meta=meta,
        **kwargs,
    )


def _state_meta(xp, device, ndim):
    """An empty states array: one axis per block axis of X, then ``(k, f)``."""
    dtype = accumulation_dtype(xp, device)
    return xp.empty((0,) * (ndim + 1), dtype=dtype, device=device)


def _state_chunks(inp, spec, first=None):
    """Chunks of the states' grid: one state per block of X (``first``:
    the number of states of each row chunk, when not one)."""
    grid = inp.grid
    axes = [(1,) * n for n in grid]
    if first is not None:
        axes[0] = first
    # A variable layout's states differ in length (unknown until computed).
    rows = np.nan if spec.layout.variable else spec.layout.rows
    return (*axes, (rows,), (spec.layout.n_features,))


def tree_statistics(inp, weights, spec):
    """``(merged, states)``: the merged packed state of all of X, a lazy
    ``(1, ..., 1, k, f)`` array, and the per-chunk states it merges (the
    layer :mod:`.progress` reports chunk by chunk)."""
    import dask.array as da

    meta = _state_meta(inp.xp, inp.device, inp.array.ndim)
    chunks = _state_chunks(inp, spec)
    states = _map_to_states(chunk_state, inp, [], weights, chunks, meta, spec=spec)
    grid = inp.grid
    # Up to SPLIT_EVERY row blocks per merge, and every block of the other
    # axes (N-D input) in the first level: a tree fixed by the grid alone.
    split_every = {0: SPLIT_EVERY, **{a: n for a, n in enumerate(grid) if a}}
    merge = functools.partial(merge_packed, spec=spec)
    merged = da.reduction(
        states,
        chunk=_identity,
        combine=merge,
        aggregate=merge,
        axis=tuple(range(len(grid))),
        keepdims=True,
        # States of different lengths cannot be concatenated: the merge then
        # takes Dask's lists of blocks.
        concatenate=not spec.layout.variable,
        split_every=split_every,
        dtype=meta.dtype,
        meta=meta,
        name="sknorm-merge",
    )
    return merged, states


# ------------------------------------------------- MiniBatchNormalizer ----
def _row_count(block):
    return np.full((1,) * block.ndim, block.shape[0], dtype=np.int64)


def _row_offsets(array):
    """Global index of each row chunk's first row, one ``(1, ..., 1)`` block
    per chunk (X's number of dimensions): constants when the chunk sizes
    are known, else a running sum of the chunks' lengths computed in the
    same graph (no separate pass)."""
    import dask.array as da

    rows = array.chunks[0]
    n_blocks = len(rows)
    ones = (1,) * (array.ndim - 1)
    if not any(np.isnan(rows)):
        starts = np.concatenate([[0], np.cumsum(rows)[:-1]]).astype(np.int64)
        return da.from_array(starts.reshape(n_blocks, *ones), chunks=1)
    column = array
    if array.ndim > 2:  # the lengths from one block of every other axis
        column = array[(slice(None),) + (slice(0, 1),) * (array.ndim - 1)]
    lengths = column.map_blocks(
        _row_count,
        chunks=((1,) * n_blocks, *((1,),) * (array.ndim - 1)),
        dtype=np.int64,
        meta=np.empty((0,) * array.ndim, dtype=np.int64),
    )
    return da.cumsum(lengths, axis=0) - lengths


def chunk_pieces(block, offset, weights=None, *, spec, batch_size):
    """The chunk cut where the global mini-batches of ``batch_size`` rows
    end: one packed ``(k, f)`` moments state per piece, whose extra row is
    the index of the batch the piece belongs to; ``(pieces, 1, ..., 1, k,
    f)`` (one 1 per block axis of N-D X but the samples')."""
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
            if math.prod(X.shape) == 0:  # N-D: a block without positions
                states = spec.layout.empty(xp, dtype, device)
            else:
                states = spec.estimator._batch_statistics(
                    X[start:stop, ...], xp, device, wp
                )
            packed = spec.layout.pack(
                xp, states, stop - start, dtype, device, extra=(batch,)
            )
            pieces.append(_one_block(xp, packed, spec))
            start = stop
    if not pieces:
        shape = (0,) + (1,) * (spec.block_axes - 1)
        return xp.zeros((*shape, spec.layout.rows, spec.layout.n_features), dtype=dtype)
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
    array in row order (N-D X: ``(n_pieces, g1, ..., k, f)``, the pieces of
    one sample range for each block ``g1, ...`` of the other axes)."""
    array = inp.array
    offsets = _row_offsets(array)
    meta = _state_meta(inp.xp, inp.device, array.ndim)
    first = _pieces_per_chunk(array.chunks[0], batch_size)
    return _map_to_states(
        chunk_pieces,
        inp,
        [offsets],
        weights,
        _state_chunks(inp, spec, first),
        meta,
        spec=spec,
        batch_size=int(batch_size),
    )
