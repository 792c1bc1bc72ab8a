"""MiniBatchNormalizer: PyTorch BatchNorm1d parity and its own semantics.

References are computed independently: by ``torch.nn.BatchNorm1d`` itself
(CPU, on NumPy copies of the batches) or by the textbook formulas written
out in NumPy here.

Tolerances: float64 running statistics and outputs to 1e-12 relative (they
agree to ~1e-15; PyTorch's CPU kernel evaluates the affine map as
``x * (w * invstd) + (b - mean * w * invstd)`` while sknorm evaluates
``(x - mean) * (w * invstd) + b``, the same map rounded differently, and
takes the batch moments with a different summation, so the last bits
differ).  float32: PyTorch accumulates in float32, sknorm in float64, so the
running statistics agree to 1e-5 relative and outputs of order 1 to ~1e-5.
"""

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.utils._param_validation import InvalidParameterError

from sknorm import MiniBatchNormalizer

N_FEATURES = 5
BATCH_SIZES = [7, 2, 30, 3, 11, 64, 5]
TOL = {
    "float64": {"rtol": 1e-12, "atol": 1e-12},
    "float32": {"rtol": 1e-5, "atol": 1e-5},
}


def _batches(rng, dtype="float64", sizes=BATCH_SIZES, n_features=N_FEATURES):
    scale = rng.uniform(0.5, 3.0, size=n_features)
    loc = rng.normal(0.0, 5.0, size=n_features)
    return [
        (rng.normal(size=(n, n_features)) * scale + loc).astype(dtype) for n in sizes
    ]


def _torch_bn(torch, momentum, eps, gamma, beta, dtype):
    bn = torch.nn.BatchNorm1d(
        len(gamma), momentum=momentum, eps=eps, dtype=getattr(torch, dtype)
    )
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(np.asarray(gamma, dtype=dtype)))
        bn.bias.copy_(torch.from_numpy(np.asarray(beta, dtype=dtype)))
    return bn


def _to_np(backend, a):
    return np.asarray(backend.to_numpy(a))


# ------------------------------------------------------------ torch parity --
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("momentum", [0.1, None, 0.75])
def test_torch_parity_over_a_stream(backend, dtype, momentum, rng):
    torch = pytest.importorskip("torch")
    gamma = rng.normal(size=N_FEATURES)
    beta = rng.normal(size=N_FEATURES)
    bn = _torch_bn(torch, momentum, 1e-5, gamma, beta, dtype)
    est = MiniBatchNormalizer(
        momentum=momentum, eps=1e-5, scale=gamma, shift=beta, init="pytorch"
    )
    tol = TOL[dtype]
    for batch in _batches(rng, dtype):
        expected = bn.train()(torch.from_numpy(batch)).detach().numpy()
        got = est.normalize_batch(backend.asarray(batch))
        assert _to_np(backend, got).dtype == np.dtype(dtype)
        np.testing.assert_allclose(_to_np(backend, got), expected, **tol)
        np.testing.assert_allclose(
            _to_np(backend, est.running_mean_), bn.running_mean.numpy(), **tol
        )
        np.testing.assert_allclose(
            _to_np(backend, est.running_var_), bn.running_var.numpy(), **tol
        )
    assert est.n_batches_seen_ == int(bn.num_batches_tracked) == len(BATCH_SIZES)
    assert est.n_samples_seen_ == sum(BATCH_SIZES)
    # Statistics accumulate in float64 whatever the input dtype.
    assert _to_np(backend, est.running_mean_).dtype == np.float64
    X_new = _batches(rng, dtype, sizes=[40])[0]
    expected = bn.eval()(torch.from_numpy(X_new)).detach().numpy()
    got = _to_np(backend, est.transform(backend.asarray(X_new)))
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, expected, **tol)


