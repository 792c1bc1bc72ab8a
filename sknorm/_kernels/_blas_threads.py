"""One BLAS thread per call while sknorm's worker threads call BLAS.

The NumPy linear transform splits the rows over worker threads
(:mod:`._parallel`) and each thread multiplies its cache-sized blocks by
BLAS: the block it has just centred is still in its core's cache.  A
threaded BLAS called from two threads at once runs every call on all of its
threads, which then fight over the cores: measured on the 2-core
development machine (1,000,000 x 64 float64 transform, OpenBLAS 0.3.31),
6.8x the time of one ``X @ W.T`` with BLAS's own threads, 0.6x with one
BLAS thread per call.  OpenBLAS has no per-thread setting (its
``openblas_set_num_threads_local`` sets the process-wide count in the
pthreads build NumPy's wheels use), so :func:`one_per_call` sets the
process-wide count to 1 while at least one such section runs and restores
it when the last one ends (threadpoolctl, which knows OpenBLAS, MKL and
BLIS).  Other threads' BLAS calls meanwhile run on one thread: slower, never
wrong.  Where threadpoolctl finds no BLAS it can control, :func:`available`
is False and the callers keep BLAS's own threads on one thread of theirs.
"""

from __future__ import annotations

import contextlib
import threading

__all__ = ["available", "one_per_call"]

_lock = threading.Lock()
_controller = None
_users = 0
_limiter = None


def _blas():
    """threadpoolctl's controller of the loaded BLAS libraries (found once:
    the search costs milliseconds, a limit microseconds)."""
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController().select(user_api="blas")
    return _controller


def available():
    """Whether the BLAS's thread count can be set (threadpoolctl found it)."""
    return bool(_blas().lib_controllers)


@contextlib.contextmanager
def one_per_call():
    """BLAS on one thread per call inside this block (nested and concurrent
    blocks share one limit: the count before the first is restored after
    the last)."""
    global _users, _limiter
    with _lock:
        if _users == 0:
            _limiter = _blas().limit(limits=1)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                _limiter.restore_original_limits()
                _limiter = None
