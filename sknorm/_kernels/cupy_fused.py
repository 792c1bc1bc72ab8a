"""CuPy kernels that read X once: compiled CUDA, one launch per pass.

The :mod:`.matmul` formulation (column sums as cuBLAS products) runs every
step of the generic kernel as its own pass over a row block: about ten
passes for the moments.  Here each statistic is one CUDA kernel that reads
X once and keeps everything else in registers (measured on an H200 in
docs/performance.md: ``ZScore.fit`` 42 ms there, 1.6 ms here):

* **Moments** -- each thread walks one feature over a strided set of rows
  and sums ``d`` and ``d^2`` in float64 around its *own* first observed
  value (no shift chosen beforehand: a feature at 1e8 with a spread of 1e-3
  keeps its digits); a thread whose mean ends up far from that value, or
  whose sums overflowed, reads its rows again with West's weighted form of
  Welford's update.  Thread results are merged with Chan's formula, in a
  fixed order (deterministic), first within a block (one chunk of rows),
  then per feature over the chunks by a second, small kernel.  That second
  kernel also expresses the result around the caller's shift, or merges it
  straight into a running state (the whole of
  :func:`sknorm._stats.update_moments` in two launches), or takes a whole
  batch-normalization training step.
* **Min/max** -- the same layout with a NaN-aware minimum and maximum; the
  running state in float64.
* **affine**, **local_response** -- one streaming kernel each; **linear**
  (ZCA) centres row blocks into a reused buffer for cuBLAS, **comoments**
  writes the shifted float64 block and its sums for cuBLAS's ``D^T D``.

The CUDA sources are package data, one file per kernel family in
``cuda/`` (``moments.cu``, ``min_max.cu``, ``comoments.cu``,
``transforms.cu``, sharing ``common.cuh``); :func:`source` assembles a
family's translation unit, compiled by CuPy on the family's first launch
for X's dtype.  This module is their launcher: grids, chunks, checks and
fallbacks.

The modules are built without FMA contraction, so that the elementwise
kernels (affine, the centring, LRN) round each step as the generic kernel
does (affine gives its bits); the reductions are a different algorithm
from the generic two-pass one and agree with it within float rounding.

Infinite values set a flag on the device during the same pass (one per
thread block).  Reading it is a host synchronisation, so it is read only
when scikit-learn's ``assume_finite`` is off; it then raises
:class:`~sknorm._kernels.NonFiniteError` (the estimators skip validation's
separate finiteness pass, as on NumPy).  With ``assume_finite`` on, nothing
here waits for the device.

Statistics accumulate in float64 whatever X's dtype.  Under
``assume_finite`` (no check) an infinite value is skipped like NaN by the
moments and kept by the minimum and maximum; that setting is the caller's
promise that there is none.

A warp reads 32 consecutive features of one row (coalesced for C-ordered
X); other layouts are read through their strides (correct, slower; affine
falls back to CuPy's ``ElementwiseKernel``).  Tested against
:mod:`.generic` on the GPU (``tests/test_cupy_kernels.py``) and, emulated
on the CPU, in CI (``tests/test_cuda_emulated.py``); ``SKNORM_CUPY_FUSED=0``
selects :mod:`.matmul` instead (for comparison in the benchmark).
"""

from __future__ import annotations

import math
import re
from functools import cache
from importlib import resources

import numpy as np
from sklearn import get_config

from . import NonFiniteError, matmul

__all__ = [
    "affine",
    "batchnorm_step",
    "comoments",
    "linear",
    "local_response",
    "min_max",
    "moments",
    "update_min_max",
    "update_moments",
]

# The infinity flag is set in the kernels' own pass.
STATISTICS_CHECK_FINITENESS = True
# affine and linear take check="inf" / "nonfinite" (the transforms' check
# of X, done while the output is written).
TRANSFORMS_CHECK_FINITENESS = True
# linear centres X block by block in the kernel that also checks it; folded
# (X @ W.T + offset) it would read X once more for the check and the output
# once more for the offset.  The centred path is the one measured on an
# H200 (docs/performance.md); the fold was not, so it is not used here.
FOLDS_CENTRING = False
_CHECK_MODES = {None: 0, "inf": 1, "nonfinite": 2}

