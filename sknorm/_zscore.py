"""ZScore: standardization ``(x - mean) / std`` per feature."""

from __future__ import annotations

from numbers import Integral

import numpy as np
import scipy.sparse as sp
from sklearn.base import _fit_context
from sklearn.utils.sparsefuncs import inplace_column_scale, mean_variance_axis

from ._array_api import accumulation_dtype, namespace_of
from ._base import AffineNormalizer, MomentStatistics, partial_fit_context
from ._naming import published_as
from ._stats import (
    Moments,
    Statistics,
    merge_moments,
    recentred,
)
from ._validation import call_prefix

__all__ = ["ZScore"]


def _constant_feature_scale(xp, var, mean_offset, n_samples, dtype):
    """sqrt(var), with 1 for features indistinguishable from a constant.

    scikit-learn's test (the error bound of the two-pass algorithm, Chan,
    Golub & LeVeque) is ``var <= n eps var + (n |mean| eps)^2``.  sknorm's
    moments are taken around a per-feature shift, so the rounding error
    scales with ``|mean - shift|`` instead of ``|mean|``: the same bound, in
    the coordinates the variance was actually computed in.  That is what
    lets a feature like ``1e8 + N(0, 1e-3)`` keep its true scale (scikit-
    learn declares it constant).
    """
    finfo = xp.finfo(dtype)
    eps = finfo.eps
    # Capped before squaring: past sqrt(max) the bound exceeds every finite
    # variance anyway, and the square would overflow (eps first: n * |mean|
    # alone may overflow for values near the float maximum).
    offset_term = xp.minimum(n_samples * (mean_offset * eps), finfo.max**0.5)
    bound = n_samples * eps * var + offset_term**2
    # An infinite variance (spread beyond the float range) is not constant.
    # No absolute floor: the bound is relative to the data, so the units do
    # not matter (a feature of spread 1e-17 keeps its scale of 1e-17).
    constant = ((var <= bound) | (var == 0)) & xp.isfinite(var)
    scale = xp.sqrt(var)
    return xp.where(constant, xp.ones_like(scale), scale)


