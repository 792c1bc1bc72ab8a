"""N-D input with a channel axis: layouts, checks, per-channel statistics.

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
  one pass, merged per channel over the samples.

The merge of the parts of a channel (columns, or rows) is the multi-way
form of Chan, Golub & LeVeque's update, then the usual merge into the
running state: a stream of batches of any spatial sizes gives one fit's
statistics.  Transforms run the same views the other way: per-column terms
(channels last, through the 2-D kernels) or per-row terms (channels first).

A NumPy or CuPy array that is not C-ordered but is a permutation of one
with the samples outermost (a transposed view) is read through that
permutation, still without a copy; other strided input is copied once.
Off NumPy and CuPy, ``reshape`` decides (torch copies what it cannot view).
"""

from __future__ import annotations

import math
from numbers import Integral
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from ._array_api import (
    array_device,
    is_array_api_input,
    is_cupy_namespace,
    is_numpy_namespace,
    namespace_of,
    output_float_dtype,
)
from ._kernels import (
    NonFiniteError,
    finds_infinity,
    generic,
    kernels_for,
    transforms_find_nonfinite,
)
from ._stats import (
    MinMaxState,
    Moments,
    merge_min_max,
    merge_moments,
    min_max_of_batch,
    moments_of_batch,
    recentred,
)
from ._stats import update_min_max as _update_min_max_2d
from ._stats import update_moments as _update_moments_2d
from ._validation import _dtype_kind, _has_nonfinite, _skip_value_checks, where

__all__ = [
    "Layout",
    "affine",
    "applies",
    "batch_moments",
    "flat_batch",
    "layout_of",
    "local_response",
    "merge_parts",
    "transforms_check",
    "update_min_max",
    "update_moments",
    "validate_X",
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


class Layout(NamedTuple):
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
    """The :class:`Layout` of a validated shape."""
    shape = tuple(int(s) for s in shape)
    axis = int(channel_axis) % len(shape)
    return Layout(
        shape,
        axis,
        math.prod(shape[1:axis]),
        shape[axis],
        math.prod(shape[axis + 1 :]),
    )


# ----------------------------------------------------------- validation ----
def _is_dataframe(X):
    module = type(X).__module__.split(".")[0]
    return module in {"pandas", "polars", "pyarrow", "modin"} or hasattr(
        X, "__dataframe__"
    )


def applies(estimator, reset):
    """Whether a call validates X as N-D input: the estimator has a
    ``channel_axis``, or it was fitted with one (and is told that it has
    none now: :func:`validate_X` says so)."""
    if getattr(estimator, "channel_axis", None) is not None:
        return True
    return not reset and "_channel_axis_" in estimator.__dict__


def _check_mode(estimator, method):
    """Raise if ``estimator`` was fitted with another ``channel_axis`` than
    it has now (``set_params`` after fit): its statistics are per feature,
    or per channel of another layout."""
    if not estimator._is_fitted():
        return
    current = getattr(estimator, "channel_axis", None)
    # No marker: fitted per feature on 2-D input (channel_axis=None).
    fitted = estimator.__dict__.get("_channel_axis_")
    if fitted == current:
        return
    raise ValueError(
        where(estimator, method) + f"the estimator was fitted with channel_axis="
        f"{fitted} but has channel_axis={current} now; set it back, or refit."
    )


def _numpy_input(estimator, X, prefix):
    if not isinstance(X, np.ndarray):
        try:
            X = np.asarray(X)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                prefix + f"X could not be converted to an array ({exc}); pass a "
                "NumPy, CuPy, torch or other Array API array of shape "
                "(n_samples, ..., n_channels, ...)."
            ) from exc
    if X.dtype.kind == "c":
        raise ValueError(
            prefix + "Complex data not supported; pass the real part (X.real) "
            "or the magnitude (abs(X)) instead."
        )
    if X.dtype.kind not in "biuf":
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                prefix + f"X has dtype {X.dtype}, expected real numbers; convert "
                "it with X.astype(np.float64)."
            ) from exc
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    return X


def _array_api_input(X, prefix):
    xp = namespace_of(X)
    kind = _dtype_kind(xp, X.dtype)
    if kind == "complex":
        raise ValueError(
            prefix + "Complex data not supported; pass the real part or the "
            "magnitude instead."
        )
    if kind != "real":
        raise TypeError(
            prefix + f"X has dtype {X.dtype}, expected a real numeric dtype; "
            "convert it with xp.astype(X, xp.float64)."
        )
    out_dtype = output_float_dtype(xp, array_device(X), X.dtype)
    return X if X.dtype == out_dtype else xp.astype(X, out_dtype)


