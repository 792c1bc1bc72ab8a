"""Fits and transforms of Dask collections, called by the estimators' base.

* ``update`` (``fit``/``partial_fit``): one graph execution computes every
  statistic the estimator needs (:mod:`.reduce`); the fitted attributes are
  concrete arrays in the chunks' namespace (NumPy, or CuPy on the device),
  never Dask arrays; statistics accumulate in float64 whatever the chunk
  dtype.  The result is merged into the running state exactly as a NumPy
  batch would be, so streams may mix Dask and NumPy batches.
* ``minibatch_steps``: MiniBatchNormalizer's training steps, one per
  mini-batch of ``batch_size`` rows taken in row order across chunk
  boundaries (the pieces' moments come from one graph execution; the
  running update, a few vector operations per batch, runs here).
* ``lazy_transform``: ``transform``, ``inverse_transform`` (and
  ``normalize_batch``'s output) as ``map_blocks``/``map_partitions`` over a
  frozen copy of the fitted estimator: zero graph executions, the input is
  never modified, dataframes keep their index, divisions and columns.

The scheduler is whatever the caller's Dask configuration says (a
``distributed.Client``, threads, processes, synchronous): sknorm runs none
of its own.
"""

from __future__ import annotations

import copy
import functools
import inspect

import numpy as np
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted

from .._array_api import accumulation_dtype, check_same_namespace, namespace_of
from .._callbacks import CALLBACK_STATE
from .._kernels import kernels_for
from .._stats import Statistics, merge_moments
from .._validation import where
from .inputs import dask_input, weights_for
from .packing import Layout
from .reduce import ChunkSpec, batch_pieces, tree_statistics

__all__ = ["lazy_transform", "minibatch_steps", "output_container", "update"]


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
        kernel_checks=estimator._finite_check == "kernel",
        prefix=where(estimator, method),
        weights=weights_kind,
        scalar_weight=weights if weights_kind == "scalar" else 1.0,
    )


def _check_weight_total(estimator, method, counts, weights_kind):
    """All weights zero: the error a NumPy batch gives (a chunk of zero
    weights is fine, the whole fit is not)."""
    if weights_kind == "none":
        return
    if not any(bool(np.any(_host(c) > 0)) for c in counts):
        raise ValueError(
            where(estimator, method) + "Sample weights must contain at least "
            "one non-zero number; a batch whose weights are all zero carries "
            "no data."
        )


def _check_rows(estimator, method, n_rows):
    """No rows at all (chunk sizes that were unknown until computed)."""
    if n_rows == 0:
        raise ValueError(
            where(estimator, method) + "Found array with 0 sample(s) while a "
            f"minimum of 1 is required by {type(estimator).__name__}."
        )


def _refuse_channels(estimator, method):
    """N-D feature maps (``channel_axis``) are not taken from Dask yet."""
    if getattr(estimator, "channel_axis", None) is not None:
        raise ValueError(
            where(estimator, method) + "channel_axis is not supported for Dask "
            "input yet; reshape the collection to (rows, channels) first "
            "(channels last: X.reshape(-1, C)) and use channel_axis=None, or "
            "compute the chunks."
        )


def _validated(estimator, X, sample_weight, method, reset):
    """``(inp, weights, weights_kind)``, every check that needs no data."""
    _refuse_channels(estimator, method)
    estimator._check_call(X, method)
    inp = dask_input(estimator, X, method, reset=reset)
    if not reset and estimator._is_fitted():
        check_same_namespace(
            estimator, method, inp.array._meta, getattr(estimator, estimator._anchor_)
        )
    estimator._check_fit_shape(method, inp.array.shape[1])
    weights, kind = weights_for(estimator, method, inp, sample_weight)
    return inp, weights, kind


def _computed_statistics(estimator, inp, weights, kind, method):
    """The Statistics of all of X: one graph execution."""
    types = estimator._statistic_types()
    if not types:  # nothing to learn (LocalResponseNormalizer)
        return Statistics((), 0, kind != "none")
    layout = Layout(types, inp.array.shape[1])
    spec = _spec(estimator, inp, layout, method, kind, weights)
    (packed,) = tree_statistics(inp, weights, spec).compute()
    states, n_rows = layout.unpack(packed)
    n_rows = int(_host(n_rows))
    _check_rows(estimator, method, n_rows)
    _check_weight_total(estimator, method, [states[0].count], kind)
    return Statistics(states, n_rows, kind != "none")


def update(estimator, X, sample_weight, *, method, reset):
    """``fit`` (``reset``) or ``partial_fit`` of a Dask collection: one root
    task for the callbacks, as any fitting call."""
    with estimator._transaction(method):
        inp, weights, kind = _validated(estimator, X, sample_weight, method, reset)
        with estimator._fit_task(method, X, sample_weight) as task:
            batch = _computed_statistics(estimator, inp, weights, kind, method)
            merged = batch
            if not reset and estimator._is_fitted():
                previous = estimator._statistics(method)
                merged = estimator._merged_statistics(previous, batch)
            estimator.__dict__.update(
                estimator._fitted_state(merged, inp.xp, inp.device, inp.array.shape[1])
            )
            task.end()
    return estimator


