"""Transforms of N-D input along the channel axis.

The per-channel affine map of ``ZScore``, ``MinMax`` and
``MiniBatchNormalizer`` and local response normalization across channels,
on the views of :mod:`.layout`: NumPy's per-row or per-column kernels
(:mod:`sknorm._kernels.numpy_channels`), CuPy's 2-D kernels on the columns
view, the generic kernels broadcast along the channel axis elsewhere.
"""

from __future__ import annotations

from .._array_api import compute_float_dtype, is_numpy_namespace, namespace_of
from .._kernels import (
    NonFiniteError,
    generic,
    kernels_for,
    transforms_check_finiteness,
)
from .._validation import _has_nonfinite
from .layout import per_column, result, viewed
from .validation import channel_transforms_check_finiteness

__all__ = ["affine", "local_response"]


def _as_term(xp, t, layout, dtype):
    """A per-channel term shaped to broadcast against X (0-d terms stay)."""
    if t is None:
        return None
    t = xp.astype(t, dtype) if t.dtype != dtype else t
    return t if t.ndim == 0 else xp.reshape(t, layout.term_shape)


def _precheck(xp, X2, check):
    """Raise NonFiniteError if the 2-D ``X2`` fails ``check`` (a read)."""
    if check is None:
        return
    if is_numpy_namespace(xp):
        from .._kernels import numpy_channels

        numpy_channels.check_finiteness(X2, check)
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
    (the :func:`channel_transforms_check_finiteness` namespaces: NumPy in the pass that
    writes
    a new output, CuPy in its 2-D kernel's) and raises NonFiniteError.
    """
    xp = namespace_of(X)
    terms = (center, scale, offset)
    if not channel_transforms_check_finiteness(xp):
        # The generic kernel on X itself: any layout, any strides, in place;
        # the terms in the dtype it computes in (float32 for 16-bit X:
        # rounded to X's dtype only once, at the end).
        work = compute_float_dtype(xp, X.dtype)
        shaped = (_as_term(xp, t, layout, work) for t in terms)
        return generic.affine(X, *shaped, copy)
    xp, view = viewed(X, layout)
    lay = view.layout
    if is_numpy_namespace(xp):
        from .._kernels import numpy_channels

        k = lay.fold
        if lay.after == 1:  # channels last: per-column terms
            matrix = view.array.reshape(lay.columns_shape(k))
            columns = [per_column(xp, t, lay, k) for t in terms]
            Y = numpy_channels.column_affine(matrix, *columns, copy, check)
        else:  # channels first: per-row terms, rows contiguous
            rows = view.array.reshape(-1, lay.after)
            Y = numpy_channels.row_affine(rows, lay.channels, *terms, copy, check)
        return result(xp, X, Y, view, copy)
    return _columns_affine(xp, X, view, terms, copy, check)


def _columns_affine(xp, X, view, terms, copy, check):
    """The backend's 2-D affine kernel on the columns view, one value of each
    term per column (CuPy: ``C * B`` of them, read from the GPU's cache),
    the kernel's own check where it has one (CuPy's compiled kernels)."""
    lay = view.layout
    k = lay.fold
    matrix = xp.reshape(view.array, lay.columns_shape(k))
    columns = [per_column(xp, t, lay, k) for t in terms]
    kernel = kernels_for(xp).affine
    if transforms_check_finiteness(xp):
        Y = kernel(matrix, *columns, copy, check=check)
    else:  # SKNORM_CUPY_FUSED=0: the cuBLAS kernels, no check of their own
        _precheck(xp, matrix, check)
        Y = kernel(matrix, *columns, copy)
    return result(xp, X, Y, view, copy)


def local_response(X, size, alpha, beta, k, *, layout, check=None):
    """Local response normalization across the channels at every position
    (``torch.nn.functional.local_response_norm``'s numbers); a new array
    of X's shape.  ``check`` as in :func:`affine` (here a read of X before:
    the window sums are not a pass that could note it)."""
    xp, view = viewed(X, layout)
    lay = view.layout
    if channel_transforms_check_finiteness(xp):
        _precheck(xp, xp.reshape(view.array, (lay.n_samples, -1)), check)
    if lay.after == 1:  # channels last: the channels are a row's features
        matrix = xp.reshape(view.array, (-1, lay.channels))
        Y = kernels_for(xp).local_response(matrix, size, alpha, beta, k)
    else:
        cube = xp.reshape(
            view.array, (lay.n_samples * lay.before, lay.channels, lay.after)
        )
        if is_numpy_namespace(xp):
            from .._kernels import numpy_channels

            Y = numpy_channels.local_response_rows(cube, size, alpha, beta, k)
        else:
            Y = generic.local_response_rows(cube, size, alpha, beta, k)
    return result(xp, X, Y, view, copy=True)
