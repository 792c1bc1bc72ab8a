"""Ledoit-Wolf shrinkage of a covariance towards its diagonal, streamed.

The target is ``diag(Σ)`` (correlations shrunk towards 0, variances kept),
the "target D" of Schäfer & Strimmer (2005), with Ledoit & Wolf's (2004)
estimator of the optimal intensity, on the covariance scale:

    α = Σ_{j≠k} π_jk / n  /  Σ_{j≠k} s_jk²,   clipped to [0, 1],
    π_jk = mean_i (y_ij y_ik - s_jk)²  (y = x - mean, s = population cov).

This is :func:`sklearn.covariance.ledoit_wolf_shrinkage`'s formula with the
scaled identity target replaced by the diagonal: only off-diagonal entries
are shrunk, so only they enter numerator and denominator.  Summed over all
``j ≠ k`` the fourth moments collapse to two scalars,

    Σ_{j≠k} mean_i y_ij² y_ik² = mean_i ||y_i||⁴ - Σ_j mean_i y_ij⁴,

so the streaming state is small and mergeable: a few means of powers of
``d = x - shift`` (the co-moments' shift), from which the central moments
follow by binomial expansion with the co-moments' mean and covariance.
Weights are frequency weights (``n`` is their sum).
"""

from __future__ import annotations

from typing import NamedTuple

from .._array_api import array_device, namespace_of
from .._naming import state_type
from .._stats import weight_fractions

__all__ = [
    "FourthMoments",
    "fourth_moments_around",
    "ledoit_wolf_diagonal_shrinkage",
    "merge_fourth_moments",
    "update_fourth_moments",
]

# Elements per block of ``x - shift``: bounded temporaries on any device.
_BLOCK_ELEMENTS = 1 << 20


@state_type
class FourthMoments(NamedTuple):
    """Weighted means of powers of ``d = x - shift`` (the co-moments' shift).

    count : total weight (0-d)
    r4 : mean ||d||⁴ (0-d)
    r2d : mean ||d||² d (p,)
    d3 : mean d_j³ (p,)
    d4 : mean d_j⁴ (p,)
    """

    count: object
    r4: object
    r2d: object
    d3: object
    d4: object

    @classmethod
    def empty(cls, xp, n_features, dtype, device):
        """The moments of no rows (the neutral element of the merge)."""
        zero = xp.zeros((), dtype=dtype, device=device)
        zeros = xp.zeros((n_features,), dtype=dtype, device=device)
        return cls(zero, zero, zeros, zeros, zeros)


def _of_block(xp, X, w, shift, dtype):
    d = xp.astype(X, dtype) - shift
    d2 = d * d
    r2 = xp.sum(d2, axis=1)
    wr2 = w * r2
    return FourthMoments(
        count=xp.sum(w),
        r4=xp.sum(wr2 * r2),
        r2d=wr2 @ d,
        d3=w @ (d2 * d),
        d4=w @ (d2 * d2),
    )


def _normalised(xp, state):
    """Sums -> means (the form that is merged and stored)."""
    safe = xp.where(state.count > 0, state.count, 1.0)
    return FourthMoments(
        state.count,
        state.r4 / safe,
        state.r2d / safe,
        state.d3 / safe,
        state.d4 / safe,
    )


