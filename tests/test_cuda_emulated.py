"""CuPy's compiled kernels, run on the CPU (no GPU needed).

``cuda_emulator`` compiles the CUDA source of ``sknorm._kernels.cupy_fused``
as C++ that emulates thread blocks; here the module's own Python (grids,
chunks, the combine kernels, the infinity flags, the check modes, the
fallbacks) runs on NumPy arrays through a small stand-in for CuPy, and its
results are compared with the generic kernels'.  The same checks on real
GPUs are in ``test_cupy_kernels.py``; these keep the kernels' logic tested
in CI, which has no GPU.  Skipped without a C++20 compiler.
"""

import contextlib
import types

import numpy as np
import pytest
from hypothesis import given, settings
from kernel_cases import (
    CASES,
    assert_moments_close,
    first_observed,
    make_weights,
    make_X,
)
from sklearn import config_context

import sknorm
from sknorm._kernels import NonFiniteError, cupy_fused, generic
from sknorm._stats import MinMaxState, Moments, merge_min_max, merge_moments, recentred

cuda_emulator = pytest.importorskip("cuda_emulator")
pytestmark = pytest.mark.skipif(
    not cuda_emulator.available(), reason="no C++ compiler for the CUDA emulator"
)


class _Device:
    id = 0


def _elementwise_kernel(in_params, out_params, operation, name, **_):
    """CuPy's ElementwiseKernel for the affine fallback: the operation is a
    Python expression of the parameters."""
    names = [p.split()[-1] for p in in_params.split(",")]
    _, expr = (part.strip(" ;") for part in operation.split("=", 1))

    def call(*args):
        *inputs, out = args
        scope = dict(zip(names, inputs, strict=True))
        out[...] = eval(expr, {}, scope)
        return out

    return call


def _shim():
    """NumPy dressed as the part of CuPy that cupy_fused uses."""
    shim = types.SimpleNamespace(
        **{k: getattr(np, k) for k in dir(np) if not k.startswith("_")}
    )
    shim.cuda = types.SimpleNamespace(Device=_Device)
    shim.ElementwiseKernel = _elementwise_kernel
    return shim


def _launcher(name, dtype):
    kernel = getattr(cuda_emulator.load(dtype), name)

    def launch(grid, block, args):
        grid, block = (tuple(g) + (1,) * (2 - len(g)) for g in (grid, block))
        plain = [a.item() if isinstance(a, np.generic) else a for a in args]
        kernel(grid, block, *plain)

    return launch


@contextlib.contextmanager
def emulated(multiprocessors=1):
    """cupy_fused on NumPy arrays, its kernels run by the emulator (a small
    device: few blocks, so that the emulation stays quick).  Nothing it
    patches is a cache: real CuPy in the same process is unaffected."""
    elementwise = cupy_fused._affine_elementwise
    uncached_elementwise = getattr(elementwise, "__wrapped__", elementwise)
    shim = _shim()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cupy_fused, "_cupy", lambda: shim)
        mp.setattr(cupy_fused, "_kernel", _launcher)
        mp.setattr(cupy_fused, "_multiprocessors", lambda device_id: multiprocessors)
        mp.setattr(cupy_fused, "_device_id", lambda X: 0)
        mp.setattr(cupy_fused, "_dummy", lambda dtype="float64": np.zeros(1, dtype))
        mp.setattr(cupy_fused, "_affine_elementwise", uncached_elementwise)
        yield


@pytest.fixture
def fused():
    with emulated():
        yield cupy_fused


# ------------------------------------------------------------ reductions ----
@settings(max_examples=20, deadline=None)
@given(**{k: v for k, v in CASES.items() if k != "fused"})
def test_moments_match_generic(seed, n, f, dtype, nan, loc, layout, weights):
    X = make_X(seed, n, f, dtype, nan, loc, layout)
    w = make_weights(seed, n, weights)
    shift = first_observed(X, np.float64)
    with emulated():
        got = cupy_fused.moments(X, shift, w, np.float64)
    assert_moments_close(got, generic.moments(X, shift, w, np.float64), X, shift)


@settings(max_examples=15, deadline=None)
@given(**{k: v for k, v in CASES.items() if k not in ("fused", "weights")})
def test_min_max_match_generic(seed, n, f, dtype, nan, loc, layout):
    X = make_X(seed, n, f, dtype, nan, loc, layout)
    with emulated():
        got = cupy_fused.min_max(X)
    for a, b in zip(got, generic.min_max(X), strict=True):
        assert a.dtype == X.dtype
        np.testing.assert_array_equal(a, b)


