"""The compiled small-batch paths of the NumPy kernels (numba).

A ZScore / MiniBatchNormalizer / MinMax ``partial_fit`` batch too small for
the worker threads is merged into the running state by compiled calls
(``numpy_blocked.update_moments``, ``update_min_max``, ``batchnorm_step``).
Checked here against independent references (exact rational arithmetic, a
one-pass ``generic`` reference over all the rows seen, ``nanmin`` and
``nanmax``) and against the step-by-step NumPy composition in ``_stats``
and ``MiniBatchNormalizer._step``.
"""

import itertools
import threading
import warnings
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kernel_cases import CASES, assert_moments_close, make_weights, make_X

from sknorm import MiniBatchNormalizer, MinMax, ZScore
from sknorm._kernels import NonFiniteError, _parallel, generic, numpy_blocked
from sknorm._stats import MinMaxState, Moments, update_min_max, update_moments

pytest.importorskip("numba")
from sknorm._kernels import numba_cpu

pytestmark = pytest.mark.skipif(
    not numba_cpu.enabled(), reason="numba switched off (SKNORM_NUMBA=0)"
)


def _python_update(state, X, w):
    """_stats.update_moments without the compiled call."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(numpy_blocked, "update_moments", lambda *a: NotImplemented)
        return update_moments(state, X, w, np.float64)


def _stream(batches, weights, update):
    state = None
    for X, w in zip(batches, weights, strict=True):
        state = update(state, X, w)
    return state


# A stream: 1-4 batches of the given sizes, cut from one make_X array.
STREAMS = dict(
    sizes=st.lists(st.integers(1, 120), min_size=1, max_size=4),
    **{k: CASES[k] for k in ("seed", "f", "dtype", "nan", "loc")},
)


def _batch_rows(sizes):
    """``(start, stop)`` of consecutive batches of these sizes."""
    return list(itertools.pairwise(np.cumsum([0, *sizes])))


# ------------------------------------------------- update_moments ----
@settings(max_examples=60, deadline=None)
@given(**STREAMS, weights=CASES["weights"])
def test_stream_matches_one_pass_and_the_numpy_path(
    sizes, seed, f, dtype, nan, loc, weights
):
    X = make_X(seed, sum(sizes), f, dtype, nan, loc, "C")
    w = make_weights(seed, sum(sizes), weights)
    rows = _batch_rows(sizes)
    batches = [X[a:b] for a, b in rows]
    bw = [None if w is None else w[a:b] for a, b in rows]

    def compiled(state, Xb, wb):
        result = numpy_blocked.update_moments(state, Xb, wb, np.float64)
        assert result is not NotImplemented  # the compiled path ran
        return Moments(*result)

    got = _stream(batches, bw, compiled)
    numpy_path = _stream(batches, bw, _python_update)
    # One pass over all the rows, around the final shift.
    ref = generic.moments(X, got.shift, w, np.float64)
    location = (got.count, got.n_obs, got.mean, got.var)
    assert_moments_close(location, ref, X, got.shift)
    # The same operations in the same order (no fused multiply-add on either
    # side): the same bits, so that a future drift shows.
    for name in Moments._fields:
        np.testing.assert_array_equal(
            getattr(got, name), getattr(numpy_path, name), err_msg=name
        )


def _exact_mean_var(column):
    """Mean and population variance in exact rational arithmetic."""
    values = [Fraction(v) for v in column[~np.isnan(column)]]
    mean = sum(values) / len(values)
    return float(mean), float(sum((v - mean) ** 2 for v in values) / len(values))


def test_stream_against_exact_arithmetic():
    """1e8 + N(0, 1e-3) with NaNs, in 10 batches: mean and variance to a few
    ulps of the exact values (NumPy's two-pass ``nanvar`` is off by 8e-9
    relative on these data)."""
    rng = np.random.default_rng(3)
    X = 1e8 + 1e-3 * rng.normal(size=(2_000, 4))
    X[rng.uniform(size=X.shape) < 0.05] = np.nan
    state = None
    for b in np.array_split(X, 10):
        state = Moments(*numpy_blocked.update_moments(state, b, None, np.float64))
    exact = np.array([_exact_mean_var(X[:, j]) for j in range(4)])
    np.testing.assert_allclose(state.location, exact[:, 0], rtol=1e-15)
    np.testing.assert_allclose(state.var, exact[:, 1], rtol=1e-14)
    np.testing.assert_array_equal(state.n_obs, np.sum(~np.isnan(X), axis=0))


def test_features_first_seen_in_a_later_batch():
    """A feature NaN throughout the first batch takes its shift from the
    batch where it is first observed (not a placeholder 0)."""
    rng = np.random.default_rng(4)
    X = 1e6 + rng.normal(size=(300, 3))
    X[:100, 1] = np.nan
    state = None
    for b in (X[:100], X[100:200], X[200:]):
        state = Moments(*numpy_blocked.update_moments(state, b, None, np.float64))
    assert state.shift[1] > 1e5
    np.testing.assert_allclose(state.var, np.nanvar(X, axis=0), rtol=1e-10)
    np.testing.assert_array_equal(state.n_obs, [300, 200, 300])


@pytest.mark.parametrize(
    "case",
    ["Fortran order", "float32 statistics", "large"],
)
def test_update_moments_leaves_other_batches_to_numpy(case):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(400, 3))
    dtype = np.float64
    if case == "Fortran order":
        X = np.asfortranarray(X)
    elif case == "float32 statistics":
        dtype = np.float32
    elif case == "large":
        X = rng.normal(size=(_parallel.PARALLEL_MIN_ELEMENTS // 3 + 1, 3))
    assert numpy_blocked.update_moments(None, X, None, dtype) is NotImplemented
    # ... and _stats composes the same statistics from the NumPy path.
    state = update_moments(None, X, None, dtype)
    np.testing.assert_allclose(state.location, X.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(state.var, X.var(axis=0), rtol=1e-5)


@pytest.mark.parametrize("rows", [1, 2, 500])
def test_head_rows_far_from_the_batch_mean(rows):
    """A level that moves by 1e6 after the head rows, and one-row batches
    (whose head mean is the value, rounded): the batch is summed again
    around its own mean, not with 12 digits lost."""
    rng = np.random.default_rng(8)
    X = 3.0 + rng.normal(size=(rows, 2))
    X[numpy_blocked.HEAD_ROWS :] += 1e6
    state = Moments(*numpy_blocked.update_moments(None, X, None, np.float64))
    exact = np.array([_exact_mean_var(X[:, j]) for j in range(2)])
    np.testing.assert_allclose(state.location, exact[:, 0], rtol=1e-15)
    np.testing.assert_allclose(state.var, exact[:, 1], rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_infinity_is_left_to_the_numpy_path_which_raises(value):
    X = np.random.default_rng(6).normal(size=(50, 3))
    X[20, 2] = value
    assert numpy_blocked.update_moments(None, X, None, np.float64) is NotImplemented
    with pytest.raises(NonFiniteError, match="infinity"):
        update_moments(None, X, None, np.float64)


def test_streams_on_several_threads_at_once():
    """The compiled updates release the GIL: four estimators streamed on
    four threads at once each see only their own data."""
    rng = np.random.default_rng(7)
    data = [5 + rng.normal(size=(600, 4)) for _ in range(4)]

    def stream(X, out, i):
        est, mm = ZScore(), MinMax()
        for b in np.array_split(X, 6):
            est.partial_fit(b)
            mm.partial_fit(b)
        out[i] = (est.mean_, est.var_, mm.data_min_, mm.data_max_)

    results = [None] * 4
    threads = [
        threading.Thread(target=stream, args=(X, results, i))
        for i, X in enumerate(data)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for X, (mean, var, lo, hi) in zip(data, results, strict=True):
        np.testing.assert_allclose(mean, X.mean(axis=0), rtol=1e-14)
        np.testing.assert_allclose(var, X.var(axis=0), rtol=1e-12)
        np.testing.assert_array_equal(lo, X.min(axis=0))
        np.testing.assert_array_equal(hi, X.max(axis=0))


# ------------------------------------------------- update_min_max ----
@settings(max_examples=40, deadline=None)
@given(**STREAMS)
def test_min_max_stream_matches_nanmin_nanmax(sizes, seed, f, dtype, nan, loc):
    X = make_X(seed, sum(sizes), f, dtype, nan, loc, "C")
    state = None
    for a, b in _batch_rows(sizes):
        result = numpy_blocked.update_min_max(state, X[a:b])
        assert result is not NotImplemented
        state = MinMaxState(*result)
        assert state.min.dtype == X.dtype
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        np.testing.assert_array_equal(state.min, np.nanmin(X, axis=0))
        np.testing.assert_array_equal(state.max, np.nanmax(X, axis=0))


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_min_max_update_raises_on_infinity_and_keeps_the_state(value):
    X = np.random.default_rng(9).normal(size=(40, 3))
    state = MinMaxState(*numpy_blocked.update_min_max(None, X))
    before = (state.min.copy(), state.max.copy())
    bad = X.copy()
    bad[17, 1] = value
    with pytest.raises(NonFiniteError, match="infinity"):
        numpy_blocked.update_min_max(state, bad)
    np.testing.assert_array_equal(state.min, before[0])
    np.testing.assert_array_equal(state.max, before[1])


def test_updates_leave_a_state_of_another_width_to_numpy():
    X = np.random.default_rng(12).normal(size=(30, 6))
    state = update_moments(None, X[:, :2], None, np.float64)
    assert numpy_blocked.update_moments(state, X, None, np.float64) is NotImplemented
    with pytest.raises(ValueError, match="broadcast"):
        update_moments(state, X, None, np.float64)
    running = (np.zeros(2), np.ones(2), np.ones(2), np.ones(2))
    step = numpy_blocked.batchnorm_step(
        running, X, None, momentum=0.1, first_batch=True, gamma=1.0, eps=1e-5
    )
    assert step is NotImplemented
    empty = numpy_blocked.update_min_max(None, X[:, :0])
    assert [a.shape for a in empty] == [(0,), (0,)]


def test_min_max_update_leaves_a_state_of_another_dtype_to_numpy():
    X = np.random.default_rng(10).normal(size=(40, 3))
    state = MinMaxState(X.min(axis=0), X.max(axis=0))
    X32 = X.astype(np.float32)
    assert numpy_blocked.update_min_max(state, X32) is NotImplemented
    merged = update_min_max(state, X32)
    np.testing.assert_array_equal(merged.min, np.minimum(state.min, X32.min(axis=0)))


# ------------------------------------------------- batchnorm_step ----
@pytest.mark.parametrize("momentum", [0.1, None, 0.75])
@pytest.mark.parametrize("init", ["first_batch", "pytorch"])
@pytest.mark.parametrize("weighted", [False, True])
def test_batchnorm_step_matches_the_numpy_step(momentum, init, weighted):
    """MiniBatchNormalizer's compiled training step against its NumPy
    ``_step`` (the same operations in the same order: the same bits), batch
    after batch: NaNs (a feature unseen in the first
    batch), a one-row batch (no variance update) and zero weights."""
    rng = np.random.default_rng(11)
    X = 40 + 3 * rng.normal(size=(260, 4))
    X[rng.uniform(size=X.shape) < 0.1] = np.nan
    X[:50, 3] = np.nan
    w = rng.uniform(0, 2, size=260) if weighted else None
    if weighted:
        w[rng.uniform(size=260) < 0.2] = 0.0
    edges = [0, 50, 51, 130, 260]

    def stream():
        est = MiniBatchNormalizer(momentum=momentum, init=init)
        outputs = []
        for a, b in itertools.pairwise(edges):
            sw = None if w is None else w[a:b]
            outputs.append(est.normalize_batch(X[a:b], sample_weight=sw))
        return est, outputs

    calls = []
    real = numpy_blocked.batchnorm_step

    def counting(*args, **kwargs):
        result = real(*args, **kwargs)
        calls.append(result is not NotImplemented)
        return result

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(numpy_blocked, "batchnorm_step", counting)
        got, got_out = stream()
    assert calls == [True] * 4  # the compiled step ran for every batch
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(numpy_blocked, "batchnorm_step", lambda *a, **k: NotImplemented)
        ref, ref_out = stream()
    for name in ("running_mean_", "running_var_", "_mean_updates_", "_var_updates_"):
        np.testing.assert_array_equal(
            getattr(got, name), getattr(ref, name), err_msg=name
        )
    assert got.n_samples_seen_ == ref.n_samples_seen_ == 260
    for a, b in zip(got_out, ref_out, strict=True):
        np.testing.assert_array_equal(a, b)


# ------------------------------------- module-level loops, fixed variants ----
def test_import_sknorm_imports_no_numba():
    """The loops' modules (which import numba) load on first use only."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np, sknorm\n"
        "loops = ('numba', 'sknorm._kernels.numba_columns',"
        " 'sknorm._kernels.numba_rows')\n"
        "assert not [m for m in loops if m in sys.modules], sys.modules.keys()\n"
        "sknorm.ZScore().fit(np.ones((5, 2)))\n"
        "assert 'sknorm._kernels.numba_columns' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=600)