# Threads of a partial kernel's block: 32 features (one warp per row) times
# ROWS_PER_BLOCK interleaved rows.
ROWS_PER_BLOCK = 8
# Loads each thread issues before using them (memory-level parallelism).
UNROLL = 4
# Resident blocks per multiprocessor aimed at (2048 threads / 256).
BLOCKS_PER_SM = 8
# Threads of a combine kernel's block (one block per feature).
COMBINE_THREADS = 256
# Grid limit of the y dimension.
MAX_CHUNKS = 65_535

# The CUDA sources, one file per kernel family, shipped as package data
# (sknorm/_kernels/cuda/*.cu, with the definitions they share in
# common.cuh); :func:`source` assembles a family's translation unit.
FAMILIES = ("moments", "min_max", "comoments", "transforms")
_HEADER = "common.cuh"
_INCLUDE = f'#include "{_HEADER}"'
_KERNEL_NAME = re.compile(r'extern "C" __global__ void (\w+)\(')


def _read(name):
    """The text of one file of the CUDA sources (package data)."""
    return resources.files(__package__).joinpath("cuda", name).read_text("utf-8")


@cache
def source(family, type_name):
    """The CUDA translation unit of ``family`` (one of :data:`FAMILIES`) for
    X of C type ``type_name`` (``"float"`` or ``"double"``).

    The family's ``.cu`` file with ``common.cuh`` put in place of its
    ``#include`` line and the placeholders filled in: one self-contained
    text, which is what CuPy compiles (its cache is keyed by the text, so an
    edit of the shared header reaches every family) and what the CPU
    emulator of the tests compiles as C++.

    >>> code = source("moments", "double")
    >>> "typedef double T;" in code and "sknorm_moments_partial" in code
    True
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown kernel family {family!r}; one of {FAMILIES}")
    text = _read(f"{family}.cu")
    if text.count(_INCLUDE) != 1:
        raise ValueError(f"{family}.cu must include {_HEADER} exactly once")
    return (
        text.replace(_INCLUDE, _read(_HEADER))
        .replace("__T__", type_name)
        .replace("__ROWS__", str(ROWS_PER_BLOCK))
        .replace("__UNROLL__", str(UNROLL))
        .replace("__COMBINE__", str(COMBINE_THREADS))
    )


@cache
def _family_of():
    """``{kernel name: family}`` over every family's ``extern "C"`` kernels."""
    return {
        name: family
        for family in FAMILIES
        for name in _KERNEL_NAME.findall(_read(f"{family}.cu"))
    }


def _cupy():
    import cupy

    return cupy


@cache
def _module(family, type_name):
    # No FMA contraction: the elementwise kernels round each step as the
    # generic kernel does (the sums use explicit fma() where they want one).
    return _cupy().RawModule(
        code=source(family, type_name), options=("--std=c++17", "--fmad=false")
    )


_kernels = {}


def _kernel(name, dtype):
    """The compiled kernel ``name`` for X's dtype (looked up once: a dtype's
    ``.name`` alone costs microseconds per call)."""
    key = (name, dtype)
    kernel = _kernels.get(key)
    if kernel is None:
        type_name = {"float32": "float", "float64": "double"}[np.dtype(dtype).name]
        module = _module(_family_of()[name], type_name)
        kernel = _kernels[key] = module.get_function(name)
    return kernel


def _device_id(X):
    return X.device.id


@cache
def _multiprocessors(device_id):
    cp = _cupy()
    return cp.cuda.Device(device_id).attributes["MultiProcessorCount"]


def _float_input(X):
    """X as float32/float64 (the kernels' two instantiations): float16 as
    float32 (its values exactly; a full-size copy, twice the memory of X:
    the kernels have no half instantiation), other dtypes as float64."""
    cp = _cupy()
    if X.dtype in (cp.float32, cp.float64):
        return X
    return X.astype(cp.float32 if X.dtype == cp.float16 else cp.float64)


