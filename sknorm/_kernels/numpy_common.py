"""What the NumPy kernel modules share: constants of the shifted one-pass
moments, per-thread scratch buffers, and the test for the compiled loops.

:mod:`.numpy_blocked` (the NumPy kernels), :mod:`.numpy_steps` (whole
small-batch ``partial_fit`` steps, offered by :mod:`.numpy_blocked`) and
:mod:`.numpy_channels` import from here; this module imports none of them,
so the dependencies run one way.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from . import generic, numba_cpu

__all__ = [
    "CANCELLATION",
    "HEAD_ROWS",
    "NO_WEIGHTS",
    "SHIFT_LIMIT",
    "use_compiled",
    "workspace",
]

# The one-pass variance of a segment is kept when the segment's mean lies
# within this many variances (squared distance) of its shift; otherwise the
# segment is summed again around its mean.  The error of the one-pass form
# grows like eps * (1 + (mean - shift)^2 / var).
CANCELLATION = 1.0
# Rows whose mean is the first shift of each thread's part.
HEAD_ROWS = 32
# The float64 shift limit (computed once: np.finfo costs µs).
SHIFT_LIMIT = generic.shift_limit(np, np.float64)
# The weights argument of a compiled loop called without weights (never read).
NO_WEIGHTS = np.ones(1)

_local = threading.local()


def workspace(name, shape, dtype):
    """A per-thread scratch array, kept between calls: fresh block-sized
    buffers would be page-faulted in again on every call (a large share of a
    small ``partial_fit`` batch).  A few MiB per thread at most."""
    cache = _local.__dict__
    size = math.prod(shape)
    buf = cache.get(name)
    if buf is None or buf.dtype != dtype or buf.size < size:
        buf = cache[name] = np.empty(size, dtype)
    return buf[:size].reshape(shape)


_COMPILED_DTYPES = (np.float32, np.float64)


def use_compiled(*arrays):
    """Use the compiled one-pass loops (:mod:`.numba_cpu`) for these arrays:
    numba present and enabled, float32/float64 arrays in C order (the
    loops' signatures: they compile no other variant)."""
    if not numba_cpu.enabled():
        return False
    for a in arrays:  # a loop, not all(generator): asked on every batch
        if not (a.flags.c_contiguous and a.dtype in _COMPILED_DTYPES):
            return False
    return True
