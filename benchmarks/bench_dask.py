"""Dask fits on a 2-worker LocalCluster against dask-ml and the cluster's floor.

The data (``4 x`` the run's row count, 64 features: about 2 GB of float64 at
the default size) is generated on the workers and held there (``persist``,
done by the benchmark, not by sknorm), so every row times the fit's own
graph: per-chunk states and their tree merge for sknorm; ``nanmean`` /
``nanvar`` (two trees over the chunks) for dask-ml's ``StandardScaler`` and
``min`` / ``max`` for its ``MinMaxScaler``.  The floor is
``X.sum(axis=0).compute()``: one read of every chunk, a trivial merge, on
the same cluster.  Targets (issue 10): ``ZScore.fit`` and ``MinMax.fit``
<= 1.3x the floor and faster than dask-ml.

The note of the first row gives the relative error of ``var_`` on
``1e8 + N(0, 1e-3)`` in 100 chunks, sknorm and dask-ml, against an exact
two-pass reference.

dask-ml is an optional reference (``pip install dask-ml``); without it the
reference columns stay empty.  CPU only (CuPy chunks need dask-cuda).
"""

from __future__ import annotations

import contextlib
import math
import warnings

import numpy as np

import sknorm

N_FEATURES = 64
ROWS_PER_CHUNK = 62_500  # 32 MB float64 chunks at 64 features


def _dask_ml():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from dask_ml import preprocessing
    except Exception:  # not installed, or not importable with this dask
        return None
    return preprocessing


@contextlib.contextmanager
def _cluster():
    from distributed import Client, LocalCluster

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=50,
            memory_limit=None,
        )
        client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def _variance_errors(dask_ml):
    """Relative error of var_ on 1e8 + N(0, 1e-3), 100,000 x 4 in 100 chunks."""
    import dask.array as da

    X = 1e8 + np.random.default_rng(0).normal(0.0, 1e-3, size=(100_000, 4))
    exact = []
    for j in range(4):
        dev = [v - 1e8 for v in X[:, j]]  # exact (Sterbenz)
        mean = math.fsum(dev) / len(dev)
        exact.append(math.fsum((v - mean) ** 2 for v in dev) / len(dev))
    exact = np.array(exact)
    Xd = da.from_array(X, chunks=(1_000, 4))
    errors = {"sknorm": sknorm.ZScore().fit(Xd).var_}
    if dask_ml is not None:
        errors["dask-ml"] = dask_ml.StandardScaler().fit(Xd).var_
    return ", ".join(
        f"{k} {float(np.max(np.abs(v - exact) / exact)):.1e}" for k, v in errors.items()
    )


def run(ctx):
    if ctx.backend != "numpy":
        return
    import dask.array as da
    from distributed import wait

    dask_ml = _dask_ml()
    n_samples = 4 * ctx.X.shape[0]
    n_features = ctx.X.shape[1] if ctx.quick else N_FEATURES
    rows = max(1, n_samples // 16) if ctx.quick else ROWS_PER_CHUNK
    repeat = 2 if ctx.quick else 5
    with _cluster() as client:
        rng = da.random.default_rng(0)
        X = rng.normal(size=(n_samples, n_features), chunks=(rows, n_features))
        X = (X * 3.0 + 50.0).astype(ctx.dtype)
        X = client.persist(X)
        wait(X)

        def floor():
            return X.sum(axis=0).compute()

        floor_pair = ("X.sum(axis=0).compute()", floor)
        errors = _variance_errors(dask_ml)
        note = f"2 workers x 1 thread; var_ error on 1e8 + N(0, 1e-3): {errors}"

        def reference(name):
            if dask_ml is None:
                return None
            est = getattr(dask_ml, name)()
            return (f"dask-ml {name}.fit", lambda: est.fit(X))

        for Est, peer, row_note in (
            (sknorm.ZScore, "StandardScaler", note),
            (sknorm.MinMax, "MinMaxScaler", None),
        ):
            yield ctx.measure(
                f"Dask {Est.__name__}.fit",
                lambda Est=Est: Est().fit(X),
                reference=reference(peer),
                floor=floor_pair,
                target=1.3,
                data=X,
                repeat=repeat,
                note=row_note,
            )
        yield ctx.measure(
            "Dask ZCAWhitening.fit",
            lambda: sknorm.ZCAWhitening().fit(X),
            floor=("X.T @ X compute", lambda: (X.T @ X).compute()),
            data=X,
            repeat=repeat,
        )
        est = sknorm.ZScore().fit(X)
        yield ctx.measure(
            "Dask ZScore.transform (+ sum)",
            lambda: est.transform(X).sum(axis=0).compute(),
            floor=floor_pair,
            data=X,
            repeat=repeat,
            note="the lazy transform computed through a sum (nothing held)",
        )
