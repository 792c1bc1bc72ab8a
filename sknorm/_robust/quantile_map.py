"""The map of ``Quantile``: each feature through its empirical distribution.

The operations of scikit-learn's ``QuantileTransformer._transform_col``, in
the same order, for all the columns at once and on any Array API backend:

* forward: ``np.interp`` through the quantiles onto the references, and the
  same interpolation of the reversed (negated) quantiles, averaged (repeated
  quantiles then map to the middle of their references, not to one end);
  the values at the ends (``uniform``: equal to the first or last quantile;
  ``normal``: within ``BOUNDS_THRESHOLD`` of them) set to 0 and 1; for the
  normal output ``norm.ppf``, clipped to the values of ``BOUNDS_THRESHOLD -
  spacing(1)`` and its complement, so that the inverse stays consistent;
* inverse: for the normal output ``norm.cdf`` first, then ``np.interp``
  through the references onto the quantiles, the ends set to the extreme
  quantiles.

NaN stays NaN.  The map is computed in the quantiles' dtype (float64 where
the device has it) and the result is given in X's dtype; for the normal
output of float32 (or 16-bit) data the uniform value is rounded to X's
dtype before the ppf, as scikit-learn's in-place column does.
"""

from __future__ import annotations

import numpy as np

from .._array_api import array_device, compute_float_dtype, namespace_of
from .._kernels import quantile_kernels_for
from .normal import ndtr, ndtri

__all__ = ["BOUNDS_THRESHOLD", "forward", "inverse"]

#: scikit-learn's ``preprocessing._data.BOUNDS_THRESHOLD``.
BOUNDS_THRESHOLD = 1e-7
_CLIP = BOUNDS_THRESHOLD - float(np.spacing(1))


def _clip_bounds():
    """``norm.ppf(BOUNDS_THRESHOLD - spacing(1))`` and its mirror (host
    floats, as scikit-learn computes them)."""
    from scipy import stats

    return float(stats.norm.ppf(_CLIP)), float(stats.norm.ppf(1 - _CLIP))


def _end_masks(xp, X, low, high, normal):
    if normal:
        return X - BOUNDS_THRESHOLD < low, X + BOUNDS_THRESHOLD > high
    return X == low, X == high


def _references(xp, references, quantiles):
    """The references as a ``(k, n_features)`` array of the quantiles'
    dtype, on their device."""
    device = array_device(quantiles)
    r = xp.asarray(references, dtype=quantiles.dtype, device=device)
    return xp.broadcast_to(xp.reshape(r, (-1, 1)), quantiles.shape)


def forward(X, quantiles, references, output_distribution):
    """The forward map of X ``(n, n_features)`` through ``quantiles``
    ``(k, n_features)`` onto ``references`` ``(k,)``: a new array in the
    quantiles' dtype (the uniform value rounded to X's dtype first, for the
    normal output, as scikit-learn's column of X's dtype holds it)."""
    xp = namespace_of(quantiles)
    given = X.dtype
    X = xp.astype(X, quantiles.dtype)
    normal = output_distribution == "normal"
    kernels = quantile_kernels_for(xp)
    Y = _compiled_map(kernels, X, quantiles, references, output_distribution, False)
    if Y is None:
        R = _references(xp, references, quantiles)
        ahead = kernels.interp_columns(X, quantiles, R)
        flipped = (-xp.flip(quantiles, axis=0), -xp.flip(R, axis=0))
        Y = 0.5 * (ahead - kernels.interp_columns(-X, *flipped))
        low, high = quantiles[:1, :], quantiles[-1:, :]
        at_low, at_high = _end_masks(xp, X, low, high, normal)
        one, zero = xp.ones_like(Y), xp.zeros_like(Y)
        Y = xp.where(at_high, one, Y)
        Y = xp.where(at_low, zero, Y)
    if normal:
        if given != Y.dtype:
            # scikit-learn writes the uniform value into X's column before
            # the ppf (16-bit floats: SciPy computes their ppf in float32).
            Y = xp.astype(xp.astype(Y, given), compute_float_dtype(xp, given))
        with np.errstate(divide="ignore"):  # ppf(0) = -inf, clipped below
            Y = ndtri(xp, Y)
        lo, hi = _clip_bounds()
        Y = xp.clip(Y, lo, hi)
    return Y


def inverse(X, quantiles, references, output_distribution):
    """The inverse map: X in the output's space back to the features'."""
    xp = namespace_of(quantiles)
    X = xp.astype(X, quantiles.dtype)
    normal = output_distribution == "normal"
    if normal:
        X = ndtr(xp, X)
    kernels = quantile_kernels_for(xp)
    Y = _compiled_map(kernels, X, quantiles, references, output_distribution, True)
    if Y is not None:
        return Y
    at_low, at_high = _end_masks(xp, X, 0.0, 1.0, normal)
    R = _references(xp, references, quantiles)
    Y = kernels.interp_columns(X, R, quantiles)
    shape = Y.shape
    Y = xp.where(at_high, xp.broadcast_to(quantiles[-1:, :], shape), Y)
    return xp.where(at_low, xp.broadcast_to(quantiles[:1, :], shape), Y)


def _compiled_map(kernels, X, quantiles, references, output_distribution, inverse):
    """The interpolation and the end masks in one compiled pass, where the
    kernel module has one (NumPy with numba); None otherwise."""
    fused = getattr(kernels, "quantile_map", None)
    if fused is None:
        return None
    return fused(X, quantiles, references, output_distribution, inverse)
