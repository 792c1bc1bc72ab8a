"""Regression tests for bugs found in review (each failed before its fix)."""

import numpy as np
import pandas as pd
import pytest

import sknorm

PER_FEATURE = [sknorm.ZScore, sknorm.MinMax, sknorm.MiniBatchNormalizer]


@pytest.mark.parametrize("make", PER_FEATURE)
def test_copy_false_on_a_read_only_array_writes_new_memory(make):
    rng = np.random.default_rng(0)
    X = rng.normal(3.0, 2.0, size=(50, 4))
    expected = make().fit(X).transform(X.copy())
    frozen = X.copy()
    frozen.flags.writeable = False
    est = make(copy=False).fit(X)
    out = est.transform(frozen)
    np.testing.assert_allclose(out, expected, rtol=1e-15)
    np.testing.assert_array_equal(frozen, X)
    back = est.inverse_transform(np.asarray(out).copy())
    np.testing.assert_allclose(back, X, rtol=1e-12)


def test_normalize_batch_copy_false_on_a_read_only_batch():
    X = np.random.default_rng(1).normal(size=(20, 3))
    frozen = X.copy()
    frozen.flags.writeable = False
    out = sknorm.MiniBatchNormalizer(copy=False).normalize_batch(frozen)
    ref = (X - X.mean(0)) / np.sqrt(X.var(0) + 1e-5)
    np.testing.assert_allclose(out, ref, rtol=1e-12)


def test_minibatch_torch_parameters_are_used_as_tensors():
    torch = pytest.importorskip("torch")
    X = torch.randn(30, 3, dtype=torch.float64)
    gamma = torch.full((3,), 2.0, dtype=torch.float64, requires_grad=True)
    beta = torch.full((3,), 0.5, dtype=torch.float64, requires_grad=True)
    est = sknorm.MiniBatchNormalizer(scale=gamma, shift=beta).fit(X)
    out = est.transform(X)
    assert isinstance(out, torch.Tensor)
    mean, var = X.mean(0), X.var(0, unbiased=True)
    ref = (X - mean) / torch.sqrt(var + 1e-5) * 2.0 + 0.5
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)


def test_a_spread_beyond_the_float_range_is_not_called_constant():
    X = np.array([[1e200], [-1e200]])
    est = sknorm.ZScore().fit(X)
    assert est.mean_[0] == 0.0
    assert np.isinf(est.var_[0])  # the true variance, 1e400, overflows
    assert est.scale_[0] != 1.0  # and is not mistaken for a constant feature


@pytest.mark.parametrize(
    "est",
    [
        sknorm.ZScore(),
        sknorm.MinMax(),
        sknorm.MiniBatchNormalizer(),
        sknorm.ZCAWhitening(),
    ],
    ids=lambda e: type(e).__name__,
)
def test_inverse_transform_of_an_array_after_a_frame_fit_does_not_warn(est):
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(rng.normal(size=(40, 3)), columns=["a", "b", "c"])
    est.fit(frame)
    Z = np.asarray(est.transform(frame))
    # pytest turns warnings into errors: a feature-name warning fails here.
    back = est.inverse_transform(Z)
    np.testing.assert_allclose(back, frame.to_numpy(), rtol=1e-9, atol=1e-9)


def test_whitening_errors_name_the_call_that_failed():
    X = np.random.default_rng(3).normal(size=(30, 4))
    est = sknorm.ZCAWhitening(method="pca", n_components=9)
    with pytest.raises(ValueError, match=r"ZCAWhitening\.partial_fit\(\)"):
        est.partial_fit(X)
    with pytest.raises(ValueError, match=r"ZCAWhitening\.fit\(\)"):
        est.fit(X)


def test_minmax_fitted_map_ignores_later_feature_range():
    """scale_, min_ and transform keep the feature_range of the fit after a
    set_params without refit, as MinMaxScaler does (the derived attributes
    once read the current parameter)."""
    from sklearn.preprocessing import MinMaxScaler

    X = np.random.default_rng(0).normal(size=(20, 3))
    ours, theirs = sknorm.MinMax().fit(X), MinMaxScaler().fit(X)
    for est in (ours, theirs):
        est.set_params(feature_range=(-1, 1))
    np.testing.assert_allclose(ours.scale_, theirs.scale_)
    np.testing.assert_allclose(ours.min_, theirs.min_)
    np.testing.assert_allclose(ours.transform(X), theirs.transform(X))
