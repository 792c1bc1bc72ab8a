"""LocalResponseNormalizer: PyTorch parity, the formula, statelessness.

References: ``torch.nn.functional.local_response_norm`` on the features as
channels (input shaped (N, C, 1): torch wants at least 3 dimensions), and
the formula written out with explicit loops in NumPy.
"""

import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError

from sknorm import LocalResponseNormalizer


def _reference(X, size, alpha, beta, k):
    """b_i = a_i / (k + alpha / size * sum of a_j**2 over the window)**beta."""
    f = X.shape[1]
    out = np.empty_like(X)
    sq = np.where(np.isnan(X), 0.0, X * X)
    for i in range(f):
        lo, hi = i - size // 2, i + (size - 1) // 2
        window = sum(sq[:, j] for j in range(max(lo, 0), min(hi, f - 1) + 1))
        out[:, i] = X[:, i] / (k + alpha / size * window) ** beta
    return out


def _torch_lrn(torch, X, size, alpha, beta, k):
    t = torch.from_numpy(X)[:, :, None]
    out = torch.nn.functional.local_response_norm(t, size, alpha=alpha, beta=beta, k=k)
    return out[:, :, 0].numpy()


PARAMS = [
    (5, 1e-4, 0.75, 2.0),  # AlexNet
    (1, 0.5, 0.5, 1.0),
    (2, 1.0, 0.75, 1.0),  # even: one more feature behind than ahead
    (4, 3.0, 1.0, 0.5),
    (9, 2.0, 0.75, 1.0),  # wider than the 7 features
    (40, 0.3, 2.0, 1.5),
]


@pytest.mark.parametrize(("size", "alpha", "beta", "k"), PARAMS)
def test_torch_parity_float64(backend, size, alpha, beta, k, rng):
    torch = pytest.importorskip("torch")
    X = rng.normal(size=(30, 7)) * rng.uniform(0.1, 10.0, size=7)
    expected = _torch_lrn(torch, X, size, alpha, beta, k)
    est = LocalResponseNormalizer(size, alpha=alpha, beta=beta, k=k)
    got = backend.to_numpy(est.transform(backend.asarray(X)))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(got, _reference(X, size, alpha, beta, k), rtol=1e-12)


def test_torch_parity_float32(backend, rng):
    torch = pytest.importorskip("torch")
    X = (rng.normal(size=(30, 7)) * 3).astype(np.float32)
    expected = _torch_lrn(torch, X, 3, 0.5, 0.75, 1.0)
    got = backend.to_numpy(
        LocalResponseNormalizer(3, alpha=0.5, beta=0.75, k=1.0).transform(
            backend.asarray(X)
        )
    )
    assert np.asarray(got).dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_blocked_numpy_path_equals_torch(rng):
    """Enough rows for the NumPy path to work in several row blocks."""
    torch = pytest.importorskip("torch")
    X = rng.normal(size=(5000, 64))
    expected = _torch_lrn(torch, X, 5, 1.0, 0.75, 2.0)
    got = LocalResponseNormalizer(5, alpha=1.0, beta=0.75, k=2.0).transform(X)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_small_features_next_to_huge_ones_stay_accurate():
    # A running-sum implementation would cancel 1e16 against 1e16 here.
    X = np.array([[1e8, 1e-3, 2e-3, 3e-3, 4e-3, 5e-3]])
    got = LocalResponseNormalizer(3, alpha=1.0, beta=0.5, k=1e-12).transform(X)
    np.testing.assert_allclose(got, _reference(X, 3, 1.0, 0.5, 1e-12), rtol=1e-13)


def test_stateless_and_fit_only_validates(rng):
    X = rng.normal(size=(4, 6))
    est = LocalResponseNormalizer()
    unfitted = est.transform(X)  # no fit needed
    assert est.__sklearn_tags__().requires_fit is False
    assert not hasattr(est, "n_features_in_")
    assert est.fit(X) is est
    assert est.n_features_in_ == 6
    np.testing.assert_array_equal(est.transform(X), unfitted)
    np.testing.assert_array_equal(est.fit_transform(X), unfitted)
    with pytest.raises(ValueError, match=r"^LocalResponseNormalizer\.transform\(\): "):
        est.transform(X[:, :5])
    assert not hasattr(est, "inverse_transform")


def test_namespace_is_recorded_by_fit(rng):
    xs = pytest.importorskip("array_api_strict")
    X = rng.normal(size=(4, 6))
    est = LocalResponseNormalizer().fit(xs.asarray(X))
    with pytest.raises(ValueError, match="must use the same namespace"):
        est.transform(X)
    # Unfitted, any namespace works.
    np.testing.assert_allclose(
        np.asarray(LocalResponseNormalizer().transform(xs.asarray(X))),
        LocalResponseNormalizer().transform(X),
        rtol=1e-15,
    )


def test_nan_is_kept_and_adds_nothing_to_neighbours(backend, rng):
    X = rng.normal(size=(5, 6))
    X[1, 2] = np.nan
    X[3, 0] = np.nan
    got = backend.to_numpy(
        LocalResponseNormalizer(3, alpha=1.0, beta=0.75, k=1.0).transform(
            backend.asarray(X)
        )
    )
    assert np.array_equal(np.isnan(got), np.isnan(X))
    np.testing.assert_allclose(got, _reference(X, 3, 1.0, 0.75, 1.0), rtol=1e-12)


def test_infinity_is_an_error():
    X = np.array([[1.0, np.inf, 2.0]])
    with pytest.raises(ValueError, match=r"^LocalResponseNormalizer\.transform\(\): "):
        LocalResponseNormalizer().transform(X)


def test_dtypes(rng):
    X32 = rng.normal(size=(3, 4)).astype(np.float32)
    assert LocalResponseNormalizer().transform(X32).dtype == np.float32
    ints = np.arange(12).reshape(3, 4)
    out = LocalResponseNormalizer(2, alpha=1.0, beta=1.0, k=1.0).transform(ints)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, _reference(ints.astype(float), 2, 1.0, 1.0, 1.0))


@pytest.mark.parametrize(
    "params", [{"size": 0}, {"alpha": -1.0}, {"k": 0.0}, {"size": 2.5}]
)
def test_parameters_are_validated(params):
    prefix = r"^LocalResponseNormalizer\.{}\(\): "
    with pytest.raises(InvalidParameterError, match=prefix.format("transform")):
        LocalResponseNormalizer(**params).transform(np.ones((2, 3)))
    with pytest.raises(InvalidParameterError, match=prefix.format("fit")):
        LocalResponseNormalizer(**params).fit(np.ones((2, 3)))
