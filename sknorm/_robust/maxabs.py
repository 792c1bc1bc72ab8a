"""MaxAbs: scale each feature by its maximum absolute value."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import _fit_context
from sklearn.utils.sparsefuncs import inplace_column_scale, min_max_axis

from .._array_api import accumulation_dtype, namespace_of
from .._base import AffineNormalizer, clipped_in_place, partial_fit_context
from .._naming import published_as
from .._stats import MinMaxState, Statistics, merge_min_max, min_max_of_batch

__all__ = ["MaxAbs"]


def _without_zero_weights(X, sample_weight):
    """``X`` with the rows of weight 0 left out of the statistics: NaN for a
    dense array (no copy of a shape that depends on the data, which on a
    device would need a host read), dropped rows for a sparse matrix."""
    if sample_weight is None:
        return X
    if sp.issparse(X):
        keep = np.asarray(sample_weight) > 0
        return X[keep] if not keep.all() else X
    xp = namespace_of(X)
    nan = xp.asarray(float("nan"), dtype=X.dtype, device=X.device)
    return xp.where((sample_weight > 0)[:, None], X, nan)


def _sparse_min_max(X):
    """Per-column minimum and maximum of a sparse matrix, implicit zeros
    included and NaN ignored (scikit-learn's ``min_max_axis``); NaN for a
    column without an observed value."""
    X = X.tocsc() if X.format not in ("csr", "csc") else X
    lo, hi = min_max_axis(X, axis=0, ignore_nan=True)
    return MinMaxState(np.asarray(lo, np.float64), np.asarray(hi, np.float64))


@published_as("sknorm")
class MaxAbs(AffineNormalizer):
    """Scale each feature by its maximum absolute value: ``x / max|x|``.

    A drop-in for :class:`sklearn.preprocessing.MaxAbsScaler`: the data is
    not shifted, so sparse matrices stay sparse (CSR and CSC in, the same
    format out) and the sign of every value is kept; each feature ends in
    ``[-1, 1]``.  The statistic (the per-feature extremes) is exact and
    mergeable: ``partial_fit`` over any split of the rows, :meth:`merge`
    and a Dask fit give ``fit``'s result bit for bit.

    Parameters
    ----------
    copy : bool, default=True
        False scales a float array (or a sparse matrix's data) in place in
        ``transform`` and ``inverse_transform``.
    clip : bool, default=False
        Clip the transformed values to ``[-1, 1]`` (for later data beyond
        the range seen in fit; scikit-learn 1.9's ``clip``).

    Attributes
    ----------
    max_abs_ : array of shape (n_features,)
        Per-feature maximum absolute value (NaNs and rows of weight 0
        ignored; NaN for a feature never observed), in the fitting namespace
        and on its device, float64 where the device has it.
    scale_ : array of shape (n_features,)
        ``max_abs_``, with 1 for features that are all zero.
    n_samples_seen_ : int
        Number of rows seen.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X had string column names.

    See Also
    --------
    sklearn.preprocessing.MaxAbsScaler : the scikit-learn equivalent.
    Robust : scale by a quantile range, robust to outliers.
    MinMax : map each feature to a given range.

    Notes
    -----
    ``y = x / scale_``, ``scale_ = max_i |x_i|``.  A feature is all zero
    only when its maximum is exactly 0: there is no absolute floor (a
    feature of magnitude 1e-20 is scaled like one of magnitude 1, where
    scikit-learn leaves features below ``10 * eps`` unscaled), so the map
    does not depend on the units.

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm import MaxAbs
    >>> X = np.array([[1.0, -2.0, 0.0], [2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    >>> scaler = MaxAbs().fit(X)
    >>> scaler.max_abs_
    array([2., 2., 0.])
    >>> scaler.transform(X)
    array([[ 0.5, -1. ,  0. ],
           [ 1. ,  0. ,  0. ],
           [ 0. ,  0.5,  0. ]])

    Sparse input stays sparse:

    >>> import scipy.sparse as sp
    >>> MaxAbs().fit_transform(sp.csr_matrix(X)).format
    'csr'
    """

    _parameter_constraints: dict = {"copy": ["boolean"], "clip": ["boolean"]}
    _anchor_ = "max_abs_"
    _accept_sparse = ("csr", "csc")
    # The min/max kernel finds infinity in its own pass.
    _finiteness_check = "kernel"

    def __init__(self, *, copy=True, clip=False):
        self.copy = copy
        self.clip = clip

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Compute the per-feature maximum absolute value.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data (any Array API array, NumPy/pandas/polars or SciPy
            sparse); NaNs are ignored.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Rows of weight 0 are ignored; other weights do not change a
            maximum.

        Returns
        -------
        self : MaxAbs
            The fitted estimator.
        """
        return self._fit(X, sample_weight)

    @partial_fit_context
    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the maximum absolute values with one batch of rows.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            One batch; later batches must have the same features, namespace
            and device.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Rows of weight 0 are ignored.

        Returns
        -------
        self : MaxAbs
            The updated estimator (unchanged if this call raised).
        """
        return self._partial_fit(X, sample_weight)

    # ------------------------------------------------------------------
    def _batch_min_max(self, X, sample_weight):
        X = _without_zero_weights(X, sample_weight)
        if sp.issparse(X):
            return _sparse_min_max(X)
        return min_max_of_batch(X)

    def _updated_state(self, X, xp, device, sample_weight, method):
        batch = self._batch_min_max(X, sample_weight)
        state = merge_min_max(self.__dict__.get("_min_max_"), batch)
        n_rows = self.__dict__.get("n_samples_seen_", 0) + X.shape[0]
        if xp is None:  # sparse: the state of a NumPy fit
            xp = namespace_of(state.min)
        return self._fitted_state(
            Statistics((state,), n_rows, False), xp, device, self.n_features_in_
        )

    # Mergeable statistics (merge, Dask): the extremes.
    def _not_mergeable(self):
        return None

    def _statistic_types(self):
        return (MinMaxState,)

    def _batch_statistics(self, X, xp, device, sample_weight):
        return (self._batch_min_max(X, sample_weight),)

    def _merge_statistics(self, a, b):
        return (merge_min_max(a[0], b[0]),)

    def _statistics(self, method):
        return Statistics((self._min_max_,), self.n_samples_seen_, False)

    def _fitted_state(self, statistics, xp, device, n_features):
        (state,) = statistics.states
        dtype = accumulation_dtype(xp, device)
        lo = xp.astype(state.min, dtype, copy=False)
        hi = xp.astype(state.max, dtype, copy=False)
        # NaN-aware: NaN (nothing observed) stays NaN.
        max_abs = xp.where(xp.abs(lo) > xp.abs(hi), xp.abs(lo), xp.abs(hi))
        return {
            "_min_max_": state,
            "n_samples_seen_": statistics.n_rows,
            "max_abs_": max_abs,
        }

    @property
    def scale_(self):
        """``max_abs_``, 1 for features that are all zero."""
        if not self._is_fitted():
            raise AttributeError(
                f"'{type(self).__name__}' object has no attribute 'scale_'"
            )
        max_abs = self.max_abs_
        xp = namespace_of(max_abs)
        return xp.where(max_abs == 0, xp.ones_like(max_abs), max_abs)

    def _affine_terms(self, X, xp):
        return None, 1.0 / self.scale_, None

    def _inverse_affine_terms(self, X, xp):
        return None, self.scale_, None

    def _postprocess(self, Y, xp):
        return clipped_in_place(Y, xp, -1.0, 1.0) if self.clip else Y

    def _transform_sparse(self, X, copy):
        X = X.copy() if copy else X
        inplace_column_scale(X, 1.0 / self.scale_)
        if self.clip:
            np.clip(X.data, -1.0, 1.0, out=X.data)
        return X

    def _inverse_transform_sparse(self, X, copy):
        X = X.copy() if copy else X
        inplace_column_scale(X, self.scale_)
        return X
