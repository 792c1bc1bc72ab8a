"""Rows of weight 0 (and NaN entries) carry no data, on every kernel path.

A row with ``sample_weight=0`` is how a user says "ignore this row".  It
must not influence any statistic, nor any choice made on the way to one:
the per-feature shift the moments are taken around, the head rows a kernel
starts from, a thread's reference value.  The data: ``1e7 + N(0, 1e-2)``,
with a zero-weight row ``1e12`` first (in every batch, for the streams).
Around a shift of 1e12 the means carry ``1e12 * eps = 1e-4`` absolutely,
which is 1 % of the spread: every statistic below would be off by 1e-5 to
1e-4 relative (the numbers of the issue).  References: NumPy two-pass in
float64 on the rows of positive weight only.
"""

from fractions import Fraction

import numpy as np
import pytest

from sknorm import MiniBatchNormalizer, ZCAWhitening, ZScore

N_ROWS, BATCH = 600, 100


def _data(seed=0, nan_first=False):
    rng = np.random.default_rng(seed)
    X = 1e7 + rng.normal(0, 1e-2, size=(N_ROWS, 2))
    w = rng.uniform(0.5, 2.0, N_ROWS)
    X[::BATCH] = 1e12  # the first row of every batch
    w[::BATCH] = 0.0
    if nan_first:
        # The second row of every batch: NaN in one feature (not observed,
        # so the first observed value with a weight is further down).
        X[1::BATCH, 0] = np.nan
    return X, w


def _exact(X, w):
    """Weighted mean and population (co)variance of the rows of positive
    weight, NaN entries skipped, in exact rational arithmetic (NumPy's own
    float64 sums are off by several ulps of the mean here)."""
    f = X.shape[1]
    keep = [
        [
            (Fraction(float(x)), Fraction(float(wi)))
            for x, wi in zip(X[:, j], w, strict=True)
            if wi > 0 and not np.isnan(x)
        ]
        for j in range(f)
    ]
    means = [sum(x * wi for x, wi in col) / sum(wi for _, wi in col) for col in keep]
    totals = [sum(wi for _, wi in col) for col in keep]
    var = [
        sum(wi * (x - m) ** 2 for x, wi in col) / t
        for col, m, t in zip(keep, means, totals, strict=True)
    ]
    return means, var, totals


def _reference(X, w):
    means, var, _ = _exact(X, w)
    return np.array([float(m) for m in means]), np.array([float(v) for v in var])


def _fits(make, X, w, path, streamed):
    est = make()
    if not streamed:
        return est.fit(path.array(X), sample_weight=path.array(w))
    for start in range(0, N_ROWS, BATCH):
        rows = slice(start, start + BATCH)
        est.partial_fit(path.array(X[rows]), sample_weight=path.array(w[rows]))
    return est


@pytest.mark.parametrize("nan_first", [False, True])
@pytest.mark.parametrize("streamed", [False, True], ids=["fit", "partial_fit"])
def test_zscore_ignores_zero_weight_rows(kernel_path, streamed, nan_first):
    X, w = _data(nan_first=nan_first)
    est = _fits(ZScore, X, w, kernel_path, streamed)
    mean, var = _reference(X, w)
    mean_, var_ = kernel_path.numpy(est.mean_), kernel_path.numpy(est.var_)
    # 1e-15 of the mean is 1e-8 absolutely: 1e-6 of the spread.
    np.testing.assert_allclose(mean_, mean, rtol=1e-15, atol=0)
    np.testing.assert_allclose(var_, var, rtol=1e-9)


@pytest.mark.parametrize("streamed", [False, True], ids=["fit", "partial_fit"])
def test_whitening_ignores_zero_weight_rows(kernel_path, streamed):
    X, w = _data(seed=1)
    est = _fits(ZCAWhitening, X, w, kernel_path, streamed)
    mean, _ = _reference(X, w)
    keep = w > 0
    Xk, wk = [Fraction(float(v)) for v in w[keep]], X[keep]
    m = [Fraction(float(v)) for v in mean]
    total = sum(Xk)
    cov = np.array(
        [
            [
                float(
                    sum(
                        wi
                        * (Fraction(float(r[a])) - m[a])
                        * (Fraction(float(r[b])) - m[b])
                        for wi, r in zip(Xk, wk, strict=True)
                    )
                    / total
                )
                for b in range(2)
            ]
            for a in range(2)
        ]
    )
    np.testing.assert_allclose(kernel_path.numpy(est.mean_), mean, rtol=1e-15)
    np.testing.assert_allclose(
        kernel_path.numpy(est.covariance_), cov, rtol=1e-8, atol=1e-9 * cov[0, 0]
    )


@pytest.mark.parametrize("nan_first", [False, True])
def test_minibatch_ignores_zero_weight_rows(kernel_path, nan_first):
    """momentum=None: the running mean is the average of the batch means,
    the running variance that of their unbiased (frequency-weighted)
    variances."""
    X, w = _data(seed=2, nan_first=nan_first)
    est = _fits(lambda: MiniBatchNormalizer(momentum=None), X, w, kernel_path, True)
    means, variances = [], []
    for start in range(0, N_ROWS, BATCH):
        rows = slice(start, start + BATCH)
        m, v, total = _exact(X[rows], w[rows])
        means.append(m)
        variances.append([vj * t / (t - 1) for vj, t in zip(v, total, strict=True)])
    n = len(means)
    mean = [float(sum(col) / n) for col in zip(*means, strict=True)]
    var = [float(sum(col) / n) for col in zip(*variances, strict=True)]
    np.testing.assert_allclose(kernel_path.numpy(est.running_mean_), mean, rtol=1e-15)
    np.testing.assert_allclose(kernel_path.numpy(est.running_var_), var, rtol=1e-9)


def test_zero_weight_rows_are_ignored_in_training_output(kernel_path):
    """normalize_batch: the batch's own statistics, zero-weight rows out
    (their output row is still given, as for every row)."""
    X, w = _data(seed=3)
    rows = slice(0, BATCH)
    est = MiniBatchNormalizer(eps=0.0 + 1e-12)
    Y = kernel_path.numpy(
        est.normalize_batch(kernel_path.array(X[rows]), kernel_path.array(w[rows]))
    )
    mean, var = _reference(X[rows], w[rows])
    expected = (X[rows][1:] - mean) / np.sqrt(var + 1e-12)
    np.testing.assert_allclose(Y[1:], expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("make", [ZScore, MiniBatchNormalizer, ZCAWhitening])
def test_weighted_device_partial_fit_reads_nothing_back(
    monkeypatch, no_host_reads, make
):
    """The weight-aware shift is device-only work (torch CUDA's kernels on
    array-api-strict arrays whose host reads raise), as the rest of a
    device partial_fit under scikit-learn's assume_finite."""
    import array_api_strict as xs
    from sklearn import config_context

    import sknorm._base
    import sknorm._stats
    from sknorm._kernels import matmul

    for module in (sknorm._stats, sknorm._base):
        monkeypatch.setattr(module, "kernels_for", lambda xp: matmul)
    X, w = _data(seed=4)
    est = make()
    est.partial_fit(xs.asarray(X[:BATCH]), sample_weight=xs.asarray(w[:BATCH]))
    with config_context(assume_finite=True), no_host_reads():
        for start in range(BATCH, N_ROWS, BATCH):
            rows = slice(start, start + BATCH)
            est.partial_fit(xs.asarray(X[rows]), sample_weight=xs.asarray(w[rows]))
    mean, _ = _reference(X, w)
    if make is not MiniBatchNormalizer:
        np.testing.assert_allclose(np.asarray(est.mean_), mean, rtol=1e-15)
