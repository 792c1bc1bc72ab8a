"""Half precision and byte order: the output keeps the input's float dtype.

float16 NumPy arrays, float16 and bfloat16 torch tensors and non-native
byte order (big-endian float32, as FITS files hold) come back in their own
dtype, in native byte order, from ``transform``, ``inverse_transform``,
``fit_transform`` and ``normalize_batch``.  Statistics accumulate in
float64 (the CPU has it); a transform computes in float32 and rounds once
to the 16-bit dtype, so its output equals the float32 computation rounded
once.  Independent references: torch's own layers on half input
(``BatchNorm1d`` computes half in float32 and returns half;
``local_response_norm``), and NumPy float64 statistics.
"""

import importlib.util

import numpy as np
import pytest

from sknorm import (
    LocalResponseNormalizer,
    MiniBatchNormalizer,
    MinMax,
    ZCAWhitening,
    ZScore,
)

HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")

ESTIMATORS = {
    "ZScore": ZScore,
    "MinMax": MinMax,
    "MinMax-clip": lambda: MinMax(feature_range=(-1, 2), clip=True),
    "MinMax-fixed": lambda: MinMax(data_range=(-10, 10)),
    "MBN": lambda: MiniBatchNormalizer(scale=1.5, shift=0.25),
    "ZCA": ZCAWhitening,
    "PCA-2": lambda: ZCAWhitening(method="pca", n_components=2),
    "LRN": lambda: LocalResponseNormalizer(size=3, alpha=0.5, beta=0.75, k=1.0),
}


def _data(seed=0, n=300, f=4):
    rng = np.random.default_rng(seed)
    return 3.0 + rng.normal(size=(n, f)) @ rng.normal(size=(f, f)) * 0.5


def _methods(est, X):
    """``{method: output}`` of every transform-like call on X."""
    out = {"fit_transform": est.fit_transform(X), "transform": est.transform(X)}
    if hasattr(est, "inverse_transform"):
        out["inverse_transform"] = est.inverse_transform(out["transform"])
    if hasattr(est, "normalize_batch"):
        out["normalize_batch"] = est.normalize_batch(X)
    return out


# ------------------------------------------------------------------ NumPy
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_numpy_float16_keeps_its_dtype_and_rounds_once(name):
    X16 = _data().astype(np.float16)
    got = _methods(ESTIMATORS[name](), X16)
    # The same estimator on the same values in float32, rounded once.
    ref = _methods(ESTIMATORS[name](), X16.astype(np.float32))
    for method, Y in got.items():
        assert Y.dtype == np.float16, method
        if method == "inverse_transform":
            # Its input is the float16 output of transform, not float32's.
            est = ESTIMATORS[name]().fit(X16.astype(np.float32))
            expected = est.inverse_transform(got["transform"].astype(np.float32))
        else:
            expected = ref[method]
        np.testing.assert_array_equal(Y, expected.astype(np.float16), err_msg=method)


