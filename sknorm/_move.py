"""Moving a fitted estimator to another array namespace or device.

Fit on a GPU, serve on CPUs: :func:`move_estimator` returns a copy whose
fitted arrays (the state tuples' fields, ``ZCAWhitening``'s cached
matrices, array parameters such as ``MiniBatchNormalizer``'s ``scale``) all
live in the target namespace and on the target device.  Values are copied
exactly (DLPack where the libraries can exchange the memory, else through
host memory); float64 stays float64 unless the target device has no
float64 (then float32, as scikit-learn's converter does).  The copy shares
no array with the original, so either can go on with ``partial_fit``.

The same walk serves scikit-learn's ``move_estimator_to``: the estimators'
``__sklearn_array_api_convert__`` (and the state types', see
:mod:`sknorm._naming`) apply scikit-learn's converter to every array of
the state, where its generic walk would stop at the state tuples.
"""

from __future__ import annotations

import copy
import importlib

import array_api_compat
import numpy as np

from ._array_api import accumulation_dtype, detached, namespace_of
from ._callbacks import FIT_TIME_STATE
from ._naming import convert_array

__all__ = [
    "ArrayConversion",
    "converted_copy",
    "host_copy",
    "move_estimator",
    "to_host",
]

# Libraries whose own module is not an Array API namespace: array-api-compat
# wraps them (the namespace sknorm's kernels are selected by).
_WRAPPED = ("numpy", "torch", "cupy")
# What a library raises when two cannot exchange an array by DLPack (or an
# older one does not know from_dlpack's device/copy arguments).
_DLPACK_ERRORS = (
    AttributeError,
    TypeError,
    NotImplementedError,
    BufferError,
    ValueError,
    RuntimeError,
)


def _where(name):
    return f"{name}(): "


def resolve_namespace(namespace, caller="move_estimator"):
    """The Array API namespace named by a module or its import name."""
    module = namespace
    if isinstance(namespace, str):
        try:
            module = importlib.import_module(namespace)
        except ImportError as exc:
            raise ValueError(
                _where(caller) + f"namespace {namespace!r} cannot be imported "
                f"({exc}); pass an installed array library such as 'numpy', "
                "'torch', 'cupy' or 'array_api_strict'."
            ) from exc
    name = getattr(module, "__name__", None)
    if name in _WRAPPED:
        return importlib.import_module(f"array_api_compat.{name}")
    if hasattr(module, "__array_namespace_info__") and hasattr(module, "asarray"):
        return module
    raise TypeError(
        _where(caller) + f"{namespace!r} is not an array namespace; pass a "
        "module such as numpy, torch, cupy or array_api_strict, or its name."
    )


def to_host(a):
    """A NumPy copy of any array (a device array is copied to the host)."""
    a = detached(a)  # a tensor that requires grad refuses DLPack, .numpy()
    if isinstance(a, np.ndarray):
        return a.copy()
    try:
        return np.from_dlpack(a, device="cpu", copy=True)
    except _DLPACK_ERRORS:
        pass
    if array_api_compat.is_cupy_array(a):
        return a.get()
    if array_api_compat.is_torch_array(a):
        return a.cpu().numpy().copy()
    return np.array(a, copy=True)


def move_array(a, xp, device):
    """A copy of the array ``a`` in namespace ``xp`` on ``device``, same
    values; float64 becomes float32 only where ``device`` has no float64."""
    a = detached(a)
    source = namespace_of(a)
    if a.dtype == source.float64 and accumulation_dtype(xp, device) != xp.float64:
        a = source.astype(a, source.float32)
    if source.__name__ == xp.__name__:
        return xp.asarray(a, device=device, copy=True)
    try:
        return xp.from_dlpack(a, device=device, copy=True)
    except _DLPACK_ERRORS:
        # No DLPack route between these two (e.g. a GPU array to a CPU-only
        # library, an older library): through host memory.
        return xp.asarray(to_host(a), device=device, copy=True)


class _Mover:
    """``move_array`` to one place, once per array: arrays the state shares
    (ZScore's total weight is also a field of its moments) stay shared."""

    def __init__(self, xp, device):
        self.xp = xp
        self.device = device
        self._memo = {}

    def __call__(self, a):
        hit = self._memo.get(id(a))
        if hit is None:
            hit = self._memo[id(a)] = (a, move_array(a, self.xp, self.device))
        return hit[1]


def _is_numeric(a):
    # Feature names (NumPy object or string arrays) stay where they are: no
    # other namespace holds strings.
    return not isinstance(a, np.ndarray) or a.dtype.kind in "biufc"


