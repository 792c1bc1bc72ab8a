"""Every fast kernel path against the generic (reference) path.

The fast paths (``numpy_blocked`` for NumPy, ``matmul`` for torch on CUDA,
run here on NumPy, torch-cpu and array-api-strict) must give the
generic kernel's numbers within float rounding on any shape, dtype, NaN
pattern, weighting and memory layout.  Block sizes are shrunk so that small
arrays cross many block, segment and thread boundaries.  CuPy's compiled
kernels have their own tests (``test_cupy_kernels.py`` on a GPU,
``test_cuda_emulated.py`` on the CPU).
"""

import contextlib
import importlib.util
import itertools
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kernel_cases import (
    CASES,
    SHAPES,
    SMALL_ROWS,
    assert_moments_close,
    first_observed,
    make_weights,
    make_X,
)

from sknorm._kernels import (
    NonFiniteError,
    _parallel,
    generic,
    kernels_for,
    matmul,
    numpy_blocked,
)

HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_STRICT = importlib.util.find_spec("array_api_strict") is not None


@contextlib.contextmanager
def small_blocks(n_features, threads=3, segment_blocks=2, fused=True):
    """Tiny blocks, short segments and several threads for small arrays;
    ``fused=False`` switches the compiled (numba) loops off."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_parallel, "BLOCK_BYTES", SMALL_ROWS * 8 * n_features)
        mp.setattr(_parallel, "FOLD_WIDTH", 8)
        mp.setattr(_parallel, "PARALLEL_MIN_ELEMENTS", 0)
        mp.setattr(numpy_blocked, "SEGMENT_BLOCKS", segment_blocks)
        mp.setattr(numpy_blocked, "COMOMENT_BLOCK_BYTES", SMALL_ROWS * 8 * n_features)
        mp.setattr(numpy_blocked, "FLOAT32_GRAM_ROWS", SMALL_ROWS)
        mp.setattr(numpy_blocked, "FLOAT32_GRAM_BLOCK_BYTES", 0)
        mp.setattr(numpy_blocked, "WIDE_GRAM_BLOCK_BYTES", 0)
        mp.setattr(numpy_blocked, "FLOAT32_GRAM_MIN_ROWS", 2 * SMALL_ROWS)
        mp.setattr(numpy_blocked, "LINEAR_MIN_ROWS", 1)
        mp.setattr(matmul, "BLOCK_ELEMENTS", SMALL_ROWS * n_features)
        mp.setattr(matmul, "FOLD_OUTPUTS", 4 * n_features)
        mp.setenv("SKNORM_NUM_THREADS", str(threads))
        mp.setenv("SKNORM_NUMBA", "1" if fused else "0")
        yield


# ------------------------------------------------------- numpy_blocked ----
@settings(max_examples=80, deadline=None)
@given(**CASES)
def test_numpy_moments_match_generic(
    seed, n, f, dtype, nan, loc, layout, weights, fused
):
    X = make_X(seed, n, f, dtype, nan, loc, layout)
    w = make_weights(seed, n, weights)
    shift = first_observed(X, np.float64)
    ref = generic.moments(X, shift, w, np.float64)
    with small_blocks(f, fused=fused):
        got = numpy_blocked.moments(X, shift, w, np.float64)
    assert_moments_close(got, ref, X, shift)


@settings(max_examples=60, deadline=None)
@given(**{k: v for k, v in CASES.items() if k != "weights"})
def test_numpy_min_max_match_generic(seed, n, f, dtype, nan, loc, layout, fused):
    X = make_X(seed, n, f, dtype, nan, loc, layout)
    ref = generic.min_max(X)
    with small_blocks(f, fused=fused):
        got = numpy_blocked.min_max(X)
    for a, b in zip(got, ref, strict=True):
        assert a.dtype == X.dtype
        np.testing.assert_array_equal(a, b)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n=SHAPES,
    f=st.integers(1, 5),
    dtype=st.sampled_from([np.float64, np.float32]),
    nan=st.sampled_from(["none", "scattered"]),
    layout=st.sampled_from(["C", "F", "strided"]),
    terms=st.sampled_from(["csz", "cs", "c", "s", "o", "", "cso"]),
    copy=st.booleans(),
    fused=st.booleans(),
)
def test_numpy_affine_matches_generic(
    seed, n, f, dtype, nan, layout, terms, copy, fused
):
    """Same operations in the same order: the same bits."""
    X = make_X(seed, n, f, dtype, nan, 5.0, layout)
    rng = np.random.default_rng(seed)
    center = rng.normal(size=f) if "c" in terms else None
    scale = rng.uniform(0.5, 2, size=f) if "s" in terms else None
    offset = None
    if "o" in terms:
        offset = rng.normal(size=f)
    elif "z" in terms:
        offset = np.zeros(())  # MinMax's default offset: skipped
    ref = generic.affine(X.copy(), center, scale, offset, True)
    original = X.copy()
    with small_blocks(f, fused=fused):
        got = numpy_blocked.affine(X, center, scale, offset, copy)
    assert got.dtype == X.dtype
    np.testing.assert_array_equal(got, ref)
    if copy:
        np.testing.assert_array_equal(X, original)
        assert not np.shares_memory(got, X)
    else:
        assert got is X


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n=SHAPES,
    f=st.integers(1, 5),
    dtype=st.sampled_from([np.float64, np.float32]),
    loc=st.sampled_from([0.0, 1e3]),
    layout=st.sampled_from(["C", "F", "strided"]),
    weights=st.sampled_from(["none", "with zeros"]),
)
def test_numpy_comoments_match_generic(seed, n, f, dtype, loc, layout, weights):
    X = make_X(seed, n, f, dtype, "none", loc, layout)
    w = make_weights(seed, n, weights)
    shift = X[0].astype(np.float64)
    ref = generic.comoments(X, shift, w, np.float64)
    with small_blocks(f):
        got = numpy_blocked.comoments(X, shift, w, np.float64)
    spread = np.max(np.abs(X - shift), initial=1.0)
    # Unweighted float32 input is multiplied in float32 blocks (summed in
    # float64): float32 rounding of x - c, by design (issue 14: within 1e-6
    # relative of the float64 covariance).
    single = dtype == np.float32 and w is None
    tol = 1e-6 if single else 1e-12
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-13)
    np.testing.assert_allclose(got[1], ref[1], rtol=tol, atol=0.1 * tol * spread)
    np.testing.assert_allclose(got[2], ref[2], rtol=10 * tol, atol=tol * spread**2)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n=SHAPES,
    f=st.integers(1, 5),
    k=st.integers(1, 5),
    dtype=st.sampled_from([np.float64, np.float32]),
    layout=st.sampled_from(["C", "F", "strided"]),
    centred=st.booleans(),
    offset=st.sampled_from(["none", "vector", "zeros"]),
    fused=st.booleans(),
)
def test_numpy_linear_matches_generic(
    seed, n, f, k, dtype, layout, centred, offset, fused
):
    X = make_X(seed, n, f, dtype, "none", 10.0, layout)
    rng = np.random.default_rng(seed)
    matrix = rng.normal(size=(k, f))
    center = rng.normal(size=f) + 10.0 if centred else None
    shift = {"none": None, "vector": rng.normal(size=k) * 10, "zeros": np.zeros(k)}
    ref = generic.linear(X, center, matrix, True, shift[offset])
    with small_blocks(f, fused=fused):
        got = numpy_blocked.linear(X, center, matrix, True, shift[offset])
    assert got.dtype == X.dtype and got.shape == (n, k)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    scale = np.max(np.abs(ref), initial=1.0)
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=rtol * scale)


def test_numpy_linear_is_the_formula_on_every_part(rng):
    """Many blocks over several threads, each step rounded as the generic
    kernel rounds it (X's dtype), float16 computed in float32 and rounded
    once; against NumPy's own expression."""
    X = 100 + rng.normal(size=(1000, 3))
    M, c, b = rng.normal(size=(2, 3)), X.mean(axis=0), rng.normal(size=2)
    for dtype in (np.float64, np.float32, np.float16):
        Xd = X.astype(dtype)
        with small_blocks(3):
            got = numpy_blocked.linear(Xd, c, M, True, b)
        work = np.float32 if dtype == np.float16 else dtype
        Xw = Xd.astype(work)
        ref = ((Xw - c.astype(work)) @ M.T.astype(work) + b.astype(work)).astype(dtype)
        assert got.dtype == dtype
        tol = {np.float64: 1e-13, np.float32: 1e-6, np.float16: 1e-3}[dtype]
        np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)


