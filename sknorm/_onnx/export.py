"""``sknorm.onnx.to_onnx``: one estimator (or pipeline) and a sample of its
input to a checked ONNX model, N-D channel layouts included.

skl2onnx's own ``to_onnx(model, X[:1])`` keeps the sample's shape, with
every size but the first fixed; for an estimator with a ``channel_axis``
only the number of dimensions and of channels are part of the fit (the
other sizes may differ from batch to batch), so here they are left free
too.  The estimator is copied to the host once (fitted on CuPy or torch:
its arrays read once, as :func:`sknorm.move_estimator` does).
"""

from __future__ import annotations

import array_api_compat
import numpy as np
import onnx
import skl2onnx
from skl2onnx.algebra.type_helper import guess_initial_types

from .._move import host_copy, to_host
from .glue import check_exportable, prepare
from .table import converter_for

__all__ = ["to_onnx"]


def _is_frame(X):
    return hasattr(X, "columns") and hasattr(X, "dtypes")


def _sample(X_sample):
    """The sample as a host NumPy array (device arrays copied once)."""
    if array_api_compat.is_array_api_obj(X_sample) and not isinstance(
        X_sample, np.ndarray
    ):
        return to_host(X_sample)
    return np.asarray(X_sample)


def _sknorm_parts(estimator):
    """The sknorm estimators in ``estimator`` (itself, or a pipeline's)."""
    parts = [estimator] if converter_for(estimator) is not None else []
    if hasattr(estimator, "get_params"):
        parts += [
            v
            for v in estimator.get_params(deep=True).values()
            if hasattr(v, "get_params") and converter_for(v) is not None
        ]
    return parts


def _initial_types(estimator, X):
    (name, tensor_type), *_ = guess_initial_types(X, None)
    shape = [None, *X.shape[1:]]
    if getattr(estimator, "channel_axis", None) is not None and X.ndim > 2:
        axis = int(estimator.channel_axis) % X.ndim
        shape = [d if a == axis else None for a, d in enumerate(shape)]
    return [(name, type(tensor_type)(shape))]


def to_onnx(estimator, X_sample, *, target_opset=None):
    """Convert a fitted estimator (or a pipeline holding sknorm estimators)
    to a checked ONNX model; see :func:`sknorm.onnx.to_onnx`."""
    if not hasattr(estimator, "get_params") or isinstance(estimator, type):
        raise TypeError(
            f"sknorm.onnx.to_onnx(): expected a fitted estimator, got "
            f"{type(estimator).__name__}."
        )
    parts = _sknorm_parts(estimator)
    for part in parts:
        check_exportable(part)  # before anything is copied or converted
    for part in parts:
        prepare(part)  # derived matrices where the state lives, then one copy
    host = host_copy(estimator)
    if _is_frame(X_sample):
        initial_types = guess_initial_types(X_sample, None)
    else:
        X = _sample(X_sample)
        if X.ndim < 2:
            raise ValueError(
                f"{type(estimator).__name__} (ONNX export): X_sample has shape "
                f"{X.shape}; pass a sample of the input, (n_samples, "
                "n_features) or (n_samples, ..., n_channels, ...), e.g. X[:1]."
            )
        initial_types = _initial_types(estimator, X)
    model = skl2onnx.to_onnx(
        host, initial_types=initial_types, target_opset=target_opset
    )
    onnx.checker.check_model(model)
    return model
