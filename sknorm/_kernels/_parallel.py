"""Row blocks and worker threads for the NumPy kernels.

The NumPy kernels stream X once in row blocks that fit in a core's L2 cache
and split the rows over a few threads (NumPy releases the GIL inside its
loops, so two threads read memory twice as fast as one on a machine whose
single core cannot saturate the memory bus).  This module decides the block
size and the split; it knows nothing about statistics.

``SKNORM_NUM_THREADS`` caps the threads (``1`` turns them off);
:func:`serial` turns them off for the calling thread only.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

__all__ = [
    "Plan",
    "blocks",
    "map_parts",
    "num_threads",
    "plan_for",
    "serial",
    "split",
]

# Working set of one block (of the float64 buffer the block is converted
# into): a core's L2 holds it, so every pass after the first one over the
# block runs from cache.
BLOCK_BYTES = 1 << 20
# Blocks are reduced as (rows / fold, fold * n_features) views: a long inner
# loop is what makes NumPy's column reductions run at memory speed (a
# reduction over axis 0 of a (rows, 64) array runs 64-element inner loops).
FOLD_WIDTH = 2048
# Below this many elements handing a part to a worker thread costs more than
# it saves (measured with partial_fit batches: 10,000 x 64 runs faster on one
# thread, 30,000 x 64 on two).
PARALLEL_MIN_ELEMENTS = 1 << 20
MAX_THREADS = 8


class Plan(NamedTuple):
    """How one array is cut: ``rows`` per block, a multiple of ``fold``."""

    rows: int
    fold: int


def plan_for(n_features, itemsize=8, target=None):
    """Block rows and fold factor for rows of ``n_features`` items
    (``target`` bytes per block, default :data:`BLOCK_BYTES`)."""
    n_features = max(1, int(n_features))
    target = BLOCK_BYTES if target is None else target
    fold = max(1, FOLD_WIDTH // n_features)
    rows = max(1, target // (n_features * itemsize))
    rows = max(fold, rows - rows % fold)
    return Plan(rows, fold)


def blocks(lo, hi, rows):
    """``(start, stop)`` of consecutive blocks of ``rows`` rows in [lo, hi)."""
    for start in range(lo, hi, rows):
        yield start, min(start + rows, hi)


_serial = threading.local()


@contextlib.contextmanager
def serial():
    """Run the kernels called in this block on the calling thread only.

    For callers that already run many kernels in parallel (a Dask worker
    computing one chunk per thread): no nested pool, no oversubscription,
    and results that do not depend on how many cores the machine running
    the chunk has (the split of the rows over threads changes the order of
    the merges, hence the last bits).  Other threads are not affected.
    """
    depth = getattr(_serial, "depth", 0)
    _serial.depth = depth + 1
    try:
        yield
    finally:
        _serial.depth = depth


def num_threads():
    """Threads the kernels may use: ``SKNORM_NUM_THREADS`` or the CPUs (1
    inside :func:`serial`)."""
    if getattr(_serial, "depth", 0):
        return 1
    env = os.environ.get("SKNORM_NUM_THREADS", "").strip()
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            pass
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_THREADS))


_pool = None
_pool_size = 0
_pool_lock = threading.Lock()


def _reset_after_fork():  # pragma: no cover - exercised in forked children
    global _pool, _pool_size
    _pool, _pool_size = None, 0


if hasattr(os, "register_at_fork"):
    # A forked child inherits the pool object but not its threads.
    os.register_at_fork(after_in_child=_reset_after_fork)


def _executor(workers):
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < workers:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(workers, thread_name_prefix="sknorm")
            _pool_size = workers
        return _pool


def split(n_rows, n_elements, rows):
    """Contiguous ``(lo, hi)`` parts of [0, n_rows), cut at block edges."""
    n_blocks = -(-n_rows // rows) if n_rows else 0
    threads = num_threads() if n_elements >= PARALLEL_MIN_ELEMENTS else 1
    parts = max(1, min(threads, n_blocks))
    edges = [(n_blocks * i // parts) * rows for i in range(parts)] + [n_rows]
    return [(a, min(b, n_rows)) for a, b in itertools.pairwise(edges)]


def map_parts(fn, n_rows, n_elements, rows):
    """``[fn(lo, hi) for each part]``, the parts run on worker threads.

    The calling thread runs the first part itself; results come back in row
    order; an exception in any part is raised here.
    """
    parts = split(n_rows, n_elements, rows)
    if len(parts) == 1:
        return [fn(*parts[0])]
    pool = _executor(len(parts) - 1)
    futures = [pool.submit(fn, lo, hi) for lo, hi in parts[1:]]
    try:
        first = fn(*parts[0])
    except BaseException:
        for f in futures:  # let the workers finish before the buffers go
            f.exception()
        raise
    return [first, *(f.result() for f in futures)]
