"""Fused one-pass loops for the NumPy kernels, compiled with numba if present.

NumPy evaluates ``x - c``, ``d * d`` and the column sums as separate passes
over each block; even from cache that is 3-4 passes, which keeps float32
statistics at 3-7x one read of X.  These loops do everything for an element
while it is in a register: one read of X, nothing written (reductions) or
one write (the affine map).  They release the GIL (``nogil``) and run on the
NumPy kernels' worker threads (:mod:`._parallel`), on C-contiguous X; the
NumPy code in :mod:`.numpy_blocked` stays the fallback and is what runs when
numba is missing or ``SKNORM_NUMBA=0``.

numba is optional (``pip install sknorm[numba]``).  The loops are compiled
on first use, once per dtype (about a second; cached on disk when the
package directory is writable).  Numerics equal the NumPy path's: the same
shift, float64 accumulation, sums of row blocks added into the totals (a
block's sum carries the rounding error of ``BLOCK_ROWS`` terms, not of n),
the same operation order in the affine map (no fused multiply-add).
"""

from __future__ import annotations

import importlib.util
import os
import warnings

__all__ = ["BLOCK_ROWS", "enabled", "kernels"]

# Rows summed into per-block accumulators before they join the totals.
BLOCK_ROWS = 2048

_compiled = None


def enabled():
    """numba is installed and not switched off with ``SKNORM_NUMBA=0``."""
    if os.environ.get("SKNORM_NUMBA", "").strip() in {"0", "false", "no", "off"}:
        return False
    return importlib.util.find_spec("numba") is not None


def kernels():
    """The compiled loops (compiled lazily on their first call)."""
    global _compiled
    if _compiled is None:
        _compiled = _build()
    return _compiled


def _build():
    import numpy as np
    from numba import njit
    from numba.core.errors import NumbaWarning

    def jit(fn):
        with warnings.catch_warnings():
            # A read-only install cannot cache: compiling each time is fine.
            warnings.simplefilter("ignore", NumbaWarning)
            return njit(nogil=True, cache=True, boundscheck=False)(fn)

    @jit
    def moment_sums(X, lo, hi, c, w, weighted, count, n_obs, s1, s2):
        """Add the weight, observation count, sum w d and sum w d^2 of rows
        [lo, hi) of X (d = x - c, NaN skipped) into the four vectors."""
        f = X.shape[1]
        b0 = np.empty(f)
        bn = np.empty(f)
        b1 = np.empty(f)
        b2 = np.empty(f)
        for start in range(lo, hi, BLOCK_ROWS):
            stop = min(start + BLOCK_ROWS, hi)
            b0[:] = 0.0
            bn[:] = 0.0
            b1[:] = 0.0
            b2[:] = 0.0
            for i in range(start, stop):
                wi = w[i] if weighted else 1.0
                for j in range(f):
                    x = np.float64(X[i, j])
                    seen = x == x
                    d = x - c[j] if seen else 0.0
                    o = 1.0 if seen else 0.0
                    wd = wi * d
                    bn[j] += o
                    b0[j] += wi * o
                    b1[j] += wd
                    b2[j] += wd * d
            for j in range(f):
                count[j] += b0[j]
                n_obs[j] += bn[j]
                s1[j] += b1[j]
                s2[j] += b2[j]

    @jit
    def plain_sums(X, lo, hi, c, s1, s2):
        """:func:`moment_sums` without weights and without NaN handling: the
        common case, a third faster (a NaN makes the sums NaN, and the
        caller sums again with ``moment_sums``)."""
        f = X.shape[1]
        b1 = np.empty(f)
        b2 = np.empty(f)
        for start in range(lo, hi, BLOCK_ROWS):
            stop = min(start + BLOCK_ROWS, hi)
            b1[:] = 0.0
            b2[:] = 0.0
            for i in range(start, stop):
                for j in range(f):
                    d = np.float64(X[i, j]) - c[j]
                    b1[j] += d
                    b2[j] += d * d
            for j in range(f):
                s1[j] += b1[j]
                s2[j] += b2[j]

    @jit
    def min_max(X, lo, hi, low, high):
        """Fold rows [lo, hi) into ``low``/``high`` (start them at +inf and
        -inf); NaN never compares, so it is skipped."""
        f = X.shape[1]
        for i in range(lo, hi):
            for j in range(f):
                x = X[i, j]
                low[j] = x if x < low[j] else low[j]
                high[j] = x if x > high[j] else high[j]

    @jit
    def affine(X, out, lo, hi, center, scale, offset, use_c, use_s, use_o):
        """``out = (X - center) * scale + offset`` on rows [lo, hi), each
        term only if used, in that order (``out`` may be ``X``)."""
        f = X.shape[1]
        for i in range(lo, hi):
            for j in range(f):
                y = X[i, j]
                if use_c:
                    y = y - center[j]
                if use_s:
                    y = y * scale[j]
                if use_o:
                    y = y + offset[j]
                out[i, j] = y

    return {
        "moment_sums": moment_sums,
        "plain_sums": plain_sums,
        "min_max": min_max,
        "affine": affine,
    }
