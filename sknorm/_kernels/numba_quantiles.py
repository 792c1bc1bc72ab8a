"""Compiled loops of the quantile kernels (numba), one row at a time.

Imported only when numba is enabled (:func:`.numba_cpu.enabled`); every
function is compiled on first use (module-level loops, cached on disk).
They compute what :mod:`.quantiles` computes, with the same operations in
the same order where the result is a float (the cumulative weights are
summed left to right, as ``cumulative_sum`` does), so the two paths give
the same bits:

``radix_sort(values, weights)``
    sorts one row in place, its weights along (LSD radix sort of the
    float64 bit patterns, eight passes of eight bits, skipping the passes
    whose digit is the same for every key; stable, like the generic path's
    ``argsort(stable=True)``); about 3x NumPy's sort on this machine;
``merge_rows(a_values, a_weights, b_values, b_weights, out_values, out_weights)``
    two sorted rows merged in one pass (the first row's item first where
    values tie, as the stable sort of their concatenation);
``compact_row(values, weights, count, slots, integral, out_values, out_weights)``
    :func:`.quantiles.compact` of one row, in two linear walks; returns
    the rank error;
``quantile_map_rows(X, lo, hi, xs, fs, xs_back, fs_back, ends, threshold, out)``
    the ``Quantile`` interpolation of a range of rows (NumPy's
    ``np.interp`` operations, forward and backward averaged, the end
    masks), in X's own memory order.
"""

from __future__ import annotations

import math

import numpy as np

from .numba_cpu import jit

__all__ = [
    "compact_row",
    "merge_rows",
    "prepare_rows",
    "quantile_map_rows",
    "radix_sort",
    "unit_weights",
]

_SIGN = np.uint64(1 << 63)
# Rows of a block of the Quantile map (see quantile_map_rows).
_MAP_ROWS = 512
_MASK = np.uint64(255)


@jit
def _to_key(bits):
    # The float's bits as an unsigned key in the float's order: negative
    # numbers have every bit flipped, positive ones the sign bit set.  -0.0
    # is taken as +0.0 (equal values, one key).
    if bits == _SIGN:
        bits = np.uint64(0)
    if bits >> np.uint64(63):
        return ~bits
    return bits | _SIGN


@jit
def _from_key(key):
    if key >> np.uint64(63):
        return key & ~_SIGN
    return ~key


@jit
def radix_sort(values, weights, key_buffer, weight_buffer):
    """Sort the float64 row ``values`` in place, ``weights`` (same length, or
    empty for none) along; the buffers are scratch of the same length."""
    n = values.shape[0]
    carry = weights.shape[0] == n
    keys = values.view(np.uint64)
    for i in range(n):
        keys[i] = _to_key(keys[i])
    src_k, dst_k = keys, key_buffer
    src_w, dst_w = weights, weight_buffer
    count = np.zeros(256, np.int64)
    swapped = False
    for shift in range(0, 64, 8):
        sh = np.uint64(shift)
        count[:] = 0
        for i in range(n):
            count[(src_k[i] >> sh) & _MASK] += 1
        if count[(src_k[0] >> sh) & _MASK] == n:
            continue  # one digit for every key: the pass changes nothing
        total = 0
        for d in range(256):
            c = count[d]
            count[d] = total
            total += c
        for i in range(n):
            d = (src_k[i] >> sh) & _MASK
            j = count[d]
            dst_k[j] = src_k[i]
            if carry:
                dst_w[j] = src_w[i]
            count[d] = j + 1
        src_k, dst_k = dst_k, src_k
        src_w, dst_w = dst_w, src_w
        swapped = not swapped
    if swapped:
        for i in range(n):
            keys[i] = src_k[i]
            if carry:
                weights[i] = src_w[i]
    for i in range(n):
        keys[i] = _from_key(keys[i])


@jit
def merge_rows(a_values, a_weights, b_values, b_weights, out_values, out_weights):
    """Merge two sorted rows (``a``'s item first where values tie: the
    stable order)."""
    i = j = k = 0
    na, nb = a_values.shape[0], b_values.shape[0]
    while i < na and j < nb:
        if b_values[j] < a_values[i]:
            out_values[k] = b_values[j]
            out_weights[k] = b_weights[j]
            j += 1
        else:
            out_values[k] = a_values[i]
            out_weights[k] = a_weights[i]
            i += 1
        k += 1
    while i < na:
        out_values[k] = a_values[i]
        out_weights[k] = a_weights[i]
        i += 1
        k += 1
    while j < nb:
        out_values[k] = b_values[j]
        out_weights[k] = b_weights[j]
        j += 1
        k += 1


