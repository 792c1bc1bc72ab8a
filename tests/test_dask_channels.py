"""``channel_axis`` on N-D Dask arrays: one-execution fits, lazy transforms.

References are independent of the Dask layer: the same estimator fitted on
the NumPy array (a Dask fit of an N-D array equals the NumPy channel fit of
the concatenated samples, to float64 rounding), each channel's values
reduced in two float64 passes by NumPy (``np.moveaxis`` copies made by the
test), and torch's own ``BatchNorm2d``/``BatchNorm3d`` trained on the same
mini-batches.
"""

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
import dask  # noqa: E402
from dask_cases import CountExecutions  # noqa: E402

from sknorm import (  # noqa: E402
    LocalResponseNormalizer,
    MiniBatchNormalizer,
    MinMax,
    ZScore,
)

RTOL = 1e-13  # the bound: float64 rounding of the merges


def close(a, b, rtol=RTOL):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(float(np.nanmax(np.abs(b))), 1e-300)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale)


def maps(shape, axis, seed=0, nan=0.0):
    """Feature maps with another mean and spread in every channel."""
    rng = np.random.default_rng(seed)
    C = shape[axis]
    term = (C,) + (1,) * (len(shape) - 1 - axis % len(shape))
    scale = rng.uniform(0.5, 3.0, C).reshape(term)
    offset = (5.0 + rng.normal(0, 3.0, C)).reshape(term)
    X = rng.normal(size=shape) * scale + offset
    if nan:
        X[rng.uniform(size=shape) < nan] = np.nan
    return X


def per_channel(X, axis):
    """Each channel's values as one row of a float64 matrix (a copy)."""
    return np.moveaxis(np.asarray(X, np.float64), axis, 0).reshape(X.shape[axis], -1)


# (shape, channel_axis, chunks): chunked along the samples (with empty and
# one-row chunks) and along the other non-channel axes; some with a chunked
# channel axis (joined by the layer).
CASES = [
    ((23, 3, 6, 5), 1, ((0, 7, 1, 15), 3, (2, 4), 5)),  # (N, C, H, W)
    ((11, 4, 32, 32), 1, ((5, 6), 4, (16, 16), 32)),  # NumPy's rows route
    ((17, 4, 5, 3), -1, ((9, 8), (1, 3), (2, 3), 3)),  # (N, H, W, C)
    ((13, 2, 9), 1, ((4, 9), 1, (5, 4))),  # (N, C, L), channel axis chunked
    ((9, 2, 3, 4, 5), 1, ((3, 6), 2, 3, (1, 3), 5)),  # (N, C, D, H, W)
    ((14, 5, 3, 7), 2, ((7, 7), (2, 3), 3, (4, 3))),  # channels in the middle
    ((19, 3), 1, ((5, 0, 14), 3)),  # 2-D with a channel axis
    ((10, 3, 4, 4), 1, ((5, 5), 3, (0, 4), 4)),  # blocks without positions
]


def _ids(case):
    shape, axis, _ = case
    return f"{'x'.join(map(str, shape))}-axis{axis}"


@pytest.mark.parametrize("case", CASES, ids=_ids)
@pytest.mark.parametrize("weighted", [False, True])
def test_fits_equal_the_numpy_channel_fit(case, weighted):
    shape, axis, chunks = case
    X = maps(shape, axis, nan=0.05)
    Xd = da.from_array(X, chunks=chunks)
    w = np.random.default_rng(1).uniform(0, 2, shape[0]) if weighted else None
    kw = {} if w is None else {"sample_weight": w}
    for make in (
        lambda: ZScore(channel_axis=axis),
        lambda: MiniBatchNormalizer(channel_axis=axis),
    ):
        with CountExecutions() as count:
            d = make().fit(Xd, **kw)
        assert count.n == 1
        n = make().fit(X, **kw)
        for name in ("mean_", "var_", "scale_", "running_mean_", "running_var_"):
            if hasattr(n, name):
                close(getattr(d, name), getattr(n, name))
                assert type(getattr(d, name)) is np.ndarray
        assert d.n_features_in_ == n.n_features_in_ == shape[axis]
        close(d.n_samples_seen_, n.n_samples_seen_, rtol=0 if w is None else 1e-14)
    if w is None:  # MinMax takes no weights
        d, n = MinMax(channel_axis=axis).fit(Xd), MinMax(channel_axis=axis).fit(X)
        np.testing.assert_array_equal(d.data_min_, np.nanmin(per_channel(X, axis), 1))
        np.testing.assert_array_equal(d.data_max_, np.nanmax(per_channel(X, axis), 1))
        np.testing.assert_array_equal(d.scale_, n.scale_)
        assert d.n_samples_seen_ == n.n_samples_seen_ == shape[0]