def _check_shape(estimator, X, channel_axis, prefix):
    shape = tuple(X.shape)
    ndim = len(shape)
    example = "1 for (N, C, H, W), -1 for (N, H, W, C)"
    if ndim < 2:
        raise ValueError(
            prefix + f"channel_axis={channel_axis} needs X of shape (n_samples, "
            f"..., n_channels, ...) with at least 2 dimensions; got a {ndim}D "
            f"array (shape={shape}). Reshape it, e.g. X.reshape(1, -1) for one "
            "sample, or pass channel_axis=None."
        )
    if not -ndim <= channel_axis < ndim:
        raise ValueError(
            prefix + f"channel_axis={channel_axis} is out of range for X of "
            f"shape {shape}: pass {-ndim} <= channel_axis < {ndim} ({example})."
        )
    if channel_axis % ndim == 0:
        raise ValueError(
            prefix + f"channel_axis={channel_axis} is axis 0, the samples; the "
            f"channels must be another axis ({example})."
        )
    name = type(estimator).__name__
    if shape[0] < 1:
        raise ValueError(
            prefix + f"Found array with 0 sample(s) (shape={shape}) while a "
            f"minimum of 1 is required by {name}."
        )
    if 0 in shape:
        raise ValueError(
            prefix + f"X of shape {shape} has an axis of length 0: no channel "
            "or position to normalize; pass a batch with at least one value "
            "per channel."
        )


def _check_finite(xp, X, estimator, prefix, allow_nan, finite_check):
    """The finiteness check, where no kernel does it in its own pass."""
    if _skip_value_checks():
        return
    numpy = is_numpy_namespace(xp)
    if finite_check == "kernel" and allow_nan and (numpy or finds_infinity(xp)):
        return  # the statistics kernels raise NonFiniteError themselves
    if finite_check == "transform" and transforms_check(xp):
        return  # the channel transforms check X as they go (see affine)
    if numpy:
        from sklearn.utils import assert_all_finite

        try:
            assert_all_finite(
                X,
                allow_nan=allow_nan,
                estimator_name=type(estimator).__name__,
                input_name="X",
            )
        except ValueError as exc:
            raise ValueError(prefix + str(exc)) from exc
        return
    matrix = xp.reshape(X, (X.shape[0], -1))
    if _has_nonfinite(xp, matrix, allow_nan=allow_nan):
        error = (
            NonFiniteError.infinity() if allow_nan else NonFiniteError.nan_or_infinity()
        )
        raise ValueError(prefix + str(error))


def _check_channels(estimator, X, channel_axis, prefix, reset, record):
    """Record (``reset``) or check the channel count and the number of
    dimensions (later batches: same ones, any spatial sizes)."""
    layout = layout_of(X.shape, channel_axis)
    name = type(estimator).__name__
    state = estimator.__dict__
    if reset:
        estimator.n_features_in_ = layout.channels
        state.pop("feature_names_in_", None)
        estimator._channel_axis_ = channel_axis
        estimator._ndim_in_ = X.ndim
        return
    ndim = state.get("_ndim_in_")
    if ndim is not None and X.ndim != ndim:
        raise ValueError(
            prefix + f"X has {X.ndim} dimensions (shape={tuple(X.shape)}), but "
            f"{name} was fitted on {ndim}D arrays with channel_axis="
            f"{channel_axis}; pass arrays with the same number of dimensions "
            "(the other sizes may differ), or refit."
        )
    expected = state.get("n_features_in_")
    if expected is not None and layout.channels != expected:
        raise ValueError(
            prefix + f"X has {layout.channels} channels along channel_axis="
            f"{channel_axis} (shape={tuple(X.shape)}), but {name} is expecting "
            f"{expected} channels as input. Pass X with the channels it was "
            "fitted on, or refit."
        )
    if record and ndim is None:  # fitted from a state dict: learn it now
        estimator._channel_axis_ = channel_axis
        estimator._ndim_in_ = X.ndim


