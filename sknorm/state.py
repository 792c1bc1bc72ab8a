"""The types of sknorm's fitted state, under stable names.

Persisted estimators (skops files, pickles) name the class of every object
they hold.  The estimators are named ``sknorm.<Name>``; the objects inside
their fitted state are named here, whatever private module defines them, so
that a file keeps loading when the code is reorganised.  Their fields are
implementation details: read the estimators' documented attributes
(``mean_``, ``covariance_`` ...) instead.

Moments       per-feature count, shift, mean and variance (ZScore)
MinMaxState   per-feature minimum and maximum (MinMax)
CoMoments     mean and covariance matrix (ZCAWhitening)
FourthMoments the statistics of Ledoit-Wolf shrinkage (ZCAWhitening)
Whitening     computed whitening matrices (ZCAWhitening's cache)
LazyWhitening the whitening matrices of one fit, computed on first use
QuantileSummary  per-feature mergeable quantile summary (Robust, Quantile)
LazyQuantiles the quantiles of one fit, computed on first use
"""

from ._quantile_summary import QuantileSummary
from ._robust.quantile_statistics import LazyQuantiles
from ._stats import CoMoments, MinMaxState, Moments
from ._whitening.estimator import _LazyWhitening as LazyWhitening
from ._whitening.matrices import Whitening
from ._whitening.shrinkage import FourthMoments

__all__ = [
    "CoMoments",
    "FourthMoments",
    "LazyQuantiles",
    "LazyWhitening",
    "MinMaxState",
    "Moments",
    "QuantileSummary",
    "Whitening",
]
