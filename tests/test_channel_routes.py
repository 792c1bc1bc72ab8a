"""Every 2-D guarantee on every route of the per-channel statistics.

``channel_axis`` statistics take one of several routes through
``sknorm._channels`` (the free reshape to ``(rows, C)``, the folded or
plain columns view, NumPy's per-row kernels, with and without numba, and
torch); the ``channel_route`` fixture (``tests/estimator_paths.py``) forces
each one, whatever the shape.  On each of them:

* rows of weight 0 and NaN entries influence nothing, not even the shift
  the moments are taken around (a sentinel sample at 1e15 with weight 0);
* finite values near the float maximum give a finite mean, the exact
  minimum and maximum and a min-max map into [0, 1] (a variance beyond the
  float range is +inf), with no overflow warning;
* units do not matter, from 1e-30 to 1e30;
* float16 (torch's bfloat16) and big-endian input come back in their own
  dtype, in native byte order, computed in float32 and rounded once.

References, independent of the channel code: the 2-D estimators on the same
values as a ``(rows, C)`` matrix (``np.moveaxis`` + ``reshape``, a copy made
here), NumPy float64 two-pass computations, ``math.fsum``, and torch's
``BatchNorm2d``.
"""

import importlib.util
import math

import numpy as np
import pytest

from sknorm import LocalResponseNormalizer, MiniBatchNormalizer, MinMax, ZScore

SHAPE = (6, 3, 9, 16)  # (N, C, H, W): 144 positions, rows of 144 values
BATCH = 2  # samples per partial_fit
SCALES = [1e-30, 1e-17, 1e-10, 1.0, 1e10, 1e30]
HAS_TORCH = importlib.util.find_spec("torch") is not None


# ---------------------------------------------------------------- helpers --
def _positions(shape):
    return math.prod(shape[2:])


def _as_rows(X):
    """Channels-first X as the 2-D matrix of its channels: one row per
    position of each sample, in sample order (a copy)."""
    X = np.asarray(X)
    return np.moveaxis(X, 1, -1).reshape(-1, X.shape[1]).copy()


def _from_rows(Y, shape):
    """A ``(rows, C)`` result back in the channels-first shape."""
    n, c, *spatial = shape
    return np.moveaxis(np.asarray(Y).reshape(n, *spatial, c), -1, 1)


def _weights_per_row(w, shape):
    return None if w is None else np.repeat(w, _positions(shape))


def _two_pass(X, w=None):
    """Per-channel weighted mean and population variance of channels-first
    X in float64, NaN entries and samples of weight 0 left out."""
    V = _as_rows(X).astype(np.float64)
    W = np.ones(V.shape[0]) if w is None else _weights_per_row(w, X.shape)
    W = np.where(np.isnan(V) | (W[:, None] <= 0), 0.0, W[:, None])
    V = np.where(W > 0, V, 0.0)
    total = W.sum(axis=0)
    mean = (W * V).sum(axis=0) / total
    var = (W * (V - mean) ** 2).sum(axis=0) / total
    return mean, var


def _batches(n):
    return [slice(start, start + BATCH) for start in range(0, n, BATCH)]


def _fit(est, route, X, w=None, streamed=False):
    if not streamed:
        return est.fit(route.array(X), sample_weight=route.weights(w))
    for rows in _batches(X.shape[0]):
        sw = None if w is None else route.weights(w[rows])
        est.partial_fit(route.array(X[rows]), sample_weight=sw)
    return est


def _fit_2d(est, X, w=None, streamed=False):
    if not streamed:
        return est.fit(_as_rows(X), sample_weight=_weights_per_row(w, X.shape))
    for rows in _batches(X.shape[0]):
        sw = None if w is None else _weights_per_row(w[rows], X[rows].shape)
        est.partial_fit(_as_rows(X[rows]), sample_weight=sw)
    return est


