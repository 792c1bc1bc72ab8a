"""Checks of N-D input for estimators with a ``channel_axis``.

The counterpart of :mod:`sknorm._validation` for arrays of shape
``(n_samples, ..., n_channels, ...)``: the same messages where the checks
are the same (``"Estimator.method(): ..."``, what to do), and the
bookkeeping of the channel count, the number of dimensions and the channel
axis a later call is checked against.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
import scipy.sparse as sp

from .._array_api import (
    array_device,
    is_array_api_input,
    is_cupy_namespace,
    is_numpy_namespace,
    namespace_of,
    output_float_dtype,
)
from .._kernels import statistics_check_finiteness
from .._validation import (
    _KEPT_FLOATS,
    _native_byte_order,
    _skip_value_checks,
    assert_finite_numpy,
    call_prefix,
    check_real_dtype,
    raise_if_nonfinite,
)
from .layout import layout_of

__all__ = ["applies", "channel_transforms_check_finiteness", "validate_X"]


def _is_dataframe(X):
    module = type(X).__module__.split(".")[0]
    return module in {"pandas", "polars", "pyarrow", "modin"} or hasattr(
        X, "__dataframe__"
    )


def applies(estimator, reset):
    """Whether a call validates X as N-D input: the estimator has a
    ``channel_axis``, or it was fitted with one (and is told that it has
    none now: :func:`validate_X` says so)."""
    if getattr(estimator, "channel_axis", None) is not None:
        return True
    return not reset and "_channel_axis_" in estimator.__dict__


def _check_mode(estimator, method):
    """Raise if ``estimator`` was fitted with another ``channel_axis`` than
    it has now (``set_params`` after fit): its statistics are per feature,
    or per channel of another layout."""
    if not estimator._is_fitted():
        return
    current = getattr(estimator, "channel_axis", None)
    # No marker: fitted per feature on 2-D input (channel_axis=None).
    fitted = estimator.__dict__.get("_channel_axis_")
    if fitted == current:
        return
    raise ValueError(
        call_prefix(estimator, method) + f"the estimator was fitted with channel_axis="
        f"{fitted} but has channel_axis={current} now; set it back, or refit."
    )


def _numpy_input(estimator, X, prefix):
    if not isinstance(X, np.ndarray):
        try:
            X = np.asarray(X)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                prefix + f"X could not be converted to an array ({exc}); pass a "
                "NumPy, CuPy, torch or other Array API array of shape "
                "(n_samples, ..., n_channels, ...)."
            ) from exc
    if X.dtype.kind == "c":
        raise ValueError(
            prefix + "Complex data not supported; pass the real part (X.real) "
            "or the magnitude (abs(X)) instead."
        )
    if X.dtype.kind not in "biuf":
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                prefix + f"X has dtype {X.dtype}, expected real numbers; convert "
                "it with X.astype(np.float64)."
            ) from exc
    # The 2-D path's dtypes: float16, float32 and float64 kept (float16
    # computed in float32, rounded once), in native byte order (big-endian
    # FITS data: one copy, which a transform makes anyway); the rest float64.
    X, _ = _native_byte_order(X)
    if X.dtype not in _KEPT_FLOATS:
        X = X.astype(np.float64)
    return X


def _array_api_input(X, prefix):
    xp = namespace_of(X)
    check_real_dtype(xp, X.dtype, prefix)
    out_dtype = output_float_dtype(xp, array_device(X), X.dtype)
    return X if X.dtype == out_dtype else xp.astype(X, out_dtype)


def _check_shape(estimator, X, channel_axis, prefix):
    shape = tuple(X.shape)
    ndim = len(shape)
    example = "1 for (N, C, H, W), -1 for (N, H, W, C)"
    if ndim < 2:
        raise ValueError(
            prefix + f"channel_axis={channel_axis} needs X of shape (n_samples, "
            f"..., n_channels, ...) with at least 2 dimensions; got a {ndim}D "
            f"array (shape={shape}). Reshape it, e.g. X.reshape(1, -1) for one "
            "sample, or pass channel_axis=None."
        )
    if not -ndim <= channel_axis < ndim:
        raise ValueError(
            prefix + f"channel_axis={channel_axis} is out of range for X of "
            f"shape {shape}: pass {-ndim} <= channel_axis < {ndim} ({example})."
        )
    if channel_axis % ndim == 0:
        raise ValueError(
            prefix + f"channel_axis={channel_axis} is axis 0, the samples; the "
            f"channels must be another axis ({example})."
        )
    name = type(estimator).__name__
    if shape[0] < 1:
        raise ValueError(
            prefix + f"Found array with 0 sample(s) (shape={shape}) while a "
            f"minimum of 1 is required by {name}."
        )
    if 0 in shape:
        raise ValueError(
            prefix + f"X of shape {shape} has an axis of length 0: no channel "
            "or position to normalize; pass a batch with at least one value "
            "per channel."
        )


def _check_finite(xp, X, estimator, prefix, allow_nan, finiteness_check):
    """The finiteness check, where no kernel does it in its own pass."""
    if _skip_value_checks():
        return
    numpy = is_numpy_namespace(xp)
    if (
        finiteness_check == "kernel"
        and allow_nan
        and (numpy or statistics_check_finiteness(xp))
    ):
        return  # the statistics kernels raise NonFiniteError themselves
    if finiteness_check == "transform" and channel_transforms_check_finiteness(xp):
        return  # the channel transforms check X as they go (see affine)
    if numpy:
        assert_finite_numpy(estimator, X, prefix, allow_nan)
    else:
        raise_if_nonfinite(xp, xp.reshape(X, (X.shape[0], -1)), prefix, allow_nan)


def _check_channels(estimator, X, channel_axis, prefix, reset, record):
    """Record (``reset``) or check the channel count and the number of
    dimensions (later batches: same ones, any spatial sizes)."""
    layout = layout_of(X.shape, channel_axis)
    name = type(estimator).__name__
    state = estimator.__dict__
    if reset:
        estimator.n_features_in_ = layout.channels
        state.pop("feature_names_in_", None)
        estimator._channel_axis_ = channel_axis
        estimator._ndim_in_ = X.ndim
        return
    ndim = state.get("_ndim_in_")
    if ndim is not None and X.ndim != ndim:
        raise ValueError(
            prefix + f"X has {X.ndim} dimensions (shape={tuple(X.shape)}), but "
            f"{name} was fitted on {ndim}D arrays with channel_axis="
            f"{channel_axis}; pass arrays with the same number of dimensions "
            "(the other sizes may differ), or refit."
        )
    expected = state.get("n_features_in_")
    if expected is not None and layout.channels != expected:
        raise ValueError(
            prefix + f"X has {layout.channels} channels along channel_axis="
            f"{channel_axis} (shape={tuple(X.shape)}), but {name} is expecting "
            f"{expected} channels as input. Pass X with the channels it was "
            "fitted on, or refit."
        )
    if record and ndim is None:  # fitted from a state dict: learn it now
        estimator._channel_axis_ = channel_axis
        estimator._ndim_in_ = X.ndim


def validate_X(
    estimator, X, *, method, reset, allow_nan=True, finiteness_check="validate", record
):
    """``(X, xp, device)`` for an estimator with a ``channel_axis``.

    The counterpart of :func:`sknorm._validation.validate_X` for N-D
    arrays: dense arrays only (NumPy, lists, any Array API array), float16
    (torch's bfloat16), float32 and float64 kept, NumPy's in native byte
    order, integers and booleans converted; ``reset`` records
    ``n_features_in_`` (the number of channels), the number of dimensions
    and the channel axis, otherwise they are checked (``record``: a
    ``partial_fit`` step of an estimator built from a state dict learns
    them).  ``finiteness_check`` as there.
    """
    prefix = call_prefix(estimator, method)
    if not reset:
        _check_mode(estimator, method)
    channel_axis = estimator.channel_axis
    if isinstance(channel_axis, bool) or not isinstance(channel_axis, Integral):
        raise ValueError(
            prefix + f"channel_axis must be an int (the axis of the channels) "
            f"or None; got {channel_axis!r}."
        )
    channel_axis = int(channel_axis)
    if sp.issparse(X):
        raise TypeError(
            prefix + f"channel_axis={channel_axis} needs a dense array of shape "
            "(n_samples, ..., n_channels, ...); got a SciPy sparse matrix. Pass "
            "channel_axis=None for per-feature statistics of a sparse matrix, "
            "or X.toarray()."
        )
    if _is_dataframe(X):
        raise TypeError(
            prefix + f"channel_axis={channel_axis} needs an N-D array; got a "
            f"{type(X).__name__}, whose columns are features. Pass "
            "channel_axis=None for per-column statistics, or X.to_numpy() "
            "reshaped to (n_samples, ..., n_channels, ...)."
        )
    if is_array_api_input(X):
        X = _array_api_input(X, prefix)
    else:
        X = _numpy_input(estimator, X, prefix)
    _check_shape(estimator, X, channel_axis, prefix)
    xp = namespace_of(X)
    _check_finite(xp, X, estimator, prefix, allow_nan, finiteness_check)
    _check_channels(estimator, X, channel_axis, prefix, reset, record)
    return X, xp, array_device(X)


def channel_transforms_check_finiteness(xp):
    """Whether :func:`affine` and :func:`local_response` look for
    non-finite values themselves (given ``check``) for ``xp``: NumPy (in the
    pass that writes the output) and CuPy (through its 2-D kernels' own
    check, or a read before)."""
    return is_numpy_namespace(xp) or is_cupy_namespace(xp)
