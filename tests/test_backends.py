"""ZScore and MinMax across array backends, against NumPy references.

The ``backend`` fixture (tests/conftest.py) gives NumPy, array-api-strict,
torch-cpu, and CuPy / torch-cuda where a GPU is present (skipped otherwise).
"""

import os
import subprocess
import sys
import textwrap

import array_api_compat
import numpy as np
import pytest
import sklearn

from sknorm import MinMax, ZScore


def make_X(seed=0, n=300, f=4, nan_fraction=0.1):
    rng = np.random.default_rng(seed)
    X = 1e3 + rng.normal(size=(n, f)) * rng.uniform(0.5, 5, size=f)
    X[:, 2] = -4.0  # constant feature
    X[rng.uniform(size=X.shape) < nan_fraction] = np.nan
    return X


def ref_zscore(X, w=None):
    """Two-pass NaN-aware weighted statistics, NumPy float64."""
    X = np.asarray(X, np.float64)
    obs = ~np.isnan(X)
    w = np.ones(len(X)) if w is None else np.asarray(w, np.float64)
    W = obs * w[:, None]
    mean = (W * np.where(obs, X, 0)).sum(0) / W.sum(0)
    var = (W * np.where(obs, X - mean, 0) ** 2).sum(0) / W.sum(0)
    std = np.sqrt(var)
    scale = np.where(std < 1e-10 * np.abs(mean), 1.0, std)
    return mean, var, scale


def ref_minmax(X, lo=0.0, hi=1.0):
    X = np.asarray(X, np.float64)
    dmin, dmax = np.nanmin(X, axis=0), np.nanmax(X, axis=0)
    rng = np.where(dmax - dmin == 0, 1.0, dmax - dmin)
    return dmin, dmax, (X - dmin) / rng * (hi - lo) + lo


def same_place(a, like):
    """``a`` is an array of ``like``'s namespace on ``like``'s device."""
    assert type(a) is type(like), (type(a), type(like))
    assert array_api_compat.device(a) == array_api_compat.device(like)


def other_backend(backend):
    """Arrays from a namespace the backend's fits must refuse."""
    if backend.name == "numpy":
        import array_api_strict as xs

        return xs.asarray
    return np.asarray


# ------------------------------------------------------- results/places ----


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_zscore_on_backend(backend, dtype):
    X = make_X()
    Xb = backend.asarray(X, dtype=dtype)
    Xd = X.astype(dtype).astype(np.float64)  # exactly the values fitted
    z = ZScore()
    for a, b in [(0, 1), (1, 120), (120, 300)]:
        z.partial_fit(Xb[a:b, :])
    mean, var, scale = ref_zscore(Xd)
    for name, ref in [("mean_", mean), ("var_", var), ("scale_", scale)]:
        got = getattr(z, name)
        same_place(got, Xb)
        assert str(got.dtype).endswith("float64"), name  # accumulated in float64
        np.testing.assert_allclose(
            backend.to_numpy(got), ref, rtol=1e-12, atol=1e-20, err_msg=name
        )
    np.testing.assert_array_equal(
        backend.to_numpy(z.n_samples_seen_), (~np.isnan(X)).sum(0)
    )
    Xt = z.transform(Xb)
    same_place(Xt, Xb)
    assert str(Xt.dtype).endswith(dtype)
    tol = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(
        backend.to_numpy(Xt), (Xd - mean) / scale, rtol=tol, atol=tol
    )
    back = z.inverse_transform(Xt)
    same_place(back, Xb)
    np.testing.assert_allclose(backend.to_numpy(back), Xd, rtol=tol)


