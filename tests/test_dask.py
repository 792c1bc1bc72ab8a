"""The Dask layer: one-execution fits, lazy transforms, merges, faults.

References are independent of the Dask code: the same estimator fitted on
the NumPy array (the issue's contract: a Dask fit equals a NumPy fit of the
concatenated rows), exact two-pass sums (``math.fsum``) for the variance of
the ``1e8 + N(0, 1e-3)`` data, and NumPy's own min/max.
"""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
pd = pytest.importorskip("pandas")
import dask  # noqa: E402
from dask_cases import CountExecutions  # noqa: E402

from sknorm import (  # noqa: E402
    LocalResponseNormalizer,
    MiniBatchNormalizer,
    MinMax,
    ZCAWhitening,
    ZScore,
)

METHODS = ["zca", "zca-cor", "pca", "pca-cor", "cholesky"]


def correlated(n, f=4, seed=0, offset=10.0):
    rng = np.random.default_rng(seed)
    mixing = np.tril(rng.normal(size=(f, f))) + 2 * np.eye(f)
    return rng.normal(size=(n, f)) @ mixing.T + offset * np.arange(1, f + 1)


def with_nans(X, seed=1, fraction=0.1):
    X = X.copy()
    X[np.random.default_rng(seed).uniform(size=X.shape) < fraction] = np.nan
    return X


def close(a, b, rtol=1e-12):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(float(np.nanmax(np.abs(b))), 1e-300)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale)


def chunked(X, sizes):
    return da.from_array(X, chunks=(tuple(sizes), (X.shape[1],)))


# Row chunkings with empty and one-row chunks; the sizes sum to n.
CHUNKINGS = st.lists(st.integers(0, 9), min_size=1, max_size=7).filter(
    lambda sizes: sum(sizes) >= 6
)


def fitted_pair(make, X, sizes, **fit):
    """The estimator fitted on the Dask array and on the NumPy array."""
    return make().fit(chunked(X, sizes), **fit), make().fit(X, **fit)


# ------------------------------------------------------ equivalence ----
@settings(max_examples=25, deadline=None)
@given(sizes=CHUNKINGS, weighted=st.booleans())
def test_zscore_equals_numpy_fit(sizes, weighted):
    X = with_nans(correlated(sum(sizes)))
    w = np.random.default_rng(2).uniform(0, 3, len(X)) if weighted else None
    d, n = fitted_pair(ZScore, X, sizes, sample_weight=w)
    close(d.mean_, n.mean_)
    close(d.var_, n.var_)
    close(d.scale_, n.scale_)
    # Counts are exact; sums of weights are rounded in another order.
    close(d.n_samples_seen_, n.n_samples_seen_, rtol=0 if w is None else 1e-14)
    assert type(d.mean_) is np.ndarray


@settings(max_examples=25, deadline=None)
@given(sizes=CHUNKINGS)
def test_minmax_equals_numpy_fit(sizes):
    X = with_nans(correlated(sum(sizes)))
    d, n = fitted_pair(MinMax, X, sizes)
    np.testing.assert_array_equal(d.data_min_, np.nanmin(X, axis=0))
    np.testing.assert_array_equal(d.data_max_, np.nanmax(X, axis=0))
    np.testing.assert_array_equal(d.scale_, n.scale_)
    assert d.n_samples_seen_ == n.n_samples_seen_ == len(X)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=CHUNKINGS,
    method=st.sampled_from(METHODS),
    shrinkage=st.sampled_from([None, 0.25, "ledoit-wolf"]),
    weighted=st.booleans(),
)
def test_whitening_equals_numpy_fit(sizes, method, shrinkage, weighted):
    X = correlated(sum(sizes) + 8)
    sizes = [*sizes, 8]
    w = np.random.default_rng(3).uniform(0.5, 2, len(X)) if weighted else None
    k = 2 if method.startswith("pca") else None

    def make():
        return ZCAWhitening(method=method, shrinkage=shrinkage, n_components=k)

    d, n = fitted_pair(make, X, sizes, sample_weight=w)
    close(d.mean_, n.mean_)
    close(d.covariance_, n.covariance_)
    close(d.shrinkage_, n.shrinkage_)
    close(d.n_samples_seen_, n.n_samples_seen_)
    close(d.transform(X), n.transform(X), rtol=1e-9)


