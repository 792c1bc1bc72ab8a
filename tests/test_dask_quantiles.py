"""Dask fits of the robust family: one graph execution, the per-chunk
quantile summaries merged by the fixed tree (states of different lengths),
the same bits on every scheduler, and estimates certified against the ranks
counted in all the data (``tests/quantile_ranks.py``: independent of the
summary's code)."""

import numpy as np
import pytest
from quantile_ranks import interpolation_slack, rank_deviation

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
pd = pytest.importorskip("pandas")
import dask  # noqa: E402
from dask_cases import CountExecutions  # noqa: E402

from sknorm import MaxAbs, Quantile, Robust  # noqa: E402

RANK_ERROR = 0.01


def heavy_tailed(n=24_000, seed=0):
    rng = np.random.default_rng(seed)
    X = np.stack(
        [
            rng.standard_cauchy(n),
            rng.lognormal(0.0, 2.0, n),
            1e6 * rng.normal(size=n),
            np.round(rng.normal(size=n)),  # heavy duplicates
        ],
        axis=1,
    )
    X[rng.uniform(size=X.shape) < 0.05] = np.nan
    return X


def chunked(X, rows):
    return da.from_array(X, chunks=(rows, X.shape[1]))


def _fits(Xd, **fit):
    robust = Robust(rank_error=RANK_ERROR).fit(Xd, **fit)
    quantile = Quantile(n_quantiles=50, rank_error=RANK_ERROR).fit(Xd, **fit)
    return robust, quantile


def _assert_certified(est, X, w=None):
    if isinstance(est, Robust):
        levels, q = np.array([0.25, 0.5, 0.75]), est._quantiles_.get()
    else:
        levels, q = est.references_, est.quantiles_.T
    deviation = rank_deviation(X, q, levels, w)
    slack = interpolation_slack(X, w, fractional=w is not None)
    np.testing.assert_array_less(deviation, est.rank_error_ + slack + 1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_dask_fit_is_one_execution_and_certified(weighted):
    X = heavy_tailed()
    w = np.random.default_rng(1).uniform(0.0, 3.0, X.shape[0]) if weighted else None
    fit = {} if w is None else {"sample_weight": da.from_array(w, chunks=3_000)}
    Xd = chunked(X, 3_000)
    with CountExecutions() as count:
        robust, quantile = _fits(Xd, **fit)
    assert count.n == 2  # one per fit
    for est in (robust, quantile):
        assert 0.0 < est.rank_error_ <= RANK_ERROR
        assert type(est._weight_seen_) is np.ndarray
        _assert_certified(est, X, w)


def test_a_chunk_the_summary_holds_whole_is_exact():
    X = heavy_tailed(n=2_000)
    ours = Quantile(n_quantiles=30).fit(chunked(X, 500))
    assert ours.rank_error_ == 0.0
    np.testing.assert_allclose(
        ours.quantiles_, Quantile(n_quantiles=30).fit(X).quantiles_, rtol=1e-12
    )


def test_bits_do_not_depend_on_the_scheduler(client):
    X = heavy_tailed()
    Xd = chunked(X, 2_500)  # 10 chunks, uneven last
    with dask.config.set(scheduler="sync"):
        reference = [e._quantiles_.get() for e in _fits(Xd)]
    for scheduler in ("threads", None):  # None: the client (distributed)
        if scheduler is None:
            fits = _fits(Xd)
        else:
            with dask.config.set(scheduler=scheduler):
                fits = _fits(Xd)
        for est, expected in zip(fits, reference, strict=True):
            np.testing.assert_array_equal(est._quantiles_.get(), expected)


def test_maxabs_equals_the_numpy_fit_bit_for_bit():
    X = heavy_tailed()
    w = np.random.default_rng(2).uniform(0.0, 1.0, X.shape[0])
    w[::3] = 0.0
    ours = MaxAbs().fit(chunked(X, 7_000), sample_weight=da.from_array(w, 7_000))
    reference = MaxAbs().fit(X, sample_weight=w)
    np.testing.assert_array_equal(ours.max_abs_, reference.max_abs_)


def test_dataframe_and_lazy_transforms():
    X = heavy_tailed(n=6_000)
    pdf = pd.DataFrame(X, columns=list("abcd"))
    frame = dd.from_pandas(pdf, npartitions=4)
    # Known partition lengths: to_dask_array(lengths=True) would compute them.
    lengths = tuple(frame.map_partitions(len).compute())
    for est in (
        Robust(rank_error=RANK_ERROR),
        Quantile(n_quantiles=40, rank_error=RANK_ERROR, output_distribution="normal"),
        MaxAbs(),
    ):
        est.fit(frame)
        # Counted on a local scheduler (the module's client, once started,
        # is the default, and the callback would not see its executions).
        with dask.config.set(scheduler="threads"), CountExecutions() as count:
            lazy = est.transform(frame)
            back = est.inverse_transform(lazy.to_dask_array(lengths=lengths))
        assert count.n == 0
        expected = est.transform(pdf)
        np.testing.assert_allclose(
            lazy.compute().to_numpy(), expected, rtol=1e-12, equal_nan=True
        )
        np.testing.assert_allclose(
            back.compute(), est.inverse_transform(expected), equal_nan=True
        )


def test_merge_and_a_stream_mixing_dask_and_numpy_batches():
    X = heavy_tailed()
    halves = X[:12_000], X[12_000:]
    merged = Quantile(n_quantiles=50, rank_error=RANK_ERROR).fit(
        chunked(halves[0], 4_000)
    )
    merged.merge(Quantile(n_quantiles=50, rank_error=RANK_ERROR).fit(halves[1]))
    mixed = Quantile(n_quantiles=50, rank_error=RANK_ERROR)
    mixed.partial_fit(halves[0]).partial_fit(chunked(halves[1], 4_000))
    for est in (merged, mixed):
        assert 0.0 < est.rank_error_ <= RANK_ERROR
        assert est.n_quantiles_ == 50
        _assert_certified(est, X)
