"""The per-feature affine family: ``y = (x - center) * scale + offset``.

:func:`affine` builds the map from per-feature arrays (any term may be
absent, a division may replace the product), broadcast along the features
of any layout; :func:`convert_affine` gives it the very terms an
:class:`~sknorm._base.AffineNormalizer`'s ``transform`` hands its kernel
(``_affine_terms``), so the graph evaluates the same operations in the
same order and dtype: MinMax, ZScore, and any later estimator of that
base (MaxAbs, Robust) without a line of its own.  skl2onnx's own scaler
converter uses ``Sub``/``Div``/``Mul`` too: ``ai.onnx.ml``'s ``Scaler``
outputs float32 only.
"""

from __future__ import annotations

import array_api_compat.numpy as xp_numpy
import numpy as np

__all__ = [
    "affine",
    "affine_terms",
    "convert_affine",
    "convert_maxabs",
    "convert_minmax",
]


def affine(g, x, layout, *, center=None, scale=None, divisor=None, offset=None):
    """``((x - center) * scale) + offset``, or ``/ divisor`` for the product.

    Parameters
    ----------
    g : Graph
        The emitter (its dtype is the dtype the constants are stored in).
    x : str
        The input's name.
    layout : InputLayout
        Where the features are; per-feature arrays broadcast along them.
    center, scale, divisor, offset : array-like or None
        Scalars or one value per feature; None leaves the step out.
        ``scale`` and ``divisor`` exclude each other.

    Returns
    -------
    name : str
        The output's name (``x`` itself when every term is None).
    """
    if scale is not None and divisor is not None:
        raise ValueError("affine(): pass scale or divisor, not both.")
    y = x
    for op, term, name in (
        ("Sub", center, "center"),
        ("Mul", scale, "scale"),
        ("Div", divisor, "divisor"),
        ("Add", offset, "offset"),
    ):
        if term is not None:
            y = g.op(op, y, g.const(layout.broadcast(term), name=name))
    return y


def affine_terms(estimator, dtype):
    """``(center, scale, offset)`` of an affine estimator's ``transform``,
    in the dtype it computes in (a fitted estimator's host copy)."""
    n = getattr(estimator, "n_features_in_", 1)
    probe = np.empty((0, n), dtype=dtype)
    return estimator._affine_terms(probe, xp_numpy)


def convert_affine(estimator, g, x, layout):
    """Any :class:`~sknorm._base.AffineNormalizer` without a postprocess."""
    center, scale, offset = affine_terms(estimator, g.dtype)
    return affine(g, x, layout, center=center, scale=scale, offset=offset)


def convert_maxabs(estimator, g, x, layout):
    """MaxAbs: the affine map, then ``Clip`` to ``[-1, 1]`` with
    ``clip=True``."""
    y = convert_affine(estimator, g, x, layout)
    if not estimator.clip:
        return y
    return g.op("Clip", y, g.const(-1.0, name="lo"), g.const(1.0, name="hi"))


def convert_minmax(estimator, g, x, layout):
    """MinMax: the affine map, then ``Clip`` to ``feature_range`` with
    ``clip=True`` (``Clip`` keeps NaN, as ``np.clip`` does)."""
    y = convert_affine(estimator, g, x, layout)
    if not estimator.clip:
        return y
    lo, hi = (float(v) for v in estimator.feature_range)
    return g.op("Clip", y, g.const(lo, name="lo"), g.const(hi, name="hi"))
