"""Namespace, device and dtype policy for every array sknorm touches.

The namespace always comes from the input array (``array_api_compat``), never
from scikit-learn's global ``array_api_dispatch`` switch: sknorm works the same
whether that switch is on or off.  Nothing in this module imports CuPy, torch
or Dask; they are only ever seen through the arrays the user hands in.
"""

from __future__ import annotations

import array_api_compat
import array_api_compat.numpy as _numpy_namespace
import numpy as np

__all__ = [
    "accumulation_dtype",
    "array_device",
    "check_same_namespace",
    "compute_float_dtype",
    "detached",
    "is_array_api_input",
    "is_half_float",
    "is_numpy_namespace",
    "move_to_namespace",
    "namespace_of",
    "output_float_dtype",
    "reads_are_free",
    "requires_grad",
]


# Namespace of each array type seen: array_api_compat's generic inspection
# costs a few µs per call, and a streaming partial_fit asks several times.
# The namespace of an array depends on its type alone.
_namespace_by_type = {np.ndarray: _numpy_namespace}
# Types whose ``.device`` attribute is the device array_api_compat reports.
_device_attribute_by_type = {}


def namespace_of(*arrays):
    """Array API namespace shared by ``arrays`` (None entries ignored)."""
    if len(arrays) == 1:
        xp = _namespace_by_type.get(type(arrays[0]))
        if xp is not None:  # one array of a type seen before: every batch
            return xp
    arrays = [a for a in arrays if a is not None]
    kinds = {type(a) for a in arrays}
    if len(kinds) == 1:
        kind = kinds.pop()
        xp = _namespace_by_type.get(kind)
        if xp is None:
            xp = _namespace_by_type[kind] = array_api_compat.array_namespace(*arrays)
        return xp
    return array_api_compat.array_namespace(*arrays)


def array_device(x):
    """Device of ``x`` (``"cpu"`` for NumPy)."""
    kind = type(x)
    if kind is np.ndarray:
        return "cpu"
    if _device_attribute_by_type.get(kind):
        return x.device
    device = array_api_compat.device(x)
    if kind not in _device_attribute_by_type:
        try:
            _device_attribute_by_type[kind] = bool(x.device == device)
        except Exception:  # no such attribute, or an odd comparison
            _device_attribute_by_type[kind] = False
    return device


def is_numpy_namespace(xp) -> bool:
    """True for NumPy itself and array-api-compat's NumPy wrapper."""
    return xp.__name__ in {"numpy", "array_api_compat.numpy"}


def is_cupy_namespace(xp) -> bool:
    """True for CuPy and array-api-compat's CuPy wrapper."""
    return xp.__name__ in {"cupy", "array_api_compat.cupy"}


def reads_are_free(xp, a) -> bool:
    """Whether reading a value of ``a`` on the host costs no device
    synchronisation: NumPy, and torch tensors in CPU memory (a GPU, or a
    namespace standing for one in the tests, array-api-strict, does not)."""
    if is_numpy_namespace(xp):
        return True
    if xp.__name__ in {"torch", "array_api_compat.torch"}:
        return getattr(getattr(a, "device", None), "type", None) == "cpu"
    return False


def is_array_api_input(X) -> bool:
    """True for arrays that sknorm handles natively, without scikit-learn's
    ``validate_data``: every Array API array except NumPy's (NumPy, pandas,
    polars, lists and SciPy sparse go through scikit-learn's validation so
    that feature names and ``set_output`` work exactly as in scikit-learn).
    """
    if isinstance(X, np.ndarray):
        return False
    return array_api_compat.is_array_api_obj(X)


_float_dtypes_cache = {}


def _real_float_dtypes(xp, device):
    """The real float dtypes of ``device``: asked once per namespace and
    device (the inspection API costs several µs per call)."""
    try:
        key = (xp.__name__, device)
        cached = _float_dtypes_cache.get(key)
    except TypeError:  # an unhashable device object
        key, cached = None, None
    if cached is not None:
        return cached
    try:
        info = xp.__array_namespace_info__()
        dtypes = info.dtypes(device=device, kind="real floating")
    except (AttributeError, TypeError):  # pragma: no cover - old namespaces
        dtypes = {"float32": xp.float32, "float64": xp.float64}
    if key is not None:
        _float_dtypes_cache[key] = dtypes
    return dtypes


def accumulation_dtype(xp, device):
    """float64 where the device supports it, float32 otherwise.

    Statistics are always accumulated in this dtype (float32 input included),
    which is what keeps streaming statistics exact to float64 rounding.
    """
    dtypes = _real_float_dtypes(xp, device)
    return dtypes.get("float64", xp.float32)


_dtype_kinds = {}


