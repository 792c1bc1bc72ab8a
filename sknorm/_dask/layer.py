"""Fits and transforms of Dask collections, called by the estimators' base.

* ``update`` (``fit``/``partial_fit``): one graph execution computes every
  statistic the estimator needs (:mod:`.reduce`); the fitted attributes are
  concrete arrays in the chunks' namespace (NumPy, or CuPy on the device),
  never Dask arrays; statistics accumulate in float64 whatever the chunk
  dtype.  The result is merged into the running state exactly as a NumPy
  batch would be, so streams may mix Dask and NumPy batches.
* ``row_batch_statistics`` (with ``validated_input``, ``n_row_batches``,
  ``n_chunk_tasks``, ``lazy_affine``): the building blocks of a fit that
  takes one step per mini-batch of ``rows`` rows, taken in row order
  across chunk boundaries (the pieces' states come from one graph
  execution).  MiniBatchNormalizer's Dask route
  (:mod:`sknorm._minibatch.dask_steps`) takes its steps from them.
* ``lazy_transform``: ``transform``, ``inverse_transform`` (and
  ``normalize_batch``'s output) as ``map_blocks``/``map_partitions`` over a
  frozen copy of the fitted estimator: zero graph executions, the input is
  never modified, dataframes keep their index, divisions and columns.

N-D arrays with a ``channel_axis`` take the same routes (checked by
:mod:`.channels`, one state per block of the chunk grid, the channel
path's statistics and transforms on each block).  Callbacks hear each
chunk of a fit as a sub-task of its root task (:mod:`.progress`).

The scheduler is whatever the caller's Dask configuration says (a
``distributed.Client``, threads, processes, synchronous): sknorm runs none
of its own.
"""

from __future__ import annotations

import copy
import inspect
import math

import numpy as np
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted

from .. import _channels as channels
from .._array_api import check_same_namespace, namespace_of
from .._callbacks import CALLBACK_STATE
from .._kernels import kernels_for
from .._stats import Statistics
from .._validation import call_prefix
from . import progress
from .channels import channel_input
from .inputs import dask_input, weights_for
from .packing import StateLayout
from .reduce import ChunkSpec, batch_pieces, tree_statistics

__all__ = [
    "lazy_affine",
    "lazy_transform",
    "n_chunk_tasks",
    "n_row_batches",
    "output_container",
    "row_batch_statistics",
    "update",
    "validated_input",
]


def _host(a):
    """A (small) array on the host, for the bookkeeping done after compute."""
    if hasattr(a, "get"):  # CuPy
        return a.get()
    return np.asarray(a)


def _parameters_only(estimator):
    """An unfitted copy for the chunk tasks: the parameters, no callbacks
    (``clone`` shares them by reference; they stay with the caller)."""
    copy_ = clone(estimator)
    for name in CALLBACK_STATE:
        copy_.__dict__.pop(name, None)
    return copy_


def _spec(estimator, inp, layout, method, weights_kind, weights):
    return ChunkSpec(
        estimator=_parameters_only(estimator),
        layout=layout,
        chunk_type=inp.chunk_type,
        allow_nan=bool(estimator._allow_nan),
        kernel_checks_finiteness=estimator._finiteness_check == "kernel",
        prefix=call_prefix(estimator, method),
        weights=weights_kind,
        scalar_weight=weights if weights_kind == "scalar" else 1.0,
        ndim=inp.array.ndim,
        channel_axis=inp.channel_axis,
    )


def _check_weight_total(estimator, method, counts, weights_kind):
    """All weights zero: the error a NumPy batch gives (a chunk of zero
    weights is fine, the whole fit is not)."""
    if weights_kind == "none" or not counts:
        return
    if not any(bool(np.any(_host(c) > 0)) for c in counts):
        raise ValueError(
            call_prefix(estimator, method) + "Sample weights must contain at least "
            "one non-zero number; a batch whose weights are all zero carries "
            "no data."
        )


def _weight_totals(states):
    """The total weights the states hold (the moments' ``count``, a quantile
    summary's ``total``); states that keep no weight (extremes) give none."""
    totals = []
    for state in states:
        fields = getattr(state, "_fields", ())
        for name in ("count", "total"):
            if name in fields:  # (a NamedTuple's own count() is a method)
                totals.append(getattr(state, name))
                break
    return totals


def _check_rows(estimator, method, n_rows):
    """No rows at all (chunk sizes that were unknown until computed)."""
    if n_rows == 0:
        raise ValueError(
            call_prefix(estimator, method) + "Found array with 0 sample(s) while a "
            f"minimum of 1 is required by {type(estimator).__name__}."
        )