def _sentinel_data(seed, nan_first=False):
    """``1 + N(0, 1e-3)``, the first sample of every batch at 1e15 with
    weight 0 (around a shift of 1e15 the moments would carry 1e15 * eps =
    0.1 absolutely: a hundred times the spread)."""
    rng = np.random.default_rng(seed)
    X = 1.0 + rng.normal(0.0, 1e-3, size=SHAPE)
    w = rng.uniform(0.5, 2.0, SHAPE[0])
    X[::BATCH] = 1e15
    w[::BATCH] = 0.0
    if nan_first:
        # The first sample with a weight starts channel 0 with a missing
        # image row, and the sentinel holds NaN too.
        X[1::BATCH, 0, 0, :] = np.nan
        X[::BATCH, 1, 0, 0] = np.nan
    return X, w


# ----------------------------------------------------- the routes are taken --
def test_each_route_is_taken(channel_route, monkeypatch):
    """The fixture forces the route it names (else every test below could
    pass on one route only)."""
    from sknorm._channels import statistics
    from sknorm._kernels import numba_cpu, numpy_channels

    calls = []
    for module, name in ((numpy_channels, "row_moments"), (statistics, "merge_parts")):
        original = getattr(module, name)

        def spy(*args, _original=original, _name=name, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, name, spy)
    X = np.random.default_rng(0).normal(size=SHAPE)
    ZScore(channel_axis=channel_route.axis).fit(channel_route.array(X))
    base, _, numba = channel_route.name.partition("-")
    expected = {
        "flat": [],
        "folded": ["merge_parts"],
        "columns": ["merge_parts"],
        "rows": ["row_moments", "merge_parts"],
        "torch": ["merge_parts"],
    }[base]
    assert calls == expected
    if base != "torch":
        assert numba_cpu.enabled() == bool(numba)


# ----------------------------------------------------------- zero weights --
@pytest.mark.parametrize("nan_first", [False, True])
@pytest.mark.parametrize("streamed", [False, True], ids=["fit", "partial_fit"])
def test_zscore_ignores_zero_weight_samples(channel_route, streamed, nan_first):
    X, w = _sentinel_data(0, nan_first)
    est = _fit(ZScore(channel_axis=channel_route.axis), channel_route, X, w, streamed)
    mean, var = _two_pass(X, w)
    ref = _fit_2d(ZScore(), X, w, streamed)
    for expected in ((mean, var), (ref.mean_, ref.var_)):
        got_mean = channel_route.numpy(est.mean_)
        np.testing.assert_allclose(got_mean, expected[0], rtol=1e-14)
        np.testing.assert_allclose(
            channel_route.numpy(est.var_), expected[1], rtol=1e-9
        )
    np.testing.assert_allclose(est.n_samples_seen_, ref.n_samples_seen_)


@pytest.mark.parametrize("nan_first", [False, True])
def test_minibatch_ignores_zero_weight_samples(channel_route, nan_first):
    """Running statistics (momentum=None: the average of the batches'
    statistics) and the training output of every batch, against the 2-D
    estimator fed the same batches as ``(rows, C)`` matrices."""
    X, w = _sentinel_data(1, nan_first)
    est = MiniBatchNormalizer(momentum=None, eps=1e-12, channel_axis=channel_route.axis)
    ref = MiniBatchNormalizer(momentum=None, eps=1e-12)
    for rows in _batches(SHAPE[0]):
        Y = est.normalize_batch(
            channel_route.array(X[rows]), channel_route.weights(w[rows])
        )
        Y_ref = ref.normalize_batch(
            _as_rows(X[rows]), _weights_per_row(w[rows], X[rows].shape)
        )
        np.testing.assert_allclose(
            channel_route.numpy(Y), _from_rows(Y_ref, X[rows].shape), rtol=1e-9
        )
    np.testing.assert_allclose(
        channel_route.numpy(est.running_mean_), ref.running_mean_, rtol=1e-14
    )
    np.testing.assert_allclose(
        channel_route.numpy(est.running_var_), ref.running_var_, rtol=1e-9
    )


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_batchnorm2d_parity(channel_route):
    """A stream of training steps and inference against torch's module."""
    import torch

    rng = np.random.default_rng(2)
    C = SHAPE[1]
    bn = torch.nn.BatchNorm2d(C, momentum=0.1, eps=1e-5, dtype=torch.float64)
    est = MiniBatchNormalizer(
        momentum=0.1, eps=1e-5, init="pytorch", channel_axis=channel_route.axis
    )
    loc = rng.normal(0.0, 5.0, size=(1, C, 1, 1))
    for n in (3, 1, 4):
        X = rng.normal(size=(n, *SHAPE[1:])) * 2.0 + loc
        expected = bn.train()(torch.from_numpy(X)).detach().numpy()
        Y = channel_route.numpy(est.normalize_batch(channel_route.array(X)))
        np.testing.assert_allclose(Y, expected, rtol=1e-12, atol=1e-12)
    running = (est.running_mean_, est.running_var_)
    for got, theirs in zip(running, (bn.running_mean, bn.running_var), strict=True):
        np.testing.assert_allclose(
            channel_route.numpy(got), theirs.numpy(), rtol=1e-12, atol=1e-12
        )
    X = rng.normal(size=(2, *SHAPE[1:])) + loc
    expected = bn.eval()(torch.from_numpy(X)).detach().numpy()
    Y = channel_route.numpy(est.transform(channel_route.array(X)))
    np.testing.assert_allclose(Y, expected, rtol=1e-12, atol=1e-12)


