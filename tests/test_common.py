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
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
