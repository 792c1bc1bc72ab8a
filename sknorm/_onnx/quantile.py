"""The quantile transform as ONNX ops: scikit-learn's
``QuantileTransformer._transform_col`` (forward), from ``quantiles_`` and
``references_``.

What scikit-learn computes, per feature ``x`` with quantiles ``q`` (``n``
ascending values) and references ``r`` (their ranks in ``[0, 1]``):

1. ``y = 0.5 * (interp(x, q, r) - interp(-x, -q[::-1], -r[::-1]))``: the
   mean of the interpolations from both sides, so that a value shared by
   repeated quantiles maps to the middle of their ranks;
2. the bounds: ``uniform`` sets ``y = 1`` where ``x == q[-1]`` and then
   ``y = 0`` where ``x == q[0]``; ``normal`` the same where ``x + 1e-7 >
   q[-1]`` and ``x - 1e-7 < q[0]`` (``BOUNDS_THRESHOLD``);
3. ``normal`` only: ``y = norm.ppf(y)`` clipped to ``norm.ppf(1e-7 -
   spacing(1))`` and ``norm.ppf(1 - (1e-7 - spacing(1)))``;
4. NaN stays NaN.

``np.interp(x, xp, fp)`` (NumPy's C code) finds ``j`` with ``xp[j] <= x <
xp[j + 1]`` and returns ``fp[0]`` left of ``xp[0]``, ``fp[-1]`` from
``xp[-1]`` on, ``fp[j]`` where ``xp[j] == x`` and ``slope[j] * (x - xp[j]) +
fp[j]`` otherwise, ``slope[j] = (fp[j+1] - fp[j]) / (xp[j+1] - xp[j])``.
The mirrored call is the same thing seen from above: with ``k`` the first
index where ``q[k] >= x`` it is ``-(r[k] - slope[k-1] * (q[k] - x))``
exactly (negation commutes with every rounding), so the graph needs two
searches per element: ``c`` = how many quantiles are ``<= x`` (``j = c -
1``) and ``k`` = how many are ``< x``.  Each is a binary search unrolled
``ceil(log2(n + 1))`` times, ``GatherElements`` from the ``(n, features)``
table (padded to ``2**m - 1`` rows with +inf) and a comparison per step:
memory O(rows x features) whatever ``n`` (a comparison against all the
quantiles at once would hold ``rows x n x features`` booleans).

The normal ppf: ONNX has ``Erf`` (float only in onnxruntime) but no
inverse; Wichura's algorithm AS241 (``PPND16``, Applied Statistics 37,
1988) is a rational approximation accurate to about 1e-16 relative, three
branches of degree-7 polynomials selected with ``Where``; tested against
``scipy.special.ndtri`` over the whole clipped range.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["BOUNDS_THRESHOLD", "convert_quantile", "normal_ppf", "quantile_transform"]

# sklearn.preprocessing._data.BOUNDS_THRESHOLD
BOUNDS_THRESHOLD = 1e-7

# Wichura (1988), AS241 PPND16: numerator and denominator coefficients,
# constant term first.  Central region |p - 0.5| <= 0.425, r = 0.180625 - q^2:
_A = (
    3.3871328727963666080e0,
    1.3314166789178437745e2,
    1.9715909503065514427e3,
    1.3731693765509461125e4,
    4.5921953931549871457e4,
    6.7265770927008700853e4,
    3.3430575583588128105e4,
    2.5090809287301226727e3,
)
_B = (
    1.0,
    4.2313330701600911252e1,
    6.8718700749205790830e2,
    5.3941960214247511077e3,
    2.1213794301586595867e4,
    3.9307895800092710610e4,
    2.8729085735721942674e4,
    5.2264952788528545610e3,
)
# Tails, r = sqrt(-log(min(p, 1 - p))): r <= 5 (in r - 1.6) ...
_C = (
    1.42343711074968357734e0,
    4.63033784615654529590e0,
    5.76949722146069140550e0,
    3.64784832476320460504e0,
    1.27045825245236838258e0,
    2.41780725177450611770e-1,
    2.27238449892691845833e-2,
    7.74545014278341407640e-4,
)
_D = (
    1.0,
    2.05319162663775882187e0,
    1.67638483018380384940e0,
    6.89767334985100004550e-1,
    1.48103976427480074590e-1,
    1.51986665636164571966e-2,
    5.47593808499534494600e-4,
    1.05075007164441684324e-9,
)
# ... and r > 5 (in r - 5).
_E = (
    6.65790464350110377720e0,
    5.46378491116411436990e0,
    1.78482653991729133580e0,
    2.96560571828504891230e-1,
    2.65321895265761230930e-2,
    1.24266094738807843860e-3,
    2.71155556874348757815e-5,
    2.01033439929228813265e-7,
)
_F = (
    1.0,
    5.99832206555887937690e-1,
    1.36929880922735805310e-1,
    1.48753612908506148525e-2,
    7.86869131145613259100e-4,
    1.84631831751005468180e-5,
    1.42151175831644588870e-7,
    2.04426310338993978564e-15,
)


def _polynomial(g, coefficients, r):
    """Horner's scheme, highest degree first (as AS241 writes it)."""
    value = g.const(coefficients[-1], name="coef")
    for c in reversed(coefficients[:-1]):
        value = g.op("Add", g.op("Mul", value, r), g.const(c, name="coef"))
    return value