def validate_X(
    estimator, X, *, method, reset, allow_nan=True, finite_check="validate", record
):
    """``(X, xp, device)`` for an estimator with a ``channel_axis``.

    The counterpart of :func:`sknorm._validation.validate_X` for N-D
    arrays: dense arrays only (NumPy, lists, any Array API array), float32
    and float64 kept, integers and booleans converted; ``reset`` records
    ``n_features_in_`` (the number of channels), the number of dimensions
    and the channel axis, otherwise they are checked (``record``: a
    ``partial_fit`` step of an estimator built from a state dict learns
    them).  ``finite_check`` as there.
    """
    prefix = where(estimator, method)
    if not reset:
        _check_mode(estimator, method)
    channel_axis = estimator.channel_axis
    if isinstance(channel_axis, bool) or not isinstance(channel_axis, Integral):
        raise ValueError(
            prefix + f"channel_axis must be an int (the axis of the channels) "
            f"or None; got {channel_axis!r}."
        )
    channel_axis = int(channel_axis)
    if sp.issparse(X):
        raise TypeError(
            prefix + f"channel_axis={channel_axis} needs a dense array of shape "
            "(n_samples, ..., n_channels, ...); got a SciPy sparse matrix. Pass "
            "channel_axis=None for per-feature statistics of a sparse matrix, "
            "or X.toarray()."
        )
    if _is_dataframe(X):
        raise TypeError(
            prefix + f"channel_axis={channel_axis} needs an N-D array; got a "
            f"{type(X).__name__}, whose columns are features. Pass "
            "channel_axis=None for per-column statistics, or X.to_numpy() "
            "reshaped to (n_samples, ..., n_channels, ...)."
        )
    if is_array_api_input(X):
        X = _array_api_input(X, prefix)
    else:
        X = _numpy_input(estimator, X, prefix)
    _check_shape(estimator, X, channel_axis, prefix)
    xp = namespace_of(X)
    _check_finite(xp, X, estimator, prefix, allow_nan, finite_check)
    _check_channels(estimator, X, channel_axis, prefix, reset, record)
    return X, xp, array_device(X)


def transforms_check(xp):
    """Whether :func:`affine` and :func:`local_response` look for
    non-finite values themselves (given ``check``) for ``xp``: NumPy (in the
    pass that writes the output) and CuPy (through its 2-D kernels' own
    check, or a read before)."""
    return is_numpy_namespace(xp) or is_cupy_namespace(xp)


# -------------------------------------------------------------- views ----
class _View(NamedTuple):
    """X as the kernels read it: ``array`` C-ordered (or not a NumPy/CuPy
    array, whose ``reshape`` decides), its layout, ``perm`` the axes of X
    in the view's order (None: X's own order), ``copied`` whether the view
    is new memory."""

    array: object
    layout: Layout
    perm: tuple | None
    copied: bool


def _viewed(X, layout):
    """X itself when C-ordered; else the permutation of its axes that is
    C-ordered with the samples first (a transposed view: no copy); else a
    C-ordered copy."""
    xp = namespace_of(X)
    flags = getattr(X, "flags", None)
    if flags is None or flags.c_contiguous:
        return xp, _View(X, layout, None, False)
    rest = sorted(range(1, X.ndim), key=lambda a: (X.shape[a] == 1, -X.strides[a]))
    perm = (0, *rest)
    view = xp.permute_dims(X, perm)
    if view.flags.c_contiguous:
        return xp, _View(
            view, layout_of(view.shape, perm.index(layout.axis)), perm, False
        )
    return xp, _View(xp.asarray(X, copy=True), layout, None, True)


def _repeat_each(xp, w, times):
    """Each weight ``times`` times in a row (one per position of a sample)."""
    if w is None or times == 1:
        return w
    n = w.shape[0]
    return xp.reshape(xp.broadcast_to(w[:, None], (n, times)), (n * times,))


def flat_batch(X, layout, weights):
    """``(matrix, weights)`` when the layout is a plain matrix of channels
    (:attr:`Layout.flat`): every 2-D kernel and fused step applies to it as
    it is; else None."""
    xp, view = _viewed(X, layout)
    layout = view.layout
    if not layout.flat:
        return None
    matrix = xp.reshape(view.array, (layout.n_samples * layout.before, layout.channels))
    return matrix, _repeat_each(xp, weights, layout.before)


def _members(xp, v, k, layout):
    """A per-column vector of the columns view, ``(k * C * B,)``, as
    ``(k * B, C)``: the parts of each channel along axis 0."""
    C, B = layout.channels, layout.after
    if B == 1:
        return xp.reshape(v, (k, C))
    grouped = xp.permute_dims(xp.reshape(v, (k, C, B)), (0, 2, 1))
    return xp.reshape(grouped, (k * B, C))


