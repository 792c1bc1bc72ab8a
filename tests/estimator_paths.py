"""The kernel paths and channel routes an estimator can take, as fixtures.

``kernel_path`` runs a test once per path:

* ``numpy-numba`` -- NumPy with the compiled loops (skipped without numba),
* ``numpy`` -- NumPy with ``SKNORM_NUMBA=0``,
* ``generic`` -- array-api-strict arrays (the reference kernels),
* ``torch-cpu`` -- torch CPU tensors (the generic kernels, torch's own ops),
* ``matmul`` -- array-api-strict arrays through torch CUDA's kernels,
* ``cupy-emulated`` -- NumPy arrays through CuPy's compiled CUDA source, run
  on the CPU by ``cuda_emulator`` (skipped without a C++20 compiler).

A path gives ``path.array(a)`` (NumPy in, the path's array out) and
``path.numpy(a)`` (back), and is active for the whole test.

``channel_route`` runs a test once per route of the per-channel statistics
(``sknorm._channels``), forced whatever the shape of the data (the
layout's thresholds would pick one route per shape):

* ``flat`` -- channels last, the free reshape to ``(rows, C)`` and the 2-D
  kernels on it (``FOLD_WIDTH`` set to 1: no folding);
* ``folded`` -- channels last, positions folded into rows of the columns
  view and merged per channel (the default for narrow channels-last data);
* ``columns`` -- channels first, the columns view (the rows route off);
* ``rows`` -- channels first, NumPy's per-row kernels (always on);
* ``torch`` -- channels-first torch CPU tensors (the generic kernels);

each NumPy route with the compiled loops (``-numba``, skipped without
numba) and without them (``SKNORM_NUMBA=0``).  A test writes its data
channels first, ``(N, C, ...)``; ``route.array`` gives the route's input
(a channels-last copy, a tensor), ``route.axis`` the channel axis to pass,
``route.numpy`` a result back as channels-first NumPy, ``route.weights``
the sample weights in the route's namespace.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

PATHS = ["numpy-numba", "numpy", "generic", "torch-cpu", "matmul", "cupy-emulated"]


class Path:
    def __init__(self, name, array, numpy):
        self.name = name
        self.array = array
        self.numpy = numpy

    def __repr__(self):
        return self.name


def _strict():
    xs = pytest.importorskip("array_api_strict")
    return lambda a: xs.asarray(np.asarray(a))


def _kernel_lookups_answer(mp, module):
    import sknorm._base
    import sknorm._minibatch.estimator
    import sknorm._stats
    import sknorm._validation

    for owner in (
        sknorm._stats,
        sknorm._base,
        sknorm._validation,
        sknorm._minibatch.estimator,
    ):
        mp.setattr(owner, "kernels_for", lambda xp: module)


@pytest.fixture(params=PATHS)
def kernel_path(request):
    name = request.param
    with pytest.MonkeyPatch.context() as mp:
        if name == "numpy-numba":
            pytest.importorskip("numba")
            mp.setenv("SKNORM_NUMBA", "1")
            yield Path(name, np.asarray, np.asarray)
        elif name == "numpy":
            mp.setenv("SKNORM_NUMBA", "0")
            yield Path(name, np.asarray, np.asarray)
        elif name == "generic":
            yield Path(name, _strict(), np.asarray)
        elif name == "torch-cpu":
            if importlib.util.find_spec("torch") is None:
                pytest.skip("torch is not installed")
            import torch

            yield Path(
                name,
                lambda a: torch.asarray(np.array(a)),
                lambda a: a.detach().cpu().numpy(),
            )
        elif name == "matmul":
            from sknorm._kernels import matmul

            array = _strict()
            _kernel_lookups_answer(mp, matmul)
            yield Path(name, array, np.asarray)
        else:
            emulated = pytest.importorskip("test_cuda_emulated")
            if not emulated.cuda_emulator.available():
                pytest.skip("no C++ compiler for the CUDA emulator")
            from sknorm._kernels import cupy_fused

            _kernel_lookups_answer(mp, cupy_fused)
            with emulated.emulated():
                yield Path(name, np.asarray, np.asarray)


# ---------------------------------------------------------- channel routes --

ROUTES = [
    "flat-numba",
    "flat",
    "folded-numba",
    "columns-numba",
    "columns",
    "rows-numba",
    "rows",
    "torch",
]


class Route:
    def __init__(self, name, last, to_array, to_numpy):
        self.name = name
        self.last = last
        self.axis = -1 if last else 1
        self._to_array = to_array
        self._to_numpy = to_numpy

    def array(self, X):
        """Channels-first NumPy X as the route's input (a new array)."""
        X = np.asarray(X)
        if self.last and X.ndim > 2:
            X = np.ascontiguousarray(np.moveaxis(X, 1, -1))
        return self._to_array(X)

    def weights(self, w):
        return None if w is None else self._to_array(np.asarray(w))

    def numpy(self, Y):
        """A result of the route (per-channel vector or N-D output) as
        channels-first NumPy."""
        Y = self._to_numpy(Y)
        if self.last and Y.ndim > 2:
            Y = np.moveaxis(Y, -1, 1)
        return Y

    def __repr__(self):
        return self.name


def _force_rows(mp, on):
    """The rows route on (NumPy) or off, for every shape."""
    from sknorm._array_api import is_numpy_namespace
    from sknorm._channels import layout

    mp.setattr(
        layout.ChannelLayout,
        "uses_rows",
        (lambda self, xp: is_numpy_namespace(xp)) if on else (lambda self, xp: False),
    )


@pytest.fixture(params=ROUTES)
def channel_route(request):
    name = request.param
    base, _, numba = name.partition("-")
    with pytest.MonkeyPatch.context() as mp:
        if base == "torch":
            if importlib.util.find_spec("torch") is None:
                pytest.skip("torch is not installed")
            import torch

            yield Route(
                name,
                False,
                lambda a: torch.asarray(np.array(a)),
                lambda a: a.detach().cpu().numpy(),
            )
            return
        if numba:
            pytest.importorskip("numba")
        mp.setenv("SKNORM_NUMBA", "1" if numba else "0")
        if base == "flat":
            from sknorm._channels import layout

            mp.setattr(layout, "FOLD_WIDTH", 1)
        _force_rows(mp, base == "rows")
        yield Route(name, base in ("flat", "folded"), np.asarray, np.asarray)
