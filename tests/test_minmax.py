"""MinMax against scikit-learn's MinMaxScaler and independent references."""

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from sknorm import MinMax


def make_X(rng, n=150, f=4, dtype=np.float64, nan_fraction=0.0):
    X = rng.normal(size=(n, f)) * rng.uniform(0.1, 10, size=f) + rng.normal(
        0, 20, size=f
    )
    X[:, 1] = -2.5  # constant feature
    if nan_fraction:
        X[rng.uniform(size=X.shape) < nan_fraction] = np.nan
    return X.astype(dtype)


def ref_min_max(X):
    """NaN-ignoring per-feature min and max, by sorting each column."""
    lo, hi = [], []
    for col in np.asarray(X, np.float64).T:
        seen = np.sort(col[~np.isnan(col)])
        lo.append(seen[0])
        hi.append(seen[-1])
    return np.array(lo), np.array(hi)


# ------------------------------------------------ scikit-learn equivalence ----


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("nan_fraction", [0.0, 0.1])
@pytest.mark.parametrize("feature_range", [(0, 1), (-1, 1), (2.5, 7)])
@pytest.mark.parametrize("clip", [False, True])
@pytest.mark.parametrize("copy", [True, False])
def test_matches_min_max_scaler(rng, dtype, nan_fraction, feature_range, clip, copy):
    X = make_X(rng, dtype=dtype, nan_fraction=nan_fraction)
    params = dict(feature_range=feature_range, clip=clip, copy=copy)
    ours = MinMax(**params).fit(X[:100])
    ref = MinMaxScaler(**params).fit(X[:100])
    rtol = 1e-13 if dtype == np.float64 else 1e-6
    for name in ("data_min_", "data_max_", "data_range_", "scale_", "min_"):
        np.testing.assert_allclose(
            getattr(ours, name), getattr(ref, name), rtol=rtol, err_msg=name
        )
    assert ours.n_samples_seen_ == ref.n_samples_seen_ == 100
    # Rows 100: lie partly outside the fitted range: that is what clip is for.
    atol = 1e-13 if dtype == np.float64 else 1e-5
    # Each side gets its own copy: with copy=False both work in place.
    Xt = ours.transform(X.copy())
    assert Xt.dtype == dtype
    np.testing.assert_allclose(Xt, ref.transform(X.copy()), rtol=rtol, atol=atol)
    if clip:
        lo, hi = feature_range
        assert np.nanmin(Xt) >= lo and np.nanmax(Xt) <= hi
    np.testing.assert_array_equal(np.isnan(Xt), np.isnan(X))
    back = ours.inverse_transform(ours.transform(X[:100]))
    np.testing.assert_allclose(back, X[:100], rtol=rtol, atol=atol * 100)


def test_statistics_match_independent_reference(rng):
    X = make_X(rng, nan_fraction=0.2)
    lo, hi = ref_min_max(X)
    m = MinMax(feature_range=(-3, 5)).fit(X)
    np.testing.assert_array_equal(m.data_min_, lo)
    np.testing.assert_array_equal(m.data_max_, hi)
    np.testing.assert_array_equal(m.data_range_, hi - lo)
    span = np.where(hi - lo == 0, 1.0, hi - lo)
    expected = (X - lo) / span * 8 - 3
    np.testing.assert_allclose(m.transform(X), expected, rtol=1e-14, atol=1e-14)
    # Constant feature: maps to feature_range[0], as scikit-learn does.
    col = m.transform(X)[:, 1]
    np.testing.assert_array_equal(col[~np.isnan(col)], -3.0)


def test_integer_input_becomes_float64(rng):
    X = rng.integers(-100, 100, size=(30, 3))
    Xt = MinMax().fit(X).transform(X)
    assert Xt.dtype == np.float64
    # scikit-learn's X * scale_ + min_ cancels digits near 0: absolute check.
    np.testing.assert_allclose(Xt, MinMaxScaler().fit(X).transform(X), atol=1e-15)
    lo, hi = X.min(0), X.max(0)
    np.testing.assert_allclose(Xt, (X - lo) / (hi - lo), rtol=1e-15)


