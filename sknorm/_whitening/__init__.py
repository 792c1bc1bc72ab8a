"""The whitening family: ``ZCAWhitening`` and what it is made of.

* :mod:`.estimator`  -- :class:`~sknorm.ZCAWhitening` (published as
  ``sknorm.ZCAWhitening``) and its lazily computed matrices
  (``sknorm.state.LazyWhitening``);
* :mod:`.matrices`   -- the five whitening matrices of Kessy, Lewin &
  Strimmer from a covariance, the dewhitening matrix built on first use,
  and the bound that decides whether the transform folds its centring
  into the product (``sknorm.state.Whitening``);
* :mod:`.shrinkage`  -- Ledoit-Wolf shrinkage towards the diagonal, streamed
  and merged through a few fourth moments (``sknorm.state.FourthMoments``).

Persisted files name the state types by their public names in
:mod:`sknorm.state`, never by these modules, so files saved when the family
was three top-level modules (``sknorm._whitening``,
``sknorm._whitening_matrices``, ``sknorm._whitening_shrinkage``) load
unchanged.
"""

from __future__ import annotations

from .estimator import ZCAWhitening

__all__ = ["ZCAWhitening"]
