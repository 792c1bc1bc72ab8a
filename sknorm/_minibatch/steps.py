"""The training steps of Batch Normalization, shared by every route.

A fit of :class:`~sknorm.MiniBatchNormalizer` is a fold of one step per
mini-batch over its running state; the in-memory route computes each
step from the batch's rows, the Dask route from the batch's moments
(computed in one graph execution).  Both walk their batches with
:func:`take_steps`, so the callbacks hear the same sub-tasks and may stop
a fit after any batch in the same way; both scale the training output
with :func:`training_scale`, as does ``transform`` (with the running
variance).
"""

from __future__ import annotations

import functools

__all__ = ["take_steps", "training_scale"]


def training_scale(gamma, var, eps, xp):
    """``gamma / sqrt(var + eps)`` in PyTorch's order of operations (its
    kernels compute ``invstd = 1 / sqrt(var + eps)``, then ``gamma *
    invstd``): zero exactly where ``gamma`` is."""
    return gamma * (1.0 / xp.sqrt(var + float(eps)))


def take_steps(step, state, batches, task, *, report):
    """Fold ``step(state, batch)`` over ``batches`` from ``state`` (None:
    an unfitted estimator).

    ``batches`` yields ``(batch, subtask_kwargs)``; with ``report`` each
    step is one sub-task of ``task`` (``task.subtask("batch",
    **subtask_kwargs)``), after which a callback may stop the fit (the
    steps taken so far stay).  ``step`` returns ``(state, mean_b, var_b,
    scale)``: the new state, the batch's mean and variance, and the
    training output's scale or None; so does this function, for the last
    step taken.
    """
    result = (state, None, None, None)
    for batch, subtask_kwargs in batches:
        sub = task.subtask("batch", **subtask_kwargs) if report else None
        result = step(result[0], batch)
        reconstruction = functools.partial(dict, result[0])
        if sub is not None and sub.end(reconstruction_attributes=reconstruction):
            break
    return result
