"""Mergeable statistics (sknorm._stats) and the kernels behind them.

Every reference is computed here, independently: NumPy two-pass formulas in
float64, ``math.fsum`` or exact ``fractions.Fraction`` sums.
"""

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sknorm import _stats
from sknorm._kernels import generic, kernels_for

# ------------------------------------------------------------ references ----


def ref_moments(X, w=None):
    """Weighted count, mean and population variance per feature, NaNs
    skipped: plain two-pass NumPy in float64."""
    X = np.asarray(X, dtype=np.float64)
    obs = ~np.isnan(X)
    w = np.ones(X.shape[0]) if w is None else np.asarray(w, np.float64)
    W = obs * w[:, None]
    count = W.sum(axis=0)
    Xz = np.where(obs, X, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (W * Xz).sum(axis=0) / count
        var = (W * np.where(obs, X - mean, 0.0) ** 2).sum(axis=0) / count
    return count, obs.sum(axis=0), mean, var


def ref_min_max(X):
    X = np.asarray(X, dtype=np.float64)
    all_nan = np.isnan(X).all(axis=0)
    safe = np.where(np.isnan(X), np.inf, X)
    lo = np.where(all_nan, np.nan, safe.min(axis=0))
    hi = np.where(all_nan, np.nan, np.where(np.isnan(X), -np.inf, X).max(axis=0))
    return lo, hi


def stream(X, bounds, w=None, dtype=np.float64):
    state = None
    for a, b in itertools.pairwise(bounds):
        sw = None if w is None else w[a:b]
        state = _stats.update_moments(state, X[a:b], sw, dtype)
    return state


def data(rng, n=500, f=3, loc=0.0, nan_fraction=0.0):
    X = loc + rng.normal(size=(n, f)) * rng.uniform(0.5, 3.0, size=f)
    if nan_fraction:
        X[rng.uniform(size=X.shape) < nan_fraction] = np.nan
    return X


# ------------------------------------------------------------- moments ----


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("nan_fraction", [0.0, 0.2])
def test_update_moments_matches_two_pass(rng, weighted, nan_fraction):
    X = data(rng, loc=50.0, nan_fraction=nan_fraction)
    w = rng.uniform(0, 2, size=X.shape[0]) if weighted else None
    m = stream(X, [0, 7, 100, 101, 333, 500], w)
    count, n_obs, mean, var = ref_moments(X, w)
    np.testing.assert_allclose(m.count, count, rtol=1e-13)
    np.testing.assert_array_equal(m.n_obs, n_obs)
    np.testing.assert_allclose(m.location, mean, rtol=1e-13)
    np.testing.assert_allclose(m.var, var, rtol=1e-12)


def test_merge_none_is_identity(rng):
    a = _stats.update_moments(None, data(rng, n=20), None, np.float64)
    assert _stats.merge_moments(a, None) is a
    assert _stats.merge_moments(None, a) is a
    b = _stats.update_min_max(None, data(rng, n=5))
    assert _stats.merge_min_max(b, None) is b
    assert _stats.merge_min_max(None, b) is b


def test_merge_is_order_independent(rng):
    """A tree of merges (what a distributed fit does) in any order gives the
    statistics of all the rows, whatever shift each part was taken around."""
    parts = [data(rng, n=n, loc=1e6, nan_fraction=0.1) for n in (1, 40, 17, 300)]
    states = [_stats.update_moments(None, p, None, np.float64) for p in parts]
    left = states[0]
    for s in states[1:]:
        left = _stats.merge_moments(left, s)
    tree = _stats.merge_moments(
        _stats.merge_moments(states[3], states[1]),
        _stats.merge_moments(states[2], states[0]),
    )
    _, n_obs, mean, var = ref_moments(np.vstack(parts))
    for m in (left, tree):
        np.testing.assert_array_equal(m.n_obs, n_obs)
        np.testing.assert_allclose(m.location, mean, rtol=1e-15)
        np.testing.assert_allclose(m.var, var, rtol=1e-12)


def test_moments_feature_unseen_in_first_batch(rng):
    """A feature that is all NaN in the first batch (count 0) picks up its
    statistics from later batches."""
    X = data(rng, n=60)
    X[:20, 1] = np.nan
    m = stream(X, [0, 20, 60])
    _, n_obs, mean, var = ref_moments(X)
    np.testing.assert_array_equal(m.n_obs, [60, 40, 60])
    np.testing.assert_allclose(m.location, mean, rtol=1e-14)
    np.testing.assert_allclose(m.var, var, rtol=1e-13)
    assert np.array_equal(n_obs, m.n_obs)


def test_streamed_variance_is_exact_for_large_mean():
    """The issue's numerics case: 100,000 x 4 values 1e8 + N(0, 1e-3) in
    1,000-row batches.  scikit-learn's partial_fit gets var_ wrong by ~6e-7
    relative here (see test_zscore.py); the shifted Chan merge must be within
    1e-12 of an exact reference."""
    rng = np.random.default_rng(42)
    X = 1e8 + rng.normal(0, 1e-3, size=(100_000, 4))
    state = stream(X, list(range(0, 100_001, 1_000)))
    # Independent reference: x - 1e8 is exact in float64 (Sterbenz), then an
    # exactly rounded two-pass variance with math.fsum.
    D = X - 1e8
    for j in range(4):
        col = D[:, j].tolist()
        mean = math.fsum(col) / len(col)
        var = math.fsum((x - mean) ** 2 for x in col) / len(col)
        assert abs(state.var[j] - var) <= 1e-12 * var
        assert abs(state.location[j] - (1e8 + mean)) <= 1e-15 * 1e8


def test_moments_near_float_max_keep_the_mean():
    """Normalised moments never form a raw sum: the mean of values near 1e307
    is finite and exact, and a variance beyond the float range is +inf (not
    0 or NaN, which would make the feature look constant)."""
    rng = np.random.default_rng(3)
    X = 1e307 * (1.0 + rng.uniform(0, 4, size=(3_000, 2)))
    with np.errstate(over="ignore"):
        m = stream(X, [0, 2, 1_000, 3_000])
    for j in range(2):
        exact = sum(Fraction(float(x)) for x in X[:, j]) / X.shape[0]
        assert np.isfinite(m.location[j])
        assert abs(m.location[j] - float(exact)) <= 1e-14 * float(exact)
    assert np.all(np.isposinf(m.var))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 80),
    cuts=st.lists(st.integers(1, 79), max_size=6),
    loc=st.sampled_from([0.0, 1e3, -1e8]),
    nan_fraction=st.sampled_from([0.0, 0.3]),
    weighted=st.booleans(),
)
def test_any_split_gives_one_batch_statistics(
    seed, n, cuts, loc, nan_fraction, weighted
):
    rng = np.random.default_rng(seed)
    X = data(rng, n=n, f=3, loc=loc, nan_fraction=nan_fraction)
    bounds = sorted({0, n, *(c for c in cuts if c < n)})
    w = None
    if weighted:
        w = rng.uniform(0, 3, size=n)
        w[rng.uniform(size=n) < 0.3] = 0.0
    one = stream(X, [0, n], w)
    split = stream(X, bounds, w)
    np.testing.assert_array_equal(split.n_obs, one.n_obs)
    np.testing.assert_allclose(split.count, one.count, rtol=1e-13)
    seen = one.count > 0
    scale = np.nanmax(np.abs(X - loc)) if seen.any() else 1.0
    np.testing.assert_allclose(
        split.location[seen], one.location[seen], rtol=1e-12, atol=1e-12 * scale
    )
    np.testing.assert_allclose(
        split.var[seen], one.var[seen], rtol=1e-12, atol=1e-12 * scale**2
    )