def _read_only(a):
    a = a.copy()
    a.setflags(write=False)
    return a


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_read_only_input_runs_the_same_compiled_loops(dtype):
    """Read-only X (a memory map, a frozen array) matches the loops'
    read-only signatures: the compiled paths run and give the bits a
    writable X gets; and no loop compiles a variant of its own."""
    from sknorm import ZCAWhitening
    from sknorm._kernels import numba_columns, numba_rows

    rng = np.random.default_rng(13)
    X = (50 + rng.normal(size=(300, 5))).astype(dtype)
    images = (50 + rng.normal(size=(6, 3, 4, 4))).astype(dtype)
    frozen, frozen_images = _read_only(X), _read_only(images)

    def run(X, images):
        zs = ZScore().partial_fit(X[:100]).partial_fit(X[100:])
        mm = MinMax().partial_fit(X[:100]).partial_fit(X[100:])
        bn = MiniBatchNormalizer()
        out = [bn.normalize_batch(X[:100]), bn.normalize_batch(X[100:])]
        zca = ZCAWhitening().partial_fit(X[:100]).partial_fit(X[100:])
        per_row = ZScore(channel_axis=1).fit(images)
        return [
            zs.mean_, zs.var_, zs.transform(X), ZScore().fit(X).var_,
            mm.data_min_, mm.transform(X), bn.running_var_, *out,
            zca.covariance_, per_row.var_, per_row.transform(images),
        ]  # fmt: skip

    for got, expected in zip(run(frozen, frozen_images), run(X, images), strict=True):
        np.testing.assert_array_equal(got, expected)
    for module in (numba_columns, numba_rows):
        for name in dir(module):
            loop = getattr(module, name)
            if hasattr(loop, "signatures") and hasattr(loop, "py_func"):
                assert not loop._can_compile, name  # its variants were given
                assert len(loop.signatures) <= 3, name