def _input(estimator, X, method, *, reset, record, **kwargs):
    """:func:`.inputs.dask_input`, or its N-D counterpart for an estimator
    with a ``channel_axis`` (or fitted with one: it then says so)."""
    if channels.applies(estimator, reset):
        return channel_input(estimator, X, method, reset=reset, record=record)
    return dask_input(estimator, X, method, reset=reset, **kwargs)


def validated_input(estimator, X, sample_weight, method, reset):
    """``(inp, weights, weights_kind)``, every check that needs no data."""
    estimator._check_call(X, method)
    inp = _input(estimator, X, method, reset=reset, record=True)
    if not reset and estimator._is_fitted():
        check_same_namespace(
            estimator, method, inp.array._meta, getattr(estimator, estimator._anchor_)
        )
    estimator._check_fit_shape(method, inp.n_features)
    weights, kind = weights_for(estimator, method, inp, sample_weight)
    return inp, weights, kind


def n_chunk_tasks(estimator, inp):
    """The chunks a fit computes states of (its first sub-tasks): none when
    there is nothing to learn (LocalResponseNormalizer)."""
    return math.prod(inp.grid) if estimator._statistic_types() else 0


def _computed_statistics(estimator, inp, weights, kind, method, task):
    """The Statistics of all of X: one graph execution, each chunk reported
    to ``task`` (the root task of the call) as it is computed."""
    types = estimator._statistic_types()
    if not types:  # nothing to learn (LocalResponseNormalizer)
        return Statistics((), 0, kind != "none")
    layout = StateLayout(types, inp.n_features)
    spec = _spec(estimator, inp, layout, method, kind, weights)
    merged, states = tree_statistics(inp, weights, spec)
    packed = progress.computed(merged, states, task)
    states, n_rows = layout.unpack(packed.reshape(packed.shape[-2:]))
    # Each block counts the rows of its row chunk: with N-D input chunked
    # along other axes, every sample is counted once per block of those.
    n_rows = int(_host(n_rows)) // math.prod(inp.grid[1:])
    _check_rows(estimator, method, n_rows)
    _check_weight_total(estimator, method, _weight_totals(states), kind)
    return Statistics(states, n_rows, kind != "none")


def update(estimator, X, sample_weight, *, method, reset):
    """``fit`` (``reset``) or ``partial_fit`` of a Dask collection: one root
    task for the callbacks, as any fitting call, with one sub-task per
    chunk (``task_id``: the chunk's index, reported as chunks complete)."""
    with estimator._transaction(method):
        inp, weights, kind = validated_input(estimator, X, sample_weight, method, reset)
        n_chunks = n_chunk_tasks(estimator, inp)
        with estimator._fit_task(
            method, X, sample_weight, n_chunks, sequential_subtasks=False
        ) as task:
            batch = _computed_statistics(estimator, inp, weights, kind, method, task)
            merged = batch
            if not reset and estimator._is_fitted():
                previous = estimator._statistics(method)
                merged = estimator._merged_statistics(previous, batch)
            estimator.__dict__.update(
                estimator._fitted_state(merged, inp.xp, inp.device, inp.n_features)
            )
            task.end()
    return estimator


