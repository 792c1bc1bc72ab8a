"""``channel_axis`` against PyTorch's own layers: BatchNorm1d/2d/3d on
``(N, C, L)`` / ``(N, C, H, W)`` / ``(N, C, D, H, W)`` and
``local_response_norm`` across channels.

The references are the torch modules and functions, on NumPy copies of the
batches (torch's CPU kernels).  Tolerances as in ``test_minibatch.py``:
1e-12 in float64 (the two libraries take the batch moments with different
summations), 1e-5 in float32 (torch accumulates float32 in float32).
Channels-last data is compared with torch on the permuted array.
"""

import numpy as np
import pytest

from sknorm import LocalResponseNormalizer, MiniBatchNormalizer

torch = pytest.importorskip("torch")

TOL = {
    "float64": {"rtol": 1e-12, "atol": 1e-12},
    "float32": {"rtol": 1e-5, "atol": 1e-5},
}
# (module, shape of a batch without its sample count)
# (module, shape of a batch without its sample count, channels last)
LAYERS = [
    (torch.nn.BatchNorm1d, (3, 33), False),
    (torch.nn.BatchNorm2d, (3, 9, 11), False),
    (torch.nn.BatchNorm2d, (2, 48, 50), False),  # long rows: NumPy's rows route
    (torch.nn.BatchNorm3d, (4, 3, 5, 6), False),
    (torch.nn.BatchNorm2d, (3, 9, 11), True),
    (torch.nn.BatchNorm3d, (4, 3, 5, 6), True),
]
BATCHES = [5, 2, 8, 1, 3]


class _NUMPY:
    """NumPy as the ``backend`` fixture presents a backend."""

    asarray = staticmethod(np.asarray)
    to_numpy = staticmethod(np.asarray)


def _ids(layer):
    module, shape, channels_last = layer
    last = "-channels-last" if channels_last else ""
    return f"{module.__name__}-{'x'.join(map(str, shape))}{last}"


def _np(backend, a):
    return np.asarray(backend.to_numpy(a))


def _module(make, n_channels, momentum, dtype, rng):
    bn = make(n_channels, momentum=momentum, dtype=getattr(torch, dtype))
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(rng.normal(size=n_channels)))
        bn.bias.copy_(torch.from_numpy(rng.normal(size=n_channels)))
    return bn


def _batch(rng, shape, dtype):
    loc = rng.normal(0.0, 5.0, size=(shape[1],) + (1,) * (len(shape) - 2))
    return (rng.normal(size=shape) * 2.0 + loc).astype(dtype)


def _stream_parity(backend, layer, dtype, momentum, rng):
    """A stream of training steps, then inference, against the module."""
    make, sample_shape, channels_last = layer
    C = sample_shape[0]
    bn = _module(make, C, momentum, dtype, rng)
    est = MiniBatchNormalizer(
        momentum=momentum,
        scale=bn.weight.detach().numpy().astype(np.float64),
        shift=bn.bias.detach().numpy().astype(np.float64),
        init="pytorch",
        channel_axis=-1 if channels_last else 1,
    )

    def ours(X):  # the batch in the estimator's layout
        X = np.moveaxis(X, 1, -1) if channels_last else X
        return backend.asarray(np.ascontiguousarray(X))

    def theirs(Y):
        Y = _np(backend, Y)
        return np.moveaxis(Y, -1, 1) if channels_last else Y

    tol = TOL[dtype]
    for n in BATCHES:
        X = _batch(rng, (n, *sample_shape), dtype)
        if n == 1 and make is torch.nn.BatchNorm1d:
            continue  # torch: "Expected more than 1 value per channel"
        expected = bn.train()(torch.from_numpy(X)).detach().numpy()
        got = est.normalize_batch(ours(X))
        assert _np(backend, got).dtype == np.dtype(dtype)
        np.testing.assert_allclose(theirs(got), expected, **tol)
        np.testing.assert_allclose(
            _np(backend, est.running_mean_), bn.running_mean.numpy(), **tol
        )
        np.testing.assert_allclose(
            _np(backend, est.running_var_), bn.running_var.numpy(), **tol
        )
    assert est.n_batches_seen_ == int(bn.num_batches_tracked)
    assert _np(backend, est.running_var_).dtype == np.float64
    X = _batch(rng, (6, *sample_shape), dtype)
    expected = bn.eval()(torch.from_numpy(X)).detach().numpy()
    np.testing.assert_allclose(theirs(est.transform(ours(X))), expected, **tol)
    # inverse_transform undoes the eval map
    back = est.inverse_transform(est.transform(ours(X)))
    rtol = 1e-10 if dtype == "float64" else 1e-4
    np.testing.assert_allclose(theirs(back), X, rtol=rtol, atol=1e-4)


@pytest.mark.parametrize("layer", LAYERS, ids=_ids)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("momentum", [0.1, None, 0.75])
def test_batchnorm_parity_over_a_stream(layer, dtype, momentum, rng):
    _stream_parity(_NUMPY, layer, dtype, momentum, rng)


@pytest.mark.parametrize("layer", [LAYERS[1], LAYERS[2], LAYERS[4]], ids=_ids)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_batchnorm_parity_on_every_backend(backend, layer, dtype, rng):
    _stream_parity(backend, layer, dtype, 0.1, rng)