def test_statistics_against_two_passes_per_channel():
    X = maps((12, 3, 32, 40), 1, seed=3)
    Xd = da.from_array(X, chunks=(5, 3, 16, 20))
    est = ZScore(channel_axis=1).fit(Xd)
    V = per_channel(X, 1)
    mean = V.mean(axis=1)
    close(est.mean_, mean)
    close(est.var_, ((V - mean[:, None]) ** 2).mean(axis=1))


def test_chunking_of_other_axes_changes_only_the_rounding():
    """Another chunk grid is another tree of states: the same statistics to
    float64 rounding, each grid its own bits (run to run, identical)."""
    X = maps((16, 3, 12, 10), 1, seed=4) + 1e4
    fits = []
    for chunks in ((16, 3, 12, 10), (4, 3, 12, 10), (4, 3, 3, 5), (3, 3, 5, 10)):
        Xd = da.from_array(X, chunks=chunks)
        a, b = ZScore(channel_axis=1).fit(Xd), ZScore(channel_axis=1).fit(Xd)
        np.testing.assert_array_equal(a.var_, b.var_)
        fits.append(a)
    for est in fits[1:]:
        close(est.mean_, fits[0].mean_)
        close(est.var_, fits[0].var_)


def _nd_fits(Xd, w):
    return [
        ZScore(channel_axis=1).fit(Xd, sample_weight=w).var_,
        MinMax(channel_axis=1).fit(Xd).data_max_,
        MiniBatchNormalizer(channel_axis=1, batch_size=5).fit(Xd).running_var_,
    ]


