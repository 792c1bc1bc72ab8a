"""Run the CUDA sources of ``sknorm._kernels.cupy_fused`` on the CPU.

The kernels are compiled as C++ with a few definitions that stand in for
CUDA's (``threadIdx`` and ``blockIdx`` per thread, ``__syncthreads`` as a
barrier, ``__syncthreads_or``, shared memory as statics): each thread block
runs as one ``std::thread`` per CUDA thread, blocks one after another.  That
is slow (a few thousand threads per launch) but executes exactly the code
CuPy compiles, barriers and all, so the kernels' logic is tested where no
GPU is (CI).  What it cannot show: speed, memory coalescing, races that the
sequential block order hides.

``load(dtype)`` compiles each kernel family's translation unit (the text
``cupy_fused.source(family, type_name)`` gives CuPy: the package's
``cuda/*.cu`` files) for ``float`` or ``double`` once per session (needs a
C++20 compiler: ``g++``) and returns an object with one method per kernel of
every family, ``kernel(grid, block, *args)``, taking NumPy arrays
(passed as the address of their first element, strides are the kernel's
business) and Python numbers in the kernel's parameter order.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from sknorm._kernels import cupy_fused

_PRELUDE = r"""
#include <atomic>
#include <barrier>
#include <cmath>
#include <thread>
#include <vector>
using std::fma;
using std::pow;
using std::sqrt;
#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__
#define __shared__ static
struct dim3_ { int x, y, z; };
thread_local dim3_ threadIdx, blockIdx;
static dim3_ blockDim, gridDim;
static std::barrier<>* emu_barrier = nullptr;
static std::atomic<int> emu_or{0};
inline void __syncthreads() { emu_barrier->arrive_and_wait(); }
inline int __syncthreads_or(int p) {
    emu_barrier->arrive_and_wait();
    if (p) emu_or = 1;
    emu_barrier->arrive_and_wait();
    const int r = emu_or;
    emu_barrier->arrive_and_wait();
    if (threadIdx.x == 0 && threadIdx.y == 0) emu_or = 0;
    emu_barrier->arrive_and_wait();
    return r;
}
template <class F>
static void emu_launch(int gx, int gy, int bx, int by, F body) {
    gridDim = {gx, gy, 1};
    blockDim = {bx, by, 1};
    for (int y = 0; y < gy; ++y)
        for (int x = 0; x < gx; ++x) {
            std::barrier<> barrier(bx * by);
            emu_barrier = &barrier;
            std::vector<std::thread> threads;
            for (int ty = 0; ty < by; ++ty)
                for (int tx = 0; tx < bx; ++tx)
                    threads.emplace_back([=] {
                        threadIdx = {tx, ty, 0};
                        blockIdx = {x, y, 0};
                        body();
                    });
            for (auto& t : threads) t.join();
        }
}
"""

_KERNEL = re.compile(r'extern "C" __global__ void (\w+)\(([^)]*)\)', re.S)


def _ctype(decl, scalar):
    """The ctypes type of one C parameter declaration."""
    decl = " ".join(decl.replace("__restrict__", "").replace("const", "").split())
    if "*" in decl:
        return ctypes.c_void_p
    kind = decl.rsplit(" ", 1)[0]
    return {
        "long long": ctypes.c_longlong,
        "int": ctypes.c_int,
        "double": ctypes.c_double,
        "T": scalar,
    }[kind]


def _signatures(code):
    """``{kernel: [(name, declaration), ...]}`` of the extern "C" kernels."""
    out = {}
    for name, params in _KERNEL.findall(code):
        decls = [p.strip() for p in params.split(",") if p.strip()]
        out[name] = [(re.findall(r"\w+", d)[-1], d) for d in decls]
    return out


def available():
    return shutil.which("g++") is not None


class _Module:
    def __init__(self, libraries, signatures, scalar):
        # libraries: {kernel: the shared library of its family}
        self._libraries, self._signatures, self._scalar = (
            libraries,
            signatures,
            scalar,
        )

    def __getattr__(self, name):
        params = self._signatures[name]
        fn = getattr(self._libraries[name], "emu_" + name)
        types = [_ctype(decl, self._scalar) for _, decl in params]
        fn.argtypes = [ctypes.c_int] * 4 + types
        fn.restype = None

        def call(grid, block, *args):
            assert len(args) == len(params), (name, len(args), len(params))
            converted = []
            for value, kind in zip(args, types, strict=True):
                if kind is ctypes.c_void_p:  # an array: its first element
                    converted.append(value.ctypes.data)
                else:
                    converted.append(value)
            fn(grid[0], grid[1], block[0], block[1], *converted)

        return call


def _compile(code, type_name, family):
    """The shared library of one family's translation unit (cached on disk
    by the hash of the text)."""
    signatures = _signatures(code)
    wrappers = []
    for name, params in signatures.items():
        decls = ", ".join(decl for _, decl in params)
        names = ", ".join(n for n, _ in params)
        wrappers.append(
            f'extern "C" void emu_{name}(int gx, int gy, int bx, int by, {decls}) '
            f"{{ emu_launch(gx, gy, bx, by, [&] {{ {name}({names}); }}); }}"
        )
    source = _PRELUDE + code + "\n".join(wrappers)
    digest = hashlib.sha1(source.encode()).hexdigest()[:16]
    build = Path(tempfile.gettempdir()) / "sknorm-cuda-emulator"
    build.mkdir(exist_ok=True)
    library = build / f"{family}-{type_name}-{digest}.so"
    if not library.exists():
        # Per-process names until the atomic rename: parallel test workers
        # may compile at the same time.
        src = build / f"{family}-{type_name}-{digest}.{os.getpid()}.cpp"
        src.write_text(source)
        partial = build / f"{library.stem}.{os.getpid()}.tmp"
        subprocess.run(
            [
                "g++",
                "-std=c++20",
                "-O1",
                "-fPIC",
                "-shared",
                "-pthread",
                "-w",
                "-ffp-contract=off",
                str(src),
                "-o",
                str(partial),
            ],
            check=True,
            capture_output=True,
        )
        partial.replace(library)  # atomic: parallel test workers share it
    return ctypes.CDLL(str(library)), signatures


@functools.cache
def load(dtype):
    """The emulated kernels of every family for ``dtype`` (float32 or
    float64)."""
    type_name = {"float32": "float", "float64": "double"}[np.dtype(dtype).name]
    libraries, signatures = {}, {}
    for family in cupy_fused.FAMILIES:
        code = cupy_fused.source(family, type_name)
        library, found = _compile(code, type_name, family)
        signatures.update(found)
        libraries.update(dict.fromkeys(found, library))
    scalar = ctypes.c_float if type_name == "float" else ctypes.c_double
    return _Module(libraries, signatures, scalar)