def test_moments_cross_many_chunks_and_column_blocks(fused):
    """A larger device (more chunks), 37 features (two column blocks, the
    second partial), a first row far out (the per-thread Welford re-read)
    and values near the float maximum (overflowed sums re-read)."""
    rng = np.random.default_rng(0)
    X = 1e6 + rng.normal(size=(700, 37)) * np.arange(1, 38)
    X[rng.uniform(size=X.shape) < 0.1] = np.nan
    X[0, 7] = 1e6 + 1e5
    X[:, 9] = 1e307 + rng.uniform(size=700) * 1e306
    shift = first_observed(X, np.float64)
    with emulated(multiprocessors=4):
        _, n_obs, mean, var = cupy_fused.moments(X, shift, None, np.float64)
    np.testing.assert_array_equal(n_obs, np.sum(~np.isnan(X), axis=0))
    keep = np.arange(37) != 9
    np.testing.assert_allclose(
        (mean + shift)[keep], np.nanmean(X[:, keep], axis=0), rtol=1e-13
    )
    np.testing.assert_allclose(var[keep], np.nanvar(X[:, keep], axis=0), rtol=1e-11)
    # Sums of values near 1e307 overflow: the thread re-reads its rows with
    # Welford's update and the mean stays finite (np.mean would not).
    reference = 1000 * np.mean(X[:, 9] / 1000)
    assert np.isfinite(mean[9])
    np.testing.assert_allclose(mean[9] + shift[9], reference, rtol=1e-13)


@pytest.mark.parametrize("weighted", [False, True])
def test_update_moments_matches_merge_and_recentre(fused, weighted):
    rng = np.random.default_rng(1)
    state_f = state_p = None
    for i, n in enumerate([5, 300, 1]):
        X = 1e8 + rng.normal(size=(n, 4)) * np.array([1, 2, 1e-3, 5])
        if i == 0:
            X[:, 2] = np.nan
        w = rng.uniform(0, 2, n) if weighted else None
        state_f = Moments(*cupy_fused.update_moments(state_f, X, w, np.float64))
        shift = first_observed(X, np.float64)
        if state_p is not None:
            shift = np.where(state_p.count > 0, state_p.shift, shift)
        count, n_obs, mean, var = generic.moments(X, shift, w, np.float64)
        batch = Moments(count, n_obs, shift, mean, var)
        state_p = recentred(merge_moments(state_p, batch))
        np.testing.assert_allclose(state_f.count, state_p.count, rtol=1e-13)
        np.testing.assert_array_equal(state_f.n_obs, state_p.n_obs)
        seen = state_p.count > 0
        np.testing.assert_allclose(
            state_f.location[seen], state_p.location[seen], rtol=1e-15
        )
        np.testing.assert_allclose(state_f.var, state_p.var, rtol=1e-9, atol=1e-20)


