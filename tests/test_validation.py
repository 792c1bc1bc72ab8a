"""Bad input, invalid parameters and transactional partial_fit, on every
public estimator.

Add an estimator by appending an instance to ESTIMATORS (and its invalid
parameters to INVALID_PARAMS); every test here then covers it.
"""

import inspect

import numpy as np
import pytest
from sklearn.base import clone

import sknorm

ESTIMATORS = [
    sknorm.ZScore(),
    sknorm.ZScore(with_mean=False),
    sknorm.MinMax(),
    sknorm.MinMax(feature_range=(-1, 1), clip=True),
]

# (estimator class, parameters) that must be rejected by fit.
INVALID_PARAMS = [
    (sknorm.ZScore, {"with_mean": "yes"}),
    (sknorm.ZScore, {"with_std": None}),
    (sknorm.ZScore, {"copy": 2}),
    (sknorm.MinMax, {"feature_range": (1, 0)}),
    (sknorm.MinMax, {"feature_range": (0, 0)}),
    (sknorm.MinMax, {"feature_range": 3}),
    (sknorm.MinMax, {"feature_range": (0, 1, 2)}),
    (sknorm.MinMax, {"feature_range": ("0", "1")}),
    (sknorm.MinMax, {"clip": "no"}),
    (sknorm.MinMax, {"data_range": (255, 0)}),
    (sknorm.MinMax, {"data_range": 255}),
    (sknorm.MinMax, {"copy": None}),
]


def _ids(estimators):
    return [repr(e).replace(" ", "") for e in estimators]


def _name(est):
    return type(est).__name__


def _allows_nan(est):
    return est.__sklearn_tags__().input_tags.allow_nan


def _takes_weights(est):
    return "sample_weight" in inspect.signature(est.fit).parameters


def _expect(est, method, exc=(ValueError, TypeError)):
    """pytest.raises for an error whose message starts "Estimator.method(): "."""
    return pytest.raises(exc, match=rf"^{_name(est)}\.{method}\(\): ")


def _good(n=20, f=3, seed=0):
    return np.random.default_rng(seed).normal(size=(n, f))


# ------------------------------------------------------------ bad input ----

BAD_X = {
    "1-D": np.arange(5.0),
    "3-D": np.ones((4, 3, 2)),
    "scalar": np.float64(1.0),
    "complex": np.ones((4, 3)) + 1j,
    "complex list": [[1 + 1j, 2.0, 3.0]] * 4,
    "str": np.array([["a", "b", "c"]] * 4),
    "object": np.array([[object(), 1.0, 2.0]] * 4, dtype=object),
    "inf": np.array([[1.0, np.inf, 2.0]] * 4),
    "-inf": np.array([[1.0, -np.inf, 2.0]] * 4),
    "0 rows": np.ones((0, 3)),
    "0 columns": np.ones((4, 0)),
    "ragged list": [[1.0, 2.0, 3.0], [1.0, 2.0]],
}


@pytest.mark.parametrize("est", ESTIMATORS, ids=_ids(ESTIMATORS))
@pytest.mark.parametrize("case", list(BAD_X))
@pytest.mark.parametrize(
    "method", ["fit", "partial_fit", "transform", "inverse_transform"]
)
def test_bad_input_numpy(est, case, method):
    est = clone(est)
    if method.endswith("transform"):
        est.fit(_good())
    with _expect(est, method):
        getattr(est, method)(BAD_X[case])


@pytest.mark.parametrize("est", ESTIMATORS, ids=_ids(ESTIMATORS))
@pytest.mark.parametrize("method", ["fit", "partial_fit", "transform"])
def test_sparse_only_where_accepted(est, method):
    import scipy.sparse as sp

    est = clone(est)
    X = sp.csr_matrix(np.abs(_good()))
    if method == "transform":
        est.fit(np.abs(_good()))
    if est.__sklearn_tags__().input_tags.sparse:
        out = getattr(est, method)(X)
        assert method != "transform" or sp.issparse(out)
    else:
        with _expect(est, method) as info:
            getattr(est, method)(X)
        assert "sparse" in str(info.value).lower()


@pytest.mark.parametrize("est", ESTIMATORS, ids=_ids(ESTIMATORS))
def test_nan_only_where_allowed(est):
    X = _good()
    X[3, 1] = np.nan
    est = clone(est)
    if _allows_nan(est):
        Xt = est.fit(X).transform(X)
        np.testing.assert_array_equal(np.isnan(Xt), np.isnan(X))
    else:  # pragma: no cover - every estimator so far accepts NaN
        with _expect(est, "fit"):
            est.fit(X)