def _rounded_once(X, Y, copy):
    """A float32 result ``Y`` of float16 ``X`` rounded to float16 once: a
    new array, or written into X (``copy=False``)."""
    if copy:
        return Y.astype(X.dtype)
    X[...] = Y
    return X


def _row_blocks(X):
    """``(column blocks, row blocks)`` of a grid over X: 32 features a
    block, enough blocks to fill the device (BLOCKS_PER_SM per
    multiprocessor), each thread with at least UNROLL rows, at most
    MAX_CHUNKS row blocks."""
    n, f = X.shape
    col_blocks = math.ceil(f / 32)
    target = _multiprocessors(_device_id(X)) * BLOCKS_PER_SM
    by_rows = math.ceil(n / (ROWS_PER_BLOCK * UNROLL))
    return col_blocks, max(1, min(by_rows, math.ceil(target / col_blocks), MAX_CHUNKS))


def _geometry(X):
    """``(grid, block, chunk_rows, n_chunks, row_stride, col_stride)`` of
    the reductions: each row block is one chunk of consecutive rows."""
    n = X.shape[0]
    col_blocks, n_chunks = _row_blocks(X)
    chunk_rows = math.ceil(n / n_chunks)
    n_chunks = math.ceil(n / chunk_rows)
    item = X.dtype.itemsize
    strides = (X.strides[0] // item, X.strides[1] // item)
    return (col_blocks, n_chunks), (32, ROWS_PER_BLOCK), chunk_rows, n_chunks, strides


def _stream_grid(X):
    """``(grid, block)`` of the elementwise kernels, whose blocks walk the
    rows with a grid stride."""
    return _row_blocks(X), (32, ROWS_PER_BLOCK)


def has_nonfinite(X, allow_nan):
    """Whether X holds +-inf (or NaN, unless ``allow_nan``): one read of X,
    then one host read of a flag (validation's check, which synchronises by
    nature)."""
    cp = _cupy()
    X = _float_input(X)
    n, f = X.shape
    grid, block = _stream_grid(X)
    flags = cp.empty(grid[0] * grid[1], dtype=cp.int32)
    item = X.dtype.itemsize
    _kernel("sknorm_find_nonfinite", X.dtype)(
        grid,
        block,
        (
            X,
            np.int64(n),
            np.int32(f),
            np.int64(X.strides[0] // item),
            np.int64(X.strides[1] // item),
            np.int32(bool(allow_nan)),
            flags,
        ),
    )
    return bool(flags.any())


def _raise_on_infinity(flag, dtype):
    """The one host read of a kernel (``flag``: a 0-d device array), skipped
    under ``assume_finite``."""
    if get_config()["assume_finite"]:
        return
    if bool(flag):  # a synchronisation: the caller asked for the check
        raise NonFiniteError.for_dtype(np.dtype(dtype).name)


def _as_float64_vector(a):
    """A contiguous float64 vector for a kernel pointer (no copy when it
    already is one: the fused kernels' own outputs are)."""
    cp = _cupy()
    if a.dtype == cp.float64 and a.flags.c_contiguous:
        return a
    return cp.ascontiguousarray(a, dtype=cp.float64)


def _moment_parts(X, weights):
    """Run the partial kernel: ``(part, n_chunks)``."""
    cp = _cupy()
    n, f = X.shape
    grid, block, chunk_rows, n_chunks, (rs, cs) = _geometry(X)
    part = cp.empty((6, n_chunks, f), dtype=cp.float64)
    if weights is None:
        w, weighted = part, 0  # any float64 pointer; never read
    else:
        w, weighted = _as_float64_vector(weights), 1
    _kernel("sknorm_moments_partial", X.dtype)(
        grid,
        block,
        (
            X,
            np.int64(n),
            np.int32(f),
            np.int64(rs),
            np.int64(cs),
            w,
            np.int32(weighted),
            np.int64(chunk_rows),
            np.int64(n_chunks),
            part,
        ),
    )
    return part, n_chunks


def moments(X, shift, weights, dtype):
    cp = _cupy()
    X = _float_input(X)
    f = X.shape[1]
    part, n_chunks = _moment_parts(X, weights)
    out = cp.empty((5, f), dtype=cp.float64)
    _kernel("sknorm_moments_combine", X.dtype)(
        (f,),
        (COMBINE_THREADS,),
        (part, np.int64(n_chunks), np.int32(f), _as_float64_vector(shift), out),
    )
    _raise_on_infinity(out[4, 0], X.dtype)
    if out.dtype != dtype:
        out = out.astype(dtype)
    return out[0], out[1], out[2], out[3]


def update_moments(state, X, weights, dtype):
    """``(count, n_obs, shift, mean, var)``: the batch merged into ``state``
    (a ``Moments`` or None) and recentred, in two launches."""
    cp = _cupy()
    X = _float_input(X)
    f = X.shape[1]
    part, n_chunks = _moment_parts(X, weights)
    if state is None:
        previous, has_state = [part] * 5, 0  # never read
    else:
        previous, has_state = [_as_float64_vector(a) for a in state[:5]], 1
    out = cp.empty((7, f), dtype=cp.float64)
    _kernel("sknorm_moments_update", X.dtype)(
        (f,),
        (COMBINE_THREADS,),
        (part, np.int64(n_chunks), np.int32(f), *previous, np.int32(has_state), out),
    )
    _raise_on_infinity(out[6, 0], X.dtype)
    if out.dtype != dtype:
        out = out.astype(dtype)
    return out[0], out[1], out[2], out[3], out[4]


def batchnorm_step(state, X, weights, *, momentum, first_batch, gamma, eps):
    """One batch-normalization training step in two launches.

    ``state``: ``(running_mean, running_var, mean_updates, var_updates)``
    or None; ``momentum``: a float, or None for the cumulative average;
    ``gamma``: a float or a (n_features,) array.  Returns ``(running_mean,
    running_var, mean_updates, var_updates, batch_mean, batch_var,
    training_scale)``, float64 (n_features,) arrays (``training_scale`` is
    ``gamma / sqrt(batch_var + eps)``).
    """
    cp = _cupy()
    X = _float_input(X)
    f = X.shape[1]
    part, n_chunks = _moment_parts(X, weights)
    if state is None:
        previous, has_state = [part] * 4, 0  # never read
    else:
        previous, has_state = [_as_float64_vector(a) for a in state], 1
    if isinstance(gamma, float):
        gamma_array, gamma_scalar, is_array = part, gamma, 0
    else:
        gamma = cp.asarray(gamma)
        if gamma.size == 1:  # one value for every feature, left on the device
            gamma = cp.broadcast_to(gamma.reshape(1), (f,))
        gamma_array, gamma_scalar, is_array = _as_float64_vector(gamma), 0.0, 1
    out = cp.empty((8, f), dtype=cp.float64)
    _kernel("sknorm_batchnorm_step", X.dtype)(
        (f,),
        (COMBINE_THREADS,),
        (
            part,
            np.int64(n_chunks),
            np.int32(f),
            *previous,
            np.int32(has_state),
            np.float64(-1.0 if momentum is None else momentum),
            np.int32(bool(first_batch)),
            gamma_array,
            np.float64(gamma_scalar),
            np.int32(is_array),
            np.float64(eps),
            out,
        ),
    )
    _raise_on_infinity(out[7, 0], X.dtype)
    return tuple(out[k] for k in range(7))


def _min_max(X, state):
    cp = _cupy()
    X = _float_input(X)
    n, f = X.shape
    grid, block, chunk_rows, n_chunks, (rs, cs) = _geometry(X)
    scalar = X.dtype.type
    part = cp.empty((3, n_chunks, f), dtype=X.dtype)
    _kernel("sknorm_min_max_partial", X.dtype)(
        grid,
        block,
        (
            X,
            np.int64(n),
            np.int32(f),
            np.int64(rs),
            np.int64(cs),
            np.int64(chunk_rows),
            np.int64(n_chunks),
            part,
            scalar(np.inf),
        ),
    )
    if state is None:
        previous, has_state = [_dummy(), _dummy()], 0  # never read
    else:
        previous, has_state = [_as_float64_vector(a) for a in state], 1
    out = cp.empty((3, f), dtype=cp.float64)
    _kernel("sknorm_min_max_combine", X.dtype)(
        (f,),
        (COMBINE_THREADS,),
        (
            part,
            np.int64(n_chunks),
            np.int32(f),
            *previous,
            np.int32(has_state),
            scalar(np.inf),
            np.float64(np.nan),
            out,
        ),
    )
    _raise_on_infinity(out[2, 0], X.dtype)
    return out[0], out[1]


def min_max(X):
    lo, hi = _min_max(X, None)
    return lo.astype(X.dtype), hi.astype(X.dtype)


def update_min_max(state, X):
    """NaN-aware ``(min, max)`` of ``state`` (a ``MinMaxState`` or None)
    and X together, in two launches; float64 whatever X's dtype (X's values
    exactly: what the estimator keeps, with no cast per call)."""
    return _min_max(X, state)


# ------------------------------------------------------------ transforms ----
@cache
def _affine_elementwise(has_center, has_scale, has_offset):
    """Any layout (CuPy's indexing handles strides and broadcasting)."""
    cp = _cupy()
    params, expr = ["T x"], "x"
    if has_center:
        params.append("T c")
        expr = f"({expr} - c)"
    if has_scale:
        params.append("T s")
        expr = f"({expr} * s)"
    if has_offset:
        params.append("T o")
        expr = f"({expr} + o)"
    return cp.ElementwiseKernel(
        ", ".join(params),
        "T y",
        f"y = {expr};",
        "sknorm_affine_any_layout",
        options=("--fmad=false",),
    )


def _rows_contiguous(A):
    return A.ndim == 2 and A.strides[1] == A.dtype.itemsize and A.strides[0] >= 0


def _term(t, f):
    """A float64 term and its step (1: per feature, 0: one value), or None
    when it cannot be passed as it is."""
    if t.ndim > 1 or t.size not in (1, f):
        return None
    step = 1 if (t.ndim == 1 and t.size == f and f > 1) else 0
    return _as_float64_vector(t), step


def _check_mode(check):
    """The kernels' check code: 0 (none, also under ``assume_finite``), 1
    (+-inf), 2 (NaN or +-inf)."""
    if check is None or get_config()["assume_finite"]:
        return 0
    return _CHECK_MODES[check]


def _error(mode):
    if mode == 1:
        return NonFiniteError.infinity()
    return NonFiniteError.nan_or_infinity()


def _raise_if_bad(bad_blocks, mode):
    if mode and bool(bad_blocks.any()):  # a synchronisation: asked for
        raise _error(mode)


def _precheck(X, mode):
    """The check of X before it is overwritten in place (a separate read:
    a failed transform must leave the caller's array as it was)."""
    if mode and has_nonfinite(X, allow_nan=mode == 1):
        raise _error(mode)


def affine(X, center, scale, offset, copy, check=None):
    """``(X - center) * scale + offset`` in one pass over X.

    ``check``: None, "inf" or "nonfinite": X is checked in the same pass
    (with ``copy``; in place, by a read before) and NonFiniteError raised.
    """
    cp = _cupy()
    if X.dtype == cp.float16:  # computed in float32, rounded once
        Y = affine(_float_input(X), center, scale, offset, True, check)
        return _rounded_once(X, Y, copy)
    X = _float_input(X)
    n, f = X.shape
    mode = _check_mode(check)
    if mode and not copy:
        _precheck(X, mode)
        mode = 0
    terms = [
        None if a is None else _term(cp.asarray(a), f) for a in (center, scale, offset)
    ]
    given = [a is not None for a in (center, scale, offset)]
    if not _rows_contiguous(X) or any(
        g and t is None for g, t in zip(given, terms, strict=True)
    ):
        kernel = _affine_elementwise(*given)
        args = [
            cp.asarray(a, dtype=X.dtype)
            for a in (center, scale, offset)
            if a is not None
        ]
        _precheck(X, mode)
        out = cp.empty_like(X) if copy else X
        kernel(X, *args, out)
        return out
    out = cp.empty((n, f), dtype=X.dtype) if copy else X
    flags, args = 0, []
    for bit, term in zip((1, 2, 4), terms, strict=True):
        if term is None:
            args += [_dummy(), np.int32(0)]  # never read
            continue
        flags |= bit
        args += [term[0], np.int32(term[1])]
    item = X.dtype.itemsize
    grid, block = _stream_grid(X)
    bad_blocks = (
        cp.empty(grid[0] * grid[1], dtype=cp.int32) if mode else _dummy("int32")
    )
    _kernel("sknorm_affine", X.dtype)(
        grid,
        block,
        (
            X,
            np.int64(n),
            np.int32(f),
            np.int64(X.strides[0] // item),
            out,
            np.int64(out.strides[0] // item),
            *args,
            np.int32(flags),
            np.int32(mode),
            bad_blocks,
        ),
    )
    _raise_if_bad(bad_blocks, mode)
    return out


@cache
def _dummy_for(device_id, dtype):
    return _cupy().zeros(1, dtype=dtype)


def _dummy(dtype="float64"):
    """A pointer of ``dtype`` for a kernel argument that is never read or
    written (one per device)."""
    return _dummy_for(_cupy().cuda.Device().id, dtype)


def shift_rows(block, shift, weights, out):
    """``out = sqrt(w) (block - shift)`` in float64 (C order, the block's
    shape) by one kernel; returns the ``(2, chunks, n_features)`` partial
    sums of ``w (x - shift)`` and of ``w``."""
    cp = _cupy()
    n, f = block.shape
    grid, threads, chunk_rows, n_chunks, (rs, cs) = _geometry(block)
    part = cp.empty((2, n_chunks, f), dtype=cp.float64)
    _kernel("sknorm_shift_rows", block.dtype)(
        grid,
        threads,
        (
            block,
            np.int64(n),
            np.int32(f),
            np.int64(rs),
            np.int64(cs),
            shift,
            part if weights is None else weights,
            np.int32(weights is not None),
            out,
            np.int64(chunk_rows),
            np.int64(n_chunks),
            part,
        ),
    )
    return part


# Rows of X per block of the co-moments: the float64 block D is reused for
# every block (2**25 elements: 256 MiB, 5% of a 10,000,000 x 64 float64
# X).  Measured on an H200 (benchmarks/probe_whitening.py): 2**22 14.2 ms,
# 2**23 8.2, 2**24 6.3, 2**25 5.7, 2**26 5.5 for the co-moments of that X:
# smaller blocks spend their time launching.
COMOMENT_BLOCK_ELEMENTS = 1 << 25
# Rows whose mean is the co-moments' local shift.
HEAD_ROWS = 1024


def comoments(X, shift, weights, dtype):
    """Total weight, mean of ``X - shift`` and population covariance.

    One pass over X per row block writes ``D = sqrt(w) (X - s)`` in float64
    with its column sums (a compiled kernel), and cuBLAS adds ``D^T D`` to
    the Gram matrix; the covariance is ``G / W - m m^T`` with ``m`` the mean
    of ``D``.  That subtraction loses ``(|m| / spread)^2`` ulps, so ``s`` is
    not the caller's shift (a first row, possibly far from this batch: an
    outlier, or data that drifted) but the mean of the batch's first rows
    (at most HEAD_ROWS of them, a short extra read).
    """
    cp = _cupy()
    X = _float_input(X)
    n, f = X.shape
    rows = max(1, min(n, COMOMENT_BLOCK_ELEMENTS // max(1, f)))
    shift = _as_float64_vector(shift)
    w = None if weights is None else _as_float64_vector(weights)
    buffer = cp.empty((rows, f), dtype=cp.float64)

    def shifted_block(start, stop, s):
        weights = None if w is None else w[start:stop]
        return shift_rows(X[start:stop], s, weights, buffer[: stop - start])

    def mean_of(part):
        total = cp.sum(part, axis=1)  # (2, f): sum of w d, and W per column
        safe = cp.where(total[1] > 0, total[1], 1.0)
        return total[0] / safe, total[1, 0]

    # The head rows go through the same buffer: at most one block of them.
    head_mean, _ = mean_of(shifted_block(0, min(n, HEAD_ROWS, rows), shift))
    local = shift + head_mean
    gram = cp.zeros((f, f), dtype=cp.float64)
    sums = []
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        sums.append(shifted_block(start, stop, local))
        D = buffer[: stop - start]
        gram += D.T @ D
    part = sums[0] if len(sums) == 1 else cp.concatenate(sums, axis=1)
    mean, count = mean_of(part)
    safe = cp.where(count > 0, count, 1.0)
    cov = gram / safe - mean[:, None] * mean[None, :]
    mean = (local - shift) + mean  # around the caller's shift
    if dtype != cp.float64:
        count, mean, cov = (a.astype(dtype) for a in (count, mean, cov))
    return count, mean, cov


def linear(X, center, matrix, copy, offset=None, check=None):
    """``(X - center) @ matrix.T + offset``: each row block centred by a
    compiled kernel into one reused buffer (X's dtype, the generic kernel's
    rounding), multiplied by cuBLAS straight into its rows of the output;
    ``offset`` (None, or a vector in X's dtype) added after the products.
    ``check`` as in :func:`affine`, done by the centring kernel."""
    cp = _cupy()
    if X.dtype == cp.float16:  # computed in float32, rounded once
        Y = linear(_float_input(X), center, matrix, True, offset, check)
        return Y.astype(X.dtype)
    X = _float_input(X)
    out = _centred_product(X, center, cp.asarray(matrix, dtype=X.dtype), check)
    if offset is not None:
        out += cp.asarray(offset, dtype=X.dtype)
    return out


def _centred_product(X, center, matrix, check):
    cp = _cupy()
    mode = _check_mode(check)
    if center is None:
        _precheck(X, mode)
        return X @ matrix.T
    n, f = X.shape
    rows = max(1, min(n, COMOMENT_BLOCK_ELEMENTS // max(1, f)))
    center = _as_float64_vector(center)
    out = cp.empty((n, matrix.shape[0]), dtype=X.dtype)
    buffer = cp.empty((rows, f), dtype=X.dtype)
    matrix_t = matrix.T
    item = X.dtype.itemsize
    bad = []
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        block, centred = X[start:stop], buffer[: stop - start]
        grid, threads = _stream_grid(block)
        bad_blocks = _dummy("int32")
        if mode:
            bad_blocks = cp.empty(grid[0] * grid[1], dtype=cp.int32)
            bad.append(bad_blocks)
        _kernel("sknorm_center_rows", X.dtype)(
            grid,
            threads,
            (
                block,
                np.int64(stop - start),
                np.int32(f),
                np.int64(block.strides[0] // item),
                np.int64(block.strides[1] // item),
                center,
                centred,
                np.int32(mode),
                bad_blocks,
            ),
        )
        cp.matmul(centred, matrix_t, out=out[start:stop])
    if mode:
        _raise_if_bad(bad[0] if len(bad) == 1 else cp.concatenate(bad), mode)
    return out


def local_response(X, size, alpha, beta, k, check=None):
    """One pass: each output reads its row's window (from the L1 cache).
    ``check`` as in :func:`affine` (a read of X before)."""
    cp = _cupy()
    if X.dtype == cp.float16:  # computed in float32, rounded once
        Y = local_response(_float_input(X), size, alpha, beta, k, check)
        return Y.astype(X.dtype)
    _precheck(X, _check_mode(check))
    if X.dtype not in (cp.float32, cp.float64) or not _rows_contiguous(X):
        return matmul.local_response(X, size, alpha, beta, k)
    n, f = X.shape
    out = cp.empty((n, f), dtype=X.dtype)
    scalar = X.dtype.type
    grid, block = _stream_grid(X)
    # Window cells further than f - 1 away are always padding: skipped.
    before, after = min(size // 2, f - 1), min((size - 1) // 2, f - 1)
    _kernel("sknorm_local_response", X.dtype)(
        grid,
        block,
        (
            X,
            np.int64(n),
            np.int32(f),
            np.int64(X.strides[0] // X.dtype.itemsize),
            out,
            np.int32(before),
            np.int32(after),
            scalar(size),
            scalar(alpha),
            scalar(beta),
            scalar(k),
        ),
    )
    return out