# --------------------------------------------------------- statistics ----
def merge_parts(xp, count, n_obs, shift, mean, var):
    """The moments of each channel from those of its parts, ``(G, C)``
    arrays along axis 0 (the multi-way form of Chan's merge).

    A part's mean is taken around its own shift; the channel's is the
    shift of its first part with data (a value of the channel's own
    magnitude, so re-expressing the parts around it is exact).  Device-only
    work, no host read.
    """
    seen = count > 0
    zero = xp.zeros_like(mean)
    rank = xp.cumulative_sum(xp.astype(seen, xp.int32), axis=0)
    channel_shift = xp.sum(xp.where(seen & (rank == 1), shift, zero), axis=0)
    total = xp.sum(count, axis=0)
    frac = count / xp.where(total > 0, total, xp.ones_like(total))
    # (NumPy: a spread beyond the float range overflows to an infinite
    # variance, as in the 2-D kernels; that is the answer, not a warning.)
    with np.errstate(over="ignore", invalid="ignore"):
        part_mean = xp.where(seen, mean + (shift - channel_shift), zero)
        location = xp.sum(frac * part_mean, axis=0)
        delta = xp.where(seen, part_mean - location, zero)
        within = xp.sum(frac * xp.where(seen, var, zero), axis=0)
        var = within + xp.sum((frac * delta) * delta, axis=0)
    return Moments(
        count=total,
        n_obs=xp.sum(n_obs, axis=0),
        shift=channel_shift,
        mean=location,
        var=var,
    )


def _rows_moments(array, layout, weights):
    from ._kernels import numpy_channels

    C = layout.channels
    rows = array.reshape(-1, layout.after)
    shift = numpy_channels.first_observed(rows, C)
    n_obs, mean, var = (
        a.reshape(-1, C) for a in numpy_channels.row_moments(rows, C, shift)
    )
    count = n_obs
    if weights is not None:
        count = (
            n_obs * np.repeat(np.asarray(weights, np.float64), layout.before)[:, None]
        )
    shifts = np.broadcast_to(shift, n_obs.shape)
    return merge_parts(namespace_of(mean), count, n_obs, shifts, mean, var)