def test_a_strided_running_state_takes_the_compiled_step():
    """The steps read a state's vectors through any strides (a column of a
    packed array): compiled, with the bits of a contiguous state."""
    rng = np.random.default_rng(14)
    X = 10 + rng.normal(size=(200, 4))
    state = update_moments(None, X[:100], None, np.float64)
    packed = np.stack(state, axis=1).copy()  # (features, 5)
    strided = Moments(*(packed[:, k] for k in range(5)))
    assert not strided.mean.flags.c_contiguous
    got = numpy_blocked.update_moments(strided, X[100:], None, np.float64)
    assert got is not NotImplemented
    expected = numpy_blocked.update_moments(state, X[100:], None, np.float64)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)


def test_unaligned_input_runs_the_same_compiled_loops():
    """Unaligned arrays (Dask's distributed workers hand chunks out so, as
    views into a byte buffer) match the loops' signatures: the compiled
    paths run them, with the bits an aligned copy gets (a distributed fit
    is bit-identical to a local one)."""
    rng = np.random.default_rng(15)
    X = 7 + rng.normal(size=(64, 3))
    raw = np.zeros(X.nbytes + 1, np.uint8)
    unaligned = np.frombuffer(raw.data, np.float64, X.size, offset=1).reshape(X.shape)
    unaligned[...] = X
    assert not unaligned.flags.aligned
    from sknorm._kernels.numpy_common import use_compiled

    assert use_compiled(unaligned)
    for Est in (ZScore, MinMax, MiniBatchNormalizer):
        a, b = Est().fit(unaligned), Est().fit(X)
        np.testing.assert_array_equal(a.transform(unaligned), b.transform(X))
        state = numpy_blocked.update_moments(None, unaligned, None, np.float64)
        assert state is not NotImplemented
        expected = numpy_blocked.update_moments(None, X, None, np.float64)
        for got, ref in zip(state, expected, strict=True):
            np.testing.assert_array_equal(got, ref)
    in_place = unaligned.copy()  # aligned: the transform writes into X
    np.testing.assert_array_equal(
        ZScore(copy=False).fit(X).transform(unaligned), ZScore().fit(X).transform(X)
    )
    assert in_place.flags.aligned


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_column_affine_check_bit_notes_only(dtype):
    """The affine loop's CHECK bit notes +-inf and NaN (returned flags) and
    changes no output bit; without it the loop returns 0."""
    from sknorm._kernels import numba_columns

    rng = np.random.default_rng(16)
    X = rng.normal(size=(50, 7)).astype(dtype)
    X[3, 2], X[40, 6] = np.inf, np.nan
    c, s, o = (rng.normal(size=7).astype(dtype) for _ in range(3))
    inf = dtype(np.inf)
    reference = ((X - c) * s + o).astype(dtype)
    for check, flags in ((0, 0), (numba_cpu.CHECK, 3)):
        out = np.empty_like(X)
        bits = numba_columns.column_affine(X, out, 0, 50, c, s, o, 7 | check, inf)
        assert bits == flags
        np.testing.assert_array_equal(out, reference)
    finite = np.nan_to_num(X, nan=0.0, posinf=1.0)
    out = np.empty_like(X)
    assert numba_columns.column_affine(finite, out, 0, 50, c, s, o, 15, inf) == 0


