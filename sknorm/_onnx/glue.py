"""The shape calculator and the converter skl2onnx calls for every sknorm
estimator: the checks, dtype rules and input handling shared by all, around
the estimator's own builder from :mod:`.table`.

Dtype rules (the estimator's own ``transform`` rules, so the graph gives
its numbers):

* float32 and float64 input: a graph of that dtype, the fitted state
  stored in it (the kernels cast the fitted terms to the input's dtype);
* float16 input: computed in float32 and rounded to float16 once at the
  end, as the estimators compute half precision (a ``Cast`` in, one out);
* integer and boolean input: cast to float64, as ``transform`` does (its
  output is float64);
* several input tensors (skl2onnx makes one per column of a DataFrame):
  concatenated along the features, float32 if all are float32, else
  float64; 2-D only.

The fitted state is read to the host once, by :func:`sknorm._move.host_copy`
(what ``move_estimator(estimator, "numpy")`` does), after the
estimator's lazily derived matrices are computed where it lives.
"""

from __future__ import annotations

import numpy as np
from onnx.helper import np_dtype_to_tensor_dtype, tensor_dtype_to_np_dtype
from skl2onnx.common.data_types import (
    DoubleTensorType,
    Float16TensorType,
    FloatTensorType,
)
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from .._channels.validation import _check_mode
from .._move import host_copy
from .graph import Graph, InputLayout
from .table import converter_for

__all__ = [
    "MIN_OPSET",
    "alias",
    "check_exportable",
    "convert",
    "parser",
    "prefix",
    "shape_calculator",
]

# GatherElements (11), LessOrEqual (12), Clip and Min/Max of int64 (12,
# 13): the converters target opset 13 or later.
MIN_OPSET = 13

_TENSOR_TYPES = {
    np.dtype(np.float16): Float16TensorType,
    np.dtype(np.float32): FloatTensorType,
    np.dtype(np.float64): DoubleTensorType,
}


def alias(cls):
    """The name a class is registered under with skl2onnx."""
    return f"Sknorm{cls.__name__}"


def prefix(estimator):
    """The start of every message: which estimator failed to convert."""
    return f"{type(estimator).__name__} (ONNX export): "


def is_fitted(estimator):
    """sknorm's own test, scikit-learn's for other registered classes."""
    if hasattr(estimator, "_is_fitted"):
        return estimator._is_fitted()
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        return False
    return True


def prepare(estimator):
    """Compute what ``transform`` derives lazily from the fitted state
    (ZCAWhitening's matrix), where the state lives."""
    if hasattr(estimator, "_prepare_transform") and is_fitted(estimator):
        estimator._prepare_transform("transform")


def check_exportable(estimator):
    """Raise unless ``estimator``'s ``transform`` can become a graph now."""
    name = type(estimator).__name__
    if converter_for(estimator) is None:
        raise TypeError(prefix(estimator) + f"sknorm has no ONNX converter for {name}.")
    if estimator.__sklearn_tags__().requires_fit and not is_fitted(estimator):
        raise NotFittedError(
            prefix(estimator) + f"this {name} is not fitted; call fit (or "
            "partial_fit) before converting it to ONNX."
        )
    estimator._validate_params()
    if hasattr(estimator, "_check_call"):
        estimator._check_call(np.empty((0, 0)), "transform")
    if hasattr(estimator, "_is_fitted") and (
        getattr(estimator, "channel_axis", None) is not None
        or "_channel_axis_" in estimator.__dict__
    ):  # a set_params(channel_axis=...) after the fit
        _check_mode(estimator, "transform")


def _dtype_of(estimator, variable):
    try:
        proto = variable.type.to_onnx_type().tensor_type.elem_type
        dtype = np.dtype(tensor_dtype_to_np_dtype(proto))
    except (AttributeError, KeyError, NotImplementedError, TypeError):
        dtype = None
    if dtype is None or dtype.kind not in "fiub":
        raise TypeError(
            prefix(estimator) + f"the input {variable.onnx_name!r} has type "
            f"{type(variable.type).__name__}; pass a tensor of real numbers "
            "(float32, float64, float16 or integers)."
        )
    return dtype


def dtypes(estimator, inputs):
    """``(io_dtype, compute_dtype)``: the output's dtype and the dtype the
    graph computes in (see the module docstring)."""
    kinds = [_dtype_of(estimator, v) for v in inputs]
    if len(kinds) == 1:
        io = kinds[0] if kinds[0].kind == "f" else np.dtype(np.float64)
    elif all(k == np.float32 for k in kinds):
        io = np.dtype(np.float32)
    else:
        io = np.dtype(np.float64)
    compute = np.dtype(np.float32) if io == np.float16 else io
    return io, compute


def _shape(variable):
    shape = getattr(variable.type, "shape", None)
    return list(shape) if shape else [None, None]


def _known(dim):
    return dim if isinstance(dim, int | np.integer) and dim >= 0 else None