# -------------------------------------------------------------------- NaN --
def _nan_data(seed):
    """``1e8 + N(0, 1e-3)`` (eight digits of the variance hang on the
    shift), with NaN where a shift search would stop: channel 0 misses its
    first image row in every sample, channel 1 is missing from the first
    sample, channel 2 has scattered gaps."""
    rng = np.random.default_rng(seed)
    X = 1e8 + rng.normal(0.0, 1e-3, size=SHAPE)
    X[:, 0, 0, :] = np.nan
    X[0, 1] = np.nan
    gaps = rng.uniform(size=SHAPE) < 0.2
    gaps[:, :2] = False
    X[gaps] = np.nan
    return X


@pytest.mark.parametrize("streamed", [False, True], ids=["fit", "partial_fit"])
def test_nan_is_ignored_and_never_gives_the_shift(channel_route, streamed):
    X = _nan_data(3)
    w = np.random.default_rng(4).uniform(0.5, 2.0, SHAPE[0])
    est = _fit(ZScore(channel_axis=channel_route.axis), channel_route, X, w, streamed)
    # x - 1e8 is exact for these values: the float64 two-pass reference
    # is then exact to a few ulps of the spread.
    mean, var = _two_pass(X - 1e8, w)
    np.testing.assert_allclose(channel_route.numpy(est.mean_), 1e8 + mean, rtol=1e-15)
    np.testing.assert_allclose(channel_route.numpy(est.var_), var, rtol=1e-9)
    ref = _fit_2d(ZScore(), X, w, streamed)
    np.testing.assert_allclose(channel_route.numpy(est.var_), ref.var_, rtol=1e-9)
    # Transform keeps NaN where X has it.
    Z = channel_route.numpy(est.transform(channel_route.array(X)))
    np.testing.assert_array_equal(np.isnan(Z), np.isnan(X))


def test_minmax_ignores_nan_and_a_channel_without_values(channel_route):
    rng = np.random.default_rng(5)
    X = rng.normal(size=SHAPE)
    X[rng.uniform(size=SHAPE) < 0.3] = np.nan
    X[:, 2] = np.nan  # nothing observed in channel 2
    est = MinMax(channel_axis=channel_route.axis).fit(channel_route.array(X))
    V = _as_rows(X)
    np.testing.assert_array_equal(
        channel_route.numpy(est.data_min_)[:2], np.nanmin(V[:, :2], axis=0)
    )
    np.testing.assert_array_equal(
        channel_route.numpy(est.data_max_)[:2], np.nanmax(V[:, :2], axis=0)
    )
    ref = MinMax().fit(V)
    for name in ("data_min_", "data_max_", "scale_", "min_"):
        np.testing.assert_array_equal(
            channel_route.numpy(getattr(est, name)), getattr(ref, name), err_msg=name
        )
    Y = channel_route.numpy(est.transform(channel_route.array(X)))
    np.testing.assert_array_equal(Y, _from_rows(ref.transform(V), SHAPE))


