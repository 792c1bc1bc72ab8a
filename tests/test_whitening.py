"""ZCAWhitening: the five whitening matrices against independent NumPy/SciPy
formulas, their optimality properties, streaming, regularization and rank
deficiency, on every backend."""

import array_api_compat
import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.decomposition import PCA
from sklearn.utils._param_validation import InvalidParameterError

from sknorm import ZCAWhitening, ZScore
from sknorm._kernels import numpy_blocked

METHODS = ["zca", "zca-cor", "pca", "pca-cor", "cholesky"]


# ------------------------------------------------------------ data ------
def correlated(rng, n=400, p=5, loc=10.0):
    """Correlated features with different scales and non-zero means."""
    mixing = rng.normal(size=(p, p)) + 2.0 * np.eye(p)
    scales = np.geomspace(0.5, 20.0, p)
    return rng.normal(size=(n, p)) @ mixing * scales + loc * rng.uniform(-1, 1, p)


def pop_cov(X, w=None):
    return np.cov(X, rowvar=False, bias=True, aweights=w)


# -------------------------------------------------------- references ----
def flip_signs(U):
    """The sign convention under test, written independently: the entry of
    largest magnitude of each column is positive."""
    idx = np.argmax(np.abs(U), axis=0)
    return U * np.sign(U[idx, np.arange(U.shape[1])])


def reference_whitening(cov, method, eps=0.0, k=None):
    """Kessy, Lewin & Strimmer's W, with SciPy's sqrtm/eigh/cholesky."""
    p = cov.shape[0]
    v = np.diag(cov)
    corr = cov / np.sqrt(np.outer(v, v))
    if method in ("zca", "pca", "cholesky"):
        S = cov + eps * scipy.linalg.eigvalsh(cov).max() * np.eye(p)
    else:
        S = corr + eps * scipy.linalg.eigvalsh(corr).max() * np.eye(p)
    if method == "zca":
        return np.real(scipy.linalg.inv(scipy.linalg.sqrtm(S)))
    if method == "zca-cor":
        return np.real(scipy.linalg.inv(scipy.linalg.sqrtm(S))) / np.sqrt(v)
    if method == "cholesky":
        return scipy.linalg.cholesky(scipy.linalg.inv(S), lower=True).T
    lam, U = scipy.linalg.eigh(S)
    lam, U = lam[::-1], flip_signs(U[:, ::-1])
    k = p if k is None else k
    W = np.diag(lam[:k] ** -0.5) @ U[:, :k].T
    return W if method == "pca" else W / np.sqrt(v)


def fitted_W(X, method, **params):
    return np.asarray(ZCAWhitening(method=method, **params).fit(X).whitening_)


