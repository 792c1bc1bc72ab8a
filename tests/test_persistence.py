"""sknorm.io: skops files that load back exactly, refuse what they should,
and carry no device arrays or callbacks."""

import importlib
import io
import json
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
from deploy_cases import (
    CASES,
    assert_same_bits,
    cpu_backend,
    data,
    fit,
    partial_fit,
    state_arrays,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import sknorm
from sknorm.io import TRUSTED_TYPES, UntrustedTypesError

sio = pytest.importorskip("skops.io")


def _roundtrip(est):
    buffer = io.BytesIO()
    sknorm.io.dump(est, buffer)
    return sknorm.io.load(io.BytesIO(buffer.getvalue())), buffer.getvalue()


def _x(case):
    return data(case, seed=3, n=10)[0]


@pytest.mark.parametrize("case", CASES)
def test_roundtrip_is_exact_and_learning_goes_on(case):
    est = fit(case)
    loaded, _ = _roundtrip(est)
    assert type(loaded) is type(est)
    assert loaded.get_params().keys() == est.get_params().keys()
    arrays = state_arrays(loaded)
    assert set(arrays) == set(state_arrays(est))
    for path, a in state_arrays(est).items():
        assert_same_bits(arrays[path], a, err_msg=path)
    assert_same_bits(loaded.transform(_x(case)), est.transform(_x(case)))
    if hasattr(est, "partial_fit"):
        # Loading, then continuing, equals never having stopped.
        partial_fit(loaded, case)
        partial_fit(est, case)
        for path, a in state_arrays(est).items():
            assert_same_bits(state_arrays(loaded)[path], a, err_msg=path)
        assert_same_bits(loaded.transform(_x(case)), est.transform(_x(case)))


@pytest.mark.parametrize("case", sorted(CASES))
def test_unfitted_estimators_roundtrip(case):
    est = CASES[case]()
    loaded, _ = _roundtrip(est)
    assert repr(loaded) == repr(est)
    X, w = data(case)
    kwargs = {} if w is None else {"sample_weight": w}
    assert_same_bits(
        loaded.fit(X, **kwargs).transform(X), est.fit(X, **kwargs).transform(X)
    )


@pytest.mark.parametrize("src", ["torch-cpu", "array_api_strict"])
@pytest.mark.parametrize("case", ["zscore", "pca-lw", "mbn-arrays", "minmax-clip"])
def test_estimators_fitted_elsewhere_are_saved_as_numpy(src, case):
    S, S_ns, S_dev = cpu_backend(src)
    est = fit(case, S)
    loaded, _ = _roundtrip(est)
    for path, a in state_arrays(loaded).items():
        assert isinstance(a, np.ndarray), path
        assert_same_bits(a, state_arrays(est)[path], err_msg=path)
    # The original keeps its arrays where they were.
    assert all(
        not isinstance(a, np.ndarray)
        for path, a in state_arrays(est).items()
        if "scale" not in path and "shift" not in path  # NumPy parameters
    )
    # Moved back, it goes on exactly as the estimator that never stopped.
    back = sknorm.move_estimator(loaded, S_ns, S_dev)
    partial_fit(back, case, S)
    partial_fit(est, case, S)
    assert_same_bits(back.transform(S(_x(case))), est.transform(S(_x(case))))


@pytest.mark.parametrize("case", ["zscore", "zca", "mbn-arrays"])
def test_device_fitted_estimators_are_saved_as_numpy(backend, case):
    """CuPy / torch CUDA on a GPU (skipped without one)."""
    est = fit(case, backend.asarray)
    loaded, _ = _roundtrip(est)
    for path, a in state_arrays(loaded).items():
        assert isinstance(a, np.ndarray), path
    np.testing.assert_allclose(
        loaded.transform(_x(case)),
        backend.to_numpy(est.transform(backend.asarray(_x(case)))),
        rtol=1e-12,
        atol=1e-12,
    )


def test_trusted_types_are_exactly_the_types_in_files():
    names = set()
    for case in CASES:
        for est in (CASES[case](), fit(case)):
            buffer = io.BytesIO()
            sknorm.io.dump(est, buffer)
            names |= set(sio.get_untrusted_types(data=buffer.getvalue()))
    assert names == set(TRUSTED_TYPES)
    assert len(TRUSTED_TYPES) == len(set(TRUSTED_TYPES))
    for name in TRUSTED_TYPES:
        module, _, attr = name.rpartition(".")
        cls = getattr(importlib.import_module(module), attr)
        assert f"{cls.__module__}.{cls.__name__}" == name
        assert not any(part.startswith("_") for part in name.split("."))


def test_skops_users_load_with_the_list():
    est = fit("pca-lw")
    buffer = io.BytesIO()
    sio.dump(est, buffer)  # skops itself, without sknorm.io
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException):
        sio.loads(buffer.getvalue())
    loaded = sio.loads(buffer.getvalue(), trusted=list(TRUSTED_TYPES))
    assert_same_bits(loaded.transform(_x("pca-lw")), est.transform(_x("pca-lw")))


