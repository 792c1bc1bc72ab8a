"""Units do not matter, and finite input near the float range stays finite.

* Scale invariance: ``fit_transform(X * c)`` equals ``fit_transform(X)`` for
  c from 1e-30 to 1e30.  Constancy is decided by a bound relative to the
  data, never by an absolute floor (``std < 10 eps`` made
  ``N(0, 1) * 1e-17`` a constant feature).
* Values near the float maximum: the mean, the minimum and maximum and the
  min-max map are representable, so they must come out (never NaN, never an
  "infinity" error for finite input); a variance beyond the float range is
  +inf, as documented.

References: NumPy float64 on the unscaled data, and exact rational
arithmetic (``fractions.Fraction``) for the extremes.
"""

import itertools
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sknorm import MiniBatchNormalizer, MinMax, ZScore

SCALES = [1e-30, 1e-17, 1e-10, 1.0, 1e10, 1e30]


@pytest.fixture(autouse=True)
def _quiet_strict_overflow(request):
    """array-api-strict computes with NumPy, which warns where a spread
    beyond the float range overflows (to the +inf variance these tests
    expect); a GPU does not warn.  The NumPy paths must not warn at all."""
    path = (
        request.getfixturevalue("kernel_path")
        if "kernel_path" in request.fixturenames
        else None
    )
    if path is not None and path.name in ("generic", "matmul"):
        with np.errstate(over="ignore", invalid="ignore"):
            yield
    else:
        yield


def _X(seed=0):
    rng = np.random.default_rng(seed)
    X = 3.0 + rng.normal(size=(200, 3)) * np.array([1.0, 5.0, 0.1])
    X[:, 2] = 7.0  # a constant feature
    return X


# --------------------------------------------------------- scale invariance
@pytest.mark.parametrize("c", SCALES)
def test_zscore_is_scale_invariant(kernel_path, c):
    X = _X()
    expected = ZScore().fit_transform(X)
    est = ZScore()
    got = kernel_path.numpy(est.fit_transform(kernel_path.array(X * c)))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    scale = kernel_path.numpy(est.scale_)
    np.testing.assert_allclose(scale[:2], c * X[:, :2].std(axis=0), rtol=1e-12)
    assert scale[2] == 1.0  # the constant feature, at any scale


def test_tiny_spread_keeps_its_scale():
    """The issue's case: scikit-learn gives about 1e-17, not 1."""
    X = np.random.default_rng(1).normal(size=(100, 2)) * 1e-17
    np.testing.assert_allclose(ZScore().fit(X).scale_, X.std(axis=0), rtol=1e-12)
    np.testing.assert_allclose(MinMax().fit(X).scale_, 1 / np.ptp(X, axis=0))


@pytest.mark.parametrize("c", SCALES)
def test_zscore_streamed_is_scale_invariant(c):
    X = _X(2)
    est = ZScore()
    for batch in np.array_split(X * c, 7):
        est.partial_fit(batch)
    np.testing.assert_allclose(
        est.transform(X * c), ZScore().fit_transform(X), rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("c", SCALES)
def test_minmax_is_scale_invariant(kernel_path, c):
    X = _X(3)
    expected = MinMax().fit_transform(X)
    got = kernel_path.numpy(MinMax().fit_transform(kernel_path.array(X * c)))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("c", SCALES)
def test_minibatch_is_scale_covariant(kernel_path, c):
    """BatchNorm's eps is in the units of the variance: with ``eps * c**2``
    the statistics scale with the data and the output does not change."""
    X = _X(4)
    expected = MiniBatchNormalizer(batch_size=50).fit_transform(X)
    est = MiniBatchNormalizer(batch_size=50, eps=1e-5 * c**2)
    got = kernel_path.numpy(est.fit_transform(kernel_path.array(X * c)))
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)
    reference = MiniBatchNormalizer(batch_size=50).fit(X)
    np.testing.assert_allclose(
        kernel_path.numpy(est.running_var_),
        reference.running_var_ * c**2,
        rtol=1e-12,
    )


