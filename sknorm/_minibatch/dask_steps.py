"""MiniBatchNormalizer's ``fit`` / ``partial_fit`` / ``normalize_batch`` of
a Dask collection: the same steps as on the concatenated rows.

The moments of every mini-batch (``batch_size`` rows in row order, across
chunk boundaries) come from one graph execution of the Dask layer's
:func:`~sknorm._dask.layer.row_batch_statistics`; the steps, a few vector
operations per batch, then run here, through the same
:func:`.steps.take_steps` as an in-memory fit.  Imported on the first
Dask input (it imports the Dask layer, which imports dask).
"""

from __future__ import annotations

from .._array_api import accumulation_dtype
from .._dask.routing import layer as dask_layer
from .steps import take_steps, training_scale

__all__ = ["dask_steps"]


def dask_steps(estimator, X, sample_weight, *, method, reset, rows, training_output):
    """The steps of ``estimator`` over the Dask collection ``X``.

    Sub-tasks of the root task: one per chunk (``task_id`` the chunk's
    index, as chunks complete), then, with ``rows``, one per mini-batch
    (``task_id`` the number of chunks plus the batch's index)."""
    layer = dask_layer()
    with estimator._transaction(method):
        inp, weights, kind = layer.validated_input(
            estimator, X, sample_weight, method, reset
        )
        xp, device = inp.xp, inp.device
        dtype = accumulation_dtype(xp, device)
        n_features = inp.n_features
        if reset:
            estimator._check_affine_params(method, n_features, xp, device, dtype)
        n_chunks = layer.n_chunk_tasks(estimator, inp)
        n_batches = layer.n_row_batches(inp, rows)
        n_subtasks = None if n_batches is None else n_chunks + n_batches
        with estimator._fit_task(
            method, X, sample_weight, n_subtasks, sequential_subtasks=False
        ) as task:
            batches = layer.row_batch_statistics(
                estimator, inp, weights, kind, method, rows, task
            )

            def step(state, batch):
                (moments,), n_rows = batch
                return estimator._step_from_moments(
                    state, moments, n_rows, xp, device, dtype
                )

            # The graph has run; the steps are reported one sub-task per
            # batch, as in a NumPy fit.
            state, mean_b, var_b, _ = take_steps(
                step,
                None if reset else estimator._running_state(),
                ((b, {"task_id": n_chunks + k}) for k, b in enumerate(batches)),
                task,
                report=rows is not None,
            )
            out = estimator
            if training_output:
                gamma, beta = estimator._gamma_beta(
                    method, n_features, xp, device, dtype
                )
                scale = training_scale(gamma, var_b, estimator.eps, xp)
                out = layer.lazy_affine(inp, mean_b, scale, beta)
            estimator.__dict__.update(state)
            task.end()
    return out
