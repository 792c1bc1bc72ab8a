"""Every float parameter of every estimator refuses NaN and infinity.

A non-finite parameter would silently give NaN, inf or 0 output
(``MinMax(feature_range=(0, np.inf))`` mapped everything to inf).  The
error is a ValueError naming the estimator, the method and the parameter.
"""

import re

import numpy as np
import pytest

from sknorm import (
    LocalResponseNormalizer,
    MiniBatchNormalizer,
    MinMax,
    ZCAWhitening,
    ZScore,
)

X = np.random.default_rng(0).normal(size=(20, 3))

NON_FINITE = [np.nan, np.inf, -np.inf]

# (estimator class, parameter, a value with one non-finite entry)
CASES = [
    (MinMax, "feature_range", lambda v: (0.0, v)),
    (MinMax, "feature_range", lambda v: (v, 1.0)),
    (MinMax, "data_range", lambda v: (0.0, v)),
    (MinMax, "data_range", lambda v: (v, 255.0)),
    (ZCAWhitening, "eps", lambda v: v),
    (ZCAWhitening, "shrinkage", lambda v: v),
    (MiniBatchNormalizer, "momentum", lambda v: v),
    (MiniBatchNormalizer, "eps", lambda v: v),
    (MiniBatchNormalizer, "scale", lambda v: v),
    (MiniBatchNormalizer, "shift", lambda v: v),
    (MiniBatchNormalizer, "scale", lambda v: np.array([1.0, v, 1.0])),
    (LocalResponseNormalizer, "alpha", lambda v: v),
    (LocalResponseNormalizer, "beta", lambda v: v),
    (LocalResponseNormalizer, "k", lambda v: v),
]


def _methods(cls, param):
    """The calls that use the parameter (the stateless ones need no fit)."""
    if cls is LocalResponseNormalizer:
        return ["fit", "transform", "fit_transform"]
    if cls is MinMax and param == "data_range":
        return ["fit", "partial_fit", "transform"]
    if cls is MiniBatchNormalizer:
        return ["fit", "partial_fit", "normalize_batch"]
    return ["fit", "partial_fit"]


def _calls():
    for cls, param, make in CASES:
        for method in _methods(cls, param):
            for value in NON_FINITE:
                yield pytest.param(
                    cls,
                    param,
                    make(value),
                    method,
                    id=f"{cls.__name__}-{param}-{method}-{value}",
                )


@pytest.mark.parametrize(("cls", "param", "value", "method"), list(_calls()))
def test_non_finite_parameter_is_refused(cls, param, value, method):
    est = cls(**{param: value})
    called = "fit" if method == "fit_transform" else method
    with pytest.raises(ValueError) as info:
        getattr(est, method)(X)
    message = str(info.value)
    assert message.startswith(f"{cls.__name__}.{called}(): "), message
    assert re.search(rf"\b{param}\b", message), message


@pytest.mark.parametrize("param", ["feature_range", "data_range"])
def test_minmax_refuses_a_range_whose_width_overflows(param):
    """Finite ends, infinite width: the map's slope would be 0 or inf."""
    est = MinMax(**{param: (-1e308, 1e308)})
    with pytest.raises(ValueError, match=rf"^MinMax\.fit\(\): {param} must be"):
        est.fit(X)


def test_set_params_after_fit_is_checked_at_transform():
    est = MinMax().fit(X).set_params(feature_range=(0.0, np.inf))
    with pytest.raises(ValueError, match=r"^MinMax\.transform\(\): feature_range"):
        est.transform(X)


def test_finite_parameters_still_work():
    """Large but finite values are parameters like any other."""
    ZScore().fit(X)
    MinMax(feature_range=(-1e300, 1e300)).fit_transform(X)
    MinMax(data_range=(0.0, 1e300)).transform(X)
    LocalResponseNormalizer(beta=-2.5, alpha=1e10, k=1e-300).transform(X)
    MiniBatchNormalizer(eps=1e300, scale=1e300).fit_transform(X)
    ZCAWhitening(eps=1e300).fit_transform(X)