# ------------------------------------------------------------- float range --
def _exact_means(X):
    """Per-channel means of channels-first X, correctly rounded sums
    (``math.fsum``, of the values halved twenty times: exact, and within
    the float range)."""
    V = _as_rows(X)
    return np.array([math.fsum(v / 2**20) / len(v) * 2**20 for v in V.T])


def _opposite_extremes(seed):
    X = np.random.default_rng(seed).normal(size=SHAPE)
    X[0] = 9e307
    X[1] = -9e307
    return X


@pytest.mark.parametrize("streamed", [False, True], ids=["fit", "partial_fit"])
def test_opposite_extremes_stay_finite(channel_route, streamed):
    """The issue's values: the mean is representable, so it comes out (to a
    few rounding errors of the largest value); the variance is beyond the
    float range: +inf, and the channel maps to 0."""
    X = _opposite_extremes(6)
    est = _fit(
        ZScore(channel_axis=channel_route.axis), channel_route, X, None, streamed
    )
    ref = _fit_2d(ZScore(), X, None, streamed)
    V = _as_rows(X)
    exact = _exact_means(X)
    mean = channel_route.numpy(est.mean_)
    assert np.all(np.abs(mean - exact) <= 16 * np.spacing(9e307))
    assert np.all(np.abs(ref.mean_ - exact) <= 16 * np.spacing(9e307))
    assert np.all(np.isposinf(channel_route.numpy(est.var_)))
    assert np.all(np.isposinf(ref.var_))
    Z = channel_route.numpy(est.transform(channel_route.array(X)))
    np.testing.assert_array_equal(Z, _from_rows(ref.transform(V), SHAPE))
    np.testing.assert_array_equal(Z, 0.0)


def test_minmax_of_opposite_extremes(channel_route):
    X = _opposite_extremes(7)
    est = MinMax(channel_axis=channel_route.axis).fit(channel_route.array(X))
    np.testing.assert_array_equal(channel_route.numpy(est.data_min_), -9e307)
    np.testing.assert_array_equal(channel_route.numpy(est.data_max_), 9e307)
    assert np.all(np.isposinf(channel_route.numpy(est.data_range_)))
    Y = channel_route.numpy(est.transform(channel_route.array(X)))
    assert np.all((Y >= 0.0) & (Y <= 1.0))
    ref = MinMax().fit(_as_rows(X))
    np.testing.assert_allclose(
        Y, _from_rows(ref.transform(_as_rows(X)), SHAPE), rtol=0, atol=1e-15
    )
    np.testing.assert_allclose(Y[0], 1.0, rtol=0, atol=1e-15)
    np.testing.assert_allclose(Y[1], 0.0, rtol=0, atol=1e-15)


def test_constant_channels_near_the_float_maximum(channel_route):
    """A constant channel anywhere in the float range has its value as mean
    and a variance of 0 (the 2-D path's numbers)."""
    X = np.random.default_rng(8).normal(size=SHAPE)
    X[:, 0] = 1.5e308
    X[:, 1] = -1e300
    est = ZScore(channel_axis=channel_route.axis).fit(channel_route.array(X))
    ref = ZScore().fit(_as_rows(X))
    mean, var = channel_route.numpy(est.mean_), channel_route.numpy(est.var_)
    assert mean[:2].tolist() == [1.5e308, -1e300] == ref.mean_[:2].tolist()
    assert var[:2].tolist() == [0.0, 0.0] == ref.var_[:2].tolist()
    np.testing.assert_allclose(var[2], ref.var_[2], rtol=1e-12)


def test_stream_of_opposite_extremes(channel_route):
    est = ZScore(channel_axis=channel_route.axis)
    for value in (9e307, -9e307, 9e307):
        est.partial_fit(channel_route.array(np.full((1, *SHAPE[1:]), value)))
    np.testing.assert_array_equal(channel_route.numpy(est.mean_), 3e307)
    assert np.all(np.isposinf(channel_route.numpy(est.var_)))