def _blas_counts():
    from threadpoolctl import threadpool_info

    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def test_linear_parts_run_blas_on_one_thread_and_restore_it(monkeypatch):
    """While the worker threads multiply their blocks, BLAS runs one thread
    per call (two threaded calls at once fight over the cores); its count
    is restored afterwards, also when a part raises."""
    from threadpoolctl import threadpool_limits

    from sknorm._kernels import _blas_threads

    if not _blas_threads.available():
        pytest.skip("threadpoolctl finds no BLAS it can control")
    X = np.random.default_rng(0).normal(size=(400, 3))
    seen = []
    real = np.matmul

    def spy(a, b, out=None):
        seen.append(_blas_threads_now())
        return real(a, b, out=out)

    def _blas_threads_now():
        return _blas_threads._blas().info()[0]["num_threads"]

    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_counts()
        with small_blocks(3, threads=2), monkeypatch.context() as mp:
            mp.setattr(numpy_blocked.np, "matmul", spy)
            numpy_blocked.linear(X, X[0], np.eye(3), True)
            assert seen and set(seen) == {1}
            mp.setattr(numpy_blocked.np, "matmul", lambda *a, **k: 1 / 0)
            with pytest.raises(ZeroDivisionError):
                numpy_blocked.linear(X, X[0], np.eye(3), True)
        assert _blas_counts() == before
        # One part (a single thread asked for): BLAS keeps its threads.
        seen.clear()
        with small_blocks(3, threads=1), monkeypatch.context() as mp:
            mp.setattr(numpy_blocked.np, "matmul", spy)
            numpy_blocked.linear(X, X[0], np.eye(3), True)
        assert set(seen) == {2}


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("nan", ["none", "scattered"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_numpy_moments_every_path(fused, weighted, nan, dtype):
    """Each code path of the moments kernel (compiled or NumPy; with or
    without weights; with or without NaN) on C-ordered data across many
    blocks, segments and threads."""
    X = make_X(11, 230, 3, dtype, nan, 1e3, "C")
    w = make_weights(11, 230, "with zeros" if weighted else "none")
    shift = first_observed(X, np.float64)
    ref = generic.moments(X, shift, w, np.float64)
    with small_blocks(3, fused=fused):
        got = numpy_blocked.moments(X, shift, w, np.float64)
    assert_moments_close(got, ref, X, shift)


def test_numpy_default_geometry_matches_generic(rng):
    """Unpatched block sizes: several full blocks, a tail, two threads."""
    plan = _parallel.plan_for(64)
    X = 50 + rng.normal(size=(3 * plan.rows + 7, 64)) * rng.uniform(1, 3, 64)
    X[rng.uniform(size=X.shape) < 0.001] = np.nan
    shift = first_observed(X, np.float64)
    for w in (None, rng.uniform(0, 2, X.shape[0])):
        got = numpy_blocked.moments(X, shift, w, np.float64)
        assert_moments_close(got, generic.moments(X, shift, w, np.float64), X, shift)
    for a, b in zip(numpy_blocked.min_max(X), generic.min_max(X), strict=True):
        np.testing.assert_array_equal(a, b)


# ----------------------------------------- numerically hard inputs ----
KERNEL_PATHS = [
    pytest.param(numpy_blocked, True, id="numpy_blocked-fused"),
    pytest.param(numpy_blocked, False, id="numpy_blocked-numpy"),
    pytest.param(matmul, True, id="matmul"),
]


@pytest.mark.parametrize(("kernels", "fused"), KERNEL_PATHS)
def test_shift_far_from_the_data(kernels, fused):
    """A shift 1e6 standard deviations away (the caller's shift is a value
    of the feature, but any value is allowed), and the first rows missing so
    that nothing near the data is seen first: the sums must be redone around
    the data, not lose 12 digits to cancellation."""
    rng = np.random.default_rng(5)
    X = 1e3 + rng.normal(size=(500, 3))
    X[:40] = np.nan
    shift = np.full(3, 1e3 + 1e6)
    ref = generic.moments(X, shift, None, np.float64)
    with small_blocks(3, fused=fused):
        got = kernels.moments(X, shift, None, np.float64)
    np.testing.assert_allclose(got[3], np.nanvar(X, axis=0), rtol=1e-10)
    assert_moments_close(got, ref, X, shift)


def test_numpy_comoments_shift_far_from_the_data():  # BLAS, no fused loop
    """Co-moments with the first rows zero-weight outliers 1e9 away and the
    caller's shift among them: the covariance of the weighted rows must
    not suffer cancellation against them.  (The generic and matmul kernels
    form ``X - shift`` first and lose 7 digits here; _stats never hands them
    such a shift.)"""
    kernels = numpy_blocked
    rng = np.random.default_rng(9)
    X = 1e3 + rng.normal(size=(500, 3)) @ np.array([[1, 0.5, 0], [0, 1, 0], [0, 0, 2]])
    X[:40] = 1e9
    w = np.ones(500)
    w[:40] = 0.0
    shift = X[0].copy()
    with small_blocks(3):
        count, mean, cov = kernels.comoments(X, shift, w, np.float64)
    np.testing.assert_allclose(count, 460.0)
    # around a shift 1e9 away the mean itself carries ~1e9 * eps absolutely
    np.testing.assert_allclose(mean, X[40:].mean(axis=0) - shift, rtol=1e-14)
    np.testing.assert_allclose(cov, np.cov(X[40:].T, bias=True), rtol=1e-10)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_features", [6, numpy_blocked.GRAM_PARALLEL_FEATURES + 2])
@pytest.mark.parametrize("loc", [0.0, 0.2, 3.0, 1e6])
def test_numpy_comoments_around_zero(loc, n_features, dtype, monkeypatch):
    """Nearly centred data has its Gram matrix taken around 0, of X where
    it lies (wide float64: one syrk of all of X); data off the origin is
    shifted, and a head that looked centred while the whole data is not
    is summed again around the mean (the far test).  Each against
    float64 np.cov of the same values."""
    rng = np.random.default_rng(12)
    n = 3000
    X = rng.normal(size=(n, n_features)) @ (np.eye(n_features) + 0.1)
    X = (X / X.std(axis=0) + loc).astype(dtype)
    if loc == 3.0:
        X[: numpy_blocked.HEAD_ROWS] -= 3.0  # a head that looks centred
    decisions = []
    real = numpy_blocked._around_zero

    def spy(*args):
        decisions.append(real(*args))
        return decisions[-1]

    monkeypatch.setattr(numpy_blocked, "_around_zero", spy)
    shift = X[0].astype(np.float64)
    count, mean, cov = numpy_blocked.comoments(X, shift, None, np.float64)
    assert decisions == [loc in (0.0, 0.2, 3.0)]
    X64 = X.astype(np.float64)
    scale = 1.0 + loc
    tol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(count, n)
    np.testing.assert_allclose(mean + shift, X64.mean(axis=0), rtol=tol, atol=tol)
    np.testing.assert_allclose(
        cov, np.cov(X64.T, bias=True), rtol=10 * tol, atol=tol * scale
    )


@pytest.mark.parametrize(("kernels", "fused"), KERNEL_PATHS)
def test_drifting_data_across_segments(kernels, fused):
    """A level that moves by 1e6 over the rows: every segment is far from
    the first row."""
    rng = np.random.default_rng(6)
    n = 600
    X = np.linspace(0, 1e6, n)[:, None] + rng.normal(size=(n, 2))
    shift = X[0].copy()
    with small_blocks(2, fused=fused):
        got = kernels.moments(X, shift, None, np.float64)
    assert_moments_close(got, generic.moments(X, shift, None, np.float64), X, shift)


@pytest.mark.parametrize(("kernels", "fused"), KERNEL_PATHS)
def test_values_near_float_max(kernels, fused):
    """Raw sums would overflow; the mean must not, the variance is +inf."""
    rng = np.random.default_rng(7)
    X = 1e307 * (1.0 + rng.uniform(0, 4, size=(300, 2)))
    shift = X[0].copy()
    with np.errstate(over="ignore", invalid="ignore"), small_blocks(2, fused=fused):
        got = kernels.moments(X, shift, None, np.float64)
        ref = generic.moments(X, shift, None, np.float64)
    np.testing.assert_allclose(got[2], ref[2], rtol=1e-13)
    assert np.all(np.isfinite(got[2]))
    assert np.all(np.isposinf(got[3])) and np.all(np.isposinf(ref[3]))


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("where", ["first row", "middle", "zero weight"])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_numpy_reductions_raise_on_infinity(where, sign, fused):
    """ZScore and MinMax leave the search for inf to these kernels (one pass
    over X instead of two): any infinite value, wherever it is, raises."""
    rng = np.random.default_rng(8)
    X = rng.normal(size=(100, 3))
    X[5, 0] = np.nan
    row = {"first row": 0, "middle": 57, "zero weight": 80}[where]
    X[row, 1] = sign * np.inf
    w = np.ones(100)
    w[80] = 0.0
    shift = first_observed(X, np.float64)
    with small_blocks(3, fused=fused):
        for weights in (None, w):
            with pytest.raises(NonFiniteError, match="infinity"):
                numpy_blocked.moments(X, np.nan_to_num(shift), weights, np.float64)
            with pytest.raises(NonFiniteError, match="infinity"):
                numpy_blocked.moments(X, shift, weights, np.float64)
        with pytest.raises(NonFiniteError, match="infinity"):
            numpy_blocked.min_max(X)
    assert issubclass(NonFiniteError, ValueError)


def test_numpy_fit_memory_is_block_sized():
    """Peak extra memory of the reductions is a few blocks per thread, not
    a fraction of X (X here is 16 MiB)."""
    X = np.random.default_rng(0).normal(size=(262_144, 8))
    shift = X[0].copy()
    budget = 4 * _parallel.BLOCK_BYTES * _parallel.num_threads() + (1 << 20)
    for run in (
        lambda: numpy_blocked.moments(X, shift, None, np.float64),
        lambda: numpy_blocked.moments(X, shift, np.ones(X.shape[0]), np.float64),
        lambda: numpy_blocked.min_max(X),
        lambda: numpy_blocked.affine(X, shift, shift, None, False),
    ):
        tracemalloc.start()
        base, _ = tracemalloc.get_traced_memory()
        run()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        # weights (2 MiB) are the caller's; a float64 copy of them is not
        assert peak - base < budget + X.shape[0] * 8


# --------------------------------------------------------- thread split ----
@pytest.mark.parametrize("n_rows", [0, 1, 15, 16, 17, 1000])
@pytest.mark.parametrize("threads", ["1", "2", "5"])
def test_split_covers_rows_at_block_edges(monkeypatch, n_rows, threads):
    monkeypatch.setenv("SKNORM_NUM_THREADS", threads)
    parts = _parallel.split(n_rows, n_elements=1 << 30, rows=16)
    assert parts[0][0] == 0 and parts[-1][1] == n_rows
    for (a, b), (c, _) in itertools.pairwise(parts):
        assert b == c and a < b and a % 16 == 0
    assert len(parts) <= int(threads)


def test_map_parts_raises_worker_errors(monkeypatch):
    monkeypatch.setenv("SKNORM_NUM_THREADS", "3")
    monkeypatch.setattr(_parallel, "PARALLEL_MIN_ELEMENTS", 0)

    def boom(lo, hi):
        if lo > 0:
            raise RuntimeError(f"part {lo}")
        return lo

    with pytest.raises(RuntimeError, match="part"):
        _parallel.map_parts(boom, 300, 300, 16)


# --------------------------------------------- matmul (GPU formulation) ----
def _namespaces():
    out = [pytest.param("numpy", id="numpy")]
    out.append(
        pytest.param(
            "torch",
            id="torch-cpu",
            marks=pytest.mark.skipif(not HAS_TORCH, reason="no torch"),
        )
    )
    out.append(
        pytest.param(
            "strict",
            id="array_api_strict",
            marks=pytest.mark.skipif(not HAS_STRICT, reason="no array-api-strict"),
        )
    )
    return out


def _convert(name):
    """(to backend, to numpy, float64 dtype of the backend)."""
    if name == "numpy":
        return np.asarray, np.asarray, np.float64
    if name == "torch":
        import torch

        return torch.asarray, lambda a: a.numpy(), torch.float64
    import array_api_strict as xs

    return xs.asarray, np.asarray, xs.float64


@pytest.mark.parametrize("name", _namespaces())
@settings(max_examples=25, deadline=None)
@given(**{k: v for k, v in CASES.items() if k not in ("layout", "fused")})
def test_matmul_kernels_match_generic(name, seed, n, f, dtype, nan, loc, weights):
    to, back, f64 = _convert(name)
    X_np = make_X(seed, n, f, dtype, nan, loc, "C")
    w_np = make_weights(seed, n, weights)
    shift_np = first_observed(X_np, np.float64)
    X, shift = to(X_np), to(shift_np)
    w = None if w_np is None else to(w_np)
    with small_blocks(f):
        got = matmul.moments(X, shift, w, f64)
        lo, hi = matmul.min_max(X)
    ref = generic.moments(X, shift, w, f64)
    assert_moments_close([back(a) for a in got], [back(a) for a in ref], X_np, shift_np)
    r_lo, r_hi = generic.min_max(X)
    np.testing.assert_array_equal(back(lo), back(r_lo))
    np.testing.assert_array_equal(back(hi), back(r_hi))
    if nan == "none":
        with small_blocks(f):
            c_got = matmul.comoments(X, shift, w, f64)
        c_ref = generic.comoments(X, shift, w, f64)
        spread = np.max(np.abs(X_np - shift_np), initial=1.0)
        for a, b, s in zip(c_got, c_ref, (1.0, spread, spread**2), strict=True):
            np.testing.assert_allclose(back(a), back(b), rtol=1e-11, atol=1e-12 * s)


@pytest.mark.parametrize("name", _namespaces())
def test_matmul_linear_and_affine_match_generic(name):
    to, back, _ = _convert(name)
    rng = np.random.default_rng(2)
    X_np = 10 + rng.normal(size=(101, 4))
    M, c = rng.normal(size=(3, 4)), rng.normal(size=4) + 10
    X = to(X_np)
    with small_blocks(4):
        got = matmul.linear(X, to(c), to(M), True)
        shifted = matmul.linear(X, None, to(M), True, to(c[:3]))
        both = matmul.linear(X, to(c), to(M), True, to(c[:3]))
    np.testing.assert_allclose(back(got), (X_np - c) @ M.T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        back(shifted), X_np @ M.T + c[:3], rtol=1e-12, atol=1e-12
    )
    np.testing.assert_allclose(
        back(both), (X_np - c) @ M.T + c[:3], rtol=1e-12, atol=1e-12
    )
    out = matmul.affine(to(X_np.copy()), to(c), to(1 / c), None, True)
    ref = generic.affine(X, to(c), to(1 / c), None, True)
    np.testing.assert_array_equal(back(out), back(ref))


@pytest.mark.skipif(not HAS_STRICT, reason="no array-api-strict")
def test_matmul_kernels_never_read_device_values(no_host_reads):
    """The GPU path queues work and returns: no bool()/float() of arrays."""
    import array_api_strict as xs

    rng = np.random.default_rng(3)
    X_np = rng.normal(size=(70, 3))
    X_np[3, 1] = np.nan
    X, shift = xs.asarray(X_np), xs.asarray(X_np[0])
    w = xs.asarray(rng.uniform(0, 1, 70))
    with small_blocks(3), no_host_reads():
        matmul.moments(X, shift, w, xs.float64)
        matmul.moments(X, shift, None, xs.float64)
        matmul.min_max(X)
        matmul.comoments(X, shift, w, xs.float64)
        matmul.linear(X, shift, xs.asarray(np.eye(3)), True)
        matmul.affine(X, shift, shift, shift, True)
    # The harness does catch a host read: the generic min_max branches on
    # whether any value is NaN.
    with no_host_reads(), pytest.raises(AssertionError, match="host"):
        generic.min_max(X)


# ------------------------------------------------------------ selection ----
def test_kernels_for_selects_by_namespace():
    import array_api_compat.numpy as xnp

    assert kernels_for(np) is numpy_blocked
    assert kernels_for(xnp) is numpy_blocked
    if HAS_STRICT:
        import array_api_strict as xs

        assert kernels_for(xs) is generic


@pytest.mark.skipif(not HAS_TORCH, reason="no torch")
def test_torch_kernels_choose_by_device():
    """torch on the CPU keeps the generic path (bit-identical numbers);
    CUDA tensors go to the matmul path (checked when a GPU is present)."""
    import array_api_compat.torch as xt
    import torch

    k = kernels_for(xt)
    X = torch.asarray(np.random.default_rng(4).normal(size=(50, 3)))
    shift = X[0]
    for a, b in zip(
        k.moments(X, shift, None, torch.float64),
        generic.moments(X, shift, None, torch.float64),
        strict=True,
    ):
        assert torch.equal(a, b)
    if torch.cuda.is_available():  # pragma: no cover - GPU machines
        Xc = X.to("cuda")
        got = k.moments(Xc, shift.to("cuda"), None, torch.float64)
        ref = matmul.moments(Xc, shift.to("cuda"), None, torch.float64)
        for a, b in zip(got, ref, strict=True):
            assert torch.equal(a, b)


def test_cupy_selects_fused_kernels(monkeypatch):
    """CuPy gets the compiled kernels; SKNORM_CUPY_FUSED=0 the matmul ones."""
    if importlib.util.find_spec("cupy") is None:
        pytest.skip("CuPy is not installed")
    import cupy

    from sknorm._kernels import cupy_fused

    assert kernels_for(cupy) is cupy_fused
    monkeypatch.setenv("SKNORM_CUPY_FUSED", "0")
    assert kernels_for(cupy) is matmul


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n=st.integers(1, 70),
    f=st.integers(1, 9),
    size=st.integers(1, 7),
    dtype=st.sampled_from(["float64", "float32"]),
    nan=st.booleans(),
)
def test_numpy_local_response_matches_generic(seed, n, f, size, dtype, nan):
    """Blocked, threaded, buffer-reusing LRN == the reference expression."""
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(n, f)) * 10).astype(dtype)
    if nan:
        X[rng.uniform(size=X.shape) < 0.2] = np.nan
    expected = generic.local_response(X, size, 1e-2, 0.75, 2.0)
    saved = (numpy_blocked.LRN_BLOCK_BYTES, _parallel.PARALLEL_MIN_ELEMENTS)
    numpy_blocked.LRN_BLOCK_BYTES = 3 * 8 * (f + size)  # a few rows a block
    _parallel.PARALLEL_MIN_ELEMENTS = 1
    try:
        got = numpy_blocked.local_response(X, size, 1e-2, 0.75, 2.0)
    finally:
        numpy_blocked.LRN_BLOCK_BYTES, _parallel.PARALLEL_MIN_ELEMENTS = saved
    assert got.dtype == X.dtype
    np.testing.assert_array_equal(got, expected)