def fourth_moments_of_batch(X, sample_weight, dtype, shift):
    xp = namespace_of(X)
    n, p = X.shape
    rows = max(1, _BLOCK_ELEMENTS // max(p, 1))
    state = None
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        block = X[start:stop, :]
        if sample_weight is None:
            w = xp.ones((block.shape[0],), dtype=dtype, device=array_device(shift))
        else:
            w = xp.astype(sample_weight[start:stop], dtype)
        state = merge_fourth_moments(
            state, _normalised(xp, _of_block(xp, block, w, shift, dtype))
        )
    return state


def merge_fourth_moments(a, b):
    """Weighted average of two states around the same shift."""
    if a is None:
        return b
    if b is None:
        return a
    xp = namespace_of(a.r2d)
    total, fa, fb = weight_fractions(xp, a.count, b.count)
    return FourthMoments(
        total,
        *(fa * x + fb * y for x, y in zip(a[1:], b[1:], strict=True)),
    )


def fourth_moments_around(state, comoments, shift):
    """``state`` (taken around ``comoments.shift``) taken around ``shift``.

    States of different batches can only be averaged around one shift; a
    batch summed around its own first row (a Dask chunk, another fitted
    estimator) is moved to the merged shift by the binomial expansion of
    ``d' = d + c`` with ``c = comoments.shift - shift``, using the batch's
    own first and second moments about its shift (``E d = m``,
    ``E d dᵀ = Σ + m mᵀ``, from ``comoments``).  Both shifts are values of
    the data, so ``c`` is of the order of the spread and no term cancels
    more than the moments themselves do.  ``c = 0`` returns ``state``
    unchanged, bit for bit.

    ``E d dᵀ = Σ + m mᵀ`` enters only through its diagonal and its product
    with ``c``, so it is never formed (no ``p x p`` temporary per merge):
    ``(Σ + m mᵀ) c = Σ c + (mᵀ c) m``.  The diagonal has the bits of the
    formed matrix's; the product is the same sum reassociated (equal to
    float64 rounding, not bit for bit: a matrix-vector product's order of
    summation is BLAS's, and the rank-one term is added after it).
    """
    xp = namespace_of(comoments.mean)
    c = comoments.shift - shift
    m = comoments.mean
    d2 = xp.linalg.diagonal(comoments.cov) + m * m  # E d_j²
    q = xp.sum(d2)  # E ||d||²
    cc = xp.sum(c * c)
    cm = xp.sum(c * m)
    second_c = comoments.cov @ c + cm * m  # (E d dᵀ) c
    r4 = (
        state.r4
        + 4.0 * xp.sum(c * state.r2d)
        + 2.0 * cc * q
        + 4.0 * xp.sum(c * second_c)
        + 4.0 * cc * cm
        + cc * cc
    )
    r2d = state.r2d + q * c + 2.0 * second_c + 2.0 * cm * c + cc * m + cc * c
    c2 = c * c
    d3 = state.d3 + 3.0 * c * d2 + 3.0 * c2 * m + c2 * c
    d4 = state.d4 + 4.0 * c * state.d3 + 6.0 * c2 * d2 + 4.0 * c2 * c * m + c2 * c2
    return FourthMoments(state.count, r4, r2d, d3, d4)


def update_fourth_moments(state, X, sample_weight, dtype, shift):
    return merge_fourth_moments(
        state, fourth_moments_of_batch(X, sample_weight, dtype, shift)
    )


def ledoit_wolf_diagonal_shrinkage(fourth, mean, cov):
    """Optimal intensity ``α`` (a 0-d array in [0, 1]).

    ``mean`` and ``cov`` are the co-moments' mean of ``x - shift`` and
    population covariance, around the same shift as ``fourth``.
    """
    xp = namespace_of(cov)
    m = mean
    mm = xp.sum(m * m)
    var = xp.linalg.diagonal(cov)
    # Central moments from the moments about the shift (E d = m,
    # E d dᵀ = Σ + m mᵀ).
    y4_total = (
        fourth.r4
        - 4.0 * xp.sum(m * fourth.r2d)
        + 2.0 * mm * xp.sum(var)
        + 4.0 * xp.sum(m * (cov @ m))
        + 3.0 * mm * mm
    )
    y4_diag = xp.sum(
        fourth.d4 - 4.0 * m * fourth.d3 + 6.0 * m * m * (var + m * m) - 3.0 * m**4
    )
    off_fourth = y4_total - y4_diag
    off_sq = xp.sum(cov * cov) - xp.sum(var * var)
    n = fourth.count
    beta = (off_fourth - off_sq) / n
    safe = xp.where(off_sq > 0, off_sq, 1.0)
    alpha = xp.clip(beta / safe, 0.0, 1.0)
    return xp.where(off_sq > 0, alpha, 0.0)
