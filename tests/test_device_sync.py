"""The GPU path of ``partial_fit`` queues work without host reads.

A host read of a device value (``bool(xp.any(...))``, ``float(x)``) waits for
the GPU; on small batches that wait dominates.  Here array-api-strict arrays
stand in for device arrays, with ``bool()``/``float()``/``int()`` made to
raise, and the estimators use torch CUDA's kernels (``matmul``); CuPy's
compiled kernels are checked on a GPU in ``test_cupy_kernels.py``.
scikit-learn's ``assume_finite=True`` switches off the value checks (which
need a host read by nature); everything else must be device-only.
"""

import numpy as np
import pytest
from sklearn import config_context

import sknorm
from sknorm._kernels import matmul

xs = pytest.importorskip("array_api_strict")


@pytest.fixture
def gpu_kernels(monkeypatch):
    import sknorm._base
    import sknorm._stats

    for module in (sknorm._stats, sknorm._base):
        monkeypatch.setattr(module, "kernels_for", lambda xp: matmul)


def _batches(rng, n_batches=3, nan=False):
    out = []
    for _ in range(n_batches):
        X = 1e3 + rng.normal(size=(40, 5))
        if nan:
            X[rng.uniform(size=X.shape) < 0.1] = np.nan
        out.append(X)
    return out


@pytest.mark.parametrize("nan", [False, True])
@pytest.mark.parametrize(
    "make", [sknorm.ZScore, sknorm.MinMax, sknorm.MiniBatchNormalizer]
)
def test_partial_fit_reads_nothing_back(gpu_kernels, no_host_reads, make, nan):
    rng = np.random.default_rng(0)
    batches = _batches(rng, nan=nan)
    est = make()
    # The first call validates parameters (host values by nature).
    est.partial_fit(xs.asarray(batches[0]))
    with config_context(assume_finite=True), no_host_reads():
        for X in batches[1:]:
            est.partial_fit(xs.asarray(X))
    reference = make()
    for X in batches:
        reference.partial_fit(X)
    for name in ("mean_", "var_", "data_min_", "data_max_", "running_var_"):
        if hasattr(reference, name):
            np.testing.assert_allclose(
                np.asarray(getattr(est, name)),
                getattr(reference, name),
                rtol=1e-12,
                err_msg=name,
            )


@pytest.mark.parametrize("shrinkage", [None, 0.2, "ledoit-wolf"])
@pytest.mark.parametrize("weighted", [False, True])
def test_whitening_partial_fit_reads_nothing_back(
    gpu_kernels, no_host_reads, shrinkage, weighted
):
    """Co-moments only: the eigendecomposition waits for the first transform,
    the Ledoit-Wolf intensity stays on the device."""
    rng = np.random.default_rng(1)
    batches = [rng.normal(size=(40, 5)) for _ in range(3)]
    weights = [rng.uniform(0.5, 2.0, 40) if weighted else None for _ in batches]
    est = sknorm.ZCAWhitening(shrinkage=shrinkage)

    def as_strict(w):
        return None if w is None else xs.asarray(w)

    est.partial_fit(xs.asarray(batches[0]), sample_weight=as_strict(weights[0]))
    with config_context(assume_finite=True), no_host_reads():
        for X, w in zip(batches[1:], weights[1:], strict=True):
            est.partial_fit(xs.asarray(X), sample_weight=as_strict(w))
    reference = sknorm.ZCAWhitening(shrinkage=shrinkage)
    for X, w in zip(batches, weights, strict=True):
        reference.partial_fit(X, sample_weight=w)
    np.testing.assert_allclose(
        np.asarray(est.covariance_), reference.covariance_, rtol=1e-12
    )
    assert est.shrinkage_ == pytest.approx(reference.shrinkage_, rel=1e-12)
    assert est.n_samples_seen_ == pytest.approx(reference.n_samples_seen_)


def test_value_checks_do_read_back_without_assume_finite(gpu_kernels, no_host_reads):
    """The harness catches a host read: without assume_finite the Array API
    validation checks for infinity, which needs one."""
    est = sknorm.ZScore().partial_fit(xs.asarray(np.ones((4, 2))))
    with no_host_reads(), pytest.raises(AssertionError, match="host"):
        est.partial_fit(xs.asarray(np.ones((4, 2))))


def test_assume_finite_skips_the_inf_check_only_when_asked():
    X = xs.asarray(np.array([[1.0, np.inf], [2.0, 3.0]]))
    with pytest.raises(ValueError, match=r"ZScore\.fit\(\).*infinity"):
        sknorm.ZScore().fit(X)
    # The user vouched for the data: no check, the statistics carry the inf.
    with config_context(assume_finite=True), np.errstate(all="ignore"):
        est = sknorm.ZScore().fit(X)
    assert np.asarray(est.mean_)[0] == 1.5
    assert not np.isfinite(np.asarray(est.mean_)[1])


def test_n_samples_seen_is_read_on_access():
    X = np.array([[1.0, np.nan], [2.0, 3.0], [4.0, 5.0]])
    est = sknorm.ZScore().fit(xs.asarray(X))
    assert "n_samples_seen_" not in vars(est)
    np.testing.assert_array_equal(np.asarray(est.n_samples_seen_), [3, 2])
    assert sknorm.ZScore().fit(X[:, :1]).n_samples_seen_ == 3
    assert not hasattr(sknorm.ZScore(), "n_samples_seen_")