# ------------------------------------------------- the five matrices ----
@pytest.mark.parametrize("method", METHODS)
def test_whitening_matrix_equals_the_formula(method, rng):
    X = correlated(rng)
    est = ZCAWhitening(method=method).fit(X)
    ref = reference_whitening(pop_cov(X), method)
    np.testing.assert_allclose(est.whitening_, ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(est.mean_, X.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(est.covariance_, pop_cov(X), rtol=1e-10)
    # Full rank: the dewhitening matrix is the exact inverse.
    np.testing.assert_allclose(
        est.dewhitening_ @ est.whitening_, np.eye(X.shape[1]), atol=1e-10
    )


@pytest.mark.parametrize("method", METHODS)
def test_regularized_matrix_equals_the_formula(method, rng):
    X = correlated(rng)
    est = ZCAWhitening(method=method, eps=0.05).fit(X)
    ref = reference_whitening(pop_cov(X), method, eps=0.05)
    np.testing.assert_allclose(est.whitening_, ref, rtol=1e-9, atol=1e-12)


def test_every_method_satisfies_wt_w_equals_inverse_covariance(rng):
    X = correlated(rng)
    inv_cov = np.linalg.inv(pop_cov(X))
    for method in METHODS:
        W = fitted_W(X, method)
        np.testing.assert_allclose(W.T @ W, inv_cov, rtol=1e-9, atol=1e-12)


def test_zca_and_cholesky_share_the_regularized_covariance(rng):
    # Both whiten Σ + eps λ_max I: they differ by a rotation only.
    X = correlated(rng)
    Wz, Wc = (fitted_W(X, m, eps=0.3) for m in ("zca", "cholesky"))
    np.testing.assert_allclose(Wz.T @ Wz, Wc.T @ Wc, rtol=1e-9)


def test_zca_and_zca_cor_are_optimal(rng):
    """Kessy et al.: ZCA maximizes tr Cov(z, x), ZCA-cor tr Cor(z, x)."""
    X = correlated(rng)
    cov = pop_cov(X)
    sd = np.sqrt(np.diag(cov))
    cross_cov, cross_cor = {}, {}
    for method in METHODS:
        Z = ZCAWhitening(method=method).fit_transform(X)
        Zc, Xc = Z - Z.mean(axis=0), X - X.mean(axis=0)
        C = Zc.T @ Xc / len(X)  # Cov(z, x); z has unit variance
        cross_cov[method] = np.trace(C)
        cross_cor[method] = np.trace(C / sd[None, :])
    for method in METHODS:
        if method != "zca":
            assert cross_cov["zca"] > cross_cov[method] + 1e-6, method
        if method != "zca-cor":
            assert cross_cor["zca-cor"] > cross_cor[method] + 1e-6, method


def test_cholesky_whitening_is_upper_triangular(rng):
    X = correlated(rng)
    W = fitted_W(X, "cholesky")
    np.testing.assert_array_equal(W, np.triu(W))
    assert np.all(np.diag(W) > 0)
    # ... and its cross-covariance Cov(z, x) = W Σ = L^-1 is lower triangular.
    cross = W @ pop_cov(X)
    np.testing.assert_allclose(np.triu(cross, 1), 0.0, atol=1e-10 * np.abs(cross).max())


def test_zca_matrix_is_symmetric_and_pca_rows_are_orthogonal(rng):
    X = correlated(rng)
    W = fitted_W(X, "zca")
    np.testing.assert_array_equal(W, W.T)
    est = ZCAWhitening(method="pca").fit(X)
    lam = est.explained_variance_
    assert np.all(np.diff(lam) < 0)
    scaled = est.whitening_ * np.sqrt(lam)[:, None]  # = Uᵀ
    np.testing.assert_allclose(scaled @ scaled.T, np.eye(5), atol=1e-10)


def test_pca_equals_sklearn_pca_whiten_up_to_signs_and_ddof(rng):
    X = correlated(rng, n=300, p=6)
    n = len(X)
    for k in (2, 6):
        ours = ZCAWhitening(method="pca", n_components=k).fit(X)
        theirs = PCA(n_components=k, whiten=True, svd_solver="covariance_eigh").fit(X)
        Z_ours, Z_theirs = ours.transform(X), theirs.transform(X)
        signs = np.sign(np.sum(Z_ours * Z_theirs, axis=0))
        np.testing.assert_allclose(
            Z_ours * np.sqrt((n - 1) / n) * signs, Z_theirs, rtol=1e-7, atol=1e-9
        )
        np.testing.assert_allclose(
            ours.explained_variance_ * n / (n - 1),
            theirs.explained_variance_,
            rtol=1e-10,
        )
        assert ours.whitening_.shape == (k, 6)
        assert ours.dewhitening_.shape == (6, k)
        np.testing.assert_allclose(
            ours.inverse_transform(Z_ours), theirs.inverse_transform(Z_theirs)
        )


@pytest.mark.parametrize("method", ["zca", "zca-cor", "pca", "pca-cor", "cholesky"])
def test_on_a_single_feature_every_method_is_zscore(method, rng):
    X = rng.normal(3.0, 2.0, size=(200, 1))
    np.testing.assert_allclose(
        ZCAWhitening(method=method).fit_transform(X),
        ZScore().fit_transform(X),
        rtol=1e-12,
    )


def test_zca_cor_on_uncorrelated_features_is_zscore(rng):
    # Exactly uncorrelated columns: an orthonormal basis of centred data
    # (still centred), then scaled and shifted.
    A = rng.normal(size=(100, 4))
    Q, _ = np.linalg.qr(A - A.mean(axis=0))
    X = Q * np.array([1.0, 30.0, 0.01, 5.0]) + np.array([5.0, -2.0, 100.0, 0.0])
    assert np.abs(np.corrcoef(X, rowvar=False) - np.eye(4)).max() < 1e-12
    expected = ZScore().fit_transform(X)
    for method in ("zca-cor", "zca", "cholesky"):
        np.testing.assert_allclose(
            ZCAWhitening(method=method).fit_transform(X), expected, atol=1e-9
        )


# ----------------------------------------------------------- backends ----
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_output_covariance_is_identity_on_every_backend(backend, method, dtype, rng):
    X = correlated(rng, n=500, p=4)
    Xb = backend.asarray(X, dtype=dtype)
    est = ZCAWhitening(method=method).fit(Xb)
    Z = est.transform(Xb)
    xp = array_api_compat.array_namespace(Xb)
    assert array_api_compat.array_namespace(Z) is xp
    assert Z.dtype == Xb.dtype
    assert array_api_compat.device(Z) == array_api_compat.device(Xb)
    for name in ("mean_", "covariance_", "whitening_", "dewhitening_"):
        attr = getattr(est, name)
        assert array_api_compat.array_namespace(attr) is xp, name
        assert array_api_compat.device(attr) == array_api_compat.device(Xb)
        assert attr.dtype == xp.float64, name  # accumulation dtype
    tol = 1e-9 if dtype == "float64" else 2e-4
    np.testing.assert_allclose(pop_cov(backend.to_numpy(Z)), np.eye(4), atol=tol)
    back = backend.to_numpy(est.inverse_transform(Z))
    np.testing.assert_allclose(back, X, rtol=tol, atol=tol * np.abs(X).max())


@pytest.mark.parametrize("method", METHODS)
def test_same_matrix_and_signs_on_every_backend(backend, method, rng):
    X = correlated(rng, n=300, p=5)
    est = ZCAWhitening(method=method).fit(backend.asarray(X))
    ref = reference_whitening(pop_cov(X), method)
    np.testing.assert_allclose(
        backend.to_numpy(est.whitening_), ref, rtol=1e-9, atol=1e-12
    )


@pytest.mark.parametrize("method", METHODS)
def test_rank_deficient_input_on_every_backend(backend, method, rng):
    base = correlated(rng, n=60, p=3)
    combo = base @ np.array([[1.0], [-2.0], [0.5]])
    X = np.hstack([base, base[:, :1], np.full((60, 1), 7.0), combo])
    est = ZCAWhitening(method=method).fit(backend.asarray(X))
    Z = backend.to_numpy(est.transform(backend.asarray(X)))
    assert np.all(np.isfinite(Z))
    # Whitened on the span of the data: unit variance in rank(X) = 3
    # directions, nothing elsewhere.
    np.testing.assert_allclose(
        np.sort(np.linalg.eigvalsh(pop_cov(Z))), [0, 0, 0, 1, 1, 1], atol=1e-8
    )
    back = est.inverse_transform(est.transform(backend.asarray(X)))
    np.testing.assert_allclose(backend.to_numpy(back), X, atol=1e-8)


# ---------------------------------------------------------- streaming ----
@settings(max_examples=12, deadline=None)
@given(
    cuts=st.lists(st.integers(1, 199), max_size=6, unique=True),
    method=st.sampled_from(METHODS),
    weighted=st.booleans(),
)
def test_any_batch_split_equals_one_fit(cuts, method, weighted):
    rng = np.random.default_rng(1)
    X = correlated(rng, n=200, p=4, loc=1e4)
    w = rng.uniform(0.1, 3.0, 200) if weighted else None
    one = ZCAWhitening(method=method).fit(X, sample_weight=w)
    streamed = ZCAWhitening(method=method)
    for part in np.split(np.arange(200), sorted(cuts)):
        streamed.partial_fit(X[part], sample_weight=None if w is None else w[part])
    for name in ("mean_", "covariance_", "whitening_", "dewhitening_"):
        a, b = getattr(streamed, name), getattr(one, name)
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10 * np.abs(b).max())
    assert streamed.n_samples_seen_ == pytest.approx(one.n_samples_seen_)


def test_integer_weights_equal_repeated_rows(rng):
    X = correlated(rng, n=50, p=3)
    w = rng.integers(0, 4, 50)
    for method in METHODS:
        weighted = ZCAWhitening(method=method).fit(X, sample_weight=w)
        repeated = ZCAWhitening(method=method).fit(np.repeat(X, w, axis=0))
        np.testing.assert_allclose(weighted.whitening_, repeated.whitening_, rtol=1e-10)
    assert weighted.n_samples_seen_ == w.sum()


def test_whitening_is_computed_lazily_and_cached(rng, monkeypatch):
    import sknorm._whitening.estimator as module

    calls = []
    original = module.whitening_matrices

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, "whitening_matrices", counting)
    X = correlated(rng)
    est = ZCAWhitening()
    for batch in np.array_split(X, 10):
        est.partial_fit(batch)
    assert calls == []  # no eigendecomposition per batch
    before = dict(vars(est))
    est.transform(X)
    est.transform(X)
    W = est.whitening_
    assert len(calls) == 1
    # transform leaves the estimator's __dict__ as it was (same objects).
    assert vars(est).keys() == before.keys()
    assert all(vars(est)[k] is before[k] for k in before)
    est.partial_fit(X[:10])
    assert not np.array_equal(est.whitening_, W)
    assert len(calls) == 2


