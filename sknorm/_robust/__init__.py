"""The robust and quantile family: ``MaxAbs``, ``Robust``, ``Quantile``.

``MaxAbs`` keeps the per-feature extremes (exact, like ``MinMax``);
``Robust`` and ``Quantile`` keep a mergeable quantile summary
(:mod:`sknorm._quantile_summary`) through the shared statistics of
:mod:`.quantile_statistics`, exact for in-memory fits and within a
certified rank error for streams, merges and Dask fits.
"""

from .maxabs import MaxAbs
from .quantile import Quantile
from .robust import Robust

__all__ = ["MaxAbs", "Quantile", "Robust"]