@pytest.mark.parametrize("batch_size", [None, 1, 7, 64])
@pytest.mark.parametrize("momentum", [0.1, None, 0.75])
@pytest.mark.parametrize("init", ["first_batch", "pytorch"])
def test_minibatch_batches_cross_chunk_boundaries(batch_size, momentum, init):
    X = with_nans(correlated(150))
    w = np.random.default_rng(4).uniform(0, 2, len(X))
    sizes = (0, 1, 40, 13, 0, 60, 36)

    def make():
        return MiniBatchNormalizer(batch_size=batch_size, momentum=momentum, init=init)

    d, n = fitted_pair(make, X, sizes, sample_weight=w)
    close(d.running_mean_, n.running_mean_)
    close(d.running_var_, n.running_var_)
    assert d.n_batches_seen_ == n.n_batches_seen_
    assert d.n_samples_seen_ == n.n_samples_seen_ == 150
    close(d.transform(chunked(X, sizes)).compute(), n.transform(X))


def test_minibatch_on_a_dataframe_of_unknown_partition_sizes():
    X = correlated(200)
    frame = dd.from_pandas(pd.DataFrame(X, columns=list("abcd")), npartitions=6)
    d = MiniBatchNormalizer(batch_size=16).fit(frame)
    n = MiniBatchNormalizer(batch_size=16).fit(X)
    close(d.running_var_, n.running_var_)
    assert d.n_batches_seen_ == n.n_batches_seen_ == 13


def test_normalize_batch_is_one_step_with_a_lazy_output():
    X = with_nans(correlated(90))
    Xd = chunked(X, (30, 0, 45, 15))
    d, n = MiniBatchNormalizer(), MiniBatchNormalizer()
    with CountExecutions() as count:
        out = d.normalize_batch(Xd)
    assert count.n == 1
    assert isinstance(out, da.Array)
    close(out.compute(), n.normalize_batch(X))
    close(d.running_var_, n.running_var_)


def test_local_response_normalizer_needs_no_execution():
    X = correlated(40, f=7)
    with CountExecutions() as count:
        lrn = LocalResponseNormalizer(size=3).fit(chunked(X, (10, 30)))
        out = lrn.transform(chunked(X, (10, 30)))
    assert count.n == 0
    close(out.compute(), LocalResponseNormalizer(size=3).fit_transform(X))


def test_variance_of_large_mean_small_spread_in_100_chunks():
    rng = np.random.default_rng(0)
    X = 1e8 + rng.normal(0.0, 1e-3, size=(100_000, 4))
    d = ZScore().fit(da.from_array(X, chunks=(1000, 4)))
    # x - 1e8 is exact (Sterbenz), then an exactly rounded two-pass sum.
    for j in range(4):
        dev = [v - 1e8 for v in X[:, j]]
        mean = math.fsum(dev) / len(dev)
        var = math.fsum((v - mean) ** 2 for v in dev) / len(dev)
        assert abs(d.var_[j] - var) / var < 1e-12


def test_float32_chunks_accumulate_in_float64():
    X = correlated(300).astype(np.float32) + np.float32(1e4)
    d = ZScore().fit(chunked(X, (100, 200)))
    assert d.mean_.dtype == np.float64
    close(d.var_, np.var(X.astype(np.float64), axis=0), rtol=1e-11)
    out = d.transform(chunked(X, (100, 200)))
    assert out.dtype == np.float32 and out.compute().dtype == np.float32


# ----------------------------------------------------- one execution ----
@pytest.mark.parametrize(
    "make",
    [
        ZScore,
        MinMax,
        lambda: MinMax(data_range=(0, 255)),
        lambda: ZCAWhitening(shrinkage="ledoit-wolf"),
        lambda: MiniBatchNormalizer(batch_size=10),
        MiniBatchNormalizer,
    ],
)
def test_fit_is_one_execution_and_transform_none(make):
    X = correlated(100)
    Xd = chunked(X, (20, 30, 50))
    frame = dd.from_pandas(pd.DataFrame(X, columns=list("abcd")), npartitions=3)
    for data in (Xd, frame):
        est = make()
        with CountExecutions() as count:
            est.fit(data)
        assert count.n == 1
        with CountExecutions() as count:
            est.transform(data)
            if not isinstance(est, MinMax) or est.data_range is None:
                est.inverse_transform(est.transform(data))
        assert count.n == 0


