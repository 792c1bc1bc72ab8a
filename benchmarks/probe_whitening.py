"""Where a CuPy ``ZCAWhitening.fit`` spends its time (GPU only).

Usage: ``python benchmarks/probe_whitening.py [--n-samples N] [--dtype D]``.
Times, each synchronised and the median of five: the whole fit with its
eigendecomposition, the co-moment kernel alone, its two halves (the
shift-and-convert kernel over every block, and cuBLAS ``D^T D`` per
block), ``X.T @ X`` on the whole array and ``eigh`` of the result.
"""

from __future__ import annotations

import argparse
import statistics
import time


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-samples", type=int, default=10_000_000)
    p.add_argument("--n-features", type=int, default=64)
    p.add_argument("--dtype", default="float64")
    args = p.parse_args(argv)
    import cupy as cp

    import sknorm
    from sknorm._kernels import cupy_fused as k

    X = cp.random.default_rng(0).standard_normal(
        (args.n_samples, args.n_features), dtype=cp.float64
    )
    X = (X * 3 + 100).astype(args.dtype)
    shift = X[0].astype(cp.float64)
    n, f = X.shape
    rows = max(1, min(n, k.COMOMENT_BLOCK_ELEMENTS // f))
    buffer = cp.empty((rows, f), dtype=cp.float64)

    def timed(fn, repeat=5):
        fn()
        cp.cuda.Device().synchronize()
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            cp.cuda.Device().synchronize()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    def convert_only():
        for start in range(0, n, rows):
            stop = min(start + rows, n)
            k.shift_rows(X[start:stop], shift, None, buffer[: stop - start])

    def gemm_only():
        gram = cp.zeros((f, f))
        for start in range(0, n, rows):
            D = buffer[: min(start + rows, n) - start]
            gram += D.T @ D

    gram = X.T @ X
    cases = {
        "ZCAWhitening().fit(X).whitening_": lambda: (
            sknorm.ZCAWhitening().fit(X).whitening_
        ),
        "cupy_fused.comoments": lambda: k.comoments(X, shift, None, cp.float64),
        "  shift-and-convert kernel, all blocks": convert_only,
        "  D.T @ D per block, all blocks": gemm_only,
        "X.T @ X (whole X, X's dtype)": lambda: X.T @ X,
        "eigh(gram)": lambda: cp.linalg.eigh(gram.astype(cp.float64)),
    }
    print(f"X {n:,} x {f} {args.dtype}, blocks of {rows:,} rows")
    for name, fn in cases.items():
        print(f"{name:<42} {timed(fn) * 1e3:8.2f} ms")
    saved = k.COMOMENT_BLOCK_ELEMENTS
    for log2 in (22, 23, 25, 26):
        k.COMOMENT_BLOCK_ELEMENTS = 1 << log2
        t = timed(lambda: k.comoments(X, shift, None, cp.float64))
        print(f"cupy_fused.comoments, blocks of 2**{log2} elements {t * 1e3:8.2f} ms")
    k.COMOMENT_BLOCK_ELEMENTS = saved


if __name__ == "__main__":
    main()
