"""Per-chunk progress of Dask fits for scikit-learn's callbacks (1.9+).

A Dask fit is one root task with one sub-task per chunk, reported as the
chunks' states are computed, within the one graph execution.  The expected
task trees are written out from scikit-learn's documented protocol (a root
per call, sub-tasks with their ``task_id``); the fitted values are compared
with the same fit without callbacks (bit for bit: the callbacks only
listen).
"""

import pickle

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
pytest.importorskip("sklearn.callback")
import dask  # noqa: E402
from dask_cases import CountExecutions  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from test_callbacks import (  # noqa: E402
    FailAtEnd,
    RecordingAutoPropagatedCallback,
    RecordingCallback,
)

from sknorm import (  # noqa: E402
    LocalResponseNormalizer,
    MaxAbs,
    MiniBatchNormalizer,
    MinMax,
    Quantile,
    Robust,
    ZCAWhitening,
    ZScore,
)


class Unpicklable(RecordingCallback):
    """A recording callback that cannot travel: pickling it (to a worker
    process, or inside a graph sent to a scheduler) raises."""

    def __reduce__(self):
        raise pickle.PicklingError("a callback must stay with the caller")


class StopAtBatch(RecordingCallback):
    """Asks to stop at the end of the ``n``-th batch (and at every chunk,
    which a Dask fit does not honour: its graph runs to its end)."""

    def __init__(self, n):
        super().__init__()
        self.n, self.seen = n, 0

    def on_fit_task_end(self, estimator, context, **kwargs):
        super().on_fit_task_end(estimator, context, **kwargs)
        if context.task_name == "chunk":
            return True
        if context.task_name == "batch":
            self.seen += 1
            return self.seen == self.n
        return False


def maps(shape, seed=0):
    return np.random.default_rng(seed).normal(3.0, 2.0, size=shape)


def check_tree(cb, estimator, n_chunks, n_batches=0, method="fit"):
    """One root task, begun first and ended once, after every chunk; each
    chunk one begin directly followed by its end, ``task_id`` the chunk's
    index; then the batches, ``task_id`` from ``n_chunks`` on."""
    name = type(estimator).__name__
    tasks = cb.tasks()
    assert tasks[:2] == [
        ("setup", name, method, (0,)),
        ("on_fit_task_begin", name, method, (0,)),
    ]
    assert tasks[-2:] == [
        ("on_fit_task_end", name, method, (0,)),
        ("teardown", name, method, (0,)),
    ]
    inner = tasks[2:-2]
    chunks = inner[: 2 * n_chunks]
    for begin, end in zip(chunks[::2], chunks[1::2], strict=True):
        assert begin[0] == "on_fit_task_begin" and end[0] == "on_fit_task_end"
        assert begin[2:] == end[2:] and begin[2] == "chunk"
    ids = sorted(t[3][1] for t in chunks[::2])
    assert ids == list(range(n_chunks))
    batches = inner[2 * n_chunks :]
    assert [t[2:] for t in batches[::2]] == [
        ("batch", (0, n_chunks + k)) for k in range(n_batches)
    ]
    root = cb.record[1]["context"]
    expected = n_chunks + n_batches
    assert root.max_subtasks == expected
    chunk_records = [r for r in cb.record if r["context"].task_name == "chunk"]
    for record in chunk_records:
        assert record["kwargs"]["X"] is None
        assert record["kwargs"]["fitted_estimator"] is None
    end = next(
        r
        for r in cb.record
        if r["name"] == "on_fit_task_end" and r["context"].parent is None
    )
    return end["kwargs"]["fitted_estimator"]


def _bitwise(a, b, names):
    for name in names:
        if hasattr(b, name):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


NAMES = ("mean_", "var_", "data_min_", "data_max_", "covariance_", "running_var_")


