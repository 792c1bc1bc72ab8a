"""Any sparse batch leaves ZScore's statistics equal to one fit of all rows.

A batch in which a feature has no observed entry (all NaN) carries no data
for it; its NaN mean and variance must not enter the merge (scikit-learn's
regression test for its issue 16448).  References: NumPy's ``nanmean`` and
``nanvar`` on the dense rows, and scikit-learn's weighted two-pass sums.
"""

import numpy as np
import pytest
import scipy.sparse as sp

from sknorm import ZScore


def _sparse_data(seed, n=20, f=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, f)) * np.array([1.0, 10.0, 0.1])[:f]
    X[rng.uniform(size=X.shape) < 0.4] = 0.0
    return X


def _assert_stats(est, dense, weights=None):
    if weights is None:
        mean, var = np.nanmean(dense, axis=0), np.nanvar(dense, axis=0)
    else:
        obs = ~np.isnan(dense)
        W = obs * weights[:, None]
        mean = np.nansum(W * np.nan_to_num(dense), axis=0) / W.sum(axis=0)
        var = (W * np.nan_to_num(dense - mean) ** 2).sum(axis=0) / W.sum(axis=0)
    np.testing.assert_allclose(est.mean_, mean, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(est.var_, var, rtol=1e-12, atol=1e-15)
    assert np.all(np.isfinite(est.var_))


@pytest.mark.parametrize("container", [sp.csr_matrix, sp.csc_matrix, sp.csr_array])
def test_all_nan_batch_after_a_fit(container):
    """scikit-learn's issue 16448: the variance stays finite and equal to
    that of the first batch alone."""
    X = _sparse_data(0)
    est = ZScore(with_mean=False).fit(container(X))
    est.partial_fit(container(np.full((10, 3), np.nan)))
    _assert_stats(est, X)
    np.testing.assert_array_equal(est.n_samples_seen_, 20)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("case", ["nan first batch", "nan column", "nan middle"])
def test_any_sparse_batches_equal_one_fit(case, weighted):
    rng = np.random.default_rng(1)
    batches = [_sparse_data(s, n=n) for s, n in enumerate([8, 12, 6], start=2)]
    if case == "nan first batch":
        batches[0][:] = np.nan
    elif case == "nan column":
        batches[1][:, 1] = np.nan
        batches[0][:, 2] = np.nan
    else:
        batches[1][:] = np.nan
    weights = [rng.uniform(0.5, 2.0, len(b)) if weighted else None for b in batches]
    est = ZScore(with_mean=False)
    for b, w in zip(batches, weights, strict=True):
        est.partial_fit(sp.csr_matrix(b), sample_weight=w)
    dense = np.vstack(batches)
    all_w = np.concatenate(weights) if weighted else None
    _assert_stats(est, dense, all_w)
    one = ZScore(with_mean=False).fit(sp.csr_matrix(dense), sample_weight=all_w)
    np.testing.assert_allclose(est.var_, one.var_, rtol=1e-12)
    np.testing.assert_allclose(est.mean_, one.mean_, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(est.n_samples_seen_, one.n_samples_seen_, rtol=1e-14)
    Z = est.transform(sp.csr_matrix(dense)).toarray()
    assert np.all(np.isfinite(Z[~np.isnan(dense)]))


def test_dense_batch_after_an_all_nan_sparse_one():
    """A sparse all-NaN batch first, then dense batches: as one fit."""
    X = _sparse_data(5)
    est = ZScore(with_mean=False).partial_fit(sp.csr_matrix(np.full((4, 3), np.nan)))
    est.partial_fit(X[:10]).partial_fit(sp.csr_matrix(X[10:]))
    _assert_stats(est, X)
