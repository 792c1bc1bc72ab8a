"""The standard normal distribution function and its inverse, per backend.

``Quantile(output_distribution="normal")`` needs ``norm.ppf`` (``ndtri``)
and, for its inverse, ``norm.cdf`` (``ndtr``): SciPy's on NumPy (the very
functions scikit-learn calls), torch's and CuPy's own on theirs, and for any
other Array API namespace the same algorithms written in standard
operations: Cephes' ``erf``/``erfc`` rational approximations (SciPy's
``ndtr``), and Acklam's approximation of the inverse refined by one Halley
step against them (double precision over ``[1e-300, 1 - 1e-16]``).
"""

from __future__ import annotations

import math

from .._array_api import is_cupy_namespace, is_numpy_namespace

__all__ = ["ndtr", "ndtri"]


def _torch(xp):
    return xp.__name__ in {"torch", "array_api_compat.torch"}


def ndtr(xp, x):
    """``P(Z <= x)`` for a standard normal ``Z``, elementwise."""
    if is_numpy_namespace(xp):
        import scipy.special

        return scipy.special.ndtr(x)
    if _torch(xp):
        import torch

        return torch.special.ndtr(x)
    if is_cupy_namespace(xp):
        import cupyx.scipy.special

        return cupyx.scipy.special.ndtr(x)
    return _ndtr(xp, x)


def ndtri(xp, p):
    """The ``x`` with ``P(Z <= x) = p``, elementwise (``-inf`` at 0, ``inf``
    at 1, NaN outside [0, 1])."""
    if is_numpy_namespace(xp):
        import scipy.special

        return scipy.special.ndtri(p)
    if _torch(xp):
        import torch

        return torch.special.ndtri(p)
    if is_cupy_namespace(xp):
        import cupyx.scipy.special

        return cupyx.scipy.special.ndtri(p)
    return _ndtri(xp, p)


# --------------------------------------------- Cephes' erf and erfc ----
_P = (
    2.46196981473530512524e-10,
    5.64189564831068821977e-1,
    7.46321056442269912687e0,
    4.86371970985681366614e1,
    1.96520832956077098242e2,
    5.26445194995477358631e2,
    9.34528527171957607540e2,
    1.02755188689515710272e3,
    5.57535335369399327526e2,
)
_Q = (
    1.0,
    1.32281951154744992508e1,
    8.67072140885989742329e1,
    3.54937778887819891062e2,
    9.75708501743205489753e2,
    1.82390916687909736289e3,
    2.24633760818710981792e3,
    1.65666309194161350182e3,
    5.57535340817727675546e2,
)
_R = (
    5.64189583547755073984e-1,
    1.27536670759978104416e0,
    5.01905042251180477414e0,
    6.16021097993053585195e0,
    7.40974269950448939160e0,
    2.97886665372100240670e0,
)
_S = (
    1.0,
    2.26052863220117276590e0,
    9.39603524938001434673e0,
    1.20489539808096656605e1,
    1.70814450747565897222e1,
    9.60896809063285878198e0,
    3.36907645100081516050e0,
)
_T = (
    9.60497373987051638749e0,
    9.00260197203842689217e1,
    2.23200534594684319226e3,
    7.00332514112805075473e3,
    5.55923013010394962768e4,
)
_U = (
    1.0,
    3.35617141647503099647e1,
    5.21357949780152679795e2,
    4.59432382970980127987e3,
    2.26290000613890934246e4,
    4.92673942608635921086e4,
)


def _polynomial(x, coefficients):
    """Horner's scheme, highest power first."""
    result = coefficients[0] + 0.0 * x
    for c in coefficients[1:]:
        result = result * x + c
    return result


def _erf_small(xp, x):
    """``erf(x)`` for ``|x| <= 1``."""
    z = x * x
    return x * _polynomial(z, _T) / _polynomial(z, _U)


def _erfc_large(xp, a):
    """``erfc(|a|)`` for ``|a| >= 1``, relative accuracy in the tail."""
    x = xp.abs(a)
    z = xp.exp(-(x * x))
    mid = _polynomial(x, _P) / _polynomial(x, _Q)
    tail = _polynomial(x, _R) / _polynomial(x, _S)
    return z * xp.where(x < 8.0, mid, tail)


def _ndtr(xp, a):
    x = a * math.sqrt(0.5)
    z = xp.abs(x)
    one = xp.ones_like(x)
    # Both branches on safe arguments (no overflow in either), then picked.
    z_small = xp.clip(z, 0.0, 1.0)
    small = 0.5 + 0.5 * _erf_small(xp, xp.clip(x, -one, one))
    # erfc(z) = 1 - erf(z) below 1 (Cephes), the tail formula from there.
    erfc_z = xp.where(
        z < 1.0,
        1.0 - _erf_small(xp, z_small),
        _erfc_large(xp, xp.where(z < 1.0, one, z)),
    )
    half_tail = 0.5 * erfc_z
    large = xp.where(x > 0, 1.0 - half_tail, half_tail)
    result = xp.where(z < math.sqrt(0.5), small, large)
    return xp.where(xp.isnan(a), a, result)


# ------------------------------------------ Acklam's inverse, refined ----
_A = (
    -3.969683028665376e01,
    2.209460984245205e02,
    -2.759285104469687e02,
    1.383577518672690e02,
    -3.066479806614716e01,
    2.506628277459239e00,
)
_B = (
    -5.447609879822406e01,
    1.615858368580409e02,
    -1.556989798598866e02,
    6.680131188771972e01,
    -1.328068155288572e01,
    1.0,
)
_C = (
    -7.784894002430293e-03,
    -3.223964580411365e-01,
    -2.400758277161838e00,
    -2.549732539343734e00,
    4.374664141464968e00,
    2.938163982698783e00,
)
_D = (
    7.784695709041462e-03,
    3.224671290700398e-01,
    2.445134137142996e00,
    3.754408661907416e00,
    1.0,
)
_P_LOW = 0.02425


def _ndtri(xp, p):
    # The lower half is computed, the upper one by symmetry around 1/2 with
    # 1 - p (as Cephes' ndtri does): tails keep their relative accuracy.
    upper = p > 0.5
    q = xp.where(upper, 1.0 - p, p)
    # (The smallest normal number of p's dtype: below it the logarithm of a
    # float32 would be -inf; 0 itself is handled at the end.)
    q_safe = xp.clip(q, float(xp.finfo(p.dtype).smallest_normal), 0.5)
    # Acklam's rational approximations (relative error 1.15e-9).
    r = q_safe - 0.5
    central = r * _polynomial(r * r, _A) / _polynomial(r * r, _B)
    s = xp.sqrt(-2.0 * xp.log(q_safe))
    tail = _polynomial(s, _C) / _polynomial(s, _D)
    x = xp.where(q_safe < _P_LOW, tail, central)
    # One Halley step on P(Z <= x) - q: cubic convergence, double precision.
    error = _ndtr(xp, x) - q_safe
    u = error * math.sqrt(2.0 * math.pi) * xp.exp(x * x / 2.0)
    x = x - u / (1.0 + x * u / 2.0)
    x = xp.where(upper, -x, x)
    inf = xp.full_like(x, float("inf"))
    x = xp.where(q == 0, xp.where(upper, inf, -inf), x)
    nan = xp.full_like(x, float("nan"))
    return xp.where((p < 0) | (p > 1) | xp.isnan(p), nan, x)