# --------------------------------------------------------- scale invariance --
def _scaled_data(seed):
    rng = np.random.default_rng(seed)
    spread = np.array([1.0, 5.0, 0.1]).reshape(1, 3, 1, 1)
    X = 3.0 + rng.normal(size=SHAPE) * spread
    X[:, 2] = 7.0  # a constant channel
    return X


@pytest.mark.parametrize("c", SCALES)
def test_zscore_is_scale_invariant(channel_route, c):
    X = _scaled_data(9)
    expected = _from_rows(ZScore().fit_transform(_as_rows(X)), SHAPE)
    est = ZScore(channel_axis=channel_route.axis)
    got = channel_route.numpy(est.fit_transform(channel_route.array(X * c)))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    scale = channel_route.numpy(est.scale_)
    np.testing.assert_allclose(
        scale[:2], c * _as_rows(X)[:, :2].std(axis=0), rtol=1e-12
    )
    assert scale[2] == 1.0  # the constant channel, at any scale


@pytest.mark.parametrize("c", SCALES)
def test_minmax_is_scale_invariant(channel_route, c):
    X = _scaled_data(10)
    expected = _from_rows(MinMax().fit_transform(_as_rows(X)), SHAPE)
    est = MinMax(channel_axis=channel_route.axis)
    got = channel_route.numpy(est.fit_transform(channel_route.array(X * c)))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("c", [1e-30, 1.0, 1e30])
def test_minibatch_is_scale_covariant(channel_route, c):
    """BatchNorm's eps is in the units of the variance: with ``eps * c**2``
    the statistics scale with the data and the output does not change."""
    X = _scaled_data(11)
    # batch_size in samples here, in rows of the 2-D matrix there.
    ref = MiniBatchNormalizer(batch_size=BATCH * _positions(SHAPE)).fit(_as_rows(X))
    est = MiniBatchNormalizer(
        batch_size=BATCH, eps=1e-5 * c**2, channel_axis=channel_route.axis
    )
    got = channel_route.numpy(est.fit_transform(channel_route.array(X * c)))
    expected = _from_rows(ref.transform(_as_rows(X)), SHAPE)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(
        channel_route.numpy(est.running_var_), ref.running_var_ * c**2, rtol=1e-12
    )


# ------------------------------------------------ half precision, byte order --
ESTIMATORS = {
    "ZScore": lambda axis: ZScore(channel_axis=axis),
    "MinMax": lambda axis: MinMax(channel_axis=axis),
    "MBN": lambda axis: MiniBatchNormalizer(scale=1.5, shift=0.25, channel_axis=axis),
    "LRN": lambda axis: LocalResponseNormalizer(
        size=3, alpha=0.5, beta=0.75, k=1.0, channel_axis=axis
    ),
}
ESTIMATORS_2D = {
    "ZScore": ZScore,
    "MinMax": MinMax,
    "MBN": lambda: MiniBatchNormalizer(scale=1.5, shift=0.25),
    "LRN": lambda: LocalResponseNormalizer(size=3, alpha=0.5, beta=0.75, k=1.0),
}


def _methods(est, X):
    """``{method: output}`` of every transform-like call on X."""
    out = {"fit_transform": est.fit_transform(X), "transform": est.transform(X)}
    if hasattr(est, "inverse_transform"):
        out["inverse_transform"] = est.inverse_transform(out["transform"])
    if hasattr(est, "normalize_batch"):
        out["normalize_batch"] = est.normalize_batch(X)
    return out


def _image_data(seed):
    rng = np.random.default_rng(seed)
    loc = rng.normal(3.0, 1.0, size=(1, SHAPE[1], 1, 1))
    return rng.normal(size=SHAPE) * 0.5 + loc


def _half(route, X, dtype_name):
    """X in the route's 16-bit dtype, and the same values in float32."""
    if route.name == "torch":
        import torch

        T = route.array(X).to(getattr(torch, dtype_name))
        return T, T.to(torch.float32)
    if dtype_name != "float16":
        pytest.skip("NumPy has no bfloat16")
    H = route.array(X.astype(np.float16))
    return H, H.astype(np.float32)


