"""ZScore against scikit-learn's StandardScaler and independent references.

References are NumPy two-pass formulas in float64, ``math.fsum``, exact
``Fraction`` sums, or StandardScaler where scikit-learn is right.
"""

import itertools
import math
import warnings
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sknorm import ZScore


def make_X(rng, n=200, f=5, dtype=np.float64, nan_fraction=0.0):
    X = rng.normal(size=(n, f)) * rng.uniform(0.1, 10, size=f) + rng.normal(
        0, 20, size=f
    )
    if f >= 3:
        X[:, 2] = 3.7  # constant feature
    if nan_fraction:
        X[rng.uniform(size=X.shape) < nan_fraction] = np.nan
    return X.astype(dtype)


def ref_mean_var(X, w=None):
    """NaN-aware weighted mean and population variance, two-pass float64."""
    X = np.asarray(X, np.float64)
    obs = ~np.isnan(X)
    w = np.ones(len(X)) if w is None else np.asarray(w, np.float64)
    W = obs * w[:, None]
    mean = (W * np.where(obs, X, 0)).sum(0) / W.sum(0)
    var = (W * np.where(obs, X - mean, 0) ** 2).sum(0) / W.sum(0)
    return mean, var


# ------------------------------------------------ scikit-learn equivalence ----


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("nan_fraction", [0.0, 0.1])
@pytest.mark.parametrize(
    "with_mean, with_std, copy", list(itertools.product([True, False], repeat=3))
)
def test_matches_standard_scaler(rng, dtype, nan_fraction, with_mean, with_std, copy):
    X = make_X(rng, dtype=dtype, nan_fraction=nan_fraction)
    params = dict(with_mean=with_mean, with_std=with_std, copy=copy)
    ours, ref = ZScore(**params).fit(X), StandardScaler(**params).fit(X)
    rtol = 1e-12 if dtype == np.float64 else 1e-6
    for name in ("mean_", "var_", "scale_"):
        got, want = getattr(ours, name), getattr(ref, name)
        if want is None:
            assert got is None, name
        else:
            np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-12, err_msg=name)
    np.testing.assert_array_equal(ours.n_samples_seen_, ref.n_samples_seen_)
    # Each side gets its own copy: with copy=False both work in place.
    Xt = ours.transform(X.copy())
    assert Xt.dtype == dtype
    np.testing.assert_allclose(Xt, ref.transform(X.copy()), rtol=rtol, atol=rtol)
    np.testing.assert_allclose(
        ours.inverse_transform(Xt),
        ref.inverse_transform(ref.transform(X.copy())),
        rtol=rtol,
        atol=rtol * np.nanmax(np.abs(X)),
    )


def test_statistics_match_independent_reference(rng):
    X = make_X(rng, nan_fraction=0.2)
    mean, var = ref_mean_var(X)
    z = ZScore().fit(X)
    np.testing.assert_allclose(z.mean_, mean, rtol=1e-14)
    np.testing.assert_allclose(z.var_, var, rtol=1e-12, atol=1e-28)
    np.testing.assert_array_equal(z.n_samples_seen_, (~np.isnan(X)).sum(0))
    # Constant feature: variance 0, scale 1, transformed to 0 (NaN kept).
    assert z.var_[2] == 0 and z.scale_[2] == 1
    Xt = z.transform(X)
    np.testing.assert_array_equal(np.isnan(Xt), np.isnan(X))
    np.testing.assert_array_equal(Xt[~np.isnan(X[:, 2]), 2], 0.0)
    std = np.sqrt(var)
    expected = (X - mean) / np.where(std < 1e-12 * np.abs(mean), 1.0, std)
    np.testing.assert_allclose(Xt, expected, rtol=1e-12, atol=1e-13)


def test_n_samples_seen_is_an_int_without_nans(rng):
    z = ZScore().fit(make_X(rng, n=37))
    assert z.n_samples_seen_ == 37
    assert isinstance(z.n_samples_seen_, int | np.integer)
    z.partial_fit(make_X(rng, n=3))
    assert z.n_samples_seen_ == 40


def test_integer_input_becomes_float64(rng):
    X = rng.integers(-50, 50, size=(40, 3))
    z = ZScore().fit(X)
    Xt = z.transform(X)
    assert Xt.dtype == np.float64
    ref = StandardScaler().fit(X)
    np.testing.assert_allclose(z.mean_, ref.mean_, rtol=1e-14)
    np.testing.assert_allclose(Xt, ref.transform(X), rtol=1e-13, atol=1e-14)