def _converted(value, converter, drop):
    if isinstance(value, type):
        return value
    if isinstance(value, ArrayConversion):
        return converted_copy(value, converter, drop=drop)
    hook = getattr(value, "__sklearn_array_api_convert__", None)
    if hook is not None:
        return hook(converter)
    if array_api_compat.is_array_api_obj(value):
        return convert_array(value, converter) if _is_numeric(value) else value
    kind = type(value)
    if kind is dict:
        return {k: _converted(v, converter, drop) for k, v in value.items()}
    if kind in (list, tuple):
        return kind(_converted(v, converter, drop) for v in value)
    if hasattr(value, "get_params"):  # another estimator, e.g. a Pipeline
        return converted_copy(value, converter, drop=drop)
    return value


def converted_copy(estimator, converter, *, drop=FIT_TIME_STATE):
    """A copy of ``estimator`` whose arrays are ``converter(array)``.

    Attributes and parameters alike (nested estimators and state objects
    included); the attributes named in ``drop`` are left out (by default
    the callbacks' fit-time contexts; persistence drops the callbacks too).
    """
    moved = copy.copy(estimator)
    moved.__dict__.clear()
    moved.__dict__.update(
        {
            key: _converted(value, converter, drop)
            for key, value in vars(estimator).items()
            if key not in drop
        }
    )
    return moved


class ArrayConversion:
    """scikit-learn's array conversion hook for sknorm estimators."""

    def __sklearn_array_api_convert__(self, converter):
        """A copy whose arrays, fitted state included, are converted.

        Called by ``sklearn.utils._array_api.move_estimator_to`` (1.9+) with
        a function that moves one array; see also :func:`move_estimator`.
        """
        return converted_copy(self, converter)


def host_copy(obj, *, drop=FIT_TIME_STATE):
    """``obj`` (an estimator, or containers of them) with every array copied
    to a host NumPy array, the attributes in ``drop`` left out."""
    return _converted(obj, _Mover(resolve_namespace("numpy"), "cpu"), drop)


def default_device(xp):
    return xp.__array_namespace_info__().default_device()


def move_estimator(estimator, namespace, device=None):
    """A copy of a fitted estimator with every array in ``namespace``.

    Fit on a GPU, serve on CPUs (or the other way round): the copy's fitted
    arrays, the running statistics inside its state included, live in
    ``namespace`` on ``device``, so it transforms arrays of that namespace
    and can go on with ``partial_fit`` there.  Values are copied exactly:
    on the same dtype and kernel path the copy transforms to the same bits.
    Works on pipelines and other estimators holding sknorm estimators too.

    Parameters
    ----------
    estimator : estimator
        A sknorm estimator, fitted or not, or an estimator holding some
        (e.g. a :class:`~sklearn.pipeline.Pipeline`).
    namespace : module or str
        The target array library: ``numpy``, ``torch``, ``cupy``,
        ``array_api_strict`` (any Array API namespace), or its import name.
    device : device, default=None
        The target device in that namespace (``"cuda"``, ``"cpu"``,
        ``cupy.cuda.Device(1)`` ...); None is the namespace's default device.

    Returns
    -------
    moved : estimator
        A new estimator sharing no array with ``estimator`` (callbacks set
        with ``set_callbacks`` are shared, as ``sklearn.base.clone`` does).
        float64 state stays float64 unless the target device has no float64
        (float32 then).

    See Also
    --------
    sknorm.io.dump : saves an estimator as NumPy arrays, wherever it was
        fitted.

    Notes
    -----
    Moving between devices is explicit here on purpose: sknorm never moves
    data silently, so an estimator fitted on a GPU refuses CPU arrays until
    it is moved.  scikit-learn 1.9's ``move_estimator_to`` gives the same
    result through the estimators' ``__sklearn_array_api_convert__`` hook.

    Examples
    --------
    >>> import numpy as np
    >>> import array_api_strict as xps
    >>> from sknorm import ZScore, move_estimator
    >>> X = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 8.0]])
    >>> scaler = ZScore().fit(xps.asarray(X))  # fitted on another library
    >>> served = move_estimator(scaler, "numpy")
    >>> served.transform(X[:1])
    array([[-1.22474487, -1.01904933]])
    >>> bool(np.array_equal(served.mean_, np.asarray(scaler.mean_)))
    True
    """
    xp = resolve_namespace(namespace)
    if not hasattr(estimator, "get_params") or isinstance(estimator, type):
        raise TypeError(
            _where("move_estimator") + f"expected an estimator, got "
            f"{type(estimator).__name__}."
        )
    if device is None:
        device = default_device(xp)
    return _converted(estimator, _Mover(xp, device), FIT_TIME_STATE)
