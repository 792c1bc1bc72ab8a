"""ONNX export (sknorm.onnx): onnxruntime's output against the estimators'.

The references are the estimators' own ``transform`` (NumPy kernels),
scikit-learn's ``QuantileTransformer`` for the quantile graph builder and
``scipy.special.ndtri`` for its normal quantile function; every model is
checked with ``onnx.checker``.  Tolerances: float64 1e-11 relative,
float32 a few float32 roundings (both relative to the output's scale: a
value near 0 is the difference of larger terms); the matrix product of the
whitening with the dot-product error bound.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

skl2onnx = pytest.importorskip("skl2onnx")
ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from scipy.special import ndtri  # noqa: E402
from sklearn.base import BaseEstimator, TransformerMixin  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import QuantileTransformer, StandardScaler  # noqa: E402

import sknorm.onnx  # noqa: E402
from sknorm import (  # noqa: E402
    LocalResponseNormalizer,
    MaxAbs,
    MiniBatchNormalizer,
    MinMax,
    Quantile,
    Robust,
    ZCAWhitening,
    ZScore,
)
from sknorm._onnx.quantile import convert_quantile, normal_ppf  # noqa: E402
from sknorm._onnx.registry import register  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DTYPES = [np.float32, np.float64]


# --------------------------------------------------------------- helpers ----
def session(model):
    onnx.checker.check_model(model)
    return ort.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )


def run(model, X):
    """The model's outputs on ``X`` (its one input)."""
    s = session(model)
    return s.run(None, {s.get_inputs()[0].name: X})


def assert_matches(got, ref, *, roundings=4):
    """``got`` is ``ref`` in its dtype: float64 to 1e-11, float32 to a few
    roundings, both relative to the output's scale; NaN where ``ref`` is."""
    assert got.dtype == ref.dtype and got.shape == ref.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    ok = ~np.isnan(ref)
    if not ok.any():
        return
    g, r = got[ok].astype(np.float64), ref[ok].astype(np.float64)
    tol = 1e-11 if ref.dtype == np.float64 else roundings * np.finfo(ref.dtype).eps
    np.testing.assert_allclose(g, r, rtol=tol, atol=tol * np.abs(r).max())


def ops(model):
    return [node.op_type for node in model.graph.node]


def data(n=120, n_features=5, *, nan=0.0, seed=0, loc=1000.0):
    """Features with large means compared with their spreads (where a
    folded ``x * a + b`` loses digits), correlated, optionally with NaNs."""
    rng = np.random.default_rng(seed)
    mix = np.tril(rng.uniform(0.2, 1.0, (n_features, n_features)))
    X = loc + rng.normal(size=(n, n_features)) @ mix.T * rng.uniform(0.5, 3.0)
    if nan:
        X[rng.uniform(size=X.shape) < nan] = np.nan
    return X


# ------------------------------------------------------------ 2-D cases ----
def _gamma():
    return np.linspace(0.5, 2.0, 5)


CASES = {
    "minmax": lambda: MinMax(),
    "minmax-clip": lambda: MinMax(feature_range=(-1, 2), clip=True),
    "minmax-fixed": lambda: MinMax(data_range=(0, 2000)),
    "zscore": lambda: ZScore(),
    "zscore-no-mean": lambda: ZScore(with_mean=False),
    "zscore-no-std": lambda: ZScore(with_std=False),
    "zscore-neither": lambda: ZScore(with_mean=False, with_std=False),
    "zca": lambda: ZCAWhitening(),
    "zca-cor": lambda: ZCAWhitening(method="zca-cor"),
    "pca": lambda: ZCAWhitening(method="pca", n_components=3),
    "pca-cor": lambda: ZCAWhitening(method="pca-cor"),
    "cholesky": lambda: ZCAWhitening(method="cholesky"),
    "zca-ledoit-wolf": lambda: ZCAWhitening(shrinkage="ledoit-wolf"),
    "pca-shrunk": lambda: ZCAWhitening(method="pca", n_components=2, shrinkage=0.3),
    "mbn": lambda: MiniBatchNormalizer(batch_size=30),
    "mbn-affine": lambda: MiniBatchNormalizer(
        momentum=None, eps=1e-3, batch_size=30, scale=_gamma(), shift=-_gamma()
    ),
    "mbn-scalar-affine": lambda: MiniBatchNormalizer(scale=2.0, shift=0.5),
    **{
        f"lrn-{size}": (
            lambda size=size: LocalResponseNormalizer(
                size=size, alpha=1e-3, beta=0.75, k=2.0
            )
        )
        for size in (1, 2, 3, 4, 5, 8)
    },
    "maxabs": lambda: MaxAbs(),
    "maxabs-clip": lambda: MaxAbs(clip=True),
    "robust": lambda: Robust(),
    "robust-no-centering": lambda: Robust(with_centering=False, unit_variance=True),
    "robust-no-scaling": lambda: Robust(with_scaling=False, quantile_range=(10, 90)),
    "quantile-uniform": lambda: Quantile(n_quantiles=50),
    "quantile-normal": lambda: Quantile(n_quantiles=50, output_distribution="normal"),
    "quantile-streamed": lambda: _streamed(Quantile(n_quantiles=40, rank_error=0.05)),
}
STATELESS = {"minmax-fixed"} | {c for c in CASES if c.startswith("lrn")}


