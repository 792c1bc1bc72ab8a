"""Per-backend hot loops behind one small interface.

Every backend module exposes the same functions (see :mod:`.generic`, the
reference implementation that is correct on every Array API namespace):

``moments(X, shift, weights, dtype)``
    per-feature NaN-aware weighted count, observation count, mean and
    population variance of ``X - shift``;
``min_max(X)``
    per-feature NaN-aware minimum and maximum;
``comoments(X, shift, weights, dtype)``
    total weight, mean of ``X - shift`` and population covariance matrix;
``affine(X, center, scale, offset, copy)``
    ``(X - center) * scale + offset`` per feature, any term may be None;
``linear(X, center, matrix, copy)``
    ``(X - center) @ matrix.T``.

Fast paths, selected by namespace, give the generic path's numbers within
float rounding (``tests/test_kernels.py``):

* :mod:`.numpy_blocked` -- NumPy: cache-sized row blocks read once, on a few
  threads (and, from :mod:`.numpy_steps`, whole ``partial_fit`` steps for
  small batches in one compiled call);
* :mod:`.cupy_fused` -- CuPy: compiled CUDA kernels that read X once
  (moments, min/max, the fused running-state updates, the transforms);
* :mod:`.matmul` -- torch on a CUDA device (and CuPy with
  ``SKNORM_CUPY_FUSED=0``): column sums as matrix-vector products (cuBLAS),
  no host synchronisation.

A module may also offer ``update_moments(state, X, weights, dtype)`` and
``update_min_max(state, X)``: the whole of :func:`sknorm._stats.update_moments`
/ ``update_min_max`` in one place (on a GPU, two launches instead of dozens of
small ones; with numba, one compiled call per small NumPy batch), and
``batchnorm_step(state, X, weights, *, momentum, first_batch, gamma, eps)``:
a whole ``MiniBatchNormalizer`` training step.  They may return
``NotImplemented`` for an input they leave to the generic composition.
``STATISTICS_CHECK_FINITENESS = True`` says its moments and min/max raise
:class:`NonFiniteError` themselves, so validation can skip its own pass.

The quantile summaries have kernels of their own (sorting, compaction,
interpolation), chosen by :func:`quantile_kernels_for`: :mod:`.quantiles`
(Array API) and :mod:`.numpy_quantiles` (compiled loops for NumPy).
"""

from __future__ import annotations

import os

from .._array_api import is_cupy_namespace, is_numpy_namespace
from . import generic

__all__ = [
    "NonFiniteError",
    "folds_centring",
    "kernels_for",
    "quantile_kernels_for",
    "statistics_check_finiteness",
    "transforms_check_finiteness",
]


class NonFiniteError(ValueError):
    """X holds +-inf, found by a fast kernel during its own pass.

    Estimators that leave the finiteness check to the kernel (validation's
    ``finiteness_check="kernel"``: one pass over X instead of two) turn it into
    their usual ``"Estimator.method(): Input X contains infinity ..."``.
    """

    @classmethod
    def infinity(cls):
        """X holds +-inf where NaN is allowed (and ignored)."""
        return cls(
            "Input X contains infinity; replace it (NaN is accepted and "
            "ignored) or drop those rows."
        )

    @classmethod
    def nan_or_infinity(cls):
        """X holds NaN or +-inf where neither is allowed."""
        return cls(
            "Input X contains NaN or infinity; this estimator does not accept "
            "missing values. Impute them first (e.g. "
            "sklearn.impute.SimpleImputer) or drop those rows."
        )

    @classmethod
    def for_dtype(cls, dtype):
        return cls(f"Input X contains infinity or a value too large for {dtype!r}.")


class _ByDevice:
    """torch: :mod:`.matmul` for CUDA arrays, :mod:`.generic` otherwise.

    The device is an attribute of the array, known on the host: choosing
    costs no synchronisation.
    """

    STATISTICS_CHECK_FINITENESS = False
    TRANSFORMS_CHECK_FINITENESS = False

    def __getattr__(self, name):
        from . import matmul

        fast, slow = getattr(matmul, name), getattr(generic, name)

        def kernel(X, *args, **kwargs):
            on_gpu = getattr(getattr(X, "device", None), "type", None) == "cuda"
            return (fast if on_gpu else slow)(X, *args, **kwargs)

        kernel.__name__ = name
        return kernel


_by_device = _ByDevice()


def transforms_check_finiteness(xp) -> bool:
    """Whether the ``affine``, ``linear`` and ``local_response`` kernels for
    ``xp`` take a ``check`` ("inf" or "nonfinite") and raise
    :class:`NonFiniteError` themselves (CuPy: affine and linear in the pass
    that writes the output, no separate read of X)."""
    return bool(getattr(kernels_for(xp), "TRANSFORMS_CHECK_FINITENESS", False))


def folds_centring(xp) -> bool:
    """Whether ``(X - m) @ W.T`` is cheaper for ``xp``'s ``linear`` kernel
    as ``X @ W.T - m @ W.T`` (one product, no centring pass: the default),
    where the rounding allows it.  NumPy's blocked kernel says no: it
    centres each block in cache for less than the offset costs."""
    return bool(getattr(kernels_for(xp), "FOLDS_CENTRING", True))


def statistics_check_finiteness(xp) -> bool:
    """Whether the moments and min/max kernels for ``xp`` raise
    :class:`NonFiniteError` on +-inf in their own pass."""
    return bool(getattr(kernels_for(xp), "STATISTICS_CHECK_FINITENESS", False))


_numpy_kernels = None


def kernels_for(xp):
    """The kernel module for namespace ``xp``."""
    global _numpy_kernels
    if is_numpy_namespace(xp):
        if _numpy_kernels is None:  # imported once: asked on every batch
            from . import numpy_blocked

            _numpy_kernels = numpy_blocked
        return _numpy_kernels
    if is_cupy_namespace(xp):
        # SKNORM_CUPY_FUSED=0: the cuBLAS formulation (benchmark comparisons).
        if os.environ.get("SKNORM_CUPY_FUSED", "1") == "0":
            from . import matmul

            return matmul
        from . import cupy_fused

        return cupy_fused
    if xp.__name__ in {"torch", "array_api_compat.torch"}:
        return _by_device
    return generic


def quantile_kernels_for(xp):
    """The quantile-summary kernel module for namespace ``xp``: compiled
    loops for NumPy (:mod:`.numpy_quantiles`), the Array API functions of
    :mod:`.quantiles` for every other namespace."""
    if is_numpy_namespace(xp):
        from . import numpy_quantiles

        return numpy_quantiles
    from . import quantiles

    return quantiles
