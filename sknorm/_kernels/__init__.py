"""Per-backend hot loops behind one small interface.

Every backend module exposes the same functions (see :mod:`.generic`, the
reference implementation that is correct on every Array API namespace):

``moments(X, shift, weights, dtype)``
    per-feature NaN-aware weighted count, observation count, mean and
    population variance of ``X - shift``;
``min_max(X)``
    per-feature NaN-aware minimum and maximum;
``comoments(X, shift, weights, dtype)``
    total weight, mean of ``X - shift`` and population covariance matrix;
``affine(X, center, scale, offset, copy)``
    ``(X - center) * scale + offset`` per feature, any term may be None;
``linear(X, center, matrix, copy)``
    ``(X - center) @ matrix.T``.

Fast paths (NumPy in cache-sized blocks, CuPy fused kernels) register
themselves in :func:`kernels_for` and must give the generic path's numbers
within float rounding.
"""

from __future__ import annotations

from .._array_api import is_numpy_namespace
from . import generic

__all__ = ["kernels_for"]


def kernels_for(xp):
    """The kernel module for namespace ``xp``."""
    if is_numpy_namespace(xp):
        from . import numpy_blocked

        return numpy_blocked
    return generic