def test_float32_accumulates_in_float64_and_outputs_float32(rng):
    X = (1e4 + rng.normal(size=(5_000, 3))).astype(np.float32)
    z = ZScore().fit(X)
    assert z.mean_.dtype == np.float64 and z.var_.dtype == np.float64
    # The exact statistics of the float32 values, computed in float64: a
    # float32 accumulator would be off by ~1e-4 relative in the variance.
    mean, var = ref_mean_var(X.astype(np.float64))
    np.testing.assert_allclose(z.mean_, mean, rtol=1e-14)
    np.testing.assert_allclose(z.var_, var, rtol=1e-11)
    Xt = z.transform(X)
    assert Xt.dtype == np.float32
    assert z.inverse_transform(Xt).dtype == np.float32


def test_all_nan_feature_has_nan_statistics(rng):
    """As scikit-learn: a feature never observed has NaN statistics and
    count 0, and the other features are unaffected."""
    X = make_X(rng, n=30)
    X[:, 1] = np.nan
    z = ZScore().fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = StandardScaler().fit(X)
    for name in ("mean_", "var_", "scale_"):
        np.testing.assert_allclose(getattr(z, name), getattr(ref, name), rtol=1e-12)
    np.testing.assert_array_equal(z.n_samples_seen_, [30, 0, 30, 30, 30])
    # Seen later: statistics from the rows that have it.
    X2 = make_X(rng, n=10)
    z.partial_fit(X2)
    np.testing.assert_allclose(z.mean_[1], X2[:, 1].mean(), rtol=1e-14)
    np.testing.assert_allclose(z.var_[1], X2[:, 1].var(), rtol=1e-12)


# ------------------------------------------------------------ weights ----


@pytest.mark.parametrize("nan_fraction", [0.0, 0.15])
def test_sample_weight_matches_average_and_standard_scaler(rng, nan_fraction):
    X = make_X(rng, nan_fraction=nan_fraction)
    w = rng.uniform(0, 3, size=len(X))
    w[::7] = 0.0
    z = ZScore().fit(X, sample_weight=w)
    mean, var = ref_mean_var(X, w)
    np.testing.assert_allclose(z.mean_, mean, rtol=1e-13)
    np.testing.assert_allclose(z.var_, var, rtol=1e-12, atol=1e-28)
    if not nan_fraction:
        np.testing.assert_allclose(
            z.mean_, np.average(X, axis=0, weights=w), rtol=1e-13
        )
    ref = StandardScaler().fit(X, sample_weight=w)
    np.testing.assert_allclose(z.mean_, ref.mean_, rtol=1e-12)
    np.testing.assert_allclose(z.scale_, ref.scale_, rtol=1e-12)
    np.testing.assert_allclose(z.n_samples_seen_, ref.n_samples_seen_, rtol=1e-13)
    np.testing.assert_allclose(z.transform(X), ref.transform(X), rtol=1e-11, atol=1e-12)


def test_integer_weights_equal_repeated_rows(rng):
    X = make_X(rng, n=50)
    w = rng.integers(0, 4, size=50)
    w[0] = 1
    z = ZScore().fit(X, sample_weight=w)
    rep = ZScore().fit(np.repeat(X, w, axis=0))
    np.testing.assert_allclose(z.mean_, rep.mean_, rtol=1e-13)
    np.testing.assert_allclose(z.var_, rep.var_, rtol=1e-12, atol=1e-28)
    assert float(z.n_samples_seen_) == rep.n_samples_seen_


def test_float32_data_float64_weights(rng):
    """Weights are accumulated in float64 with the data: 0.1 is not rounded
    to float32's 0.100000001."""
    X = make_X(rng, n=300, dtype=np.float32)
    w = rng.uniform(0, 1, size=300)
    z = ZScore().fit(X, sample_weight=w)
    mean, var = ref_mean_var(X.astype(np.float64), w)
    np.testing.assert_allclose(z.mean_, mean, rtol=1e-13)
    np.testing.assert_allclose(z.var_, var, rtol=1e-11, atol=1e-20)


