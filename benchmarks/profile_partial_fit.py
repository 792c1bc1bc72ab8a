"""Where a small-batch ``partial_fit`` spends its time (host side).

Usage: ``python benchmarks/profile_partial_fit.py [--backend cupy|numpy]``.
Streams 200 batches of 4,096 x 64 through ZScore, MinMax and the
MiniBatchNormalizer training step under ``assume_finite`` (no device reads),
prints the time per call and the top functions by own time.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

import numpy as np
import sklearn

import sknorm


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=["numpy", "cupy"], default="numpy")
    p.add_argument("--top", type=int, default=12)
    args = p.parse_args(argv)
    if args.backend == "cupy":
        import cupy as xp

        def sync():
            xp.cuda.get_current_stream().synchronize()
    else:
        xp = np

        def sync():
            pass

    rng = np.random.default_rng(0)
    batches = [xp.asarray(100 + rng.normal(size=(4_096, 64))) for _ in range(200)]
    cases = {
        "ZScore.partial_fit": sknorm.ZScore().partial_fit,
        "MinMax.partial_fit": sknorm.MinMax().partial_fit,
        "MiniBatchNormalizer.normalize_batch": (
            sknorm.MiniBatchNormalizer().normalize_batch
        ),
    }
    with sklearn.config_context(assume_finite=True):
        for name, call in cases.items():
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
