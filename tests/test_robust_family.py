"""``MaxAbs``, ``Robust`` and ``Quantile`` (issue 19) against independent
references.

* in-memory fits: scikit-learn's ``MaxAbsScaler``, ``RobustScaler`` and
  ``QuantileTransformer(subsample=None)`` (to 1e-12 relative, or bit for
  bit), dense and sparse; integer weights against ``np.repeat``;
* streams and merges: the rank of every fitted quantile counted in the
  whole data (``tests/quantile_ranks.py``);
* errors, transactional failures, dtypes, in-place transforms, the
  Array API backends (array-api-strict, torch on the CPU) against the
  NumPy results, and no host reads in a device ``partial_fit``.
"""

import copy
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from quantile_ranks import (
    certified_interval,
    interpolation_slack,
    observed,
    rank_deviation,
)
from sklearn import config_context
from sklearn.preprocessing import MaxAbsScaler, QuantileTransformer, RobustScaler

import sknorm

RTOL = 1e-12


def _data(seed=0, n=157):
    """Columns: Cauchy, normal with 10 % NaN, heavy duplicates (repeated
    quantiles), a constant, 90 % NaN."""
    rng = np.random.default_rng(seed)
    X = np.empty((n, 5))
    X[:, 0] = rng.standard_cauchy(n)
    X[:, 1] = rng.normal(3.0, 2.0, n)
    X[rng.uniform(size=n) < 0.1, 1] = np.nan
    X[:, 2] = np.where(rng.uniform(size=n) < 0.7, 1.0, rng.integers(0, 4, n))
    X[:, 3] = -2.5
    X[:, 4] = rng.normal(size=n)
    X[rng.uniform(size=n) < 0.9, 4] = np.nan
    return X


def _new_data(X, seed=1):
    """Data to transform: new values inside and far outside the fitted
    range, the fitted extremes themselves, NaN."""
    rng = np.random.default_rng(seed)
    lo, hi = np.nanmin(X, axis=0), np.nanmax(X, axis=0)
    Y = rng.normal(size=(60, X.shape[1])) * (hi - lo + 1) + np.nanmedian(X, axis=0)
    Y[0], Y[1] = lo, hi
    Y[2], Y[3] = lo - 1e3, hi + 1e3
    Y[4] = np.nan
    Y[5:8] = X[:3]
    Y[8, ::2] = np.nan
    return Y


def _close(actual, desired, rtol=RTOL, atol=0.0, err_msg=""):
    np.testing.assert_allclose(
        np.asarray(actual),
        desired,
        rtol=rtol,
        atol=atol,
        equal_nan=True,
        err_msg=err_msg,
    )


def _same_nan(out, X):
    np.testing.assert_array_equal(np.isnan(np.asarray(out)), np.isnan(X))