# ----------------------------------- the searches and merges every path shares
def _namespaces():
    import array_api_compat.numpy as compat_numpy

    spaces = [pytest.param(compat_numpy, id="numpy")]
    if HAS_STRICT:
        import array_api_strict

        spaces.append(pytest.param(array_api_strict, id="array-api-strict"))
    return spaces


@pytest.mark.parametrize("xp", _namespaces())
@pytest.mark.parametrize("weighted", [False, True])
def test_first_observed_skips_nan_and_zero_weights(xp, weighted):
    """generic.first_observed (the shift of every path) against a plain loop:
    the first value of a row of positive weight that is not NaN, 0 where a
    feature has none."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 6)) * 1e3
    X[rng.uniform(size=X.shape) < 0.4] = np.nan
    X[:, 5] = np.nan  # no data at all
    w = rng.choice([0.0, 0.5, 2.0], size=40) if weighted else None
    expected = np.zeros(6)
    for j in range(6):
        for i in range(40):
            if not np.isnan(X[i, j]) and (w is None or w[i] > 0):
                expected[j] = X[i, j]
                break
    args = [xp.asarray(X), xp.float64]
    if weighted:
        args.append(xp.asarray(w))
    got = np.asarray(generic.first_observed(xp, *args))
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("case", ["plain", "one side empty", "opposite extremes"])
def test_chan_merge_is_the_union(case):
    """generic.chan_merge (the merge of _stats and of numpy_blocked's
    segments) against the union's two-pass moments."""
    rng = np.random.default_rng(4)
    A, B = rng.normal(3.0, 2.0, size=(30, 4)), rng.normal(-1.0, 0.5, size=(50, 4))
    if case == "opposite extremes":
        A, B = np.full((3, 4), 1.5e308), np.full((5, 4), -1.5e308)
    wa, wb = np.ones(30 if case != "opposite extremes" else 3), np.ones(len(B))
    if case == "one side empty":
        wa[:] = 0.0

    def side(Y, w):
        total = w.sum()
        p = (w / total if total else w)[:, None]  # normalised: no overflow
        mean = (p * Y).sum(axis=0)
        return np.full(4, total), mean, (p * (Y - mean) ** 2).sum(axis=0)

    with np.errstate(over="ignore", invalid="ignore"):
        total, mean, var = generic.chan_merge(np, *side(A, wa), *side(B, wb))
    U, wu = np.concatenate([A, B]), np.concatenate([wa, wb])
    np.testing.assert_array_equal(total, np.full(4, wu.sum()))
    if case == "opposite extremes":
        # The mean of values near the float maximum stays finite (the convex
        # form); their spread is beyond the float range.
        np.testing.assert_allclose(mean, np.full(4, -1.5e308 / 4))  # (3 - 5) / 8
        assert np.isfinite(mean).all()
        assert np.isinf(var).all()
        return
    ref_mean = np.average(U, axis=0, weights=wu)
    ref_var = np.average((U - ref_mean) ** 2, axis=0, weights=wu)
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-14)
    np.testing.assert_allclose(var, ref_var, rtol=1e-13)