def _array_api_backends():
    import array_api_strict as xs

    out = [pytest.param(xs, id="array_api_strict")]
    try:
        import array_api_compat.torch as xt

        out.append(pytest.param(xt, id="torch-cpu"))
    except ImportError:  # pragma: no cover
        pass
    return out


@pytest.mark.parametrize("est", ESTIMATORS, ids=_ids(ESTIMATORS))
@pytest.mark.parametrize("xp", _array_api_backends())
@pytest.mark.parametrize("method", ["fit", "partial_fit", "transform"])
def test_bad_input_array_api(est, xp, method):
    est = clone(est)
    if method == "transform":
        est.fit(xp.asarray(_good()))
    cases = {
        "1-D": xp.asarray(np.arange(5.0)),
        "3-D": xp.ones((4, 3, 2)),
        "complex": xp.ones((4, 3), dtype=xp.complex128),
        "inf": xp.asarray(BAD_X["inf"]),
        "0 rows": xp.ones((0, 3)),
        "0 columns": xp.ones((4, 0)),
    }
    for case, X in cases.items():
        with _expect(est, method):
            getattr(est, method)(X)
        assert case  # (the case name shows in the traceback)


@pytest.mark.parametrize("est", ESTIMATORS, ids=_ids(ESTIMATORS))
@pytest.mark.parametrize("method", ["partial_fit", "transform", "inverse_transform"])
def test_wrong_feature_count_later(est, method):
    est = clone(est).fit(_good(f=3))
    with _expect(est, method, ValueError) as info:
        getattr(est, method)(_good(f=4))
    assert "4 features" in str(info.value) and "3" in str(info.value)
    import array_api_strict as xs

    est = clone(est).fit(xs.asarray(_good(f=3)))
    with _expect(est, method, ValueError):
        getattr(est, method)(xs.asarray(_good(f=2)))


@pytest.mark.parametrize("cls, params", INVALID_PARAMS)
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_invalid_parameters(cls, params, method):
    est = cls(**params)
    with pytest.raises(
        (ValueError, TypeError), match=rf"^{cls.__name__}\.{method}\(\): "
    ):
        getattr(est, method)(_good())
    assert not [k for k in vars(est) if k.endswith("_")]


def test_invalid_parameter_keeps_scikit_learn_error_type():
    """scikit-learn's check_param_validation expects InvalidParameterError
    and its wording; sknorm only prefixes the call."""
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(
        InvalidParameterError,
        match=r"^ZScore\.fit\(\): The 'with_mean' parameter of ZScore must be",
    ):
        sknorm.ZScore(with_mean="yes").fit(_good())


BAD_WEIGHTS = {
    "too short": np.ones(19),
    "2-D": np.ones((20, 1)),
    "negative": np.r_[-1.0, np.ones(19)],
    "nan": np.r_[np.nan, np.ones(19)],
    "inf": np.r_[np.inf, np.ones(19)],
    "all zero": np.zeros(20),
    "str": np.array(["a"] * 20),
    "negative scalar": -1.0,
    "zero scalar": 0.0,
    "nan scalar": float("nan"),
}


@pytest.mark.parametrize(
    "est", [e for e in ESTIMATORS if _takes_weights(e)], ids=lambda e: repr(e)
)
@pytest.mark.parametrize("case", list(BAD_WEIGHTS))
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_bad_sample_weight(est, case, method):
    est = clone(est)
    with _expect(est, method):
        getattr(est, method)(_good(), sample_weight=BAD_WEIGHTS[case])


# ----------------------------------------------- transactional partial_fit ----


def _to_numpy(a):
    if hasattr(a, "detach"):  # torch
        return a.detach().cpu().numpy()
    return np.asarray(a)


