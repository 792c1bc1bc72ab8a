"""Whether the compiled loops run, and how every sknorm loop is compiled.

NumPy evaluates ``x - c``, ``d * d`` and the column sums as separate passes
over each block; even from cache that is 3-4 passes, which keeps float32
statistics at 3-7x one read of X.  The compiled loops do everything for an
element while it is in a register: one read of X, nothing written
(reductions) or one write (the affine map).  They release the GIL
(``nogil``) and run on the NumPy kernels' worker threads (:mod:`._parallel`),
on C-contiguous X; the NumPy code in :mod:`.numpy_blocked` stays the
fallback and is what runs when numba is missing or ``SKNORM_NUMBA=0``.

numba is optional (``pip install sknorm[numba]``).  This module does not
import it: the loops are module-level functions of :mod:`.numba_columns`
(the columns of C-ordered rows) and :mod:`.numba_rows` (the rows of a
channels-first view), imported on first use (:func:`kernels`), and
:func:`jit` is the one place their compilation options are set.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import warnings

__all__ = [
    "BLOCK_ROWS",
    "CENTER",
    "CHECK",
    "JIT_OPTIONS",
    "OFFSET",
    "SCALE",
    "enabled",
    "jit",
    "kernels",
]

# Rows summed into per-block accumulators before they join the totals.
BLOCK_ROWS = 2048
# The bits of the affine loops' ``flags`` (numba_columns.column_affine,
# numba_rows.row_affine): which terms of ``(x - center) * scale + offset``
# apply, and whether to note +-inf and NaN in the same pass.
CENTER, SCALE, OFFSET, CHECK = 1, 2, 4, 8

# numba's options for every sknorm loop: without the GIL (the worker threads
# run loops in parallel), cached on disk, no bounds checks, and NumPy's
# floating-point semantics (a division by 0 gives inf or NaN, as in the
# NumPy code the loops replace, instead of raising ZeroDivisionError).
JIT_OPTIONS = {
    "nogil": True,
    "cache": True,
    "boundscheck": False,
    "error_model": "numpy",
}

_compiled = None


def enabled():
    """numba is installed and not switched off with ``SKNORM_NUMBA=0``."""
    # Asked on every batch (the switch may change between calls): one
    # lookup when it is not set.
    switch = os.environ.get("SKNORM_NUMBA")
    if switch is not None and switch.strip() in {"0", "false", "no", "off"}:
        return False
    return _installed()


@functools.cache
def _installed():
    # Asked on every partial_fit: the module search costs a few µs.
    return importlib.util.find_spec("numba") is not None


def kernels():
    """The column loops of :mod:`.numba_columns` by name (the module is
    imported, and its loops compiled or loaded from the cache, on the first
    call)."""
    global _compiled
    if _compiled is None:
        from . import numba_columns

        _compiled = numba_columns.by_name()
    return _compiled


def jit(fn=None, *, signatures=None):
    """``fn`` compiled with :data:`JIT_OPTIONS` (a decorator, bare or with
    ``signatures``).

    ``signatures`` lists the variants a loop is called with (numba
    signatures): they are compiled when the decorating module is imported
    (loaded from numba's cache after the first time), and no other is: a
    call with other argument types raises ``TypeError`` instead of
    compiling a new variant.  Without them, each new combination of
    argument types compiles (and caches) one more.
    """
    if fn is None:
        return functools.partial(jit, signatures=signatures)
    from numba import njit
    from numba.core.errors import NumbaWarning

    with warnings.catch_warnings():
        # A read-only install cannot cache: compiling each time is fine.
        warnings.simplefilter("ignore", NumbaWarning)
        if signatures is None:
            return njit(**JIT_OPTIONS)(fn)
        return njit(list(signatures), **JIT_OPTIONS)(fn)
