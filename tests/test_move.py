"""move_estimator (and scikit-learn's move_estimator_to through the
``__sklearn_array_api_convert__`` hook): every fitted array moves, values
exactly, and the copy goes on working and learning where it landed."""

import array_api_compat
import numpy as np
import pytest
from deploy_cases import (
    CASES,
    assert_same_bits,
    cpu_backend,
    fit,
    partial_fit,
    state_arrays,
    to_numpy,
)
from sklearn import config_context
from sklearn.pipeline import Pipeline

import sknorm
import sknorm._whitening.estimator
from sknorm import _move

BACKENDS = ["numpy", "torch-cpu", "array_api_strict"]
PAIRS = [pytest.param(a, b, id=f"{a}->{b}") for a in BACKENDS for b in BACKENDS]


def _x(case, asarray, seed=2):
    from deploy_cases import data

    return asarray(data(case, seed=seed, n=15)[0])


def _check_placed(moved, like, device=None):
    """Every array of ``moved`` is of ``like``'s type (and device)."""
    arrays = state_arrays(moved)
    assert arrays
    for path, a in arrays.items():
        assert type(a) is type(like), (path, type(a))
        if device is not None:
            assert str(array_api_compat.device(a)) == str(device), path


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("src, dst", PAIRS)
def test_move_between_cpu_backends(case, src, dst):
    S, S_ns, S_dev = cpu_backend(src)
    D, D_ns, D_dev = cpu_backend(dst)
    est = fit(case, S)
    before = {k: to_numpy(v).copy() for k, v in state_arrays(est).items()}
    moved = sknorm.move_estimator(est, D_ns, D_dev)
    # There and back before anything runs there: matrices not computed yet
    # are then computed by the same kernels as the original's.
    back = sknorm.move_estimator(sknorm.move_estimator(est, D_ns, D_dev), S_ns, S_dev)

    # Every array moved, with its exact values and dtype; none shared.
    _check_placed(moved, D(np.zeros(1)), D_dev)
    moved_arrays = state_arrays(moved)
    assert set(moved_arrays) == set(before)
    for path, a in state_arrays(est).items():
        assert_same_bits(moved_arrays[path], a, err_msg=path)
        assert moved_arrays[path] is not a
        if src == dst == "numpy":
            assert not np.shares_memory(moved_arrays[path], a), path
    assert moved.get_params().keys() == est.get_params().keys()

    # It transforms like the original there (another kernel path: rounding)
    # and, moved back, to the bit.
    Y = to_numpy(est.transform(_x(case, S)))
    np.testing.assert_allclose(
        to_numpy(moved.transform(_x(case, D))), Y, rtol=1e-12, atol=1e-12
    )
    assert_same_bits(back.transform(_x(case, S)), Y)
    if hasattr(est, "inverse_transform"):
        Z = est.transform(_x(case, S))
        assert_same_bits(back.inverse_transform(Z), est.inverse_transform(Z))

    # And it goes on learning: moved back, exactly as if it had stayed.
    if hasattr(est, "partial_fit"):
        partial_fit(moved, case, D)
        partial_fit(back, case, S)
        partial_fit(est, case, S)
        assert_same_bits(back.transform(_x(case, S)), est.transform(_x(case, S)))
        np.testing.assert_allclose(
            to_numpy(moved.transform(_x(case, D))),
            to_numpy(est.transform(_x(case, S))),
            rtol=1e-11,
            atol=1e-11,
        )
    # The original was not touched by the move.
    if not hasattr(est, "partial_fit"):
        for path, a in state_arrays(est).items():
            assert_same_bits(a, before[path], err_msg=path)


@pytest.mark.parametrize("case", ["zscore", "pca-lw", "mbn-arrays", "minmax-clip"])
def test_move_to_the_device_and_back(backend, case):
    """numpy -> backend (CuPy / torch CUDA on a GPU) -> numpy."""
    est = fit(case)
    ns = {"cupy": "cupy", "numpy": "numpy", "array_api_strict": "array_api_strict"}
    moved = sknorm.move_estimator(est, ns.get(backend.name, "torch"), backend.device)
    _check_placed(moved, backend.asarray(np.zeros(1)))
    for path, a in state_arrays(est).items():
        assert_same_bits(state_arrays(moved)[path], a, err_msg=path)
    X = _x(case, np.asarray)
    np.testing.assert_allclose(
        backend.to_numpy(moved.transform(backend.asarray(X))),
        est.transform(X),
        rtol=1e-12,
        atol=1e-12,
    )
    back = sknorm.move_estimator(moved, np)
    assert_same_bits(back.transform(X), est.transform(X))


