"""scikit-learn's fit callbacks (1.9+, experimental) on every estimator.

Each public fitting call is one root task; ``MiniBatchNormalizer.fit`` with
``batch_size`` reports one sub-task per batch and stops when asked.  The
expected task trees are written out by hand from scikit-learn's documented
protocol (a root per call, ``subcontext`` children numbered from 0, a
Pipeline step's root merged into the Pipeline's leaf).
"""

import importlib.util
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.pipeline import Pipeline

import sknorm
from sknorm import _callbacks

# scikit-learn >= 1.9; without it only the fallback test runs.
HAS_API = importlib.util.find_spec("sklearn.callback") is not None
needs_api = pytest.mark.skipif(not HAS_API, reason="scikit-learn < 1.9")


class RecordingCallback:
    """Records every hook call (the interface of scikit-learn's own test
    helper: ``record`` entries with ``name``, ``estimator``, ``context`` and
    ``kwargs``; ``count_hooks``)."""

    def __init__(self):
        self.record = []

    def setup(self, estimator, context):
        self.record.append(
            {"name": "setup", "estimator": estimator, "context": context}
        )

    def on_fit_task_begin(
        self,
        estimator,
        context,
        *,
        X=None,
        y=None,
        metadata=None,
        fitted_estimator=None,
    ):
        self._hook(
            "on_fit_task_begin", estimator, context, X, metadata, fitted_estimator
        )

    def on_fit_task_end(
        self,
        estimator,
        context,
        *,
        X=None,
        y=None,
        metadata=None,
        fitted_estimator=None,
    ):
        self._hook("on_fit_task_end", estimator, context, X, metadata, fitted_estimator)

    def _hook(self, name, estimator, context, X, metadata, fitted_estimator):
        self.record.append(
            {
                "name": name,
                "estimator": estimator,
                "context": context,
                "kwargs": {
                    "X": X,
                    "metadata": metadata,
                    "fitted_estimator": fitted_estimator,
                },
            }
        )

    def teardown(self, estimator, context):
        self.record.append(
            {"name": "teardown", "estimator": estimator, "context": context}
        )

    def count_hooks(self, hook_name):
        return len([rec for rec in self.record if rec["name"] == hook_name])

    def tasks(self):
        """``(hook, estimator class, task name, path of task ids)`` per call."""
        out = []
        for rec in self.record:
            path, ctx = [], rec["context"]
            while ctx is not None:
                path.insert(0, ctx.task_id)
                ctx = ctx.parent
            out.append(
                (
                    rec["name"],
                    type(rec["estimator"]).__name__,
                    rec["context"].task_name,
                    tuple(path),
                )
            )
        return out


class RecordingAutoPropagatedCallback(RecordingCallback):
    max_propagation_depth = None  # set on a meta-estimator, reaches its steps


class StopAfter(RecordingCallback):
    """Asks the fit to stop at the end of batch number ``n_batches - 1``."""

    def __init__(self, n_batches):
        super().__init__()
        self.n_batches = n_batches

    def on_fit_task_end(self, estimator, context, **kwargs):
        super().on_fit_task_end(estimator, context, **kwargs)
        return context.task_name == "batch" and context.task_id == self.n_batches - 1


class FailAtEnd(RecordingCallback):
    def on_fit_task_end(self, estimator, context, **kwargs):
        super().on_fit_task_end(estimator, context, **kwargs)
        raise RuntimeError("callback failed")


def _X(n=35, p=3, seed=0):
    return np.random.default_rng(seed).normal(2.0, 3.0, size=(n, p))


ESTIMATORS = [
    sknorm.ZScore,
    sknorm.MinMax,
    sknorm.ZCAWhitening,
    sknorm.MiniBatchNormalizer,
    sknorm.LocalResponseNormalizer,
]


# scikit-learn's preprocessing/tests/test_data.py::
# test_standard_scaler_callback_support, body copied with StandardScaler ->
# ZScore (and one list comprehension written as next(), for the linter).
@pytest.mark.parametrize("fit_method", ["fit", "partial_fit"])
@needs_api
def test_standard_scaler_callback_support(fit_method):
    """Check that the reconstruction attributes are correctly passed."""
    X = np.random.RandomState(0).random_sample((10, 2))

    cb = RecordingCallback()
    scaler = sknorm.ZScore().set_callbacks(cb)
    getattr(scaler, fit_method)(X)
    Xt = scaler.transform(X)

    # StandardScaler has no iterative part -> only one task.
    assert cb.count_hooks("setup") == 1
    assert cb.count_hooks("teardown") == 1
    assert cb.count_hooks("on_fit_task_begin") == 1
    assert cb.count_hooks("on_fit_task_end") == 1

    task_end_record = next(r for r in cb.record if r["name"] == "on_fit_task_end")
    fitted_scaler = task_end_record["kwargs"]["fitted_estimator"]
    assert_allclose(fitted_scaler.transform(X), Xt)