def test_params_take_effect_at_the_next_fit(rng):
    X = correlated(rng)
    est = ZCAWhitening().fit(X)
    est.set_params(method="pca", n_components=2)
    assert est.whitening_.shape == (5, 5)  # still the fitted ZCA
    assert list(est.get_feature_names_out()) == [f"x{i}" for i in range(5)]
    assert est.fit(X).whitening_.shape == (2, 5)


# ------------------------------------- transform at one product (issue 22) --
def _linear_calls(monkeypatch):
    """Record ``(centred, offset given)`` of every call of the NumPy linear
    kernel (the transforms' product)."""

    calls, real = [], numpy_blocked.linear

    def spy(X, center, matrix, copy, offset=None):
        calls.append((center is not None, offset is not None))
        return real(X, center, matrix, copy, offset)

    monkeypatch.setattr(numpy_blocked, "linear", spy)
    return calls


def test_transform_far_from_the_origin_keeps_its_digits(monkeypatch):
    """``1e8 + N(0, 1e-3)``: ``x - mean`` is exact (Sterbenz), so NumPy's
    centred expression is the transform to float64 rounding; folding the
    centring into the product (``X @ W.T - mean @ W.T``) would multiply
    values 1e11 times larger than the result and lose all but ~5 digits."""
    import sknorm._whitening.estimator as module

    rng = np.random.default_rng(5)
    mixing = np.array([[1.0, 0, 0], [0.5, 1.0, 0], [0.2, -0.3, 0.8]])
    X = 1e8 + 1e-3 * (rng.normal(size=(5000, 3)) @ mixing)
    calls = _linear_calls(monkeypatch)
    est = ZCAWhitening().fit(X)
    W, m = np.asarray(est.whitening_), np.asarray(est.mean_)
    reference = (X - m) @ W.T  # unit variance: absolute = relative error
    np.testing.assert_allclose(est.transform(X), reference, rtol=0, atol=1e-12)
    assert calls == [(True, False)]  # centred blocks
    # The tolerance tells the two apart: folded, the same estimator fails it.
    folded = X @ W.T - m @ W.T
    assert np.max(np.abs(folded - reference)) > 1e-9
    monkeypatch.setattr(module, "FOLD_LIMIT", np.inf)
    monkeypatch.setattr(numpy_blocked, "FOLDS_CENTRING", True)
    forced = ZCAWhitening().fit(X).transform(X)
    assert calls[-1] == (False, True)
    assert np.max(np.abs(forced - reference)) > 1e-9