@pytest.mark.parametrize("average", [1e-10, 1.0, 1e10])
def test_near_constant_features(average):
    """scikit-learn's near-constant data (test_data.py): ``average +- s``
    for s from 1e-30 to 1e19.  A feature whose two values are equal in
    float64 is constant (scale 1); every other one keeps its true scale
    ``s`` (as rounded in X), also where scikit-learn's bound, which counts
    ``(n eps average)^2`` of rounding that the shifted moments do not make,
    declares it constant.  The same at every average: the data at 1e-10 are
    the data at 1 in other units."""
    scales = np.array([10.0**i for i in range(-30, 20)])
    for n_samples in (10, 100, 10_000):
        X = np.empty((n_samples, scales.size))
        X[: n_samples // 2] = average + scales
        X[n_samples // 2 :] = average - scales
        est = ZScore(with_mean=False).fit(X)
        distinct = X[0] != X[-1]
        half_gap = (X[0] - X[-1]) / 2  # the spread as rounded in X
        assert np.all(est.scale_[~distinct] == 1.0)
        np.testing.assert_allclose(
            est.scale_[distinct], np.abs(half_gap[distinct]), rtol=1e-12
        )


# ------------------------------------------------------------ float range
def test_mean_of_opposite_extremes(kernel_path):
    est = ZScore(with_std=False).fit(kernel_path.array([[1e308], [-1e308]]))
    assert kernel_path.numpy(est.mean_).tolist() == [0.0]


def test_stream_of_opposite_extremes(kernel_path):
    est = ZScore()
    for value in (9e307, -9e307, 9e307):
        est.partial_fit(kernel_path.array([[value]]))
    assert kernel_path.numpy(est.mean_).tolist() == [3e307]
    assert np.isposinf(kernel_path.numpy(est.var_)).all()  # 1.8e615 > max
    # The variance is beyond the float range: the feature maps to 0.
    Z = kernel_path.numpy(est.transform(kernel_path.array([[9e307], [-9e307]])))
    np.testing.assert_array_equal(np.abs(Z), 0.0)


def test_constant_feature_at_the_float_maximum(kernel_path):
    C = np.full((50, 2), 1.5e308)
    C[:, 1] = -1e300
    est = ZScore().fit(kernel_path.array(C))
    if kernel_path.name == "matmul":
        # torch CUDA's kernels take the sums around the state's shift, 0
        # beyond the shift limit: the rounding of values this large (1e292)
        # squared overflows (documented in sknorm._kernels.matmul).
        np.testing.assert_allclose(kernel_path.numpy(est.mean_), [1.5e308, -1e300])
        return
    assert kernel_path.numpy(est.mean_).tolist() == [1.5e308, -1e300]
    assert kernel_path.numpy(est.var_).tolist() == [0.0, 0.0]


def test_minmax_of_opposite_extremes(kernel_path):
    X = kernel_path.array([[1e308], [-1e308], [0.0]])
    est = MinMax().fit(X)
    Y = kernel_path.numpy(est.transform(X))
    np.testing.assert_allclose(Y.ravel(), [1.0, 0.0, 0.5], atol=1e-15)
    back = kernel_path.numpy(est.inverse_transform(kernel_path.array(Y)))
    np.testing.assert_allclose(
        back.ravel(), [1e308, -1e308, 0.0], rtol=1e-15, atol=1e292
    )
    assert kernel_path.numpy(est.data_range_).tolist() == [np.inf]
    # scikit-learn's attributes still describe the map: X * scale_ + min_.
    np.testing.assert_allclose(
        1e308 * kernel_path.numpy(est.scale_) + kernel_path.numpy(est.min_), [1.0]
    )


EXTREMES = [1.7e308, -1.7e308, 9e307, -9e307, 1e308, -1e308, 1e300, 0.0, 3.0]


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.sampled_from(EXTREMES), min_size=1, max_size=12),
    cuts=st.lists(st.integers(1, 11), max_size=4),
    numba=st.booleans(),
)
def test_finite_extremes_never_give_nan(values, cuts, numba):
    """Any order, any split into batches: the exact mean (rounded), the
    exact minimum and maximum, and a min-max map into [0, 1]."""
    X = np.array(values)[:, None]
    bounds = sorted({0, len(values), *[c for c in cuts if c < len(values)]})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SKNORM_NUMBA", "1" if numba else "0")
        z, m = ZScore(), MinMax()
        for a, b in itertools.pairwise(bounds):
            z.partial_fit(X[a:b])
            m.partial_fit(X[a:b])
        exact = sum(Fraction(v) for v in values) / len(values)
        # To a few rounding errors of the largest value (values that nearly
        # cancel leave a mean whose own digits no float sum keeps).
        largest = max(abs(Fraction(v)) for v in values)
        assert abs(Fraction(float(z.mean_[0])) - exact) <= largest * Fraction(16, 2**52)
        assert not np.isnan(z.var_[0])
        assert m.data_min_[0] == min(values) and m.data_max_[0] == max(values)
        Y = m.transform(X)
        assert np.all(np.isfinite(Y))
        assert np.all((Y >= -1e-15) & (Y <= 1 + 1e-15))
        assert np.all(np.isfinite(z.transform(X)))


def test_every_kernel_uses_the_same_shift_limit():
    """The limit is written out where Python cannot share it: the CUDA
    source's literal must agree with the kernels' shift_limit."""
    import re as _re

    from sknorm._kernels import cupy_fused, generic
    from sknorm._kernels.generic import shift_limit

    limit = shift_limit(np, np.float64)
    for family in cupy_fused.FAMILIES:
        code = cupy_fused.source(family, "double")
        literal = _re.search(r"#define SHIFT_LIMIT (\S+)", code).group(1)
        assert float(literal) == limit
    assert generic.shift_limit(np, np.float64) == limit
    # Below the limit x - shift cannot overflow for any finite x ...
    big = np.finfo(np.float64).max
    with np.errstate(over="raise"):
        assert np.isfinite(np.float64(-big) - limit)
        assert np.isfinite(np.float64(big) + limit)
    # ... and it is far above any shift that matters (values that large are
    # constant or have an infinite variance).
    assert np.spacing(limit) > np.sqrt(big)