# ------------------------------------------------------ stepwise fits ----
# Building blocks for an estimator whose fit takes one step per mini-batch
# (MiniBatchNormalizer: its Dask route, :mod:`sknorm._minibatch.dask_steps`,
# composes them; the steps themselves are the estimator's).
def n_row_batches(inp, rows):
    """Mini-batches of ``rows`` rows in X, None where the chunk sizes are
    unknown; 0 for ``rows`` None (all of X in one step, which is no
    sub-task of its own)."""
    if rows is None:
        return 0
    n = inp.array.shape[0]
    return None if math.isnan(n) else -(-int(n) // int(rows))


def _piece_states(estimator, layout, blocks):
    """One piece's states: those of the ``g`` blocks of the other axes of
    N-D X, merged in C order (``g = 1`` for 2-D X)."""
    states, _ = layout.unpack(blocks[0, ...])
    for j in range(1, blocks.shape[0]):
        more, _ = layout.unpack(blocks[j, ...])
        states = estimator._merge_statistics(states, more)
    return states


def _batches_from_pieces(estimator, layout, pieces):
    """Consecutive pieces of one batch merged: ``[(states, n_rows)]`` in
    batch order (``pieces``: ``(n_pieces, *grid, k, f)``, see
    :func:`.reduce.batch_pieces`)."""
    blocks = math.prod(pieces.shape[1:-2])
    pieces = pieces.reshape(pieces.shape[0], blocks, *pieces.shape[-2:])
    index = _host(pieces[:, 0, layout.count_row + 1, 0])
    rows = _host(pieces[:, 0, layout.count_row, 0])
    batches = []
    for i in range(pieces.shape[0]):
        states = _piece_states(estimator, layout, pieces[i, ...])
        if batches and batches[-1][2] == index[i]:
            previous, n, b = batches[-1]
            merged = estimator._merge_statistics(previous, states)
            batches[-1] = (merged, n + int(rows[i]), b)
        else:
            batches.append((states, int(rows[i]), index[i]))
    return [(states, n) for states, n, _ in batches]


def row_batch_statistics(estimator, inp, weights, kind, method, rows, task):
    """The states of each consecutive mini-batch of ``rows`` rows (across
    chunk boundaries; all of X for ``rows`` None), ``[(states, n_rows)]``
    in row order: one graph execution, each chunk reported to ``task``."""
    if rows is None:
        stats = _computed_statistics(estimator, inp, weights, kind, method, task)
        return [(stats.states, stats.n_rows)]
    types = estimator._statistic_types()
    layout = StateLayout(types, inp.n_features, extra_rows=1)
    spec = _spec(estimator, inp, layout, method, kind, weights)
    lazy = batch_pieces(inp, weights, spec, rows)
    pieces = progress.computed(lazy, lazy, task)
    batches = _batches_from_pieces(estimator, layout, pieces)
    _check_rows(estimator, method, sum(n for _, n in batches))
    totals = [t for states, _ in batches for t in _weight_totals(states)]
    _check_weight_total(estimator, method, totals, kind)
    return batches


def _affine_block(block, center, scale, offset, *, out_dtype, channel_axis=None):
    xp = namespace_of(block)
    copy = block.dtype == out_dtype  # else the cast is the block's new memory
    if not copy:
        block = xp.astype(block, out_dtype)
    if channel_axis is not None:  # per-channel terms along the channel axis
        layout = channels.layout_of(block.shape, channel_axis)
        return channels.affine(block, center, scale, offset, copy, layout=layout)
    return kernels_for(xp).affine(block, center, scale, offset, copy)


def lazy_affine(inp, center, scale, offset):
    """``(X - center) * scale + offset`` of every block of ``inp``, lazily
    (a dataframe keeps its index, divisions and columns)."""
    fn = _affine_block
    kwargs = {"out_dtype": inp.out_dtype}
    if inp.channel_axis is not None:
        kwargs["channel_axis"] = inp.channel_axis
    if inp.frame is not None:
        return inp.frame.map_partitions(
            _partition_apply,
            _BlockFunction(fn, (center, scale, offset), kwargs),
            list(inp.frame.columns),
            inp.out_dtype,
            meta=_frame_meta(inp.frame, list(inp.frame.columns), inp.out_dtype),
        )
    return inp.array.map_blocks(
        fn,
        center,
        scale,
        offset,
        dtype=inp.out_dtype,
        meta=_block_meta(inp),
        **kwargs,
    )


def _block_meta(inp):
    """An empty output block: X's number of dimensions, the output dtype."""
    shape = (0,) * inp.array.ndim
    return inp.xp.empty(shape, dtype=inp.out_dtype, device=inp.device)


# ------------------------------------------------------------ transforms ----
class _BlockFunction:
    """A picklable ``fn(block, *args, **kwargs)`` for a partition's values."""

    def __init__(self, fn, args, kwargs):
        self.fn, self.args, self.kwargs = fn, args, kwargs

    def __call__(self, values):
        return self.fn(values, *self.args, **self.kwargs)


# Not carried into a lazy transform's tasks: callbacks stay with the caller,
# outputs are plain arrays (no set_output container inside a block), and the
# names were checked on the collection.
_NOT_FROZEN = (*CALLBACK_STATE, "_sklearn_output_config", "feature_names_in_")


def _frozen(estimator):
    """A copy of the fitted estimator for the tasks of a lazy transform: a
    later ``partial_fit`` does not change a graph already built."""
    state = {k: v for k, v in vars(estimator).items() if k not in _NOT_FROZEN}
    frozen = type(estimator).__new__(type(estimator))
    frozen.__dict__.update(copy.deepcopy(state))
    return frozen


def _transform_block(block, *, estimator, method, kwargs, n_out, out_dtype):
    if math.prod(block.shape) == 0:  # no rows (N-D: or no positions)
        shape = tuple(block.shape) if n_out is None else (block.shape[0], n_out)
        return namespace_of(block).empty(shape, dtype=out_dtype)
    return getattr(estimator, method)(block, **kwargs)


def _partition_apply(frame, fn, columns, out_dtype):
    import pandas as pd

    values = frame.to_numpy()
    if values.dtype == object:  # nullable columns: NA -> NaN
        values = frame.to_numpy(dtype="float64", na_value=np.nan)
    if frame.shape[0] == 0:
        out = np.empty((0, len(columns)), dtype=out_dtype)
    else:
        out = fn(values)
    return pd.DataFrame(out, index=frame.index, columns=columns)


def _frame_meta(frame, columns, out_dtype):
    import pandas as pd

    return pd.DataFrame(
        np.empty((0, len(columns)), dtype=out_dtype),
        index=frame._meta.index,
        columns=columns,
    )


def _output_columns(estimator, method, inp, n_out):
    """The columns of a transformed dataframe."""
    columns = list(inp.frame.columns)
    if n_out == len(columns):
        return columns
    if method == "transform":
        return list(estimator.get_feature_names_out())
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        return list(names)
    return [f"x{i}" for i in range(n_out)]


def lazy_transform(estimator, method, X, *args, **kwargs):
    """``estimator.method(X)`` of a Dask collection, as a lazy collection."""
    if not estimator.__sklearn_tags__().requires_fit:
        estimator._validate_params()  # stateless: no fit that would have
    elif not estimator._is_fitted():
        check_is_fitted(estimator)
    columns = None
    if method == "inverse_transform" and estimator._is_fitted():
        columns = estimator._inverse_columns()
    inp = _input(
        estimator,
        X,
        method,
        reset=False,
        record=False,
        names=method != "inverse_transform",
        columns=columns,
    )
    estimator._check_call(X, method)
    if estimator._is_fitted():
        check_same_namespace(
            estimator, method, inp.array._meta, getattr(estimator, estimator._anchor_)
        )
    n_out = None  # N-D: every block keeps its shape
    if inp.channel_axis is None:
        n_out = estimator._output_width(method, inp.array.shape[1])
    # Whatever a transform computes once from the fitted state (a whitening
    # matrix) is computed now, on the caller's side, and travels with the
    # frozen copy; then the copy is taken.
    estimator._prepare_transform(method)
    frozen = _frozen(estimator)
    if "copy" in inspect.signature(getattr(estimator, method)).parameters:
        kwargs = {**kwargs, "copy": True}  # never write into the input's blocks
    block_kwargs = {
        "estimator": frozen,
        "method": method,
        "kwargs": kwargs,
        "n_out": n_out,
        "out_dtype": inp.out_dtype,
    }
    if args:
        raise TypeError(
            call_prefix(estimator, method) + "pass options by keyword with Dask input."
        )
    if inp.frame is not None:
        out_columns = _output_columns(estimator, method, inp, n_out)
        return inp.frame.map_partitions(
            _partition_apply,
            _BlockFunction(_transform_block, (), block_kwargs),
            out_columns,
            inp.out_dtype,
            meta=_frame_meta(inp.frame, out_columns, inp.out_dtype),
        )
    array = inp.array
    chunks = array.chunks if n_out is None else (array.chunks[0], (n_out,))
    return array.map_blocks(
        _transform_block,
        dtype=inp.out_dtype,
        chunks=chunks,
        meta=_block_meta(inp),
        **block_kwargs,
    )


def output_container(estimator, result):
    """The Dask form of the container ``set_output`` asks for: a Dask
    dataframe for "pandas" (built lazily), the result itself by default."""
    import dask.dataframe as dd
    from sklearn.utils._set_output import _get_output_config

    dense = _get_output_config("transform", estimator)["dense"]
    if dense == "default":
        return result
    if dense != "pandas":
        raise ValueError(
            call_prefix(estimator, "transform") + f"set_output(transform={dense!r}) "
            "has no Dask form; use 'pandas' (a dask dataframe) or 'default' "
            "for Dask input."
        )
    if result.ndim != 2:
        raise ValueError(
            call_prefix(estimator, "transform") + f"set_output(transform='pandas') "
            f"needs 2-D output; channel_axis gives {result.ndim}D arrays. Use "
            "set_output(transform='default')."
        )
    columns = list(estimator.get_feature_names_out())
    if isinstance(result, dd.DataFrame):
        if list(result.columns) != columns:
            result = result.rename(
                columns=dict(zip(result.columns, columns, strict=True))
            )
        return result
    return dd.from_dask_array(result, columns=columns)