def _dtype_name(Y):
    return str(Y.dtype).removeprefix("torch.")


def _cast(A, like):
    """A in the dtype of ``like`` (a NumPy array or a torch tensor)."""
    return A.to(like.dtype) if hasattr(A, "to") else A.astype(like.dtype)


def _values(route, Y):
    """Y's values as channels-first float32 NumPy (NumPy has no bfloat16;
    every 16-bit value is a float32 value)."""
    return route.numpy(Y.float() if hasattr(Y, "float") else Y.astype(np.float32))


@pytest.mark.parametrize("dtype_name", ["float16", "bfloat16"])
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_half_precision_keeps_its_dtype_and_rounds_once(
    channel_route, name, dtype_name
):
    X16, X32 = _half(channel_route, _image_data(12), dtype_name)
    make = ESTIMATORS[name]
    got = _methods(make(channel_route.axis), X16)
    # The same estimator on the same values in float32, rounded once.
    ref = _methods(make(channel_route.axis), X32)
    for method, Y in got.items():
        assert _dtype_name(Y) == dtype_name, method
        if method == "inverse_transform":
            # Its input is the 16-bit output of transform.
            est = make(channel_route.axis).fit(X32)
            expected = est.inverse_transform(_cast(got["transform"], X32))
        else:
            expected = ref[method]
        np.testing.assert_array_equal(
            _values(channel_route, Y),
            _values(channel_route, _cast(expected, Y)),
            err_msg=method,
        )
    est = make(channel_route.axis).fit(X16)
    for name in ("mean_", "data_min_", "running_var_"):
        if hasattr(est, name):
            stat = channel_route.numpy(getattr(est, name))
            assert stat.dtype == np.float64, name


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_float16_equals_the_2d_path(channel_route, name):
    """The channel routes give the 2-D path's float16 output on the same
    values, and float64 statistics of them."""
    if channel_route.name == "torch":
        pytest.skip("NumPy's float16 (torch: the test above)")
    X16 = _image_data(13).astype(np.float16)
    est = ESTIMATORS[name](channel_route.axis)
    Y = channel_route.numpy(est.fit_transform(channel_route.array(X16)))
    assert Y.dtype == np.float16
    ref = ESTIMATORS_2D[name]()
    expected = _from_rows(ref.fit_transform(_as_rows(X16)), SHAPE)
    np.testing.assert_array_equal(Y, expected)
    if name == "ZScore":
        mean, var = _two_pass(X16.astype(np.float64))
        assert est.mean_.dtype == np.float64
        np.testing.assert_allclose(est.mean_, mean, rtol=1e-14)
        np.testing.assert_allclose(est.var_, var, rtol=1e-12)
    if name == "MinMax":
        assert est.data_min_.dtype == np.float64
        np.testing.assert_array_equal(est.data_min_, _as_rows(X16).min(axis=0))
        np.testing.assert_array_equal(est.data_max_, _as_rows(X16).max(axis=0))


def test_half_precision_missing_and_infinite_values(channel_route):
    """NaN is ignored and +-inf refused in 16-bit input too."""
    X = _image_data(15)
    X[:, 1, 0] = np.nan
    X[2, 2] = np.nan
    H, _ = _half(channel_route, X, "float16")
    V = _as_rows(X.astype(np.float16).astype(np.float64))
    est = MinMax(channel_axis=channel_route.axis).fit(H)
    np.testing.assert_array_equal(
        channel_route.numpy(est.data_min_), np.nanmin(V, axis=0)
    )
    np.testing.assert_array_equal(
        channel_route.numpy(est.data_max_), np.nanmax(V, axis=0)
    )
    mean = channel_route.numpy(ZScore(channel_axis=channel_route.axis).fit(H).mean_)
    np.testing.assert_allclose(mean, np.nanmean(V, axis=0), rtol=1e-14)
    X[4, 0, 3, 5] = np.inf
    H, _ = _half(channel_route, X, "float16")
    for make in (MinMax, ZScore):
        est = make(channel_axis=channel_route.axis)
        with pytest.raises(ValueError, match=r"\.fit\(\): Input X contains inf"):
            est.fit(H)


