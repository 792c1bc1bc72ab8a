"""The demo behind ``python -m sknorm``.

Fits every sknorm estimator on a data set that ships with scikit-learn (no
download), prints compact per-feature statistics before and after, and the
cross-validated accuracy of a ``Pipeline`` with and without normalization.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

__all__ = ["main"]


def _estimators():
    """(label, estimator) pairs shown by the demo, one per sknorm estimator."""
    import sknorm

    return [
        ("ZScore()", sknorm.ZScore()),
        ("MinMax()", sknorm.MinMax()),
        ("ZCAWhitening()", sknorm.ZCAWhitening()),
        (
            "ZCAWhitening(method='pca-cor', n_components=10)",
            sknorm.ZCAWhitening(method="pca-cor", n_components=10),
        ),
        (
            "MiniBatchNormalizer(batch_size=64)",
            sknorm.MiniBatchNormalizer(batch_size=64),
        ),
        ("LocalResponseNormalizer()", sknorm.LocalResponseNormalizer()),
        ("MaxAbs()", sknorm.MaxAbs()),
        ("Robust()", sknorm.Robust()),
        (
            "Quantile(n_quantiles=200, output_distribution='normal')",
            sknorm.Quantile(n_quantiles=200, output_distribution="normal"),
        ),
    ]


def _load(name):
    from sklearn import datasets

    loader = {
        "breast_cancer": datasets.load_breast_cancer,
        "digits": datasets.load_digits,
        "wine": datasets.load_wine,
    }[name]
    bunch = loader()
    names = list(getattr(bunch, "feature_names", [])) or [
        f"x{i}" for i in range(bunch.data.shape[1])
    ]
    return bunch.data.astype(np.float64), bunch.target, names


def _stats_table(X, names, n_show):
    """Rows mean/std/min/max, one column per shown feature."""
    cols = list(range(min(n_show, X.shape[1])))
    header = "          " + "".join(f"{names[c][:11]:>12}" for c in cols)
    lines = [header]
    for label, fn in (
        ("mean", np.nanmean),
        ("std", np.nanstd),
        ("min", np.nanmin),
        ("max", np.nanmax),
    ):
        values = fn(X[:, cols], axis=0)
        # A mean of 1e-16 is a zero that went through floating point.
        values = np.where(np.abs(values) < 1e-12, 0.0, values)
        lines.append(f"  {label:<8}" + "".join(f"{v:12.4g}" for v in values))
    return "\n".join(lines)


def _max_abs_correlation(X):
    """Largest |off-diagonal correlation|: 0 means fully decorrelated."""
    std = X.std(axis=0)
    keep = std > 0
    if keep.sum() < 2:
        return 0.0
    corr = np.corrcoef(X[:, keep], rowvar=False)
    np.fill_diagonal(corr, 0.0)
    return float(np.abs(corr).max())


def _cv_accuracy(estimator, X, y, folds):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline

    steps = [] if estimator is None else [estimator]
    model = make_pipeline(*steps, LogisticRegression(max_iter=300))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scores = cross_val_score(model, X, y, cv=folds)
    converged = not any("converge" in str(w.message).lower() for w in caught)
    return scores.mean(), scores.std(), converged


def main(argv=None):
    """Run the demo; returns the process exit code."""
    import sknorm

    parser = argparse.ArgumentParser(prog="python -m sknorm", description=__doc__)
    parser.add_argument(
        "--dataset",
        choices=["breast_cancer", "digits", "wine"],
        default="breast_cancer",
    )
    parser.add_argument("--features", type=int, default=5, help="columns shown")
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args(argv)

    X, y, names = _load(args.dataset)
    print(f"sknorm {sknorm.__version__} demo: {args.dataset}")
    print(f"{X.shape[0]} samples x {X.shape[1]} features, {len(set(y))} classes\n")
    print("raw data")
    print(_stats_table(X, names, args.features))
    print(f"  max |corr| between features: {_max_abs_correlation(X):.3f}\n")

    for label, estimator in _estimators():
        Xt = np.asarray(estimator.fit_transform(X))
        out_names = list(estimator.get_feature_names_out(names))
        print(label)
        print(_stats_table(Xt, out_names, args.features))
        print(f"  max |corr| between features: {_max_abs_correlation(Xt):.3f}\n")

    print(f"{args.folds}-fold accuracy of LogisticRegression(max_iter=300):")
    rows = [("no normalization", None), *_estimators()]
    for label, estimator in rows:
        mean, std, converged = _cv_accuracy(estimator, X, y, args.folds)
        note = "" if converged else "  (solver did not converge)"
        print(f"  {label:<50} {mean:.4f} +/- {std:.4f}{note}")
    return 0