@pytest.mark.parametrize("scheduler", ["sync", "threads"])
def test_one_subtask_per_chunk_on_the_local_schedulers(scheduler):
    X = maps((35, 4))
    Xd = da.from_array(X, chunks=((12, 0, 23), 4))
    images = maps((20, 3, 6, 4), seed=1)
    Id = da.from_array(images, chunks=(7, 3, 3, 4))  # 3 x 2 blocks
    cases = [
        (ZScore, Xd, 3),
        (MinMax, Xd, 3),
        (ZCAWhitening, Xd, 3),
        (lambda: ZScore(channel_axis=1), Id, 6),
        (lambda: MinMax(channel_axis=1), Id, 6),
        # Quantile summaries: packed states of different lengths.
        (MaxAbs, Xd, 3),
        (Robust, Xd, 3),
        (lambda: Quantile(n_quantiles=10), Xd, 3),
    ]
    with dask.config.set(scheduler=scheduler):
        for make, data, n_chunks in cases:
            cb = Unpicklable()
            with CountExecutions() as count:
                est = make().set_callbacks(cb).fit(data)
            assert count.n == 1
            fitted = check_tree(cb, est, n_chunks)
            quiet = make().fit(data)
            _bitwise(est, quiet, NAMES)
            _bitwise(fitted, quiet, NAMES)
            assert "_callback_fit_ctx" not in vars(est)


def test_minibatch_chunks_then_batches():
    X = maps((35, 4))
    Xd = da.from_array(X, chunks=((12, 0, 23), 4))
    cb = RecordingCallback()
    est = MiniBatchNormalizer(batch_size=10).set_callbacks(cb).fit(Xd)
    check_tree(cb, est, n_chunks=3, n_batches=4)
    _bitwise(est, MiniBatchNormalizer(batch_size=10).fit(Xd), ("running_var_",))

    images = maps((20, 3, 6, 4), seed=1)
    Id = da.from_array(images, chunks=(7, 3, 3, 4))
    cb = RecordingCallback()
    est = MiniBatchNormalizer(channel_axis=1, batch_size=6).set_callbacks(cb).fit(Id)
    check_tree(cb, est, n_chunks=6, n_batches=4)

    cb = RecordingCallback()  # one batch: the chunks only
    est = MiniBatchNormalizer(channel_axis=1).set_callbacks(cb).fit(Id)
    check_tree(cb, est, n_chunks=6)
    cb = RecordingCallback()
    MiniBatchNormalizer(channel_axis=1).set_callbacks(cb).normalize_batch(Id)
    check_tree(cb, est, n_chunks=6, method="normalize_batch")


def test_stop_requests_stop_the_batches_not_the_graph():
    X = maps((35, 4))
    Xd = da.from_array(X, chunks=((12, 0, 23), 4))
    cb = StopAtBatch(2)
    stopped = MiniBatchNormalizer(batch_size=10).set_callbacks(cb).fit(Xd)
    assert stopped.n_batches_seen_ == 2
    assert cb.count_hooks("on_fit_task_end") == 3 + 2 + 1  # chunks, batches, root
    prefix = MiniBatchNormalizer(batch_size=10).fit(X[:20])
    np.testing.assert_array_equal(stopped.running_var_, prefix.running_var_)
    cb = StopAtBatch(1)
    est = ZScore().set_callbacks(cb).fit(Xd)  # the chunks' stop is ignored
    _bitwise(est, ZScore().fit(Xd), ("var_",))
    assert est.n_samples_seen_ == 35


def test_unknown_chunk_sizes_give_an_open_ended_root():
    X = maps((30, 4))
    Xd = da.from_array(X, chunks=(10, 4))
    masked = Xd[da.from_array(np.arange(30) % 4 != 0, chunks=10)]
    cb = RecordingCallback()
    est = MiniBatchNormalizer(batch_size=7).set_callbacks(cb).fit(masked)
    assert cb.record[1]["context"].max_subtasks is None  # batches unknown
    chunk_ids = sorted(t[3][1] for t in cb.tasks() if t[2] == "chunk")
    assert chunk_ids == [0, 0, 1, 1, 2, 2]
    assert est.n_batches_seen_ == 4  # 22 rows


