"""Robust: centre on the median, scale by a quantile range."""

from __future__ import annotations

from numbers import Real

import scipy.sparse as sp
from scipy import stats
from sklearn.base import _fit_context
from sklearn.utils.sparsefuncs import inplace_column_scale

from .._array_api import namespace_of
from .._base import AffineNormalizer, partial_fit_context
from .._naming import published_as
from .._validation import call_prefix
from .quantile_statistics import QuantileStatistics

__all__ = ["Robust"]


def _check_quantile_range(estimator, method):
    value = estimator.quantile_range
    ok = (
        isinstance(value, tuple | list)
        and len(value) == 2
        and all(isinstance(v, Real) and not isinstance(v, bool) for v in value)
    )
    if not ok or not 0 <= value[0] <= value[1] <= 100:
        raise ValueError(
            call_prefix(estimator, method) + f"Invalid quantile range: {value!r}; "
            "pass (q_min, q_max) with 0 <= q_min <= q_max <= 100, in percent, "
            "e.g. (25.0, 75.0) for the interquartile range."
        )
    return float(value[0]), float(value[1])


@published_as("sknorm")
class Robust(QuantileStatistics, AffineNormalizer):
    """Centre on the median and scale by a quantile range: robust to outliers.

    A drop-in for :class:`sklearn.preprocessing.RobustScaler` (same
    parameters, attributes and numbers for an in-memory ``fit``) that also
    streams: ``partial_fit``, :meth:`merge` and Dask fits keep a mergeable
    quantile summary per feature, and the median and quantiles it gives are
    certified: each has, in all the data seen, a rank within
    ``rank_error_`` (at most ``rank_error``) of its target.  Runs on any
    Array API backend (NumPy, CuPy, torch, array-api-strict) with the fitted
    state on the input's device.

    Parameters
    ----------
    with_centering : bool, default=True
        Subtract the median.  Must be False for SciPy sparse input (centring
        would make it dense).
    with_scaling : bool, default=True
        Divide by the quantile range.
    quantile_range : tuple (q_min, q_max), default=(25.0, 75.0)
        The quantiles, in percent, whose difference is the scale:
        ``0 <= q_min <= q_max <= 100``.
    unit_variance : bool, default=False
        Divide the scale by the quantile range of the standard normal
        distribution: normally distributed data then gets unit variance.
    rank_error : float, default=1e-3
        The largest rank error a summary (streams, merges, Dask) may reach,
        in (0, 0.5): enforced on the CPU, reported on a device (see
        ``rank_error_``).  Smaller costs memory: about ``(levels + 2) /
        (2 rank_error)`` values per feature and level.
    copy : bool, default=True
        False scales a float array in place in ``transform`` and
        ``inverse_transform``.

    Attributes
    ----------
    center_ : array of shape (n_features,) or None
        The per-feature median (NaNs ignored), None without centring.
    scale_ : array of shape (n_features,) or None
        The per-feature quantile range (divided by the normal distribution's
        one with ``unit_variance``), 1 for features whose range is 0; None
        without scaling.
    rank_error_ : float
        The certified rank error of ``center_`` and of the quantiles of
        ``scale_``: 0.0 for an in-memory fit (and while a summary still
        holds every value).
    n_samples_seen_ : int, float or array of shape (n_features,)
        Samples seen (NaN and rows of weight 0 left out; the sum of weights
        once ``sample_weight`` was given), an array when the features saw
        different numbers, as ``ZScore``'s.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X had string column names.

    See Also
    --------
    sklearn.preprocessing.RobustScaler : the scikit-learn equivalent.
    Quantile : map each feature through its empirical distribution.
    MaxAbs : scale by the maximum absolute value.
    ZScore : standardize with the mean and standard deviation.

    Notes
    -----
    ``y = (x - center_) / scale_`` with ``center_`` the median and
    ``scale_ = q(q_max) - q(q_min)``, quantiles by NumPy's ``linear``
    interpolation between order statistics (``np.nanpercentile``).  With
    ``sample_weight`` a weight counts rows (a weight of 2 is the row twice:
    integer weights give exactly the quantiles of the repeated rows), and
    weights that average below 1 are first scaled to average 1.  Sparse
    input (with ``with_centering=False``) counts its implicit zeros, as
    scikit-learn does.  A range of exactly 0 gives a scale of 1; there is no
    absolute floor (scikit-learn's ``10 * eps``), so the map does not depend
    on the units.

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm import Robust
    >>> X = np.array([[1.0, -2.0], [2.0, 0.0], [3.0, 1.0], [4.0, 100.0]])
    >>> scaler = Robust().fit(X)
    >>> scaler.center_
    array([2.5, 0.5])
    >>> scaler.scale_
    array([ 1.5 , 26.25])
    >>> scaler.rank_error_
    0.0

    Streaming keeps a summary whose error is certified:

    >>> rng = np.random.default_rng(0)
    >>> stream = Robust()
    >>> for _ in range(20):
    ...     stream = stream.partial_fit(rng.normal(size=(5_000, 2)))
    >>> stream.rank_error_ <= 1e-3
    True
    """

    _parameter_constraints: dict = {
        "with_centering": ["boolean"],
        "with_scaling": ["boolean"],
        "quantile_range": [tuple, list],
        "unit_variance": ["boolean"],
        "rank_error": QuantileStatistics._rank_error_constraint,
        "copy": ["boolean"],
    }
    _accept_sparse = ("csr", "csc")
    _finiteness_check = "validate"

    def __init__(
        self,
        *,
        with_centering=True,
        with_scaling=True,
        quantile_range=(25.0, 75.0),
        unit_variance=False,
        rank_error=1e-3,
        copy=True,
    ):
        self.with_centering = with_centering
        self.with_scaling = with_scaling
        self.quantile_range = quantile_range
        self.unit_variance = unit_variance
        self.rank_error = rank_error
        self.copy = copy

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Centring would densify a sparse matrix: sparse only without it.
        tags.input_tags.sparse = not self.with_centering
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Compute the median and the quantile range, exactly.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data (any Array API array, NumPy/pandas/polars or SciPy
            sparse with ``with_centering=False``); NaNs are ignored.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row, counting rows.

        Returns
        -------
        self : Robust
            The fitted estimator.
        """
        return self._fit(X, sample_weight)

    @partial_fit_context
    def partial_fit(self, X, y=None, sample_weight=None):
        """Add one batch of rows to the quantile summary.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            One batch; later batches must have the same features, namespace
            and device.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row, counting rows.

        Returns
        -------
        self : Robust
            The updated estimator (unchanged if this call raised).
        """
        return self._partial_fit(X, sample_weight)

    def _check_call(self, X, method):
        if method in ("fit", "partial_fit"):
            self._check_rank_error(method)
            _check_quantile_range(self, method)
        if self.with_centering and sp.issparse(X):
            raise ValueError(
                call_prefix(self, method) + "Cannot center sparse matrices: use "
                "`with_centering=False` instead, or convert X to a dense array."
            )

    def _levels(self, n_rows, weighted):
        lo, hi = _check_quantile_range(self, "fit")
        return (lo / 100.0, 0.5, hi / 100.0)

    # ------------------------------------------------------------------
    @property
    def center_(self):
        """The per-feature median (None when ``with_centering`` is False)."""
        quantiles = self._fitted_quantiles("center_")
        return quantiles[:, 1] if self.with_centering else None

    @property
    def scale_(self):
        """The quantile range, 1 where it is 0 (None without scaling)."""
        quantiles = self._fitted_quantiles("scale_")
        if not self.with_scaling:
            return None
        xp = namespace_of(quantiles)
        scale = quantiles[:, 2] - quantiles[:, 0]
        scale = xp.where(scale == 0, xp.ones_like(scale), scale)
        if self.unit_variance:
            q_min, q_max = self._quantiles_.phis[0], self._quantiles_.phis[2]
            adjust = stats.norm.ppf(q_max) - stats.norm.ppf(q_min)
            scale = scale / float(adjust)
        return scale

    def _affine_terms(self, X, xp):
        scale = self.scale_
        return self.center_, None if scale is None else 1.0 / scale, None

    def _inverse_affine_terms(self, X, xp):
        # x = y * scale_ + center_: scikit-learn's inverse, no reciprocal.
        return None, self.scale_, self.center_

    def _transform_sparse(self, X, copy):
        X = X.copy() if copy else X
        if self.with_scaling:
            inplace_column_scale(X, 1.0 / self.scale_)
        return X

    def _inverse_transform_sparse(self, X, copy):
        X = X.copy() if copy else X
        if self.with_scaling:
            inplace_column_scale(X, self.scale_)
        return X