@pytest.mark.parametrize("case", ["zscore", "pca-lw", "mbn-arrays", "lrn"])
@pytest.mark.parametrize("dst", ["torch-cpu", "array_api_strict", "numpy"])
def test_sklearn_move_estimator_to_uses_the_hook(case, dst):
    array_api = pytest.importorskip("sklearn.utils._array_api")
    if not hasattr(array_api, "move_estimator_to"):
        pytest.skip("scikit-learn < 1.9 has no move_estimator_to")
    D, D_ns, D_dev = cpu_backend(dst)
    est = fit(case, cpu_backend("torch-cpu")[0] if dst == "numpy" else np.asarray)
    xp = _move.resolve_namespace(D_ns)
    with config_context(array_api_dispatch=True):
        moved = array_api.move_estimator_to(est, xp, D_dev or _move.default_device(xp))
    _check_placed(moved, D(np.zeros(1)))
    ours = sknorm.move_estimator(est, D_ns, D_dev)
    for path, a in state_arrays(ours).items():
        assert_same_bits(state_arrays(moved)[path], a, err_msg=path)
    assert_same_bits(moved.transform(_x(case, D)), ours.transform(_x(case, D)))


def test_the_whitening_cache_travels(monkeypatch):
    est = fit("zca")  # transformed: the matrices are computed
    W = est.whitening_
    monkeypatch.setattr(
        sknorm._whitening.estimator,
        "whitening_matrices",
        lambda *a, **k: pytest.fail("recomputed after the move"),
    )
    torch = pytest.importorskip("torch")
    moved = sknorm.move_estimator(est, torch)
    assert_same_bits(moved.whitening_, W)
    assert moved._whitening_cache_ is not est._whitening_cache_
    # W^+ is built where it is first used, from the factors that travelled.
    assert est._whitening_cache_.result.dewhitening is None
    D = moved.dewhitening_
    assert isinstance(D, torch.Tensor)
    np.testing.assert_allclose(D.numpy(), est.dewhitening_, rtol=1e-12, atol=1e-14)
    back = sknorm.move_estimator(moved, np)  # built: it travels as it is
    assert_same_bits(back.dewhitening_, D)


def test_names_types_and_devices_of_namespaces():
    est = fit("zscore")
    xs = pytest.importorskip("array_api_strict")
    for namespace in ("array_api_strict", xs):
        moved = sknorm.move_estimator(est, namespace)
        assert type(moved._moments_.mean) is type(xs.asarray(0.0))
    device = xs.Device("device1")
    moved = sknorm.move_estimator(est, xs, device)
    assert moved._moments_.var.device == device
    assert moved.transform(xs.asarray(np.ones((2, 4)), device=device)).device == device
    with pytest.raises(ValueError, match=r"move_estimator\(\): .*cannot be imported"):
        sknorm.move_estimator(est, "no_such_array_library")
    with pytest.raises(TypeError, match=r"move_estimator\(\): .*not an array namesp"):
        sknorm.move_estimator(est, "json")
    with pytest.raises(TypeError, match="expected an estimator"):
        sknorm.move_estimator(np.ones(3), "numpy")


def test_float64_becomes_float32_only_without_float64(monkeypatch):
    est = fit("zscore")
    xs = pytest.importorskip("array_api_strict")
    assert sknorm.move_estimator(est, xs)._moments_.var.dtype == xs.float64
    # A device without float64 (Apple MPS, some accelerators).
    monkeypatch.setattr(_move, "accumulation_dtype", lambda xp, device: xp.float32)
    moved = sknorm.move_estimator(est, xs)
    assert moved._moments_.var.dtype == xs.float32
    np.testing.assert_allclose(
        np.asarray(moved._moments_.var), est._moments_.var, rtol=1e-7
    )


def test_feature_names_unfitted_estimators_and_pipelines():
    pd = pytest.importorskip("pandas")
    torch = pytest.importorskip("torch")
    X, _ = __import__("deploy_cases").data("zca")
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    est = sknorm.ZCAWhitening().fit(frame)
    moved = sknorm.move_estimator(est, torch)
    assert moved.feature_names_in_ is not None
    assert moved.feature_names_in_.dtype == object  # names stay NumPy strings
    assert list(moved.get_feature_names_out()) == ["a", "b", "c", "d"]

    unfitted = sknorm.MiniBatchNormalizer(scale=np.array([1.0, 2.0]))
    moved = sknorm.move_estimator(unfitted, torch)
    assert isinstance(moved.scale, torch.Tensor)  # array parameters move too
    moved.fit(torch.ones((3, 2), dtype=torch.float64))
    assert isinstance(unfitted.scale, np.ndarray)

    pipe = Pipeline([("z", sknorm.ZScore()), ("w", sknorm.ZCAWhitening())]).fit(X)
    served = sknorm.move_estimator(pipe, torch)
    Y = served.transform(torch.asarray(X))
    np.testing.assert_allclose(Y.numpy(), pipe.transform(X), rtol=1e-12, atol=1e-12)
    assert isinstance(pipe.named_steps["z"]._moments_.mean, np.ndarray)
