"""
Quantiles of a stream, within a certified rank error
====================================================

No state of bounded size gives the exact quantiles of a stream.
:class:`sknorm.Quantile` and :class:`sknorm.Robust` are exact for one
``fit`` of in-memory data, and ``partial_fit`` keeps a mergeable quantile
summary per feature whose quantiles are *certified*: the fitted attribute
``rank_error_`` bounds how far, in rank among all the rows seen, every fitted
quantile is from its target.

This example streams heavy-tailed data through ``Quantile.partial_fit`` and
measures, after each batch, the certified bound, the rank error actually
reached, and the size of the estimator, beside scikit-learn's
:class:`~sklearn.preprocessing.QuantileTransformer` with its default
10,000-row subsample.  dask-ml's ``QuantileTransformer`` (``da.percentile``
per column, no error bound) is not installed here, so it is left out.  A
second part puts :class:`sknorm.MaxAbs`, :class:`sknorm.ZScore`,
:class:`sknorm.Robust` and :class:`sknorm.Quantile` in front of a
k-nearest-neighbours classifier on data with a few large outliers.

Run: ``python examples/plot_quantile_streaming.py [figure.png]``
"""

# %%
# Heavy-tailed data, streamed
# ---------------------------
# 300,000 rows of four heavy-tailed features (Cauchy, log-normal, Student's
# t with 1.5 degrees of freedom, Pareto), fed in batches of 2,000 rows.  The
# rank of a value ``q`` in the data is the interval ``[#(x < q), #(x <= q)]
# / n``; the rank error of a quantile of level ``r`` is the distance from
# ``r`` to that interval, measured here against every row seen so far.
import pickle
import sys

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_classification
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import QuantileTransformer

from sknorm import MaxAbs, Quantile, Robust, ZScore

rng = np.random.default_rng(0)
n_rows, batch = 300_000, 2_000
X = np.column_stack(
    [
        rng.standard_cauchy(n_rows),
        rng.lognormal(0.0, 2.0, n_rows),
        rng.standard_t(1.5, n_rows),
        rng.pareto(1.0, n_rows),
    ]
)


def rank_error(quantiles, references, seen):
    """The largest distance of a level to its quantile's rank interval."""
    worst = 0.0
    for j in range(seen.shape[1]):
        column = np.sort(seen[:, j])
        below = np.searchsorted(column, quantiles[:, j], side="left") / len(column)
        upto = np.searchsorted(column, quantiles[:, j], side="right") / len(column)
        distance = np.maximum(below - references, references - upto)
        worst = max(worst, float(distance.max()))
    return worst


n_batches = n_rows // batch
checkpoints = set(np.geomspace(1, n_batches, 14).round().astype(int).tolist())
stream = Quantile()
rows = []
for i in range(n_batches):
    stream.partial_fit(X[i * batch : (i + 1) * batch])
    if i + 1 not in checkpoints:
        continue
    seen = X[: (i + 1) * batch]
    size = len(pickle.dumps(stream))  # before the quantiles are read (cached)
    sampled = QuantileTransformer(random_state=0).fit(seen)
    rows.append(
        {
            "rows": len(seen),
            "certified": stream.rank_error_,
            "sknorm": rank_error(stream.quantiles_, stream.references_, seen),
            "sklearn": rank_error(sampled.quantiles_, sampled.references_, seen),
            "bytes": size,
            "data": seen.nbytes,
        }
    )

print(f"{'rows':>8} {'rank_error_':>11} {'sknorm':>9} {'sklearn':>9} {'pickled':>9}")
for r in rows:
    print(
        f"{r['rows']:>8,} {r['certified']:>11.1e} {r['sknorm']:>9.1e} "
        f"{r['sklearn']:>9.1e} {r['bytes'] / 1e3:>7.0f}kB"
    )
final = rows[-1]
assert final["sknorm"] <= final["certified"] + 1 / final["rows"]