def _quiet_fit(est, *args, **kwargs):
    """Fit, with NumPy's and scikit-learn's warnings for an all-NaN column
    or too few rows silenced (the reference estimators warn there)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        return est.fit(*args, **kwargs)


# ------------------------------------------------ Robust vs RobustScaler ----

ROBUST_PARAMS = [
    {},
    {"with_centering": False},
    {"with_scaling": False},
    {"with_centering": False, "with_scaling": False},
    {"unit_variance": True},
    {"quantile_range": (0.0, 100.0)},
    {"quantile_range": (50.0, 50.0)},
    {"quantile_range": (12.5, 62.5)},
    {"quantile_range": (10, 90), "unit_variance": True},
]


def _assert_counts(est, X, w=None):
    """``n_samples_seen_`` as ``ZScore`` counts: the observed entries per
    feature (the sum of their weights with ``sample_weight``), one number
    when every feature saw as many."""
    observed = ~np.isnan(X)
    expected = observed.sum(axis=0) if w is None else (observed * w[:, None]).sum(0)
    got = est.n_samples_seen_
    if np.all(expected == expected[0]):
        assert np.ndim(got) == 0
        np.testing.assert_allclose(got, expected[0], rtol=1e-12)
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("params", ROBUST_PARAMS, ids=str)
def test_robust_fit_equals_robust_scaler(params):
    X = _data()
    est = sknorm.Robust(**params).fit(X)
    ref = _quiet_fit(RobustScaler(**params), X)
    for name in ("center_", "scale_"):
        expected = getattr(ref, name)
        if expected is None:
            assert getattr(est, name) is None, name
        else:
            _close(getattr(est, name), expected, err_msg=name)
    assert est.rank_error_ == 0.0
    _assert_counts(est, X)
    Y = _new_data(X)
    Z = est.transform(Y)
    _close(Z, ref.transform(Y))
    _same_nan(Z, Y)
    _close(est.inverse_transform(Z), ref.inverse_transform(ref.transform(Y)))


@pytest.mark.parametrize("n", [1, 2, 3])
def test_robust_of_a_few_rows(n):
    X = np.random.default_rng(n).normal(size=(n, 2))
    est = sknorm.Robust(unit_variance=True).fit(X)
    ref = RobustScaler(unit_variance=True).fit(X)
    # scikit-learn's centre is np.nanmedian ((a + b) / 2), sknorm's the
    # linear interpolation a + (b - a) / 2: equal to an ulp.
    _close(est.center_, ref.center_, atol=1e-15)
    _close(est.scale_, ref.scale_)
    _close(est.transform(X), ref.transform(X), atol=1e-15)
    one_by_one = sknorm.Robust(unit_variance=True)
    for i in range(n):
        one_by_one.partial_fit(X[i : i + 1])
    assert one_by_one.rank_error_ == 0.0
    assert _bits(one_by_one.center_) == _bits(est.center_)
    assert _bits(one_by_one.scale_) == _bits(est.scale_)


def test_robust_first_partial_fit_is_the_exact_fit():
    X = _data()
    est = sknorm.Robust().partial_fit(X)
    ref = sknorm.Robust().fit(X)
    assert est.rank_error_ == 0.0
    assert np.asarray(est.center_).tobytes() == np.asarray(ref.center_).tobytes()
    assert np.asarray(est.scale_).tobytes() == np.asarray(ref.scale_).tobytes()


# -------------------------------------- Quantile vs QuantileTransformer ----


def _quantile_pair(n_quantiles, distribution, X):
    est = sknorm.Quantile(n_quantiles=n_quantiles, output_distribution=distribution)
    ref = QuantileTransformer(
        n_quantiles=n_quantiles, output_distribution=distribution, subsample=None
    )
    return est, ref


def _quantile_probes(est, X, distribution):
    """Inputs of ``transform`` (new data, the fitted quantiles themselves,
    values within the clipping threshold of the ends) and of
    ``inverse_transform`` (the ends of the output and beyond)."""
    q = np.asarray(est.quantiles_)
    Y = np.vstack([_new_data(X), q, q[:1] + 5e-8, q[-1:] - 5e-8])
    if distribution == "uniform":
        out = np.array([0.0, 1.0, -0.5, 1.5, 0.3, 1e-9, 1 - 1e-9])
    else:
        out = np.array([0.0, -5.1993375821928165, 5.1993375821928165, -9.0, 9.0, 1.5])
    Z = np.repeat(out[:, None], X.shape[1], axis=1)
    Z[0, 0] = np.nan
    return Y, Z


@pytest.mark.parametrize("distribution", ["uniform", "normal"])
@pytest.mark.parametrize("n_quantiles", [10, 157])
def test_quantile_fit_equals_quantile_transformer(n_quantiles, distribution):
    X = _data()
    est, ref = _quantile_pair(n_quantiles, distribution, X)
    est.fit(X)
    _quiet_fit(ref, X)
    _close(est.quantiles_, ref.quantiles_)
    np.testing.assert_array_equal(est.references_, ref.references_)
    assert est.n_quantiles_ == ref.n_quantiles_ == n_quantiles
    assert est.rank_error_ == 0.0
    Y, Z = _quantile_probes(est, X, distribution)
    T = est.transform(Y)
    _close(T, ref.transform(Y))
    _same_nan(T, Y)
    _close(est.inverse_transform(T), ref.inverse_transform(ref.transform(Y)))
    _close(est.inverse_transform(Z), ref.inverse_transform(Z))


@pytest.mark.parametrize("distribution", ["uniform", "normal"])
def test_quantile_with_fewer_rows_than_quantiles_warns_as_scikit_learn(distribution):
    X = _data(n=23)
    est, ref = _quantile_pair(1000, distribution, X)
    with pytest.warns(UserWarning, match="n_quantiles is set to n_samples"):
        est.fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the all-NaN slice
        with pytest.warns(UserWarning, match="n_quantiles is set to n_samples"):
            ref.fit(X)
    assert est.n_quantiles_ == ref.n_quantiles_ == 23
    _close(est.quantiles_, ref.quantiles_)
    np.testing.assert_array_equal(est.references_, ref.references_)
    Y, Z = _quantile_probes(est, X, distribution)
    _close(est.transform(Y), ref.transform(Y))
    _close(est.inverse_transform(Z), ref.inverse_transform(Z))


def test_quantile_of_one_row():
    X = np.array([[1.0, -3.0]])
    est, ref = _quantile_pair(10, "uniform", X)
    with pytest.warns(UserWarning, match="n_quantiles is set to n_samples"):
        est.fit(X)
    with pytest.warns(UserWarning, match="n_quantiles is set to n_samples"):
        ref.fit(X)
    _close(est.quantiles_, ref.quantiles_)
    Y = np.array([[0.0, -3.0], [1.0, 5.0], [np.nan, -4.0]])
    _close(est.transform(Y), ref.transform(Y))


# ----------------------------------------------- MaxAbs vs MaxAbsScaler ----


def _sparse(seed=0, negative=True):
    rng = np.random.default_rng(seed)
    X = sp.random(80, 5, density=0.3, random_state=seed, format="csc")
    X.data = rng.normal(size=X.nnz) * 10
    if not negative:
        X.data = np.abs(X.data)
    X.data[:3] = np.nan
    X = X.tolil()
    X[:, 4] = 0.0  # a column that is all zero
    return X.tocsc()


def _assert_same_sparse(a, b, fmt):
    assert sp.issparse(a) and a.format == fmt
    b = b.asformat(fmt)
    a.sort_indices()
    b.sort_indices()
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    _close(a.data, b.data)


def test_maxabs_dense_equals_maxabs_scaler():
    X = _data()
    X[:, 1] *= -1
    est = sknorm.MaxAbs().fit(X)
    ref = MaxAbsScaler().fit(X)
    _close(est.max_abs_, ref.max_abs_)
    _close(est.scale_, ref.scale_)
    assert est.n_samples_seen_ == ref.n_samples_seen_
    Y = _new_data(X)
    T = est.transform(Y)
    _close(T, ref.transform(Y))
    _same_nan(T, Y)
    _close(est.inverse_transform(T), ref.inverse_transform(ref.transform(Y)))


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_maxabs_sparse_equals_maxabs_scaler(fmt):
    X = _sparse().asformat(fmt)
    est = sknorm.MaxAbs().fit(X)
    ref = MaxAbsScaler().fit(X)
    _close(est.max_abs_, ref.max_abs_)
    _close(est.scale_, ref.scale_)
    T = est.transform(X)
    # The same format, the same stored entries: nothing densified.
    assert T.nnz == X.nnz
    _assert_same_sparse(T, ref.transform(X), fmt)
    _assert_same_sparse(
        est.inverse_transform(T), ref.inverse_transform(ref.transform(X)), fmt
    )
    # Sparse and dense fits agree.
    dense = sknorm.MaxAbs().fit(X.toarray())
    _close(dense.max_abs_, est.max_abs_)


# ------------------------------------------------------------- sparse ----


@pytest.mark.parametrize(
    "params", [{}, {"unit_variance": True}, {"quantile_range": (5, 60)}], ids=str
)
@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_robust_without_centering_equals_robust_scaler(fmt, params):
    X = _sparse().asformat(fmt)
    est = sknorm.Robust(with_centering=False, **params).fit(X)
    ref = RobustScaler(with_centering=False, **params).fit(X)
    assert est.center_ is None
    _close(est.scale_, ref.scale_)
    assert est.rank_error_ == 0.0
    T = est.transform(X)
    assert T.nnz == X.nnz
    _assert_same_sparse(T, ref.transform(X), fmt)
    _assert_same_sparse(
        est.inverse_transform(T), ref.inverse_transform(ref.transform(X)), fmt
    )
    # The implicit zeros count: the dense fit of the same data agrees.
    dense = sknorm.Robust(with_centering=False, **params).fit(X.toarray())
    _close(dense.scale_, est.scale_)


@pytest.mark.parametrize("distribution", ["uniform", "normal"])
@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_quantile_equals_quantile_transformer(fmt, distribution):
    X = _sparse(negative=False).asformat(fmt)
    est, ref = _quantile_pair(20, distribution, X)
    est.fit(X)
    ref.fit(X)
    _close(est.quantiles_, ref.quantiles_)
    assert est.rank_error_ == 0.0
    T = est.transform(X)
    # sknorm keeps the input's format (scikit-learn returns CSC).
    _assert_same_sparse(T, ref.transform(X), fmt)
    _assert_same_sparse(
        est.inverse_transform(T), ref.inverse_transform(ref.transform(X)), fmt
    )
    dense = sknorm.Quantile(n_quantiles=20).fit(X.toarray())
    _close(dense.quantiles_, est.quantiles_)


def _sparse_weighted_pair(make, X, w, n_quantiles=40):
    if make is sknorm.Quantile:
        params = {"n_quantiles": n_quantiles}
    else:
        params = {"with_centering": False}
    name = "quantiles_" if make is sknorm.Quantile else "scale_"
    sparse = make(**params).fit(X, sample_weight=w)
    dense = make(**params).fit(X.toarray(), sample_weight=w)
    return np.asarray(getattr(sparse, name)), np.asarray(getattr(dense, name))


@pytest.mark.parametrize("weights", ["integers", "fractional above 1"])
@pytest.mark.parametrize("make", [sknorm.Robust, sknorm.Quantile])
def test_sparse_weighted_fit_equals_dense(make, weights):
    """The implicit zeros weigh what their rows weigh."""
    X = _sparse(negative=make is not sknorm.Quantile)
    rng = np.random.default_rng(19)
    if weights == "integers":
        w = rng.integers(0, 5, X.shape[0]).astype(float)
    else:
        w = rng.uniform(1.0, 3.0, X.shape[0])
    sparse, dense = _sparse_weighted_pair(make, X, w)
    _close(sparse, dense)


@pytest.mark.parametrize("make", [sknorm.Robust, sknorm.Quantile])
def test_sparse_weights_below_one_equal_dense(make):
    """Minimal: (0, 0, 0, 1, 2, 3) with weights 0.5 has the interquartile
    range 1.75 (the dense fit, and the unweighted one); sparse gives 1.25."""
    X = sp.csr_matrix(np.array([[0.0], [0.0], [0.0], [1.0], [2.0], [3.0]]))
    sparse, dense = _sparse_weighted_pair(make, X, np.full(6, 0.5), n_quantiles=5)
    _close(sparse, dense)


def test_sparse_stream_is_certified():
    rng = np.random.default_rng(20)
    n = 4000
    D = np.abs(rng.standard_cauchy(size=(n, 3)))
    D[rng.uniform(size=(n, 3)) > [0.05, 0.5, 0.95]] = 0.0  # stored: 5 % .. 95 %
    D[rng.uniform(size=n) < 0.05, 0] = np.nan
    X = sp.csr_matrix(D)
    for make, params in (
        (sknorm.Quantile, {"n_quantiles": 40}),
        (sknorm.Robust, {"with_centering": False, "quantile_range": (5, 99)}),
    ):
        est = make(rank_error=0.01, **params)
        for rows in np.array_split(np.arange(n), 10):
            est.partial_fit(X[rows])
        assert 0.0 < est.rank_error_ <= 0.01
        if make is sknorm.Quantile:
            _assert_quantile_certified(est, D)
        else:
            _assert_robust_certified(est, D)


@pytest.mark.parametrize("method", ["fit", "partial_fit", "transform"])
def test_sparse_quantile_refuses_negative_values(method):
    X = _sparse(negative=True)
    est = sknorm.Quantile(n_quantiles=10)
    if method == "transform":
        est.fit(abs(X))
    with pytest.raises(ValueError, match=rf"^Quantile\.{method}\(\): .*non-negative"):
        getattr(est, method)(X)


@pytest.mark.parametrize("method", ["fit", "partial_fit", "transform"])
def test_sparse_robust_with_centering_is_refused(method):
    X = _sparse()
    est = sknorm.Robust()
    if method == "transform":
        est.fit(X.toarray())
    with pytest.raises(
        ValueError, match=rf"^Robust\.{method}\(\): Cannot center sparse matrices"
    ):
        getattr(est, method)(X)


# --------------------------------------------------------------- NaN ----


@pytest.mark.parametrize("make", [sknorm.MaxAbs, sknorm.Robust, sknorm.Quantile])
def test_nan_is_ignored_in_fit_and_kept_in_transform(make):
    X = _data()
    est = make().fit(X) if make is not sknorm.Quantile else make(n_quantiles=50).fit(X)
    # Column by column, without the NaN: the same statistics.
    for j in range(X.shape[1]):
        column = X[~np.isnan(X[:, j]), j : j + 1]
        alone = make().fit(column) if make is not sknorm.Quantile else None
        if make is sknorm.MaxAbs:
            _close(est.max_abs_[j], np.max(np.abs(column)))
        elif make is sknorm.Robust:
            _close(est.center_[j], np.percentile(column, 50))
            _close(est.scale_[j], alone.scale_[0])
        else:
            _close(
                est.quantiles_[:, j], np.percentile(column[:, 0], est.references_ * 100)
            )
    Y = _new_data(X)
    T = est.transform(Y)
    _same_nan(T, Y)
    _same_nan(est.inverse_transform(T), Y)


# ----------------------------------------------------------- weights ----


def _weighted_data(seed=2):
    X = _data(seed)[:, :3]  # the columns with data in every draw
    w = np.random.default_rng(seed).integers(0, 5, X.shape[0]).astype(float)
    w[0] = 3.0
    return X, w


def _repeated(X, w):
    return np.repeat(X, w.astype(int), axis=0)


def _bits(a):
    return None if a is None else np.asarray(a).tobytes()


@pytest.mark.parametrize("params", ROBUST_PARAMS[:5] + ROBUST_PARAMS[7:], ids=str)
def test_robust_integer_weights_equal_repeated_rows(params):
    X, w = _weighted_data()
    est = sknorm.Robust(**params).fit(X, sample_weight=w)
    rep = sknorm.Robust(**params).fit(_repeated(X, w))
    ref = RobustScaler(**params).fit(_repeated(X, w))
    for name in ("center_", "scale_"):
        assert _bits(getattr(est, name)) == _bits(getattr(rep, name)), name
        expected = getattr(ref, name)
        if expected is not None:
            _close(getattr(est, name), expected)
    assert est.rank_error_ == 0.0


@pytest.mark.parametrize("distribution", ["uniform", "normal"])
def test_quantile_integer_weights_equal_repeated_rows(distribution):
    X, w = _weighted_data()
    n_quantiles = 50  # fewer than the rows (n_quantiles_ counts rows)
    est = sknorm.Quantile(n_quantiles=n_quantiles, output_distribution=distribution)
    est.fit(X, sample_weight=w)
    rep = sknorm.Quantile(n_quantiles=n_quantiles, output_distribution=distribution)
    rep.fit(_repeated(X, w))
    _, ref = _quantile_pair(n_quantiles, distribution, X)
    ref.fit(_repeated(X, w))
    assert _bits(est.quantiles_) == _bits(rep.quantiles_)
    _close(est.quantiles_, ref.quantiles_)
    Y = _new_data(X)
    _close(est.transform(Y), ref.transform(Y))


def test_quantile_integer_weights_equal_repeated_rows_with_few_rows():
    X = np.arange(10.0).reshape(-1, 1)
    w = np.full(10, 3.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        est = sknorm.Quantile(n_quantiles=100).fit(X, sample_weight=w)
        ref = QuantileTransformer(n_quantiles=100, subsample=None).fit(_repeated(X, w))
    assert est.n_quantiles_ == ref.n_quantiles_
    _close(est.quantiles_, ref.quantiles_)


def test_maxabs_weights():
    X, w = _weighted_data()
    est = sknorm.MaxAbs().fit(X, sample_weight=w)
    _close(est.max_abs_, np.nanmax(np.abs(_repeated(X, w)), axis=0))


@pytest.mark.parametrize("make", [sknorm.Robust, sknorm.Quantile])
def test_equal_weights_below_one_are_the_unweighted_fit(make):
    """Weights averaging below 1 are scaled to a mean of 1 (the estimators'
    Notes): ten rows of weight 0.1 are the ten rows."""
    X = np.arange(10.0).reshape(-1, 1)
    params = {"n_quantiles": 10} if make is sknorm.Quantile else {}
    est = make(**params).fit(X, sample_weight=np.full(10, 0.1))
    ref = make(**params).fit(X)
    name = "quantiles_" if make is sknorm.Quantile else "center_"
    _close(getattr(est, name), getattr(ref, name))


def _zero_weight_data(seed=3):
    """Rows of weight 0 holding 1e12 (and NaN) between rows of fractional
    weight."""
    rng = np.random.default_rng(seed)
    X = _data(seed, n=300)[:, :3]
    w = rng.uniform(0.5, 2.0, X.shape[0])
    zero = rng.uniform(size=X.shape[0]) < 0.3
    w[zero] = 0.0
    X[zero, 0] = 1e12
    X[zero & (rng.uniform(size=X.shape[0]) < 0.5), 1] = np.nan
    return X, w, ~zero


FITTED = {
    sknorm.MaxAbs: ("max_abs_", "scale_"),
    sknorm.Robust: ("center_", "scale_", "rank_error_"),
    sknorm.Quantile: ("quantiles_", "references_", "n_quantiles_", "rank_error_"),
}


@pytest.mark.parametrize("make", list(FITTED))
def test_zero_weight_rows_never_influence_fit(make):
    X, w, keep = _zero_weight_data()
    params = {"n_quantiles": 100} if make is sknorm.Quantile else {}
    est = make(**params).fit(X, sample_weight=w)
    ref = make(**params).fit(X[keep], sample_weight=w[keep])
    for name in FITTED[make]:
        assert _bits(getattr(est, name)) == _bits(getattr(ref, name)), name
    Y = _new_data(X)
    assert _bits(est.transform(Y)) == _bits(ref.transform(Y))


def test_zero_weight_rows_never_influence_the_number_of_quantiles():
    X, w, keep = _zero_weight_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        est = sknorm.Quantile().fit(X, sample_weight=w)
        ref = sknorm.Quantile().fit(X[keep], sample_weight=w[keep])
    assert est.n_quantiles_ == ref.n_quantiles_
    assert _bits(est.quantiles_) == _bits(ref.quantiles_)


@pytest.mark.parametrize("make", [sknorm.Robust, sknorm.Quantile])
def test_zero_weight_rows_never_influence_partial_fit(make):
    X, w, keep = _zero_weight_data()
    params = {"n_quantiles": 20, "rank_error": 0.05} if make is sknorm.Quantile else {}
    params.setdefault("rank_error", 0.05)
    est, ref = make(**params), make(**params)
    for rows in np.array_split(np.arange(X.shape[0]), 6):
        est.partial_fit(X[rows], sample_weight=w[rows])
        kept = rows[keep[rows]]
        ref.partial_fit(X[kept], sample_weight=w[kept])
    for name in FITTED[make]:
        if name != "n_quantiles_" and name != "references_":
            assert _bits(getattr(est, name)) == _bits(getattr(ref, name)), name


# ------------------------------------------------- streams and merges ----


def _stream_data(seed=4, n=6000):
    rng = np.random.default_rng(seed)
    X = np.empty((n, 3))
    X[:, 0] = rng.standard_cauchy(n)
    X[:, 1] = np.sort(rng.normal(size=n))  # a sorted stream
    X[:, 2] = rng.integers(0, 5, n)  # heavy duplicates
    X[rng.uniform(size=n) < 0.2, 0] = np.nan
    return X


def _assert_robust_certified(est, X, w=None, fractional=False):
    e = est.rank_error_
    slack = interpolation_slack(X, w, fractional=fractional)
    lo, hi = (p / 100 for p in est.quantile_range)
    if est.center_ is not None:
        center = np.asarray(est.center_)
        deviation = rank_deviation(X, center[:, None], [0.5], w)
        np.testing.assert_array_less(deviation, e + slack + 1e-12)
    scale = np.asarray(est.scale_)
    for j, (values, weights) in enumerate(observed(X, w)):
        tol = e + slack[j] + 1e-12
        a_lo, b_lo = certified_interval(values, weights, lo, tol)
        a_hi, b_hi = certified_interval(values, weights, hi, tol)
        smallest, largest = max(a_hi - b_lo, 0.0), b_hi - a_lo
        if smallest == 0.0 and scale[j] == 1.0:
            continue  # a range of 0 (possible within the bound) gives 1
        margin = 1e-12 * max(abs(a_lo), abs(b_hi))
        assert smallest - margin <= scale[j] <= largest + margin, j


def _assert_quantile_certified(est, X, w=None, fractional=False):
    q = np.asarray(est.quantiles_).T
    deviation = rank_deviation(X, q, est.references_, w)
    slack = interpolation_slack(X, w, fractional=fractional)
    np.testing.assert_array_less(deviation, est.rank_error_ + slack + 1e-12)


@pytest.mark.parametrize("weights", [None, "integers", "fractional"])
@pytest.mark.parametrize("make", [sknorm.Robust, sknorm.Quantile])
def test_partial_fit_stream_is_certified(make, weights):
    X = _stream_data()
    rng = np.random.default_rng(5)
    w = {
        None: None,
        "integers": rng.integers(0, 10, X.shape[0]).astype(float),
        "fractional": np.exp(rng.normal(scale=2.0, size=X.shape[0])),
    }[weights]
    params = {"n_quantiles": 50} if make is sknorm.Quantile else {}
    est = make(rank_error=0.01, **params)
    for rows in np.array_split(np.arange(X.shape[0]), 12):
        est.partial_fit(X[rows], sample_weight=None if w is None else w[rows])
    assert 0.0 < est.rank_error_ <= 0.01
    _assert_counts(est, X, w)
    check = (
        _assert_quantile_certified
        if make is sknorm.Quantile
        else _assert_robust_certified
    )
    check(est, X, w, fractional=weights == "fractional")


@pytest.mark.parametrize("make", [sknorm.Robust, sknorm.Quantile])
def test_merge_of_two_halves_is_certified_as_a_stream(make):
    X = _stream_data(seed=6)
    params = {"n_quantiles": 50} if make is sknorm.Quantile else {}
    half = X.shape[0] // 2
    first = make(rank_error=0.01, **params).fit(X[:half])
    second = make(rank_error=0.01, **params).fit(X[half:])
    before = _snapshot(second)
    merged = first.merge(second)
    assert merged is first
    _assert_unchanged(second, before)
    stream = make(rank_error=0.01, **params)
    for rows in np.array_split(np.arange(X.shape[0]), 10):
        stream.partial_fit(X[rows])
    check = (
        _assert_quantile_certified
        if make is sknorm.Quantile
        else _assert_robust_certified
    )
    for est in (merged, stream):
        assert 0.0 < est.rank_error_ <= 0.01
        _assert_counts(est, X)
        check(est, X)


@pytest.mark.parametrize("make", [sknorm.Robust, sknorm.Quantile])
def test_small_stream_and_merge_are_exact(make):
    """While the summary holds every value, a stream and a merge give the
    in-memory fit (rank_error_ 0.0), bit for bit."""
    X = _data()[:100]
    params = {"n_quantiles": 30} if make is sknorm.Quantile else {}
    exact = make(**params).fit(X)
    stream = make(**params)
    for rows in np.array_split(np.arange(100), 4):
        stream.partial_fit(X[rows])
    merged = make(**params).fit(X[:37]).merge(make(**params).fit(X[37:]))
    for est in (stream, merged):
        assert est.rank_error_ == 0.0
        for name in FITTED[make]:
            assert _bits(getattr(est, name)) == _bits(getattr(exact, name)), name


def test_maxabs_stream_and_merge_equal_fit():
    X = _data()
    exact = sknorm.MaxAbs().fit(X)
    stream = sknorm.MaxAbs()
    for rows in np.array_split(np.arange(X.shape[0]), 5):
        stream.partial_fit(X[rows])
    merged = sknorm.MaxAbs().fit(X[:50]).merge(sknorm.MaxAbs().fit(X[50:]))
    for est in (stream, merged):
        assert _bits(est.max_abs_) == _bits(exact.max_abs_)
        assert est.n_samples_seen_ == X.shape[0]


# ------------------------------------------ errors and transactional state ----


def _snapshot(est):
    return copy.deepcopy(vars(est))


def _assert_same_object_tree(a, b, path="state"):
    """Bit-identical: arrays by their bytes, containers element by element
    (the summary's arrays, the cached quantiles), other values by ==."""
    assert type(a) is type(b), path
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, path
        assert a.tobytes() == b.tobytes(), path
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _assert_same_object_tree(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, tuple | list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same_object_tree(x, y, f"{path}[{i}]")
    elif hasattr(a, "__dict__"):
        _assert_same_object_tree(vars(a), vars(b), f"{path}.__dict__")
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b), path
    else:
        assert a == b, path


def _assert_unchanged(est, before):
    _assert_same_object_tree(vars(est), before)


def _fitted_stream(make, **params):
    """An estimator after two batches (a summary, compacted), its fitted
    attributes read once (so that the cached quantiles are in the state)."""
    X = _stream_data(seed=7, n=800)
    est = make(rank_error=0.05, **params) if make is not sknorm.MaxAbs else make()
    est.partial_fit(X[:400]).partial_fit(X[400:])
    for name in FITTED[make]:
        getattr(est, name)
    return est


PARAMS = {sknorm.MaxAbs: {}, sknorm.Robust: {}, sknorm.Quantile: {"n_quantiles": 20}}

BAD_BATCHES = {
    "infinity": lambda X: np.where(np.arange(X.size).reshape(X.shape) == 4, np.inf, X),
    "-infinity": lambda X: np.where(
        np.arange(X.size).reshape(X.shape) == 4, -np.inf, X
    ),
    "a feature more": lambda X: np.hstack([X, X[:, :1]]),
    "a feature less": lambda X: X[:, :-1],
}


@pytest.mark.parametrize("bad", list(BAD_BATCHES))
@pytest.mark.parametrize("make", list(FITTED))
def test_a_failing_partial_fit_leaves_the_state_bit_identical(make, bad):
    est = _fitted_stream(make, **PARAMS[make])
    before = _snapshot(est)
    X = BAD_BATCHES[bad](_stream_data(seed=8, n=50))
    with pytest.raises(ValueError, match=rf"^{make.__name__}\.partial_fit\(\): "):
        est.partial_fit(X)
    _assert_unchanged(est, before)


BAD_PARAMS = [
    (sknorm.Robust, {"rank_error": 0}),
    (sknorm.Robust, {"rank_error": 0.5}),
    (sknorm.Robust, {"rank_error": -1}),
    (sknorm.Robust, {"rank_error": float("nan")}),
    (sknorm.Robust, {"quantile_range": (80, 20)}),
    (sknorm.Robust, {"quantile_range": (-1, 50)}),
    (sknorm.Robust, {"quantile_range": (50, 101)}),
    (sknorm.Quantile, {"rank_error": 0}),
    (sknorm.Quantile, {"rank_error": 0.5}),
    (sknorm.Quantile, {"rank_error": -1}),
    (sknorm.Quantile, {"rank_error": float("nan")}),
    (sknorm.Quantile, {"n_quantiles": 1}),
]


@pytest.mark.parametrize("make, params", BAD_PARAMS, ids=str)
def test_bad_parameters_are_refused_naming_the_call(make, params):
    X = _stream_data(seed=9, n=50)
    for method in ("fit", "partial_fit"):
        with pytest.raises(ValueError, match=rf"^{make.__name__}\.{method}\(\): "):
            getattr(make(**params), method)(X)
    # Set on a fitted estimator: the next partial_fit is refused and leaves
    # the state as it was.
    est = _fitted_stream(make, **PARAMS[make])
    before = _snapshot(est)
    good = {k: getattr(est, k) for k in params}
    est.set_params(**params)
    with pytest.raises(ValueError, match=rf"^{make.__name__}\.partial_fit\(\): "):
        est.partial_fit(X)
    est.set_params(**good)  # the parameters back: the rest never changed
    _assert_unchanged(est, before)


@pytest.mark.parametrize("method", ["fit", "transform", "inverse_transform"])
@pytest.mark.parametrize("make", list(FITTED))
def test_infinity_is_refused_naming_the_call(make, method):
    X = _stream_data(seed=10, n=50)
    est = make(**PARAMS[make]).fit(X) if method != "fit" else make(**PARAMS[make])
    X[3, 1] = np.inf
    with pytest.raises(
        ValueError, match=rf"^{make.__name__}\.{method}\(\): .*infinity"
    ):
        getattr(est, method)(X)


@pytest.mark.parametrize("method", ["transform", "inverse_transform"])
def test_quantile_checks_infinity_where_transform_kernels_would(method, monkeypatch):
    """A device backend whose transform kernels check X themselves (CuPy)
    has validation skip its read; the quantile maps are no such kernel, so
    their input is still checked.  Emulated with array-api-strict, whose
    kernels validation is told check X."""
    xps = pytest.importorskip("array_api_strict")
    import sknorm._validation as validation

    X = _stream_data(seed=10, n=50)
    est = sknorm.Quantile(n_quantiles=20).fit(xps.asarray(X))
    X[3, 1] = np.inf
    monkeypatch.setattr(validation, "transforms_check_finiteness", lambda xp: True)
    with pytest.raises(ValueError, match=rf"^Quantile\.{method}\(\): .*infinity"):
        getattr(est, method)(xps.asarray(X))


@pytest.mark.parametrize("weights", [[-1.0], [np.nan], [np.inf]])
@pytest.mark.parametrize("make", list(FITTED))
def test_bad_weights_leave_the_state_bit_identical(make, weights):
    est = _fitted_stream(make, **PARAMS[make])
    before = _snapshot(est)
    X = _stream_data(seed=11, n=20)
    w = np.ones(20)
    w[5] = weights[0]
    with pytest.raises(ValueError, match=rf"^{make.__name__}\.partial_fit\(\): "):
        est.partial_fit(X, sample_weight=w)
    _assert_unchanged(est, before)


@pytest.mark.parametrize("make", [sknorm.Robust, sknorm.Quantile])
def test_a_failure_inside_the_summary_merge_leaves_the_state_bit_identical(
    make, monkeypatch
):
    import sknorm._robust.quantile_statistics as statistics

    est = _fitted_stream(make, **PARAMS[make])
    before = _snapshot(est)

    def broken(*args, **kwargs):
        raise MemoryError("no memory for the merged summary")

    monkeypatch.setattr(statistics, "merge_summaries", broken)
    with pytest.raises(MemoryError):
        est.partial_fit(_stream_data(seed=12, n=30))
    _assert_unchanged(est, before)


@pytest.mark.parametrize("make", [sknorm.Robust, sknorm.Quantile])
def test_merge_with_another_rank_error_is_refused(make):
    est = _fitted_stream(make, **PARAMS[make])
    other = make(rank_error=0.02, **PARAMS[make]).fit(_stream_data(seed=13, n=30))
    before = _snapshot(est)
    with pytest.raises(ValueError, match=rf"^{make.__name__}\.merge\(\): .*rank_error"):
        est.merge(other)
    _assert_unchanged(est, before)


# -------------------------------------------------- dtypes and copies ----


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("make", list(FITTED))
def test_float_dtypes_are_kept(make, dtype):
    X = _stream_data(seed=14, n=200).astype(dtype)
    est = make(**PARAMS[make]).fit(X)
    wide = make(**PARAMS[make]).fit(X.astype(np.float64))
    for name in FITTED[make]:
        # Statistics of the float16/float32 values, computed as float64.
        assert _bits(getattr(est, name)) == _bits(getattr(wide, name)), name
    T = est.transform(X)
    assert T.dtype == dtype
    assert est.inverse_transform(T).dtype == dtype
    expected = wide.transform(X.astype(np.float64))
    # Rounded to the dtype at the end (a float16 ulp of 1 is 1e-3).
    _close(T, expected, rtol=2 * np.finfo(dtype).eps, atol=2 * np.finfo(dtype).eps)


@pytest.mark.parametrize("make", list(FITTED))
def test_copy_false_transforms_in_place(make):
    X = _stream_data(seed=15, n=100)
    est = make(copy=False, **PARAMS[make]).fit(X)
    expected = make(**PARAMS[make]).fit(X).transform(X)
    Y = X.copy()
    out = est.transform(Y)
    assert out is Y
    assert _bits(Y) == _bits(expected)
    back = est.inverse_transform(Y)
    assert back is Y
    # copy=True (the default) leaves the input alone.
    Z = X.copy()
    make(**PARAMS[make]).fit(X).transform(Z)
    assert _bits(Z) == _bits(X)


@pytest.mark.parametrize(
    "make, params, fmt",
    [
        (sknorm.MaxAbs, {}, "csr"),
        (sknorm.MaxAbs, {}, "csc"),
        (sknorm.Robust, {"with_centering": False}, "csr"),
        (sknorm.Robust, {"with_centering": False}, "csc"),
        (sknorm.Quantile, {"n_quantiles": 10}, "csc"),
    ],
)
def test_copy_false_transforms_sparse_in_place(make, params, fmt):
    X = _sparse(negative=make is not sknorm.Quantile).asformat(fmt)
    expected = make(**params).fit(X).transform(X)
    Y = X.copy()
    data = Y.data
    out = make(copy=False, **params).fit(Y).transform(Y)
    assert out is Y and out.data is data
    _assert_same_sparse(Y, expected, fmt)


# ------------------------------------------------------------- backends ----

BACKEND_CASES = [
    (sknorm.MaxAbs, {}),
    (sknorm.Robust, {}),
    (sknorm.Robust, {"quantile_range": (10, 80), "unit_variance": True}),
    (sknorm.Quantile, {"n_quantiles": 30}),
    (sknorm.Quantile, {"n_quantiles": 30, "output_distribution": "normal"}),
]


def _backend_fixture(names):
    @pytest.fixture(params=names)
    def fixture(request):
        from conftest import _make_backend

        return _make_backend(request.param)  # skips without the library/GPU

    return fixture


# The GPU ones skip here (no device); they run where one is lent.
array_backend = _backend_fixture(
    ["array_api_strict", "torch-cpu", "torch-cuda", "cupy"]
)
cpu_backend = _backend_fixture(["array_api_strict", "torch-cpu"])


def _namespace_type(backend):
    if backend.name == "array_api_strict":
        from array_api_strict._array_object import Array

        return Array
    if backend.name == "cupy":
        import cupy

        return cupy.ndarray
    import torch

    return torch.Tensor


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("make, params", BACKEND_CASES, ids=str)
def test_backends_give_the_numpy_results(array_backend, make, params, weighted):
    rng = np.random.default_rng(16)
    X = rng.normal(size=(120, 3))
    X[:, 0] = rng.standard_cauchy(120)
    X[rng.uniform(size=X.shape) < 0.1] = np.nan
    w = rng.integers(0, 4, 120).astype(float) if weighted else None
    ref = make(**params).fit(X, sample_weight=w)
    est = make(**params).fit(
        array_backend.asarray(X),
        sample_weight=None if w is None else array_backend.asarray(w),
    )
    for name in FITTED[make]:
        value = getattr(est, name)
        if name in ("references_", "n_quantiles_", "rank_error_"):
            assert _bits(np.asarray(value)) == _bits(np.asarray(getattr(ref, name)))
            continue
        assert isinstance(value, _namespace_type(array_backend)), name
        _close(array_backend.to_numpy(value), getattr(ref, name), err_msg=name)
    Y = rng.normal(size=(40, 3))
    Y[0, 1] = np.nan
    Y[1] = np.asarray(ref.max_abs_ if make is sknorm.MaxAbs else 0.0)
    T = est.transform(array_backend.asarray(Y))
    assert isinstance(T, _namespace_type(array_backend))
    _close(array_backend.to_numpy(T), ref.transform(Y), atol=1e-15)
    back = est.inverse_transform(T)
    assert isinstance(back, _namespace_type(array_backend))
    _close(
        array_backend.to_numpy(back),
        ref.inverse_transform(ref.transform(Y)),
        atol=1e-13,
    )


@pytest.mark.parametrize("make", [sknorm.Robust, sknorm.Quantile])
def test_backend_stream_is_certified(array_backend, make):
    X = _stream_data(seed=17, n=3000)
    params = {"n_quantiles": 40} if make is sknorm.Quantile else {}
    est = make(rank_error=0.02, **params)
    for rows in np.array_split(np.arange(X.shape[0]), 6):
        est.partial_fit(array_backend.asarray(X[rows]))
    assert 0.0 < est.rank_error_ <= 0.02
    name = "quantiles_" if make is sknorm.Quantile else "center_"
    assert isinstance(getattr(est, name), _namespace_type(array_backend))
    # The certificate, checked on the backend's own numbers.
    _assert_certified(est, X, array_backend)


def _assert_certified(est, X, array_backend):
    """Every fitted quantile (Quantile) or the median (Robust) has, in all
    of X, a rank within the reported ``rank_error_`` of its level."""
    if isinstance(est, sknorm.Quantile):
        q = array_backend.to_numpy(est.quantiles_).T
        deviation = rank_deviation(X, q, est.references_)
    else:
        center = array_backend.to_numpy(est.center_)
        deviation = rank_deviation(X, center[:, None], [0.5])
    np.testing.assert_array_less(
        deviation, est.rank_error_ + interpolation_slack(X) + 1e-12
    )


def _observed_first():
    """A feature observed in the first quarter of the stream only: the
    case where the NumPy path's budget check has to step in."""
    X = np.random.default_rng(0).normal(size=(5000, 2))
    X[1250:, 1] = np.nan
    return X, np.array_split(np.arange(5000), 16)


@pytest.mark.parametrize("make", [sknorm.Robust, sknorm.Quantile])
def test_backend_rank_error_certifies_where_the_budget_is_not_enforced(
    array_backend, make
):
    """Off NumPy the budget is not enforced (that would read the error
    back), but the reported ``rank_error_`` still certifies the ranks."""
    X, batches = _observed_first()
    est = make(rank_error=0.01)
    for rows in batches:
        est.partial_fit(array_backend.asarray(X[rows]))
    assert est.rank_error_ > 0
    _assert_certified(est, X, array_backend)


@pytest.mark.parametrize("make", [sknorm.Robust, sknorm.Quantile])
def test_backend_stream_stays_within_rank_error(cpu_backend, make):
    """Where reading is free (NumPy, torch's CPU tensors) every compaction is
    checked against the budget: ``rank_error_ <= rank_error`` for every
    input.  array-api-strict stands for a device: there the compactions are
    decided from host-known sizes alone (no read), and a feature observed
    only early can end above the budget; ``rank_error_`` then says so, and
    still bounds the ranks."""
    X, batches = _observed_first()
    est = make(rank_error=0.01)
    for rows in batches:
        est.partial_fit(cpu_backend.asarray(X[rows]))
    numpy_stream = make(rank_error=0.01)
    for rows in batches:
        numpy_stream.partial_fit(X[rows])
    assert numpy_stream.rank_error_ <= 0.01
    if cpu_backend.name == "array_api_strict":
        assert 0.01 < est.rank_error_ < 0.02  # reported, not enforced
    else:
        assert est.rank_error_ <= 0.01


@pytest.fixture
def gpu_kernels(monkeypatch):
    """MaxAbs's extremes through torch CUDA's kernels (matmul), as
    tests/test_device_sync.py does for MinMax: the generic kernels read
    back on purpose (CPU arrays)."""
    import sknorm._base
    import sknorm._stats
    from sknorm._kernels import matmul

    for module in (sknorm._stats, sknorm._base):
        monkeypatch.setattr(module, "kernels_for", lambda xp: matmul)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("nan", [False, True])
@pytest.mark.parametrize("make", list(FITTED))
def test_device_partial_fit_reads_nothing_back(
    gpu_kernels, no_host_reads, make, nan, weighted
):
    xs = pytest.importorskip("array_api_strict")
    rng = np.random.default_rng(18)
    batches = [1e3 + rng.normal(size=(300, 3)) for _ in range(5)]
    if nan:
        for X in batches:
            X[rng.uniform(size=X.shape) < 0.1] = np.nan
    weights = [rng.uniform(0.5, 2.0, 300) if weighted else None for _ in batches]

    def strict(a):
        return None if a is None else xs.asarray(a)

    params = dict(PARAMS[make])
    if make is not sknorm.MaxAbs:
        params["rank_error"] = 0.05  # compactions inside the no-read block
    est = make(**params)
    # The first call validates the parameters (host values by nature).
    est.partial_fit(strict(batches[0]), sample_weight=strict(weights[0]))
    with config_context(assume_finite=True), no_host_reads():
        for X, w in zip(batches[1:], weights[1:], strict=True):
            est.partial_fit(strict(X), sample_weight=strict(w))
    ref = make(**params)
    for X, w in zip(batches, weights, strict=True):
        ref.partial_fit(X, sample_weight=w)
    for name in FITTED[make]:
        if name in ("references_", "n_quantiles_", "rank_error_"):
            continue
        _close(np.asarray(getattr(est, name)), getattr(ref, name), err_msg=name)
    if make is not sknorm.MaxAbs:
        assert 0.0 < est.rank_error_ <= 0.05