@pytest.mark.parametrize(
    "make, method",
    [
        (make, method)
        for make in ESTIMATORS
        for method in ("fit", "partial_fit", "fit_transform", "normalize_batch")
        if hasattr(make, method)
    ],
    ids=lambda v: getattr(v, "__name__", v),
)
@needs_api
def test_each_public_call_is_one_root_task(make, method):
    X = _X()
    cb = RecordingCallback()
    est = make().set_callbacks(cb)
    if method in ("partial_fit", "normalize_batch"):
        getattr(est, method)(X[:20])
        cb.record.clear()
        getattr(est, method)(X[20:])
    else:
        getattr(est, method)(X)
    name = type(est).__name__
    task = "fit" if method == "fit_transform" else method
    assert cb.tasks() == [
        ("setup", name, task, (0,)),
        ("on_fit_task_begin", name, task, (0,)),
        ("on_fit_task_end", name, task, (0,)),
        ("teardown", name, task, (0,)),
    ]
    begin, end = cb.record[1], cb.record[2]
    assert begin["context"].max_subtasks == 0  # a leaf: no batches
    assert begin["kwargs"]["X"].shape[0] == (
        35 if method in ("fit", "fit_transform") else 15
    )
    fitted = end["kwargs"]["fitted_estimator"]
    assert fitted is not est
    assert_array_equal(fitted.transform(X), est.transform(X))
    # The fit-time bookkeeping is gone once the call returned.
    assert "_callback_fit_ctx" not in vars(est)
    assert "_skl_callbacks_to_teardown" not in vars(est)


@needs_api
def test_sample_weight_reaches_the_callbacks_as_metadata():
    X, w = _X(), np.linspace(0.5, 2.0, 35)
    cb = RecordingCallback()
    sknorm.ZScore().set_callbacks(cb).fit(X, sample_weight=w)
    metadata = cb.record[1]["kwargs"]["metadata"]
    assert_array_equal(metadata["sample_weight"], w)


@needs_api
def test_minibatch_fit_reports_one_subtask_per_batch():
    X = _X(35)
    cb = RecordingCallback()
    est = sknorm.MiniBatchNormalizer(batch_size=10).set_callbacks(cb).fit(X)
    M = "MiniBatchNormalizer"
    expected = [("setup", M, "fit", (0,)), ("on_fit_task_begin", M, "fit", (0,))]
    for k in range(4):  # 10 + 10 + 10 + 5 rows
        expected += [
            ("on_fit_task_begin", M, "batch", (0, k)),
            ("on_fit_task_end", M, "batch", (0, k)),
        ]
    expected += [("on_fit_task_end", M, "fit", (0,)), ("teardown", M, "fit", (0,))]
    assert cb.tasks() == expected
    assert cb.record[1]["context"].max_subtasks == 4
    batch_ends = [
        r for r in cb.record if r["name"] == "on_fit_task_end" and r["context"].parent
    ]
    for k, rec in enumerate(batch_ends):
        rows = min(10 * (k + 1), 35)
        assert rec["kwargs"]["X"].shape[0] == min(10, 35 - 10 * k)
        # The estimator as of the end of batch k: what fitting the first
        # batches gives.
        prefix = sknorm.MiniBatchNormalizer(batch_size=10).fit(X[:rows])
        fitted = rec["kwargs"]["fitted_estimator"]
        assert fitted.n_batches_seen_ == k + 1
        assert_array_equal(fitted.running_var_, prefix.running_var_)
        assert_array_equal(fitted.transform(X), prefix.transform(X))
    assert_array_equal(est.running_mean_, prefix.running_mean_)


@pytest.mark.parametrize("n_batches", [1, 2])
@needs_api
def test_a_callback_can_stop_the_batches(n_batches):
    X = _X(35)
    cb = StopAfter(n_batches)
    est = sknorm.MiniBatchNormalizer(batch_size=10).set_callbacks(cb).fit(X)
    prefix = sknorm.MiniBatchNormalizer(batch_size=10).fit(X[: 10 * n_batches])
    assert est.n_batches_seen_ == n_batches
    assert est.n_samples_seen_ == 10 * n_batches
    assert_array_equal(est.running_var_, prefix.running_var_)
    assert_array_equal(est.transform(X), prefix.transform(X))
    # The fit ended cleanly: root task ended, callbacks torn down.
    assert cb.count_hooks("on_fit_task_begin") == 1 + n_batches
    assert cb.tasks()[-2:] == [
        ("on_fit_task_end", "MiniBatchNormalizer", "fit", (0,)),
        ("teardown", "MiniBatchNormalizer", "fit", (0,)),
    ]
    est.partial_fit(X[:5])  # and it goes on
    assert est.n_batches_seen_ == n_batches + 1


@needs_api
def test_a_failing_callback_leaves_the_state_and_tears_down():
    X = _X()
    cb = FailAtEnd()
    est = sknorm.ZScore().fit(X[:20])
    moments = est._moments_
    est.set_callbacks(cb)
    with pytest.raises(RuntimeError, match="callback failed"):
        est.partial_fit(X[20:])
    assert est._moments_ is moments  # transactional, as for any error
    assert cb.count_hooks("setup") == cb.count_hooks("teardown") == 1
    assert "_callback_fit_ctx" not in vars(est)


