"""Where a small-batch ``partial_fit`` spends its time (host side).

Usage: ``python benchmarks/profile_partial_fit.py [--backend cupy|numpy]
[--rows 4096] [--dtype float64] [--only ZScore MinMax ...] [--versus-fit]``.
Streams 200 batches of ``rows`` x 64 through ZScore, MinMax, the
MiniBatchNormalizer training step and ZCAWhitening under ``assume_finite``
(no device reads), prints the time per call and the top functions by own
time.

``--versus-fit`` (NumPy) prints instead, per estimator, the CPU time
(``time.process_time``) of a stream of ``rows``-row ``partial_fit`` calls
over 1,000,000 x 64 rows against the same estimator's ``fit`` of all of
them on one thread (sknorm's kernels and BLAS): the ratio the benchmarks'
stream rows give (target 1.2x), in CPU time, which a shared machine
disturbs less than the wall clock.  Best of ``--repeat`` interleaved runs.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

import numpy as np
import sklearn

import sknorm

ESTIMATORS = ("ZScore", "MinMax", "MiniBatchNormalizer", "ZCAWhitening")


def _call(name):
    """The profiled call of a fresh estimator (the training-mode step for
    MiniBatchNormalizer)."""
    est = getattr(sknorm, name)()
    return est.normalize_batch if name == "MiniBatchNormalizer" else est.partial_fit


def versus_fit(names, rows, dtype, repeat):
    from threadpoolctl import ThreadpoolController

    from sknorm._kernels._parallel import serial

    controller = ThreadpoolController()
    rng = np.random.default_rng(0)
    X = (100 + rng.normal(size=(1_000_000, 64)) * rng.uniform(0.5, 5, 64)).astype(dtype)
    batches = [X[i : i + rows] for i in range(0, X.shape[0], rows)]
    print(
        f"CPU time, {len(batches)} batches of {rows:,} x 64 {dtype} against one "
        f"fit of {X.shape[0]:,} rows, both on one thread; best of {repeat}"
    )
    for name in names:
        Est = getattr(sknorm, name)

        def fit(Est=Est):
            Est().fit(X)

        def stream(Est=Est):
            est = Est()
            for b in batches:
                est.partial_fit(b)

        best = {}
        with serial(), controller.limit(limits=1):
            fit(), stream()  # warm-up: compilation, allocator
            for _ in range(repeat):
                for label, fn in (("fit", fit), ("stream", stream)):
                    t0 = time.process_time()
                    fn()
                    elapsed = time.process_time() - t0
                    best[label] = min(best.get(label, elapsed), elapsed)
        per_call = best["stream"] / len(batches) * 1e6
        print(
            f"{name:22s} fit {best['fit'] * 1e3:7.1f} ms  stream "
            f"{best['stream'] * 1e3:7.1f} ms ({per_call:.0f} us per call)  "
            f"ratio {best['stream'] / best['fit']:.2f}x"
        )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=["numpy", "cupy"], default="numpy")
    p.add_argument("--rows", type=int, default=None, help="rows per batch")
    p.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    p.add_argument("--only", nargs="*", choices=ESTIMATORS, default=None)
    p.add_argument("--top", type=int, default=12)
    p.add_argument("--versus-fit", action="store_true")
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args(argv)
    names = args.only or ESTIMATORS
    if args.versus_fit:
        versus_fit(names, args.rows or 10_000, args.dtype, args.repeat)
        return
    if args.backend == "cupy":
        import cupy as xp

        def sync():
            xp.cuda.get_current_stream().synchronize()
    else:
        xp = np

        def sync():
            pass

    rng = np.random.default_rng(0)
    shape = (args.rows or 4_096, 64)
    batches = [
        xp.asarray((100 + rng.normal(size=shape)).astype(args.dtype))
        for _ in range(200)
    ]
    with sklearn.config_context(assume_finite=True):
        for name in names:
            call = _call(name)
            for b in batches[:5]:
                call(b)  # warm-up: compilation, allocator
            sync()
            t0 = time.perf_counter()
            for b in batches:
                call(b)
            sync()
            per_call = (time.perf_counter() - t0) / len(batches)
            print(f"{name}: {per_call * 1e6:.0f} us per call ({args.backend})")
            profile = cProfile.Profile()
            profile.enable()
            for b in batches:
                call(b)
            sync()
            profile.disable()
            pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
