"""``channel_axis``: per-channel statistics of N-D arrays, and their transforms.

References are independent of sknorm: each channel's values moved to one
float64 column by NumPy (``np.moveaxis``, a copy made by the test) and
reduced there in two passes, or with exact ``fractions.Fraction``
arithmetic for the streaming property.  The PyTorch layers themselves are
the references of ``tests/test_channels_torch.py``.
"""

import itertools
import tracemalloc
from fractions import Fraction

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import config_context

from sknorm import LocalResponseNormalizer, MiniBatchNormalizer, MinMax, ZScore

# (shape, channel_axis): every layout the issue names, and the two routes of
# sknorm._channels (rows: long channels-first rows on NumPy; columns: the
# rest, folded when narrow).
LAYOUTS = [
    ((5, 3, 4, 6), 1),  # (N, C, H, W), short rows: columns
    ((3, 3, 40, 60), 1),  # (N, C, H, W), long rows: the rows route
    ((5, 4, 6, 3), -1),  # (N, H, W, C): folded columns
    ((4, 70, 5), 2),  # (N, H, C): channels last, wider than a fold
    ((6, 2, 33), 1),  # (N, C, L): BatchNorm1d's 3-D input
    ((3, 2, 3, 4, 5), 1),  # (N, C, D, H, W)
    ((4, 5, 3, 7), 2),  # (N, H, C, W): channels in the middle
    ((7, 3), 1),  # 2-D with channel_axis: per feature
]


def _ids(layout):
    shape, axis = layout
    return f"{'x'.join(map(str, shape))}-axis{axis}"


def _columns(X, axis):
    """Each channel's values as one row of a float64 matrix (a copy)."""
    X = np.asarray(X, np.float64)
    return np.moveaxis(X, axis, 0).reshape(X.shape[axis], -1)


def _sample_weights_per_value(w, shape, axis):
    """Each sample's weight at every one of its values, channel by channel."""
    full = np.broadcast_to(np.reshape(w, (-1,) + (1,) * (len(shape) - 1)), shape)
    return _columns(full, axis)


def _reference(X, axis, w=None):
    """Per-channel mean and population variance: two passes in float64."""
    V = _columns(X, axis)
    W = np.ones_like(V) if w is None else _sample_weights_per_value(w, X.shape, axis)
    W = np.where(np.isnan(V), 0.0, W)
    V0 = np.where(np.isnan(V), 0.0, V)
    total = W.sum(axis=1)
    with np.errstate(invalid="ignore"):  # a channel with nothing observed: NaN
        mean = (W * V0).sum(axis=1) / total
        var = (W * (V0 - mean[:, None]) ** 2).sum(axis=1) / total
    return mean, var


def _data(rng, shape, axis, loc=5.0, dtype="float64"):
    """Values of another mean and spread in every channel."""
    C = shape[axis]
    term = (C,) + (1,) * (len(shape) - 1 - axis % len(shape))
    scale = rng.uniform(0.5, 3.0, C).reshape(term)
    offset = (loc + rng.normal(0, 3.0, C)).reshape(term)
    return (rng.normal(size=shape) * scale + offset).astype(dtype)


def _np(backend, a):
    return np.asarray(backend.to_numpy(a))