def test_zscore_weights_on_backend(backend):
    X = make_X(nan_fraction=0.0)
    w = np.random.default_rng(1).uniform(0, 2, size=len(X))
    Xb = backend.asarray(X)
    # Weights as a NumPy array follow X to its namespace and device.
    z = ZScore().fit(Xb, sample_weight=w)
    mean, var, _ = ref_zscore(X, w)
    np.testing.assert_allclose(backend.to_numpy(z.mean_), mean, rtol=1e-13)
    np.testing.assert_allclose(backend.to_numpy(z.var_), var, rtol=1e-12, atol=1e-20)
    z2 = ZScore().fit(Xb, sample_weight=backend.asarray(w))
    np.testing.assert_allclose(
        backend.to_numpy(z2.var_), backend.to_numpy(z.var_), rtol=1e-15, atol=1e-20
    )


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("clip", [False, True])
def test_minmax_on_backend(backend, dtype, clip):
    X = make_X()
    Xb = backend.asarray(X, dtype=dtype)
    Xd = X.astype(dtype).astype(np.float64)
    m = MinMax(feature_range=(-1, 2), clip=clip)
    for a, b in [(0, 7), (7, 300)]:
        m.partial_fit(Xb[a:b, :])
    dmin, dmax, expected = ref_minmax(Xd, -1, 2)
    for name, ref in [("data_min_", dmin), ("data_max_", dmax)]:
        got = getattr(m, name)
        same_place(got, Xb)
        np.testing.assert_array_equal(backend.to_numpy(got), ref)
    Xt = m.transform(Xb)
    same_place(Xt, Xb)
    assert str(Xt.dtype).endswith(dtype)
    tol = 1e-13 if dtype == "float64" else 1e-6
    np.testing.assert_allclose(backend.to_numpy(Xt), expected, rtol=tol, atol=tol)
    outside = backend.asarray(np.full((2, 4), 1e6), dtype=dtype)
    out = backend.to_numpy(m.transform(outside))
    assert (out == 2).all() if clip else (out > 2).all()


def test_minmax_data_range_without_fit_on_backend(backend):
    pixels = np.random.default_rng(2).integers(0, 256, size=(10, 6), dtype=np.uint8)
    P = backend.asarray(pixels)
    out = MinMax(data_range=(0, 255)).transform(P)
    same_place(out, P)
    np.testing.assert_allclose(backend.to_numpy(out), pixels / 255.0, rtol=1e-15)
    P32 = backend.asarray(pixels, dtype="float32")
    out32 = MinMax(data_range=(0, 255)).transform(P32)
    assert str(out32.dtype).endswith("float32")


@pytest.mark.parametrize("dtype", ["int32", "uint8", "bool"])
def test_integer_and_bool_input_give_float64(backend, dtype):
    values = np.arange(12).reshape(4, 3) % (2 if dtype == "bool" else 7)
    Xi = backend.asarray(values, dtype=dtype)
    for est in (ZScore(), MinMax()):
        out = est.fit_transform(Xi)
        same_place(out, Xi)
        assert str(out.dtype).endswith("float64")
        assert str(est.fit(Xi).transform(Xi).dtype).endswith("float64")
    mean = backend.to_numpy(ZScore().fit(Xi).mean_)
    np.testing.assert_allclose(mean, values.astype(np.float64).mean(0), rtol=1e-15)


@pytest.mark.parametrize("est", [ZScore(), MinMax()], ids=["ZScore", "MinMax"])
@pytest.mark.parametrize(
    "method", ["partial_fit", "transform", "inverse_transform", "fit_then_transform"]
)
def test_mixing_namespaces_raises(backend, est, method):
    X = make_X(nan_fraction=0.0)
    est.fit(backend.asarray(X))
    foreign = other_backend(backend)(X)
    if method == "fit_then_transform":
        # fit may change the namespace (it starts afresh), transform follows.
        est.fit(foreign)
        with pytest.raises(ValueError, match="must use the same namespace"):
            est.transform(backend.asarray(X))
        return
    name = type(est).__name__
    with pytest.raises(
        ValueError, match=rf"^{name}\.{method}\(\): .*must use the same"
    ):
        getattr(est, method)(foreign)


def test_statistics_near_float_max_on_backend(backend):
    """The generic kernel path too: mean_ finite and exact, var_ +inf."""
    from fractions import Fraction

    X = 1e307 * (1.0 + np.random.default_rng(4).uniform(0, 4, size=(600, 2)))
    z = ZScore()
    with np.errstate(over="ignore"):
        z.partial_fit(backend.asarray(X[:2])).partial_fit(backend.asarray(X[2:]))
    exact = [float(sum(map(Fraction, X[:, j].tolist())) / len(X)) for j in range(2)]
    np.testing.assert_allclose(backend.to_numpy(z.mean_), exact, rtol=1e-14)
    assert np.isposinf(backend.to_numpy(z.var_)).all()