def dtype_kind(xp, dtype):
    """ "half" (float16, torch's bfloat16), "real" (other floats, integers,
    bool), "complex" or "other": asked once per namespace and dtype
    (``isdtype`` costs microseconds per call)."""
    try:
        key = (xp.__name__, dtype)
        kind = _dtype_kinds.get(key)
    except TypeError:  # an unhashable dtype object
        key, kind = None, None
    if kind is None:
        if xp.isdtype(dtype, "complex floating"):
            kind = "complex"
        elif xp.isdtype(dtype, ("real floating", "integral", "bool")):
            kind = "real"
            try:
                if xp.isdtype(dtype, "real floating") and xp.finfo(dtype).bits == 16:
                    kind = "half"
            except (TypeError, ValueError, AttributeError):
                pass
        else:
            kind = "other"
        if key is not None:
            _dtype_kinds[key] = kind
    return kind


def is_half_float(xp, dtype) -> bool:
    """True for the 16-bit floats (float16, torch's bfloat16)."""
    try:
        return dtype_kind(xp, dtype) == "half"
    except (TypeError, ValueError, AttributeError):
        return False  # not a dtype the namespace knows


def output_float_dtype(xp, device, dtype):
    """The float dtype an input of ``dtype`` is normalized in.

    float16 (and torch's bfloat16), float32 and float64 are kept, NumPy's in
    native byte order (a big-endian float32 gives float32); integers,
    booleans and other dtypes become the accumulation dtype (float64 where
    available).
    """
    if isinstance(dtype, np.dtype) and not dtype.isnative:
        dtype = dtype.newbyteorder("=")
    if dtype == xp.float32 or dtype == xp.float64:
        if dtype == xp.float64 and "float64" not in _real_float_dtypes(xp, device):
            return xp.float32  # pragma: no cover - float64-less devices
        return dtype
    if is_half_float(xp, dtype):
        return dtype
    return accumulation_dtype(xp, device)


def compute_float_dtype(xp, dtype):
    """The dtype a transform of ``dtype`` data computes in: float32 for the
    16-bit floats (the result is rounded to them once, at the end, as torch
    computes half precision), ``dtype`` itself otherwise."""
    return xp.float32 if is_half_float(xp, dtype) else dtype


def requires_grad(a) -> bool:
    """Whether ``a`` is a tensor that autograd records (torch)."""
    return bool(getattr(a, "requires_grad", False))


def detached(a):
    """``a`` without its autograd graph (the same memory), as BatchNorm's
    running statistics are taken from detached values: statistics never
    hold a graph (it would grow with every batch, and ``copy.deepcopy``
    refuses non-leaf tensors)."""
    if a is None or type(a) is np.ndarray:
        return a  # every NumPy batch: no attribute lookup that fails
    return a.detach() if requires_grad(a) else a


def _same_device(a, b) -> bool:
    try:
        return bool(a == b)
    except Exception:  # pragma: no cover - exotic device objects
        return str(a) == str(b)


def check_same_namespace(estimator, method, X, fitted):
    """Raise if ``X`` is not in the namespace and on the device of ``fitted``.

    scikit-learn's ``check_array_api_same_namespace`` expects the message to
    contain "must use the same namespace" and ``"Estimator.method()"``.
    """
    if fitted is None:
        return
    if type(X) is type(fitted) and _same_device(array_device(fitted), array_device(X)):
        return  # the common case, without the namespace lookups
    xp_fit = namespace_of(fitted)
    xp_x = namespace_of(X)
    name = type(estimator).__name__
    if xp_fit.__name__ != xp_x.__name__:
        raise ValueError(
            f"{name}.{method}(): inputs must use the same namespace as the data "
            f"the estimator was fitted on: fitted on {xp_fit.__name__} arrays, got "
            f"{xp_x.__name__}. Convert X to the fitting namespace (sknorm never "
            "moves data between devices silently), or refit."
        )
    dev_fit, dev_x = array_device(fitted), array_device(X)
    if not _same_device(dev_fit, dev_x):
        raise ValueError(
            f"{name}.{method}(): inputs must use the same namespace and device as "
            f"the data the estimator was fitted on: fitted on device {dev_fit!r}, "
            f"got {dev_x!r}. Move X to that device (sknorm never moves data "
            "silently), or refit."
        )


def move_to_namespace(a, xp, device):
    """Move a small auxiliary array (``sample_weight``) to ``xp``/``device``.

    scikit-learn's convention is that everything follows ``X``: auxiliary
    arrays from another namespace are converted.  DLPack is tried first (zero
    copy when the device matches); a host copy is only used for CPU arrays.
    """
    if a is None:
        return None
    if not array_api_compat.is_array_api_obj(a):
        return xp.asarray(np.asarray(a), device=device)
    src_xp = namespace_of(a)
    if src_xp.__name__ == xp.__name__:
        if _same_device(array_device(a), device):
            return a
        return xp.asarray(a, device=device, copy=True)
    try:
        return xp.from_dlpack(a, device=device)
    except Exception:
        return xp.asarray(np.asarray(a), device=device)
