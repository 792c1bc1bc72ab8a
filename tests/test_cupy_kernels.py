"""CuPy's compiled kernels (``cupy_fused``) against the generic reference.

Run on a machine with CuPy and a GPU; skipped elsewhere.  The generic kernel
runs on the same CuPy arrays, so the only difference is the formulation:
per-thread shifted sums (Welford where they would lose digits) and Chan
merges against the generic two-pass sums, within float rounding; min/max
and affine give the same bits.
"""

import importlib.util
import warnings

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
from sknorm._kernels import NonFiniteError, generic
from sknorm._stats import (
    MinMaxState,
    Moments,
    merge_min_max,
    merge_moments,
    recentred,
)


def _gpu():
    if importlib.util.find_spec("cupy") is None:
        return False
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


pytestmark = pytest.mark.skipif(not _gpu(), reason="CuPy with a GPU is not available")


@pytest.fixture(scope="module")
def cp():
    import cupy

    return cupy


@pytest.fixture(scope="module")
def fused():
    from sknorm._kernels import cupy_fused

    return cupy_fused


def _host(*arrays):
    import cupy

    return [cupy.asnumpy(a) for a in arrays]


@settings(max_examples=60, deadline=None)
@given(**{k: v for k, v in CASES.items() if k != "fused"})
def test_moments_match_generic(cp, fused, seed, n, f, dtype, nan, loc, layout, weights):
    X_np = make_X(seed, n, f, dtype, nan, loc, layout)
    w_np = make_weights(seed, n, weights)
    shift_np = first_observed(X_np, np.float64)
    X = cp.asarray(X_np, order="K")
    if layout == "strided":  # keep the strides on the device too
        X = cp.asarray(make_X(seed, n, 2 * f, dtype, nan, loc, "C"))[:, ::2][:, :f]
        X_np = cp.asnumpy(X)
        shift_np = first_observed(X_np, np.float64)
    shift = cp.asarray(shift_np)
    w = None if w_np is None else cp.asarray(w_np)
    got = _host(*fused.moments(X, shift, w, cp.float64))
    ref = _host(*generic.moments(X, shift, w, cp.float64))
    assert_moments_close(got, ref, X_np, shift_np)


@settings(max_examples=40, deadline=None)
@given(**{k: v for k, v in CASES.items() if k not in ("fused", "nan")})
def test_comoments_match_generic(cp, fused, seed, n, f, dtype, loc, layout, weights):
    """Row blocks shrunk to a few rows: the Gram matrix is accumulated over
    many blocks."""
    X_np = make_X(seed, n, f, dtype, "none", loc, layout)
    w_np = make_weights(seed, n, weights)
    shift_np = first_observed(X_np, np.float64)
    X, shift = cp.asarray(X_np, order="K"), cp.asarray(shift_np)
    w = None if w_np is None else cp.asarray(w_np)
    saved = fused.COMOMENT_BLOCK_ELEMENTS
    fused.COMOMENT_BLOCK_ELEMENTS = 7 * f
    try:
        got = _host(*fused.comoments(X, shift, w, cp.float64))
    finally:
        fused.COMOMENT_BLOCK_ELEMENTS = saved
    ref = _host(*generic.comoments(X, shift, w, cp.float64))
    spread = np.max(np.abs(X_np - shift_np), initial=1.0)
    for a, b, s in zip(got, ref, (1.0, spread, spread**2), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12 * s)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(200_003, 3), (50_000, 70), (7, 1_100)])
def test_moments_large_match_numpy(cp, fused, dtype, shape):
    """Many chunks, several 32-feature column blocks, a partial last one."""
    rng = np.random.default_rng(0)
    X_np = (1e4 + rng.normal(size=shape) * rng.uniform(0.1, 10, shape[1])).astype(dtype)
    X_np[rng.uniform(size=shape) < 0.01] = np.nan
    shift_np = first_observed(X_np, np.float64)
    got = _host(
        *fused.moments(cp.asarray(X_np), cp.asarray(shift_np), None, cp.float64)
    )
    X64 = X_np.astype(np.float64)
    np.testing.assert_array_equal(got[1], np.sum(~np.isnan(X64), axis=0))
    np.testing.assert_allclose(got[2] + shift_np, np.nanmean(X64, axis=0), rtol=1e-13)
    np.testing.assert_allclose(got[3], np.nanvar(X64, axis=0), rtol=1e-11)


@settings(max_examples=60, deadline=None)
@given(**{k: v for k, v in CASES.items() if k not in ("fused", "weights")})
def test_min_max_match_generic(cp, fused, seed, n, f, dtype, nan, loc, layout):
    X_np = make_X(seed, n, f, dtype, nan, loc, layout)
    X = cp.asarray(X_np, order="K")
    got = _host(*fused.min_max(X))
    ref = _host(*generic.min_max(X))
    for a, b in zip(got, ref, strict=True):
        assert a.dtype == X_np.dtype
        np.testing.assert_array_equal(a, b)