def test_weighted_and_unweighted_batches_mix(rng):
    X = make_X(rng, n=90)
    w = np.ones(90)
    w[30:60] = rng.uniform(0, 2, size=30)
    z = ZScore().partial_fit(X[:30])
    z.partial_fit(X[30:60], sample_weight=w[30:60]).partial_fit(X[60:])
    mean, var = ref_mean_var(X, w)
    np.testing.assert_allclose(z.mean_, mean, rtol=1e-13)
    np.testing.assert_allclose(z.var_, var, rtol=1e-12, atol=1e-28)
    np.testing.assert_allclose(z.n_samples_seen_, w.sum(), rtol=1e-14)


# ------------------------------------------------------------- sparse ----


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("with_std", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_sparse_without_mean(rng, fmt, with_std, weighted):
    dense = make_X(rng, n=120, f=4)
    dense[rng.uniform(size=dense.shape) < 0.6] = 0.0
    X = sp.random(1, 1, format=fmt).__class__(dense)
    w = rng.uniform(0.5, 2, size=120) if weighted else None
    params = dict(with_mean=False, with_std=with_std)
    z = ZScore(**params).fit(X, sample_weight=w)
    ref = StandardScaler(**params).fit(X, sample_weight=w)
    if with_std:
        np.testing.assert_allclose(z.var_, ref.var_, rtol=1e-12)
        np.testing.assert_allclose(z.scale_, ref.scale_, rtol=1e-12)
        # Independently: the dense statistics.
        np.testing.assert_allclose(
            z.var_, ref_mean_var(dense, w)[1], rtol=1e-12, atol=1e-26
        )
    else:
        assert z.var_ is None and z.scale_ is None
    Xt = z.transform(X)
    assert sp.issparse(Xt) and Xt.format == fmt
    np.testing.assert_allclose(Xt.toarray(), ref.transform(X).toarray(), rtol=1e-12)
    np.testing.assert_allclose(z.inverse_transform(Xt).toarray(), dense, rtol=1e-12)
    # The sparse statistics equal the dense ones.
    zd = ZScore(**params).fit(dense, sample_weight=w)
    if with_std:
        np.testing.assert_allclose(z.mean_, zd.mean_, rtol=1e-12, atol=1e-15)
    else:
        assert z.mean_ is None and zd.mean_ is None


def test_sparse_partial_fit_and_copy(rng):
    dense = make_X(rng, n=60, f=3)
    dense[dense < 0] = 0.0
    dense[5, 0] = np.nan
    X = sp.csr_matrix(dense)
    z = ZScore(with_mean=False).partial_fit(X[:20]).partial_fit(X[20:])
    _, var = ref_mean_var(dense)
    np.testing.assert_allclose(z.var_, var, rtol=1e-12, atol=1e-26)
    np.testing.assert_array_equal(z.n_samples_seen_, [59, 60, 60])
    before = X.copy()
    Y = z.transform(X)
    np.testing.assert_array_equal(X.data, before.data)
    assert not np.shares_memory(Y.data, X.data)
    Z = z.transform(X, copy=False)
    assert np.shares_memory(Z.data, X.data)
    np.testing.assert_array_equal(X.data, Y.data)


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_sparse_with_mean_raises(rng, method):
    X = sp.csr_matrix(make_X(rng, n=10))
    z = ZScore()
    with pytest.raises(ValueError, match=rf"^ZScore\.{method}\(\): Cannot center"):
        getattr(z, method)(X)
    assert not hasattr(z, "n_samples_seen_")


def test_sparse_transform_after_dense_fit_with_mean_raises(rng):
    X = make_X(rng, n=10)
    z = ZScore().fit(X)
    for method in ("transform", "inverse_transform"):
        with pytest.raises(ValueError, match=rf"ZScore\.{method}\(\): Cannot center"):
            getattr(z, method)(sp.csr_matrix(X))


# ------------------------------------------------------- copy semantics ----


@pytest.mark.parametrize("with_mean", [True, False])
def test_copy_false_works_in_place(rng, with_mean):
    X = make_X(rng)
    z = ZScore(with_mean=with_mean, copy=False).fit(X)
    expected = z.transform(X.copy())
    Y = z.transform(X)
    assert np.shares_memory(X, Y)
    np.testing.assert_array_equal(X, expected)
    back = z.inverse_transform(X)
    assert np.shares_memory(back, X)
    # The call-level argument wins over the parameter.
    X2 = make_X(rng)
    X2c = X2.copy()
    Y2 = z.transform(X2, copy=True)
    np.testing.assert_array_equal(X2, X2c)
    assert not np.shares_memory(X2, Y2)


def test_copy_true_never_modifies_input(rng):
    X = make_X(rng, nan_fraction=0.1)
    frame = pd.DataFrame(X.copy(), columns=[f"f{i}" for i in range(X.shape[1])])
    frame_before = frame.copy()
    X_before = X.copy()
    for data in (X, frame):
        z = ZScore().fit(data)
        z.partial_fit(data)
        z.transform(data)
        z.inverse_transform(data)
        z.fit_transform(data)
    np.testing.assert_array_equal(X, X_before)
    pd.testing.assert_frame_equal(frame, frame_before)
    z = ZScore().fit(X)
    assert not np.shares_memory(z.transform(X), X)
    assert not np.shares_memory(z.inverse_transform(X), X)


def test_copy_false_on_integer_input_returns_new_float_array(rng):
    X = rng.integers(0, 9, size=(20, 3))
    before = X.copy()
    Y = ZScore(copy=False).fit(X).transform(X)
    assert Y.dtype == np.float64
    np.testing.assert_array_equal(X, before)


# --------------------------------------------- feature names / pipelines ----


def test_pandas_feature_names_and_set_output(rng):
    X = make_X(rng, n=30, f=3)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    z = ZScore().set_output(transform="pandas").fit(frame)
    np.testing.assert_array_equal(z.feature_names_in_, ["a", "b", "c"])
    np.testing.assert_array_equal(z.get_feature_names_out(), ["a", "b", "c"])
    out = z.transform(frame)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["a", "b", "c"]
    np.testing.assert_allclose(
        out.to_numpy(), StandardScaler().fit(X).transform(X), rtol=1e-12, atol=1e-13
    )
    np.testing.assert_array_equal(
        ZScore().fit(X).get_feature_names_out(), ["x0", "x1", "x2"]
    )


def test_pipeline_and_grid_search(rng):
    X = make_X(rng, n=120, f=4)
    X[:, 2] += rng.normal(size=120)
    y = (X[:, 0] + X[:, 1] > np.median(X[:, 0] + X[:, 1])).astype(int)
    pipe = make_pipeline(ZScore(), LogisticRegression())
    grid = GridSearchCV(
        pipe, {"zscore__with_mean": [True, False], "zscore__with_std": [True, False]}
    )
    grid.fit(X, y)
    assert grid.best_score_ > 0.8
    ref = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    np.testing.assert_allclose(
        pipe.set_params(zscore__with_mean=True).fit(X, y).predict_proba(X),
        ref.predict_proba(X),
        rtol=1e-6,
    )


# ------------------------------------------------------------ numerics ----


def test_streaming_large_mean_small_spread_is_exact():
    """The issue's case: 100,000 x 4 values 1e8 + N(0, 1e-3) in 1,000-row
    batches.  scikit-learn's StandardScaler.partial_fit gets var_ wrong by
    9.4e-7 relative on this data (5.9e-7 in DESIGN.md's run; its running
    sums are around 0, not around the data); sknorm was measured at 1.4e-15
    and must be within 1e-12 of an exact reference."""
    rng = np.random.default_rng(42)
    X = 1e8 + rng.normal(0, 1e-3, size=(100_000, 4))
    z = ZScore()
    for start in range(0, len(X), 1_000):
        z.partial_fit(X[start : start + 1_000])
    assert z.n_samples_seen_ == 100_000
    # Reference: x - 1e8 is exact in float64 (Sterbenz: both within a factor
    # 2), then an exactly rounded two-pass variance with math.fsum.
    D = X - 1e8
    for j in range(4):
        col = D[:, j].tolist()
        mean = math.fsum(col) / len(col)
        var = math.fsum((x - mean) ** 2 for x in col) / len(col)
        assert abs(z.var_[j] - var) <= 1e-12 * var, (z.var_[j], var)
        # The mean is exact to its own rounding (half an ulp of 1e8 is 7.5e-9).
        assert abs(z.mean_[j] - (1e8 + mean)) <= 7.5e-9
        # sknorm's constant-feature test is taken around its shift, so the
        # true scale is kept (scikit-learn's fit declares it constant, 1.0).
        assert z.scale_[j] == pytest.approx(math.sqrt(var), rel=1e-12)


def test_values_near_float_max(rng):
    """Values near 1e307: mean_ finite and exact (scikit-learn's running sum
    overflows to inf); var_ is +inf (it exceeds the float range), never NaN
    or 0."""
    X = 1e307 * (1.0 + rng.uniform(0, 4, size=(2_000, 2)))
    z = ZScore()
    with np.errstate(over="ignore"):
        for bounds in [(0, 500), (500, 2_000)]:
            z.partial_fit(X[slice(*bounds)])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            sk = StandardScaler().fit(X)
    assert np.all(np.isinf(sk.mean_))  # what scikit-learn gives, for contrast
    for j in range(2):
        exact = float(sum(Fraction(float(x)) for x in X[:, j]) / len(X))
        assert abs(z.mean_[j] - exact) <= 1e-14 * exact
    assert np.all(np.isposinf(z.var_))
    # A constant feature at the float maximum: mean exact, variance 0.
    C = np.full((100, 2), 1.5e308)
    zc = ZScore().fit(C)
    np.testing.assert_array_equal(zc.mean_, [1.5e308, 1.5e308])
    np.testing.assert_array_equal(zc.var_, [0.0, 0.0])
    np.testing.assert_array_equal(zc.transform(C), np.zeros((100, 2)))


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 120),
    cuts=st.lists(st.integers(1, 119), max_size=8),
    loc=st.sampled_from([0.0, 1e4, -1e8]),
    nan_fraction=st.sampled_from([0.0, 0.25]),
    weighted=st.booleans(),
)
def test_any_split_equals_one_fit(seed, n, cuts, loc, nan_fraction, weighted):
    rng = np.random.default_rng(seed)
    X = loc + rng.normal(size=(n, 3)) * [1.0, 1e-3, 50.0]
    X[rng.uniform(size=X.shape) < nan_fraction] = np.nan
    bounds = sorted({0, n, *(c for c in cuts if c < n)})
    w = None
    if weighted:
        w = rng.uniform(0, 2, size=n)
        w[rng.uniform(size=n) < 0.2] = 0.0
        for a in bounds[:-1]:
            w[a] = 1.0  # no batch without weight (that raises, tested elsewhere)
    one = ZScore().fit(X, sample_weight=w)
    split = ZScore()
    for a, b in itertools.pairwise(bounds):
        split.partial_fit(X[a:b], sample_weight=None if w is None else w[a:b])
    np.testing.assert_array_equal(
        np.isnan(split.mean_), np.isnan(one.mean_)
    )  # same features seen
    np.testing.assert_allclose(split.mean_, one.mean_, rtol=1e-12)
    spread = np.array([1.0, 1e-3, 50.0]) ** 2
    np.testing.assert_allclose(split.var_ / spread, one.var_ / spread, rtol=1e-12)
    np.testing.assert_allclose(split.n_samples_seen_, one.n_samples_seen_, rtol=1e-13)