@pytest.mark.parametrize("byteorder", [">f4", ">f8"])
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_big_endian_comes_back_native(channel_route, name, byteorder):
    if channel_route.name == "torch":
        pytest.skip("a NumPy byte order")
    X = channel_route.array(
        _image_data(14).astype(np.dtype(byteorder).newbyteorder("="))
    )
    X_be = X.astype(byteorder)
    assert not X_be.dtype.isnative
    make = ESTIMATORS[name]
    got = _methods(make(channel_route.axis), X_be)
    ref = _methods(make(channel_route.axis), X)
    for method, Y in got.items():
        assert Y.dtype == X.dtype and Y.dtype.isnative, method
        np.testing.assert_array_equal(Y, ref[method], err_msg=method)
    assert X_be.dtype.byteorder == ">"  # the input is left as it was
    np.testing.assert_array_equal(X_be, X)


# ------------------------------------------------------- the issue's cases --
@pytest.mark.parametrize("shape", [(8, 16, 32, 32), (20, 3, 64, 64)])
@pytest.mark.parametrize("streamed", [False, True], ids=["fit", "partial_fit"])
def test_the_issue_zero_weight_cases(shape, streamed):
    """The measured cases, on the routes their shapes take (the rows route):
    off by 1.6e4 and 2.4e-4 relative before."""
    rng = np.random.default_rng(15)
    X = 1.0 + rng.normal(0.0, 1e-3, size=shape)
    X[0] = 1e15
    w = np.ones(shape[0])
    w[0] = 0.0
    est = ZScore(channel_axis=1)
    if streamed:
        for rows in (slice(0, 4), slice(4, None)):
            est.partial_fit(X[rows], sample_weight=w[rows])
    else:
        est.fit(X, sample_weight=w)
    without = ZScore(channel_axis=1).fit(X[1:])
    _, var = _two_pass(X[1:])
    np.testing.assert_allclose(est.var_, var, rtol=1e-11)
    np.testing.assert_allclose(est.var_, without.var_, rtol=1e-11)
    np.testing.assert_allclose(est.mean_, _exact_means(X[1:]), rtol=1e-15)


def test_the_issue_float_range_case():
    rng = np.random.default_rng(16)
    X = rng.normal(size=(6, 4, 64, 64))
    X[0] = 9e307
    X[1] = -9e307
    est = ZScore(channel_axis=1).fit(X)
    exact = _exact_means(X)
    assert np.all(np.abs(est.mean_ - exact) <= 16 * np.spacing(9e307))
    assert np.all(np.isposinf(est.var_))


# --------------------------------------------------------- the shift search --
def test_the_rows_shift_skips_nan_zero_weights_and_far_values():
    """The rows route's shift: per channel a value that carries data (the
    first one of the first group of positive weight that has any), 0 beyond
    the shift limit."""
    from sknorm._channels.statistics import _rows_shift
    from sknorm._kernels.generic import shift_limit

    cube = np.arange(4 * 4 * 5, dtype=np.float64).reshape(4, 4, 5) + 1.0
    w = np.array([0.0, 1.0, 1.0, 1.0])
    cube[0] = 1e15  # weight 0
    cube[1, 0, :2] = np.nan  # channel 0: found at position 2
    cube[1, 1] = np.nan  # channel 1: nothing in group 1, found in group 2
    cube[2, 1, 0] = np.nan
    cube[1:, 2] = 1e300  # channel 2: beyond the shift limit
    cube[1:, 3, 0] = 0.0  # channel 3: a value of 0 is a value
    assert 1e300 > shift_limit(np, np.float64)
    expected = [cube[1, 0, 2], cube[2, 1, 1], 0.0, 0.0]
    np.testing.assert_array_equal(_rows_shift(cube, w), expected)
    # Without weights the first group counts.
    np.testing.assert_array_equal(_rows_shift(cube, None), [1e15, 1e15, 1e15, 1e15])
    # Nothing observed anywhere: 0.
    np.testing.assert_array_equal(_rows_shift(np.full((2, 3, 4), np.nan), None), 0.0)