# ------------------------------------------------- MiniBatchNormalizer ----
def _batches_from_pieces(layout, pieces):
    """Consecutive pieces of one batch merged: ``[(moments, n_rows)]`` in
    batch order."""
    index = _host(pieces[:, layout.count_row + 1, 0])
    rows = _host(pieces[:, layout.count_row, 0])
    batches = []
    for i in range(pieces.shape[0]):
        (moments,), _ = layout.unpack(pieces[i, ...])
        if batches and batches[-1][2] == index[i]:
            previous, n, b = batches[-1]
            batches[-1] = (merge_moments(previous, moments), n + int(rows[i]), b)
        else:
            batches.append((moments, int(rows[i]), index[i]))
    return [(m, n) for m, n, _ in batches]


def minibatch_steps(
    estimator, X, sample_weight, *, method, reset, rows, training_output
):
    """MiniBatchNormalizer's ``fit`` / ``partial_fit`` / ``normalize_batch``
    of a Dask collection: the same steps as on the concatenated rows."""
    with estimator._transaction(method):
        inp, weights, kind = _validated(estimator, X, sample_weight, method, reset)
        xp, device = inp.xp, inp.device
        dtype = accumulation_dtype(xp, device)
        n_features = inp.array.shape[1]
        if reset:
            estimator._check_affine_params(method, n_features, xp, device, dtype)
        if rows is None:  # one batch: all of X
            stats = _computed_statistics(estimator, inp, weights, kind, method)
            batches = [(stats.states[0], stats.n_rows)]
        else:
            layout = Layout(estimator._statistic_types(), n_features, extra_rows=1)
            spec = _spec(estimator, inp, layout, method, kind, weights)
            pieces = batch_pieces(inp, weights, spec, rows).compute()
            batches = _batches_from_pieces(layout, pieces)
            _check_rows(estimator, method, sum(n for _, n in batches))
            counts = [m.count for m, _ in batches]
            _check_weight_total(estimator, method, counts, kind)
        state = None if reset else estimator._running_state()
        n_subtasks = 0 if rows is None else len(batches)
        with estimator._fit_task(method, X, sample_weight, n_subtasks) as task:
            # The graph has run; the steps (a few vector operations each) are
            # reported one sub-task per batch, as in a NumPy fit.
            for moments, n_rows in batches:
                if n_subtasks:
                    sub = task.subtask("batch")
                state, mean_b, var_b, _ = estimator._step_from_moments(
                    state, moments, n_rows, xp, device, dtype
                )
                if n_subtasks and sub.end(
                    reconstruction_attributes=functools.partial(dict, state)
                ):
                    break
            out = estimator
            if training_output:
                gamma, beta = estimator._gamma_beta(
                    method, n_features, xp, device, dtype
                )
                scale = gamma * (1.0 / xp.sqrt(var_b + float(estimator.eps)))
                out = _lazy_affine(inp, estimator, method, mean_b, scale, beta)
            estimator.__dict__.update(state)
            task.end()
    return out


def _affine_block(block, center, scale, offset, *, out_dtype):
    xp = namespace_of(block)
    copy = block.dtype == out_dtype  # else the cast is the block's new memory
    if not copy:
        block = xp.astype(block, out_dtype)
    return kernels_for(xp).affine(block, center, scale, offset, copy)


def _lazy_affine(inp, estimator, method, center, scale, offset):
    """``(X - center) * scale + offset`` of every block, lazily."""
    fn = _affine_block
    kwargs = {"out_dtype": inp.out_dtype}
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
        meta=inp.xp.empty((0, 0), dtype=inp.out_dtype, device=inp.device),
        **kwargs,
    )


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
    if block.shape[0] == 0:
        return namespace_of(block).empty((0, n_out), dtype=out_dtype)
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
    _refuse_channels(estimator, method)
    columns = None
    if method == "inverse_transform" and estimator._is_fitted():
        columns = estimator._inverse_columns()
    inp = dask_input(
        estimator,
        X,
        method,
        reset=False,
        names=method != "inverse_transform",
        columns=columns,
    )
    estimator._check_call(X, method)
    if estimator._is_fitted():
        check_same_namespace(
            estimator, method, inp.array._meta, getattr(estimator, estimator._anchor_)
        )
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
            where(estimator, method) + "pass options by keyword with Dask input."
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
    return array.map_blocks(
        _transform_block,
        dtype=inp.out_dtype,
        chunks=(array.chunks[0], (n_out,)),
        meta=inp.xp.empty((0, 0), dtype=inp.out_dtype, device=inp.device),
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
            where(estimator, "transform") + f"set_output(transform={dense!r}) "
            "has no Dask form; use 'pandas' (a dask dataframe) or 'default' "
            "for Dask input."
        )
    columns = list(estimator.get_feature_names_out())
    if isinstance(result, dd.DataFrame):
        if list(result.columns) != columns:
            result = result.rename(
                columns=dict(zip(result.columns, columns, strict=True))
            )
        return result
    return dd.from_dask_array(result, columns=columns)
