"""Shared fixtures: the backend matrix every estimator test runs across.

``SCIPY_ARRAY_API=1`` must be set before SciPy is first imported, or
scikit-learn's Array API checks are skipped: conftest is imported first.
"""

import os

os.environ.setdefault("SCIPY_ARRAY_API", "1")

import contextlib
import importlib.util

import numpy as np
import pytest


def _has(module):
    return importlib.util.find_spec(module) is not None


def _cuda_torch():
    if not _has("torch"):
        return False
    import torch

    return torch.cuda.is_available()


def _cupy_gpu():
    if not _has("cupy"):
        return False
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


class Backend:
    """One array library on one device: converts to and from NumPy."""

    def __init__(self, name, xp, device, to_numpy):
        self.name = name
        self.xp = xp
        self.device = device
        self._to_numpy = to_numpy

    def asarray(self, a, dtype=None):
        a = np.asarray(a)
        if dtype is not None:
            a = a.astype(dtype)
        return (
            self.xp.asarray(a, device=self.device)
            if self.device is not None
            else (self.xp.asarray(a))
        )

    def to_numpy(self, a):
        return self._to_numpy(a)

    def __repr__(self):
        return self.name


def _make_backend(name):
    if name == "numpy":
        return Backend("numpy", np, None, np.asarray)
    if name == "array_api_strict":
        if not _has("array_api_strict"):
            pytest.skip("array-api-strict is not installed")
        import array_api_strict as xs

        return Backend(name, xs, None, lambda a: np.asarray(a))
    if name in {"torch-cpu", "torch-cuda"}:
        if not _has("torch"):
            pytest.skip("torch is not installed")
        import array_api_compat.torch as xt

        if name == "torch-cuda" and not _cuda_torch():
            pytest.skip("no CUDA device for torch")
        device = "cpu" if name == "torch-cpu" else "cuda"
        return Backend(name, xt, device, lambda a: a.detach().cpu().numpy())
    if name == "cupy":
        if not _cupy_gpu():
            pytest.skip("CuPy with a GPU is not available")
        import cupy

        return Backend(name, cupy, None, cupy.asnumpy)
    raise ValueError(name)  # pragma: no cover


BACKENDS = ["numpy", "array_api_strict", "torch-cpu", "cupy", "torch-cuda"]


@pytest.fixture(params=BACKENDS)
def backend(request):
    """An array backend; the GPU ones skip cleanly without a device."""
    return _make_backend(request.param)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@contextlib.contextmanager
def _refuse_host_reads():
    """array-api-strict arrays whose bool()/float()/int() raise: what a host
    synchronisation on a GPU array would be."""
    from array_api_strict._array_object import Array

    def refuse(self, *args):
        raise AssertionError("a device value was read on the host")

    names = ("__bool__", "__float__", "__int__", "__index__", "__complex__")
    saved = {k: getattr(Array, k) for k in names}
    for k in names:
        setattr(Array, k, refuse)
    try:
        yield
    finally:
        for k, v in saved.items():
            setattr(Array, k, v)


@pytest.fixture
def no_host_reads():
    """``with no_host_reads(): ...`` fails on any host read of a strict array."""
    pytest.importorskip("array_api_strict")
    return _refuse_host_reads


def _local_cluster_client(set_as_default):
    """A two-process ``distributed.LocalCluster``'s client, for a module."""
    import warnings

    distributed = pytest.importorskip("distributed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=50,
        )
        with distributed.Client(cluster, set_as_default=set_as_default) as c:
            yield c
        cluster.close()


@pytest.fixture(scope="module")
def client():
    """A two-process ``distributed.LocalCluster``'s client, the default
    scheduler while the module's tests run (one cluster per test module)."""
    yield from _local_cluster_client(set_as_default=True)


@pytest.fixture(scope="module")
def side_client():
    """As ``client``, but not the default scheduler: a test runs on it with
    ``dask.config.set(scheduler=side_client)``, the module's other tests on
    the local schedulers."""
    yield from _local_cluster_client(set_as_default=False)


# The kernel paths an estimator can take, and the routes of the per-channel
# statistics (tests/estimator_paths.py): fixtures shared by the estimator
# tests that must hold on every path.
from estimator_paths import channel_route, kernel_path  # noqa: E402, F401