def _freeze(value):
    """A comparable, bit-exact picture of a fitted attribute."""
    if value is None or isinstance(value, bool | int | float | str | np.generic):
        return (type(value).__name__, repr(value))
    if isinstance(value, tuple | list):  # NamedTuple states included
        return (type(value).__name__, tuple(_freeze(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple(sorted((k, _freeze(v)) for k, v in value.items())))
    a = _to_numpy(value)
    if a.dtype == object:
        return ("object", tuple(map(str, a.ravel())), a.shape)
    device = str(getattr(value, "device", "cpu"))
    return (type(value).__name__, device, str(a.dtype), a.shape, a.tobytes())


def snapshot(est):
    return {k: _freeze(v) for k, v in vars(est).items()}


def _backend_arrays():
    import array_api_strict as xs

    out = [
        pytest.param(np, None, id="numpy"),
        pytest.param(xs, None, id="array_api_strict"),
    ]
    try:
        import array_api_compat.torch as xt

        out.append(pytest.param(xt, "cpu", id="torch-cpu"))
    except ImportError:  # pragma: no cover
        pass
    return out


def _failing_batches(xp, device, est):
    """Batches that must make a fitted estimator's partial_fit raise."""

    def arr(a):
        a = np.asarray(a, dtype=float)
        return xp.asarray(a) if device is None else xp.asarray(a, device=device)

    X = _good(n=7, seed=5)
    batches = {
        "wrong feature count": (arr(_good(f=4)), None),
        "inf": (arr(np.where(X > 1, np.inf, X)), None),
        "1-D": (arr(X[:, 0]), None),
        "0 rows": (arr(X[:0]), None),
    }
    if xp is not np:
        batches["other namespace"] = (X, None)  # NumPy into a non-NumPy fit
        if est.__sklearn_tags__().input_tags.sparse:
            import scipy.sparse as sp

            batches["sparse"] = (sp.csr_matrix(X), None)  # lives in NumPy
    else:
        import array_api_strict as xs

        batches["other namespace"] = (xs.asarray(X), None)
    if _takes_weights(est):
        batches["negative weight"] = (arr(X), np.r_[-1.0, np.ones(6)])
        batches["weights too short"] = (arr(X), np.ones(3))
        batches["nan weight"] = (arr(X), np.r_[np.nan, np.ones(6)])
    return batches


@pytest.mark.parametrize("est", ESTIMATORS, ids=_ids(ESTIMATORS))
@pytest.mark.parametrize("xp, device", _backend_arrays())
def test_failing_partial_fit_leaves_state_bit_identical(est, xp, device):
    est = clone(est)
    first = _good(n=30, seed=1)
    first[0, 0] = np.nan
    to = (
        (lambda a: xp.asarray(a))
        if device is None
        else (lambda a: xp.asarray(a, device=device))
    )
    est.partial_fit(to(first)).partial_fit(to(_good(n=11, seed=2)))
    before = snapshot(est)
    transformed = _to_numpy(est.transform(to(first)))
    for case, (X, sw) in _failing_batches(xp, device, est).items():
        kwargs = {} if sw is None else {"sample_weight": sw}
        with _expect(est, "partial_fit"):
            est.partial_fit(X, **kwargs)
        assert snapshot(est) == before, case
    np.testing.assert_array_equal(_to_numpy(est.transform(to(first))), transformed)


@pytest.mark.parametrize("est", ESTIMATORS, ids=_ids(ESTIMATORS))
def test_failure_inside_the_update_restores_state(est, monkeypatch):
    """Not only validation errors: whatever raises while the new state is
    computed (here: the kernel itself), the fitted state is untouched."""
    import sknorm._stats as stats

    est = clone(est).fit(_good(seed=3))
    before = snapshot(est)

    class Boom(RuntimeError):
        pass

    class BrokenKernels:
        def __getattr__(self, name):
            def broken(*args, **kwargs):
                raise Boom(name)

            return broken

    monkeypatch.setattr(stats, "kernels_for", lambda xp: BrokenKernels())
    with pytest.raises(Boom):
        est.partial_fit(_good(seed=4))
    assert snapshot(est) == before


@pytest.mark.parametrize("est", ESTIMATORS, ids=_ids(ESTIMATORS))
def test_failing_first_partial_fit_leaves_estimator_unfitted(est):
    est = clone(est)
    params = est.get_params()
    with _expect(est, "partial_fit"):
        est.partial_fit(np.ones((5, 0)))
    assert not [k for k in vars(est) if k.endswith("_")]
    assert est.get_params() == params
    # and it can still be fitted
    est.partial_fit(_good())
    assert est.n_features_in_ == 3


@pytest.mark.parametrize("est", ESTIMATORS, ids=_ids(ESTIMATORS))
def test_feature_names_mismatch_in_partial_fit(est):
    pd = pytest.importorskip("pandas")
    est = clone(est).fit(pd.DataFrame(_good(), columns=["a", "b", "c"]))
    before = snapshot(est)
    with _expect(est, "partial_fit", ValueError):
        est.partial_fit(pd.DataFrame(_good(), columns=["a", "b", "z"]))
    assert snapshot(est) == before
