"""scikit-learn's estimator checks, Array API checks included, on every
public estimator.  No expected failures."""

import os

os.environ.setdefault("SCIPY_ARRAY_API", "1")

from sklearn.utils.estimator_checks import parametrize_with_checks

import sknorm

ESTIMATORS = [
    sknorm.ZScore(),
    sknorm.ZScore(with_mean=False),
    sknorm.MinMax(),
    sknorm.MinMax(feature_range=(-1, 1), clip=True),
    sknorm.MinMax(data_range=(-10, 10)),
    sknorm.MiniBatchNormalizer(),
    sknorm.MiniBatchNormalizer(momentum=None, init="pytorch", scale=2.0, shift=-1.0),
    sknorm.LocalResponseNormalizer(),
    sknorm.LocalResponseNormalizer(size=4, alpha=1.0, beta=0.5, k=1.0),
    sknorm.ZCAWhitening(),
    sknorm.ZCAWhitening(method="pca", n_components=2),
    sknorm.ZCAWhitening(method="pca-cor"),
    sknorm.ZCAWhitening(method="cholesky"),
    sknorm.ZCAWhitening(method="zca-cor", shrinkage="ledoit-wolf"),
    sknorm.MaxAbs(),
    sknorm.Robust(),
    sknorm.Robust(with_centering=False, quantile_range=(10.0, 90.0)),
    sknorm.Robust(unit_variance=True, rank_error=1e-2),
    sknorm.Quantile(n_quantiles=10),
    sknorm.Quantile(n_quantiles=10, output_distribution="normal"),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
