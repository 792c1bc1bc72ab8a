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

Batches too small for the worker threads (a ``partial_fit`` stream of
10,000-row batches) are still split over the cores, inside one compiled
call: the ``*_parts`` loops run the same loops on contiguous parts of the
rows with numba's ``prange``.  Handing a part to a sleeping Python worker
costs tens of µs on a virtual machine, a large share of a 0.3 ms batch;
numba's threading layer (TBB or OpenMP when present) keeps its threads
ready.  :func:`parallel_slot` makes those launches safe where the threading
layer is not: one launch at a time (numba's built-in ``workqueue`` layer
aborts the process on concurrent launches) and none in a forked child of a
process that launched one (GNU OpenMP aborts there).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import threading
import types
import warnings

__all__ = ["BLOCK_ROWS", "enabled", "kernels", "parallel_slot"]

# Rows summed into per-block accumulators before they join the totals.
BLOCK_ROWS = 2048

_compiled = None
# One parallel launch at a time; none after a fork once one has run.
_launch_lock = threading.Lock()
_launched = False
_forked_after_launch = False


def _after_fork_in_child():  # pragma: no cover - runs in forked children
    global _forked_after_launch, _launch_lock
    _forked_after_launch = _forked_after_launch or _launched
    _launch_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


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


@contextlib.contextmanager
def parallel_slot(parts):
    """Threads this caller may use for one ``*_parts`` launch now.

    Yields ``min(parts, numba's threads)``, or 1 (run the serial loop) when
    another thread is inside a launch, in a forked child of a process that
    launched one, or when only one thread is wanted.
    """
    global _launched
    if parts <= 1 or _forked_after_launch:
        yield 1
        return
    if not _launch_lock.acquire(blocking=False):
        yield 1
        return
    try:
        import numba

        _launched = True
        yield max(1, min(parts, numba.get_num_threads()))
    finally:
        _launch_lock.release()


def _renamed(fn, suffix):
    """``fn`` under another name, to compile it a second time with other
    flags: numba's disk cache tells functions apart by name and bytecode,
    not by compile flags (a serial and a parallel build would collide)."""
    copy = types.FunctionType(
        fn.__code__,
        fn.__globals__,
        fn.__name__ + suffix,
        fn.__defaults__,
        fn.__closure__,
    )
    copy.__qualname__ = fn.__qualname__ + suffix
    return copy


