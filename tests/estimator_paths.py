"""The kernel paths an estimator can take, as one fixture for estimator tests.

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
    import sknorm._minibatch
    import sknorm._stats
    import sknorm._validation
    import sknorm._whitening

    for owner in (
        sknorm._stats,
        sknorm._base,
        sknorm._validation,
        sknorm._minibatch,
        sknorm._whitening,
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
