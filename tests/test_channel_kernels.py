"""The kernels behind ``channel_axis``: NumPy's per-row kernels
(``_kernels/numpy_channels``, compiled loops in ``_kernels/numba_rows``) and
the per-channel merge of ``_channels``.

References: each row reduced by NumPy in two passes in float64 (or exactly,
with Fractions), :mod:`sknorm._kernels.generic` for the transforms (same
operations in the same order: the same bits).  Every kernel runs with the
compiled loops and without them (``SKNORM_NUMBA=0``), on several threads.
"""

import contextlib
import warnings
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sknorm
from sknorm import _channels
from sknorm._array_api import namespace_of
from sknorm._channels import layout as channel_layout
from sknorm._channels import transforms as channel_transforms
from sknorm._kernels import NonFiniteError, _parallel, generic, numpy_channels


@contextlib.contextmanager
def threads(fused, n=3):
    """Several worker threads on small arrays; compiled loops on or off."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_parallel, "PARALLEL_MIN_ELEMENTS", 0)
        mp.setattr(_parallel, "BLOCK_BYTES", 4096)
        mp.setenv("SKNORM_NUM_THREADS", str(n))
        mp.setenv("SKNORM_NUMBA", "1" if fused else "0")
        yield


def _rows(seed, n_rows, length, dtype, nan, loc):
    rng = np.random.default_rng(seed)
    X = loc + rng.normal(size=(n_rows, length)) * rng.uniform(0.1, 3.0, (n_rows, 1))
    if nan == "scattered":
        X[rng.uniform(size=X.shape) < 0.2] = np.nan
    elif nan == "head":  # the working shift comes from later values
        X[:, : min(length, 70)] = np.nan
        X[:, -1] = loc
    elif nan == "row":
        X[0] = np.nan
    elif nan == "gradient":  # the head is far from the row's mean
        X += np.linspace(0.0, 50.0, length)
    return X.astype(dtype)


def _first_observed(X, period):
    """Per channel (``r % period``), its first non-NaN value in row order
    (0 where there is none): a shift close to the data."""
    shift = np.zeros(period)
    for c in range(period):
        values = np.asarray(X[c::period], np.float64).ravel()
        values = values[~np.isnan(values)]
        shift[c] = values[0] if values.size else 0.0
    return shift


def _row_reference(X, period, shift):
    V = np.asarray(X, np.float64) - shift[np.arange(len(X)) % period][:, None]
    n_obs = (~np.isnan(V)).sum(axis=1).astype(float)
    with warnings.catch_warnings():  # a row with nothing observed
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(V, axis=1)
        var = np.nanvar(V, axis=1)
    return n_obs, np.where(n_obs > 0, mean, 0.0), np.where(n_obs > 0, var, 0.0)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n_rows=st.integers(1, 12),
    length=st.sampled_from([1, 3, 15, 16, 63, 64, 65, 200, 1000, 4100]),
    period=st.integers(1, 4),
    dtype=st.sampled_from([np.float64, np.float32]),
    nan=st.sampled_from(["none", "scattered", "head", "row", "gradient"]),
    loc=st.sampled_from([0.0, 1e3, -1e8]),
    fused=st.booleans(),
)
def test_row_moments_match_two_pass(
    seed, n_rows, length, period, dtype, nan, loc, fused
):
    X = _rows(seed, n_rows, length, dtype, nan, loc)
    shift = _first_observed(X, period)
    with threads(fused):
        got = numpy_channels.row_moments(X, period, shift)
    ref = _row_reference(X, period, shift)
    np.testing.assert_array_equal(got[0], ref[0])
    spread = np.nanmax(np.abs(X.astype(float) - loc), initial=1.0)
    np.testing.assert_allclose(got[1], ref[1], rtol=1e-12, atol=1e-14 * spread)
    np.testing.assert_allclose(got[2], ref[2], rtol=1e-11, atol=1e-14 * spread**2)


@pytest.mark.parametrize("fused", [True, False])
def test_row_moments_near_the_float_maximum_and_infinity(fused):
    """Values near 1e307 (squares beyond the float range): the mean stays
    finite and exact, the variance is +inf, as in the 2-D kernels."""
    rng = np.random.default_rng(2)
    X = 1e307 * (1.0 + rng.uniform(0, 4, size=(3, 300)))
    shift = np.array([X[0, 0]])
    with threads(fused), np.errstate(over="ignore"):
        n_obs, mean, var = numpy_channels.row_moments(X, 1, shift)
    np.testing.assert_array_equal(n_obs, 300)
    for r in range(3):
        exact = float(sum(Fraction(float(x)) for x in X[r]) / 300)
        assert mean[r] + shift[0] == pytest.approx(exact, rel=1e-14)
    assert np.all(np.isposinf(var))
    X[1, 7] = np.inf
    with threads(fused), pytest.raises(NonFiniteError):
        numpy_channels.row_moments(X, 1, shift)
    with pytest.raises(NonFiniteError):
        numpy_channels.row_moments(X[:1], 1, np.array([np.inf]))


def test_row_moments_are_exact_on_a_huge_offset():
    rng = np.random.default_rng(3)
    X = 1e8 + rng.normal(0.0, 1e-3, size=(2, 5000))
    _, mean, var = numpy_channels.row_moments(X, 1, np.array([X[0, 0]]))
    for r in range(2):
        xs = [Fraction(float(x)) for x in X[r]]
        m = sum(xs) / len(xs)
        exact = float(sum((x - m) ** 2 for x in xs) / len(xs))
        assert abs(var[r] - exact) <= 1e-12 * exact
        assert abs(mean[r] + X[0, 0] - float(m)) <= 1e-15 * 1e8


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_row_min_max(fused, dtype):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(9, 700)).astype(dtype)
    X[rng.uniform(size=X.shape) < 0.3] = np.nan
    X[4] = np.nan
    with threads(fused), np.errstate(invalid="ignore"):
        lo, hi = numpy_channels.row_min_max(X)
        with pytest.warns(RuntimeWarning):  # all-NaN row 4
            np.testing.assert_array_equal(lo, np.nanmin(X, axis=1))
            np.testing.assert_array_equal(hi, np.nanmax(X, axis=1))
    assert lo.dtype == dtype
    X[2, 3] = -np.inf
    with pytest.raises(NonFiniteError):
        numpy_channels.row_min_max(X)


# ------------------------------------------------------------ transforms ----
TERMS = ["csz", "cs", "c", "s", "o", "", "cso", "scalar"]


def _terms(rng, kind, size, dtype):
    if kind == "scalar":
        return np.asarray(2.0), np.asarray(0.5), np.asarray(-1.0)
    center = rng.normal(size=size) if "c" in kind else None
    scale = rng.uniform(0.5, 2.0, size) if "s" in kind else None
    offset = rng.normal(size=size) if "o" in kind else None
    if "z" in kind:
        offset = np.zeros(size)
    return center, scale, offset


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n_rows=st.integers(1, 10),
    length=st.integers(1, 300),
    period=st.integers(1, 4),
    dtype=st.sampled_from([np.float64, np.float32]),
    terms=st.sampled_from(TERMS),
    copy=st.booleans(),
    fused=st.booleans(),
)
def test_row_and_column_affine_give_the_generic_bits(
    seed, n_rows, length, period, dtype, terms, copy, fused
):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, length)).astype(dtype)
    X[rng.uniform(size=X.shape) < 0.1] = np.nan
    center, scale, offset = _terms(rng, terms, period, dtype)
    per_row = [
        None
        if t is None
        else np.broadcast_to(t, (period,))[np.arange(n_rows) % period][:, None].astype(
            dtype
        )
        for t in (center, scale, offset)
    ]
    expected = generic.affine(X, *per_row, True)
    source = X.copy()
    with threads(fused):
        got = numpy_channels.row_affine(source, period, center, scale, offset, copy)
    np.testing.assert_array_equal(got, expected)
    assert (got is source) == (not copy)
    # Per-column terms: the same map on the transposed picture.
    columns = [
        None if t is None else np.resize(t, length) for t in (center, scale, offset)
    ]
    expected = generic.affine(X, *columns, True)
    source = X.copy()
    with threads(fused):
        got = numpy_channels.column_affine(source, *columns, copy)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("copy", [True, False])
@pytest.mark.parametrize("kernel", ["row", "column"])
def test_affine_finds_non_finite_values(fused, copy, kernel):
    X = np.ones((6, 100))
    center = np.zeros(3 if kernel == "row" else 100)

    def call(A, check):
        if kernel == "row":
            return numpy_channels.row_affine(A, 3, center, None, None, copy, check)
        return numpy_channels.column_affine(A, center, None, None, copy, check)

    with threads(fused):
        nan = X.copy()
        nan[4, 50] = np.nan
        assert np.isnan(call(nan, "inf")[4, 50])  # NaN allowed
        with pytest.raises(NonFiniteError, match="NaN or infinity"):
            call(nan.copy(), "nonfinite")
        inf = nan.copy()
        inf[2, 9] = -np.inf
        before = inf.copy()
        with pytest.raises(NonFiniteError, match="infinity"):
            call(inf, "inf")
        np.testing.assert_array_equal(inf, before)  # untouched, in place too
        np.testing.assert_array_equal(call(X.copy(), "nonfinite"), X)


@pytest.mark.parametrize("shape", [(2, 5, 9), (3, 1, 4), (1, 7, 3000)])
@pytest.mark.parametrize("size", [1, 2, 3, 6, 11])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_local_response_rows_equal_the_generic_kernel(shape, size, dtype):
    rng = np.random.default_rng(0)
    X = rng.normal(size=shape).astype(dtype)
    X[0, 0, 0] = np.nan
    expected = generic.local_response_rows(X, size, 0.7, 0.75, 1.5)
    with threads(True):
        got = numpy_channels.local_response_rows(X, size, 0.7, 0.75, 1.5)
    np.testing.assert_array_equal(got, expected)
    # The generic kernel on rows is the 2-D kernel position by position.
    flat = np.moveaxis(X, 1, -1).reshape(-1, shape[1])
    two_d = generic.local_response(flat, size, 0.7, 0.75, 1.5)
    np.testing.assert_array_equal(
        np.moveaxis(expected, 1, -1).reshape(-1, shape[1]), two_d
    )


# ----------------------------------------------------------- the channels ----
def test_layouts_and_their_views():
    lay = _channels.layout_of((8, 224, 224, 3), -1)
    assert (lay.axis, lay.before, lay.channels, lay.after) == (3, 224 * 224, 3, 1)
    assert lay.before % lay.fold == 0 and lay.fold * 3 <= channel_layout.FOLD_WIDTH
    assert lay.fold == 16 and not lay.flat
    first = _channels.layout_of((8, 3, 224, 224), 1)
    assert (first.before, first.after, first.fold) == (1, 224 * 224, 1)
    assert first.uses_rows(np) and not first.uses_rows(sknorm)  # NumPy only
    assert _channels.layout_of((8, 7, 3), -1).fold == 7  # a divisor of A
    assert _channels.layout_of((8, 13, 5), -1).fold == 1  # 13 is prime > 12
    assert _channels.layout_of((8, 200), 1).flat
    assert _channels.layout_of((4, 5, 3, 7), 2).term_shape == (3, 1)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    parts=st.integers(1, 6),
    channels=st.integers(1, 3),
    loc=st.sampled_from([0.0, 1e8]),
)
def test_merge_parts_is_the_moments_of_the_union(seed, parts, channels, loc):
    rng = np.random.default_rng(seed)
    data = [
        [loc + rng.normal(size=rng.integers(0, 6)) for _ in range(channels)]
        for _ in range(parts)
    ]
    for c in range(channels):
        data[0][c] = np.append(data[0][c], loc)  # every channel seen
    count = np.array([[len(d) for d in p] for p in data], float)
    shift = np.array([[d[0] if len(d) else 0.0 for d in p] for p in data])
    mean = np.array([[np.mean(d - d[0]) if len(d) else 0.0 for d in p] for p in data])
    var = np.array([[np.var(d) if len(d) else 0.0 for d in p] for p in data])
    merged = _channels.merge_parts(namespace_of(mean), count, count, shift, mean, var)
    for c in range(channels):
        union = np.concatenate([p[c] for p in data])
        np.testing.assert_allclose(
            merged.location[c], union.mean(), rtol=0, atol=1e-14 * max(1.0, loc)
        )
        np.testing.assert_allclose(
            merged.var[c], np.var(union - loc), rtol=1e-9, atol=1e-30
        )
    np.testing.assert_array_equal(merged.count, count.sum(axis=0))


@pytest.mark.parametrize(
    "shape, axis", [((3, 3, 70, 40), 1), ((3, 20, 20, 3), -1), ((3, 4, 9), 1)]
)
def test_estimators_give_the_same_numbers_without_numba(shape, axis):
    rng = np.random.default_rng(5)
    X = 100.0 + rng.normal(size=shape)
    X[0, 0] = np.nan
    results = []
    for fused in (True, False):
        with threads(fused):
            z = sknorm.ZScore(channel_axis=axis).fit(X)
            results.append((z.mean_, z.var_, z.transform(X)))
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize(
    "shape, axis",
    [((3, 4, 5, 6), 1), ((3, 5, 6, 4), -1), ((3, 5, 4, 6), 2), ((4, 3), 1)],
)
@pytest.mark.parametrize("copy", [True, False])
def test_columns_affine_is_the_broadcast_map(shape, axis, copy):
    """The route CuPy's transforms take (the backend's 2-D kernel on the
    columns view, terms repeated per column), run here with NumPy's 2-D
    kernel: the broadcast map, back in X's shape."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=shape)
    X.flat[5] = np.nan
    C = shape[axis]
    center, scale = rng.normal(size=C), rng.uniform(0.5, 2.0, C)
    offset = np.asarray(0.25)
    term = (C,) + (1,) * (len(shape) - 1 - axis % len(shape))
    expected = (X - center.reshape(term)) * scale.reshape(term) + offset
    layout = _channels.layout_of(shape, axis)
    source = X.copy()
    xp, view = channel_layout.viewed(source, layout)
    got = channel_transforms._columns_affine(
        xp, source, view, (center, scale, offset), copy, None
    )
    np.testing.assert_allclose(got, expected, rtol=1e-15, atol=1e-15)
    assert (got is source) == (not copy)
    bad = X.copy()
    bad.flat[7] = np.inf
    _, view = channel_layout.viewed(bad, layout)
    with pytest.raises(NonFiniteError):
        channel_transforms._columns_affine(
            xp, bad, view, (center, None, None), copy, "inf"
        )