class _streamed:
    """An estimator fitted by partial_fit in batches (its summary, not the
    exact fit, holds the quantiles)."""

    def __init__(self, est):
        self.est = est

    def fit(self, X):
        for batch in np.array_split(X, 5):
            self.est.partial_fit(batch)
        return self.est


def fitted(case, X):
    est = CASES[case]()
    return est if case in STATELESS else est.fit(X)


def case_data(case, dtype, seed=0):
    whitening = isinstance(CASES[case](), ZCAWhitening)
    X = data(nan=0.0 if whitening else 0.05, seed=seed)
    if case.startswith("lrn"):
        X = X / 30.0  # windows of sizeable squares
    return X.astype(dtype)


def assert_whitening_matches(est, got, ref, X):
    """The product against the dot-product error bound: n * eps *
    (|X - mean| @ |W|.T), twice (both sides round)."""
    assert got.dtype == ref.dtype and got.shape == ref.shape
    eps = np.finfo(X.dtype).eps
    centred = np.abs(X.astype(np.float64) - np.asarray(est.mean_))
    bound = X.shape[1] * eps * centred @ np.abs(np.asarray(est.whitening_)).T
    assert np.all(np.abs(got.astype(float) - ref.astype(float)) <= 2 * bound + 1e-300)
    if X.dtype == np.float64:
        assert_matches(got, ref)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_2d_graph_equals_transform(case, dtype):
    X = case_data(case, dtype)
    est = fitted(case, X)
    X_new = case_data(case, dtype, seed=1)  # other rows: clip, out of range
    model = sknorm.onnx.to_onnx(est, X[:1])
    (got,) = run(model, X_new)
    ref = est.transform(X_new)
    if isinstance(est, ZCAWhitening):
        assert_whitening_matches(est, got, ref, X_new)
    else:
        assert_matches(got, ref)
    if dtype == np.float64:  # skl2onnx's own entry gives the same graph
        (again,) = run(skl2onnx.to_onnx(est, X[:1]), X_new)
        np.testing.assert_array_equal(again, got)


def test_what_each_estimator_becomes():
    X = data()
    X32 = X.astype(np.float32)
    assert ops(sknorm.onnx.to_onnx(ZScore().fit(X), X[:1])) == ["Sub", "Mul"]
    assert ops(sknorm.onnx.to_onnx(MinMax(clip=True).fit(X), X[:1])) == [
        "Sub",
        "Mul",
        "Add",
        "Clip",
    ]
    assert ops(sknorm.onnx.to_onnx(ZCAWhitening().fit(X), X[:1])) == [
        "Sub",
        "MatMul",
    ]
    assert ops(sknorm.onnx.to_onnx(MiniBatchNormalizer().fit(X), X[:1])) == [
        "Sub",
        "BatchNormalization",
    ]
    # ONNX's LRN where its window and dtype match (odd size, float32) ...
    assert "LRN" in ops(sknorm.onnx.to_onnx(LocalResponseNormalizer(), X32[:1]))
    # ... and the window sum otherwise (even size, float64).
    for est, sample in (
        (LocalResponseNormalizer(size=4), X32[:1]),
        (LocalResponseNormalizer(size=5), X[:1]),
    ):
        assert "LRN" not in ops(sknorm.onnx.to_onnx(est, sample))
    # Identity for a ZScore that does nothing; float64 has no Scaler op.
    assert ops(
        sknorm.onnx.to_onnx(ZScore(with_mean=False, with_std=False).fit(X), X[:1])
    ) == ["Identity"]