def test_bits_do_not_depend_on_the_local_scheduler():
    X = maps((40, 3, 8, 6), 1, seed=5, nan=0.02)
    Xd = da.from_array(X, chunks=(7, 3, 4, 3))
    w = np.random.default_rng(6).uniform(0, 2, 40)
    with dask.config.set(scheduler="sync"):
        reference = _nd_fits(Xd, w)
    with dask.config.set(scheduler="threads"):
        for a, b in zip(_nd_fits(Xd, w), reference, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_bits_are_the_same_on_a_distributed_cluster(side_client):
    X = maps((40, 3, 8, 6), 1, seed=5, nan=0.02)
    Xd = da.from_array(X, chunks=(7, 3, 4, 3))
    w = np.random.default_rng(6).uniform(0, 2, 40)
    with dask.config.set(scheduler="sync"):
        reference = _nd_fits(Xd, w)
    with dask.config.set(scheduler=side_client):
        for a, b in zip(_nd_fits(Xd, w), reference, strict=True):
            np.testing.assert_array_equal(a, b)
        lazy = ZScore(channel_axis=1).fit(X).transform(Xd)
        close(lazy.compute(), ZScore(channel_axis=1).fit(X).transform(X))


# --------------------------------------------------- MiniBatchNormalizer ----
@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize(
    "shape, chunks",
    [
        ((50, 3, 5, 4), ((0, 7, 13, 30), 3, (2, 3), 4)),  # BatchNorm2d
        ((23, 2, 3, 4, 5), ((10, 13), 2, 3, (2, 2), 5)),  # BatchNorm3d
    ],
)
def test_minibatches_cross_chunk_boundaries_like_torch(shape, chunks, momentum):
    torch = pytest.importorskip("torch")
    X = maps(shape, 1, seed=7)
    batch_size = 8
    est = MiniBatchNormalizer(
        channel_axis=1, batch_size=batch_size, momentum=momentum, init="pytorch"
    )
    with CountExecutions() as count:
        est.fit(da.from_array(X, chunks=chunks))
    assert count.n == 1
    layer = torch.nn.BatchNorm2d if len(shape) == 4 else torch.nn.BatchNorm3d
    bn = layer(shape[1], momentum=momentum, dtype=torch.float64).train()
    for start in range(0, shape[0], batch_size):
        bn(torch.from_numpy(X[start : start + batch_size]))
    np.testing.assert_allclose(
        est.running_mean_, bn.running_mean.numpy(), rtol=1e-12, atol=1e-12
    )
    np.testing.assert_allclose(
        est.running_var_, bn.running_var.numpy(), rtol=1e-12, atol=1e-12
    )
    assert est.n_batches_seen_ == int(bn.num_batches_tracked) == -(-shape[0] // 8)
    assert est.n_samples_seen_ == shape[0]
    bn.eval()
    expected = bn(torch.from_numpy(X)).detach().numpy()
    out = est.transform(da.from_array(X, chunks=chunks))
    np.testing.assert_allclose(out.compute(), expected, rtol=1e-12, atol=1e-12)


def test_minibatches_of_unknown_chunk_sizes_and_weights():
    X = maps((40, 3, 4, 4), 1, seed=8)
    w = np.random.default_rng(9).uniform(0.5, 2, 40)
    Xd = da.from_array(X, chunks=(9, 3, 2, 4))
    keep = da.from_array(np.arange(40) % 7 != 3, chunks=9)
    masked = Xd[keep]  # row chunks of unknown sizes
    assert np.isnan(masked.shape[0])
    d = MiniBatchNormalizer(channel_axis=1, batch_size=6).fit(masked)
    n = MiniBatchNormalizer(channel_axis=1, batch_size=6).fit(X[np.arange(40) % 7 != 3])
    close(d.running_var_, n.running_var_)
    assert d.n_batches_seen_ == n.n_batches_seen_ and d.n_samples_seen_ == 34
    z = ZScore(channel_axis=1).fit(masked)
    assert z.n_samples_seen_ == 34 * 16
    d = MiniBatchNormalizer(channel_axis=1, batch_size=6).fit(Xd, sample_weight=w)
    n = MiniBatchNormalizer(channel_axis=1, batch_size=6).fit(X, sample_weight=w)
    close(d.running_mean_, n.running_mean_)
    close(d.running_var_, n.running_var_)


def test_normalize_batch_is_one_step_with_a_lazy_output():
    X = maps((30, 3, 6, 4), 1, seed=10)
    Xd = da.from_array(X, chunks=(10, 3, 3, 4))
    d, n = MiniBatchNormalizer(channel_axis=1), MiniBatchNormalizer(channel_axis=1)
    with CountExecutions() as count:
        out = d.normalize_batch(Xd)
    assert count.n == 1
    assert isinstance(out, da.Array) and out.chunks == Xd.chunks
    close(out.compute(), n.normalize_batch(X), rtol=1e-12)
    close(d.running_var_, n.running_var_)


# ------------------------------------------------------------ transforms ----
@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_transforms_are_lazy_and_keep_the_chunks(case):
    shape, axis, chunks = case
    X = maps(shape, axis, seed=11, nan=0.05)
    Xd = da.from_array(X, chunks=chunks)
    a = axis % len(shape)
    joined = Xd.rechunk({a: -1}).chunks  # the channels in one chunk
    for make in (
        lambda: ZScore(channel_axis=axis),
        lambda: MinMax(channel_axis=axis),
        lambda: MiniBatchNormalizer(channel_axis=axis),
    ):
        est, ref = make().fit(Xd), make().fit(X)
        with CountExecutions() as count:
            out = est.transform(Xd)
            back = est.inverse_transform(out)
        assert count.n == 0
        assert out.chunks == joined and out.dtype == np.float64
        close(out.compute(), ref.transform(X), rtol=1e-12)
        close(back.compute(), X, rtol=1e-12)
    lrn = LocalResponseNormalizer(size=3, channel_axis=axis)
    with CountExecutions() as count:
        out = lrn.fit(Xd).transform(Xd)
    assert count.n == 0 and out.chunks == joined
    close(
        out.compute(),
        LocalResponseNormalizer(size=3, channel_axis=axis).fit_transform(X),
    )


def test_float32_and_integer_chunks():
    X = maps((12, 3, 4, 5), 1, seed=12).astype(np.float32)
    Xd = da.from_array(X, chunks=(5, 3, 2, 5))
    est = ZScore(channel_axis=1).fit(Xd)
    assert est.mean_.dtype == np.float64
    close(est.var_, ZScore(channel_axis=1).fit(X).var_)
    out = est.transform(Xd)
    assert out.dtype == np.float32 and out.compute().dtype == np.float32
    counts = da.from_array(np.arange(240).reshape(12, 4, 5) % 7, chunks=(5, 4, 2))
    est = MinMax(channel_axis=-1).fit(counts)
    np.testing.assert_array_equal(est.data_max_, np.full(5, 6.0))
    out = est.transform(counts)
    assert out.dtype == np.float64 and out.compute().dtype == np.float64


def test_transform_never_modifies_the_input():
    X = maps((10, 3, 4, 4), 1, seed=13)
    original = X.copy()
    est = ZScore(channel_axis=1).fit(X)
    est.transform(da.from_array(X, chunks=(5, 3, 2, 4)), copy=False).compute()
    np.testing.assert_array_equal(X, original)


# ------------------------------------------------------------ validation ----
def test_errors_name_the_call_and_the_fix_before_computing():
    X = maps((10, 3, 4, 4), 1)
    Xd = da.from_array(X, chunks=(5, 3, 2, 4))
    est = ZScore(channel_axis=1).fit(X)
    mm = MinMax(channel_axis=1).fit(Xd)
    with CountExecutions() as count:
        with pytest.raises(ValueError, match=r"ZScore\.partial_fit\(\): X has 3 dim"):
            est.partial_fit(da.ones((4, 3, 5), chunks=2))
        with pytest.raises(ValueError, match=r"ZScore\.partial_fit\(\): X has 2 chan"):
            est.partial_fit(da.ones((4, 2, 4, 4), chunks=2))
        with pytest.raises(ValueError, match=r"MinMax\.transform\(\): X has 4 chan"):
            mm.transform(da.ones((4, 4, 4, 4)))
        with pytest.raises(ValueError, match=r"ZScore\.fit\(\): channel_axis=0 is"):
            ZScore(channel_axis=0).fit(Xd)
        with pytest.raises(ValueError, match=r"MiniBatchNormalizer\.fit\(\).*out of"):
            MiniBatchNormalizer(channel_axis=4).fit(Xd)
        with pytest.raises(ValueError, match=r"ZScore\.fit\(\).*at least 2 dim"):
            ZScore(channel_axis=1).fit(da.ones(5, chunks=2))
        with pytest.raises(TypeError, match=r"ZScore\.fit\(\): X has dtype"):
            ZScore(channel_axis=1).fit(
                da.from_array(np.array([["a"]], dtype=object), chunks=1)
            )
        est.set_params(channel_axis=None)
        with pytest.raises(ValueError, match=r"fitted with channel_axis=1 but has"):
            est.transform(da.ones((4, 3), chunks=2))
        strict = pytest.importorskip("array_api_strict")
        fitted = ZScore(channel_axis=1).fit(strict.asarray(X))
        with pytest.raises(ValueError, match=r"must use the same namespace"):
            fitted.partial_fit(Xd)
    assert count.n == 0


def test_a_dask_dataframe_is_refused():
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    frame = dd.from_pandas(pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]}), 1)
    with pytest.raises(TypeError, match=r"ZScore\.fit\(\): channel_axis=1 needs"):
        ZScore(channel_axis=1).fit(frame)