# ------------------------------------------------------------- statistics --
@pytest.mark.parametrize("layout", LAYOUTS, ids=_ids)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_zscore_statistics_per_channel(backend, layout, dtype, rng):
    shape, axis = layout
    X = _data(rng, shape, axis, dtype=dtype)
    est = ZScore(channel_axis=axis).fit(backend.asarray(X))
    mean, var = _reference(X, axis)
    assert est.n_features_in_ == shape[axis]
    assert est.mean_.shape == (shape[axis],)
    assert type(est.mean_) is type(backend.asarray(X))  # fitted in X's namespace
    np.testing.assert_allclose(_np(backend, est.mean_), mean, rtol=1e-12)
    np.testing.assert_allclose(_np(backend, est.var_), var, rtol=1e-12)
    assert est.n_samples_seen_ == X.size // shape[axis]  # values per channel
    Y = est.transform(backend.asarray(X))
    assert tuple(Y.shape) == shape
    assert _np(backend, Y).dtype == np.dtype(dtype)
    term = (shape[axis],) + (1,) * (len(shape) - 1 - axis % len(shape))
    expected = (X.astype(np.float64) - mean.reshape(term)) / np.sqrt(var).reshape(term)
    tol = 1e-12 if dtype == "float64" else 2e-6
    np.testing.assert_allclose(_np(backend, Y), expected, rtol=tol, atol=tol)
    back = est.inverse_transform(Y)
    np.testing.assert_allclose(_np(backend, back), X, rtol=tol * 10, atol=tol * 10)


@pytest.mark.parametrize("layout", LAYOUTS, ids=_ids)
def test_minmax_range_per_channel(backend, layout, rng):
    shape, axis = layout
    X = _data(rng, shape, axis)
    est = MinMax(feature_range=(-1, 1), channel_axis=axis).fit(backend.asarray(X))
    V = _columns(X, axis)
    np.testing.assert_array_equal(_np(backend, est.data_min_), V.min(axis=1))
    np.testing.assert_array_equal(_np(backend, est.data_max_), V.max(axis=1))
    Y = _np(backend, est.transform(backend.asarray(X)))
    assert Y.shape == shape
    np.testing.assert_allclose(_columns(Y, axis).min(axis=1), -1.0, atol=1e-12)
    np.testing.assert_allclose(_columns(Y, axis).max(axis=1), 1.0, atol=1e-12)
    back = est.inverse_transform(backend.asarray(Y))
    np.testing.assert_allclose(_np(backend, back), X, rtol=1e-12, atol=1e-12)
    assert est.n_samples_seen_ == shape[0]


@pytest.mark.parametrize("layout", LAYOUTS[:3] + LAYOUTS[5:6], ids=_ids)
def test_nan_is_ignored_per_channel_and_kept(backend, layout, rng):
    shape, axis = layout
    X = _data(rng, shape, axis)
    X[rng.uniform(size=shape) < 0.2] = np.nan
    # One channel NaN in the first sample: its shift comes from a later one.
    np.moveaxis(X, axis, 1)[0, 0] = np.nan
    z = ZScore(channel_axis=axis).fit(backend.asarray(X))
    mean, var = _reference(X, axis)
    np.testing.assert_allclose(_np(backend, z.mean_), mean, rtol=1e-12)
    np.testing.assert_allclose(_np(backend, z.var_), var, rtol=1e-12)
    counts = (~np.isnan(_columns(X, axis))).sum(axis=1)
    np.testing.assert_array_equal(_np(backend, z.n_samples_seen_), counts)
    Y = _np(backend, z.transform(backend.asarray(X)))
    np.testing.assert_array_equal(np.isnan(Y), np.isnan(X))
    m = MinMax(channel_axis=axis).fit(backend.asarray(X))
    np.testing.assert_array_equal(
        _np(backend, m.data_min_), np.nanmin(_columns(X, axis), axis=1)
    )


def test_channel_with_no_observed_value_has_nan_statistics(rng):
    X = rng.normal(size=(4, 3, 70, 40))
    X[:, 1] = np.nan
    z = ZScore(channel_axis=1).fit(X)
    assert np.isnan(z.mean_[1]) and np.isnan(z.var_[1])
    np.testing.assert_allclose(z.mean_[[0, 2]], _reference(X, 1)[0][[0, 2]])


