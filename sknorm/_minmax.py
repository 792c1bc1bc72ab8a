"""MinMax: map each feature to a range, learned or fixed (e.g. 1/255)."""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
from sklearn.base import _fit_context

from ._array_api import (
    accumulation_dtype,
    array_device,
    compute_float_dtype,
    namespace_of,
)
from ._base import AffineNormalizer, clipped_in_place, partial_fit_context
from ._naming import published_as
from ._stats import MinMaxState, Statistics, merge_min_max
from ._validation import call_prefix

__all__ = ["MinMax"]


def _is_real(v):
    # int and float first: asked on every partial_fit (an ABC check costs
    # a few hundred ns).
    return type(v) in (float, int) or (isinstance(v, Real) and not isinstance(v, bool))


def _check_range(estimator, method, value, name):
    ok = (
        isinstance(value, tuple | list)
        and len(value) == 2
        and _is_real(value[0])
        and _is_real(value[1])
    )
    if not ok:
        raise ValueError(
            call_prefix(estimator, method) + f"{name} must be a pair (min, max) of "
            f"real numbers; got {value!r}."
        )
    lo, hi = float(value[0]), float(value[1])
    if not (math.isfinite(lo) and math.isfinite(hi) and math.isfinite(hi - lo)):
        raise ValueError(
            call_prefix(estimator, method) + f"{name} must be a pair of finite "
            f"numbers whose difference is finite too; got {tuple(value)!r}."
        )
    if not lo < hi:
        raise ValueError(
            call_prefix(estimator, method) + f"Minimum of desired {name} must be "
            f"smaller than maximum. Got {tuple(value)!r}; pass ({hi}, {lo}) if "
            "the order was swapped."
        )
    return lo, hi