def test_files_on_disk(tmp_path):
    est = fit("zscore")
    path = tmp_path / "scaler.skops"
    sknorm.io.dump(est, path)
    assert_same_bits(sknorm.io.load(path).mean_, est.mean_)
    assert_same_bits(sknorm.io.load(str(path)).mean_, est.mean_)
    with open(path, "rb") as f:
        assert_same_bits(sknorm.io.load(f).mean_, est.mean_)


def _tampered(payload, old, new):
    """The archive with ``old`` replaced by ``new`` in its schema.json."""
    source = zipfile.ZipFile(io.BytesIO(payload))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "schema.json":
                text = content.decode()
                assert old in text
                content = text.replace(old, new, 1).encode()
            target.writestr(item, content)
    return out.getvalue()


def test_a_tampered_file_is_refused(monkeypatch):
    calls = []
    monkeypatch.setattr(os, "system", lambda *a: calls.append(a))
    _, payload = _roundtrip(fit("zscore"))
    schema = json.loads(zipfile.ZipFile(io.BytesIO(payload)).read("schema.json"))
    assert (schema["__module__"], schema["__class__"]) == ("sknorm", "ZScore")
    bad = _tampered(
        payload,
        '"__class__": "ZScore",\n  "__module__": "sknorm"',
        '"__class__": "system",\n  "__module__": "os"',
    )
    with pytest.raises(UntrustedTypesError, match=r"os\.system") as info:
        sknorm.io.load(io.BytesIO(bad))
    assert info.value.types == ["os.system"]
    assert calls == []
    # A private module name is not trusted either (only the stable ones are).
    private = _tampered(
        payload, '"__module__": "sknorm.state"', '"__module__": "sknorm._stats"'
    )
    with pytest.raises(UntrustedTypesError, match=r"sknorm\._stats\.Moments"):
        sknorm.io.load(io.BytesIO(private))


def test_files_that_are_not_skops_archives_are_refused(tmp_path):
    path = tmp_path / "model.pkl"
    path.write_bytes(b"\x80\x05not a zip")
    with pytest.raises(
        ValueError, match=r"sknorm\.io\.load\(\): .* not a skops archive"
    ):
        sknorm.io.load(path)
    other = io.BytesIO()
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("data.txt", "hello")
    with pytest.raises(ValueError, match=r"without schema\.json"):
        sknorm.io.load(io.BytesIO(other.getvalue()))
    broken = io.BytesIO()
    with zipfile.ZipFile(broken, "w") as z:
        z.writestr("schema.json", "{not json")
    with pytest.raises(ValueError, match=r"unreadable schema\.json"):
        sknorm.io.load(io.BytesIO(broken.getvalue()))


# Written by the code of commit 6a7fbad, before the dewhitening matrix was
# built lazily: each computed cache holds W and W^+ and no factors.
OLD_LAYOUT = {
    "zca": {},
    "pca": {"method": "pca", "n_components": 2, "shrinkage": "ledoit-wolf"},
    "cholesky": {"method": "cholesky", "shrinkage": 0.3},
}


def _old_layout_data():
    """The rows those estimators were fitted on (regenerated)."""
    rng = np.random.default_rng(20)
    mixing = [[2.0, 0, 0, 0], [1.0, 1.0, 0, 0], [0.5, 0.3, 0.2, 0], [0, 0, 0.4, 1.0]]
    return 5.0 + rng.normal(size=(40, 4)) @ np.array(mixing)