def test_float32_statistics_in_float64_output_float32(rng):
    X = make_X(rng, dtype=np.float32)
    m = MinMax().fit(X)
    assert m.data_min_.dtype == np.float64 and m.scale_.dtype == np.float64
    # float32 -> float64 is exact: the extremes are the float32 values.
    lo, hi = ref_min_max(X)
    np.testing.assert_array_equal(m.data_min_, lo)
    np.testing.assert_array_equal(m.data_max_, hi)
    assert m.transform(X).dtype == np.float32
    assert m.inverse_transform(m.transform(X)).dtype == np.float32


def test_large_offset_keeps_digits(rng):
    """(x - data_min) * scale is evaluated before adding the offset: a
    feature at 1e9 with a spread of 1 is mapped to [0, 1] exactly at the
    ends."""
    X = 1e9 + rng.uniform(0, 1, size=(500, 2))
    Xt = MinMax().fit(X).transform(X)
    lo, hi = ref_min_max(X)
    np.testing.assert_allclose(Xt, (X - lo) / (hi - lo), rtol=1e-13, atol=1e-15)
    assert Xt.min() == 0.0 and Xt.max() == 1.0


# ---------------------------------------------------------- data_range ----


def test_data_range_on_uint8_images_is_division_by_255(rng):
    images = rng.integers(0, 256, size=(64, 28 * 28), dtype=np.uint8)
    m = MinMax(data_range=(0, 255))
    out = m.transform(images)  # no fit needed
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, images / 255.0, rtol=1e-15, atol=0)
    assert out.min() >= 0.0 and out.max() <= 1.0
    back = m.inverse_transform(out)
    np.testing.assert_allclose(back, images, rtol=1e-14)
    # Fitting changes nothing: the range is known, not learned.
    m.fit(images[:3])
    np.testing.assert_allclose(m.transform(images), images / 255.0, rtol=1e-15)
    np.testing.assert_array_equal(m.data_min_, np.zeros(28 * 28))
    np.testing.assert_array_equal(m.data_max_, np.full(28 * 28, 255.0))
    assert m.n_samples_seen_ == 3


def test_data_range_with_feature_range_and_float32(rng):
    X = rng.uniform(-10, 10, size=(20, 3)).astype(np.float32)
    out = MinMax(feature_range=(-1, 1), data_range=(-10, 10)).transform(X)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, X / np.float32(10), rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------- validation ----


@pytest.mark.parametrize("param", ["feature_range", "data_range"])
@pytest.mark.parametrize("bad", [(1, 0), (2, 2), (0, np.nan)])
@pytest.mark.parametrize("method", ["fit", "partial_fit", "transform"])
def test_range_min_must_be_below_max(rng, param, bad, method):
    X = make_X(rng, n=10)
    m = MinMax(**{param: bad})
    if method == "transform" and param == "feature_range":
        m = MinMax().fit(X).set_params(feature_range=bad)
    elif method == "transform":
        pass  # data_range: transform works without fit
    with pytest.raises(ValueError, match=rf"^MinMax\.{method}\(\): .*{param}"):
        getattr(m, method)(X)


@pytest.mark.parametrize("bad", [(0,), (0, 1, 2), ("a", "b"), (True, 2), 5, "01", None])
def test_feature_range_must_be_a_pair_of_numbers(rng, bad):
    with pytest.raises((ValueError, TypeError), match=r"^MinMax\.fit\(\): "):
        MinMax(feature_range=bad).fit(make_X(rng, n=5))


def test_transform_before_fit_raises_without_data_range(rng):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        MinMax().transform(make_X(rng, n=5))


# ------------------------------------------------------- copy semantics ----


@pytest.mark.parametrize("clip", [False, True])
def test_copy_false_works_in_place(rng, clip):
    X = make_X(rng)
    m = MinMax(clip=clip, copy=False).fit(X[:50])
    expected = m.transform(X.copy())
    Y = m.transform(X)
    assert np.shares_memory(X, Y)
    np.testing.assert_array_equal(X, expected)
    if clip:
        assert X.min() >= 0 and X.max() <= 1


