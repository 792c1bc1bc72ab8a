"""Input checks and error messages shared by every estimator.

Two routes, one contract:

* NumPy arrays, pandas and polars frames, lists and SciPy sparse matrices go
  through scikit-learn's :func:`~sklearn.utils.validation.validate_data`, so
  feature names, ``set_output`` and every message are scikit-learn's own.
* Other Array API arrays (CuPy, torch, array-api-strict, ...) are checked
  here, in their own namespace and on their own device: no host copy.

Every message starts with ``"Estimator.method(): "`` so the user knows which
call failed, and says what to do.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
from sklearn import get_config
from sklearn.utils import assert_all_finite
from sklearn.utils.validation import check_array, validate_data

from ._array_api import (
    array_device,
    dtype_kind,
    is_array_api_input,
    move_to_namespace,
    namespace_of,
    output_float_dtype,
)
from ._kernels import (
    NonFiniteError,
    kernels_for,
    statistics_check_finiteness,
    transforms_check_finiteness,
)

__all__ = ["call_prefix", "validate_X", "validate_sample_weight"]


def call_prefix(estimator, method):
    """The ``"Estimator.method(): "`` prefix of every message."""
    return f"{type(estimator).__name__}.{method}(): "


def _prefixed(exc, prefix):
    """Same exception type, message prefixed with the failing call."""
    msg = str(exc.args[0]) if exc.args else str(exc)
    if msg.startswith(prefix):
        return exc
    new = type(exc)(prefix + msg)
    new.__cause__ = exc
    return new


def validate_X(
    estimator,
    X,
    *,
    method,
    reset,
    allow_nan=True,
    accept_sparse=False,
    copy=False,
    finiteness_check="validate",
    columns=None,
):
    """Validate ``X`` for ``estimator.method``; return ``(X, xp, device)``.

    ``reset=True`` (``fit`` and the first ``partial_fit``) records
    ``n_features_in_`` and ``feature_names_in_``; otherwise the feature count
    is checked against them.  Integer and boolean input becomes float64
    (float32 on devices without float64); float16 (and torch's bfloat16),
    float32 and float64 are kept, NumPy's in native byte order.

    ``finiteness_check="kernel"`` leaves the search for the values the
    estimator refuses (infinity with ``allow_nan``; NaN and infinity
    without) in a dense NumPy ``X`` to the caller's NumPy kernel, which
    finds them in its own pass over X and raises
    :class:`~sknorm._kernels.NonFiniteError` (scikit-learn's check is a
    separate full pass, nearly the cost of the statistics themselves).  The
    same holds, with ``allow_nan``, for other namespaces whose kernels find
    infinity themselves (CuPy's fused kernels); sparse input and the rest
    are checked here.

    ``finiteness_check="transform"`` leaves the check of non-NumPy input to a
    transform kernel that does it while writing its output (see
    :func:`~sknorm._kernels.transforms_check_finiteness`).

    ``columns`` is the expected number of columns when they are not the
    input features (the components a PCA whitening outputs, given back to
    its ``inverse_transform``); feature names then do not apply.
    """
    prefix = call_prefix(estimator, method)
    names = method != "inverse_transform"
    shape_check = _ShapeCheck(estimator, prefix, reset, names, columns)
    if is_array_api_input(X):
        X = _validate_array_api(
            estimator, X, prefix, allow_nan, copy, finiteness_check, shape_check
        )
    elif _is_plain_float_matrix(X):
        X = _validate_plain_float_matrix(
            estimator, X, prefix, allow_nan, copy, finiteness_check, shape_check
        )
        return X, namespace_of(X), "cpu"  # an ndarray, not sparse
    elif columns is not None:
        X = _validate_with_sklearn(
            estimator, X, prefix, reset, allow_nan, accept_sparse, copy, columns=True
        )
        shape_check(X.shape[1])
    else:
        skip = finiteness_check == "kernel" and not sp.issparse(X)
        with warnings.catch_warnings():
            if not names:
                warnings.filterwarnings(
                    "ignore", message="X does not have valid feature names"
                )
            X = _validate_with_sklearn(
                estimator, X, prefix, reset, allow_nan, accept_sparse, copy, skip
            )
    if sp.issparse(X):
        return X, None, "cpu"
    xp = namespace_of(X)
    return X, xp, array_device(X)


# The float dtypes kept as they are (scikit-learn's FLOAT_DTYPES): float16
# is normalized in float16 (computed in float32, rounded once), as
# scikit-learn's scalers keep it; other dtypes become float64.
_KEPT_FLOATS = (np.float64, np.float32, np.float16)


def _native_byte_order(X):
    """A NumPy float array in non-native byte order (big-endian FITS data on
    a little-endian machine) as the same values in native order: the
    kernels and the output are native.  One copy, which a transform makes
    anyway (its output cannot be the input)."""
    if isinstance(X, np.ndarray) and X.dtype.kind == "f" and not X.dtype.isnative:
        return X.astype(X.dtype.newbyteorder("=")), True
    return X, False


def _is_plain_float_matrix(X):
    """A non-empty 2-D float32/float64 ndarray: nothing to convert.

    The common case of every streaming call.  scikit-learn's
    ``validate_data`` costs ~50-100 µs per call on it (frame detection,
    dtype and layout logic), about the time to read a 10,000 x 64 batch from
    memory; the checks that apply to such an array are done directly here,
    with the same messages.
    """
    return (
        type(X) is np.ndarray
        and X.ndim == 2
        and X.dtype in _KEPT_FLOATS
        and X.shape[0] > 0
        and X.shape[1] > 0
    )


def _validate_plain_float_matrix(
    estimator, X, prefix, allow_nan, copy, finiteness_check, shape_check
):
    if finiteness_check != "kernel" and not _skip_value_checks():
        assert_finite_numpy(estimator, X, prefix, allow_nan)
    shape_check(X.shape[1])
    return X.copy() if copy else X


def assert_finite_numpy(estimator, X, prefix, allow_nan):
    """scikit-learn's ``assert_all_finite`` of a NumPy array, its message
    prefixed with the failing call."""
    try:
        # scikit-learn's check sums X first (a quick test): finite values
        # near the float maximum overflow there and warn, to no purpose.
        with np.errstate(over="ignore", invalid="ignore"):
            assert_all_finite(
                X,
                allow_nan=allow_nan,
                estimator_name=type(estimator).__name__,
                input_name="X",
            )
    except ValueError as exc:
        raise _prefixed(exc, prefix) from exc


def raise_if_nonfinite(xp, X, prefix, allow_nan):
    """The ValueError of an Array API input with +-inf (or NaN, unless
    ``allow_nan``), in the kernels' words."""
    if _has_nonfinite(xp, X, allow_nan=allow_nan):
        error = (
            NonFiniteError.infinity() if allow_nan else NonFiniteError.nan_or_infinity()
        )
        raise ValueError(prefix + str(error))


def _is_complex(X):
    """Complex NumPy arrays and lists (converted with a float dtype, complex
    entries would fail with "float() argument must be ...", which says
    nothing)."""
    if isinstance(X, np.ndarray):
        return np.iscomplexobj(X)
    if isinstance(X, list | tuple):
        try:
            return np.iscomplexobj(X)
        except (TypeError, ValueError):  # ragged: validate_data says so
            return False
    return False


def _validate_with_sklearn(
    estimator,
    X,
    prefix,
    reset,
    allow_nan,
    accept_sparse,
    copy,
    skip_finite=False,
    columns=False,
):
    if _is_complex(X):
        raise ValueError(
            prefix + "Complex data not supported; pass the real part "
            "(X.real) or the magnitude (abs(X)) instead."
        )
    X, converted = _native_byte_order(X)
    options = {
        "accept_sparse": accept_sparse,
        "dtype": list(_KEPT_FLOATS),
        "ensure_all_finite": (
            False if skip_finite else "allow-nan" if allow_nan else True
        ),
        "copy": copy and not converted,
    }
    try:
        # (np.errstate: see _validate_plain_float_matrix.)
        with np.errstate(over="ignore", invalid="ignore"):
            if columns:
                # Not the input features: no n_features_in_/names bookkeeping.
                return check_array(X, estimator=estimator, input_name="X", **options)
            return validate_data(estimator, X, reset=reset, **options)
    except (ValueError, TypeError) as exc:
        raise _prefixed(exc, prefix) from exc


def _validate_array_api(
    estimator, X, prefix, allow_nan, copy, finiteness_check, shape_check
):
    xp = namespace_of(X)
    device = array_device(X)
    name = type(estimator).__name__
    if X.ndim != 2:
        kind = {0: "scalar", 1: "1D"}.get(X.ndim, f"{X.ndim}D")
        raise ValueError(
            prefix + f"Expected 2D array, got {kind} array instead "
            f"(shape={tuple(X.shape)}). Reshape your data either using "
            "X.reshape(-1, 1) if your data has a single feature or "
            "X.reshape(1, -1) if it contains a single sample."
        )
    check_real_dtype(xp, X.dtype, prefix)
    n_samples, n_features = X.shape
    if n_samples < 1:
        raise ValueError(
            prefix + f"Found array with 0 sample(s) (shape={tuple(X.shape)}) "
            f"while a minimum of 1 is required by {name}."
        )
    if n_features < 1:
        raise ValueError(
            prefix + f"Found array with 0 feature(s) (shape={tuple(X.shape)}) "
            f"while a minimum of 1 is required by {name}."
        )
    out_dtype = output_float_dtype(xp, device, X.dtype)
    if X.dtype != out_dtype:
        X = xp.astype(X, out_dtype)
    elif copy:
        X = xp.asarray(X, copy=True)
    if _skip_value_checks():
        pass
    elif finiteness_check == "kernel" and allow_nan and statistics_check_finiteness(xp):
        pass  # the kernel's own pass finds +-inf (CuPy: no separate pass)
    elif finiteness_check == "transform" and transforms_check_finiteness(xp):
        pass  # checked by the transform kernel as it writes the output
    else:
        raise_if_nonfinite(xp, X, prefix, allow_nan)
    shape_check(n_features)
    return X


def _has_nonfinite(xp, X, allow_nan):
    """+-inf in X (or NaN, unless ``allow_nan``): a host read of a device
    value.  A kernel module's ``has_nonfinite`` (CuPy: one read of X, no
    temporary) replaces the generic ``any(isinf(X))`` where it has one."""
    find = getattr(kernels_for(xp), "has_nonfinite", None)
    if find is not None:
        return find(X, allow_nan)
    if allow_nan:
        return bool(xp.any(xp.isinf(X)))
    return not bool(xp.all(xp.isfinite(X)))


def check_real_dtype(xp, dtype, prefix):
    """Refuse complex and non-numeric dtypes of an Array API input."""
    kind = dtype_kind(xp, dtype)
    if kind == "complex":
        raise ValueError(
            prefix + "Complex data not supported; pass the real part or the "
            "magnitude instead."
        )
    if kind not in ("real", "half"):
        raise TypeError(
            prefix + f"X has dtype {dtype}, expected a real numeric dtype; "
            "convert it with xp.astype(X, xp.float64)."
        )


def _skip_value_checks():
    """scikit-learn's ``assume_finite`` also switches off sknorm's checks of
    the values of Array API inputs.

    Those checks read a device value on the host (``bool(xp.any(...))``),
    i.e. synchronise with the GPU on every call; a streaming GPU user who
    vouches for the data sets ``sklearn.set_config(assume_finite=True)`` (or
    uses ``sklearn.config_context``) and ``partial_fit`` then queues its work
    without waiting for the device.
    """
    return get_config()["assume_finite"]


class _ShapeCheck:
    """The column-count (and feature-name) check, whichever route X took."""

    def __init__(self, estimator, prefix, reset, names, columns):
        self.estimator, self.prefix = estimator, prefix
        self.reset, self.names, self.columns = reset, names, columns

    def __call__(self, n_columns):
        if self.columns is None:
            _check_n_features_and_names(
                self.estimator, n_columns, self.prefix, self.reset, self.names
            )
        elif n_columns != self.columns:
            raise ValueError(
                self.prefix + f"X has {n_columns} columns, but "
                f"{type(self.estimator).__name__} outputs {self.columns} "
                "components; pass the output of transform."
            )


def _check_n_features_and_names(estimator, n_features, prefix, reset, names=True):
    """The Array API counterpart of validate_data's bookkeeping.

    ``names=False`` skips the feature-name warning: the input of
    ``inverse_transform`` is the output of ``transform``, an array without
    names even when the estimator was fitted on a frame (scikit-learn does
    not check names there either).
    """
    name = type(estimator).__name__
    if reset:
        estimator.n_features_in_ = n_features
        if hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
        return
    expected = getattr(estimator, "n_features_in_", None)
    if expected is not None and n_features != expected:
        raise ValueError(
            prefix + f"X has {n_features} features, but {name} is expecting "
            f"{expected} features as input. Pass X with the columns it was "
            "fitted on, or refit."
        )
    if names and hasattr(estimator, "feature_names_in_"):
        warnings.warn(
            f"X does not have valid feature names, but {name} was fitted with "
            "feature names",
            UserWarning,
            stacklevel=4,
        )


def validate_sample_weight(estimator, method, sample_weight, X, xp, device, dtype):
    """``sample_weight`` as a 1-D array of ``dtype`` in X's namespace/device.

    Weights from another namespace are moved to X's (scikit-learn's
    "everything follows X" convention); a scalar means equal weights.
    Weights must be finite and non-negative.
    """
    if sample_weight is None:
        return None
    prefix = call_prefix(estimator, method)
    n_samples = X.shape[0]
    if isinstance(sample_weight, int | float | np.number):
        # A scalar is one weight for every row: checked like any other.
        sw = xp.full((n_samples,), float(sample_weight), dtype=dtype, device=device)
    else:
        try:
            sw = move_to_namespace(sample_weight, xp, device)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                prefix + f"sample_weight could not be converted to an array of "
                f"real numbers ({exc}); pass one number per row of X."
            ) from exc
    if sw.ndim != 1 or sw.shape[0] != n_samples:
        raise ValueError(
            prefix + f"sample_weight has shape {tuple(sw.shape)}, expected "
            f"({n_samples},): one weight per row of X."
        )
    if not xp.isdtype(sw.dtype, ("real floating", "integral", "bool")):
        raise TypeError(
            prefix + f"sample_weight has dtype {sw.dtype}; pass real numbers."
        )
    sw = xp.astype(sw, dtype)
    if _skip_value_checks():
        return sw
    if not bool(xp.all(xp.isfinite(sw))) or bool(xp.any(sw < 0)):
        raise ValueError(
            prefix + "sample_weight must be finite and non-negative; drop the "
            "rows you want ignored or give them weight 0."
        )
    if not bool(xp.any(sw > 0)):
        raise ValueError(
            prefix + "Sample weights must contain at least one non-zero "
            "number; a batch whose weights are all zero carries no data."
        )
    return sw
