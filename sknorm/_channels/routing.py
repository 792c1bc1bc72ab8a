"""The statistics and affine helpers of the estimators, per feature (2-D
input) or per channel (N-D input with a ``channel_axis``).

:class:`ChannelRouting` is mixed into every estimator by
:class:`sknorm._base.BaseNormalizer`: the estimators call
``self._update_moments(...)`` and the others below whatever their input, and
the choice of route (the 2-D functions of :mod:`sknorm._stats` and the
kernels, or this package's per-channel ones) is made here, from the
estimator's ``channel_axis`` and X's shape.
"""

from __future__ import annotations

from .._kernels import kernels_for
from .._stats import min_max_of_batch, moments_of_batch, update_min_max, update_moments
from . import layout as _layout
from . import statistics as _statistics
from . import transforms as _transforms

__all__ = ["ChannelRouting"]


class ChannelRouting:
    """Route the statistics and the affine map by ``channel_axis``."""

    # ------------------------------------ statistics, per feature or channel
    def _channel_layout(self, X):
        """X's :class:`~sknorm._channels.ChannelLayout`, or None for 2-D input."""
        axis = getattr(self, "channel_axis", None)
        return None if axis is None else _layout.layout_of(X.shape, axis)

    def _update_moments(self, state, X, sample_weight, dtype):
        """:func:`sknorm._stats.update_moments`, per channel for N-D input."""
        layout = self._channel_layout(X)
        if layout is None:
            return update_moments(state, X, sample_weight, dtype)
        return _statistics.update_moments(state, X, layout, sample_weight, dtype)

    def _batch_moments(self, X, sample_weight, dtype):
        """:func:`sknorm._stats.moments_of_batch`, per channel for N-D input."""
        layout = self._channel_layout(X)
        if layout is None:
            return moments_of_batch(X, sample_weight, dtype)
        return _statistics.batch_moments(X, layout, sample_weight, dtype)

    def _update_min_max(self, state, X):
        """:func:`sknorm._stats.update_min_max`, per channel for N-D input."""
        layout = self._channel_layout(X)
        if layout is None:
            return update_min_max(state, X)
        return _statistics.update_min_max(state, X, layout)

    def _batch_min_max(self, X):
        """:func:`sknorm._stats.min_max_of_batch`, per channel for N-D input."""
        layout = self._channel_layout(X)
        if layout is None:
            return min_max_of_batch(X)
        return _statistics.update_min_max(None, X, layout)

    def _flat_batch(self, X, sample_weight):
        """``(matrix, weights)`` whose columns are the features (2-D input) or
        the channels (an N-D layout that is a plain matrix of channels, see
        :func:`sknorm._channels.flat_batch`), for the 2-D fused steps; None
        when per-channel statistics need a merge of parts."""
        layout = self._channel_layout(X)
        if layout is None:
            return X, sample_weight
        return _layout.flat_batch(X, layout, sample_weight)

    def _affine_map(self, xp, X, center, scale, offset, copy):
        """The affine kernel on validated X, broadcast along the channels for
        N-D input (no finiteness check: for outputs of a statistics pass)."""
        layout = self._channel_layout(X)
        if layout is None:
            return kernels_for(xp).affine(X, center, scale, offset, copy)
        return _transforms.affine(X, center, scale, offset, copy, layout=layout)