@pytest.mark.parametrize("fmt", ["skops", "pickle"])
def test_files_with_an_eagerly_computed_dewhitening_still_load(fmt):
    path = Path(__file__).parent / "data" / f"whitening-6a7fbad.{fmt}"
    if fmt == "skops":
        loaded = sknorm.io.load(path)
    else:
        with open(path, "rb") as f:
            loaded = pickle.load(f)
    X = _old_layout_data()
    assert set(loaded) == set(OLD_LAYOUT)
    for name, params in OLD_LAYOUT.items():
        est = loaded[name]
        assert est.get_params() == sknorm.ZCAWhitening(**params).get_params()
        stored = est._whitening_cache_.result
        assert stored.dewhitening is not None and stored.basis is None  # old
        fresh = sknorm.ZCAWhitening(**params).fit(X)
        np.testing.assert_allclose(est.covariance_, fresh.covariance_, rtol=1e-12)
        if params.get("shrinkage") != "ledoit-wolf":
            np.testing.assert_allclose(est.covariance_, pop_cov(X, params), rtol=1e-12)
        for attr in ("whitening_", "dewhitening_"):
            np.testing.assert_allclose(
                getattr(est, attr), getattr(fresh, attr), rtol=1e-10, atol=1e-13
            )
        Z = est.transform(X)
        np.testing.assert_allclose(Z, fresh.transform(X), rtol=1e-10, atol=1e-12)
        k = Z.shape[1]
        if not params.get("shrinkage"):  # whitened: the identity covariance
            np.testing.assert_allclose(
                np.cov(Z, rowvar=False, bias=True), np.eye(k), atol=1e-10
            )
        if k == X.shape[1]:
            np.testing.assert_allclose(est.inverse_transform(Z), X, rtol=1e-10)
        assert est.dewhitening_ is stored.dewhitening  # used as it is
        # Learning goes on as it would have.
        est.partial_fit(X[:7])
        fresh.partial_fit(X[:7])
        np.testing.assert_allclose(est.covariance_, fresh.covariance_, rtol=1e-12)


def pop_cov(X, params):
    cov = np.cov(X, rowvar=False, bias=True)
    alpha = params.get("shrinkage")
    if isinstance(alpha, float):
        cov = (1 - alpha) * cov + alpha * np.diag(np.diag(cov))
    return cov


def test_an_unbuilt_dewhitening_is_saved_and_built_after_loading(monkeypatch):
    est = fit("zca")  # transformed: W computed, W^+ not built yet
    assert est._whitening_cache_.result.dewhitening is None
    loaded, _ = _roundtrip(est)
    for module in (np.linalg, scipy.linalg):
        monkeypatch.setattr(module, "eigh", lambda *a, **k: pytest.fail("decomposed"))
    assert_same_bits(loaded.dewhitening_, est.dewhitening_)
    Z = est.transform(_x("zca"))
    assert_same_bits(loaded.inverse_transform(Z), est.inverse_transform(Z))


def test_pipelines_load():
    X, _ = data("zca")
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            ("z", sknorm.ZScore()),
            ("w", sknorm.ZCAWhitening(method="pca", n_components=2)),
        ]
    ).fit(X)
    loaded, _ = _roundtrip(pipe)
    assert_same_bits(loaded.transform(X), pipe.transform(X))


def test_callbacks_are_not_saved():
    pytest.importorskip("sklearn.callback")

    class Callback:
        def setup(self, estimator, context): ...
        def on_fit_task_begin(self, estimator, context, **kwargs): ...
        def on_fit_task_end(self, estimator, context, **kwargs): ...
        def teardown(self, estimator, context): ...

    callback = Callback()
    X, _ = data("zscore")
    est = sknorm.ZScore().set_callbacks(callback).fit(X)
    pipe = Pipeline([("z", sknorm.MinMax())]).set_callbacks(callback).fit(X)
    for obj in (est, pipe):
        loaded, payload = _roundtrip(obj)
        assert "_skl_callbacks" not in vars(loaded)
        assert (
            "Callback"
            not in zipfile.ZipFile(io.BytesIO(payload)).read("schema.json").decode()
        )
        assert obj._skl_callbacks == [callback]  # the original keeps them


def test_without_skops_the_error_says_how_to_install(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "skops.io", None)
    with pytest.raises(ImportError, match=r"sknorm\[persist\]"):
        sknorm.io.dump(sknorm.ZScore(), io.BytesIO())
    with pytest.raises(ImportError, match=r"sknorm\.io\.load\(\) needs skops"):
        sknorm.io.load(io.BytesIO(b""))