@needs_api
def test_pipeline_propagates_to_the_steps():
    X = _X(35)
    cb = RecordingAutoPropagatedCallback()
    pipe = Pipeline(
        [("z", sknorm.ZScore()), ("bn", sknorm.MiniBatchNormalizer(batch_size=20))]
    )
    pipe.set_callbacks(cb).fit(X)
    P, Z, B = "Pipeline", "ZScore", "MiniBatchNormalizer"
    assert cb.tasks() == [
        ("setup", P, "fit", (0,)),
        ("on_fit_task_begin", P, "fit", (0,)),
        # Each step's root task is the Pipeline's leaf for that step.
        ("on_fit_task_begin", Z, "fit", (0, 0)),
        ("on_fit_task_end", Z, "fit", (0, 0)),
        ("on_fit_task_begin", B, "fit", (0, 1)),
        ("on_fit_task_begin", B, "batch", (0, 1, 0)),
        ("on_fit_task_end", B, "batch", (0, 1, 0)),
        ("on_fit_task_begin", B, "batch", (0, 1, 1)),
        ("on_fit_task_end", B, "batch", (0, 1, 1)),
        ("on_fit_task_end", B, "fit", (0, 1)),
        ("on_fit_task_end", P, "fit", (0,)),
        ("teardown", P, "fit", (0,)),
    ]
    # The propagated callbacks are gone from the steps afterwards.
    assert not hasattr(pipe.named_steps["bn"], "_skl_callbacks")


@needs_api
def test_callbacks_are_not_parameters_and_survive_clone():
    cb = RecordingCallback()
    est = sknorm.ZScore().set_callbacks(cb)
    assert "callbacks" not in est.get_params()
    assert clone(est)._skl_callbacks == [cb]
    assert not hasattr(est.set_callbacks(), "_skl_callbacks")
    with pytest.raises(TypeError, match="FitCallback"):
        sknorm.ZScore().set_callbacks(object())


def test_without_callback_api_everything_is_a_no_op(monkeypatch):
    """scikit-learn 1.6-1.8 have no sklearn.callback: set_callbacks stores,
    the fit runs, nothing is called (with 1.9: as if it were missing)."""
    monkeypatch.setattr(_callbacks, "_sklearn_callback_api", lambda: None)
    cb = RecordingCallback()
    X = _X()
    est = sknorm.MiniBatchNormalizer(batch_size=10).set_callbacks(cb)
    assert est._skl_callbacks == [cb]
    est.fit(X)
    assert cb.record == []
    assert est.n_batches_seen_ == 4
    assert not hasattr(est.set_callbacks(), "_skl_callbacks")


@needs_api
def test_progress_bar_runs(capsys):
    pytest.importorskip("rich")
    from sklearn.callback import ProgressBar

    X = _X(200)
    est = sknorm.MiniBatchNormalizer(batch_size=16).set_callbacks(ProgressBar())
    est.fit(X)
    pipe = Pipeline([("z", sknorm.ZScore()), ("w", sknorm.ZCAWhitening())])
    pipe.set_callbacks(ProgressBar()).fit(X)
    assert est.n_batches_seen_ == 13
    assert "MiniBatchNormalizer - fit" in capsys.readouterr().out


@needs_api
def test_a_script_with_progress_bars_exits():
    """A nested root task would leave a ProgressBar thread running and the
    interpreter hanging at exit (checked by hand: a public partial_fit
    called from inside MiniBatchNormalizer.fit's batch loop makes this
    script hit the timeout).  Fit, partial_fit, normalize_batch, a Pipeline
    and failing fits, then the script must end."""
    pytest.importorskip("rich")
    code = textwrap.dedent(
        """
        import numpy as np
        import sknorm
        from sklearn.callback import ProgressBar
        from sklearn.pipeline import make_pipeline

        X = np.random.default_rng(0).normal(size=(300, 4))
        bn = sknorm.MiniBatchNormalizer(batch_size=32).set_callbacks(ProgressBar())
        bn.fit(X)
        bn.partial_fit(X[:10])
        bn.normalize_batch(X[:10])
        for make in (sknorm.ZScore, sknorm.MinMax, sknorm.ZCAWhitening,
                     sknorm.LocalResponseNormalizer):
            make().set_callbacks(ProgressBar()).fit_transform(X)
        make_pipeline(sknorm.ZScore(), sknorm.MiniBatchNormalizer(batch_size=64))\\
            .set_callbacks(ProgressBar()).fit(X)
        z = sknorm.ZScore().set_callbacks(ProgressBar()).fit(X)
        try:
            z.partial_fit(X[:, :2])  # wrong width: an error inside partial_fit
        except ValueError:
            pass
        try:
            sknorm.ZScore().set_callbacks(ProgressBar()).fit(
                np.array([[1.0, np.inf], [2.0, 3.0]]))  # found by the kernel
        except ValueError:
            pass
        print("finished")
        """
    )
    env = dict(os.environ)
    env.pop("PYTHONWARNINGS", None)
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "finished" in result.stdout
