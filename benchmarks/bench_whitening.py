"""ZCAWhitening against ``PCA(whiten=True, svd_solver="covariance_eigh")``.

``fit`` is timed together with the (otherwise deferred) eigendecomposition,
so that it does the same work as ``PCA.fit``: one pass over X for the
co-moment matrix, then one ``p x p`` eigendecomposition.  Its floor is
``X.T @ X`` (the Gram matrix: the least any covariance costs).  ``transform``
is ``(X - mean) @ W.T``; its floor is ``X @ W.T`` itself (target 1.3x, issue
22).  A scaling run over ``n_features`` in {16, 64, 256, 1024} keeps the
number of elements fixed (quick mode: tiny sizes); its ``fit`` rows take
``PCA.fit`` as their floor, so that the ratio printed is sknorm's time over
PCA's in the same run (target: below 1 from 256 features, issue 22), with the
Gram matrix as the second floor.  Peak extra memory of ``fit`` at the full
and a quarter of the rows shows that it does not grow with ``n_samples``.
"""

from __future__ import annotations

from sklearn.decomposition import PCA

import sknorm

SCALING_FEATURES = (16, 64, 256, 1024)
QUICK_SCALING_FEATURES = (4, 16)
QUICK_SCALING_ROWS = 500


def _fit_and_whiten(X, **params):
    """``fit`` plus the deferred eigendecomposition (what PCA.fit does)."""

    def go():
        est = sknorm.ZCAWhitening(**params).fit(X)
        est.whitening_  # noqa: B018 - forces the deferred computation
        return est

    return go


def _pca():
    return PCA(whiten=True, svd_solver="covariance_eigh")


def run(ctx):
    yield from _main_rows(ctx)
    yield from _scaling_rows(ctx)


def _reference(ctx, label, fn):
    def call():
        with ctx.array_api_dispatch():
            return fn()

    return (f"PCA(whiten).{label}", call)


def _matmul_floor(ctx, X, W):
    """``X @ W.T`` with ``W`` in X's dtype: the least a whitening costs."""
    Wt = ctx.xp.astype(W, X.dtype).T

    def x_at_wt():
        return X @ Wt

    return ("X @ W.T", x_at_wt)


def _fit_floor(ctx, X):
    """Issue 5's floor of a whitening fit: the Gram matrix on the CPU
    (target 1.5x), the Gram matrix and its eigendecomposition on the GPU
    (target 2x)."""
    if ctx.backend == "numpy":
        return "gram", FIT_TARGET["numpy"]
    xp = ctx.xp

    def gram_eigh():
        return xp.linalg.eigh(X.T @ X)

    return ("gram+eigh", gram_eigh), FIT_TARGET["cupy"]


FIT_TARGET = {"numpy": 1.5, "cupy": 2.0}
# Issue 22: the transform within 1.3x of X @ W.T, wide fits faster than PCA.
TRANSFORM_TARGET = 1.3
WIDE_FEATURES = 256
WIDE_FIT_TARGET = 1.0


def _main_rows(ctx):
    X = ctx.X
    n = X.shape[0]
    floor, target = _fit_floor(ctx, X)
    yield ctx.measure(
        "ZCAWhitening.fit (+ whitening_)",
        _fit_and_whiten(X),
        reference=_reference(ctx, "fit", lambda: _pca().fit(X)),
        floor=floor,
        target=target,
        memory=True,
    )
    quarter = X[: n // 4]
    yield ctx.measure(
        "ZCAWhitening.fit, 1/4 of the rows",
        _fit_and_whiten(quarter),
        floor="gram",
        data=quarter,
        memory=True,
        note="peak extra memory vs the full fit: independent of n_samples",
    )
    rows = 500 if ctx.quick else 10_000
    batches = [X[i : i + rows] for i in range(0, n, rows)]

    def stream():
        est = sknorm.ZCAWhitening()
        for b in batches:
            est.partial_fit(b)
        est.whitening_  # noqa: B018 - one eigendecomposition at the end

    yield ctx.measure(
        f"ZCAWhitening.partial_fit ({rows:,}-row batches)",
        stream,
        **ctx.stream_floors("ZCAWhitening", _fit_and_whiten(X)),
        memory=True,
    )
    est = _fit_and_whiten(X)()
    ref = _pca()
    with ctx.array_api_dispatch():
        ref.fit(X)
    yield ctx.measure(
        "ZCAWhitening.transform",
        lambda: est.transform(X),
        reference=_reference(ctx, "transform", lambda: ref.transform(X)),
        floor=_matmul_floor(ctx, X, est.whitening_),
        target=TRANSFORM_TARGET,
        memory=True,
    )
    Z = est.transform(X)
    with ctx.array_api_dispatch():
        Z_ref = ref.transform(X)
    yield ctx.measure(
        "ZCAWhitening.inverse_transform",
        lambda: est.inverse_transform(Z),
        reference=_reference(
            ctx, "inverse_transform", lambda: ref.inverse_transform(Z_ref)
        ),
        floor=_matmul_floor(ctx, Z, est.dewhitening_),
        memory=True,
    )
    for method in ("zca-cor", "pca", "cholesky"):
        yield ctx.measure(
            f"ZCAWhitening(method={method!r}).fit (+ whitening_)",
            _fit_and_whiten(X, method=method),
            floor="gram",
        )


def _scaling_rows(ctx):
    n_total = ctx.X.shape[0] * ctx.X.shape[1]
    features = QUICK_SCALING_FEATURES if ctx.quick else SCALING_FEATURES
    for p in features:
        n = QUICK_SCALING_ROWS if ctx.quick else max(4 * p, n_total // p)
        X, _ = ctx.make_data(n, p)
        yield ctx.measure(
            f"scaling {n:,} x {p}: fit (+ whitening_)",
            _fit_and_whiten(X),
            floor=_reference(ctx, "fit", lambda X=X: _pca().fit(X)),
            also=("gram", lambda X=X: X.T @ X),
            target=WIDE_FIT_TARGET if p >= WIDE_FEATURES else None,
            data=X,
        )
        est = _fit_and_whiten(X)()
        ref = _pca()
        with ctx.array_api_dispatch():
            ref.fit(X)
        yield ctx.measure(
            f"scaling {n:,} x {p}: transform",
            lambda est=est, X=X: est.transform(X),
            reference=_reference(
                ctx, "transform", lambda ref=ref, X=X: ref.transform(X)
            ),
            floor=_matmul_floor(ctx, X, est.whitening_),
            data=X,
        )
        X = est = ref = None
