"""Dask arrays and dataframes, checked without computing anything.

Everything that can be known from a Dask collection's metadata is checked
here, before a graph is built: the number of dimensions, the dtype of every
column, the namespace of the chunks (``X._meta``: NumPy or CuPy), the
feature count and names (scikit-learn's own bookkeeping, run on an empty
stand-in).  What can only be seen in the values (NaN, infinity, a chunk of
another array type) is checked by the chunk functions while the graph runs
(:mod:`.reduce`, :mod:`.layer`), with the same messages.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
from sklearn.utils.validation import validate_data

from .._array_api import array_device, namespace_of, output_float_dtype
from .._validation import _prefixed, _ShapeCheck, call_prefix

__all__ = ["DaskInput", "chunk_namespace", "dask_input", "is_dask_frame", "weights_for"]


class DaskInput(NamedTuple):
    """A validated Dask input.

    array : ``dask.array.Array`` with one chunk along ``axis``: 2-D, or N-D
        with a channel axis (:mod:`.channels`)
    xp : namespace of the chunks (array_api_compat's NumPy or CuPy)
    device : device of the chunks
    chunk_type : the array type every chunk must have (``type(X._meta)``)
    out_dtype : float dtype the values are normalized in
    frame : the ``dask.dataframe.DataFrame`` given, or None
    axis : the axis of the features (1) or of the channels, in one chunk
    channel_axis : the channel axis (non-negative), None for 2-D input
    n_features : number of features (columns) or channels
    """

    array: object
    xp: object
    device: object
    chunk_type: type
    out_dtype: object
    frame: object
    axis: int = 1
    channel_axis: int | None = None
    n_features: int = 0

    @property
    def grid(self):
        """The block grid of every axis but ``axis``: one chunk state per
        block, numbered in C order (the samples' blocks outermost)."""
        return tuple(n for a, n in enumerate(self.array.numblocks) if a != self.axis)


def is_dask_frame(X):
    import dask.dataframe as dd

    return isinstance(X, dd.DataFrame)


def _frame_values(frame, prefix):
    """The dataframe's values as a Dask array (row chunks of unknown size:
    no pass over the data to count them), after checking the column dtypes.
    """
    import dask.dataframe as dd
    import pandas as pd

    if isinstance(frame, dd.Series):
        raise ValueError(
            prefix + "Expected a 2D collection, got a dask Series. Use "
            "series.to_frame() for a single feature."
        )
    bad = [
        (name, dtype)
        for name, dtype in frame.dtypes.items()
        if not pd.api.types.is_numeric_dtype(dtype)
        or pd.api.types.is_complex_dtype(dtype)
    ]
    if bad:
        shown = ", ".join(f"{name!r} ({dtype})" for name, dtype in bad)
        raise TypeError(
            prefix + f"the dataframe has non-numeric columns: {shown}. Select "
            "the numeric columns, or encode these first (e.g. "
            "sklearn.preprocessing.OneHotEncoder in a ColumnTransformer)."
        )
    extension = any(
        isinstance(dtype, pd.api.extensions.ExtensionDtype) for dtype in frame.dtypes
    )
    if extension:
        # Nullable integers/floats/booleans: missing values become NaN.
        frame = frame.astype("float64")
    return frame.to_dask_array()


def _stand_in(X, array):
    """What scikit-learn's feature bookkeeping is run on: the dataframe's
    empty pandas meta (its columns are the feature names), or an empty
    NumPy array with X's number of columns."""
    if is_dask_frame(X):
        return X._meta
    return np.empty((0, array.shape[1]))


def dask_input(estimator, X, method, *, reset, names=True, columns=None):
    """Check ``X`` (a Dask array or dataframe) for ``estimator.method``.

    ``reset`` records ``n_features_in_`` and ``feature_names_in_`` (from the
    dataframe's columns: scikit-learn returns None for Dask frames);
    otherwise they are checked, with scikit-learn's messages and warnings.
    ``names=False`` skips the names (``inverse_transform``); ``columns`` is
    the expected column count when it is not the input features (the
    components a PCA whitening outputs).  Nothing is computed.
    """
    import dask.array as da

    prefix = call_prefix(estimator, method)
    frame = X if is_dask_frame(X) else None
    if frame is not None:
        array = _frame_values(frame, prefix)
    elif isinstance(X, da.Array):
        array = X
    else:
        raise TypeError(
            prefix + f"expected a dask.array.Array or dask.dataframe.DataFrame, "
            f"got {type(X).__name__}."
        )
    if array.ndim != 2:
        raise ValueError(
            prefix + f"Expected a 2D dask array, got {array.ndim}D "
            f"(shape={array.shape}). Reshape it, e.g. X.reshape(-1, 1) for a "
            "single feature."
        )
    kind = np.dtype(array.dtype).kind
    if kind == "c":
        raise ValueError(
            prefix + "Complex data not supported; pass the real part (X.real) "
            "or the magnitude (abs(X)) instead."
        )
    if kind not in "biuf":
        raise TypeError(
            prefix + f"X has dtype {array.dtype}, expected a real numeric dtype; "
            "convert it with X.astype('float64')."
        )
    if array.shape[0] == 0:  # known to be empty (NaN: not known yet)
        raise ValueError(
            prefix + f"Found array with 0 sample(s) (shape={array.shape}) "
            f"while a minimum of 1 is required by {type(estimator).__name__}."
        )
    if array.shape[1] < 1:
        raise ValueError(
            prefix + f"Found array with 0 feature(s) (shape={array.shape}) "
            f"while a minimum of 1 is required by {type(estimator).__name__}."
        )
    if array.numblocks[1] > 1:
        # Statistics are merged row block by row block (co-moments need
        # whole rows): chunks along the features are joined, lazily.
        array = array.rechunk({1: -1})
    meta = array._meta
    xp = chunk_namespace(meta, prefix)
    device = array_device(meta)
    _bookkeeping(estimator, X, array, prefix, reset, names, columns)
    out_dtype = output_float_dtype(xp, device, array.dtype)
    return DaskInput(
        array, xp, device, type(meta), out_dtype, frame, n_features=array.shape[1]
    )


def chunk_namespace(meta, prefix):
    """The Array API namespace of the chunks (``meta``: an empty chunk);
    chunks of another kind (sparse, ...) are refused."""
    try:
        return namespace_of(meta)
    except TypeError as exc:
        raise TypeError(
            prefix + f"X's chunks are {type(meta).__module__}."
            f"{type(meta).__name__}; the Dask layer takes NumPy or CuPy chunks "
            "(convert them with X.map_blocks(...), e.g. to dense arrays)."
        ) from exc


def _bookkeeping(estimator, X, array, prefix, reset, names, columns):
    if columns is not None:  # the output of transform: its column count
        _ShapeCheck(estimator, prefix, reset, names, columns)(array.shape[1])
        return
    with warnings.catch_warnings():
        if not names:
            warnings.filterwarnings(
                "ignore", message="X does not have valid feature names"
            )
            warnings.filterwarnings("ignore", message="X has feature names")
        try:
            validate_data(
                estimator, _stand_in(X, array), reset=reset, skip_check_array=True
            )
        except (ValueError, TypeError) as exc:
            raise _prefixed(exc, prefix) from exc


def weights_for(estimator, method, inp, sample_weight):
    """``sample_weight`` as something every chunk can take its rows from.

    A number stays a number; a Dask array or series is matched to X's row
    chunks (it must have the same partitioning when X's chunk sizes are
    unknown, as for a dataframe); a NumPy-like array is cut into X's row
    chunks (their sizes must be known).  Returns ``(weights, kind)`` with
    kind "none", "scalar" or "array" (a 2-D ``(n, 1)`` Dask array whose
    blocks pair with X's).
    """
    import dask.array as da

    prefix = call_prefix(estimator, method)
    if sample_weight is None:
        return None, "none"
    if isinstance(sample_weight, int | float | np.number) and not isinstance(
        sample_weight, bool
    ):
        return float(sample_weight), "scalar"
    rows = inp.array.chunks[0]
    known = not any(np.isnan(rows))
    if hasattr(sample_weight, "to_dask_array"):  # a dask Series or frame
        sample_weight = sample_weight.to_dask_array()
    if isinstance(sample_weight, da.Array):
        if sample_weight.ndim != 1:
            raise ValueError(
                prefix + f"sample_weight has {sample_weight.ndim} dimensions; "
                "pass one weight per row of X."
            )
        w_known = not any(np.isnan(sample_weight.chunks[0]))
        if known and w_known:
            if sample_weight.shape[0] != inp.array.shape[0]:
                raise ValueError(
                    prefix + f"sample_weight has shape {sample_weight.shape}, "
                    f"expected ({inp.array.shape[0]},): one weight per row of X."
                )
            sample_weight = sample_weight.rechunk((rows,))
        elif sample_weight.numblocks[0] != inp.array.numblocks[0]:
            raise ValueError(
                prefix + "sample_weight must be partitioned like X when their "
                f"chunk sizes are unknown: X has {inp.array.numblocks[0]} row "
                f"chunks, sample_weight {sample_weight.numblocks[0]}. Take both "
                "from the same dataframe (e.g. ddf[features] and ddf['w'])."
            )
        return sample_weight[:, None], "array"
    if not known:
        raise TypeError(
            prefix + "X's chunk sizes are unknown (a dask dataframe), so a "
            "NumPy sample_weight cannot be cut into its partitions; pass the "
            "weights as a column of the same dataframe (ddf['w'])."
        )
    weights = np.asarray(sample_weight)
    if weights.ndim != 1 or weights.shape[0] != inp.array.shape[0]:
        raise ValueError(
            prefix + f"sample_weight has shape {weights.shape}, expected "
            f"({inp.array.shape[0]},): one weight per row of X."
        )
    if weights.dtype.kind not in "biuf":
        raise TypeError(
            prefix + f"sample_weight has dtype {weights.dtype}; pass real numbers."
        )
    return da.from_array(weights[:, None], chunks=(rows, 1)), "array"