@jit
def prepare_rows(X, lo, hi, row_weights, empty, out_values, out_weights, counts):
    """Rows ``lo:hi`` of the batch ``X`` (n, f) into the columns ``lo:hi`` of
    the feature-major ``out_values`` / ``out_weights`` (f, n): X is read in
    its own order, one sequential stream written per feature.  NaN entries
    and rows of weight 0 become ``empty`` with weight 0 (``out_weights`` is
    written for weighted rows only); ``counts`` (f,) gets the observed
    entries of these rows."""
    n_features = X.shape[1]
    weighted = row_weights.shape[0] == X.shape[0]
    for i in range(lo, hi):
        w = row_weights[i] if weighted else 1.0
        keep = w > 0
        for j in range(n_features):
            x = X[i, j]
            observed = keep and not math.isnan(x)
            out_values[j, i] = x if observed else empty
            if weighted:  # (unweighted rows get their weights once sorted)
                out_weights[j, i] = w if observed else 0.0
            counts[j] += observed


@jit
def unit_weights(out_weights, count):
    """The weights of a sorted unweighted row: 1 for its ``count`` observed
    entries (first), 0 for the empty slots."""
    for i in range(out_weights.shape[0]):
        out_weights[i] = 1.0 if i < count else 0.0


@jit
def _boundary(total, j, slots, integral):
    b = (total * j) / slots
    return math.floor(b) if integral else b


@jit
def _weight(weights, stored, count, i):
    if stored:
        return weights[i]
    return 1.0 if i < count else 0.0


@jit
def compact_row(values, weights, count, slots, integral, out_values, out_weights):
    """:func:`sknorm._kernels.quantiles.compact` of one sorted row.

    ``weights`` empty: an unweighted row, weight 1 for its first ``count``
    items and 0 after, never stored (the same sums in the same order)."""
    m = values.shape[0]
    stored = weights.shape[0] == m
    total = 0.0
    for i in range(m):
        total += _weight(weights, stored, count, i)
    # Pick: the item where the cumulative weight first reaches each
    # interval's midpoint (searchsorted "left" on the cumulative weights).
    i = 0
    cumulative = _weight(weights, stored, count, 0)
    lower = _boundary(total, 0.0, slots, integral)
    for j in range(slots):
        upper = _boundary(total, float(j + 1), slots, integral)
        middle = (lower + upper) * 0.5
        while cumulative < middle and i < m - 1:
            i += 1
            cumulative += _weight(weights, stored, count, i)
        out_values[j] = values[i]
        out_weights[j] = upper - lower
        lower = upper
    # The error: the largest distance of a rank (the cumulative weight at
    # the end of a run of equal values) to its nearest interval end.  Ranks
    # only grow: the interval [ends[k], ends[k + 1]) holding the rank is
    # found by walking k forward.
    error = 0.0
    cumulative = 0.0
    k = 0
    lower = _boundary(total, 0.0, slots, integral)
    upper = _boundary(total, 1.0, slots, integral)
    for i in range(m):
        cumulative += _weight(weights, stored, count, i)
        if i < m - 1 and values[i] == values[i + 1]:
            continue
        while k < slots - 1 and upper <= cumulative:
            k += 1
            lower = upper
            upper = _boundary(total, float(k + 1), slots, integral)
        d = min(abs(cumulative - lower), abs(upper - cumulative))
        if d > error:
            error = d
    if not integral:  # quantiles.rounding_margin, the same expression
        error += total * ((m + slots + 8) * np.finfo(np.float64).eps)
    return error


@jit
def _interp(x, xs, fs, slopes, j):
    """``np.interp(x, xs, fs)`` at ``j``, the last index with ``xs[j] <= x``
    (-1 below all): NumPy's ``arr_interp`` branch by branch."""
    k = xs.shape[0]
    if j < 0:
        return fs[0]
    if j >= k - 1:
        return fs[k - 1]
    if xs[j] == x:
        return fs[j]
    slope = slopes[j]
    result = slope * (x - xs[j]) + fs[j]
    if math.isnan(result):
        result = slope * (x - xs[j + 1]) + fs[j + 1]
        if math.isnan(result) and fs[j] == fs[j + 1]:
            result = fs[j]
    return result


@jit
def _last_not_above(xs, x):
    """``searchsorted(xs, x, side="right") - 1``: a fixed number of halvings
    whose step is a select, not a branch (the compiler's conditional move:
    no mispredicted jump per level)."""
    n = xs.shape[0]
    base = 0
    while n > 1:
        half = n >> 1
        base = base + half if xs[base + half] <= x else base
        n -= half
    return base + (1 if xs[base] <= x else 0) - 1