def _ratio(g, numerator, denominator, r):
    return g.op("Div", _polynomial(g, numerator, r), _polynomial(g, denominator, r))


def normal_ppf(g, p):
    """The standard normal quantile function of ``p`` in ``(0, 1)`` (AS241).

    Every branch is evaluated everywhere and the right one selected; the
    caller keeps ``p`` strictly inside ``(0, 1)`` (the tails take a log).
    """
    q = g.op("Sub", p, g.const(0.5, name="half"))
    central = g.op(
        "Mul",
        q,
        _ratio(g, _A, _B, g.op("Sub", g.const(0.180625, name="c"), g.op("Mul", q, q))),
    )
    tail_p = g.op("Min", p, g.op("Sub", g.const(1.0, name="one"), p))
    r = g.op("Sqrt", g.op("Neg", g.op("Log", tail_p)))
    near = _ratio(g, _C, _D, g.op("Sub", r, g.const(1.6, name="c")))
    far = _ratio(g, _E, _F, g.op("Sub", r, g.const(5.0, name="c")))
    tail = g.where(g.op("LessOrEqual", r, g.const(5.0, name="c")), near, far)
    negative = g.op("Less", q, g.const(0.0, name="zero"))
    tail = g.where(negative, g.op("Neg", tail), tail)
    in_centre = g.op("LessOrEqual", g.op("Abs", q), g.const(0.425, name="c"))
    return g.where(in_centre, central, tail)


def _count(g, table, x, n_steps, compare, n):
    """How many entries of each column of ``table`` are ``compare`` (``<=``
    or ``<``) ``x``: a binary search, one ``GatherElements`` per step
    (``table`` is padded with +inf to ``2**n_steps - 1`` rows), capped at
    ``n`` (+inf input would count the padding)."""
    zeros = g.op(
        "ConstantOfShape",
        g.op("Shape", x),
        value=_int64_tensor(0),
    )
    pos = zeros
    for step in (1 << e for e in reversed(range(n_steps))):
        probe = g.op("Add", pos, g.ints(step - 1, name="step"))
        value = g.op("GatherElements", table, probe, axis=0)
        hit = g.op(compare, value, x)
        pos = g.where(hit, g.op("Add", pos, g.ints(step, name="step")), pos)
    return g.op("Min", pos, g.ints(n, name="n"))


def _int64_tensor(value):
    from onnx import numpy_helper

    return numpy_helper.from_array(np.array([value], dtype=np.int64))


def _interpolations(g, x, quantiles, references):
    """``(F, G)``: ``np.interp(x, q, r)`` and minus the mirrored one."""
    n, n_features = quantiles.shape
    r = references
    if n == 1:  # np.interp on one point: its value everywhere
        value = g.op(
            "Add", g.op("Mul", x, g.const(0.0, name="zero")), g.const(r[0], name="r0")
        )
        return value, value
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        slopes = (r[1:] - r[:-1])[:, None] / (quantiles[1:] - quantiles[:-1])
    n_steps = max(1, math.ceil(math.log2(n + 1)))
    padded = np.full(((1 << n_steps) - 1, n_features), np.inf)
    padded[:n] = quantiles
    table = g.const(padded, name="quantiles")
    q = g.const(quantiles, name="quantiles")
    s = g.const(slopes, name="slopes")
    refs = g.const(r, name="references")
    r_first = g.const(r[0], name="r_first")
    r_last = g.const(r[-1], name="r_last")
    one = g.ints(1, name="one")

    def clipped(index, lo, hi):
        return g.op("Min", g.op("Max", index, g.ints(lo, name="lo")), g.ints(hi))

    def edges(value, count):
        value = g.where(g.op("Equal", count, g.ints(0, name="zero")), r_first, value)
        return g.where(g.op("Equal", count, g.ints(n, name="n")), r_last, value)

    # Forward: j = c - 1, the last quantile <= x.
    c = _count(g, table, x, n_steps, "LessOrEqual", n)
    j = clipped(g.op("Sub", c, one), 0, n - 2)
    q_j = g.op("GatherElements", q, j, axis=0)
    r_j = g.op("Gather", refs, j, axis=0)
    forward = g.op(
        "Add",
        g.op("Mul", g.op("GatherElements", s, j, axis=0), g.op("Sub", x, q_j)),
        r_j,
    )
    forward = edges(g.where(g.op("Equal", x, q_j), r_j, forward), c)
    # Mirrored: k, the first quantile >= x.
    k_count = _count(g, table, x, n_steps, "Less", n)
    k = clipped(k_count, 1, n - 1)
    q_k = g.op("GatherElements", q, k, axis=0)
    r_k = g.op("Gather", refs, k, axis=0)
    s_below = g.op("GatherElements", s, g.op("Sub", k, one), axis=0)
    backward = g.op("Sub", r_k, g.op("Mul", s_below, g.op("Sub", q_k, x)))
    backward = edges(g.where(g.op("Equal", q_k, x), r_k, backward), k_count)
    return forward, backward


