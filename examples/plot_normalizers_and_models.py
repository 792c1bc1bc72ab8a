"""
What each normalizer does for a distance-based and a gradient-based model
=========================================================================

The wine data (ships with scikit-learn) has 13 features on very different
scales: ``proline`` runs from 278 to 1680, ``hue`` from 0.48 to 1.71.  A
k-nearest-neighbours classifier measures Euclidean distances, so the
largest feature decides alone; a linear model trained by stochastic
gradient descent takes steps of one size in every direction, so badly
scaled features slow or stall it.

Each sknorm estimator is put in front of both models in a ``Pipeline``
and scored by 5-fold stratified cross-validation (fitted on the training
folds only).  :class:`~sknorm.LocalResponseNormalizer` is not a
per-feature scaler (it divides each feature by its neighbours' energy) and
is shown for completeness.

Run: ``python examples/plot_normalizers_and_models.py [figure.png]``
"""

# %%
# The candidates
# --------------
import sys
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline

from sknorm import (
    LocalResponseNormalizer,
    MiniBatchNormalizer,
    MinMax,
    ZCAWhitening,
    ZScore,
)

X, y = load_wine(return_X_y=True)
normalizers = {
    "none": None,
    "MinMax": MinMax(),
    "ZScore": ZScore(),
    'ZCAWhitening\n("zca-cor")': ZCAWhitening(method="zca-cor"),
    "MiniBatch-\nNormalizer": MiniBatchNormalizer(batch_size=32),
    "LocalResponse-\nNormalizer": LocalResponseNormalizer(),
}
models = {
    "k-nearest neighbours (k=5)": KNeighborsClassifier(n_neighbors=5),
    "SGD logistic regression": SGDClassifier(loss="log_loss", random_state=0),
}
cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)

# %%
# Cross-validated accuracy
# ------------------------
# Without scaling, SGD stops at its iteration limit on some folds; that is
# the effect being measured, so its ConvergenceWarning is silenced here.
scores = {}
for model_name, model in models.items():
    for norm_name, normalizer in normalizers.items():
        steps = [model] if normalizer is None else [normalizer, model]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            folds = cross_val_score(make_pipeline(*steps), X, y, cv=cv)
        scores[model_name, norm_name] = folds
        label = norm_name.replace("\n", " ").replace("- ", "")
        print(f"{model_name:<27} {label:<27} {folds.mean():.3f} +- {folds.std():.3f}")

# %%
# The bar chart
# -------------
fig, ax = plt.subplots(figsize=(9.0, 4.2))
positions = np.arange(len(normalizers))
width = 0.38
for k, model_name in enumerate(models):
    means = [scores[model_name, n].mean() for n in normalizers]
    stds = [scores[model_name, n].std() for n in normalizers]
    ax.bar(
        positions + (k - 0.5) * width,
        means,
        width,
        yerr=stds,
        capsize=3,
        label=model_name,
    )
ax.set_xticks(positions, list(normalizers), fontsize=8)
ax.set_ylabel("accuracy (5-fold CV, mean and std)")
ax.set_ylim(0, 1.05)
ax.axhline(
    max(np.bincount(y)) / len(y), color="grey", lw=0.8, ls=":", label="majority class"
)
ax.set_title("Wine data: the normalizer in front of each model")
ax.legend(loc="lower right", fontsize=8)
fig.tight_layout()
if len(sys.argv) > 1:
    fig.savefig(sys.argv[1])
