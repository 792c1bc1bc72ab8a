"""Fitted estimators of every kind, for the move and persistence tests.

Each case is a configuration that exercises a different part of the
fitted state: NaN-aware counts, weights, a computed or not yet computed
whitening cache, Ledoit-Wolf's extra moments, array parameters, quantile
summaries (exact after a fit, compacted after the next batch with
``rank_error=0.05``).
"""

import array_api_compat
import numpy as np
import pytest

import sknorm


def _gamma():
    return np.linspace(0.5, 2.0, 4)


CASES = {
    "zscore": lambda: sknorm.ZScore(),
    "zscore-no-mean": lambda: sknorm.ZScore(with_mean=False),
    "minmax-clip": lambda: sknorm.MinMax(feature_range=(-1, 2), clip=True),
    "minmax-fixed": lambda: sknorm.MinMax(data_range=(0, 255)),
    "zca": lambda: sknorm.ZCAWhitening(),
    "pca-lw": lambda: sknorm.ZCAWhitening(
        method="pca", n_components=2, shrinkage="ledoit-wolf"
    ),
    "cholesky-shrunk": lambda: sknorm.ZCAWhitening(method="cholesky", shrinkage=0.3),
    "mbn-arrays": lambda: sknorm.MiniBatchNormalizer(
        momentum=None, batch_size=8, scale=_gamma(), shift=-_gamma()
    ),
    "mbn-pytorch": lambda: sknorm.MiniBatchNormalizer(init="pytorch"),
    "lrn": lambda: sknorm.LocalResponseNormalizer(size=3),
    "maxabs": lambda: sknorm.MaxAbs(),
    "robust": lambda: sknorm.Robust(quantile_range=(10.0, 90.0), unit_variance=True),
    "quantile-normal": lambda: sknorm.Quantile(
        n_quantiles=20, output_distribution="normal", rank_error=0.05
    ),
}

# Cases whose whitening matrices are computed before the move or save (the
# cache must travel); the others still have it empty.
TRANSFORMED_FIRST = {"zca", "pca-lw"}


def data(case, seed=0, n=40):
    """``(X, sample_weight)`` of one batch for ``case``."""
    rng = np.random.default_rng(seed)
    X = 5.0 + rng.normal(size=(n, 4)) @ np.array(
        [[2.0, 0, 0, 0], [1.0, 1.0, 0, 0], [0.5, 0.3, 0.2, 0], [0, 0, 0.4, 1.0]]
    )
    est = CASES[case]()
    if est._allow_nan:
        X[rng.uniform(size=X.shape) < 0.05] = np.nan
    weighted = "sample_weight" in _signature(est.fit)
    w = rng.uniform(0.5, 2.0, n) if weighted else None
    return X, w


def _signature(method):
    import inspect

    return inspect.signature(method).parameters


def fit(case, asarray=np.asarray):
    """A fitted estimator of ``case``, on arrays made by ``asarray``."""
    X, w = data(case)
    est = CASES[case]()
    kwargs = {} if w is None else {"sample_weight": asarray(w)}
    est.fit(asarray(X), **kwargs)
    if case in TRANSFORMED_FIRST:
        est.transform(asarray(X))
    return est


def partial_fit(est, case, asarray=np.asarray, seed=1):
    X, w = data(case, seed=seed, n=25)
    kwargs = {} if w is None else {"sample_weight": asarray(w)}
    return est.partial_fit(asarray(X), **kwargs)


def state_arrays(obj, path="est"):
    """``{path: array}`` of every numeric array reachable from ``obj``:
    attributes, parameters, state tuples, the whitening cache."""
    out = {}
    if array_api_compat.is_array_api_obj(obj):
        if not (isinstance(obj, np.ndarray) and obj.dtype.kind not in "biufc"):
            out[path] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            out.update(state_arrays(v, f"{path}[{k!r}]"))
    elif isinstance(obj, tuple | list):
        for i, v in enumerate(obj):
            name = obj._fields[i] if hasattr(obj, "_fields") else i
            out.update(state_arrays(v, f"{path}.{name}"))
    elif hasattr(obj, "__dict__") and type(obj).__module__.startswith("sknorm"):
        for k, v in vars(obj).items():
            out.update(state_arrays(v, f"{path}.{k}"))
    return out


def to_numpy(a):
    if isinstance(a, np.ndarray):
        return a
    if array_api_compat.is_torch_array(a):
        return a.detach().cpu().numpy()
    if array_api_compat.is_cupy_array(a):
        return a.get()
    return np.asarray(a)


def assert_same_bits(a, b, err_msg=""):
    a, b = to_numpy(a), to_numpy(b)
    assert a.dtype == b.dtype, (err_msg, a.dtype, b.dtype)
    np.testing.assert_array_equal(a, b, err_msg=err_msg, strict=True)


def cpu_backend(name):
    """``(asarray, namespace argument, device)`` of a CPU backend by name."""
    if name == "numpy":
        return np.asarray, "numpy", None
    if name == "array_api_strict":
        xs = pytest.importorskip("array_api_strict")
        return xs.asarray, xs, None
    if name == "torch-cpu":
        torch = pytest.importorskip("torch")
        return (lambda a: torch.asarray(np.asarray(a))), torch, "cpu"
    raise ValueError(name)