def _python_update(state, X, w):
    """sknorm._stats.update_moments without the fused kernel."""
    import cupy

    shift = first_observed(cupy.asnumpy(X), np.float64)
    if state is not None:
        seen = cupy.asnumpy(state.count) > 0
        shift = np.where(seen, cupy.asnumpy(state.shift), shift)
    shift = cupy.asarray(shift)
    count, n_obs, mean, var = generic.moments(X, shift, w, cupy.float64)
    return recentred(merge_moments(state, Moments(count, n_obs, shift, mean, var)))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("loc", [0.0, 1e8])
def test_update_moments_matches_merge_and_recentre(cp, fused, weighted, loc):
    """Batches with features first seen late, NaN throughout one batch,
    zero weights: the two-launch update equals the Python composition."""
    rng = np.random.default_rng(1)
    state_f = state_p = None
    for i, n in enumerate([5, 300, 1, 4_000]):
        X_np = loc + rng.normal(size=(n, 6)) * np.array([1, 2, 3, 1e-3, 5, 1])
        if i == 0:
            X_np[:, 2] = np.nan  # feature 2 first seen in batch 1
        X_np[rng.uniform(size=X_np.shape) < 0.1] = np.nan
        X_np[:, 5] = np.nan if i < 3 else X_np[:, 5]  # seen in the last batch
        w_np = rng.uniform(0, 2, n) if weighted else None
        if weighted and n > 1:
            w_np[: n // 3] = 0.0
        X, w = cp.asarray(X_np), None if w_np is None else cp.asarray(w_np)
        state_f = Moments(*fused.update_moments(state_f, X, w, cp.float64)[:5])
        state_p = _python_update(state_p, X, w)
        got, ref = _host(*state_f), _host(*state_p)
        np.testing.assert_allclose(got[0], ref[0], rtol=1e-13)  # count
        np.testing.assert_array_equal(got[1], ref[1])  # n_obs
        seen = ref[0] > 0
        location = got[2] + got[3]
        np.testing.assert_allclose(
            location[seen], (ref[2] + ref[3])[seen], rtol=1e-14, atol=1e-12
        )
        np.testing.assert_allclose(got[4], ref[4], rtol=1e-10, atol=1e-18)


def test_update_min_max_matches_merge(cp, fused):
    rng = np.random.default_rng(2)
    state_f = state_p = None
    for i, n in enumerate([3, 500, 1]):
        X_np = rng.normal(size=(n, 4)).astype(np.float32)
        X_np[rng.uniform(size=X_np.shape) < 0.2] = np.nan
        if i == 0:
            X_np[:, 1] = np.nan
        X = cp.asarray(X_np)
        state_f = MinMaxState(*fused.update_min_max(state_f, X))
        state_p = merge_min_max(state_p, MinMaxState(*generic.min_max(X)))
        for a, b in zip(_host(*state_f), _host(*state_p), strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("terms", ["cso", "cs", "c", "s", "o", ""])
@pytest.mark.parametrize("copy", [True, False])
@pytest.mark.parametrize("order", ["C", "F"])
def test_affine_matches_generic_bits(cp, fused, dtype, terms, copy, order):
    rng = np.random.default_rng(3)
    X_np = np.asarray(5 + rng.normal(size=(1_001, 7)), dtype=dtype, order=order)
    X_np[3, 2] = np.nan
    center = cp.asarray(rng.normal(size=7)) if "c" in terms else None
    scale = cp.asarray(rng.uniform(0.5, 2, 7)) if "s" in terms else None
    offset = cp.asarray(rng.normal(size=7)) if "o" in terms else None
    X = cp.asarray(X_np, order=order)
    ref = generic.affine(X.copy(), center, scale, offset, True)
    out = fused.affine(X, center, scale, offset, copy)
    assert (out is X) != copy
    assert out.dtype == X.dtype
    np.testing.assert_array_equal(cp.asnumpy(out), cp.asnumpy(ref))


@pytest.mark.parametrize("kernel", ["moments", "min_max"])
def test_infinity_raises_unless_assume_finite(cp, fused, kernel):
    X = cp.asarray(np.array([[1.0, 2.0], [np.inf, 3.0], [0.0, np.nan]]))
    shift = cp.zeros(2)

    def run():
        if kernel == "moments":
            return fused.moments(X, shift, None, cp.float64)
        return fused.min_max(X)

    with pytest.raises(NonFiniteError, match="infinity"):
        run()
    with config_context(assume_finite=True):
        run()  # the caller vouched: no check, no host read


@pytest.mark.parametrize(
    "make",
    [sknorm.ZScore, sknorm.MinMax, sknorm.MiniBatchNormalizer],
    ids=["ZScore", "MinMax", "MiniBatchNormalizer"],
)
def test_partial_fit_never_synchronises(cp, make):
    """With assume_finite, partial_fit only queues work.

    Work that keeps the GPU busy for a while is queued first; partial_fit
    must return while it is still running (an event recorded after it is
    not complete), which it cannot if it waited for the device.  CuPy's own
    (deprecated) detector must not fire either.
    """
    import cupyx

    rng = np.random.default_rng(4)
    batches = [cp.asarray(1e3 + rng.normal(size=(4_096, 64))) for _ in range(3)]
    est = make()
    est.partial_fit(batches[0])  # compile and warm up outside the check
    A = cp.ones((4_096, 4_096))
    cp.cuda.get_current_stream().synchronize()
    with config_context(assume_finite=True):
        for _ in range(30):  # about 1 TFLOP of float64: tens of ms
            A = A @ A * (1.0 / 4_096)
        for X in batches[1:]:
            est.partial_fit(X)
        still_busy = cp.cuda.Event()
        still_busy.record()
        assert not still_busy.done, "partial_fit waited for the device"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the API's deprecation
            with cupyx.allow_synchronize(False):
                est.partial_fit(batches[1])
    ref = make()
    for X in [*batches, batches[1]]:
        ref.partial_fit(cp.asnumpy(X))
    for name in ("mean_", "var_", "data_min_", "data_max_", "running_mean_"):
        if hasattr(ref, name):
            np.testing.assert_allclose(
                cp.asnumpy(getattr(est, name)), getattr(ref, name), rtol=1e-12
            )


def test_estimator_inf_error_names_the_call(cp):
    X = cp.asarray(np.array([[1.0], [np.inf]]))
    for make in (sknorm.ZScore, sknorm.MinMax, sknorm.MiniBatchNormalizer):
        with pytest.raises(ValueError, match=rf"{make.__name__}\.fit\(\).*infinity"):
            make().fit(X)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(
    "make",
    [
        sknorm.ZScore,
        sknorm.MinMax,
        sknorm.MiniBatchNormalizer,
        lambda: sknorm.MiniBatchNormalizer(momentum=None, scale=2.0, shift=1.0),
        lambda: sknorm.MiniBatchNormalizer(init="pytorch", momentum=0.3),
    ],
    ids=["ZScore", "MinMax", "MBN", "MBN-cumulative", "MBN-pytorch-init"],
)
def test_fused_estimators_match_matmul_path(cp, make, weighted, monkeypatch):
    """Each estimator on CuPy with the compiled kernels (fused updates and
    the batch-norm step) against the same estimator on the matmul kernels
    (the Python composition of the statistics), batch after batch."""
    rng = np.random.default_rng(6)
    batches = []
    for i, n in enumerate([1, 50, 3_000]):
        X_np = 1e4 + rng.normal(size=(n, 5)) * np.array([1, 3, 1e-3, 5, 2])
        X_np[rng.uniform(size=X_np.shape) < 0.05] = np.nan
        if i == 0:
            X_np[:, 1] = np.nan
        w = rng.uniform(0, 2, n) if weighted else None
        batches.append((cp.asarray(X_np), None if w is None else cp.asarray(w)))
    est = make()
    outputs = []
    for X, w in batches:
        if isinstance(est, sknorm.MiniBatchNormalizer):
            outputs.append(cp.asnumpy(est.normalize_batch(X, sample_weight=w)))
        elif isinstance(est, sknorm.MinMax):
            est.partial_fit(X)  # no weights for a minimum
        else:
            est.partial_fit(X, sample_weight=w)
    X_last = batches[-1][0]
    fused_transform = cp.asnumpy(est.transform(X_last))
    monkeypatch.setenv("SKNORM_CUPY_FUSED", "0")
    ref = make()
    ref_outputs = []
    for X, w in batches:
        if isinstance(ref, sknorm.MiniBatchNormalizer):
            ref_outputs.append(cp.asnumpy(ref.normalize_batch(X, sample_weight=w)))
        elif isinstance(ref, sknorm.MinMax):
            ref.partial_fit(X)
        else:
            ref.partial_fit(X, sample_weight=w)
    for a, b in zip(outputs, ref_outputs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
    names = ["mean_", "var_", "scale_", "data_min_", "data_max_"]
    names += ["running_mean_", "running_var_", "n_batches_seen_"]
    for name in names:
        if hasattr(ref, name):
            got, expected = getattr(est, name), getattr(ref, name)
            if not isinstance(expected, int | float):
                got, expected = cp.asnumpy(got), cp.asnumpy(expected)
            np.testing.assert_allclose(got, expected, rtol=1e-10, err_msg=name)
    np.testing.assert_allclose(
        fused_transform,
        cp.asnumpy(ref.transform(X_last)),
        rtol=1e-10,
        atol=1e-10,
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("size", [1, 2, 5, 40])
@pytest.mark.parametrize("layout", ["C", "F"])
def test_local_response_matches_generic(cp, fused, dtype, size, layout):
    """One thread per output against the reference expression; pow may
    differ from the host's by an ulp."""
    rng = np.random.default_rng(7)
    X_np = np.asarray(rng.normal(size=(301, 13)) * 10, dtype=dtype, order=layout)
    X_np[4, 2] = np.nan
    X = cp.asarray(X_np, order=layout)
    got = cp.asnumpy(fused.local_response(X, size, 1e-2, 0.75, 2.0))
    ref = cp.asnumpy(generic.local_response(X, size, 1e-2, 0.75, 2.0))
    rtol = 1e-6 if dtype == "float32" else 1e-14
    np.testing.assert_allclose(got, ref, rtol=rtol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("layout", ["C", "F"])
def test_find_nonfinite(cp, fused, dtype, layout):
    X_np = np.asarray(np.ones((1_000, 9)), dtype=dtype, order=layout)
    for value, with_nan, without_nan in [
        (1.0, False, False),
        (np.nan, False, True),
        (np.inf, True, True),
        (-np.inf, True, True),
    ]:
        X_np[997, 8] = value
        X = cp.asarray(X_np, order=layout)
        assert fused.has_nonfinite(X, allow_nan=True) is with_nan
        assert fused.has_nonfinite(X, allow_nan=False) is without_nan


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("layout", ["C", "F"])
def test_linear_matches_generic(cp, fused, monkeypatch, dtype, layout):
    """Blocks of 7 rows: centred into the reused buffer, multiplied into
    their rows of the output."""
    monkeypatch.setattr(fused, "COMOMENT_BLOCK_ELEMENTS", 7 * 5)
    rng = np.random.default_rng(8)
    X = cp.asarray(np.asarray(50 + rng.normal(size=(101, 5)), dtype, order=layout))
    M, c = cp.asarray(rng.normal(size=(3, 5))), cp.asarray(50 + rng.normal(size=5))
    rtol = 1e-5 if dtype == "float32" else 1e-12
    for center, offset in ((c, None), (None, M @ c), (c, -c[:3])):
        got = cp.asnumpy(fused.linear(X, center, M, True, offset))
        ref = cp.asnumpy(generic.linear(X, center, M, True, offset))
        scale = np.max(np.abs(ref))
        np.testing.assert_allclose(got, ref, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("copy", [True, False])
def test_transform_checks_in_the_kernel(cp, copy):
    """Validation leaves the finiteness check of CuPy input to the transform
    kernels; the error still names the call, and a failed in-place transform
    leaves X as it was."""
    rng = np.random.default_rng(9)
    X_fit = cp.asarray(rng.normal(size=(50, 4)))
    X_bad = X_fit.copy()
    X_bad[7, 2] = np.inf
    before = X_bad.copy()
    for est in (sknorm.ZScore(copy=copy), sknorm.MinMax(copy=copy)):
        est.fit(X_fit)
        name = type(est).__name__
        with pytest.raises(ValueError, match=rf"{name}\.transform\(\).*infinity"):
            est.transform(X_bad)
        with pytest.raises(ValueError, match=rf"{name}\.inverse_transform\(\)"):
            est.inverse_transform(X_bad)
        cp.testing.assert_array_equal(X_bad, before)
        X_nan = X_fit.copy()
        X_nan[3, 1] = np.nan  # allowed: kept as NaN
        assert bool(cp.isnan(est.transform(X_nan)[3, 1]))
    zca = sknorm.ZCAWhitening().fit(X_fit)
    X_nan = X_fit.copy()
    X_nan[3, 1] = np.nan
    for X in (X_bad, X_nan):
        with pytest.raises(ValueError, match=r"ZCAWhitening\.transform\(\).*NaN"):
            zca.transform(X)
        with pytest.raises(ValueError, match=r"ZCAWhitening\.inverse_transform\("):
            zca.inverse_transform(X)
    with pytest.raises(ValueError, match=r"LocalResponseNormalizer\.transform"):
        sknorm.LocalResponseNormalizer().transform(X_bad)
    with config_context(assume_finite=True):
        sknorm.ZScore().fit(X_fit).transform(X_bad)  # no check, no error
