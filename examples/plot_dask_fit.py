"""
A Dask fit on a LocalCluster
============================

Fits ``ZScore`` and ``MinMax`` to a Dask dataframe on a two-worker
``LocalCluster``: each partition's statistics are computed on the worker
that holds it, merged by Dask's tree reduction, and the fitted attributes
come back as NumPy arrays after one graph execution.  The transform is lazy
and keeps the dataframe's columns and partitions.

Then the numerics: the variance of ``1e8 + N(0, 1e-3)`` (a mean 1e11 times
the spread) split into more and more chunks, against the exact value, for
sknorm and for Dask's own ``nanvar`` (what dask-ml's ``StandardScaler``
uses).

The cluster is started under ``if __name__ == "__main__":``: its worker
processes import this script again, and must not start clusters of their
own.

Run: ``python examples/plot_dask_fit.py [figure.png]``
"""

# %%
# A fit on a two-worker cluster
# -----------------------------
import sys
import warnings

import dask.array as da
import dask.dataframe as dd
import matplotlib.pyplot as plt
import numpy as np
from dask.callbacks import Callback
from distributed import Client, LocalCluster
from sklearn.datasets import load_diabetes

from sknorm import MinMax, ZScore


class CountExecutions(Callback):
    """Counts graph executions of the local schedulers."""

    def __init__(self):
        super().__init__()
        self.n = 0

    def _start(self, dsk):
        self.n += 1


def fit_on_a_cluster():
    data = load_diabetes(as_frame=True).frame  # ships with scikit-learn
    frame = dd.from_pandas(data, npartitions=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the cluster's own start-up notices
        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, dashboard_address=":0", silence_logs=50
        )
    with cluster, Client(cluster):
        scaler = ZScore().fit(frame)
        minmax = MinMax().fit(frame)
        scaled = scaler.transform(frame)  # lazy: a dask dataframe
        print(
            "fitted on",
            scaler.n_samples_seen_,
            "rows of",
            frame.npartitions,
            "partitions; mean_ is a",
            type(scaler.mean_).__name__,
        )
        print(
            "columns kept:",
            list(scaled.columns) == list(frame.columns),
            "| divisions kept:",
            scaled.divisions == frame.divisions,
        )
        result = scaled.compute()
    print("max |mean| after scaling:", float(result.mean().abs().max()))
    print(
        "MinMax data_range_ of 'bmi':",
        float(minmax.data_range_[list(frame.columns).index("bmi")]),
    )
    return scaler


# %%
# The variance of a huge mean and a tiny spread, chunk count by chunk count
# -------------------------------------------------------------------------
# ``x - 1e8`` is exact in float64 for these values, so the variance of
# ``X - 1e8`` is the exact reference.  Each fit is one graph execution
# (counted by a Dask callback).


def variance_error_by_chunks():
    rng = np.random.default_rng(0)
    X = 1e8 + rng.normal(0.0, 1e-3, size=(100_000, 2))
    exact = (X - 1e8).var(axis=0)  # x - 1e8 is exact (Sterbenz)
    counts = [1, 10, 100, 1_000]
    ours, dasks = [], []
    for n_chunks in counts:
        Xd = da.from_array(X, chunks=(len(X) // n_chunks, 2))
        with CountExecutions() as count:
            fitted = ZScore().fit(Xd)
        assert count.n == 1  # one graph execution per fit
        ours.append(float(np.max(np.abs(fitted.var_ - exact) / exact)))
        dask_var = da.nanvar(Xd, axis=0).compute()
        dasks.append(float(np.max(np.abs(dask_var - exact) / exact)))
    for n, a, b in zip(counts, ours, dasks, strict=True):
        print(f"{n:>5} chunks: var_ error  sknorm {a:.1e}  dask nanvar {b:.1e}")
    return counts, ours, dasks


def plot(counts, ours, dasks):
    fig, ax = plt.subplots(figsize=(6, 4))
    floor = 1e-17  # an exact result would not show on a log axis
    ax.loglog(counts, np.maximum(ours, floor), "o-", label="sknorm ZScore.fit")
    ax.loglog(counts, np.maximum(dasks, floor), "s--", label="dask.array.nanvar")
    ax.set_xlabel("chunks")
    ax.set_ylabel("relative error of the variance")
    ax.set_title("Variance of 1e8 + N(0, 1e-3) on Dask")
    ax.legend()
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    fit_on_a_cluster()
    fig = plot(*variance_error_by_chunks())
    if len(sys.argv) > 1:
        fig.savefig(sys.argv[1])