# ------------------------------------------------------ sklearn dispatch ----


@pytest.mark.parametrize("est", [ZScore(), MinMax(clip=True)], ids=["ZScore", "MinMax"])
def test_array_api_dispatch_on_and_off_agree(backend, est):
    X = make_X()
    Xb = backend.asarray(X)
    off = est.__class__(**est.get_params())
    with sklearn.config_context(array_api_dispatch=False):
        out_off = backend.to_numpy(off.fit(Xb).transform(Xb))
    on = est.__class__(**est.get_params())
    with sklearn.config_context(array_api_dispatch=True):
        out_on = on.fit(Xb).transform(Xb)
    same_place(out_on, Xb)
    np.testing.assert_array_equal(backend.to_numpy(out_on), out_off)


# ---------------------------------------------------------------- devices ----


@pytest.mark.parametrize("est", [ZScore(), MinMax()], ids=["ZScore", "MinMax"])
def test_fitted_state_stays_on_device(est):
    """array-api-strict's second device stands in for a GPU: the fitted
    state lives there, and data on another device is refused (no silent
    copies)."""
    import array_api_strict as xs

    dev1 = xs.Device("device1")
    X = make_X()
    Xd = xs.asarray(X, device=dev1)
    est.fit(Xd)
    anchor = est.mean_ if isinstance(est, ZScore) else est.data_min_
    assert anchor.device == dev1
    out = est.transform(Xd)
    assert out.device == dev1
    name = type(est).__name__
    X_cpu = xs.asarray(X)
    for method in ("transform", "inverse_transform", "partial_fit"):
        with pytest.raises(
            ValueError, match=rf"^{name}\.{method}\(\): .*same namespace"
        ):
            getattr(est, method)(X_cpu)
    assert anchor.device == dev1


def test_sample_weight_follows_x_to_its_device():
    import array_api_strict as xs

    dev1 = xs.Device("device1")
    X = make_X(nan_fraction=0.0)
    w = np.linspace(0.5, 2.0, len(X))
    z = ZScore().fit(xs.asarray(X, device=dev1), sample_weight=xs.asarray(w))
    assert z.mean_.device == dev1
    np.testing.assert_allclose(
        np.asarray(xs.asarray(z.mean_, device=xs.Device("CPU_DEVICE"))),
        ref_zscore(X, w)[0],
        rtol=1e-13,
    )


# ------------------------------------------------------------ import cost ----


def test_import_does_not_load_gpu_or_distributed_libraries():
    code = textwrap.dedent(
        """
        import sys
        import numpy as np
        import sknorm

        def loaded(names):
            return [m for m in names if m in sys.modules]

        extras = ("torch", "cupy", "dask", "jax", "skops", "rich", "sklearn.callback")
        # sknorm's own layers, on an estimator fitted without a fit call:
        # transform, the deployment layer short of the calls that need an
        # extra, the fitted-attributes table.
        bn = sknorm.MiniBatchNormalizer.from_torch_state_dict(
            {"running_mean": np.zeros(3), "running_var": np.ones(3)}
        )
        X = np.random.default_rng(0).normal(size=(50, 3))
        bn.transform(X)
        sknorm.move_estimator(bn, "numpy")
        repr(bn)
        if hasattr(bn, "_get_fitted_attr_html"):  # scikit-learn >= 1.9
            bn._get_fitted_attr_html()
        sknorm.io.TRUSTED_TYPES
        assert not loaded(extras), loaded(extras)
        # Fitting and the HTML repr: scikit-learn 1.9's own _fit_context and
        # repr import sklearn.callback (which imports rich when installed),
        # for StandardScaler as for any estimator: scikit-learn's import.
        bn._repr_html_()
        sknorm.ZScore().fit(X).transform(X)
        sknorm.MinMax().fit(X).transform(X)
        extras = ("torch", "cupy", "dask", "jax", "skops")
        assert not loaded(extras), loaded(extras)
        """
    )
    env = dict(os.environ)
    env.pop("PYTHONWARNINGS", None)
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