def test_fitted_attributes_are_concrete():
    Xd = chunked(correlated(50), (25, 25))
    for est, names in [
        (ZScore().fit(Xd), ["mean_", "var_", "scale_"]),
        (MinMax().fit(Xd), ["data_min_", "data_max_", "scale_", "min_"]),
        (ZCAWhitening().fit(Xd), ["mean_", "covariance_", "whitening_"]),
        (MiniBatchNormalizer().fit(Xd), ["running_mean_", "running_var_"]),
    ]:
        for name in names:
            assert type(getattr(est, name)) is np.ndarray, name


# ------------------------------------------------------ determinism ----
def _fits(X):
    return [
        ZScore().fit(X).var_,
        MinMax().fit(X).data_min_,
        ZCAWhitening(shrinkage="ledoit-wolf").fit(X).covariance_,
        MiniBatchNormalizer(batch_size=33).fit(X).running_var_,
    ]


def test_bits_do_not_depend_on_the_local_scheduler():
    X = chunked(with_nans(correlated(400)), (50,) * 8)
    X = da.where(da.isnan(X), 0.0, X)  # ZCAWhitening takes no NaN
    with dask.config.set(scheduler="sync"):
        reference = _fits(X)
    for scheduler in ("threads", "sync"):
        with dask.config.set(scheduler=scheduler):
            for a, b in zip(_fits(X), reference, strict=True):
                np.testing.assert_array_equal(a, b)


# ------------------------------------------------------ dataframes ----
def frame_of(X, npartitions=4):
    pdf = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    pdf.index = pdf.index * 10  # not a RangeIndex from 0
    return pdf, dd.from_pandas(pdf, npartitions=npartitions)


def test_dataframe_names_index_and_divisions():
    X = with_nans(correlated(120))
    pdf, frame = frame_of(X)
    est = ZScore().fit(frame)
    np.testing.assert_array_equal(est.feature_names_in_, pdf.columns)
    np.testing.assert_array_equal(est.get_feature_names_out(), pdf.columns)
    assert est.n_samples_seen_.tolist() == (~np.isnan(X)).sum(0).tolist()
    out = est.transform(frame)
    assert isinstance(out, dd.DataFrame)
    assert list(out.columns) == list(pdf.columns)
    assert out.divisions == frame.divisions
    computed = out.compute()
    pd.testing.assert_index_equal(computed.index, pdf.index)
    close(computed.to_numpy(), ZScore().fit(pdf).transform(pdf))
    back = est.inverse_transform(out).compute()
    close(back.to_numpy(), X, rtol=1e-13)


def test_dataframe_pca_output_columns():
    pdf, frame = frame_of(correlated(60))
    est = ZCAWhitening(method="pca", n_components=2).fit(frame)
    out = est.transform(frame)
    assert list(out.columns) == ["zcawhitening0", "zcawhitening1"]
    assert list(est.inverse_transform(out).columns) == list(pdf.columns)


def test_non_numeric_column_is_refused_before_computing():
    _, frame = frame_of(correlated(20))
    frame = frame.assign(label=dd.from_pandas(pd.Series(["x"] * 20), npartitions=4))
    with CountExecutions() as count:
        with pytest.raises(TypeError, match=r"ZScore\.fit\(\).*'label'"):
            ZScore().fit(frame)
    assert count.n == 0


def test_nullable_columns_become_nan():
    pdf = pd.DataFrame({"a": pd.array([1, None, 3, 4], dtype="Int64"), "b": [1.0] * 4})
    est = ZScore().fit(dd.from_pandas(pdf, npartitions=2))
    close(est.mean_, [8 / 3, 1.0])


def test_set_output_pandas_gives_a_dask_dataframe():
    X = correlated(30)
    est = ZScore().set_output(transform="pandas")
    with CountExecutions() as count:
        out = est.fit(chunked(X, (10, 20))).transform(chunked(X, (10, 20)))
    assert count.n == 1
    assert isinstance(out, dd.DataFrame)
    close(out.compute().to_numpy(), ZScore().fit_transform(X))