def test_unbiased_variance_counts_every_value_of_a_channel(rng):
    """torch's running variance is unbiased over N * H * W values."""
    X = rng.normal(size=(2, 3, 4, 5))
    bn = torch.nn.BatchNorm2d(3, momentum=1.0, dtype=torch.float64)
    bn.train()(torch.from_numpy(X))
    est = MiniBatchNormalizer(momentum=1.0, channel_axis=1).partial_fit(X)
    values = np.moveaxis(X, 1, 0).reshape(3, -1)
    np.testing.assert_allclose(est.running_var_, values.var(axis=1, ddof=1), rtol=1e-13)
    np.testing.assert_allclose(bn.running_var.numpy(), est.running_var_, rtol=1e-12)


def test_fit_in_batches_walks_the_samples_like_torch(rng):
    X = _batch(rng, (23, 3, 6, 7), "float64")
    bn = torch.nn.BatchNorm2d(3, dtype=torch.float64)
    for start in range(0, 23, 5):
        bn.train()(torch.from_numpy(X[start : start + 5]))
    est = MiniBatchNormalizer(batch_size=5, init="pytorch", channel_axis=1).fit(X)
    assert est.n_batches_seen_ == int(bn.num_batches_tracked) == 5
    assert est.n_samples_seen_ == 23
    np.testing.assert_allclose(est.running_mean_, bn.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(est.running_var_, bn.running_var.numpy(), rtol=1e-12)


@pytest.mark.parametrize("make", [torch.nn.BatchNorm2d, torch.nn.BatchNorm3d])
def test_state_dicts_in_and_out(make, rng):
    shape = (4, 3, 5, 6) if make is torch.nn.BatchNorm2d else (4, 3, 2, 5, 6)
    est = MiniBatchNormalizer(
        momentum=0.2,
        scale=rng.uniform(0.5, 2, 3),
        shift=rng.normal(size=3),
        channel_axis=1,
    )
    for _ in range(3):
        est.partial_fit(_batch(rng, shape, "float64"))
    module = make(3, momentum=0.2, dtype=torch.float64)
    module.load_state_dict(est.to_torch_state_dict())
    X = _batch(rng, shape, "float64")
    expected = module.eval()(torch.from_numpy(X)).detach().numpy()
    np.testing.assert_allclose(est.transform(X), expected, **TOL["float64"])

    # ... and back: a trained module's statistics, then training goes on
    # exactly as the module's would.
    for _ in range(2):
        module.train()(torch.from_numpy(_batch(rng, shape, "float64")))
    state = {k: v.numpy() for k, v in module.state_dict().items()}
    back = MiniBatchNormalizer.from_torch_state_dict(
        state, momentum=0.2, channel_axis=1
    )
    np.testing.assert_allclose(
        back.transform(X),
        module.eval()(torch.from_numpy(X)).detach().numpy(),
        **TOL["float64"],
    )
    nxt = _batch(rng, (2, *shape[1:]), "float64")
    expected = module.train()(torch.from_numpy(nxt)).detach().numpy()
    np.testing.assert_allclose(back.normalize_batch(nxt), expected, **TOL["float64"])
    np.testing.assert_allclose(
        back.running_var_, module.running_var.numpy(), **TOL["float64"]
    )
    with pytest.raises(ValueError, match="dimensions"):
        back.partial_fit(nxt.reshape(2, 3, -1))  # the layout is now learned


# -------------------------------------------------------------------- LRN --
LRN_PARAMS = [
    (5, 1e-4, 0.75, 2.0),
    (2, 1.0, 0.75, 1.0),
    (3, 3.0, 1.0, 0.5),
    (9, 0.3, 2.0, 1.5),
]
LRN_SHAPES = [(3, 7, 11), (2, 6, 5, 4), (2, 5, 3, 4, 6), (2, 4, 40, 60)]


@pytest.mark.parametrize("shape", LRN_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("params", LRN_PARAMS, ids=lambda p: f"size{p[0]}")
@pytest.mark.parametrize("channels_last", [False, True])
def test_local_response_across_channels(backend, shape, params, channels_last, rng):
    size, alpha, beta, k = params
    X = rng.normal(size=shape)
    expected = torch.nn.functional.local_response_norm(
        torch.from_numpy(X), size, alpha=alpha, beta=beta, k=k
    ).numpy()
    if channels_last:
        X, expected = np.moveaxis(X, 1, -1).copy(), np.moveaxis(expected, 1, -1)
    lrn = LocalResponseNormalizer(
        size, alpha=alpha, beta=beta, k=k, channel_axis=-1 if channels_last else 1
    )
    got = _np(backend, lrn.transform(backend.asarray(X)))
    assert got.shape == X.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


def test_local_response_float32_and_nan(backend, rng):
    X = rng.normal(size=(2, 6, 30, 40)).astype(np.float32)
    expected = torch.nn.functional.local_response_norm(torch.from_numpy(X), 5).numpy()
    lrn = LocalResponseNormalizer(5, k=1.0, channel_axis=1)
    got = _np(backend, lrn.transform(backend.asarray(X)))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    X = X.astype(np.float64)
    X[0, 2, 3, 4] = np.nan  # kept, adds nothing to its neighbours' windows
    zeroed = np.where(np.isnan(X), 0.0, X)
    expected = torch.nn.functional.local_response_norm(
        torch.from_numpy(zeroed), 5
    ).numpy()
    got = _np(backend, lrn.fit(backend.asarray(X)).transform(backend.asarray(X)))
    assert np.isnan(got[0, 2, 3, 4])
    mask = ~np.isnan(X)
    np.testing.assert_allclose(got[mask], expected[mask], rtol=1e-12)