@published_as("sknorm")
class ZScore(MomentStatistics, AffineNormalizer):
    """Standardize features: ``z = (x - mean) / std``.

    A drop-in for :class:`sklearn.preprocessing.StandardScaler` (same
    parameters, attributes and numbers) whose statistics stay exact under any
    split of the rows into ``partial_fit`` batches, whose mean does not
    overflow on values near the float maximum (scikit-learn's running sum
    does; a spread itself beyond the float range gives an infinite
    ``var_``), and that runs on any Array API backend (NumPy, CuPy, torch,
    array-api-strict) with the fitted state on the input's device.

    Parameters
    ----------
    with_mean : bool, default=True
        Centre the data.  Must be False for SciPy sparse input (centring would
        make it dense).
    with_std : bool, default=True
        Scale to unit variance.
    copy : bool, default=True
        False normalizes a float array in place in ``transform`` and
        ``inverse_transform``.
    channel_axis : int or None, default=None
        None: X is ``(n_samples, n_features)`` and the statistics are per
        feature (scikit-learn's convention).  An int: X is an array of two
        or more dimensions whose axis 0 is the samples and axis
        ``channel_axis`` the channels, e.g. ``1`` for images ``(N, C, H, W)``
        (PyTorch) or ``-1`` for ``(N, H, W, C)`` (TensorFlow); the
        statistics are per channel over the samples and every other axis
        (torchvision ``Normalize``'s mean and std), the fitted attributes
        have one entry per channel and ``transform`` broadcasts them along
        that axis.  Later batches must have the same number of dimensions
        and channels; the other sizes may differ.  Dense arrays only (no
        sparse matrices, no dataframes).  See :mod:`sknorm._channels` for
        the layouts.

    Attributes
    ----------
    mean_ : array of shape (n_features,) or None
        Per-feature mean (NaNs ignored), in the fitting namespace and on its
        device, float64 where the device has it.  None when both
        ``with_mean`` and ``with_std`` are False.
    var_ : array of shape (n_features,) or None
        Per-feature population variance (ddof=0). None if ``with_std=False``.
    scale_ : array of shape (n_features,) or None
        ``sqrt(var_)``, with 1 for constant features. None if
        ``with_std=False``.
    n_samples_seen_ : int, float or array of shape (n_features,)
        Number of samples seen (sum of ``sample_weight`` when weights were
        given); an array when NaNs make the count differ per feature.  With
        ``channel_axis``: the number of values each channel's statistics
        are over (samples times positions, weighted by ``sample_weight``).
    n_features_in_ : int
        Number of features seen during fit (of channels, with
        ``channel_axis``).
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X had string column names.

    See Also
    --------
    sklearn.preprocessing.StandardScaler : the scikit-learn equivalent.
    MinMax : scale each feature to a given range.
    ZCAWhitening : also decorrelate the features.

    Notes
    -----
    ``z = (x - mean_) / scale_`` with ``mean_ = sum_i w_i x_i / sum_i w_i``
    and ``var_ = sum_i w_i (x_i - mean_)^2 / sum_i w_i``.

    Statistics are kept as mergeable moments around a per-feature shift (the
    first value seen that carries data) and combined batch by batch with the
    pairwise update of Chan, Golub & LeVeque (1983), so ``partial_fit`` on
    any split of the rows gives ``fit``'s result to float64 rounding.  NaNs
    are ignored in fit and kept in transform.  float32 input is accumulated
    in float64 and transformed to float32; float16 (and torch's bfloat16)
    is accumulated in float64 and transformed in float32, rounded once to
    its own dtype.  Rows of weight 0 carry no data: they never enter a
    statistic, nor the choice of the shift.  A feature is constant (scale
    1) when its variance is within the rounding bound of the shifted
    moments, with no absolute floor: the units do not matter.  A variance
    beyond the float range is ``inf`` and the feature maps to 0.

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm import ZScore
    >>> X = np.array([[0.0, 10.0], [2.0, 10.0], [4.0, 10.0]])
    >>> scaler = ZScore().fit(X)
    >>> scaler.mean_
    array([ 2., 10.])
    >>> scaler.scale_  # the constant feature keeps scale 1
    array([1.63299316, 1.        ])
    >>> scaler.transform(X)
    array([[-1.22474487,  0.        ],
           [ 0.        ,  0.        ],
           [ 1.22474487,  0.        ]])

    Streaming gives the same statistics as one fit:

    >>> s = ZScore()
    >>> for batch in np.array_split(X, 3):
    ...     s = s.partial_fit(batch)
    >>> bool(np.allclose(s.var_, scaler.var_, rtol=1e-15))
    True

    Per-channel statistics of a batch of images ``(N, C, H, W)``, the
    arguments of ``torchvision.transforms.Normalize``:

    >>> images = np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4)
    >>> per_channel = ZScore(channel_axis=1).fit(images)
    >>> per_channel.mean_
    array([31.5, 47.5, 63.5])
    >>> per_channel.scale_
    array([24.43869882, 24.43869882, 24.43869882])
    >>> per_channel.transform(images).shape
    (2, 3, 4, 4)
    """

    _parameter_constraints: dict = {
        "with_mean": ["boolean"],
        "with_std": ["boolean"],
        "copy": ["boolean"],
        "channel_axis": [Integral, None],
    }
    # Any fitted array tells the namespace and device: the total weight per
    # feature is one the moments already hold (no operation per batch).
    _anchor_ = "_weight_seen_"
    _accept_sparse = ("csr", "csc")
    _finiteness_check = "kernel"  # the moments kernel finds inf in its own pass

    def __init__(self, *, with_mean=True, with_std=True, copy=True, channel_axis=None):
        self.with_mean = with_mean
        self.with_std = with_std
        self.copy = copy
        self.channel_axis = channel_axis

    def _is_fitted(self):
        return hasattr(self, "_moments_")

    @property
    def n_samples_seen_(self):
        """Samples seen per feature: an int (a float sum of weights when
        ``sample_weight`` was given) when every feature saw the same number,
        else an array in the fitting namespace.

        Derived from the running moments on access: reading a device array's
        extremes synchronises with the device, so ``partial_fit`` does not.
        """
        moments = self.__dict__.get("_moments_")
        if moments is None:
            raise AttributeError(
                f"{type(self).__name__} has no attribute 'n_samples_seen_' "
                "before fit or partial_fit."
            )
        weighted = self._weighted_
        counts = moments.count if weighted else moments.n_obs
        xp = namespace_of(counts)
        lo, hi = float(xp.min(counts)), float(xp.max(counts))
        if lo == hi:
            return lo if weighted else int(lo)
        return counts if weighted else xp.astype(counts, xp.int64)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Centring would densify a sparse matrix: sparse only without it.
        tags.input_tags.sparse = not self.with_mean
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Compute the per-feature mean and standard deviation.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            (or ``(n_samples, ..., n_channels, ...)`` with ``channel_axis``)
            Training data (any Array API array, or NumPy/pandas/polars/SciPy
            sparse). NaNs are ignored.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row.

        Returns
        -------
        self : ZScore
            The fitted estimator.
        """
        return self._fit(X, sample_weight)

    @partial_fit_context
    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the statistics with one batch of rows.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            (or ``(n_samples, ..., n_channels, ...)`` with ``channel_axis``)
            One batch. Later batches must have the same features, namespace
            and device.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row.

        Returns
        -------
        self : ZScore
            The updated estimator (unchanged if this call raised).
        """
        return self._partial_fit(X, sample_weight)

    # ------------------------------------------------------------------
    def _updated_state(self, X, xp, device, sample_weight, method):
        previous = getattr(self, "_moments_", None)
        if sp.issparse(X):
            moments = merge_moments(previous, self._sparse_moments(X, sample_weight))
        else:
            dtype = accumulation_dtype(xp, device)
            moments = self._update_moments(previous, X, sample_weight, dtype)
        weighted = getattr(self, "_weighted_", False) or sample_weight is not None
        return self._fitted_state(
            Statistics((moments,), 0, weighted), xp, device, self.n_features_in_
        )

    # Mergeable statistics (merge, Dask): the moments.
    _merge_params = ("channel_axis",)

    def _not_mergeable(self):
        return None

    def _merge_statistics(self, a, b):
        # Recentred as update_moments does: the next merge is then taken
        # around the running mean.
        return (recentred(merge_moments(a[0], b[0])),)

    def _statistics(self, method):
        return Statistics((self._moments_,), 0, self._weighted_)

    def _fitted_state(self, statistics, xp, device, n_features):
        (moments,) = statistics.states
        # mean_, var_ and scale_ are derived from the moments when read:
        # partial_fit only merges (a few small operations per batch, which
        # on a GPU are kernel launches).
        return {
            "_moments_": moments,
            "_weighted_": statistics.weighted,
            "_weight_seen_": moments.count,
        }

    def _check_call(self, X, method):
        # (With a channel_axis, validation refuses sparse input itself.)
        if self.with_mean and sp.issparse(X) and self.channel_axis is None:
            raise ValueError(
                call_prefix(self, method) + "Cannot center sparse matrices: pass "
                "`with_mean=False` instead, or convert X to a dense array."
            )

    def _sparse_moments(self, X, sample_weight):
        X = X.astype(np.float64)
        mean, var, count = mean_variance_axis(
            X, axis=0, weights=sample_weight, return_sum_weights=True
        )
        nan_pattern = type(X)(
            (np.isnan(X.data).astype(np.float64), X.indices, X.indptr), shape=X.shape
        )
        n_obs = X.shape[0] - np.asarray(nan_pattern.sum(axis=0)).ravel()
        zeros = np.zeros(X.shape[1])
        count = np.asarray(count, np.float64)
        # A feature with no observed entry in the batch (all NaN) has NaN
        # moments here; it carries no data, and the merge must see the
        # neutral element (scikit-learn's issue 16448).
        seen = count > 0
        return Moments(
            count=count,
            n_obs=n_obs,
            shift=zeros,
            mean=np.where(seen, np.asarray(mean, np.float64), 0.0),
            var=np.where(seen, np.asarray(var, np.float64), 0.0),
        )

    def _fitted_moments(self, name):
        moments = self.__dict__.get("_moments_")
        if moments is None:
            raise AttributeError(
                f"{type(self).__name__} has no attribute {name!r} before fit "
                "or partial_fit."
            )
        return moments

    @staticmethod
    def _unless_unseen(xp, moments, values):
        """NaN for a feature with no observation (all NaN, or all weights
        0): it has no statistics, as in scikit-learn, rather than a made-up
        0."""
        nan = xp.full_like(values, float("nan"))
        return xp.where(moments.count > 0, values, nan)

    @property
    def mean_(self):
        """Per-feature mean (None when both with_mean and with_std are False)."""
        moments = self._fitted_moments("mean_")
        if not (self.with_mean or self.with_std):
            return None
        xp = namespace_of(moments.mean)
        return self._unless_unseen(xp, moments, moments.location)

    @property
    def var_(self):
        """Per-feature population variance (None when with_std is False)."""
        moments = self._fitted_moments("var_")
        if not self.with_std:
            return None
        return self._unless_unseen(namespace_of(moments.var), moments, moments.var)

    @property
    def scale_(self):
        """``sqrt(var_)``, 1 for constant features (None when with_std is False)."""
        moments = self._fitted_moments("scale_")
        if not self.with_std:
            return None
        xp = namespace_of(moments.var)
        counts = moments.count if self._weighted_ else moments.n_obs
        scale = _constant_feature_scale(
            xp, moments.var, xp.abs(moments.mean), counts, moments.var.dtype
        )
        return self._unless_unseen(xp, moments, scale)

    def _affine_terms(self, X, xp):
        center = self.mean_ if self.with_mean else None
        scale = None
        if self.with_std:
            scale_ = self.scale_
            scale = 1.0 / scale_
            if center is not None:
                # A variance beyond the float range: scale_ is +inf and the
                # feature maps to 0, also where x - mean_ itself overflows
                # (inf * 0 would be NaN).
                center = xp.where(xp.isinf(scale_), xp.zeros_like(center), center)
        return center, scale, None

    def _inverse_affine_terms(self, X, xp):
        # x = z * scale_ + mean_, scikit-learn's inverse, with no reciprocal.
        scale = self.scale_ if self.with_std else None
        return None, scale, self.mean_ if self.with_mean else None

    def _transform_sparse(self, X, copy):
        X = X.copy() if copy else X
        if self.with_std:
            inplace_column_scale(X, 1.0 / self.scale_)
        return X

    def _inverse_transform_sparse(self, X, copy):
        X = X.copy() if copy else X
        if self.with_std:
            inplace_column_scale(X, self.scale_)
        return X