@pytest.mark.parametrize("layout", LAYOUTS[:4], ids=_ids)
def test_sample_weight_weights_every_position_of_a_sample(backend, layout, rng):
    shape, axis = layout
    X = _data(rng, shape, axis)
    w = rng.uniform(0.0, 2.0, shape[0])
    w[1] = 0.0
    z = ZScore(channel_axis=axis).fit(backend.asarray(X), sample_weight=w)
    mean, var = _reference(X, axis, w)
    np.testing.assert_allclose(_np(backend, z.mean_), mean, rtol=1e-12)
    np.testing.assert_allclose(_np(backend, z.var_), var, rtol=1e-12)
    positions = X.size // shape[0] // shape[axis]
    assert z.n_samples_seen_ == pytest.approx(w.sum() * positions, rel=1e-14)


def test_integer_weights_equal_repeated_samples(rng):
    X = rng.normal(size=(5, 3, 50, 50))
    w = np.array([1, 0, 3, 2, 1])
    z = ZScore(channel_axis=1).fit(X, sample_weight=w)
    repeated = ZScore(channel_axis=1).fit(np.repeat(X, w, axis=0))
    np.testing.assert_allclose(z.mean_, repeated.mean_, rtol=1e-13)
    np.testing.assert_allclose(z.var_, repeated.var_, rtol=1e-12)


def test_huge_offset_keeps_the_variance_exact(rng):
    for shape, axis in [((4, 3, 64, 64), 1), ((4, 16, 16, 3), -1)]:
        X = 1e8 + rng.normal(0.0, 1e-3, size=shape)
        z = ZScore(channel_axis=axis).fit(X)
        V = _columns(X, axis) - 1e8  # exact: the offset subtracts exactly
        np.testing.assert_allclose(z.var_, V.var(axis=1), rtol=1e-10)


def test_values_near_the_float_maximum_do_not_overflow():
    X = np.full((2, 2, 8, 40), 1.5e308)
    X[:, :, ::2] = 1.0e308
    z = ZScore(channel_axis=1).fit(X)
    np.testing.assert_allclose(z.mean_, 1.25e308, rtol=1e-14)
    assert np.all(np.isposinf(z.var_))  # a spread beyond the float range


# --------------------------------------------------------------- streaming --
def _exact_mean_var(values):
    """Mean and population variance of float64 values, exactly."""
    xs = [Fraction(float(v)) for v in values if v == v]
    mean = sum(xs) / len(xs)
    return float(mean), float(sum((x - mean) ** 2 for x in xs) / len(xs))


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    channels_last=st.booleans(),
    n_channels=st.integers(1, 3),
    batches=st.lists(
        st.tuples(st.integers(1, 4), st.integers(1, 9), st.integers(1, 80)),
        min_size=1,
        max_size=5,
    ),
    loc=st.sampled_from([0.0, 1e8, -3e5]),
    nan_fraction=st.sampled_from([0.0, 0.2]),
)
def test_any_stream_of_any_spatial_sizes_is_exact(
    seed, channels_last, n_channels, batches, loc, nan_fraction
):
    """Batches of images of different sizes, in any split: the statistics of
    all their values, to 1e-12 relative (an exact Fraction reference)."""
    rng = np.random.default_rng(seed)
    axis = -1 if channels_last else 1
    spread = rng.uniform(1e-3, 10.0)
    est, values = ZScore(channel_axis=axis), [[] for _ in range(n_channels)]
    for n, h, w in batches:
        shape = (n, h, w, n_channels) if channels_last else (n, n_channels, h, w)
        X = loc + spread * rng.normal(size=shape)
        X[rng.uniform(size=shape) < nan_fraction] = np.nan
        np.moveaxis(X, axis, 1)[0, :, 0, 0] = loc  # every channel seen
        est.partial_fit(X)
        for c, col in enumerate(_columns(X, axis)):
            values[c].extend(col)
    for c in range(n_channels):
        mean, var = _exact_mean_var(values[c])
        assert abs(est.mean_[c] - mean) <= 1e-12 * max(abs(mean), spread)
        assert abs(est.var_[c] - var) <= 1e-12 * var + 1e-300