def test_fit_resets_and_partial_fit_continues(rng):
    A, B = make_X(rng, n=40), make_X(rng, n=25)
    z = ZScore().fit(A).partial_fit(B)
    mean, var = ref_mean_var(np.vstack([A, B]))
    np.testing.assert_allclose(z.mean_, mean, rtol=1e-13)
    np.testing.assert_allclose(z.var_, var, rtol=1e-12, atol=1e-28)
    z.fit(B)
    np.testing.assert_allclose(z.mean_, B.mean(0), rtol=1e-13)
    assert z.n_samples_seen_ == 25


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 50),
    loc=st.sampled_from([0.0, -3e5, 1e9]),
    log_spread=st.integers(-4, 6),
    with_mean=st.booleans(),
    with_std=st.booleans(),
)
def test_round_trip(seed, n, loc, log_spread, with_mean, with_std):
    """inverse_transform(transform(X)) == X to rounding, constant features
    (n=1) included."""
    rng = np.random.default_rng(seed)
    X = loc + rng.normal(size=(n, 3)) * 10.0**log_spread
    z = ZScore(with_mean=with_mean, with_std=with_std).fit(X)
    back = z.inverse_transform(z.transform(X))
    np.testing.assert_allclose(back, X, rtol=1e-12, atol=1e-12 * np.abs(X).max())