@published_as("sknorm")
class MinMax(AffineNormalizer):
    """Scale each feature to ``feature_range``, from the data or a known range.

    ``(x - data_min) / (data_max - data_min)`` mapped onto ``feature_range``.
    With ``data_range=None`` (default) the per-feature minimum and maximum
    are learned from the data, exactly as
    :class:`sklearn.preprocessing.MinMaxScaler`; with a known
    ``data_range=(lo, hi)`` it is a fixed, data-free rescaling, e.g.
    ``data_range=(0, 255)`` maps 8-bit images to ``[0, 1]`` like Keras'
    ``Rescaling(1/255)`` and needs no ``fit``.

    Parameters
    ----------
    feature_range : tuple (min, max), default=(0, 1)
        Desired range of the transformed data; min must be < max.
    clip : bool, default=False
        Clip transformed values to ``feature_range`` (useful when later data
        lies outside the range seen in fit).
    data_range : tuple (lo, hi) or None, default=None
        Known range of the input, shared by all features. When given, no
        statistics are learned and ``transform`` works without ``fit``.
    copy : bool, default=True
        False rescales a float array in place.
    channel_axis : int or None, default=None
        None: X is ``(n_samples, n_features)``, one range per feature.  An
        int: X has two or more dimensions, axis 0 the samples and axis
        ``channel_axis`` the channels (``1`` for ``(N, C, H, W)``, ``-1``
        for ``(N, H, W, C)``); one range per channel, over the samples and
        every other axis, broadcast along that axis by ``transform``.
        Later batches keep the number of dimensions and of channels (the
        other sizes may differ).  Dense arrays only.

    Attributes
    ----------
    data_min_ : array of shape (n_features,)
        Per-feature minimum seen (NaNs ignored), or ``lo`` of ``data_range``.
    data_max_ : array of shape (n_features,)
        Per-feature maximum seen, or ``hi`` of ``data_range``.
    data_range_ : array of shape (n_features,)
        ``data_max_ - data_min_``.
    scale_ : array of shape (n_features,)
        ``(max - min of feature_range) / data_range_``; constant features get
        scale ``max - min`` and map to ``feature_range[0]``.
    min_ : array of shape (n_features,)
        ``feature_range[0] - data_min_ * scale_`` (scikit-learn's attribute:
        ``X * scale_ + min_`` is the same map).
    n_samples_seen_ : int
        Number of rows seen (of samples, axis 0, with ``channel_axis``).
    n_features_in_ : int
        Number of features seen during fit (of channels, with
        ``channel_axis``).
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X had string column names.

    See Also
    --------
    sklearn.preprocessing.MinMaxScaler : the scikit-learn equivalent.
    ZScore : standardize to zero mean and unit variance.

    Notes
    -----
    ``y = (x - data_min_) * scale_ + feature_range[0]``, evaluated in this
    order (subtracting first keeps digits that ``x * scale_ + min_`` loses
    when ``|data_min_|`` is large compared with the range).  NaNs are
    ignored in fit and kept in transform.

    The fitted attributes are float64 (the accumulation dtype) for float32
    input too.  A feature is constant when its minimum equals its maximum:
    there is no absolute floor (scikit-learn treats a range below ``10 *
    eps`` as constant), so the map does not depend on the units, a range of
    1e-20 is rescaled like a range of 1.  Only a range whose reciprocal
    overflows (below ``(max - min of feature_range) / 1.8e308``) counts as
    constant too.  A range beyond the float range (data from -1e308 to
    1e308) is handled exactly: the map is then taken around the midpoint,
    and ``data_range_`` is ``inf``.

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm import MinMax
    >>> X = np.array([[1.0, -1.0], [3.0, 0.0], [5.0, 1.0]])
    >>> MinMax().fit_transform(X)
    array([[0. , 0. ],
           [0.5, 0.5],
           [1. , 1. ]])

    A fixed rescaling of 8-bit pixels, no fit needed:

    >>> pixels = np.array([[0, 128, 255]], dtype=np.uint8)
    >>> MinMax(data_range=(0, 255)).transform(pixels)
    array([[0.        , 0.50196078, 1.        ]])

    Per-channel ranges of channels-last images ``(N, H, W, C)``:

    >>> images = np.stack([np.full((2, 2), 10.0), np.arange(4.0).reshape(2, 2)], -1)
    >>> per_channel = MinMax(channel_axis=-1).fit(images[None])
    >>> per_channel.data_min_, per_channel.data_max_
    (array([10.,  0.]), array([10.,  3.]))
    >>> per_channel.transform(images[None])[0, ..., 1]
    array([[0.        , 0.33333333],
           [0.66666667, 1.        ]])
    """

    _parameter_constraints: dict = {
        "feature_range": [tuple, list],
        "clip": ["boolean"],
        "data_range": [tuple, list, None],
        "copy": ["boolean"],
        "channel_axis": [Integral, None],
    }
    _anchor_ = "data_min_"

    @property
    def _finiteness_check(self):
        # The min/max kernel finds inf in its own pass; a fixed data_range
        # runs no kernel, so validation checks.
        return "kernel" if self.data_range is None else "validate"

    def __init__(
        self,
        feature_range=(0, 1),
        *,
        clip=False,
        data_range=None,
        copy=True,
        channel_axis=None,
    ):
        self.feature_range = feature_range
        self.clip = clip
        self.data_range = data_range
        self.copy = copy
        self.channel_axis = channel_axis

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = self.data_range is None
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Compute the per-feature minimum and maximum.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            (or ``(n_samples, ..., n_channels, ...)`` with ``channel_axis``)
            Training data; NaNs are ignored.
        y : None
            Ignored.

        Returns
        -------
        self : MinMax
            The fitted estimator.
        """
        return self._fit(X, None)

    @partial_fit_context
    def partial_fit(self, X, y=None):
        """Update the minimum and maximum with one batch of rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            (or ``(n_samples, ..., n_channels, ...)`` with ``channel_axis``)
            One batch; NaNs are ignored.
        y : None
            Ignored.

        Returns
        -------
        self : MinMax
            The updated estimator (unchanged if this call raised).
        """
        return self._partial_fit(X, None)

    def _check_call(self, X, method):
        _check_range(self, method, self.feature_range, "feature_range")
        if self.data_range is not None:
            _check_range(self, method, self.data_range, "data_range")

    def _updated_state(self, X, xp, device, sample_weight, method):
        state = None
        if self.data_range is None:
            state = self._update_min_max(getattr(self, "_min_max_", None), X)
        n_rows = getattr(self, "n_samples_seen_", 0) + X.shape[0]
        return self._fitted_state(
            Statistics((state,), n_rows, False), xp, device, self.n_features_in_
        )

    # Mergeable statistics (merge, Dask): the minimum and maximum.
    _merge_params = ("data_range", "channel_axis")

    def _not_mergeable(self):
        return None

    def _statistic_types(self):
        return (MinMaxState,)

    def _batch_statistics(self, X, xp, device, sample_weight):
        return (self._batch_min_max(X),)

    def _merge_statistics(self, a, b):
        return (merge_min_max(a[0], b[0]),)

    def _statistics(self, method):
        return Statistics((self._min_max_,), self.n_samples_seen_, False)

    def _fitted_state(self, statistics, xp, device, n_features):
        dtype = accumulation_dtype(xp, device)
        if self.data_range is not None:
            # Both ranges were checked by _check_call, with the calling
            # method; a known range keeps no statistics.
            d_lo, d_hi = (float(v) for v in self.data_range)
            data_min = xp.full((n_features,), d_lo, dtype=dtype, device=device)
            data_max = xp.full((n_features,), d_hi, dtype=dtype, device=device)
            state = None
        else:
            (state,) = statistics.states
            data_min, data_max = state.min, state.max
            if data_min.dtype != dtype:  # float32 input: float64 attributes
                data_min = xp.astype(data_min, dtype)
                data_max = xp.astype(data_max, dtype)
        # data_range_, scale_ and min_ are derived when first read: a
        # streaming partial_fit only merges the minimum and maximum (on a
        # GPU every derived array is a kernel launch).
        return {
            "_min_max_": state,
            "n_samples_seen_": statistics.n_rows,
            "data_min_": data_min,
            "data_max_": data_max,
            # The range the fitted map targets (a later set_params does not
            # change a fitted estimator, as in scikit-learn).
            "_feature_range_": tuple(map(float, self.feature_range)),
        }

    def _derived(self, name):
        """``data_range_``, ``scale_`` or ``min_``, from the fitted range.

        Computed on access, not stored: ``transform`` must leave
        ``__dict__`` unchanged (scikit-learn's check_dict_unchanged), and a
        few per-feature operations are nothing next to a transform.
        """
        if not self._is_fitted():
            raise AttributeError(
                f"'{type(self).__name__}' object has no attribute '{name}'"
            )
        lo, hi = self._feature_range_
        data_min, data_max = self.data_min_, self.data_max_
        xp = namespace_of(data_min)
        with np.errstate(over="ignore"):
            data_range = data_max - data_min  # +inf beyond the float range
        if name == "data_range_":
            return data_range
        width = hi - lo
        # A range beyond the float range (data at -1e308 and 1e308) has a
        # representable scale: width/2 over half the range.
        half = data_max * 0.5 - data_min * 0.5
        with np.errstate(divide="ignore", over="ignore"):
            scale = xp.where(
                xp.isinf(data_range), (0.5 * width) / half, width / data_range
            )
        # Constant features (and ranges whose reciprocal overflows: below
        # width / float max) map to feature_range[0]; no absolute floor, so
        # a range of 1e-20 is a range like any other.  Never-observed
        # features keep NaN.
        constant = (data_range == 0) | xp.isinf(scale)
        scale = xp.where(constant, xp.full_like(scale, width), scale)
        return scale if name == "scale_" else lo - data_min * scale

    def _wide_terms(self, xp):
        """For features whose range exceeds the float range (``x - data_min_``
        may overflow there): the mask, the midpoint of the range and half of
        feature_range's width.  The map is then taken around the midpoint:
        ``(x - mid) * scale_ + (feature_range[0] + width / 2)``."""
        data_min, data_max = self.data_min_, self.data_max_
        with np.errstate(over="ignore"):
            wide = xp.isinf(data_max - data_min)
        mid = data_min * 0.5 + data_max * 0.5
        lo, hi = self._feature_range_
        return wide, mid, 0.5 * (hi - lo)

    @property
    def data_range_(self):
        """``data_max_ - data_min_`` per feature."""
        return self._derived("data_range_")

    @property
    def scale_(self):
        """``(max - min of feature_range) / data_range_`` per feature."""
        return self._derived("scale_")

    @property
    def min_(self):
        """``feature_range[0] - data_min_ * scale_`` per feature."""
        return self._derived("min_")

    def _affine_terms(self, X, xp):
        return self._map_terms(X, xp)[:3]

    def _map_terms(self, X, xp):
        """``(center, scale, offset, wide, mid)``: the forward map's terms,
        and for a fitted estimator the features whose range exceeds the
        float range (None otherwise) and their midpoints."""
        lo, hi = (float(v) for v in self.feature_range)
        # Scalars in the dtype X is computed in, on X's device: without a
        # dtype, torch would round them to its default float32 before a
        # float64 transform (and float16 would round 1/255 to 3 digits).
        device = array_device(X)
        dtype = compute_float_dtype(xp, X.dtype)

        def scalar(value):
            return xp.asarray(value, dtype=dtype, device=device)

        if self._is_fitted():
            fitted_lo = self._feature_range_[0]
            wide, mid, half_width = self._wide_terms(xp)
            # Per-feature vectors: the same numbers as data_min_ and
            # feature_range[0] except for features wider than the float range.
            center = xp.where(wide, mid, self.data_min_)
            offset = xp.where(
                wide,
                xp.full_like(mid, fitted_lo + half_width),
                xp.full_like(mid, fitted_lo),
            )
            return center, self.scale_, offset, wide, mid
        # data_range given and never fitted: the fixed map.
        d_lo, d_hi = (float(v) for v in self.data_range)
        return scalar(d_lo), scalar((hi - lo) / (d_hi - d_lo)), scalar(lo), None, None

    def _inverse_affine_terms(self, X, xp):
        """``x = (y - offset) / scale_ + center``; for features wider than the
        float range ``1 / scale_`` overflows, and the map is applied in two
        steps: half of it, then the result doubled (the fourth term)."""
        center, scale, offset, wide, mid = self._map_terms(X, xp)
        if wide is None or not bool(xp.any(wide)):  # the usual case
            return offset, 1.0 / scale, center
        half_width = 0.5 * (self._feature_range_[1] - self._feature_range_[0])
        half_range = self.data_max_ * 0.5 - self.data_min_ * 0.5
        with np.errstate(over="ignore"):  # 1 / scale of the wide ones, unused
            inverse = xp.where(wide, half_range / (2.0 * half_width), 1.0 / scale)
        twice = xp.where(
            wide, xp.full_like(self.data_min_, 2.0), xp.ones_like(self.data_min_)
        )
        return offset, inverse, xp.where(wide, mid * 0.5, center), twice

    def _postprocess(self, Y, xp):
        if not self.clip:
            return Y
        lo, hi = (float(v) for v in self.feature_range)
        return clipped_in_place(Y, xp, lo, hi)
