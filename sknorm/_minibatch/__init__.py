"""The Batch Normalization family: ``MiniBatchNormalizer`` and what it is
made of.

* :mod:`.estimator`     -- :class:`~sknorm.MiniBatchNormalizer` (published
  as ``sknorm.MiniBatchNormalizer``): validation, the running update in
  PyTorch's order of operations, the affine transform;
* :mod:`.steps`         -- the fold of one step per mini-batch and the
  scale ``gamma / sqrt(var + eps)``, shared by every route;
* :mod:`.dask_steps`    -- the Dask route (imported on the first Dask
  input): the batches' moments from one graph execution, then the steps;
* :mod:`.torch_interop` -- ``torch.nn.BatchNorm*`` state dicts (PyTorch
  imported on use only).

Persisted files name the estimator by its public name, so files saved
when the family was two top-level modules (``sknorm._minibatch``,
``sknorm._torch_interop``) load unchanged.
"""

from __future__ import annotations

from .estimator import MiniBatchNormalizer

__all__ = ["MiniBatchNormalizer"]