@pytest.mark.parametrize("numba", ["0", "1"])
def test_numpy_float16_statistics_are_float64(monkeypatch, numba):
    monkeypatch.setenv("SKNORM_NUMBA", numba)
    X16 = _data(1).astype(np.float16)
    X64 = X16.astype(np.float64)  # the same values
    z = ZScore().fit(X16)
    assert z.mean_.dtype == np.float64
    np.testing.assert_allclose(z.mean_, X64.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(z.var_, X64.var(axis=0), rtol=1e-12)
    m = MinMax().fit(X16)
    assert m.data_min_.dtype == np.float64
    np.testing.assert_array_equal(m.data_min_, X64.min(axis=0))
    w = ZCAWhitening().fit(X16)
    assert w.covariance_.dtype == np.float64
    np.testing.assert_allclose(w.covariance_, np.cov(X64.T, bias=True), rtol=1e-12)


@pytest.mark.parametrize("numba", ["0", "1"])
def test_numpy_float16_missing_and_infinite_values(monkeypatch, numba):
    monkeypatch.setenv("SKNORM_NUMBA", numba)
    X16 = _data(10, n=5000).astype(np.float16)
    X16[:, 1] = np.nan
    X16[7, 2] = np.nan
    m = MinMax().fit(X16)
    X64 = X16.astype(np.float64)
    np.testing.assert_array_equal(m.data_min_, np.fmin.reduce(X64, axis=0))
    np.testing.assert_array_equal(m.data_max_, np.fmax.reduce(X64, axis=0))
    mean = ZScore().fit(X16).mean_
    assert np.isnan(mean[1])  # no observed value
    keep = [0, 2, 3]
    np.testing.assert_allclose(mean[keep], np.nanmean(X64[:, keep], axis=0), rtol=1e-14)
    X16[4000, 3] = np.inf
    for est in (MinMax(), ZScore()):
        with pytest.raises(ValueError, match=r"\.fit\(\): Input X contains inf"):
            est.fit(X16)


def test_numpy_float16_transform_in_place():
    X16 = _data(2).astype(np.float16)
    est = ZScore().fit(X16)
    expected = est.transform(X16)
    out = est.transform(X16, copy=False)
    assert out is X16
    np.testing.assert_array_equal(out, expected)


def test_float16_overflow_is_not_an_issue():
    """scikit-learn's test_scaler_float16_overflow: sums of float16 values
    beyond 65504 must not overflow (accumulation in float64)."""
    X = np.random.RandomState(0).uniform(5, 10, [20_000, 1]).astype(np.float16)
    with np.errstate(over="raise"):
        Y = ZScore().fit(X).transform(X)
    assert Y.dtype == np.float16 and np.all(np.isfinite(Y))
    expected = ZScore().fit_transform(X.astype(np.float64))
    np.testing.assert_allclose(Y, expected, atol=4e-3)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_big_endian_comes_back_native(name):
    X = _data(3).astype(np.float32)
    X_be = X.astype(">f4")
    assert not X_be.dtype.isnative
    got = _methods(ESTIMATORS[name](), X_be)
    ref = _methods(ESTIMATORS[name](), X)
    for method, Y in got.items():
        assert Y.dtype == np.float32 and Y.dtype.isnative, method
        np.testing.assert_array_equal(Y, ref[method], err_msg=method)
    assert X_be.dtype.byteorder == ">"  # the input is left as it was


def test_big_endian_float64_statistics():
    X = _data(4)
    est = ZScore().fit(X.astype(">f8"))
    np.testing.assert_array_equal(est.mean_, ZScore().fit(X).mean_)
    assert est.transform(X.astype(">f8")).dtype == np.dtype("=f8")


def test_preserves_dtype_tag_lists_float16():
    for make in ESTIMATORS.values():
        tags = make().__sklearn_tags__()
        assert "float16" in tags.transformer_tags.preserves_dtype


def test_dask_float16_chunks_behave_like_numpy():
    da = pytest.importorskip("dask.array")
    X16 = _data(5).astype(np.float16)
    est = ZScore().fit(da.from_array(X16, chunks=(100, 4)))
    ref = ZScore().fit(X16)
    np.testing.assert_allclose(est.mean_, ref.mean_, rtol=1e-14)
    Y = est.transform(da.from_array(X16, chunks=(100, 4)))
    assert Y.dtype == np.float16
    np.testing.assert_array_equal(Y.compute(), ref.transform(X16))


# ------------------------------------------------------------------ torch
def _torch(X, dtype):
    import torch

    return torch.asarray(X).to(dtype)


@needs_torch
@pytest.mark.parametrize("dtype_name", ["float16", "bfloat16"])
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_torch_half_keeps_its_dtype_and_rounds_once(name, dtype_name):
    import torch

    dtype = getattr(torch, dtype_name)
    X = _torch(_data(6), dtype)
    got = _methods(ESTIMATORS[name](), X)
    ref = _methods(ESTIMATORS[name](), X.to(torch.float32))
    for method, Y in got.items():
        assert Y.dtype == dtype, method
        if method == "inverse_transform":
            est = ESTIMATORS[name]().fit(X.to(torch.float32))
            expected = est.inverse_transform(got["transform"].to(torch.float32))
        else:
            expected = ref[method]
        torch.testing.assert_close(Y, expected.to(dtype), rtol=0, atol=0, msg=method)


@needs_torch
@pytest.mark.parametrize("dtype_name", ["float16", "bfloat16"])
def test_torch_half_against_batchnorm(dtype_name):
    """BatchNorm1d on half input computes in float32 and returns half: the
    same numbers as MiniBatchNormalizer, to a unit of the half dtype."""
    import torch

    dtype = getattr(torch, dtype_name)
    rng = np.random.default_rng(7)
    batches = [_torch(2.0 + rng.normal(size=(64, 5)), dtype) for _ in range(3)]
    bn = torch.nn.BatchNorm1d(5, momentum=0.1, eps=1e-5)
    est = MiniBatchNormalizer(momentum=0.1, eps=1e-5, init="pytorch")
    eps = torch.finfo(dtype).eps
    with torch.no_grad():
        for B in batches:
            expected = bn.train()(B)
            Y = est.normalize_batch(B)
            assert Y.dtype == dtype
            torch.testing.assert_close(
                Y.float(), expected.float(), rtol=2 * eps, atol=2 * eps
            )
        expected = bn.eval()(batches[0])
    Y = est.transform(batches[0])
    assert Y.dtype == dtype
    torch.testing.assert_close(Y.float(), expected.float(), rtol=2 * eps, atol=2 * eps)
    torch.testing.assert_close(
        est.running_mean_.float(), bn.running_mean, rtol=1e-5, atol=1e-6
    )


@needs_torch
@pytest.mark.parametrize("dtype_name", ["float16", "bfloat16"])
def test_torch_half_against_local_response_norm(dtype_name):
    """torch's local_response_norm computes in the half dtype itself; sknorm
    computes in float32 and rounds once: equal to a few units of the half
    dtype, and exactly torch's float32 result rounded once."""
    import torch

    dtype = getattr(torch, dtype_name)
    X = _torch(np.random.default_rng(8).normal(size=(40, 9)) * 3, dtype)
    est = LocalResponseNormalizer(size=5, alpha=1e-1, beta=0.75, k=2.0)
    Y = est.transform(X)
    assert Y.dtype == dtype
    F = torch.nn.functional.local_response_norm
    half = F(X.unsqueeze(-1), 5, alpha=1e-1, beta=0.75, k=2.0).squeeze(-1)
    eps = torch.finfo(dtype).eps
    torch.testing.assert_close(Y.float(), half.float(), rtol=4 * eps, atol=4 * eps)
    single = F(X.float().unsqueeze(-1), 5, alpha=1e-1, beta=0.75, k=2.0).squeeze(-1)
    torch.testing.assert_close(Y, single.to(dtype), rtol=0, atol=0)


@needs_torch
def test_torch_half_statistics_accumulate_in_float64():
    import torch

    X = _torch(_data(9), torch.float16)
    est = ZScore().fit(X)
    assert est.mean_.dtype == torch.float64
    X64 = X.double().numpy()
    np.testing.assert_allclose(est.mean_.numpy(), X64.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(est.var_.numpy(), X64.var(axis=0), rtol=1e-12)