def quantile_transform(g, x, quantiles, references, *, output_distribution="uniform"):
    """scikit-learn's forward quantile transform of a 2-D input.

    Computed as scikit-learn computes it: the interpolation in float64
    whatever the input's dtype (``np.interp`` computes in float64), from the
    float64 quantiles (rounded to float32, a quantile would move across the
    float32 values next to it: a value between two repeated quantiles would
    land in the middle of their ranks, or off it).  For a float32 graph the
    graph then does scikit-learn's float32 roundings: ``x - 1e-7`` and ``x
    + 1e-7`` of the normal bounds in float32, the interpolated rank stored
    in float32 before the ppf (the column it is written to), the result
    rounded to float32 once.

    Parameters
    ----------
    g : Graph
        The emitter, in the input's dtype (float32 or float64).
    x : str
        Name of the ``(n_samples, n_features)`` input.
    quantiles : array of shape (n_quantiles, n_features)
        ``quantiles_``, ascending in each column.
    references : array of shape (n_quantiles,)
        ``references_``, the ranks of the quantiles.
    output_distribution : {"uniform", "normal"}

    Returns
    -------
    name : str
        The output's name, in the input's dtype.
    """
    if output_distribution not in ("uniform", "normal"):
        raise ValueError(
            f"output_distribution must be 'uniform' or 'normal'; got "
            f"{output_distribution!r}."
        )
    quantiles = np.asarray(quantiles, dtype=np.float64)
    references = np.asarray(references, dtype=np.float64)
    narrow = g.dtype != np.float64
    g64 = g.retyped(np.float64)
    x64 = g64.cast(x, np.float64) if narrow else x
    forward, backward = _interpolations(g64, x64, quantiles, references)
    y = g64.op("Mul", g64.const(0.5, name="half"), g64.op("Add", forward, backward))
    if narrow:  # the float32 column the ranks are written to
        y = g64.cast(g64.cast(y, g.dtype), np.float64)
    lower = g64.const(quantiles[0], name="q_first")
    upper = g64.const(quantiles[-1], name="q_last")
    if output_distribution == "uniform":
        at_upper = g64.op("Equal", x64, upper)
        at_lower = g64.op("Equal", x64, lower)
    else:  # x -/+ BOUNDS_THRESHOLD in the input's dtype, compared in float64
        threshold = g.const(BOUNDS_THRESHOLD, name="bounds_threshold")
        above = g.op("Add", x, threshold)
        below = g.op("Sub", x, threshold)
        if narrow:
            above, below = g64.cast(above, np.float64), g64.cast(below, np.float64)
        at_upper = g64.op("Greater", above, upper)
        at_lower = g64.op("Less", below, lower)
    y = g64.where(at_upper, g64.const(1.0, name="one"), y)
    y = g64.where(at_lower, g64.const(0.0, name="zero"), y)
    if output_distribution == "normal":
        y = _normal_output(g64, y)
    y = g64.where(g64.op("IsNaN", x64), x64, y)
    return g64.cast(y, g.dtype) if narrow else y


def _normal_output(g, y):
    """``np.clip(norm.ppf(y), clip_min, clip_max)``: the bounds (``y`` 0 or
    1, where the ppf is infinite) map to the clip values themselves; inside,
    ``y`` is kept off 0 and 1 for the logs of the other branches."""
    from scipy.stats import norm

    finfo = np.finfo(g.dtype)
    clip_min = norm.ppf(BOUNDS_THRESHOLD - np.spacing(1))
    clip_max = norm.ppf(1 - (BOUNDS_THRESHOLD - np.spacing(1)))
    inside = g.op(
        "Clip",
        y,
        g.const(finfo.smallest_normal, name="p_min"),
        g.const(1.0 - finfo.epsneg, name="p_max"),
    )
    lo, hi = g.const(clip_min, name="clip_min"), g.const(clip_max, name="clip_max")
    value = g.op("Clip", normal_ppf(g, inside), lo, hi)
    value = g.where(g.op("LessOrEqual", y, g.const(0.0, name="zero")), lo, value)
    return g.where(g.op("GreaterOrEqual", y, g.const(1.0, name="one")), hi, value)


def convert_quantile(estimator, g, x, layout):
    """An estimator with scikit-learn's ``QuantileTransformer`` attributes
    (``quantiles_``, ``references_``, ``output_distribution``), per feature
    (2-D) or per channel (N-D, through :func:`~.graph.per_channel_rows`)."""
    from .graph import per_channel_rows

    def build(rows):
        return quantile_transform(
            g,
            rows,
            estimator.quantiles_,
            estimator.references_,
            output_distribution=estimator.output_distribution,
        )

    return per_channel_rows(g, x, layout, build)