# --------------------------------------------------------- streaming ----
def test_a_stream_mixing_dask_and_numpy_batches_equals_one_fit():
    X = with_nans(correlated(200))
    for make in (ZScore, MinMax, ZCAWhitening):
        data = X if make is not ZCAWhitening else np.nan_to_num(X)
        est = make()
        est.partial_fit(data[:50])
        est.partial_fit(chunked(data[50:130], (30, 0, 50)))
        est.partial_fit(data[130:170])
        est.partial_fit(chunked(data[170:], (10, 20)))
        one = make().fit(data)
        for name in ("mean_", "var_", "data_min_", "data_max_", "covariance_"):
            if hasattr(one, name):
                close(getattr(est, name), getattr(one, name))


# ---------------------------------------------------------- inputs ----
def test_transform_never_modifies_the_input():
    X = correlated(40)
    original = X.copy()
    est = ZScore().fit(X)
    est.transform(da.from_array(X, chunks=(10, 4)), copy=False).compute()
    np.testing.assert_array_equal(X, original)


def test_feature_chunks_are_joined():
    X = correlated(60, f=6)
    Xd = da.from_array(X, chunks=(20, 2))
    close(ZScore().fit(Xd).var_, ZScore().fit(X).var_)
    out = ZScore().fit(X).transform(Xd)
    assert out.numblocks == (3, 1)


def test_errors_before_computing():
    X = correlated(30)
    with pytest.raises(ValueError, match=r"ZScore\.fit\(\): Expected a 2D"):
        ZScore().fit(da.ones((4, 3, 2)))
    with pytest.raises(TypeError, match=r"MinMax\.fit\(\): X has dtype"):
        MinMax().fit(da.from_array(np.array([["a"]], dtype=object), chunks=1))
    est = ZScore().fit(chunked(X, (10, 20)))
    with pytest.raises(ValueError, match=r"ZScore\.transform\(\): X has 3 features"):
        est.transform(da.ones((5, 3)))
    with pytest.raises(ValueError, match=r"ZScore\.partial_fit\(\): X has 5"):
        est.partial_fit(da.ones((5, 5)))


def test_no_rows_is_an_error_known_or_found():
    with pytest.raises(ValueError, match=r"ZScore\.fit\(\): Found array with 0"):
        ZScore().fit(da.ones((0, 3), chunks=1))
    empty = da.ones((4, 3), chunks=2)
    empty = empty[da.sum(empty, axis=1) > 10]  # unknown sizes, all empty
    for est in (ZScore(), MiniBatchNormalizer(batch_size=2)):
        with pytest.raises(ValueError, match=r"Found array with 0 sample"):
            est.fit(empty)


def test_values_are_checked_while_computing_and_state_is_kept():
    X = correlated(30)
    bad = X.copy()
    bad[17, 2] = np.inf
    est = ZScore().fit(X)
    before = est.var_.copy()
    with pytest.raises(ValueError, match=r"ZScore\.partial_fit\(\).*infinity"):
        est.partial_fit(chunked(bad, (10, 20)))
    np.testing.assert_array_equal(est.var_, before)
    with pytest.raises(ValueError, match=r"ZCAWhitening\.fit\(\).*NaN or infinity"):
        ZCAWhitening().fit(chunked(bad, (10, 20)))
    lazy = est.transform(chunked(bad, (10, 20)))
    with pytest.raises(ValueError, match=r"ZScore\.transform\(\).*infinity"):
        lazy.compute()


def test_chunks_of_another_array_type_are_refused():
    X = correlated(20)
    mixed = da.from_array(X, chunks=(10, 4)).map_blocks(
        lambda b, block_id=None: np.ma.masked_array(b) if block_id[0] else b,
        meta=np.empty((0, 0)),
    )
    with pytest.raises(TypeError, match=r"ZScore\.fit\(\): X's chunks mix array"):
        ZScore().fit(mixed)