def test_partial_fit_takes_the_same_step_as_normalize_batch(rng):
    torch = pytest.importorskip("torch")
    bn = _torch_bn(
        torch, 0.3, 1e-5, np.ones(N_FEATURES), np.zeros(N_FEATURES), "float64"
    )
    est = MiniBatchNormalizer(momentum=0.3, init="pytorch")
    for batch in _batches(rng):
        bn.train()(torch.from_numpy(batch))
        assert est.partial_fit(batch) is est
    np.testing.assert_allclose(est.running_mean_, bn.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(est.running_var_, bn.running_var.numpy(), rtol=1e-12)


@pytest.mark.parametrize("batch_size", [10, 30, 1000])
def test_fit_walks_the_rows_in_batches_like_torch(backend, batch_size, rng):
    torch = pytest.importorskip("torch")
    X = _batches(rng, sizes=[100])[0]
    bn = _torch_bn(
        torch, 0.1, 1e-5, np.ones(N_FEATURES), np.zeros(N_FEATURES), "float64"
    )
    for start in range(0, len(X), batch_size):
        bn.train()(torch.from_numpy(X[start : start + batch_size]))
    est = MiniBatchNormalizer(batch_size=batch_size, init="pytorch")
    est.partial_fit(backend.asarray(X[:5]))  # fit must forget this
    est.fit(backend.asarray(X))
    assert est.n_batches_seen_ == int(bn.num_batches_tracked)
    assert est.n_samples_seen_ == len(X)
    np.testing.assert_allclose(
        _to_np(backend, est.running_mean_), bn.running_mean.numpy(), rtol=1e-12
    )
    np.testing.assert_allclose(
        _to_np(backend, est.running_var_), bn.running_var.numpy(), rtol=1e-12
    )


# ----------------------------------------------------- NumPy references --
def _reference_stream(batches, momentum, first_batch):
    """The update rule written out: unbiased batch variance, one row skips var."""
    mean, var = np.zeros(batches[0].shape[1]), np.ones(batches[0].shape[1])
    k_mean = k_var = 0
    for b in batches:
        k_mean += 1
        f = 1.0 / k_mean if momentum is None else momentum
        if first_batch and k_mean == 1:
            f = 1.0
        mean = f * b.mean(axis=0) + (1 - f) * mean
        if len(b) > 1:
            k_var += 1
            f = 1.0 / k_var if momentum is None else momentum
            if first_batch and k_var == 1:
                f = 1.0
            var = f * b.var(axis=0, ddof=1) + (1 - f) * var
    return mean, var


def test_momentum_none_is_the_cumulative_average(backend, rng):
    batches = _batches(rng)
    est = MiniBatchNormalizer(momentum=None)
    for b in batches:
        est.partial_fit(backend.asarray(b))
    expected_mean = np.mean([b.mean(axis=0) for b in batches], axis=0)
    expected_var = np.mean([b.var(axis=0, ddof=1) for b in batches], axis=0)
    np.testing.assert_allclose(
        _to_np(backend, est.running_mean_), expected_mean, rtol=1e-12
    )
    np.testing.assert_allclose(
        _to_np(backend, est.running_var_), expected_var, rtol=1e-12
    )
    # init does not matter with momentum=None: the first batch has weight 1.
    other = MiniBatchNormalizer(momentum=None, init="pytorch")
    for b in batches:
        other.partial_fit(backend.asarray(b))
    np.testing.assert_array_equal(
        _to_np(backend, other.running_var_), _to_np(backend, est.running_var_)
    )


@pytest.mark.parametrize("momentum", [0.1, 0.9, None])
@pytest.mark.parametrize("init", ["first_batch", "pytorch"])
def test_stream_matches_the_written_out_update(init, momentum, rng):
    batches = _batches(rng, sizes=[4, 1, 9, 2, 1, 6])  # one-row batches included
    est = MiniBatchNormalizer(momentum=momentum, init=init)
    for b in batches:
        est.partial_fit(b)
    mean, var = _reference_stream(batches, momentum, init == "first_batch")
    np.testing.assert_allclose(est.running_mean_, mean, rtol=1e-12)
    np.testing.assert_allclose(est.running_var_, var, rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    sizes=st.lists(st.integers(1, 12), min_size=1, max_size=8),
    momentum=st.sampled_from([None, 0.0, 0.1, 0.5, 1.0]),
    init=st.sampled_from(["first_batch", "pytorch"]),
)
def test_any_stream_matches_the_written_out_update(seed, sizes, momentum, init):
    rng = np.random.default_rng(seed)
    batches = _batches(rng, sizes=sizes, n_features=3)
    est = MiniBatchNormalizer(momentum=momentum, init=init)
    for b in batches:
        est.partial_fit(b)
    mean, var = _reference_stream(batches, momentum, init == "first_batch")
    np.testing.assert_allclose(est.running_mean_, mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(est.running_var_, var, rtol=1e-12, atol=1e-12)
    assert est.n_batches_seen_ == len(sizes)
    # fit with batch_size walks the concatenation the same way when the
    # batches are equal-sized.
    fitted = MiniBatchNormalizer(momentum=momentum, init=init, batch_size=sizes[0])
    fitted.fit(np.concatenate([b[: sizes[0]] for b in batches if len(b) >= sizes[0]]))
    kept = [b[: sizes[0]] for b in batches if len(b) >= sizes[0]]
    mean, var = _reference_stream(kept, momentum, init == "first_batch")
    np.testing.assert_allclose(fitted.running_mean_, mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fitted.running_var_, var, rtol=1e-12, atol=1e-12)


def test_first_batch_init_makes_fit_the_data_statistics(rng):
    X = _batches(rng, sizes=[50])[0]
    est = MiniBatchNormalizer().fit(X)
    np.testing.assert_allclose(est.running_mean_, X.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(est.running_var_, X.var(axis=0, ddof=1), rtol=1e-13)
    expected = (X - X.mean(axis=0)) / np.sqrt(X.var(axis=0, ddof=1) + 1e-5)
    np.testing.assert_allclose(est.transform(X), expected, rtol=1e-12, atol=1e-12)
    # PyTorch's start (mean 0, variance 1) blended with momentum 0.1.
    torch_like = MiniBatchNormalizer(init="pytorch").fit(X)
    np.testing.assert_allclose(
        torch_like.running_mean_, 0.1 * X.mean(axis=0), rtol=1e-13
    )
    np.testing.assert_allclose(
        torch_like.running_var_, 0.1 * X.var(axis=0, ddof=1) + 0.9, rtol=1e-13
    )


def test_keras_momentum_mapping(rng):
    """Keras: moving = moving * keras_momentum + batch * (1 - keras_momentum)."""
    keras_momentum = 0.99
    batches = _batches(rng, sizes=[8, 8, 8])
    moving = np.zeros(N_FEATURES)
    for b in batches:
        moving = moving * keras_momentum + b.mean(axis=0) * (1 - keras_momentum)
    est = MiniBatchNormalizer(momentum=1 - keras_momentum, init="pytorch")
    for b in batches:
        est.partial_fit(b)
    np.testing.assert_allclose(est.running_mean_, moving, rtol=1e-12)


def test_huge_offset_keeps_the_variance_exact(rng):
    # 1e8 + N(0, 1e-3): a plain sum of squares loses every digit of the spread.
    X = 1e8 + rng.normal(0.0, 1e-3, size=(2000, 2))
    est = MiniBatchNormalizer(momentum=None, batch_size=500).fit(X)
    spread = X - 1e8  # exact (Sterbenz): the reference sees no cancellation
    expected = np.mean(
        [spread[s : s + 500].var(axis=0, ddof=1) for s in range(0, 2000, 500)], axis=0
    )
    np.testing.assert_allclose(est.running_var_, expected, rtol=1e-12)


# ------------------------------------------- where PyTorch would raise --
def test_one_row_batch_updates_the_mean_only(rng):
    batches = _batches(rng, sizes=[6, 1])
    est = MiniBatchNormalizer(momentum=0.5).partial_fit(batches[0])
    var_before = est.running_var_.copy()
    Y = est.normalize_batch(batches[1])
    np.testing.assert_array_equal(est.running_var_, var_before)
    np.testing.assert_allclose(
        est.running_mean_,
        0.5 * batches[1][0] + 0.5 * batches[0].mean(axis=0),
        rtol=1e-14,
    )
    # x minus its own mean is 0: the output is `shift`.
    np.testing.assert_array_equal(Y, np.zeros((1, N_FEATURES)))
    shifted = MiniBatchNormalizer(shift=np.arange(N_FEATURES) * 1.0)
    np.testing.assert_array_equal(
        shifted.normalize_batch(batches[1]), np.arange(N_FEATURES)[None, :] * 1.0
    )
    # A first batch of one row leaves the variance at PyTorch's start value.
    assert np.all(shifted.running_var_ == 1.0)
    np.testing.assert_array_equal(shifted.running_mean_, batches[1][0])


def test_nan_is_ignored_per_feature(backend, rng):
    b1, b2 = _batches(rng, sizes=[8, 6])
    b1[[0, 3], 1] = np.nan
    b2[:, 2] = np.nan  # no observed value: feature 2 keeps its statistics
    b2[1:, 3] = np.nan  # one observed value: as a one-row batch
    est = MiniBatchNormalizer(momentum=0.25)
    est.partial_fit(backend.asarray(b1))
    Y = _to_np(backend, est.normalize_batch(backend.asarray(b2)))
    m1, v1 = np.nanmean(b1, axis=0), np.nanvar(b1, axis=0, ddof=1)
    m2 = np.array([np.nanmean(c) if np.any(~np.isnan(c)) else np.nan for c in b2.T])
    v2 = b2.var(axis=0, ddof=1)
    exp_mean = 0.25 * m2 + 0.75 * m1
    exp_var = 0.25 * v2 + 0.75 * v1
    exp_mean[2], exp_var[2] = m1[2], v1[2]
    exp_var[3] = v1[3]
    np.testing.assert_allclose(_to_np(backend, est.running_mean_), exp_mean, rtol=1e-12)
    np.testing.assert_allclose(_to_np(backend, est.running_var_), exp_var, rtol=1e-12)
    assert np.array_equal(np.isnan(Y), np.isnan(b2))
    biased = np.nanvar(b2[:, [0, 1, 4]], axis=0)
    expected = (b2[:, [0, 1, 4]] - m2[[0, 1, 4]]) / np.sqrt(biased + 1e-5)
    np.testing.assert_allclose(Y[:, [0, 1, 4]], expected, rtol=1e-12, atol=1e-12)
    # Transform keeps NaNs where they are.
    Yt = _to_np(backend, est.transform(backend.asarray(b1)))
    assert np.array_equal(np.isnan(Yt), np.isnan(b1))


def test_integer_weights_equal_repeated_rows(rng):
    torch = pytest.importorskip("torch")
    batches = _batches(rng, sizes=[5, 9, 4])
    weights = [rng.integers(0, 4, size=len(b)) for b in batches]
    for w in weights:
        w[0] = 2  # every batch keeps a row
    bn = _torch_bn(
        torch, 0.2, 1e-5, np.ones(N_FEATURES), np.zeros(N_FEATURES), "float64"
    )
    est = MiniBatchNormalizer(momentum=0.2, init="pytorch")
    for b, w in zip(batches, weights, strict=True):
        repeated = np.repeat(b, w, axis=0)
        expected = bn.train()(torch.from_numpy(repeated)).detach().numpy()
        got = est.normalize_batch(b, sample_weight=w)
        np.testing.assert_allclose(
            np.repeat(got, w, axis=0), expected, rtol=1e-12, atol=1e-12
        )
    np.testing.assert_allclose(est.running_mean_, bn.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(est.running_var_, bn.running_var.numpy(), rtol=1e-12)


def test_weights_below_one_in_total_skip_the_variance(rng):
    b = _batches(rng, sizes=[4])[0]
    est = MiniBatchNormalizer(momentum=0.5).fit(b)
    var = est.running_var_.copy()
    w = np.array([0.1, 0.2, 0.3, 0.2])
    est.partial_fit(b + 1.0, sample_weight=w)
    np.testing.assert_array_equal(est.running_var_, var)
    np.testing.assert_allclose(
        est.running_mean_, 0.5 * (w @ (b + 1.0)) / w.sum() + 0.5 * b.mean(axis=0)
    )


def test_sample_weight_from_another_namespace(rng):
    torch = pytest.importorskip("torch")
    b = _batches(rng, sizes=[6])[0]
    w = np.array([1.0, 2.0, 0.5, 1.0, 3.0, 1.0])
    a = MiniBatchNormalizer().fit(b, sample_weight=w)
    c = MiniBatchNormalizer().fit(b, sample_weight=torch.from_numpy(w))
    np.testing.assert_array_equal(a.running_var_, c.running_var_)
    mean = w @ b / w.sum()
    var = w @ (b - mean) ** 2 / w.sum()
    np.testing.assert_allclose(a.running_mean_, mean, rtol=1e-13)
    np.testing.assert_allclose(
        a.running_var_, var * w.sum() / (w.sum() - 1), rtol=1e-13
    )


# ----------------------------------------------------- scale and shift --
def test_per_feature_scale_and_shift_in_any_namespace(backend, rng):
    X = _batches(rng, sizes=[20])[0]
    gamma, beta = rng.normal(size=N_FEATURES), rng.normal(size=N_FEATURES)
    est = MiniBatchNormalizer(scale=backend.asarray(gamma), shift=list(beta))
    est.fit(backend.asarray(X))
    Y = _to_np(backend, est.transform(backend.asarray(X)))
    std = np.sqrt(X.var(axis=0, ddof=1) + 1e-5)
    np.testing.assert_allclose(Y, (X - X.mean(axis=0)) / std * gamma + beta, rtol=1e-12)
    back = _to_np(backend, est.inverse_transform(backend.asarray(Y)))
    np.testing.assert_allclose(back, X, rtol=1e-12)


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        (np.ones(3), ValueError, r"scale has shape \(3,\); expected a scalar"),
        (np.ones((1, 5)), ValueError, r"scale has shape \(1, 5\)"),
        (np.array([1.0, np.nan, 1, 1, 1]), ValueError, "scale contains NaN"),
        (np.array(["a"] * 5), TypeError, "scale has dtype <U1; pass real numbers"),
        (["a"] * 5, TypeError, "scale must be a real number"),
        (float("inf"), ValueError, "scale=inf must be finite"),
    ],
)
def test_bad_scale_is_a_clear_error(value, error, match, rng):
    X = _batches(rng, sizes=[6])[0]
    with pytest.raises(error, match=r"^MiniBatchNormalizer\.fit\(\): " + match):
        MiniBatchNormalizer(scale=value).fit(X)


def test_zero_scale_cannot_be_inverted(rng):
    X = _batches(rng, sizes=[6])[0]
    est = MiniBatchNormalizer(scale=np.array([1.0, 0.0, 1.0, 1.0, 1.0])).fit(X)
    Y = est.transform(X)
    np.testing.assert_array_equal(Y[:, 1], 0.0)
    with pytest.raises(ValueError, match=r"^MiniBatchNormalizer\.inverse_transform"):
        est.inverse_transform(Y)


def test_parameters_are_validated():
    X = np.ones((3, 2))
    for params in ({"momentum": 1.5}, {"eps": 0.0}, {"batch_size": 0}, {"init": "x"}):
        for method in ("fit", "partial_fit", "normalize_batch"):
            match = rf"^MiniBatchNormalizer\.{method}\(\): "
            with pytest.raises(InvalidParameterError, match=match):
                getattr(MiniBatchNormalizer(**params), method)(X)


# ------------------------------------------------- copies and dtypes --
def test_copy_semantics_and_dtypes(rng):
    X = _batches(rng, sizes=[10], dtype="float32")[0]
    X_orig = X.copy()
    est = MiniBatchNormalizer()
    Y = est.normalize_batch(X)
    assert Y.dtype == np.float32 and est.running_mean_.dtype == np.float64
    np.testing.assert_array_equal(X, X_orig)
    Y_inplace = MiniBatchNormalizer(copy=False).normalize_batch(X)
    assert np.shares_memory(Y_inplace, X)
    np.testing.assert_array_equal(Y_inplace, Y)
    ints = MiniBatchNormalizer().fit_transform(np.arange(12).reshape(6, 2))
    assert ints.dtype == np.float64


# ------------------------------------------------------ transactional --
def _snapshot(est):
    return {
        k: (np.array(v, copy=True) if isinstance(v, np.ndarray) else v)
        for k, v in vars(est).items()
    }


def _assert_same_state(est, snap):
    assert set(vars(est)) == set(snap)
    for k, v in snap.items():
        if isinstance(v, np.ndarray):
            np.testing.assert_array_equal(getattr(est, k), v, strict=True)
        else:
            assert getattr(est, k) == v


@pytest.mark.parametrize("method", ["partial_fit", "normalize_batch"])
def test_failing_step_leaves_the_state_bit_identical(method, rng):
    b1, b2 = _batches(rng, sizes=[6, 6])
    est = MiniBatchNormalizer().partial_fit(b1)
    snap = _snapshot(est)
    bad_inputs = [
        ({"X": b2[:, :3]}, ValueError, "X has 3 features"),
        ({"X": np.where(b2 > 0, np.inf, b2)}, ValueError, "infinity"),
        ({"X": b2, "sample_weight": -np.ones(6)}, ValueError, "non-negative"),
        ({"X": b2, "sample_weight": np.ones(5)}, ValueError, "sample_weight has shape"),
        ({"X": b2.astype(complex)}, ValueError, "Complex data"),
    ]
    for kwargs, error, match in bad_inputs:
        with pytest.raises(
            error, match=rf"^MiniBatchNormalizer\.{method}\(\): .*{match}"
        ):
            getattr(est, method)(**kwargs)
        _assert_same_state(est, snap)


def test_other_namespace_after_fit_is_an_error(rng):
    xs = pytest.importorskip("array_api_strict")
    b = _batches(rng, sizes=[6])[0]
    est = MiniBatchNormalizer().fit(b)
    snap = _snapshot(est)
    for method in ("partial_fit", "normalize_batch", "transform"):
        with pytest.raises(ValueError, match="must use the same namespace"):
            getattr(est, method)(xs.asarray(b))
    _assert_same_state(est, snap)


# ------------------------------------------------------ torch interop --
def test_state_dict_round_trip_through_batchnorm1d(rng):
    torch = pytest.importorskip("torch")
    gamma, beta = rng.normal(size=N_FEATURES), rng.normal(size=N_FEATURES)
    est = MiniBatchNormalizer(momentum=0.2, scale=gamma, shift=beta, batch_size=16)
    X = np.concatenate(_batches(rng))
    est.fit(X)
    state = est.to_torch_state_dict()
    assert set(state) == {
        "weight",
        "bias",
        "running_mean",
        "running_var",
        "num_batches_tracked",
    }
    assert state["num_batches_tracked"].dtype == torch.long
    assert int(state["num_batches_tracked"]) == est.n_batches_seen_
    # The dict must not alias the estimator's arrays.
    state["running_mean"] += 1.0
    as32 = est.to_torch_state_dict(dtype=torch.float32)
    assert as32["running_var"].dtype == torch.float32
    np.testing.assert_allclose(as32["running_var"].numpy(), est.running_var_, rtol=1e-7)
    state = est.to_torch_state_dict()
    assert state["running_var"].dtype == torch.float64
    bn = torch.nn.BatchNorm1d(N_FEATURES, momentum=0.2, dtype=torch.float64)
    bn.load_state_dict(state)
    X_new = _batches(rng, sizes=[25])[0]
    expected = bn.eval()(torch.from_numpy(X_new)).detach().numpy()
    np.testing.assert_allclose(est.transform(X_new), expected, rtol=1e-12, atol=1e-12)

    # ... and back: a module trained further in torch loads into sknorm,
    # and further steps continue exactly as the module's.
    for b in _batches(rng, sizes=[9, 4]):
        bn.train()(torch.from_numpy(b))
    back = MiniBatchNormalizer.from_torch_state_dict(bn.state_dict(), momentum=0.2)
    assert back.n_batches_seen_ == int(bn.num_batches_tracked)
    assert isinstance(back.running_mean_, torch.Tensor)  # the tensors' namespace
    for b in _batches(rng, sizes=[7, 12]):
        expected = bn.train()(torch.from_numpy(b)).detach().numpy()
        got = back.normalize_batch(torch.from_numpy(b)).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        back.running_var_.numpy(), bn.running_var.numpy(), rtol=1e-12
    )
    Xt = torch.from_numpy(X_new)
    np.testing.assert_allclose(
        back.transform(Xt).numpy(),
        bn.eval()(Xt).detach().numpy(),
        rtol=1e-12,
        atol=1e-12,
    )


def test_from_state_dict_of_a_fresh_module_continues_like_torch(rng):
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(
        torch.nn.Identity(), torch.nn.BatchNorm1d(N_FEATURES, momentum=None)
    ).double()
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    est = MiniBatchNormalizer.from_torch_state_dict(state, prefix="1.", momentum=None)
    assert isinstance(est.running_mean_, np.ndarray)
    assert est.n_batches_seen_ == 0 and est.init == "pytorch"
    for b in _batches(rng, sizes=[5, 8, 3]):
        model.train()(torch.from_numpy(b))
        est.partial_fit(b)
    np.testing.assert_allclose(
        est.running_mean_, model[1].running_mean.numpy(), rtol=1e-12
    )
    np.testing.assert_allclose(
        est.running_var_, model[1].running_var.numpy(), rtol=1e-12
    )


def test_from_state_dict_errors():
    good = {"running_mean": np.zeros(3), "running_var": np.ones(3)}
    prefix = r"^MiniBatchNormalizer\.from_torch_state_dict\(\): "
    with pytest.raises(ValueError, match=prefix + "state_dict has no running_var"):
        MiniBatchNormalizer.from_torch_state_dict({"running_mean": np.zeros(3)})
    with pytest.raises(ValueError, match=prefix + r"weight has shape \(2,\)"):
        MiniBatchNormalizer.from_torch_state_dict({**good, "weight": np.ones(2)})
    with pytest.raises(ValueError, match=prefix + "running_var has negative"):
        MiniBatchNormalizer.from_torch_state_dict({**good, "running_var": -np.ones(3)})
    with pytest.raises(ValueError, match=prefix + "scale was passed"):
        MiniBatchNormalizer.from_torch_state_dict(
            {**good, "weight": np.ones(3)}, scale=2.0
        )
    est = MiniBatchNormalizer.from_torch_state_dict(good, scale=2.0)
    np.testing.assert_allclose(est.transform(np.ones((1, 3))), 2 / np.sqrt(1 + 1e-5))


def test_import_sknorm_does_not_import_torch():
    code = (
        "import sys, sknorm; sknorm.MiniBatchNormalizer; print('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_fit_slices_the_weights_with_the_rows(rng):
    X = _batches(rng, sizes=[23])[0]
    w = rng.uniform(0.5, 2.0, size=23)
    fitted = MiniBatchNormalizer(momentum=0.3, batch_size=5).fit(X, sample_weight=w)
    manual = MiniBatchNormalizer(momentum=0.3)
    for start in range(0, 23, 5):
        manual.partial_fit(X[start : start + 5], sample_weight=w[start : start + 5])
    np.testing.assert_array_equal(fitted.running_mean_, manual.running_mean_)
    np.testing.assert_array_equal(fitted.running_var_, manual.running_var_)
    assert fitted.n_batches_seen_ == manual.n_batches_seen_ == 5


def test_inverse_transform_refuses_a_zero_scale_and_inverts_otherwise():
    X = np.random.default_rng(5).normal(2.0, 3.0, size=(40, 2))
    est = MiniBatchNormalizer(scale=np.array([1.5, 0.0]), shift=0.25).fit(X)
    with pytest.raises(
        ValueError, match=r"MiniBatchNormalizer\.inverse_transform\(\).*scale"
    ):
        est.inverse_transform(est.transform(X))
    ok = MiniBatchNormalizer(scale=np.array([1.5, -2.0]), shift=0.25).fit(X)
    np.testing.assert_allclose(ok.inverse_transform(ok.transform(X)), X, rtol=1e-12)