@pytest.mark.parametrize("layout", LAYOUTS, ids=_ids)
def test_partial_fit_equals_fit(backend, layout, rng):
    shape, axis = layout
    X = _data(rng, shape, axis, loc=1e4)
    one = ZScore(channel_axis=axis).fit(backend.asarray(X))
    streamed = ZScore(channel_axis=axis)
    for part in np.array_split(X, min(3, shape[0])):
        streamed.partial_fit(backend.asarray(part))
    for name in ("mean_", "var_"):
        np.testing.assert_allclose(
            _np(backend, getattr(streamed, name)),
            _np(backend, getattr(one, name)),
            rtol=1e-12,
        )
    mm, mm_streamed = MinMax(channel_axis=axis).fit(X), MinMax(channel_axis=axis)
    for part in np.array_split(X, min(3, shape[0])):
        mm_streamed.partial_fit(part)
    np.testing.assert_array_equal(mm_streamed.data_min_, mm.data_min_)


def test_later_batches_may_change_spatial_size(rng):
    est = MiniBatchNormalizer(channel_axis=1, momentum=None)
    sizes = [(4, 3, 8, 8), (2, 3, 16, 5), (7, 3, 1, 1)]
    for shape in sizes:
        est.partial_fit(rng.normal(size=shape))
    assert est.n_batches_seen_ == 3 and est.n_samples_seen_ == 13
    assert est.transform(rng.normal(size=(1, 3, 30, 2))).shape == (1, 3, 30, 2)


# -------------------------------------------------------------- transforms --
@pytest.mark.parametrize("layout", LAYOUTS[:4], ids=_ids)
def test_copy_false_writes_into_X(layout, rng):
    shape, axis = layout
    X = _data(rng, shape, axis)
    z = ZScore(channel_axis=axis, copy=False).fit(X)
    expected = ZScore(channel_axis=axis).fit(X).transform(X)
    Y = z.transform(X)
    assert Y is X
    np.testing.assert_array_equal(X, expected)


def test_transposed_views_are_read_in_place(rng):
    """A channels-first view of channels-last memory (and the reverse): the
    same statistics, no copy in fit, and copy=False writes through."""
    last = _data(rng, (4, 30, 40, 3), -1)
    first_view = np.transpose(last, (0, 3, 1, 2))  # (N, C, H, W), not C-ordered
    assert not first_view.flags.c_contiguous
    a = ZScore(channel_axis=1).fit(first_view)
    b = ZScore(channel_axis=-1).fit(last)
    np.testing.assert_allclose(a.mean_, b.mean_, rtol=1e-13)
    np.testing.assert_allclose(a.var_, b.var_, rtol=1e-12)
    Y = a.transform(first_view)
    np.testing.assert_allclose(Y, np.transpose(b.transform(last), (0, 3, 1, 2)))
    assert Y.strides == np.empty_like(first_view).strides or Y.shape == first_view.shape
    expected = Y.copy()
    a.set_params(copy=False)
    assert a.transform(first_view) is first_view
    np.testing.assert_allclose(last, np.transpose(expected, (0, 2, 3, 1)))
    # A strided slice that no permutation makes contiguous: a copy, same numbers.
    sliced = _data(rng, (4, 3, 20, 20), 1)[:, :, ::2, ::3]
    z = ZScore(channel_axis=1).fit(sliced)
    np.testing.assert_allclose(z.var_, _reference(sliced, 1)[1], rtol=1e-12)
    z.set_params(copy=False)
    before = sliced.copy()
    assert z.transform(sliced) is sliced
    np.testing.assert_allclose(
        sliced, ZScore(channel_axis=1).fit(before).transform(before), rtol=1e-12
    )