def test_values_are_checked_while_computing_and_state_is_kept():
    X = maps((10, 3, 4, 4), 1)
    bad = X.copy()
    bad[7, 2, 1, 3] = np.inf
    est = ZScore(channel_axis=1).fit(X)
    before = est.var_.copy()
    with pytest.raises(ValueError, match=r"ZScore\.partial_fit\(\).*infinity"):
        est.partial_fit(da.from_array(bad, chunks=(5, 3, 2, 4)))
    np.testing.assert_array_equal(est.var_, before)
    assert est.n_features_in_ == 3
    lazy = est.transform(da.from_array(bad, chunks=(5, 3, 2, 4)))
    with pytest.raises(ValueError, match=r"ZScore\.transform\(\).*infinity"):
        lazy.compute()
    w = np.ones(10)
    with pytest.raises(ValueError, match=r"ZScore\.fit\(\): sample_weight has shape"):
        ZScore(channel_axis=1).fit(da.from_array(X, chunks=5), sample_weight=w[:4])


def test_a_stream_mixing_dask_and_numpy_batches_equals_one_fit():
    X = maps((40, 3, 6, 5), 1, seed=14, nan=0.05)
    est = ZScore(channel_axis=1)
    est.partial_fit(X[:10])
    est.partial_fit(da.from_array(X[10:31], chunks=(7, 3, 3, 5)))
    est.partial_fit(X[31:])
    one = ZScore(channel_axis=1).fit(X)
    close(est.mean_, one.mean_)
    close(est.var_, one.var_)
    mm = MinMax(channel_axis=1).partial_fit(da.from_array(X[:25], chunks=5))
    mm.partial_fit(X[25:])
    np.testing.assert_array_equal(mm.data_min_, MinMax(channel_axis=1).fit(X).data_min_)


# --------------------------------------------------------- CuPy chunks ----
def test_cupy_chunks_keep_the_state_on_the_device(backend):
    if backend.name != "cupy":
        pytest.skip("CuPy chunks need the CuPy backend (a GPU)")
    import cupy

    X = maps((30, 3, 8, 6), 1, nan=0.05)
    Xd = da.from_array(X, chunks=(10, 3, 4, 6)).map_blocks(cupy.asarray)
    for est in (
        ZScore(channel_axis=1),
        MinMax(channel_axis=1),
        MiniBatchNormalizer(channel_axis=1, batch_size=7),
    ):
        est.fit(Xd)
        assert isinstance(est.transform(Xd)._meta, cupy.ndarray)
        reference = type(est)(**est.get_params()).fit(X)
        out = cupy.asnumpy(est.transform(Xd).compute())
        close(out, reference.transform(X), rtol=1e-10)