def _build():
    import numpy as np
    from numba import njit, prange
    from numba.core.errors import NumbaWarning

    def jit(fn, parallel=False):
        with warnings.catch_warnings():
            # A read-only install cannot cache: compiling each time is fine.
            warnings.simplefilter("ignore", NumbaWarning)
            return njit(nogil=True, cache=True, boundscheck=False, parallel=parallel)(
                fn
            )

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

    # The loops above on rows [edges[p], edges[p + 1]) for each part p, the
    # parts on numba's threads; part p's results go to row p of the outputs.
    def moment_sums_parts(X, edges, c, w, weighted, count, n_obs, s1, s2):
        for p in prange(edges.size - 1):
            moment_sums(
                X, edges[p], edges[p + 1], c, w, weighted,
                count[p], n_obs[p], s1[p], s2[p],
            )  # fmt: skip

    def plain_sums_parts(X, edges, c, s1, s2):
        for p in prange(edges.size - 1):
            plain_sums(X, edges[p], edges[p + 1], c, s1[p], s2[p])

    def min_max_parts(X, edges, low, high):
        for p in prange(edges.size - 1):
            min_max(X, edges[p], edges[p + 1], low[p], high[p])

    def moments_update(
        X, w, weighted, parts, head_rows, cancellation,
        p_count, p_n_obs, p_shift, p_mean, p_var, has_prev, out,
    ):  # fmt: skip
        """The whole of ``_stats.update_moments`` for one batch, as
        :mod:`.numpy_blocked` computes it: the batch's shift, the head mean
        as the working shift, the sums in ``parts`` row parts, the batch's
        moments, the merge into the previous state and the recentring.
        Writes (count, n_obs, shift, mean, var) into ``out`` and returns 0,
        or returns 1 without a result when the sums are not finite (+-inf,
        or values near the float maximum), for the NumPy path to handle."""
        n, f = X.shape
        # The batch's shift: the state's, else the first observed value.
        s = np.zeros(f)
        for j in range(f):
            if has_prev and p_count[j] > 0:
                s[j] = p_shift[j]
                continue
            for i in range(n):
                x = np.float64(X[i, j])
                if x == x:
                    s[j] = x
                    break
        # Working shift: the weighted mean of the head rows (as _head_mean).
        hw, hn, h1, h2 = np.zeros(f), np.zeros(f), np.zeros(f), np.zeros(f)
        moment_sums(X, 0, min(n, head_rows), s, w, weighted, hw, hn, h1, h2)
        c = s.copy()
        for j in range(f):
            if hw[j] > 0:
                m = s[j] + h1[j] / hw[j]
                if np.isfinite(m):
                    c[j] = m
        count = np.zeros((parts, f))
        n_obs = np.zeros((parts, f))
        s1 = np.zeros((parts, f))
        s2 = np.zeros((parts, f))
        b_mean = np.zeros(f)
        b_var = np.zeros(f)
        nan_aware = weighted  # unweighted: NaN-free sums first (faster)
        done = False
        # The attempts of numpy_blocked._segment, in the same order.
        for attempt in range(3):
            count[:] = 0.0
            n_obs[:] = 0.0
            s1[:] = 0.0
            s2[:] = 0.0
            for p in prange(parts):
                lo = (n * p) // parts
                hi = (n * (p + 1)) // parts
                if nan_aware:
                    moment_sums(
                        X, lo, hi, c, w, weighted, count[p], n_obs[p], s1[p], s2[p]
                    )
                else:
                    plain_sums(X, lo, hi, c, s1[p], s2[p])
            if not (np.isfinite(s1.sum()) and np.isfinite(s2.sum())):
                if nan_aware:
                    return 1
                nan_aware = True  # a NaN made the plain sums NaN
                continue
            if nan_aware:
                total_w = count.sum(axis=0)
                total_n = n_obs.sum(axis=0)
            else:
                total_w = np.full(f, float(n))
                total_n = total_w
            t1 = s1.sum(axis=0)
            t2 = s2.sum(axis=0)
            far = np.zeros(f, np.bool_)
            for j in range(f):
                b_mean[j] = 0.0
                b_var[j] = 0.0
                if total_w[j] > 0:
                    b_mean[j] = t1[j] / total_w[j]
                    b_var[j] = t2[j] / total_w[j] - b_mean[j] * b_mean[j]
                    far[j] = not (b_mean[j] * b_mean[j] <= cancellation * b_var[j])
            if attempt < 2 and far.any():
                # Sum again around the batch's own mean: the head rows were
                # far from it (a level that moved; a one-row batch's head
                # mean, rounded).
                for j in range(f):
                    if far[j]:
                        c[j] += b_mean[j]
                continue
            done = True
            break
        if not done:
            return 1
        for j in range(f):
            b_count = total_w[j]
            if b_count > 0:
                b_var[j] = max(b_var[j], 0.0)
                b_mean[j] = b_mean[j] + (c[j] - s[j])
            # merge_moments(previous, batch), then recentred
            a_count = p_count[j] if has_prev else 0.0
            seen_a = a_count > 0
            shift = p_shift[j] if seen_a else s[j]
            a_mean = p_mean[j] if seen_a else 0.0
            if b_count > 0:
                batch_mean = b_mean[j] + (s[j] - shift)
            else:
                batch_mean = a_mean
            total = a_count + b_count
            safe = total if total > 0 else 1.0
            fa = a_count / safe
            fb = b_count / safe
            delta = batch_mean - a_mean
            mean = a_mean + fb * delta
            a_var = p_var[j] if has_prev else 0.0
            var = fa * a_var + fb * b_var[j] + fa * fb * delta * delta
            if total > 0:
                moved = shift + mean
                mean = mean - (moved - shift)
                shift = moved
            out[0, j] = total
            out[1, j] = (p_n_obs[j] if has_prev else 0.0) + total_n[j]
            out[2, j] = shift
            out[3, j] = mean
            out[4, j] = var
        return 0

    def min_max_update(X, parts, p_low, p_high, has_prev, low, high):
        """``_stats.update_min_max`` for one batch: its NaN-aware minimum and
        maximum (in ``parts`` row parts) merged into the previous ones (NaN:
        nothing observed).  Returns 1 if X holds +-inf, else 0."""
        n, f = X.shape
        lows = np.full((parts, f), np.inf, X.dtype)
        highs = np.full((parts, f), -np.inf, X.dtype)
        for p in prange(parts):
            min_max(X, (n * p) // parts, (n * (p + 1)) // parts, lows[p], highs[p])
        for j in range(f):
            lo = lows[0, j]
            hi = highs[0, j]
            for p in range(1, parts):
                lo = min(lo, lows[p, j])
                hi = max(hi, highs[p, j])
            if lo == np.inf and hi == -np.inf:  # nothing observed
                lo = hi = np.nan
            elif np.isinf(lo) or np.isinf(hi):
                return 1
            if has_prev:
                if not np.isnan(p_low[j]):
                    lo = p_low[j] if np.isnan(lo) else min(lo, p_low[j])
                if not np.isnan(p_high[j]):
                    hi = p_high[j] if np.isnan(hi) else max(hi, p_high[j])
            low[j] = lo
            high[j] = hi
        return 0

    return {
        "moment_sums": moment_sums,
        "plain_sums": plain_sums,
        "min_max": min_max,
        "affine": affine,
        "moment_sums_parts": jit(moment_sums_parts, parallel=True),
        "plain_sums_parts": jit(plain_sums_parts, parallel=True),
        "min_max_parts": jit(min_max_parts, parallel=True),
        "moments_update": jit(_renamed(moments_update, "_serial")),
        "moments_update_parts": jit(moments_update, parallel=True),
        "min_max_update": jit(_renamed(min_max_update, "_serial")),
        "min_max_update_parts": jit(min_max_update, parallel=True),
    }