def test_sample_weight_forms():
    X = correlated(60)
    w = np.random.default_rng(5).uniform(0, 2, 60)
    Xd = chunked(X, (20, 40))
    reference = ZScore().fit(X, sample_weight=w).var_
    close(ZScore().fit(Xd, sample_weight=w).var_, reference)
    close(ZScore().fit(Xd, sample_weight=da.from_array(w, chunks=7)).var_, reference)
    close(ZScore().fit(Xd, sample_weight=3.0).var_, ZScore().fit(X).var_)
    with pytest.raises(ValueError, match=r"ZScore\.fit\(\): Sample weights must"):
        ZScore().fit(Xd, sample_weight=np.zeros(60))
    with pytest.raises(ValueError, match=r"non-negative"):
        ZScore().fit(Xd, sample_weight=-w)
    with pytest.raises(ValueError, match=r"expected \(60,\)"):
        ZScore().fit(Xd, sample_weight=w[:10])
    pdf, frame = frame_of(X, npartitions=3)
    pdf["w"] = w
    frame = dd.from_pandas(pdf, npartitions=3)
    features = frame[[c for c in pdf.columns if c != "w"]]
    close(ZScore().fit(features, sample_weight=frame["w"]).var_, reference)
    with pytest.raises(TypeError, match=r"chunk sizes are unknown"):
        ZScore().fit(features, sample_weight=w)


# ------------------------------------------------------------- merge ----
@pytest.mark.parametrize(
    "make",
    [ZScore, MinMax, ZCAWhitening, lambda: ZCAWhitening(shrinkage="ledoit-wolf")],
)
def test_merge_equals_one_fit(make):
    X = correlated(90)
    if make is not ZCAWhitening:
        X = with_nans(X) if make in (ZScore, MinMax) else X
    a, b = make().fit(X[:30]), make().fit(X[30:])
    b_before = {k: np.copy(v) for k, v in vars(b).items() if isinstance(v, np.ndarray)}
    assert a.merge(b) is a
    one = make().fit(X)
    for name in ("mean_", "var_", "data_min_", "data_max_", "covariance_"):
        if hasattr(one, name):
            close(getattr(a, name), getattr(one, name))
    if isinstance(one, ZCAWhitening):
        close(a.shrinkage_, one.shrinkage_)
    for k, v in b_before.items():
        np.testing.assert_array_equal(getattr(b, k), v)


def test_merge_errors_leave_the_estimator_bit_identical():
    X = correlated(40)
    a = ZScore().fit(X)
    saved = {k: np.copy(v) for k, v in vars(a).items() if isinstance(v, np.ndarray)}
    with pytest.raises(ValueError, match=r"ZScore\.merge\(\): other has 3 features"):
        a.merge(ZScore().fit(X[:, :3]))
    pdf = pd.DataFrame(X, columns=list("abcd"))
    with pytest.raises(ValueError, match=r"feature names differ"):
        a.merge(ZScore().fit(pdf))
    with pytest.raises(ValueError, match=r"not fitted"):
        a.merge(ZScore())
    with pytest.raises(TypeError, match=r"can only merge another ZScore"):
        a.merge(MinMax().fit(X))
    strict = pytest.importorskip("array_api_strict")
    with pytest.raises(ValueError, match=r"must use the same namespace"):
        a.merge(ZScore().fit(strict.asarray(X)))
    with pytest.raises(ValueError, match=r"data_range"):
        MinMax().fit(X).merge(MinMax(data_range=(0, 1)).fit(X))
    for k, v in saved.items():
        np.testing.assert_array_equal(getattr(a, k), v)


def test_minibatch_and_lrn_refuse_merge():
    X = correlated(20)
    with pytest.raises(TypeError, match=r"MiniBatchNormalizer\.merge\(\).*order"):
        MiniBatchNormalizer().fit(X).merge(MiniBatchNormalizer().fit(X))
    with pytest.raises(TypeError, match=r"LocalResponseNormalizer\.merge\(\)"):
        LocalResponseNormalizer().fit(X).merge(LocalResponseNormalizer().fit(X))


# --------------------------------------------------------- CuPy chunks ----
def test_cupy_chunks_keep_the_state_on_the_device(backend):
    if backend.name != "cupy":
        pytest.skip("CuPy chunks need the CuPy backend (a GPU)")
    import cupy

    X = with_nans(correlated(300))
    Xd = chunked(X, (100, 0, 150, 50)).map_blocks(cupy.asarray)
    for est in (ZScore(), MinMax(), MiniBatchNormalizer(batch_size=32)):
        est.fit(Xd)
        out = est.transform(Xd)
        assert isinstance(out._meta, cupy.ndarray)
        reference = type(est)(**est.get_params()).fit(X)
        close(cupy.asnumpy(out.compute()), reference.transform(X), rtol=1e-10)
    on_device = chunked(correlated(300), (100, 200)).map_blocks(cupy.asarray)
    zca = ZCAWhitening().fit(on_device)
    assert isinstance(zca.covariance_, cupy.ndarray)