@pytest.mark.parametrize(
    "layout",
    [((16, 3, 64, 64), 1), ((16, 64, 64, 3), -1), ((16, 4, 4000), 1)],
    ids=_ids,
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fit_and_transform_allocate_no_copy_of_X(layout, dtype, rng):
    """The reductions read X through free views: the peak extra memory of a
    fit is a small fraction of X; an in-place transform allocates nothing of
    X's size either (tracemalloc sees NumPy's allocations)."""
    shape, axis = layout
    X = _data(rng, shape, axis, dtype=dtype)
    for make in (ZScore, MinMax, MiniBatchNormalizer):
        # Warm up: compiled loops loaded, per-thread scratch buffers made.
        make(channel_axis=axis, copy=False).fit(X).transform(X.copy())
        tracemalloc.start()
        est = make(channel_axis=axis).fit(X)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < 0.1 * X.nbytes, (make.__name__, peak, X.nbytes)
        est.set_params(copy=False)
        tracemalloc.start()
        est.transform(X)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < 0.1 * X.nbytes, (make.__name__, "transform", peak)


@pytest.mark.parametrize("copy", [True, False])
@pytest.mark.parametrize("layout", LAYOUTS[:3], ids=_ids)
def test_infinity_is_an_error_that_leaves_X_unchanged(layout, copy, rng):
    shape, axis = layout
    X = _data(rng, shape, axis)
    z = ZScore(channel_axis=axis).fit(X)
    bad = X.copy()
    bad.flat[bad.size // 2] = np.inf
    with pytest.raises(ValueError, match=r"ZScore\.fit\(\).*infinity"):
        ZScore(channel_axis=axis).fit(bad)
    before = bad.copy()
    with pytest.raises(ValueError, match=r"ZScore\.transform\(\).*infinity"):
        z.transform(bad, copy=copy)
    np.testing.assert_array_equal(bad, before)
    with pytest.raises(ValueError, match=r"MinMax\.fit\(\).*infinity"):
        MinMax(channel_axis=axis).fit(bad)
    with pytest.raises(ValueError, match=r"LocalResponseNormalizer\.transform"):
        LocalResponseNormalizer(channel_axis=axis).transform(bad)
    nan = X.copy()
    nan.flat[3] = np.nan  # NaN is data: kept
    assert np.isnan(z.transform(nan, copy=copy).flat[3])


def test_clip_and_fixed_data_range_broadcast(rng):
    X = rng.integers(0, 256, size=(2, 3, 4, 5)).astype(np.uint8)
    Y = MinMax(data_range=(0, 255), channel_axis=1).transform(X)
    np.testing.assert_allclose(Y, X / 255.0)
    m = MinMax(clip=True, channel_axis=1).fit(X[:1].astype(float))
    Y = m.transform(X.astype(float))
    assert Y.min() >= 0.0 and Y.max() <= 1.0


def test_integer_images_become_float64(rng):
    X = rng.integers(0, 256, size=(3, 3, 8, 8), dtype=np.uint8)
    z = ZScore(channel_axis=1).fit(X)
    assert z.transform(X).dtype == np.float64
    np.testing.assert_allclose(z.mean_, _reference(X, 1)[0], rtol=1e-13)


def test_lists_of_images_are_arrays(rng):
    X = rng.normal(size=(2, 3, 4, 4))
    z = ZScore(channel_axis=1).fit(X.tolist())
    np.testing.assert_allclose(z.mean_, _reference(X, 1)[0], rtol=1e-13)


def test_feature_names_out_name_the_channels(rng):
    z = ZScore(channel_axis=1).fit(rng.normal(size=(2, 3, 4, 4)))
    assert list(z.get_feature_names_out()) == ["x0", "x1", "x2"]


# ------------------------------------------------------------- bad input ---
def _bad_fit_inputs():
    """(channel_axis, X, error, what the message says after the call)."""
    pd = pytest.importorskip("pandas")
    X = np.ones((4, 3, 5, 5))
    return [
        (4, X, ValueError, r"channel_axis=4 is out of range .*-4 <= channel_axis < 4"),
        (-5, X, ValueError, r"channel_axis=-5 is out of range"),
        (0, X, ValueError, r"channel_axis=0 is axis 0, the samples"),
        (1, np.ones(5), ValueError, r"channel_axis=1 needs X .* got a 1D array"),
        (
            1,
            sp.csr_matrix(np.ones((3, 2))),
            TypeError,
            r"channel_axis=1 needs a dense array.*SciPy sparse.*channel_axis=None",
        ),
        (
            1,
            pd.DataFrame(np.ones((3, 2))),
            TypeError,
            r"channel_axis=1 needs an N-D array; got a DataFrame.*to_numpy",
        ),
        (
            1,
            np.ones((4, 3, 0, 5)),
            ValueError,
            r"X of shape \(4, 3, 0, 5\) has an axis of length 0",
        ),
        (1, X + 1j, ValueError, r"Complex data"),
        (True, X, ValueError, r"channel_axis must be an int .* got True"),
    ]


@pytest.mark.parametrize(
    "make", [ZScore, MinMax, MiniBatchNormalizer, LocalResponseNormalizer]
)
def test_bad_input_is_a_clear_error(make, rng):
    name = make.__name__
    for axis, X, error, message in _bad_fit_inputs():
        with pytest.raises(error, match=rf"{name}\.fit\(\): {message}"):
            make(channel_axis=axis).fit(X)
    X = rng.normal(size=(4, 3, 5, 5))
    est = make(channel_axis=1).fit(X)
    method = "partial_fit" if hasattr(est, "partial_fit") else "transform"
    later = [
        (
            (4, 4, 5, 5),
            r"X has 4 channels along channel_axis=1 .* expecting 3 channels",
        ),
        ((4, 3, 5), r"X has 3 dimensions .* fitted on 4D arrays"),
    ]
    for shape, message in later:
        with pytest.raises(ValueError, match=rf"{name}\.{method}\(\): {message}"):
            getattr(est, method)(rng.normal(size=shape))
    prefix = rf"{name}\.transform\(\): the estimator was fitted with channel_axis="
    est.set_params(channel_axis=-1)
    with pytest.raises(ValueError, match=prefix + "1 but has channel_axis=-1 now"):
        est.transform(X)
    est.set_params(channel_axis=None)
    with pytest.raises(ValueError, match=prefix + "1 but has channel_axis=None now"):
        est.transform(X.reshape(4, -1))
    flat = make().fit(X.reshape(4, -1))
    flat.set_params(channel_axis=1)
    with pytest.raises(ValueError, match=prefix + "None but has channel_axis=1 now"):
        flat.transform(X)


@pytest.mark.parametrize("make", [ZScore, MinMax, MiniBatchNormalizer])
def test_failing_partial_fit_leaves_the_state_bit_identical(make, rng):
    est = make(channel_axis=1).fit(rng.normal(size=(4, 3, 70, 40)))
    saved = {
        k: (v, np.array(v, copy=True) if hasattr(v, "shape") else v)
        for k, v in vars(est).items()
    }
    bad_batches = [
        rng.normal(size=(2, 4, 70, 40)),  # another channel count
        rng.normal(size=(2, 3, 70)),  # another number of dimensions
        np.where(rng.uniform(size=(2, 3, 70, 40)) < 0.01, np.inf, 1.0),  # infinity
    ]
    for bad in bad_batches:
        with pytest.raises(ValueError, match=rf"{make.__name__}\.partial_fit\(\)"):
            est.partial_fit(bad)
        assert set(vars(est)) == set(saved)
        for k, (obj, copy) in saved.items():
            assert vars(est)[k] is obj, k
            if hasattr(copy, "shape"):
                np.testing.assert_array_equal(np.asarray(obj), copy)


def test_parameter_is_validated():
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError, match=r"ZScore\.fit\(\).*channel_axis"):
        ZScore(channel_axis=1.5).fit(np.ones((2, 3, 4)))


def test_default_keeps_the_2d_contract(rng):
    """channel_axis=None: N-D input is refused exactly as before."""
    with pytest.raises(ValueError, match=r"ZScore\.fit\(\).*dim 4"):
        ZScore().fit(rng.normal(size=(2, 3, 4, 4)))


def test_device_partial_fit_reads_nothing_back(no_host_reads, monkeypatch, rng):
    """The channel layer queues device work only (array-api-strict arrays
    whose bool()/float() raise, with torch CUDA's kernels), as in 2-D."""
    xs = pytest.importorskip("array_api_strict")
    import sknorm._stats
    from sknorm._kernels import matmul

    monkeypatch.setattr(sknorm._stats, "kernels_for", lambda xp: matmul)
    for axis, shape in [(1, (3, 3, 6, 5)), (-1, (3, 6, 5, 3)), (1, (3, 3, 70, 40))]:
        batches = [1e3 + rng.normal(size=shape) for _ in range(3)]
        for make in (ZScore, MinMax, MiniBatchNormalizer):
            est = make(channel_axis=axis)
            est.partial_fit(xs.asarray(batches[0]))
            with config_context(assume_finite=True), no_host_reads():
                for X in batches[1:]:
                    est.partial_fit(xs.asarray(X))
                if make is MiniBatchNormalizer:  # the training output too
                    Y = est.normalize_batch(xs.asarray(batches[0]))
            reference = make(channel_axis=axis)
            for X in batches:
                reference.partial_fit(X)
            if make is MiniBatchNormalizer:
                expected = reference.normalize_batch(batches[0])
                np.testing.assert_allclose(np.asarray(Y), expected, rtol=1e-12)
            for name in ("mean_", "var_", "data_min_", "data_max_", "running_var_"):
                if hasattr(reference, name):
                    np.testing.assert_allclose(
                        np.asarray(getattr(est, name)),
                        getattr(reference, name),
                        rtol=1e-12,
                        err_msg=f"{make.__name__}.{name}",
                    )


def test_pipeline_with_channel_axis(rng):
    from sklearn.pipeline import make_pipeline

    X = rng.normal(size=(6, 3, 5, 5))
    pipe = make_pipeline(ZScore(channel_axis=1), MinMax(channel_axis=1)).fit(X)
    Y = pipe.transform(X)
    assert Y.shape == X.shape
    assert Y.min() == 0.0 and Y.max() == 1.0


def test_streaming_layouts_pairwise(rng):
    """Channels first and channels last of the same images: same numbers."""
    for a, b in itertools.combinations([1, -1], 2):
        X = rng.normal(size=(5, 3, 24, 80))
        XL = np.ascontiguousarray(np.moveaxis(X, 1, -1))
        za = ZScore(channel_axis=a).fit(X)
        zb = ZScore(channel_axis=b).fit(XL)
        np.testing.assert_allclose(za.var_, zb.var_, rtol=1e-13)


def test_torch_channels_last_memory_is_read_without_a_copy(rng):
    """A torch tensor in ``channels_last`` memory format, given as (N, C, H,
    W): read through the permutation of its axes, same numbers."""
    torch = pytest.importorskip("torch")
    X = rng.normal(size=(4, 3, 20, 30))
    t = torch.from_numpy(X).to(memory_format=torch.channels_last)
    assert not t.is_contiguous()
    from sknorm._channels import layout as channel_layout

    lay = channel_layout.layout_of(t.shape, 1)
    _, view = channel_layout.viewed(t, lay)
    assert view.perm == (0, 2, 3, 1) and not view.copied
    assert view.array.data_ptr() == t.data_ptr()  # the same memory
    z = ZScore(channel_axis=1).fit(t)
    np.testing.assert_allclose(z.mean_.numpy(), _reference(X, 1)[0], rtol=1e-13)
    np.testing.assert_allclose(z.var_.numpy(), _reference(X, 1)[1], rtol=1e-12)
    lrn = LocalResponseNormalizer(channel_axis=1)
    expected = torch.nn.functional.local_response_norm(torch.from_numpy(X), 5, k=2.0)
    np.testing.assert_allclose(lrn.transform(t).numpy(), expected.numpy(), rtol=1e-12)