# -------------------------------------------------------------- min/max ----


def test_min_max_nan_aware_and_mergeable(rng):
    X = data(rng, n=50, f=4, nan_fraction=0.3)
    X[:, 2] = np.nan  # never observed
    X[:25, 3] = np.nan  # observed in the second half only
    state = None
    for a, b in [(0, 10), (10, 25), (25, 50)]:
        state = _stats.update_min_max(state, X[a:b])
    lo, hi = ref_min_max(X)
    np.testing.assert_array_equal(state.min, lo)
    np.testing.assert_array_equal(state.max, hi)


def test_min_max_keeps_input_dtype(rng):
    X = data(rng, n=10).astype(np.float32)
    state = _stats.update_min_max(None, X)
    assert state.min.dtype == np.float32
    np.testing.assert_array_equal(state.min, X.min(axis=0))


# ----------------------------------------------------------- co-moments ----


@pytest.mark.parametrize("weighted", [False, True])
def test_comoments_match_numpy_cov(rng, weighted):
    X = data(rng, n=300, f=4, loc=1e4)
    X[:, 1] += 0.5 * X[:, 0]
    w = rng.uniform(0, 2, size=300) if weighted else None
    state = None
    for a, b in [(0, 1), (1, 120), (120, 300)]:
        state = _stats.update_comoments(
            state, X[a:b], None if w is None else w[a:b], np.float64
        )
    ref = np.cov(X, rowvar=False, aweights=w, bias=True)
    np.testing.assert_allclose(state.location, np.average(X, axis=0, weights=w))
    np.testing.assert_allclose(state.cov, ref, rtol=1e-11, atol=1e-11 * ref.max())
    assert float(state.count) == pytest.approx(300.0 if w is None else w.sum())