def test_copy_true_never_modifies_input(rng):
    X = make_X(rng, nan_fraction=0.1)
    frame = pd.DataFrame(X.copy(), columns=list("abcd"))
    before, frame_before = X.copy(), frame.copy()
    for data in (X, frame):
        m = MinMax(clip=True).fit(data)
        m.partial_fit(data)
        m.transform(data)
        m.inverse_transform(data)
        m.fit_transform(data)
    np.testing.assert_array_equal(X, before)
    pd.testing.assert_frame_equal(frame, frame_before)
    assert not np.shares_memory(MinMax().fit(X).transform(X), X)


# ------------------------------------------------------------ streaming ----


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 80),
    cuts=st.lists(st.integers(1, 79), max_size=6),
    nan_fraction=st.sampled_from([0.0, 0.4]),
)
def test_any_split_equals_one_fit(seed, n, cuts, nan_fraction):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)) * [1, 1e6, 1e-6]
    X[rng.uniform(size=X.shape) < nan_fraction] = np.nan
    X[0, 0] = 0.5  # at least one observation in the first feature
    one = MinMax().fit(X)
    split = MinMax()
    bounds = sorted({0, n, *(c for c in cuts if c < n)})
    for a, b in itertools.pairwise(bounds):
        split.partial_fit(X[a:b])
    for name in ("data_min_", "data_max_", "data_range_", "scale_", "min_"):
        np.testing.assert_array_equal(getattr(split, name), getattr(one, name))
    assert split.n_samples_seen_ == one.n_samples_seen_ == n


def test_partial_fit_matches_scaler_partial_fit(rng):
    X = make_X(rng, nan_fraction=0.1)
    ours, ref = MinMax(), MinMaxScaler()
    for batch in np.array_split(X, 6):
        ours.partial_fit(batch)
        ref.partial_fit(batch)
    np.testing.assert_array_equal(ours.data_min_, ref.data_min_)
    np.testing.assert_array_equal(ours.data_max_, ref.data_max_)
    np.testing.assert_allclose(ours.transform(X), ref.transform(X), rtol=1e-13)


# --------------------------------------------- feature names / pipelines ----


def test_pandas_feature_names_and_set_output(rng):
    X = make_X(rng, n=20)
    frame = pd.DataFrame(X, columns=list("wxyz"))
    m = MinMax().set_output(transform="pandas").fit(frame)
    np.testing.assert_array_equal(m.get_feature_names_out(), list("wxyz"))
    out = m.transform(frame)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == list("wxyz")
    np.testing.assert_allclose(out.to_numpy(), MinMaxScaler().fit_transform(X))


def test_pipeline_and_grid_search(rng):
    X = make_X(rng, n=120)
    y = (X[:, 0] > np.median(X[:, 0])).astype(int)
    grid = GridSearchCV(
        make_pipeline(MinMax(), LogisticRegression()),
        {"minmax__feature_range": [(0, 1), (-1, 1)], "minmax__clip": [False, True]},
    ).fit(X, y)
    assert grid.best_score_ > 0.8


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 50),
    loc=st.sampled_from([0.0, -3e5, 1e9]),
    log_spread=st.integers(-4, 6),
    feature_range=st.sampled_from([(0, 1), (-1, 1), (-1e3, 1e-3)]),
)
def test_round_trip(seed, n, loc, log_spread, feature_range):
    """inverse_transform(transform(X)) == X to rounding, constant features
    (n=1) included; the fitted rows land inside feature_range."""
    rng = np.random.default_rng(seed)
    X = loc + rng.normal(size=(n, 3)) * 10.0**log_spread
    m = MinMax(feature_range=feature_range).fit(X)
    Xt = m.transform(X)
    lo, hi = feature_range
    slack = 1e-12 * (hi - lo)
    assert Xt.min() >= lo - slack and Xt.max() <= hi + slack
    back = m.inverse_transform(Xt)
    np.testing.assert_allclose(back, X, rtol=1e-12, atol=1e-12 * np.abs(X).max())
