"""N-D input with a channel axis: layouts, checks, statistics, transforms.

With ``channel_axis=c`` an estimator takes arrays of two or more dimensions
whose axis 0 is the samples and axis ``c`` the channels; statistics are per
channel over every other axis, and the transforms broadcast them along
``c``.  Every layout is handled as the same four-axis picture, a free
reshape of a C-ordered array::

    X of shape (N, d1, ..., C, ..., dk)   ->   (N, A, C, B)
               A = product of the axes between the samples and the channels
               B = product of the axes after the channels

    (N, C, H, W)  channel_axis=1    A = 1,      B = H * W   (channels first)
    (N, H, W, C)  channel_axis=-1   A = H * W,  B = 1       (channels last)
    (N, C, L)     channel_axis=1    A = 1,      B = L       (BatchNorm1d's 3-D)

Two routes read X once, in place, with no transpose and no copy:

* **columns** -- ``(N * A / k, k * C * B)`` is a plain matrix (a free
  reshape); the 2-D kernels of every backend compute its per-column
  moments, which are merged per channel (column ``j`` is channel
  ``(j // B) % C``).  ``k`` folds ``k`` consecutive positions into one row
  when ``C * B`` is narrow (channels last, ``C = 3``): the kernels' inner
  loops want rows of tens of values.  Used for channels-last data on every
  backend, and for every layout off NumPy.
* **rows** (NumPy, long contiguous rows) -- ``(N * A * C, B)`` is also a
  free reshape, whose row ``r`` is one channel (``r % C``) of one sample,
  contiguous; :mod:`._kernels.numpy_channels` takes each row's moments in
  one pass, around a shift per channel from the 2-D path's search
  (``sknorm._stats._initial_shift``: NaN and samples of weight 0 skipped,
  the shift limit), merged per channel over the samples.

The merge of the parts of a channel (columns, or rows) is the multi-way
form of Chan, Golub & LeVeque's update, then the usual merge into the
running state: a stream of batches of any spatial sizes gives one fit's
statistics.  Every route holds the 2-D path's guarantees (weight 0 and NaN
carry nothing, no overflow of finite input, scale invariance, 16-bit and
big-endian input kept): ``tests/test_channel_routes.py`` forces each one.
Transforms run the same views the other way: per-column terms (channels
last, through the 2-D kernels) or per-row terms (channels first).

A NumPy or CuPy array that is not C-ordered but is a permutation of one
with the samples outermost (a transposed view) is read through that
permutation, still without a copy; other strided input is copied once.
Off NumPy and CuPy, ``reshape`` decides (torch copies what it cannot view).

Modules: :mod:`.layout` (the picture and its views), :mod:`.validation`
(checks of N-D input), :mod:`.statistics` (per-channel moments and
minimum/maximum), :mod:`.transforms` (the affine map and LRN along the
channel axis).  ``sknorm._base`` calls them; the estimators do not.
"""

from .layout import ChannelLayout, flat_batch, layout_of
from .statistics import batch_moments, merge_parts, update_min_max, update_moments
from .transforms import affine, local_response
from .validation import applies, channel_transforms_check_finiteness, validate_X

__all__ = [
    "ChannelLayout",
    "affine",
    "applies",
    "batch_moments",
    "channel_transforms_check_finiteness",
    "flat_batch",
    "layout_of",
    "local_response",
    "merge_parts",
    "update_min_max",
    "update_moments",
    "validate_X",
]