# --------------------------------------------- fast path == generic path ----


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("nan_fraction", [0.0, 0.1])
def test_numpy_kernel_matches_generic(rng, weighted, nan_fraction):
    """The NumPy fast path gives the reference kernel's numbers (and both
    the two-pass reference's), over several of its row blocks."""
    X = data(rng, n=20_000, f=5, loc=1e5, nan_fraction=nan_fraction)
    w = rng.uniform(0, 2, size=X.shape[0]) if weighted else None
    shift = X[0].copy()
    shift[np.isnan(shift)] = 0.0
    fast = kernels_for(np).moments(X, shift, w, np.float64)
    slow = generic.moments(X, shift, w, np.float64)
    count, n_obs, mean, var = ref_moments(X, w)
    for got in (fast, slow):
        np.testing.assert_allclose(got[0], count, rtol=1e-13)
        np.testing.assert_array_equal(got[1], n_obs)
        np.testing.assert_allclose(got[2] + shift, mean, rtol=1e-14)
        np.testing.assert_allclose(got[3], var, rtol=1e-11)
    lo, hi = ref_min_max(X)
    for got in (kernels_for(np).min_max(X), generic.min_max(X)):
        np.testing.assert_array_equal(got[0], lo)
        np.testing.assert_array_equal(got[1], hi)


@pytest.mark.parametrize(
    "kernels", [kernels_for(np), generic], ids=["numpy", "generic"]
)
def test_moments_kernel_zero_weight_outlier(kernels):
    """A row of weight 0 carries no data, whatever its value: here the first
    row is 1e10 away from the rest.  The variance of the weighted rows must
    not suffer cancellation against it."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(1000, 2))
    X[0] = 1e10
    w = np.ones(1000)
    w[0] = 0.0
    shift = np.zeros(2)
    count, _, mean, var = kernels.moments(X, shift, w, np.float64)
    np.testing.assert_allclose(count, 999.0)
    np.testing.assert_allclose(mean, X[1:].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(var, X[1:].var(axis=0), rtol=1e-12)


@pytest.mark.parametrize(
    "kernels", [kernels_for(np), generic], ids=["numpy", "generic"]
)
def test_affine_kernel(rng, kernels):
    X = data(rng, n=3_000, f=4)
    center, scale = rng.normal(size=4), rng.uniform(1, 2, size=4)
    offset = np.full(4, 0.5)
    expected = (X - center) * scale + offset
    out = kernels.affine(X, center, scale, offset, True)
    np.testing.assert_allclose(out, expected, rtol=1e-15)
    assert not np.shares_memory(out, X)
    X32 = X.astype(np.float32)
    out32 = kernels.affine(X32, center, None, None, True)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, X32 - center.astype(np.float32), rtol=1e-6)
    Y = X.copy()
    out = kernels.affine(Y, center, scale, None, False)
    np.testing.assert_allclose(Y, (X - center) * scale, rtol=1e-15)


def _numpy_merge(a, b):
    """_stats.merge_comoments without a kernel module's compiled merge."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(kernels_for(np), "merge_comoments", lambda a, b: NotImplemented)
        return _stats.merge_comoments(a, b)


@pytest.mark.parametrize("case", ["plain", "weighted", "empty first", "empty second"])
def test_comoment_merge_of_two_batches(rng, case):
    """The merge of two batches' co-moments is the union's (np.cov, exact to
    rounding) and, compiled (numba) or not, the same bits."""
    X = data(rng, n=200, f=6, loc=1e4)
    X[:, 2] += 0.5 * X[:, 0]
    w = rng.uniform(0, 2, size=200) if case != "plain" else None
    if case == "empty first":
        w[:80] = 0.0
    if case == "empty second":
        w[80:] = 0.0
    sw = [None, None] if w is None else [w[:80], w[80:]]
    a = _stats.comoments_of_batch(X[:80], sw[0], np.float64)
    b = _stats.comoments_of_batch(X[80:], sw[1], np.float64)
    merged = _stats.merge_comoments(a, b)
    for got, expected in zip(merged, _numpy_merge(a, b), strict=True):
        assert type(got) is type(expected)
        np.testing.assert_array_equal(got, expected)
    ref = np.cov(X, rowvar=False, aweights=w, bias=True)
    np.testing.assert_allclose(merged.cov, ref, rtol=1e-11, atol=1e-11 * ref.max())
    np.testing.assert_allclose(merged.location, np.average(X, axis=0, weights=w))
    assert float(merged.count) == pytest.approx(200.0 if w is None else w.sum())


def test_compiled_comoment_merge_declines_other_arrays():
    """float32 states (a namespace without float64) are merged by the NumPy
    composition: the compiled merge takes float64 only."""
    from sknorm._kernels import numpy_steps

    f32 = np.float32
    a = _stats.CoMoments(f32(2), *(np.zeros(3, f32),) * 2, np.eye(3, dtype=f32))
    assert numpy_steps.merge_comoments(a, a) is NotImplemented
    merged = _stats.merge_comoments(a, a)
    assert merged.cov.dtype == f32
    np.testing.assert_array_equal(merged.cov, np.eye(3))