def test_graph_dtype_and_state_dtype_follow_the_input():
    X = data()
    for dtype in DTYPES:
        model = sknorm.onnx.to_onnx(ZScore().fit(X), X[:1].astype(dtype))
        elem = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
        assert model.graph.input[0].type.tensor_type.elem_type == elem
        assert model.graph.output[0].type.tensor_type.elem_type == elem
        assert {t.data_type for t in model.graph.initializer} == {elem}
        assert "Cast" not in ops(model)


def test_mbn_keeps_the_digits_of_large_means():
    """BatchNormalization folds the mean into the bias in onnxruntime; the
    graph subtracts it first, as transform does (float32, means of 1e4)."""
    rng = np.random.default_rng(3)
    X = (1e4 + rng.normal(size=(500, 3))).astype(np.float32)
    est = MiniBatchNormalizer().fit(X)
    (got,) = run(sknorm.onnx.to_onnx(est, X[:1]), X)
    assert_matches(got, est.transform(X))


def test_minmax_beyond_the_float_range():
    """Features whose range exceeds the float range: MinMax maps them
    around the midpoint (its own terms, in the graph too)."""
    X = np.array([[-1e308, 0.0], [1e308, 1.0], [0.0, 0.5]])
    est = MinMax().fit(X)
    (got,) = run(sknorm.onnx.to_onnx(est, X[:1]), X)
    assert_matches(got, est.transform(X))


def test_float16_is_computed_in_float32_and_rounded_once():
    X = data(nan=0.05).astype(np.float16)
    for est in (
        ZScore().fit(X),
        MinMax(clip=True).fit(X),
        MiniBatchNormalizer().fit(X),
        LocalResponseNormalizer(size=3),
        ZCAWhitening().fit(np.nan_to_num(X, nan=1000.0)),
    ):
        Xs = np.nan_to_num(X, nan=1000.0) if isinstance(est, ZCAWhitening) else X
        model = sknorm.onnx.to_onnx(est, Xs[:1])
        assert ops(model)[0] == "Cast" and ops(model)[-1] == "Cast"
        (got,) = run(model, Xs)
        ref = est.transform(Xs)
        assert got.dtype == np.float16
        # one float16 rounding of float32 results that may differ by a few
        # float32 roundings: at most one float16 unit apart
        np.testing.assert_allclose(
            got.astype(float), ref.astype(float), rtol=2**-10, atol=1e-3
        )


def test_integers_become_float64_as_in_transform():
    pixels = np.random.default_rng(0).integers(0, 256, (20, 6), dtype=np.uint8)
    est = MinMax(data_range=(0, 255))
    (got,) = run(sknorm.onnx.to_onnx(est, pixels[:1]), pixels)
    assert_matches(got, est.transform(pixels))
    assert got.dtype == np.float64


# ------------------------------------------------------------ N-D input ----
ND_CASES = {
    "minmax": lambda axis: MinMax(feature_range=(-1, 1), clip=True, channel_axis=axis),
    "zscore": lambda axis: ZScore(channel_axis=axis),
    "mbn": lambda axis: MiniBatchNormalizer(
        channel_axis=axis, scale=np.array([1.0, 2.0, 0.5]), shift=0.25
    ),
    "lrn-3": lambda axis: LocalResponseNormalizer(size=3, alpha=1.0, channel_axis=axis),
    "lrn-2": lambda axis: LocalResponseNormalizer(size=2, alpha=1.0, channel_axis=axis),
}
LAYOUTS = {
    "NCHW": ((40, 3, 4, 5), 1),
    "NHWC": ((40, 4, 5, 3), -1),
    "NCL": ((40, 3, 7), 1),
    "NHCW": ((40, 4, 3, 5), 2),
}