# --------------------------------------------------------- distributed ----
# (the ``client`` fixture, a two-process LocalCluster, is in conftest.py)
@pytest.mark.slow
def test_distributed_fit_is_bit_identical_and_survives_a_killed_worker(
    client, tmp_path
):
    import distributed
    from dask_cases import kill_once

    X = chunked(correlated(400), (50,) * 8)
    with dask.config.set(scheduler="sync"):
        reference = _fits(X)
    distributed_fits = _fits(X)  # the client is the default scheduler
    for a, b in zip(distributed_fits, reference, strict=True):
        np.testing.assert_array_equal(a, b)

    # A worker dies while computing block 0: restarted by its Nanny, the task
    # rerun elsewhere; the fit is the undisturbed one, bit for bit.
    marker = tmp_path / "killed"
    flaky = X.map_blocks(kill_once, marker=str(marker), dtype=X.dtype)
    est = ZScore().fit(flaky)
    assert marker.exists()
    np.testing.assert_array_equal(est.var_, reference[0])

    # No retries left: KilledWorker, never a wrong result, state kept.
    client.wait_for_workers(2)
    marker.unlink()

    def no_retries(dask_scheduler):
        dask_scheduler.allowed_failures = 0

    def restore(dask_scheduler):
        dask_scheduler.allowed_failures = 3

    client.run_on_scheduler(no_retries)
    try:
        with pytest.raises(distributed.KilledWorker):
            est.partial_fit(flaky)
    finally:
        client.run_on_scheduler(restore)
    np.testing.assert_array_equal(est.var_, reference[0])
    client.wait_for_workers(2)


def test_bits_are_the_same_on_dasks_array_expression_backend(tmp_path):
    """Dask's two array backends default to different ``split_every``; the
    fixed one gives the same tree, hence the same bits, on both (N-D input
    with a channel axis too: a tree over the block axes)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import sknorm

    script = tmp_path / "fit.py"
    script.write_text(
        "import sys, numpy as np, dask.array as da\n"
        "from sknorm import MiniBatchNormalizer, MinMax, ZCAWhitening, ZScore\n"
        "X = np.random.default_rng(0).normal(size=(900, 3))\n"
        "X = X @ [[2, 0, 0], [1, 1, 0], [0, 1, 3]]\n"
        "Xd = da.from_array(X, chunks=(25, 3))\n"
        "out = [ZScore().fit(Xd).var_, MinMax().fit(Xd).data_max_,\n"
        "       ZCAWhitening().fit(Xd).covariance_.ravel()]\n"
        "M = da.from_array(X.reshape(30, 3, 6, 5), chunks=(7, 3, 2, 3))\n"
        "out += [ZScore(channel_axis=1).fit(M).var_,\n"
        "        MinMax(channel_axis=1).fit(M).data_max_,\n"
        "        MiniBatchNormalizer(channel_axis=1, batch_size=8).fit(M)\n"
        "        .running_var_]\n"
        "np.save(sys.argv[1], np.concatenate(out))\n"
    )
    results = []
    # The subprocess imports this sknorm (that of the checkout under test).
    root = str(Path(sknorm.__file__).parents[1])
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    for planning in ("False", "True"):
        out = tmp_path / f"{planning}.npy"
        env = dict(os.environ, DASK_ARRAY__QUERY_PLANNING=planning, PYTHONPATH=path)
        subprocess.run(
            [sys.executable, str(script), str(out)], env=env, check=True, timeout=120
        )
        results.append(np.load(out))
    np.testing.assert_array_equal(results[0], results[1])


@pytest.mark.parametrize("channel_axis", [None, 1])
def test_chunks_of_another_kind_are_refused_naming_the_call(channel_axis):
    import scipy.sparse as sp

    X = da.from_array(np.ones((20, 4)), chunks=(5, 4)).map_blocks(
        sp.csr_matrix, meta=sp.csr_matrix((0, 0))
    )
    est = ZScore(channel_axis=channel_axis)
    message = r"^ZScore\.fit\(\): X's chunks are scipy\.sparse.*NumPy or CuPy"
    with pytest.raises(TypeError, match=message):
        est.fit(X)
    assert not hasattr(est, "mean_")