@pytest.mark.parametrize("folds", [True, False], ids=["folding", "numpy"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_nearly_centred_data_is_transformed_at_one_product(dtype, folds, monkeypatch):
    """Means well inside the spread: the centring is folded into the
    product (no centring pass) for a kernel that gains by it, with the
    formula's numbers; data off the origin is centred block by block.
    NumPy's blocked kernel centres in cache for less than the fold's
    offset costs (``FOLDS_CENTRING = False``): it always centres."""
    rng = np.random.default_rng(6)
    mixing = rng.normal(size=(5, 5)) + 2 * np.eye(5)
    base = rng.normal(size=(4000, 5)) @ mixing
    calls = _linear_calls(monkeypatch)
    assert numpy_blocked.FOLDS_CENTRING is False
    monkeypatch.setattr(numpy_blocked, "FOLDS_CENTRING", folds)
    near = (False, True) if folds else (True, False)
    for loc, expected in ((0.02, near), (30.0, (True, False))):
        X = (base + loc).astype(dtype)
        est = ZCAWhitening().fit(X)
        W, m = np.asarray(est.whitening_), np.asarray(est.mean_)
        reference = (X.astype(np.float64) - m) @ W.T
        Z = est.transform(X)
        assert Z.dtype == dtype and calls[-1] == expected
        # float32: the input's precision (x - mean rounds to float32 anyway).
        tol = 1e-12 if dtype == np.float64 else 1e-5 * (1 + loc)
        np.testing.assert_allclose(Z, reference, rtol=0, atol=tol)
        back = est.inverse_transform(Z)
        assert back.dtype == dtype and calls[-1] == (False, True)
        D = np.asarray(est.dewhitening_)
        np.testing.assert_allclose(
            back, Z.astype(np.float64) @ D.T + m, rtol=0, atol=tol * (1 + loc)
        )


@pytest.mark.parametrize("method", METHODS)
def test_dewhitening_is_built_on_first_use_without_a_decomposition(
    method, rng, monkeypatch
):
    X = correlated(rng)
    k = 3 if method in ("pca", "pca-cor") else None
    est = ZCAWhitening(method=method, n_components=k).fit(X)
    Z = est.transform(X)
    assert est._whitening_cache_.result.dewhitening is None  # not yet built
    W = np.asarray(est.whitening_)
    if method == "pca-cor":  # V^1/2 G Θ^1/2: a right inverse of W, k < p
        v = np.diag(pop_cov(X))
        theta, G = scipy.linalg.eigh(pop_cov(X) / np.sqrt(np.outer(v, v)))
        theta, G = theta[::-1][:k], flip_signs(G[:, ::-1])[:, :k]
        expected = np.sqrt(v)[:, None] * G * np.sqrt(theta)
    else:  # the inverse (pca with k < p: the pseudo-inverse) of W
        expected = scipy.linalg.pinv(W)

    def refuse(*args, **kwargs):
        raise AssertionError("a second decomposition")

    for name in ("eigh", "eigvalsh", "cholesky", "inv"):
        monkeypatch.setattr(np.linalg, name, refuse)
        monkeypatch.setattr(scipy.linalg, name, refuse)
    D = est.dewhitening_
    np.testing.assert_allclose(D, expected, rtol=1e-9, atol=1e-12)
    assert est.dewhitening_ is D  # kept
    if k is None:
        np.testing.assert_allclose(est.inverse_transform(Z), X, rtol=1e-10)
    else:  # the projection onto the kept components
        np.testing.assert_allclose(est.inverse_transform(Z), Z @ expected.T + est.mean_)


def test_dask_blocks_reuse_the_matrices_built_once(rng, monkeypatch):
    da = pytest.importorskip("dask.array")
    import sknorm._whitening.estimator as module

    calls = []
    for name in ("whitening_matrices", "dewhitening_matrix", "fold_cancellation"):
        real = getattr(module, name)

        def counting(*args, _real=real, _name=name, **kwargs):
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(module, name, counting)
    X = correlated(rng)
    est = ZCAWhitening().fit(X)
    Z = est.transform(da.from_array(X, chunks=(40, 5)))
    back = est.inverse_transform(Z)
    assert sorted(calls) == [
        "dewhitening_matrix",
        "fold_cancellation",
        "whitening_matrices",
    ]
    np.testing.assert_allclose(back.compute(), X, rtol=1e-10)
    assert len(calls) == 3  # the ten blocks built nothing


# ------------------------------------------- rank and regularization ----
@pytest.mark.parametrize("method", METHODS)
def test_fewer_samples_than_features_stays_finite(method, rng):
    X = rng.normal(size=(6, 10))
    est = ZCAWhitening(method=method).fit(X)
    Z = est.transform(X)
    assert np.all(np.isfinite(Z))
    assert np.all(np.isfinite(est.transform(rng.normal(size=(3, 10)))))
    # Rank n - 1 = 5: the whitened data fill 5 directions with unit variance.
    eig = np.linalg.eigvalsh(pop_cov(Z))
    np.testing.assert_allclose(np.sort(eig)[-5:], 1.0, atol=1e-8)
    np.testing.assert_allclose(np.sort(eig)[:-5], 0.0, atol=1e-8)
    np.testing.assert_allclose(est.inverse_transform(Z), X, atol=1e-8)
    # With eps > 0 the missing directions are scaled by eps: a warning.
    with pytest.warns(UserWarning, match="depends on eps"):
        Z = ZCAWhitening(method=method, eps=1e-2).fit(X).transform(X)
    assert np.all(np.isfinite(Z))


@pytest.mark.parametrize("method", METHODS)
def test_eps_on_singular_covariance_warns_and_stays_finite(method, rng):
    base = correlated(rng, n=80, p=3)
    X = np.hstack([base, base[:, :1]])
    est = ZCAWhitening(method=method, eps=1e-3).fit(X)
    with pytest.warns(UserWarning, match="depends on eps"):
        Z = est.transform(X)
    assert np.all(np.isfinite(Z))
    est.transform(X)  # warned once: the matrix is cached


def test_eps_on_definite_covariance_does_not_warn(rng):
    X = correlated(rng)
    for method in METHODS:
        ZCAWhitening(method=method, eps=1e-3).fit(X).transform(X)  # no warning


def test_eps_is_relative_so_whitening_is_scale_equivariant(rng):
    X = correlated(rng)
    for method in METHODS:
        Z1 = ZCAWhitening(method=method, eps=0.1).fit_transform(X)
        Z2 = ZCAWhitening(method=method, eps=0.1).fit_transform(X * 1e-6)
        np.testing.assert_allclose(Z1, Z2, rtol=1e-7, atol=1e-9)


def test_eps_shrinks_the_output_variance_as_documented(rng):
    X = correlated(rng)
    lam = np.linalg.eigvalsh(pop_cov(X))
    Z = ZCAWhitening(method="pca", eps=0.5).fit_transform(X)
    expected = np.sort(lam / (lam + 0.5 * lam.max()))[::-1]
    np.testing.assert_allclose(np.var(Z, axis=0), expected, rtol=1e-9)


def test_ill_conditioned_input_stays_finite_and_whitened(rng):
    X = correlated(rng, n=2000, p=4)
    X = np.hstack([X, X[:, :1] + 1e-3 * rng.normal(size=(2000, 1))])
    X = X * np.array([0.1, 1.0, 10.0, 1.0, 0.1])
    assert np.linalg.cond(pop_cov(X)) > 1e11
    for method in METHODS:
        Z = ZCAWhitening(method=method).fit_transform(X)
        assert np.all(np.isfinite(Z))
        np.testing.assert_allclose(pop_cov(Z), np.eye(5), atol=1e-3)


def test_features_in_wildly_different_units(rng):
    # Standard deviations 1e-9 and 1e6: the covariance's eigenvalues span
    # far more than float64 resolves, so zca/pca treat the smallest
    # directions as null (finite output, documented); the correlation-scale
    # methods and cholesky are unit-free and whiten everything.
    X = correlated(rng, n=300, p=3) * np.array([1e-9, 1.0, 1e6])
    for method in METHODS:
        Z = ZCAWhitening(method=method).fit_transform(X)
        assert np.all(np.isfinite(Z))
        if method in ("zca-cor", "pca-cor", "cholesky"):
            np.testing.assert_allclose(pop_cov(Z), np.eye(3), atol=1e-8)


def test_constant_data_and_a_single_row_give_zeros(rng):
    X = np.full((5, 3), 2.5)
    for method in METHODS:
        for data in (X, X[:1]):
            est = ZCAWhitening(method=method).fit(data)
            np.testing.assert_array_equal(est.transform(data), 0.0)
            np.testing.assert_array_equal(est.whitening_, 0.0)


def test_n_components_is_ignored_by_the_one_to_one_methods(rng):
    X = correlated(rng)
    for method in ("zca", "zca-cor", "cholesky"):
        np.testing.assert_array_equal(
            fitted_W(X, method, n_components=1), fitted_W(X, method)
        )


def test_pca_cor_projection_back(rng):
    X = correlated(rng)
    est = ZCAWhitening(method="pca-cor", n_components=2).fit(X)
    # Reference: project the standardized data on the top-2 eigenvectors of
    # the correlation matrix, then undo the standardization.
    mean, sd = X.mean(axis=0), X.std(axis=0)
    _, G = np.linalg.eigh(np.corrcoef(X, rowvar=False))
    G = G[:, ::-1][:, :2]
    expected = ((X - mean) / sd) @ G @ G.T * sd + mean
    np.testing.assert_allclose(est.inverse_transform(est.transform(X)), expected)
    theta = np.linalg.eigvalsh(np.corrcoef(X, rowvar=False))[::-1]
    np.testing.assert_allclose(est.explained_variance_, theta[:2], rtol=1e-10)


# ---------------------------------------------------------- shrinkage ----
def test_float_shrinkage_shrinks_correlations_towards_zero(rng):
    X = correlated(rng)
    cov = pop_cov(X)
    est = ZCAWhitening(shrinkage=0.3).fit(X)
    expected = 0.7 * cov + 0.3 * np.diag(np.diag(cov))
    np.testing.assert_allclose(est.covariance_, expected, rtol=1e-10)
    assert est.shrinkage_ == 0.3
    np.testing.assert_allclose(est.whitening_, reference_whitening(expected, "zca"))


def ledoit_wolf_diagonal_reference(X, w=None):
    """Ledoit-Wolf's intensity with diag(S) as target, pair by pair."""
    w = np.ones(len(X)) if w is None else np.asarray(w, float)
    n = w.sum()
    Y = X - np.average(X, axis=0, weights=w)
    S = (Y * w[:, None]).T @ Y / n
    pi = np.einsum("i,ij,ik->jk", w, Y**2, Y**2) / n - S**2
    off = ~np.eye(X.shape[1], dtype=bool)
    alpha = pi[off].sum() / n / (S[off] ** 2).sum()
    return min(max(alpha, 0.0), 1.0)


def test_ledoit_wolf_intensity_matches_the_direct_formula(rng):
    X = correlated(rng, n=40, p=6, loc=50.0)
    w = rng.uniform(0.5, 2.0, 40)
    for weights in (None, w):
        est = ZCAWhitening(shrinkage="ledoit-wolf").fit(X, sample_weight=weights)
        alpha = ledoit_wolf_diagonal_reference(X, weights)
        assert 0 < alpha < 1
        assert est.shrinkage_ == pytest.approx(alpha, rel=1e-9)
        cov = pop_cov(X, weights)
        np.testing.assert_allclose(
            est.covariance_, (1 - alpha) * cov + alpha * np.diag(np.diag(cov))
        )


def test_ledoit_wolf_streams_and_rescues_fewer_samples_than_features(rng):
    X = rng.normal(size=(12, 20)) @ (np.eye(20) + 0.3)
    one = ZCAWhitening(shrinkage="ledoit-wolf").fit(X)
    streamed = ZCAWhitening(shrinkage="ledoit-wolf")
    for batch in np.array_split(X, 5):
        streamed.partial_fit(batch)
    assert streamed.shrinkage_ == pytest.approx(one.shrinkage_, rel=1e-10)
    assert one.shrinkage_ == pytest.approx(ledoit_wolf_diagonal_reference(X), rel=1e-9)
    # The shrunk covariance is definite: every direction is whitened.
    assert np.linalg.eigvalsh(one.covariance_).min() > 0
    assert np.all(np.isfinite(one.transform(X)))


def test_ledoit_wolf_merges_parts_taken_around_other_shifts(rng):
    """merge() moves each part's fourth moments to the merged shift (the
    binomial expansion of ``fourth_moments_around``): parts whose first rows
    lie far apart give the intensity of the whole."""
    X = correlated(rng, n=90, p=5, loc=40.0)
    X[60] += 25.0  # the third part starts far from the others
    w = rng.uniform(0.5, 2.0, 90)
    for weights in (None, w):
        parts = [
            ZCAWhitening(shrinkage="ledoit-wolf").fit(
                X[i : i + 30], sample_weight=None if weights is None else w[i : i + 30]
            )
            for i in (0, 30, 60)
        ]
        merged = parts[0].merge(parts[1]).merge(parts[2])
        alpha = ledoit_wolf_diagonal_reference(X, weights)
        assert 0 < alpha < 1
        assert merged.shrinkage_ == pytest.approx(alpha, rel=1e-9)


def test_ledoit_wolf_set_after_the_first_batch_is_an_error(rng):
    X = correlated(rng)
    est = ZCAWhitening().partial_fit(X)
    est.set_params(shrinkage="ledoit-wolf")
    with pytest.raises(ValueError, match=r"ZCAWhitening.partial_fit\(\): .*fit"):
        est.partial_fit(X)
    est.fit(X)  # a fresh fit is fine
    assert 0 <= est.shrinkage_ <= 1


# ------------------------------------------------- names, errors, state --
def test_feature_names(rng):
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(correlated(rng, p=3), columns=["a", "b", "c"])
    for method in ("zca", "zca-cor", "cholesky"):
        est = ZCAWhitening(method=method).set_output(transform="pandas").fit(X)
        assert list(est.transform(X).columns) == ["a", "b", "c"]
    est = ZCAWhitening(method="pca", n_components=2).set_output(transform="pandas")
    Z = est.fit(X).transform(X)
    assert list(Z.columns) == ["zcawhitening0", "zcawhitening1"]
    # Components go back in, whatever their names.
    assert est.inverse_transform(Z).shape == (len(X), 3)
    assert list(ZCAWhitening(method="pca-cor").fit(X).get_feature_names_out()) == [
        "zcawhitening0",
        "zcawhitening1",
        "zcawhitening2",
    ]


def test_bad_input_and_parameters(rng):
    X = correlated(rng)
    with pytest.raises(ValueError, match=r"^ZCAWhitening.fit\(\): .*NaN"):
        ZCAWhitening().fit(np.where(X > 20, np.nan, X))
    with pytest.raises(ValueError, match=r"^ZCAWhitening.fit\(\): n_components=9"):
        ZCAWhitening(method="pca", n_components=9).fit(X)
    with pytest.raises(InvalidParameterError, match="method"):
        ZCAWhitening(method="whiten").fit(X)
    with pytest.raises(InvalidParameterError, match="eps"):
        ZCAWhitening(eps=-1.0).fit(X)
    with pytest.raises(InvalidParameterError, match="shrinkage"):
        ZCAWhitening(shrinkage=1.5).fit(X)
    est = ZCAWhitening(method="pca", n_components=2).fit(X)
    with pytest.raises(ValueError, match=r"^ZCAWhitening.inverse_transform\(\): .*2"):
        est.inverse_transform(X)
    with pytest.raises(ValueError, match=r"^ZCAWhitening.transform\(\): "):
        est.transform(X[:, :3])
    assert not hasattr(ZCAWhitening(), "whitening_")
    assert not hasattr(ZCAWhitening().fit(X), "explained_variance_")


@pytest.mark.parametrize("computed", [False, True])
def test_failing_partial_fit_leaves_the_state_bit_identical(computed, rng):
    X = correlated(rng)
    est = ZCAWhitening(method="pca-cor").fit(X)
    if computed:
        est.transform(X)
    before = {
        k: (v, np.array(v, copy=True) if hasattr(v, "shape") else v)
        for k, v in vars(est).items()
    }
    W = np.array(est.whitening_, copy=True)
    bad = [X[:, :3], np.where(X > 20, np.nan, X), X[:0]]
    for batch in bad:
        with pytest.raises(ValueError, match=r"^ZCAWhitening.partial_fit\(\): "):
            est.partial_fit(batch)
    with pytest.raises(ValueError):
        est.partial_fit(X, sample_weight=-np.ones(len(X)))
    assert vars(est).keys() == before.keys()
    for key, (obj, copy) in before.items():
        assert vars(est)[key] is obj, key
        if hasattr(copy, "shape"):
            np.testing.assert_array_equal(vars(est)[key], copy)
    np.testing.assert_array_equal(est.whitening_, W)


# ------------------------------------------- float32 co-moments (issue 14) --
def test_float32_covariance_within_1e6_of_the_float64_one():
    rng = np.random.default_rng(0)
    mixing = np.tril(rng.normal(size=(6, 6))) + 3 * np.eye(6)
    # Float32 block products (at least FLOAT32_GRAM_MIN_ROWS rows), many blocks.
    X = (rng.normal(size=(70_000, 6)) @ mixing.T + 50.0).astype(np.float32)
    reference = np.cov(X.astype(np.float64), rowvar=False, bias=True)
    got = ZCAWhitening().fit(X).covariance_
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, reference, rtol=1e-6, atol=1e-6 * 9)
    out = ZCAWhitening().fit(X).transform(X)
    assert out.dtype == np.float32


@pytest.mark.parametrize("n_samples", [2_048, 5_000])
def test_few_float32_blocks_stay_within_1e6_of_float64(n_samples):
    rng = np.random.default_rng(3)
    means, spreads = rng.uniform(-100, 100, 8), rng.uniform(0.5, 5, 8)
    X = (rng.normal(size=(n_samples, 8)) * spreads + means).astype(np.float32)
    reference = np.cov(X.astype(np.float64), rowvar=False, bias=True)
    got = ZCAWhitening().fit(X).covariance_
    error = np.linalg.norm(got - reference) / np.linalg.norm(reference)
    assert error < 1e-6


def test_a_float32_stream_of_small_batches_matches_fit():
    rng = np.random.default_rng(4)
    X = (rng.normal(size=(30_000, 5)) * 2 + 40).astype(np.float32)
    whole = ZCAWhitening().fit(X)
    stream = ZCAWhitening()
    for start in range(0, len(X), 3_000):
        stream.partial_fit(X[start : start + 3_000])
    np.testing.assert_allclose(
        stream.covariance_, whole.covariance_, rtol=1e-6, atol=1e-6 * 4
    )
    np.testing.assert_allclose(stream.mean_, whole.mean_, rtol=1e-7)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("row", [0, 1, 2999])
def test_the_numpy_kernel_finds_nan_and_infinity(dtype, bad, row):
    X = np.random.default_rng(1).normal(size=(3000, 3)).astype(dtype)
    X[row, 1] = bad
    est = ZCAWhitening().fit(X[3000 - 10 :] if row != 2999 else X[:10])
    before = est.covariance_.copy()
    with pytest.raises(ValueError, match=r"ZCAWhitening\.partial_fit\(\).*NaN or inf"):
        est.partial_fit(X)
    np.testing.assert_array_equal(est.covariance_, before)
    with pytest.raises(ValueError, match=r"ZCAWhitening\.fit\(\).*NaN or infinity"):
        ZCAWhitening().fit(X)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_numpy_covariance_is_exactly_symmetric(dtype):
    """The eigendecomposition reads one triangle; NumPy's co-moments and
    merges keep the matrix exactly symmetric (no symmetrization needed)."""
    rng = np.random.default_rng(7)
    X = (rng.normal(size=(6000, 140)) @ rng.normal(size=(140, 140)) + 3).astype(dtype)
    w = rng.uniform(0.5, 2.0, len(X))
    streamed = ZCAWhitening()
    for batch in np.array_split(X, 3):
        streamed.partial_fit(batch)
    for est in (
        ZCAWhitening().fit(X),
        ZCAWhitening().fit(X[:, :9]),
        ZCAWhitening().fit(X, sample_weight=w),
        ZCAWhitening(shrinkage="ledoit-wolf").fit(X[:500]),
        streamed,
    ):
        np.testing.assert_array_equal(est.covariance_, est.covariance_.T)


def test_float32_products_beyond_float32_are_summed_in_float64():
    rng = np.random.default_rng(2)
    # x**2 beyond the float32 maximum, on the float32 block path.
    X = (rng.normal(size=(70_000, 2)) * 1e20).astype(np.float32)
    reference = np.cov(X.astype(np.float64), rowvar=False, bias=True)
    got = ZCAWhitening().fit(X).covariance_
    np.testing.assert_allclose(got, reference, rtol=1e-10)
