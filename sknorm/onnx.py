"""Serve sknorm estimators anywhere: ONNX export through skl2onnx.

Needs the ``onnx`` extra (``pip install "sknorm[onnx]"``: skl2onnx and
onnxruntime); ``import sknorm`` does not import it.  Importing this module
registers a shape calculator and a converter with skl2onnx for every
sknorm estimator, so that skl2onnx's own ``to_onnx(model, X[:1])``
converts pipelines and column transformers that hold them, next to
scikit-learn's steps.  :func:`to_onnx` converts one estimator (or
pipeline) for N-D input with a ``channel_axis`` too, and checks the model.

What each estimator becomes:

========================  ==================================================
MinMax                    ``Sub``, ``Mul``, ``Add`` (+ ``Clip`` with
                          ``clip=True``); a fixed ``data_range`` needs no fit
ZScore                    ``Sub``, ``Mul`` (each only when enabled)
ZCAWhitening              ``Sub``, ``MatMul`` by the fitted matrix
MiniBatchNormalizer       ``Sub`` of the running mean, then
                          ``BatchNormalization`` (channels on axis 1; other
                          channel axes: ``Mul``, ``Add``)
LocalResponseNormalizer   ``LRN`` (float32, odd ``size``, channels on axis
                          1), else the window sum from ``Pad``/``Slice``/
                          ``Add`` and ``Pow``
========================  ==================================================

float32 and float64 input give graphs of that dtype with the fitted state
stored in it; float16 input is computed in float32 and rounded to float16
once (as the estimators do); integer input becomes float64 (as in
``transform``).
"""

from __future__ import annotations

try:
    import onnx as _onnx_module  # noqa: F401
    import skl2onnx as _skl2onnx  # noqa: F401
except ImportError as exc:  # pragma: no cover - the extra is installed in CI
    raise ImportError(
        "sknorm.onnx needs skl2onnx and onnx (the onnx extra): pip install "
        f"'sknorm[onnx]' ({exc})."
    ) from exc

from ._onnx.export import to_onnx as _to_onnx
from ._onnx.registry import register_all as _register_all

__all__ = ["to_onnx"]

_register_all()


def to_onnx(estimator, X_sample, *, target_opset=None):
    """Convert a fitted estimator to a checked ONNX model.

    The one call for what skl2onnx's own entry cannot express: N-D input
    with a ``channel_axis`` (``(N, C, H, W)`` or channels-last; the sizes
    other than the channels are left free), and estimators fitted on CuPy
    or torch (their state is read to the host once, as
    :func:`sknorm.move_estimator` does).  Pipelines holding sknorm
    estimators are converted too; after ``import sknorm.onnx``,
    ``skl2onnx.to_onnx(pipeline, X[:1])`` works as well for 2-D input.

    Parameters
    ----------
    estimator : estimator
        A fitted sknorm estimator (``MinMax`` with a ``data_range`` and
        ``LocalResponseNormalizer`` need no fit), or a scikit-learn
        pipeline or column transformer holding some.
    X_sample : array-like
        A sample of the input, e.g. ``X[:1]`` (NumPy, CuPy, torch, pandas):
        its dtype and shape set the graph's input (float32 / float64 /
        float16 / integers; see the module docstring for the dtype rules).
    target_opset : int, default=None
        The ONNX opset; None is skl2onnx's default.  13 or later.

    Returns
    -------
    model : onnx.ModelProto
        Checked with ``onnx.checker.check_model``; run it with
        onnxruntime.  Input ``"X"``, one output.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        The estimator needs a fit and has none.
    ValueError, TypeError
        A configuration or input the graph cannot express; the message
        names the estimator and what to do.  Nothing is returned half
        converted.

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime as ort
    >>> import sknorm.onnx
    >>> from sknorm import MiniBatchNormalizer
    >>> X = np.random.default_rng(0).normal(5.0, 2.0, size=(64, 3, 4, 4))
    >>> bn = MiniBatchNormalizer(channel_axis=1).fit(X)
    >>> model = sknorm.onnx.to_onnx(bn, X[:1])
    >>> [node.op_type for node in model.graph.node]
    ['Sub', 'BatchNormalization']
    >>> session = ort.InferenceSession(model.SerializeToString())
    >>> (Y,) = session.run(None, {"X": X[:5, :, :2, :3]})  # any spatial size
    >>> bool(np.allclose(Y, bn.transform(X[:5, :, :2, :3]), rtol=1e-12))
    True
    """
    return _to_onnx(estimator, X_sample, target_opset=target_opset)