def nd_data(shape, axis, seed=0, nan=0.02):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=shape)
    loc = np.array([5.0, -300.0, 40.0]).reshape(
        (3,) + (1,) * (len(shape) - 1 - axis % len(shape))
    )
    X = X * 2.0 + loc
    X[rng.uniform(size=X.shape) < nan] = np.nan
    return X


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("case", ND_CASES)
def test_nd_channels(case, layout, dtype):
    shape, axis = LAYOUTS[layout]
    X = nd_data(shape, axis).astype(dtype)
    if case.startswith("lrn"):
        X /= 30.0
    est = ND_CASES[case](axis)
    if not case.startswith("lrn"):
        est.fit(X)
    model = sknorm.onnx.to_onnx(est, X[:1])
    # another batch with other spatial sizes: only the channels are fixed
    other = list(shape)
    for a in range(1, len(shape)):
        if a != axis % len(shape):
            other[a] += 2
    X_new = nd_data(tuple(other), axis, seed=1).astype(dtype)
    if case.startswith("lrn"):
        X_new /= 30.0
    (got,) = run(model, X_new)
    assert_matches(got, est.transform(X_new))
    if case == "mbn":
        assert ("BatchNormalization" in ops(model)) == (axis % len(shape) == 1)


def test_nd_through_skl2onnx_keeps_the_sample_shape():
    """skl2onnx's parser keeps the N-D shape (all sizes fixed but the
    first); sknorm.onnx.to_onnx frees the non-channel sizes."""
    X = nd_data((10, 3, 4, 4), 1)
    est = ZScore(channel_axis=1).fit(X)
    dims = [
        (d.dim_value or None)
        for d in skl2onnx.to_onnx(est, X[:1]).graph.input[0].type.tensor_type.shape.dim
    ]
    assert dims == [None, 3, 4, 4]
    model = sknorm.onnx.to_onnx(est, X[:1])
    dims = [
        (d.dim_value or None) for d in model.graph.input[0].type.tensor_type.shape.dim
    ]
    assert dims == [None, 3, None, None]