def batch_moments(X, layout, weights, dtype):
    """Per-channel :class:`~sknorm._stats.Moments` of one batch."""
    xp, view = _viewed(X, layout)
    layout = view.layout
    if layout.flat:
        return moments_of_batch(*flat_batch(view.array, layout, weights), dtype)
    if layout.uses_rows(xp):
        return _rows_moments(view.array, layout, weights)
    k = layout.fold
    columns = xp.reshape(view.array, layout.columns_shape(k))
    w = _repeat_each(xp, weights, layout.before // k)
    per_column = moments_of_batch(columns, w, dtype)
    return merge_parts(xp, *(_members(xp, a, k, layout) for a in per_column))


def update_moments(state, X, layout, weights, dtype):
    """``state`` (per-channel moments, or None) updated with the batch X and
    recentred, as :func:`sknorm._stats.update_moments` per feature."""
    flat = flat_batch(X, layout, weights)
    if flat is not None:
        return _update_moments_2d(state, *flat, dtype)
    return recentred(merge_moments(state, batch_moments(X, layout, weights, dtype)))


def _nan_min_max(xp, low, high):
    """NaN-aware minimum and maximum along axis 0 (NaN: nothing observed)."""
    if is_numpy_namespace(xp):
        return np.fmin.reduce(low, axis=0), np.fmax.reduce(high, axis=0)
    inf = xp.asarray(float("inf"), dtype=low.dtype, device=array_device(low))
    lo = xp.min(xp.where(xp.isnan(low), inf, low), axis=0)
    hi = xp.max(xp.where(xp.isnan(high), -inf, high), axis=0)
    nothing = xp.all(xp.isnan(low), axis=0)
    nan = xp.full_like(lo, float("nan"))
    return xp.where(nothing, nan, lo), xp.where(nothing, nan, hi)


def update_min_max(state, X, layout):
    """``state`` (per-channel :class:`~sknorm._stats.MinMaxState`, or None)
    updated with the batch X."""
    xp, view = _viewed(X, layout)
    layout = view.layout
    if layout.flat:
        return _update_min_max_2d(state, flat_batch(view.array, layout, None)[0])
    if layout.uses_rows(xp):
        from ._kernels import numpy_channels

        rows = view.array.reshape(-1, layout.after)
        low, high = (
            a.reshape(-1, layout.channels) for a in numpy_channels.row_min_max(rows)
        )
    else:
        k = layout.fold
        low, high = min_max_of_batch(xp.reshape(view.array, layout.columns_shape(k)))
        low, high = _members(xp, low, k, layout), _members(xp, high, k, layout)
    return merge_min_max(state, MinMaxState(*_nan_min_max(xp, low, high)))


# ---------------------------------------------------------- transforms ----
def _as_term(xp, t, layout, dtype):
    """A per-channel term shaped to broadcast against X (0-d terms stay)."""
    if t is None:
        return None
    t = xp.astype(t, dtype) if t.dtype != dtype else t
    return t if t.ndim == 0 else xp.reshape(t, layout.term_shape)


def _per_column(xp, t, layout, k):
    """A per-channel term as one value per column of the columns view."""
    if t is None or t.ndim == 0:
        return t
    C, B = layout.channels, layout.after
    grid = xp.broadcast_to(xp.reshape(t, (1, C, 1)), (k, C, B))
    return xp.reshape(grid, (k * C * B,))


def _result(xp, X, Y, view, copy):
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


def _precheck(xp, X2, check):
    """Raise NonFiniteError if the 2-D ``X2`` fails ``check`` (a read)."""
    if check is None:
        return
    if is_numpy_namespace(xp):
        from ._kernels import numpy_channels

        numpy_channels.find_nonfinite(X2, check)
    elif _has_nonfinite(xp, X2, allow_nan=check == "inf"):
        raise (
            NonFiniteError.infinity()
            if check == "inf"
            else NonFiniteError.nan_or_infinity()
        )


def affine(X, center, scale, offset, copy, *, layout, check=None):
    """``(X - center) * scale + offset`` with per-channel terms (or 0-d
    ones) broadcast along the channel axis; X's shape, dtype, namespace.

    ``check`` ("inf", "nonfinite" or None) looks for non-finite values of X
    (the :func:`transforms_check` namespaces: NumPy in the pass that writes
    a new output, CuPy in its 2-D kernel's) and raises NonFiniteError.
    """
    xp = namespace_of(X)
    terms = (center, scale, offset)
    if not transforms_check(xp):
        # The generic kernel on X itself: any layout, any strides, in place.
        shaped = (_as_term(xp, t, layout, X.dtype) for t in terms)
        return generic.affine(X, *shaped, copy)
    xp, view = _viewed(X, layout)
    lay = view.layout
    if is_numpy_namespace(xp):
        from ._kernels import numpy_channels

        k = lay.fold
        if lay.after == 1:  # channels last: per-column terms
            matrix = view.array.reshape(lay.columns_shape(k))
            columns = [_per_column(xp, t, lay, k) for t in terms]
            Y = numpy_channels.column_affine(matrix, *columns, copy, check)
        else:  # channels first: per-row terms, rows contiguous
            rows = view.array.reshape(-1, lay.after)
            Y = numpy_channels.row_affine(rows, lay.channels, *terms, copy, check)
        return _result(xp, X, Y, view, copy)
    return _columns_affine(xp, X, view, terms, copy, check)


def _columns_affine(xp, X, view, terms, copy, check):
    """The backend's 2-D affine kernel on the columns view, one value of each
    term per column (CuPy: ``C * B`` of them, read from the GPU's cache),
    the kernel's own check where it has one (CuPy's compiled kernels)."""
    lay = view.layout
    k = lay.fold
    matrix = xp.reshape(view.array, lay.columns_shape(k))
    columns = [_per_column(xp, t, lay, k) for t in terms]
    kernel = kernels_for(xp).affine
    if transforms_find_nonfinite(xp):
        Y = kernel(matrix, *columns, copy, check=check)
    else:  # SKNORM_CUPY_FUSED=0: the cuBLAS kernels, no check of their own
        _precheck(xp, matrix, check)
        Y = kernel(matrix, *columns, copy)
    return _result(xp, X, Y, view, copy)


def local_response(X, size, alpha, beta, k, *, layout, check=None):
    """Local response normalization across the channels at every position
    (``torch.nn.functional.local_response_norm``'s numbers); a new array
    of X's shape.  ``check`` as in :func:`affine` (here a read of X before:
    the window sums are not a pass that could note it)."""
    xp, view = _viewed(X, layout)
    lay = view.layout
    if transforms_check(xp):
        _precheck(xp, xp.reshape(view.array, (lay.n_samples, -1)), check)
    if lay.after == 1:  # channels last: the channels are a row's features
        matrix = xp.reshape(view.array, (-1, lay.channels))
        Y = kernels_for(xp).local_response(matrix, size, alpha, beta, k)
    else:
        cube = xp.reshape(
            view.array, (lay.n_samples * lay.before, lay.channels, lay.after)
        )
        if is_numpy_namespace(xp):
            from ._kernels import numpy_channels

            Y = numpy_channels.local_response_rows(cube, size, alpha, beta, k)
        else:
            Y = generic.local_response_rows(cube, size, alpha, beta, k)
    return _result(xp, X, Y, view, copy=True)