def layout_of(estimator, inputs):
    """The :class:`InputLayout` of the input (checked against the estimator)."""
    name = type(estimator).__name__
    shapes = [_shape(v) for v in inputs]
    rank = len(shapes[0])
    channel_axis = getattr(estimator, "channel_axis", None)
    if len(inputs) > 1:
        if any(len(s) != 2 for s in shapes):
            raise ValueError(
                prefix(estimator) + "several input tensors are concatenated "
                "along the features, which needs 2-D tensors; pass one N-D "
                "tensor instead."
            )
        widths = [_known(s[1]) for s in shapes]
        channels = None if None in widths else sum(widths)
        axis = 1
    elif channel_axis is None:
        if rank != 2:
            raise ValueError(
                prefix(estimator) + f"the input has {rank} dimensions; {name} "
                "with channel_axis=None transforms 2-D (n_samples, n_features) "
                "input. Pass 2-D input, or set channel_axis (and refit) for "
                "per-channel statistics of N-D input."
            )
        axis, channels = 1, _known(shapes[0][1])
    else:
        axis = int(channel_axis)
        if not -rank <= axis < rank or axis % rank == 0:
            raise ValueError(
                prefix(estimator) + f"channel_axis={channel_axis} is not an "
                f"axis of the {rank}-D input other than the samples (axis 0); "
                "pass input of the layout the estimator was fitted on."
            )
        axis %= rank
        fitted_ndim = estimator.__dict__.get("_ndim_in_")
        if fitted_ndim is not None and fitted_ndim != rank:
            raise ValueError(
                prefix(estimator) + f"the input has {rank} dimensions, but "
                f"{name} was fitted on {fitted_ndim}-D arrays with "
                f"channel_axis={channel_axis}; pass a sample with the same "
                "number of dimensions (the other sizes may differ)."
            )
        channels = _known(shapes[0][axis])
    expected = getattr(estimator, "n_features_in_", None)
    if channels is not None and expected is not None and channels != expected:
        raise ValueError(
            prefix(estimator) + f"the input has {channels} features along axis "
            f"{axis}, but {name} was fitted on {expected}; pass input with the "
            "features it was fitted on."
        )
    return InputLayout(rank, axis, expected if channels is None else channels)


def _output_shape(estimator, inputs, layout):
    entry = converter_for(estimator)
    shape = [None] * layout.rank
    if len(inputs) == 1:
        shape = [_known(d) if isinstance(d, int) else d for d in _shape(inputs[0])]
    else:
        shape[0] = _shape(inputs[0])[0]
    width = layout.channels if entry.width is None else entry.width(estimator)
    shape[layout.axis] = width
    return shape


def parser(scope, model, inputs, custom_parsers=None):
    """skl2onnx's parser: one operator, one output of the output dtype
    (skl2onnx's default parser guesses it from the input's, wrongly for
    integers, and knows no float16; the next step's parser reads it), its
    shape set by :func:`shape_calculator`."""
    operator = scope.declare_local_operator(alias(type(model)), model)
    operator.inputs = inputs
    try:
        operator.feature_names_out_ = model.get_feature_names_out()
    except (AttributeError, ValueError):  # as skl2onnx's default parser
        operator.feature_names_out_ = None
    io, _ = dtypes(model, inputs)
    operator.outputs.append(
        scope.declare_local_variable("variable", _TENSOR_TYPES[io]())
    )
    return operator.outputs


def shape_calculator(operator):
    """skl2onnx's shape calculator: the output's type and shape."""
    estimator = operator.raw_operator
    check_exportable(estimator)
    io, _ = dtypes(estimator, operator.inputs)
    layout = layout_of(estimator, operator.inputs)
    operator.outputs[0].type = _TENSOR_TYPES[io](
        _output_shape(estimator, operator.inputs, layout)
    )


def _host_copy(estimator):
    """The estimator with its state on the host: derived matrices computed
    first where the state lives (ZCAWhitening's whitening matrix), so the
    copy holds the very matrix ``transform`` uses; then one copy."""
    prepare(estimator)
    return host_copy(estimator)


def _input(estimator, g, inputs):
    """The input's name in the compute dtype (several inputs: concatenated)."""
    names = []
    for variable in inputs:
        name = variable.full_name
        if _dtype_of(estimator, variable) != g.dtype:
            name = g.cast(name, g.dtype)
        names.append(name)
    if len(names) == 1:
        return names[0]
    return g.op("Concat", *names, axis=1)


def convert(scope, operator, container):
    """skl2onnx's converter: checks, input, the estimator's builder, output."""
    estimator = operator.raw_operator
    check_exportable(estimator)
    opset = container.target_opset
    if opset is not None and opset < MIN_OPSET:
        raise ValueError(
            prefix(estimator) + f"target_opset={opset} is too old; sknorm's "
            f"converters need opset {MIN_OPSET} or later (pass target_opset="
            f"{MIN_OPSET} or more, or None for skl2onnx's default)."
        )
    io, compute = dtypes(estimator, operator.inputs)
    layout = layout_of(estimator, operator.inputs)
    host = _host_copy(estimator)
    g = Graph(scope, container, compute)
    x = _input(estimator, g, operator.inputs)
    y = converter_for(estimator).build(host, g, x, layout)
    if io != compute:
        y = g.op("Cast", y, to=np_dtype_to_tensor_dtype(io))
    g.finish(y, operator.outputs[0].full_name)
