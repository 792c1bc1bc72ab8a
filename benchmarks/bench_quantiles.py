"""MaxAbs, Robust and Quantile against scikit-learn, and their rank errors.

Targets (issue 19), 1,000,000 x 16 on the CPU: ``Robust.fit`` and
``Quantile.fit`` at least 3x faster than ``RobustScaler.fit`` and
``QuantileTransformer(subsample=None).fit`` (ratio to them <= 1/3),
``Quantile.transform`` at least 2x faster than scikit-learn's, a stream of
10,000-row ``partial_fit`` batches no slower than scikit-learn's exact
in-memory fit (ratio <= 1), ``MaxAbs.fit`` <= 2x one read.  The rank errors
of the estimated quantiles (the distance of their rank in the data to the
target, counted) are printed beside the streams: sknorm streamed (and the
bound it certifies), scikit-learn's default 10,000-row subsample.  On a GPU
the exact fit and the stream run on CuPy against ``cupy.percentile``.
"""

from __future__ import annotations

import numpy as np
from sklearn.preprocessing import MaxAbsScaler, QuantileTransformer, RobustScaler

import sknorm

N_FEATURES = 16
BATCH_ROWS = 10_000


def _rank_error(X, quantiles, levels):
    """The largest distance of a quantile's rank interval in ``X`` to its
    level, over features and levels (``quantiles``: (levels, features))."""
    worst = 0.0
    for j in range(X.shape[1]):
        column = np.sort(X[:, j])
        n = column.shape[0]
        below = np.searchsorted(column, quantiles[:, j], side="left") / n
        upto = np.searchsorted(column, quantiles[:, j], side="right") / n
        gap = np.maximum(np.maximum(below - levels, levels - upto), 0.0)
        worst = max(worst, float(gap.max()))
    return worst


def _stream(est, X, rows):
    def go():
        for i in range(0, X.shape[0], rows):
            est.partial_fit(X[i : i + rows])
        return est

    return go


def run(ctx):
    n = 20_000 if ctx.quick else 1_000_000
    X, X_numpy = ctx.make_data(n, N_FEATURES)
    if ctx.backend == "numpy":
        yield from _cpu(ctx, X)
    else:
        yield from _device(ctx, X, X_numpy)


def _cpu(ctx, X):
    rows = 1_000 if ctx.quick else BATCH_ROWS
    yield ctx.measure(
        "MaxAbs.fit",
        lambda: sknorm.MaxAbs().fit(X),
        reference=("MaxAbsScaler.fit", lambda: MaxAbsScaler().fit(X)),
        target=2.0,
        data=X,
    )
    sk_robust = ("RobustScaler.fit", lambda: RobustScaler().fit(X))
    yield ctx.measure(
        "Robust.fit (exact)",
        lambda: sknorm.Robust().fit(X),
        reference=sk_robust,
        floor=sk_robust,
        target=1 / 3,
        data=X,
        memory=True,
    )
    sk_quantile = (
        "QuantileTransformer(subsample=None).fit",
        lambda: QuantileTransformer(subsample=None).fit(X),
    )
    yield ctx.measure(
        "Quantile.fit (exact)",
        lambda: sknorm.Quantile().fit(X),
        reference=sk_quantile,
        floor=sk_quantile,
        target=1 / 3,
        data=X,
        memory=True,
    )
    ours = sknorm.Quantile().fit(X)
    theirs = QuantileTransformer(subsample=None).fit(X)
    sk_transform = ("QuantileTransformer.transform", lambda: theirs.transform(X))
    yield ctx.measure(
        "Quantile.transform",
        lambda: ours.transform(X),
        reference=sk_transform,
        floor=sk_transform,
        target=1 / 2,
        data=X,
    )
    for name, Est, floor in (
        ("Robust", sknorm.Robust, sk_robust),
        ("Quantile", sknorm.Quantile, sk_quantile),
    ):
        stream = _stream(Est(), X, rows)
        streamed = stream()
        note = f"rank error {_stream_errors(X, streamed, name)}"
        yield ctx.measure(
            f"{name}.partial_fit ({rows:,}-row batches)",
            _stream(Est(), X, rows),
            floor=floor,
            target=1.0,
            data=X,
            memory=True,
            note=note,
        )


def _stream_errors(X, streamed, name):
    """The measured rank errors of a streamed fit and of scikit-learn's
    default subsampled fit, and the bound sknorm certifies."""
    if name == "Robust":  # the median
        levels, q = np.array([0.5]), streamed.center_[None, :]
    else:
        levels, q = streamed.references_, streamed.quantiles_
    ours = _rank_error(X, np.asarray(q), levels)
    text = f"{ours:.1e} (certified {streamed.rank_error_:.1e})"
    if name == "Quantile":
        sub = QuantileTransformer(random_state=0).fit(X)  # 10,000-row subsample
        theirs = _rank_error(X, sub.quantiles_, sub.references_)
        text += f", scikit-learn's default subsample {theirs:.1e}"
    return text


def _device(ctx, X, X_numpy):
    xp = ctx.xp
    levels = xp.asarray([25.0, 50.0, 75.0])

    def percentile():
        return xp.percentile(X, levels, axis=0)

    reference = ("cupy.percentile", percentile)
    yield ctx.measure(
        "Robust.fit (exact)", lambda: sknorm.Robust().fit(X), reference=reference
    )
    yield ctx.measure(
        "Quantile.fit (exact)", lambda: sknorm.Quantile().fit(X), reference=reference
    )
    rows = 4_096 * 8
    yield ctx.measure(
        f"Robust.partial_fit ({rows:,}-row batches)",
        _stream(sknorm.Robust(), X, rows),
        reference=reference,
    )