# ------------------------------------------------- pipelines and columns ----
@pytest.mark.parametrize("dtype", DTYPES)
def test_pipeline_with_a_classifier_predicts_the_same(dtype):
    X = data(n=300).astype(dtype)
    y = (X[:, 0] - X[:, 1] > np.median(X[:, 0] - X[:, 1])).astype(int)
    pipe = make_pipeline(
        MinMax(),
        ZScore(),
        ZCAWhitening(method="pca", n_components=4),
        MiniBatchNormalizer(),
        LogisticRegression(),
    ).fit(X, y)
    model = skl2onnx.to_onnx(pipe, X[:1], options={"zipmap": False})
    labels, proba = run(model, X)
    np.testing.assert_array_equal(labels, pipe.predict(X))
    np.testing.assert_allclose(
        proba, pipe.predict_proba(X), atol=1e-12 if dtype == np.float64 else 1e-5
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_column_transformer_mixing_sknorm_and_scikit_learn(dtype):
    X = data(n=200, n_features=7, nan=0.0).astype(dtype)
    ct = ColumnTransformer(
        [
            ("z", ZScore(), [0, 1]),
            ("m", MinMax(clip=True), [2, 3]),
            ("s", StandardScaler(), [4]),
            ("w", ZCAWhitening(method="pca", n_components=1), [5, 6]),
        ]
    ).fit(X[:100])
    (got,) = run(skl2onnx.to_onnx(ct, X[:1]), X[100:])
    ref = ct.transform(X[100:])
    # StandardScaler's float32 Scaler op multiplies by 1 / scale_ in float32
    assert_matches(got, ref, roundings=8)


def test_dataframe_columns_are_concatenated():
    pd = pytest.importorskip("pandas")
    X = data(n=50, n_features=3)
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    est = ZScore().fit(df)
    model = skl2onnx.to_onnx(est, df[:1])
    assert len(model.graph.input) == 3
    s = session(model)
    (got,) = s.run(None, {c: X[:, [i]] for i, c in enumerate(df.columns)})
    assert_matches(got, est.transform(df))


# ------------------------------------------------- estimators on torch ----
def test_estimator_fitted_on_torch():
    torch = pytest.importorskip("torch")
    X = data(nan=0.05)
    Xt = torch.asarray(X)
    est = ZScore().fit(Xt)
    ref = est.transform(Xt).numpy()
    model = sknorm.onnx.to_onnx(est, Xt[:1])
    (got,) = run(model, X)
    assert_matches(got, ref)
    assert isinstance(est.mean_, torch.Tensor)  # the original is untouched
    # skl2onnx's own entry converts it too (the converter reads it once)
    (again,) = run(skl2onnx.to_onnx(est, X[:1]), X)
    np.testing.assert_array_equal(again, got)


def test_whitening_fitted_on_torch_uses_its_own_matrix():
    torch = pytest.importorskip("torch")
    X = data()
    est = ZCAWhitening().fit(torch.asarray(X))
    (got,) = run(sknorm.onnx.to_onnx(est, X[:1]), X)
    ref = est.transform(torch.asarray(X)).numpy()
    assert_whitening_matches(sknorm.move_estimator(est, "numpy"), got, ref, X)


# ---------------------------------------------------------------- errors ----
@pytest.mark.parametrize(
    "est",
    [ZScore(), MinMax(), ZCAWhitening(), MiniBatchNormalizer()],
    ids=lambda e: type(e).__name__,
)
def test_unfitted_estimators_are_refused(est):
    X = data()
    name = type(est).__name__
    with pytest.raises(NotFittedError, match=rf"{name} \(ONNX export\): .*fit"):
        sknorm.onnx.to_onnx(est, X[:1])
    with pytest.raises(NotFittedError, match=rf"{name} \(ONNX export\)"):
        skl2onnx.to_onnx(make_pipeline(est), X[:1])


def test_inexpressible_inputs_are_refused():
    X = data()
    X4 = nd_data((5, 3, 2, 2), 1)
    with pytest.raises(
        ValueError, match=r"ZScore \(ONNX export\): .*4 dimensions.*channel_axis"
    ):
        sknorm.onnx.to_onnx(ZScore().fit(X), X4[:1])
    with pytest.raises(ValueError, match=r"fitted on 5"):
        sknorm.onnx.to_onnx(ZScore().fit(X), X[:1, :3])
    est = ZScore(channel_axis=1).fit(X4)
    with pytest.raises(ValueError, match=r"fitted on 4-D arrays"):
        sknorm.onnx.to_onnx(est, X4[:1, :, :, 0])
    with pytest.raises(
        ValueError, match=r"2 features along axis 2, but ZScore was fitted on 1"
    ):
        sknorm.onnx.to_onnx(ZScore(channel_axis=2).fit(X4[:, :, :1, :]), X4[:1])
    est.set_params(channel_axis=2)
    with pytest.raises(ValueError, match=r"fitted with channel_axis=1"):
        sknorm.onnx.to_onnx(est, X4[:1])
    with pytest.raises(ValueError, match=r"target_opset=12.*13 or later"):
        sknorm.onnx.to_onnx(ZScore().fit(X), X[:1], target_opset=12)
    with pytest.raises(ValueError, match=r"X_sample has shape"):
        sknorm.onnx.to_onnx(ZScore().fit(X), X[0])
    with pytest.raises(TypeError, match=r"expected a fitted estimator"):
        sknorm.onnx.to_onnx(ZScore, X[:1])
    with pytest.raises(ValueError, match=r"MinMax.transform\(\): .*feature_range"):
        sknorm.onnx.to_onnx(MinMax().fit(X).set_params(feature_range=(1, 0)), X[:1])


def test_import_sknorm_does_not_import_onnx_libraries():
    code = textwrap.dedent(
        """
        import sys
        import numpy as np
        import sknorm
        X = np.random.default_rng(0).normal(size=(20, 3))
        sknorm.ZScore().fit(X).transform(X)
        loaded = [m for m in ("skl2onnx", "onnx", "onnxruntime") if m in sys.modules]
        assert not loaded, loaded
        """
    )
    env = dict(os.environ)
    env.pop("PYTHONWARNINGS", None)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr


# ---------------------------------------------- the quantile graph builder ----
class _SklearnQuantile(QuantileTransformer):
    """scikit-learn's transformer under the converter sknorm's Quantile
    will get (registered here, as the table does for sknorm's classes)."""


register(_SklearnQuantile, convert_quantile)


def quantile_data(n=2000, seed=0):
    """Continuous, heavily repeated (quantiles repeat) and heavy-tailed
    features, with NaNs."""
    rng = np.random.default_rng(seed)
    X = np.column_stack(
        [
            rng.normal(size=n),
            rng.integers(0, 5, n).astype(float),
            np.round(rng.exponential(size=n), 1),
            rng.standard_cauchy(n),
        ]
    )
    X[rng.uniform(size=X.shape) < 0.03] = np.nan
    return X


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_quantiles", [1, 2, 10, 1000])
@pytest.mark.parametrize("distribution", ["uniform", "normal"])
def test_quantile_builder_equals_scikit_learn(distribution, n_quantiles, dtype):
    X = quantile_data()
    qt = _SklearnQuantile(
        n_quantiles=n_quantiles, output_distribution=distribution, subsample=None
    ).fit(X.astype(dtype))
    q = qt.quantiles_
    # the fitted rows, far outside, at the quantiles and next to them, at
    # the normal bounds' threshold
    X_new = np.vstack(
        [X, 50 * quantile_data(300, seed=1), q, q + 1e-8, q - 1e-8, q[[0, -1]] + 1e-7]
    ).astype(dtype)
    (got,) = run(sknorm.onnx.to_onnx(qt, X_new[:1]), X_new)
    ref = qt.transform(X_new)
    # float64 1e-11 (the ppf is AS241's, not SciPy's); float32: scikit-learn's
    # float64 interpolation rounded once (measured: bit for bit)
    assert_matches(got, ref, roundings=1)


def test_quantile_builder_in_a_pipeline_with_a_classifier():
    X = np.nan_to_num(quantile_data(), nan=0.0)
    y = (X[:, 0] > 0).astype(int)
    pipe = make_pipeline(
        _SklearnQuantile(n_quantiles=200, output_distribution="normal"),
        LogisticRegression(),
    ).fit(X, y)
    labels, proba = run(skl2onnx.to_onnx(pipe, X[:1], options={"zipmap": False}), X)
    np.testing.assert_array_equal(labels, pipe.predict(X))
    np.testing.assert_allclose(proba, pipe.predict_proba(X), atol=1e-12)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_quantile_builder_per_channel(layout):
    """N-D input through the per-channel rows (for sknorm's Quantile with a
    channel_axis): the reference moves the channels last, flattens and
    transforms with scikit-learn."""
    shape, axis = LAYOUTS[layout]
    X = nd_data(shape, axis, nan=0.0)
    rows = np.moveaxis(X, axis, -1).reshape(-1, 3)
    qt = _SklearnQuantile(n_quantiles=50, output_distribution="normal").fit(rows)
    qt.channel_axis = axis
    X_new = nd_data(shape, axis, seed=1, nan=0.05)
    (got,) = run(sknorm.onnx.to_onnx(qt, X_new[:1]), X_new)
    moved = np.moveaxis(X_new, axis, -1)
    ref = np.moveaxis(qt.transform(moved.reshape(-1, 3)).reshape(moved.shape), -1, axis)
    assert_matches(got, ref)


class _Ppf(TransformerMixin, BaseEstimator):
    """The builder's normal quantile function alone, as an estimator."""

    _parameter_constraints: dict = {}

    def fit(self, X, y=None):
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags


register(_Ppf, lambda est, g, x, layout: normal_ppf(g, x))


def test_normal_ppf_against_ndtri_over_the_clipped_range():
    """AS241 to 1e-11 relative (measured 1e-15) over 1e-7 .. 1 - 1e-7,
    densely near both ends and through the middle, in float64; a few
    roundings in float32."""
    tail = np.geomspace(1e-7, 0.5, 20_000)
    p = np.concatenate([tail, 1 - tail, np.linspace(1e-7, 1 - 1e-7, 20_001)])
    p = p[np.abs(p - 0.5) > 1e-9].reshape(-1, 1)  # the ppf's zero: relative
    for dtype, tol in ((np.float64, 1e-11), (np.float32, 8 * 2.0**-23)):
        sample = p.astype(dtype)
        (got,) = run(skl2onnx.to_onnx(_Ppf(), sample[:1]), sample)
        ref = ndtri(sample.astype(np.float64))
        assert got.dtype == dtype
        rel = np.abs(got.astype(np.float64) - ref) / np.abs(ref)
        assert rel[np.abs(ref) > 1e-3].max() < tol
