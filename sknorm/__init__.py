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
"""

from ._lrn import LocalResponseNormalizer
from ._minibatch import MiniBatchNormalizer
from ._minmax import MinMax
from ._version import __version__
from ._whitening import ZCAWhitening
from ._zscore import ZScore

__all__ = [
    "LocalResponseNormalizer",
    "MinMax",
    "MiniBatchNormalizer",
    "ZCAWhitening",
    "ZScore",
    "__version__",
]