# %%
# The certified bound holds, the subsample's error does not shrink
# ----------------------------------------------------------------
# The guarantee is ``rank_error_`` plus the one row (``1 / n``) that
# interpolating between two order statistics allows: the first batch is all
# the data seen, so its quantiles are exact (``rank_error_`` is 0) and off by
# at most that row.  From the second batch on the summary compacts, and
# ``rank_error_`` counts exactly the error each compaction introduced: it
# stays below the parameter ``rank_error=1e-3``, and the measured error stays
# below the bound.  scikit-learn's quantiles are exact up to 10,000 rows; beyond,
# they are those of a random 10,000-row subsample, about 1e-2 off in rank
# however many rows there are.  On the right: the pickled estimator against
# the data it summarises; the summary grows as the square of the logarithm
# of the rows (its size moves up and down as blocks merge), the data
# linearly.
counts = np.array([r["rows"] for r in rows])
fig, (ax_err, ax_size) = plt.subplots(1, 2, figsize=(10.5, 4.0))
ax_err.loglog(
    counts,
    [r["certified"] + 1 / r["rows"] for r in rows],
    "o-",
    label="sknorm Quantile.partial_fit: rank_error_ + 1/n (certified)",
)
ax_err.loglog(
    counts, [r["sknorm"] for r in rows], "s--", label="sknorm: measured rank error"
)
ax_err.loglog(
    counts,
    [r["sklearn"] for r in rows],
    "^-",
    label="QuantileTransformer() (10,000-row subsample): measured",
)
ax_err.axhline(1e-3, color="grey", lw=0.8, ls=":")
ax_err.text(counts[0], 1.15e-3, "rank_error=1e-3", color="grey", fontsize=8)
ax_err.set_xlabel("rows streamed")
ax_err.set_ylabel("rank error (largest over 1,000 quantiles x 4 features)")
ax_err.set_ylim(3e-5, 0.1)
ax_err.legend(fontsize=7, loc="upper left")

ax_size.loglog(counts, [r["bytes"] for r in rows], "o-", label="pickled Quantile")
ax_size.loglog(counts, [r["data"] for r in rows], "k:", label="the data seen")
ax_size.set_xlabel("rows streamed")
ax_size.set_ylabel("bytes (4 features)")
ax_size.legend(fontsize=8)
fig.suptitle("Quantiles of 4 heavy-tailed features, 2,000-row batches")
fig.tight_layout()
if len(sys.argv) > 1:
    fig.savefig(sys.argv[1].replace(".png", "-streaming.png"))

# %%
# Outliers in front of a model
# ----------------------------
# A classification problem with six features in different units, three of
# which get 2 % of their entries multiplied by 1,000.  k-nearest neighbours
# adds squared differences, so the scaling decides which features count.
# ``MaxAbs`` divides by the largest value, an outlier: the bulk of those
# features is squeezed towards 0.  ``ZScore``'s standard deviation is
# inflated by the outliers in the same way.  ``Robust``'s median and
# interquartile range ignore them and give the bulk unit scale;
# ``Quantile`` maps every feature onto the same normal distribution, the
# outliers to its ends.
X_model, y = make_classification(
    n_samples=1_500, n_features=6, n_informative=4, n_redundant=0, random_state=0
)
X_model *= rng.choice([1e-2, 1.0, 1e2], size=6)
outliers = rng.random((len(X_model), 3)) < 0.02
X_model[:, :3][outliers] *= 1e3

scalers = {
    "no scaling": None,
    "MaxAbs": MaxAbs(),
    "ZScore": ZScore(),
    "Robust": Robust(),
    "Quantile": Quantile(output_distribution="normal"),
}
scores = {}
for name, scaler in scalers.items():
    model = KNeighborsClassifier()
    pipeline = model if scaler is None else make_pipeline(scaler, model)
    scores[name] = cross_val_score(pipeline, X_model, y, cv=5)
    print(f"{name:>10}: accuracy {scores[name].mean():.3f} +- {scores[name].std():.3f}")

fig, ax = plt.subplots(figsize=(6.4, 3.6))
names = list(scores)
ax.bar(
    names,
    [scores[n].mean() for n in names],
    yerr=[scores[n].std() for n in names],
    color=["grey", "C0", "C0", "C1", "C2"],
)
ax.set_ylim(0.5, 1.0)
ax.set_ylabel("5-fold accuracy, k-NN")
ax.set_title("k-NN on data with 2 % outliers in three features")
fig.tight_layout()
if len(sys.argv) > 1:
    fig.savefig(sys.argv[1])