def test_a_stateless_fit_has_no_chunks():
    cb = RecordingCallback()
    LocalResponseNormalizer(channel_axis=1).set_callbacks(cb).fit(
        da.ones((6, 3, 2, 2), chunks=2)
    )
    assert [t[0] for t in cb.tasks()] == [
        "setup",
        "on_fit_task_begin",
        "on_fit_task_end",
        "teardown",
    ]
    assert cb.record[1]["context"].max_subtasks == 0


def test_a_failing_callback_leaves_the_state_and_tears_down():
    X = maps((30, 4))
    Xd = da.from_array(X, chunks=(10, 4))
    est = ZScore().fit(X[:10])
    moments = est._moments_
    cb = FailAtEnd()  # raises at the first end: a chunk's, inside compute
    est.set_callbacks(cb)
    with pytest.raises(RuntimeError, match="callback failed"):
        est.partial_fit(Xd)
    assert est._moments_ is moments
    assert cb.count_hooks("setup") == cb.count_hooks("teardown") == 1
    assert "_callback_fit_ctx" not in vars(est)


def test_a_pipeline_step_reports_its_chunks_under_the_pipeline():
    X = maps((30, 4))
    Xd = da.from_array(X, chunks=(10, 4))
    cb = RecordingAutoPropagatedCallback()
    pipe = Pipeline([("z", ZScore())]).set_callbacks(cb).fit(Xd)
    tasks = cb.tasks()
    chunks = sorted(t[3] for t in tasks if t[2] == "chunk" and t[0].endswith("begin"))
    assert chunks == [(0, 0, 0), (0, 0, 1), (0, 0, 2)]
    assert tasks[-1] == ("teardown", "Pipeline", "fit", (0,))
    _bitwise(pipe.named_steps["z"], ZScore().fit(Xd), ("var_",))


def test_progress_bar_runs(capsys):
    pytest.importorskip("rich")
    from sklearn.callback import ProgressBar

    Xd = da.from_array(maps((40, 3, 4, 4)), chunks=(5, 3, 4, 4))
    est = ZScore(channel_axis=1).set_callbacks(ProgressBar()).fit(Xd)
    assert est.n_features_in_ == 3
    assert "ZScore - fit" in capsys.readouterr().out


@pytest.mark.slow
def test_one_subtask_per_chunk_on_a_distributed_cluster(side_client):
    X = maps((35, 4))
    Xd = da.from_array(X, chunks=((12, 0, 23), 4))
    images = maps((20, 3, 6, 4), seed=1)
    Id = da.from_array(images, chunks=(7, 3, 3, 4))
    cases = [
        (ZScore, Xd, 3, 0),
        (lambda: ZScore(channel_axis=1), Id, 6, 0),
        (lambda: MiniBatchNormalizer(channel_axis=1, batch_size=6), Id, 6, 4),
    ]
    for make, data, n_chunks, n_batches in cases:
        with dask.config.set(scheduler="sync"):
            quiet = make().fit(data)
        cb = Unpicklable()  # the graph is pickled to the scheduler: not it
        with dask.config.set(scheduler=side_client):
            est = make().set_callbacks(cb).fit(data)
        fitted = check_tree(cb, est, n_chunks, n_batches)
        _bitwise(est, quiet, NAMES)
        if n_batches == 0:
            _bitwise(fitted, quiet, NAMES)
    # A chunk that fails: the error of the fit, the callbacks torn down.
    bad = X.copy()
    bad[20, 1] = np.inf
    cb = Unpicklable()
    with dask.config.set(scheduler=side_client):
        with pytest.raises(ValueError, match=r"ZScore\.fit\(\).*infinity"):
            ZScore().set_callbacks(cb).fit(da.from_array(bad, chunks=(10, 4)))
    assert cb.count_hooks("setup") == cb.count_hooks("teardown") == 1
    ended = [
        r["context"].task_name for r in cb.record if r["name"] == "on_fit_task_end"
    ]
    # Chunks complete in any order: every chunk but the failing one (2) may
    # have been reported, never the fit.
    assert "fit" not in ended and len(ended) <= 3
