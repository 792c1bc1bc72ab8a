"""N-D Dask arrays with a channel axis, checked without computing anything.

The Dask counterpart of :func:`sknorm._channels.validate_X`: an estimator
with ``channel_axis`` takes a ``dask.array.Array`` of two or more
dimensions, chunked along the samples and along any other axis except the
channels (a chunked channel axis is joined into one chunk, lazily: a
chunk's statistics, and LocalResponseNormalizer's window, need every
channel of its positions).  What the metadata tells is checked here, with
the messages and the bookkeeping of the NumPy channel path (the number of
channels, of dimensions and the channel axis a later call is checked
against); what only the values tell is checked in each chunk's task, by
:func:`chunk_values` and :func:`check_chunk_finiteness`, which apply the
channel path's own conversion and finiteness rules to the chunk.
"""

from __future__ import annotations

import math
import types
from numbers import Integral

import numpy as np

from .._array_api import array_device, is_array_api_input, namespace_of
from .._channels import validation as channel_validation
from .._validation import call_prefix
from .inputs import DaskInput, chunk_namespace, is_dask_frame

__all__ = ["channel_input", "check_chunk_finiteness", "chunk_values"]


def _stand_in(array):
    """What the channel path's shape checks read (``shape``, ``ndim``): the
    array's shape, an unknown number of samples (NaN, e.g. after boolean
    indexing) counted as 1 -- the rows are counted while computing."""
    shape = tuple(
        1 if math.isnan(s) and a == 0 else s for a, s in enumerate(array.shape)
    )
    return types.SimpleNamespace(shape=shape, ndim=len(shape))


def chunk_values(estimator, block, prefix):
    """A chunk as the channel path converts a batch: float32/float64 kept,
    other dtypes converted as :func:`sknorm._channels.validate_X` converts
    them (NumPy chunks) or to the float dtype of the chunk's namespace."""
    if is_array_api_input(block):
        return channel_validation._array_api_input(block, prefix)
    return channel_validation._numpy_input(estimator, block, prefix)


def check_chunk_finiteness(
    estimator, block, prefix, allow_nan, kernel_checks_finiteness
):
    """The channel path's finiteness check of one converted chunk (left to
    the statistics kernels where they find the values themselves)."""
    xp = namespace_of(block)
    finiteness_check = "kernel" if kernel_checks_finiteness else "validate"
    channel_validation._check_finite(
        xp, block, estimator, prefix, allow_nan, finiteness_check
    )


def _checked_axis(estimator, prefix):
    channel_axis = estimator.channel_axis
    if isinstance(channel_axis, bool) or not isinstance(channel_axis, Integral):
        raise ValueError(
            prefix + f"channel_axis must be an int (the axis of the channels) "
            f"or None; got {channel_axis!r}."
        )
    return int(channel_axis)


def _checked_dtype(array, prefix):
    kind = np.dtype(array.dtype).kind
    if kind == "c":
        raise ValueError(
            prefix + "Complex data not supported; pass the real part (X.real) "
            "or the magnitude (abs(X)) instead."
        )
    if kind not in "biuf":
        raise TypeError(
            prefix + f"X has dtype {array.dtype}, expected real numbers; convert "
            "it with X.astype('float64')."
        )


def channel_input(estimator, X, method, *, reset, record):
    """Check the N-D Dask array ``X`` for ``estimator.method`` (an estimator
    with a ``channel_axis``, or fitted with one).

    ``reset`` records ``n_features_in_`` (the number of channels), the
    number of dimensions and the channel axis; otherwise they are checked
    (``record``: a training call, which may record the layout of an
    estimator built from a state dict).  Nothing is computed.
    """
    import dask.array as da

    prefix = call_prefix(estimator, method)
    if not reset:
        channel_validation._check_mode(estimator, method)
    channel_axis = _checked_axis(estimator, prefix)
    if is_dask_frame(X) or not isinstance(X, da.Array):
        kind = (
            "dask dataframe, whose columns are features"
            if is_dask_frame(X)
            else (type(X).__name__)
        )
        raise TypeError(
            prefix + f"channel_axis={channel_axis} needs an N-D dask.array.Array "
            f"of shape (n_samples, ..., n_channels, ...); got a {kind}. Pass "
            "channel_axis=None for per-column statistics of a dataframe, or "
            "its values reshaped to (n_samples, ..., n_channels, ...)."
        )
    _checked_dtype(X, prefix)
    unknown = [a for a, s in enumerate(X.shape) if a and math.isnan(s)]
    if unknown:
        raise ValueError(
            prefix + f"X's length along axis {unknown[0]} is unknown "
            f"(shape={X.shape}); only the samples (axis 0) may have unknown "
            "chunk sizes. Call X.compute_chunk_sizes() first."
        )
    stand_in = _stand_in(X)
    channel_validation._check_shape(estimator, stand_in, channel_axis, prefix)
    axis = channel_axis % X.ndim
    array = X
    if array.numblocks[axis] > 1:
        # A chunk's statistics (and LRN's window) need every channel of its
        # positions: the channel chunks are joined, lazily, as the feature
        # chunks of 2-D input are.
        array = array.rechunk({axis: -1})
    meta = array._meta
    xp = chunk_namespace(meta, prefix)
    channel_validation._check_channels(
        estimator, stand_in, channel_axis, prefix, reset, record
    )
    # The dtype the chunks are normalized in: the channel path's conversion
    # of an empty chunk.
    out_dtype = chunk_values(estimator, meta, prefix).dtype
    return DaskInput(
        array,
        xp,
        array_device(meta),
        type(meta),
        out_dtype,
        None,
        axis=axis,
        channel_axis=axis,
        n_features=int(array.shape[axis]),
    )
