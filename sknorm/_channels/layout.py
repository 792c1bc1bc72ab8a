"""The four-axis picture ``(N, A, C, B)`` of an N-D array, and its views.

See :mod:`sknorm._channels`.  Everything here is shape arithmetic and free
reshapes (or, for strided NumPy/CuPy input, a permutation of the axes):
nothing reads X's values.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .._array_api import is_numpy_namespace, namespace_of

__all__ = [
    "COLUMNS_MAX_WIDTH",
    "FOLD_WIDTH",
    "ROWS_MIN_LENGTH",
    "ChannelLayout",
    "View",
    "flat_batch",
    "layout_of",
    "parts",
    "per_column",
    "repeat_each",
    "result",
    "viewed",
]

# Columns of the folded channels-last matrix: enough for the kernels' inner
# loops (measured on (256, 224, 224, 3) float32: 3 columns 4.5x one read of
# X, 48 columns 1.2x, 192 columns 1.4x).
FOLD_WIDTH = 64
# NumPy takes the rows route when a row is at least this long and a sample
# is wider than the column kernels like (their per-column accumulators
# would leave the cache).
ROWS_MIN_LENGTH = 64
COLUMNS_MAX_WIDTH = 2048


class ChannelLayout(NamedTuple):
    """``X.shape`` seen as ``(N, A, C, B)`` (see the module docstring)."""

    shape: tuple
    axis: int  # the channel axis, 1 <= axis < ndim
    before: int  # A
    channels: int  # C
    after: int  # B

    @property
    def n_samples(self):
        return self.shape[0]

    @property
    def term_shape(self):
        """Shape of a per-channel vector broadcast against X."""
        return (self.channels,) + (1,) * (len(self.shape) - 1 - self.axis)

    @property
    def fold(self):
        """Positions folded into one row of the columns view: the largest
        divisor of ``A`` that keeps rows within :data:`FOLD_WIDTH`."""
        width = self.channels * self.after
        k = min(self.before, FOLD_WIDTH // max(1, width))
        while k > 1 and self.before % k:
            k -= 1
        return max(1, k)

    @property
    def flat(self):
        """Whether the columns view is X's own matrix of channels, with no
        merge to do (channels last and wide, or 2-D X)."""
        return self.after == 1 and self.fold == 1

    def columns_shape(self, k):
        return (self.n_samples * self.before // k, k * self.channels * self.after)

    def uses_rows(self, xp):
        """The rows route (NumPy only: its kernels are per-row loops)."""
        return (
            is_numpy_namespace(xp)
            and self.after >= ROWS_MIN_LENGTH
            and self.channels * self.after > COLUMNS_MAX_WIDTH
        )


def layout_of(shape, channel_axis):
    """The :class:`ChannelLayout` of a validated shape."""
    shape = tuple(int(s) for s in shape)
    axis = int(channel_axis) % len(shape)
    return ChannelLayout(
        shape,
        axis,
        math.prod(shape[1:axis]),
        shape[axis],
        math.prod(shape[axis + 1 :]),
    )


class View(NamedTuple):
    """X as the kernels read it: ``array`` C-ordered (or of a library whose
    strides are not known here, whose ``reshape`` decides), its layout,
    ``perm`` the axes of X in the view's order (None: X's own order),
    ``copied`` whether the view is new memory."""

    array: object
    layout: ChannelLayout
    perm: tuple | None
    copied: bool


def _memory_order(X):
    """``(strides, c_contiguous)`` of a NumPy / CuPy array or a torch tensor
    (``channels_last`` tensors are the common strided case), else None."""
    flags = getattr(X, "flags", None)
    if flags is not None and hasattr(X, "strides"):
        return X.strides, bool(flags.c_contiguous)
    stride, is_contiguous = (
        getattr(X, "stride", None),
        getattr(X, "is_contiguous", None),
    )
    if callable(stride) and callable(is_contiguous):  # torch
        return tuple(stride()), bool(is_contiguous())
    return None


def viewed(X, layout):
    """X itself when C-ordered; else the permutation of its axes that is
    C-ordered with the samples first (a transposed view, e.g. channels-last
    memory seen as ``(N, C, H, W)``: no copy); else (NumPy, CuPy) a
    C-ordered copy, or (torch) X, whose ``reshape`` copies."""
    xp, view = _without_copy(X, layout)
    if view is None:
        view = View(xp.asarray(X, copy=True), layout, None, True)
    return xp, view


def _without_copy(X, layout):
    """:func:`viewed` where it needs no copy; ``(xp, None)`` where it would
    copy (the copy keeps ``layout``)."""
    xp = namespace_of(X)
    order = _memory_order(X)
    if order is None or order[1]:
        return xp, View(X, layout, None, False)
    strides = order[0]
    rest = sorted(range(1, X.ndim), key=lambda a: (X.shape[a] == 1, -strides[a]))
    perm = (0, *rest)
    view = xp.permute_dims(X, perm)
    if _memory_order(view)[1]:
        axis = perm.index(layout.axis)
        return xp, View(view, layout_of(view.shape, axis), perm, False)
    if not hasattr(X, "flags"):  # torch
        return xp, View(X, layout, None, False)
    return xp, None


def repeat_each(xp, w, times):
    """Each weight ``times`` times in a row (one per position of a sample)."""
    if w is None or times == 1:
        return w
    n = w.shape[0]
    return xp.reshape(xp.broadcast_to(w[:, None], (n, times)), (n * times,))


def flat_batch(X, layout, weights):
    """``(matrix, weights)`` when the layout is a plain matrix of channels
    (:attr:`ChannelLayout.flat`): every 2-D kernel and fused step applies to it as
    it is; else None (deciding that copies nothing: the caller's per-channel
    path may still have to copy a strided X, once)."""
    xp, view = _without_copy(X, layout)
    if not (layout if view is None else view.layout).flat:
        return None
    if view is None:
        xp, view = viewed(X, layout)
    layout = view.layout
    matrix = xp.reshape(view.array, (layout.n_samples * layout.before, layout.channels))
    return matrix, repeat_each(xp, weights, layout.before)


def parts(xp, v, k, layout):
    """A per-column vector of the columns view, ``(k * C * B,)``, as
    ``(k * B, C)``: the parts of each channel along axis 0."""
    C, B = layout.channels, layout.after
    if B == 1:
        return xp.reshape(v, (k, C))
    grouped = xp.permute_dims(xp.reshape(v, (k, C, B)), (0, 2, 1))
    return xp.reshape(grouped, (k * B, C))


def per_column(xp, t, layout, k):
    """A per-channel term as one value per column of the columns view."""
    if t is None or t.ndim == 0:
        return t
    C, B = layout.channels, layout.after
    grid = xp.broadcast_to(xp.reshape(t, (1, C, 1)), (k, C, B))
    return xp.reshape(grid, (k * C * B,))


def result(xp, X, Y, view, copy):
    """The output of a kernel on ``view`` in X's shape and axis order; with
    ``copy=False`` X itself, which the kernel wrote through the view (or,
    when the view is a copy, into which the result is written back)."""
    Y = xp.reshape(Y, view.array.shape)
    if view.perm is not None:
        Y = xp.permute_dims(Y, tuple(int(i) for i in np.argsort(view.perm)))
    if copy:
        return Y
    if view.copied:
        X[...] = Y
    return X
