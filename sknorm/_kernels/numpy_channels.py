"""NumPy kernels for channels-first arrays, on the rows of a free view.

A C-ordered ``(N, ..., C, H, W)`` array is, without a copy, the matrix
``rows = (N * ... * C, H * W)``: row ``r`` is channel ``r % C`` of one
sample, contiguous in memory.  These kernels work on such rows (the layout
logic, and the merge of the rows' statistics per channel, are in
:mod:`sknorm._channels`):

``row_moments(rows, period, shift)``
    per row: observation count, mean of ``x - shift[r % period]`` and
    population variance (float64), read once (:mod:`.numba_rows`; without
    numba, the reference kernel :func:`.generic.moments` on blocks of rows);
    ``shift`` is the caller's per-channel value close to the data, within
    :func:`.generic.shift_limit` (:mod:`sknorm._channels` takes it with the
    2-D path's search, which skips NaN and rows of weight 0); float16 rows
    are converted into float32 block by block (exact) for the loop;
``row_min_max(rows)``
    per row: NaN-aware minimum and maximum (NumPy's ``fmin``/``fmax``
    reductions along the contiguous axis; float16 on float32 copies);
``row_affine(rows, period, center, scale, offset, copy, check)`` and
``column_affine(X, center, scale, offset, copy, check)``
    the affine map with per-row (channels-first) or per-column
    (channels-last) terms (float16: computed in float32, rounded once);
    ``check`` ("inf" or "nonfinite") looks for non-finite values of X in
    the same pass when writing new memory, in a read before when writing
    in place (a failed transform leaves X as it was).  Per-column terms
    are the 2-D kernel's: ``column_affine`` and ``check_finiteness`` are
    :func:`.numpy_blocked.affine` and :func:`.numpy_blocked.check_finiteness`;
``local_response_rows(X3, size, alpha, beta, k)``
    local response normalization of ``(M, C, B)`` across axis 1, block by
    block, in :func:`.generic.local_response`'s order of operations
    (float16: in float32, rounded once).

Every function splits its rows over the worker threads (:mod:`._parallel`)
and raises :class:`~sknorm._kernels.NonFiniteError` on +-inf met in a
statistic's own pass.
"""

from __future__ import annotations

import functools

import numpy as np

from . import NonFiniteError, generic, numba_cpu
from ._parallel import BLOCK_BYTES, blocks, map_parts
from .numpy_blocked import (
    CHECK_MODES,
    LRN_BLOCK_BYTES,
    check_finiteness,
    raise_for_flags,
)
from .numpy_blocked import affine as column_affine
from .numpy_common import CANCELLATION, use_compiled, workspace

__all__ = [
    "check_finiteness",
    "column_affine",
    "local_response_rows",
    "row_affine",
    "row_min_max",
    "row_moments",
]

# Values of a row summed into per-lane accumulators before they join the
# row's totals (as numba_cpu.BLOCK_ROWS for the column kernels).
ROW_BLOCK = 256