@pytest.mark.parametrize("case", ["float64", "float32 blocks", "weighted", "far head"])
def test_compiled_comoment_tail_gives_numpys_bits(case):
    """numpy_blocked.comoments's tail (mean, symmetrised covariance, the far
    test, the finiteness flags) compiled gives the NumPy expressions' bits
    on the same block sums; the co-moments are np.cov's."""
    rng = np.random.default_rng(17)
    X = 1e4 + rng.normal(size=(5000, 9)) * rng.uniform(0.01, 100, 9)
    w = rng.uniform(0, 2, 5000) if case == "weighted" else None
    single = case == "float32 blocks"
    if single:
        X = X.astype(np.float32)
    c = X[:50].astype(np.float64).mean(axis=0)  # a head mean: near the mean
    if case == "far head":
        c[2] += 1e4  # far from the mean: flagged
    sums = numpy_blocked._comoment_sums(X, c, w, 1000, single)
    compiled = numpy_blocked._finish_comoments(*sums)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SKNORM_NUMBA", "0")
        plain = numpy_blocked._finish_comoments(*sums)
    for got, expected in zip(compiled, plain, strict=True):
        np.testing.assert_array_equal(got, expected)
    assert compiled[3] == (1 if case == "far head" else 0)
    assert compiled[2][2] == (case == "far head")
    shift = X[0].astype(np.float64)
    _, mean, cov = numpy_blocked.comoments(X, shift, w, np.float64)
    X64 = X.astype(np.float64)
    ref = np.cov(X64, rowvar=False, aweights=w, bias=True)
    rtol = 1e-6 if single else 1e-11
    np.testing.assert_allclose(cov, ref, rtol=rtol, atol=rtol * np.abs(ref).max())
    np.testing.assert_allclose(shift + mean, np.average(X64, axis=0, weights=w))
    bad = sums[1].copy()
    bad[4] = np.nan
    for numba in ("1", "0"):
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("SKNORM_NUMBA", numba)
            assert numpy_blocked._finish_comoments(sums[0], bad, sums[2])[3] & 6 == 6