@jit
def _search_group(xs, values, index, m):
    """``index[i] = searchsorted(xs, values[i], side="right") - 1`` for
    ``i < m``, eight searches at a time in lockstep (the halvings of a
    sorted array of fixed length are the same number for every value)."""
    n = xs.shape[0]
    bases = np.zeros(8, dtype=np.int64)
    for g in range(0, m, 8):
        width = min(8, m - g)
        for t in range(width):
            bases[t] = 0
        length = n
        while length > 1:
            half = length >> 1
            for t in range(width):
                b = bases[t]
                bases[t] = b + half if xs[b + half] <= values[g + t] else b
            length -= half
        for t in range(width):
            b = bases[t]
            index[g + t] = b + (1 if xs[b] <= values[g + t] else 0) - 1


@jit
def _back_index(xs, x, j):
    """The index ``searchsorted(-xs[::-1], -x, side="right") - 1`` from ``j``
    (the forward one, ``searchsorted(xs, x, side="right") - 1``): the points
    ``>= x`` counted from ``j``, with no second search unless ``x`` equals a
    point (then the run of equal points is walked back)."""
    k = xs.shape[0]
    left = j + 1  # first index with xs[i] >= x, when xs[j] < x
    if j >= 0 and xs[j] == x:
        left = j
        while left > 0 and xs[left - 1] == x:
            left -= 1
    return k - left - 1


@jit
def quantile_map_rows(X, lo, hi, xs, fs, xs_back, fs_back, ends, threshold, out):
    """The ``Quantile`` interpolation of rows ``lo:hi`` of ``X`` (n, f) into
    ``out`` (n, f), read and written in X's own order.

    Column ``j`` interpolates through ``xs[j]`` onto ``fs[j]`` (``(f, k)``
    arrays).  With ``xs_back`` (``(f, k)``, non-empty): scikit-learn's
    forward map, ``0.5 * (interp(x, xs, fs) - interp(-x, xs_back,
    fs_back))`` with ``xs_back = -xs[:, ::-1]``, ``fs_back = -fs[:, ::-1]``
    (repeated points map to the middle of their values; the backward index
    comes from the forward search); otherwise one ``interp`` (the inverse
    map).  The ends: entries at ``ends[j, 0]`` / ``ends[j, 1]`` (or within
    ``threshold`` beyond them, for ``threshold > 0``) get ``fs[j, 0]`` /
    ``fs[j, -1]``, the low end last.  NaN stays NaN.
    """
    n_features, k = xs.shape
    both = xs_back.shape[0] == n_features
    slopes = np.empty((n_features, max(k - 1, 1)))
    slopes_back = np.empty((n_features, max(k - 1, 1)))
    for c in range(n_features):
        for j in range(k - 1):
            slopes[c, j] = (fs[c, j + 1] - fs[c, j]) / (xs[c, j + 1] - xs[c, j])
            if both:
                rise = fs_back[c, j + 1] - fs_back[c, j]
                slopes_back[c, j] = rise / (xs_back[c, j + 1] - xs_back[c, j])
    # Blocks of rows, one column at a time within a block: a column's points
    # stay in the L1 cache for the whole block (all the columns' points
    # together would not), and the block itself in L2.  The searches of a
    # block run in lockstep groups (see _search_group): a binary search is
    # one dependent load per halving, so interleaving several keeps the
    # loads in flight together.
    index = np.empty(_MAP_ROWS, dtype=np.int64)
    values = np.empty(_MAP_ROWS)
    for start in range(lo, hi, _MAP_ROWS):
        stop = min(hi, start + _MAP_ROWS)
        m = stop - start
        for c in range(n_features):
            xs_c, fs_c, slopes_c = xs[c], fs[c], slopes[c]
            if both:
                xsb, fsb, slb = xs_back[c], fs_back[c], slopes_back[c]
            low_x, high_x = ends[c, 0], ends[c, 1]
            low, high = fs_c[0], fs_c[k - 1]
            for i in range(m):
                values[i] = X[start + i, c]
            _search_group(xs_c, values, index, m)
            for i in range(m):
                v = values[i]
                if math.isnan(v):
                    out[start + i, c] = v
                    continue
                j = index[i]
                result = _interp(v, xs_c, fs_c, slopes_c, j)
                if both:
                    back = _back_index(xs_c, v, j)
                    result = 0.5 * (result - _interp(-v, xsb, fsb, slb, back))
                if threshold > 0:
                    at_low = v - threshold < low_x
                    at_high = v + threshold > high_x
                else:
                    at_low, at_high = v == low_x, v == high_x
                if at_high:
                    result = high
                if at_low:
                    result = low
                out[start + i, c] = result
