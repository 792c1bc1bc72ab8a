"""sknorm: scikit-learn compatible normalization for NumPy, CuPy and any
Array API backend.

Estimators
----------
MinMax                   scale each feature to a range (learned, or fixed 1/255)
ZScore                   standardize to zero mean, unit variance
ZCAWhitening             decorrelate to unit covariance (zca, zca-cor, pca,
                         pca-cor, cholesky)
MiniBatchNormalizer      Batch Normalization statistics (torch BatchNorm1d)
LocalResponseNormalizer  AlexNet's local response normalization
MaxAbs                   scale each feature by its maximum absolute value
Robust                   centre on the median, scale by a quantile range
                         (streams within a certified rank error)
Quantile                 map each feature through its empirical distribution
                         (uniform or normal output; streams likewise)

Deployment
----------
move_estimator           a fitted copy in another array library / on another
                         device (fit on a GPU, serve on CPUs)
sknorm.io                dump / load estimators safely (skops, no pickle)
sknorm.state             stable names of the fitted-state types
"""

# Submodules, imported so that ``sknorm.io`` and ``sknorm.state`` work after
# ``import sknorm``; neither imports skops (sknorm.io does when called).
from . import io as io
from . import state as state
from ._lrn import LocalResponseNormalizer
from ._minibatch import MiniBatchNormalizer
from ._minmax import MinMax
from ._move import move_estimator
from ._robust import MaxAbs, Quantile, Robust
from ._version import __version__
from ._whitening import ZCAWhitening
from ._zscore import ZScore

__all__ = [
    "LocalResponseNormalizer",
    "MaxAbs",
    "MinMax",
    "MiniBatchNormalizer",
    "Quantile",
    "Robust",
    "ZCAWhitening",
    "ZScore",
    "__version__",
    "move_estimator",
]