def test_update_min_max_matches_merge(fused):
    rng = np.random.default_rng(2)
    state_f = state_p = None
    for i, n in enumerate([3, 200, 1]):
        X = rng.normal(size=(n, 4)).astype(np.float32)
        X[rng.uniform(size=X.shape) < 0.2] = np.nan
        if i == 0:
            X[:, 1] = np.nan
        state_f = MinMaxState(*cupy_fused.update_min_max(state_f, X))
        state_p = merge_min_max(state_p, MinMaxState(*generic.min_max(X)))
        assert state_f.min.dtype == np.float64  # the state is kept in float64
        np.testing.assert_array_equal(state_f.min, state_p.min)
        np.testing.assert_array_equal(state_f.max, state_p.max)


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("first_batch", [True, False])
def test_batchnorm_step(fused, momentum, first_batch):
    """Against the estimator's own array expressions (the generic path)."""
    rng = np.random.default_rng(3)
    gamma = rng.uniform(0.5, 2, 6)
    state = None
    est = sknorm.MiniBatchNormalizer(
        momentum=momentum, init="first_batch" if first_batch else "pytorch"
    )
    for n in (1, 40, 7):
        X = 3 + rng.normal(size=(n, 6))
        X[0, 4] = np.nan
        out = cupy_fused.batchnorm_step(
            state,
            X,
            None,
            momentum=momentum,
            first_batch=first_batch,
            gamma=gamma,
            eps=1e-5,
        )
        state = out[:4]
        est.partial_fit(X)
        np.testing.assert_allclose(out[0], est.running_mean_, rtol=1e-13)
        np.testing.assert_allclose(out[1], est.running_var_, rtol=1e-12)
        batch = generic.moments(X, np.zeros(6), None, np.float64)
        np.testing.assert_allclose(out[4], batch[2], rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(out[5], batch[3], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(out[6], gamma / np.sqrt(batch[3] + 1e-5), rtol=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_comoments_match_generic(fused, monkeypatch, weighted):
    monkeypatch.setattr(cupy_fused, "COMOMENT_BLOCK_ELEMENTS", 7 * 5)
    rng = np.random.default_rng(4)
    X = 50 + rng.normal(size=(60, 5)) @ rng.normal(size=(5, 5))
    w = rng.uniform(0, 2, 60) if weighted else None
    shift = X[0].copy()
    got = cupy_fused.comoments(X, shift, w, np.float64)
    ref = generic.comoments(X, shift, w, np.float64)
    for a, b in zip(got, ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-11)


# ------------------------------------------------------------ transforms ----
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("terms", ["cso", "cs", "s", "o", ""])
@pytest.mark.parametrize("layout", ["C", "F"])
def test_affine_matches_generic_bits(fused, dtype, terms, layout):
    rng = np.random.default_rng(5)
    X = np.asarray(5 + rng.normal(size=(50, 7)), dtype=dtype, order=layout)
    X[3, 2] = np.nan
    center = rng.normal(size=7) if "c" in terms else None
    scale = rng.uniform(0.5, 2, 7) if "s" in terms else None
    offset = np.asarray(-1.5) if "o" in terms else None  # 0-d: one for all
    ref = generic.affine(X.copy(), center, scale, offset, True)
    out = cupy_fused.affine(X, center, scale, offset, True)
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("check", ["inf", "nonfinite"])
@pytest.mark.parametrize("copy", [True, False])
def test_transform_checks(fused, check, copy):
    X = np.ones((40, 3))
    X[5, 1] = np.nan
    scale = np.full(3, 2.0)
    if check == "inf":  # NaN passes, +-inf does not
        cupy_fused.affine(X.copy(), None, scale, None, copy, check=check)
    else:
        with pytest.raises(NonFiniteError, match="NaN or infinity"):
            cupy_fused.affine(X.copy(), None, scale, None, copy, check=check)
    X[30, 2] = -np.inf
    before = X.copy()
    with pytest.raises(NonFiniteError, match="infinity"):
        cupy_fused.affine(X, None, scale, None, copy, check=check)
    np.testing.assert_array_equal(X, before)  # untouched, in place too
    with config_context(assume_finite=True):
        cupy_fused.affine(X.copy(), None, scale, None, copy, check=check)
    # (NumPy, standing in for cuBLAS, warns about the inf it multiplies.)
    with pytest.raises(NonFiniteError), np.errstate(invalid="ignore"):
        cupy_fused.linear(X, np.zeros(3), np.eye(3), False, check=check)
    assert cupy_fused.has_nonfinite(X, allow_nan=True)
    assert not cupy_fused.has_nonfinite(np.ones((9, 2)), allow_nan=False)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_linear_matches_generic(fused, monkeypatch, dtype):
    monkeypatch.setattr(cupy_fused, "COMOMENT_BLOCK_ELEMENTS", 7 * 5)
    rng = np.random.default_rng(6)
    X = (50 + rng.normal(size=(40, 5))).astype(dtype)
    M, c = rng.normal(size=(3, 5)), 50 + rng.normal(size=5)
    rtol = 1e-5 if dtype == "float32" else 1e-12
    for center, offset in ((c, None), (None, M @ c), (c, -c[:3])):
        got = cupy_fused.linear(X, center, M, True, offset)
        ref = generic.linear(X, center, M, True, offset)
        scale = np.max(np.abs(ref))
        np.testing.assert_allclose(got, ref, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("size", [1, 2, 5, 40])
def test_local_response_matches_generic(fused, size):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(30, 13)) * 10
    X[4, 2] = np.nan
    got = cupy_fused.local_response(X, size, 1e-2, 0.75, 2.0)
    np.testing.assert_allclose(
        got, generic.local_response(X, size, 1e-2, 0.75, 2.0), rtol=1e-14
    )


# ------------------------------------------------------------ estimators ----
def _use_fused_kernels(mp):
    """The estimators' kernel lookups answer cupy_fused (for NumPy arrays:
    with :func:`emulated`, the whole GPU path runs on the CPU)."""
    import sknorm._base
    import sknorm._minibatch.estimator
    import sknorm._stats
    import sknorm._validation

    for module in (
        sknorm._stats,
        sknorm._base,
        sknorm._validation,
        sknorm._minibatch.estimator,
    ):
        mp.setattr(module, "kernels_for", lambda xp: cupy_fused)


@pytest.mark.parametrize(
    "make",
    [
        sknorm.ZScore,
        sknorm.MinMax,
        sknorm.MiniBatchNormalizer,
        lambda: sknorm.MiniBatchNormalizer(momentum=None, scale=2.0, shift=1.0),
        sknorm.ZCAWhitening,
    ],
    ids=["ZScore", "MinMax", "MBN", "MBN-cumulative", "ZCA"],
)
def test_estimators_stream_like_on_numpy_kernels(monkeypatch, make):
    """Estimators streamed through the emulated kernels (their kernel
    lookups answering cupy_fused for NumPy arrays) against the same
    estimators on the NumPy kernels."""
    rng = np.random.default_rng(8)
    batches = [10 + rng.normal(size=(n, 4)) for n in (3, 60, 25)]
    X_new = 10 + rng.normal(size=(9, 4))
    ref = make()
    for X in batches:
        ref.partial_fit(X)
    expected = ref.transform(X_new)
    _use_fused_kernels(monkeypatch)
    with emulated():
        est = make()
        for X in batches:
            est.partial_fit(X)
        Y = est.transform(X_new)
        back = est.inverse_transform(Y)
    np.testing.assert_allclose(Y, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(back, X_new, rtol=1e-10)


# ------------------------------------------------- cases found in review ----
def test_zero_weight_sentinel_is_never_the_reference(fused):
    """A zero-weight row far from the data ("give rows to ignore weight 0")
    must not become a thread's reference value: around 1e15 the sums of data
    at 1 +- 1e-3 would lose every digit of the variance."""
    rng = np.random.default_rng(10)
    X = 1 + 1e-3 * rng.normal(size=(200, 3))
    w = np.ones(200)
    X[::8] = 1e15  # the first row of every thread
    w[::8] = 0.0
    shift = np.ones(3)
    _, n_obs, mean, var = cupy_fused.moments(X, shift, w, np.float64)
    kept = X[w > 0]
    np.testing.assert_array_equal(n_obs, [200] * 3)
    np.testing.assert_allclose(mean + shift, kept.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(var, kept.var(axis=0), rtol=1e-9)
    state = Moments(*cupy_fused.update_moments(None, X, w, np.float64))
    np.testing.assert_allclose(state.var, kept.var(axis=0), rtol=1e-9)
    np.testing.assert_allclose(state.location, kept.mean(axis=0), rtol=1e-14)


def test_batchnorm_step_with_one_gamma_array(fused):
    """γ given as a 0-d array (one value for all features, on the device)."""
    rng = np.random.default_rng(11)
    X = rng.normal(size=(50, 6))
    out = cupy_fused.batchnorm_step(
        None, X, None, momentum=0.1, first_batch=True, gamma=np.asarray(2.0), eps=1e-5
    )
    np.testing.assert_allclose(out[6], 2.0 / np.sqrt(X.var(axis=0) + 1e-5), rtol=1e-12)
    est = sknorm.MiniBatchNormalizer(scale=np.asarray(2.0))
    expected = est.normalize_batch(X)
    with pytest.MonkeyPatch.context() as mp:
        _use_fused_kernels(mp)
        got = sknorm.MiniBatchNormalizer(scale=np.asarray(2.0)).normalize_batch(X)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_comoments_with_a_far_shift(fused, monkeypatch):
    """The running shift is a first row; a batch 1e6 standard deviations
    away (an outlier first row, or drift) must not cancel digits away."""
    monkeypatch.setattr(cupy_fused, "COMOMENT_BLOCK_ELEMENTS", 40 * 3)
    rng = np.random.default_rng(12)
    X = 1e6 + rng.normal(size=(300, 3)) @ np.array([[1, 0.5, 0], [0, 1, 0], [0, 0, 2]])
    shift = np.zeros(3)
    count, mean, cov = cupy_fused.comoments(X, shift, None, np.float64)
    ref = generic.comoments(X, X[0].copy(), None, np.float64)
    assert count == 300
    np.testing.assert_allclose(mean + shift, ref[1] + X[0], rtol=1e-14)
    np.testing.assert_allclose(cov, ref[2], rtol=1e-10, atol=1e-10)