def _rows_per_block(length, itemsize):
    """Rows of ``length`` items in a cache-sized block (at least one)."""
    return max(1, BLOCK_BYTES // max(1, length * itemsize))


def _lanes(length):
    """Independent accumulators per row: wide for long rows (SIMD), narrow
    enough that a short row still has a vectorised part."""
    for lanes in (64, 32, 16):
        if length >= 4 * lanes:
            return lanes
    return 8


def _loops():
    from . import numba_rows

    return numba_rows.kernels()


# ----------------------------------------------------------- statistics ----
def _generic_rows(rows, lo, hi, period, shift, out):
    """The reference kernel on rows [lo, hi) (transposed: one row is one
    column of the view): NaN-aware, normalised sums that cannot overflow;
    +-inf is an error."""
    block = rows[lo:hi]
    shifts = shift[np.arange(lo, hi) % period]
    with np.errstate(all="ignore"):
        _, n_obs, mean, var = generic.moments(block.T, shifts, None, np.float64)
    if not (np.isfinite(mean).all() and np.isfinite(var).all()):
        if np.isinf(block).any():
            raise NonFiniteError.for_dtype(rows.dtype)
    out[0, lo:hi], out[1, lo:hi], out[2, lo:hi] = n_obs, mean, var


def _half_row_moments(rows, period, shift, out, status, lo, hi):
    """The compiled loop on float16 rows [lo, hi): each block converted into
    a float32 buffer first (exact; the loops take float32 and float64, and
    the reference kernel would be ~50x slower), its shifts in the block's
    phase, its results copied into ``out`` and ``status``."""
    loop, length = _loops()["row_moments"], rows.shape[1]
    lanes = _lanes(length)
    for start, stop in blocks(lo, hi, _rows_per_block(length, 4)):
        m = stop - start
        buf = workspace("float32_moment_rows", (m, length), np.float32)
        np.copyto(buf, rows[start:stop])
        phase = shift[(np.arange(period) + start) % period]
        block_out = workspace("float32_moment_out", (3, m), np.float64)
        block_status = np.zeros(m, np.int8)
        loop(
            buf,
            0,
            m,
            phase,
            period,
            CANCELLATION,
            lanes,
            ROW_BLOCK,
            block_out,
            block_status,
        )
        out[:, start:stop] = block_out
        status[start:stop] = block_status


def row_moments(rows, period, shift):
    """``(n_obs, mean, var)`` of each row, the mean of ``x - shift[r %
    period]``, float64 (see the module docstring)."""
    n_rows, length = rows.shape
    shift = np.ascontiguousarray(shift, np.float64)
    if not np.isfinite(shift).all():
        raise NonFiniteError.for_dtype(rows.dtype)
    out = np.empty((3, n_rows))
    per_block = _rows_per_block(length, 8)
    half = rows.dtype == np.float16 and numba_cpu.enabled()
    if use_compiled(rows) or half:
        status = np.zeros(n_rows, np.int8)
        if half:
            part = functools.partial(
                _half_row_moments, rows, period, shift, out, status
            )
        else:
            loop, lanes = _loops()["row_moments"], _lanes(length)

            def part(lo, hi):
                loop(
                    rows,
                    lo,
                    hi,
                    shift,
                    period,
                    CANCELLATION,
                    lanes,
                    ROW_BLOCK,
                    out,
                    status,
                )

        map_parts(part, n_rows, rows.size, per_block)
        # Rows whose sums were not finite: +-inf (an error) or values near
        # the float maximum (the reference kernel's normalised sums).
        for r in np.flatnonzero(status):
            _generic_rows(rows, r, r + 1, period, shift, out)
    else:
        # The reference kernel holds a few float64 temporaries of its block.
        small = max(1, per_block // 8)

        def part(lo, hi):
            for start, stop in blocks(lo, hi, small):
                _generic_rows(rows, start, stop, period, shift, out)

        map_parts(part, n_rows, rows.size, per_block)
    return out[0], out[1], out[2]


def row_min_max(rows):
    """NaN-aware ``(min, max)`` of each row, in X's dtype (NaN where a row
    is NaN throughout); +-inf is an error."""
    n_rows, length = rows.shape
    low = np.empty(n_rows, rows.dtype)
    high = np.empty(n_rows, rows.dtype)
    per_block = _rows_per_block(length, rows.dtype.itemsize)
    half = rows.dtype == np.float16

    def part(lo, hi):
        for start, stop in blocks(lo, hi, per_block):
            block = rows[start:stop]
            if half:
                # NumPy's float16 reductions are emulated in software, ten
                # times slower than the conversion: reduce a float32 copy
                # of the block (exact, as every float16 value is a float32
                # value, and so are the extremes).
                single = workspace("float32_min_max_rows", block.shape, np.float32)
                np.copyto(single, block)
                low[start:stop] = np.fmin.reduce(single, axis=1)
                high[start:stop] = np.fmax.reduce(single, axis=1)
                continue
            # fmin/fmax skip NaN unless every value is NaN.
            np.fmin.reduce(block, axis=1, out=low[start:stop])
            np.fmax.reduce(block, axis=1, out=high[start:stop])

    map_parts(part, n_rows, rows.size, per_block)
    if np.isinf(low).any() or np.isinf(high).any():
        raise NonFiniteError.for_dtype(rows.dtype)
    return low, high


# ----------------------------------------------------------- transforms ----
def _vectors(terms, size, dtype):
    """The three terms as contiguous vectors of ``size`` in X's dtype
    (zeros for an unused one) and the bits of the used ones."""
    vectors, flags = [], 0
    bits = (numba_cpu.CENTER, numba_cpu.SCALE, numba_cpu.OFFSET)
    for bit, term in zip(bits, terms, strict=True):
        if term is None:
            vectors.append(np.zeros(size, dtype))
            continue
        flags |= bit
        vector = np.asarray(term, dtype=dtype)
        vectors.append(np.ascontiguousarray(np.broadcast_to(vector, (size,))))
    return vectors, flags


_UFUNCS = (np.subtract, np.multiply, np.add)


def _blocked_affine(X2, out, term_of_block, per_block):
    """The NumPy fallback: each block's three ufuncs run while it is in
    cache; ``term_of_block(start, stop)`` gives its broadcastable terms.
    float16: each block converted into a float32 buffer, computed there
    and rounded once into ``out`` (the 2-D kernels' half precision)."""
    half = X2.dtype == np.float16

    def part(lo, hi):
        for start, stop in blocks(lo, hi, per_block):
            src, dst = X2[start:stop], out[start:stop]
            target = dst
            if half:
                shape = (stop - start, X2.shape[1])
                target = workspace("float32_rows", shape, np.float32)
                np.copyto(target, src)
                src = target
            for ufunc, term in zip(_UFUNCS, term_of_block(start, stop), strict=True):
                if term is not None:
                    ufunc(src, term, out=target)
                    src = target
            if src is not dst:
                np.copyto(dst, src, casting="same_kind")

    map_parts(part, X2.shape[0], X2.size, per_block)


def _term_dtype(X2):
    """The dtype the terms and the arithmetic of an affine map of X2 take:
    float32 for float16 (computed in float32, rounded once), else X's."""
    return np.dtype(np.float32) if X2.dtype == np.float16 else X2.dtype


def row_affine(rows, period, center, scale, offset, copy, check=None):
    """``(x - center) * scale + offset`` with the terms of row ``r`` at
    index ``r % period`` (scalars broadcast); X's dtype (float16: computed
    in float32, rounded once)."""
    dtype = _term_dtype(rows)
    terms = [
        None if t is None else np.asarray(t, dtype=dtype)
        for t in (center, scale, offset)
    ]
    mode = CHECK_MODES[check]
    out = np.empty_like(rows) if copy else rows
    per_block = _rows_per_block(rows.shape[1], rows.dtype.itemsize)
    fused = use_compiled(rows, out)
    if mode and (not copy or not fused):
        # In place, X must be checked before it is overwritten; the NumPy
        # fallback has no pass of its own that could note it.
        check_finiteness(rows, check)
        mode = 0
    if fused:
        vectors, flags = _vectors(terms, period, rows.dtype)
        flags |= numba_cpu.CHECK if mode else 0
        loop, inf = _loops()["row_affine"], rows.dtype.type(np.inf)
        parts = map_parts(
            lambda lo, hi: loop(rows, out, lo, hi, period, *vectors, flags, inf),
            rows.shape[0],
            rows.size,
            per_block,
        )
        bits = 0
        for b in parts:
            bits |= int(b)
        raise_for_flags(bits, mode)
        return out

    def blocked_terms(start, stop):
        channel = np.arange(start, stop) % period
        return [
            None if t is None else np.broadcast_to(t, (period,))[channel][:, None]
            for t in terms
        ]

    _blocked_affine(rows, out, blocked_terms, per_block)
    return out


def local_response_rows(X3, size, alpha, beta, k):
    """Local response normalization of ``(M, C, B)`` across axis 1: for
    each sample, positions are taken in cache-sized chunks of columns; the
    window sums, ``/ size``, ``* alpha``, ``+ k`` and ``** beta`` run in
    :func:`.generic.local_response`'s order (torch's), into per-thread
    scratch buffers.  float16: each chunk converted into a float32 buffer,
    computed in float32 and rounded once into the output."""
    m, f, b = X3.shape
    out = np.empty_like(X3)
    half = X3.dtype == np.float16
    work = np.dtype(np.float32) if half else X3.dtype
    before = min(size // 2, f - 1)
    after = min((size - 1) // 2, f - 1)
    height = f + before + after
    chunk = max(1, LRN_BLOCK_BYTES // (height * work.itemsize))
    chunk = min(chunk, b)

    def part(lo, hi):
        padded = workspace("lrn_rows_padded", (height, chunk), work)
        div = workspace("lrn_rows_div", (f, chunk), work)
        single = workspace("lrn_rows_float32", (f, chunk), work) if half else None
        padded[:before] = 0.0
        padded[before + f :] = 0.0
        for i in range(lo, hi):
            for start in range(0, b, chunk):
                stop = min(start + chunk, b)
                w = stop - start
                src = X3[i, :, start:stop]
                if half:
                    np.copyto(single[:, :w], src)
                    src = single[:, :w]
                sq, d = padded[before : before + f, :w], div[:, :w]
                np.multiply(src, src, out=sq)
                np.fmax(sq, 0.0, out=sq)  # NaN adds nothing to its window
                if before or after:
                    np.add(padded[0:f, :w], padded[1 : f + 1, :w], out=d)
                    for shift in range(2, before + after + 1):
                        d += padded[shift : shift + f, :w]
                else:
                    d[...] = sq
                d /= size
                d *= alpha
                d += k
                d **= beta
                np.divide(src, d, out=out[i, :, start:stop])

    map_parts(part, m, X3.size, 1)
    return out
