"""Quantile: map each feature through its empirical distribution."""

from __future__ import annotations

import warnings
from numbers import Integral

import numpy as np
import scipy.sparse as sp
from sklearn.base import OneToOneFeatureMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions

from .._array_api import namespace_of
from .._base import BaseNormalizer, partial_fit_context
from .._dask.routing import lazy_on_dask
from .._naming import published_as
from .._validation import call_prefix
from . import quantile_map
from .quantile_statistics import QuantileStatistics

__all__ = ["Quantile"]


def _references(n_quantiles):
    return np.linspace(0, 1, n_quantiles, endpoint=True)


@published_as("sknorm")
class Quantile(QuantileStatistics, OneToOneFeatureMixin, BaseNormalizer):
    """Map each feature through its empirical distribution to a uniform or a
    normal one.

    A drop-in for :class:`sklearn.preprocessing.QuantileTransformer` with
    ``subsample=None``: an in-memory ``fit`` computes the exact quantiles of
    all the rows (scikit-learn's default subsamples 10,000 rows, whose
    quantiles are off by about 1e-2 in rank on a million rows), and
    ``transform`` is scikit-learn's map, number for number.  It also streams:
    ``partial_fit``, :meth:`merge` and Dask fits keep a mergeable quantile
    summary per feature whose quantiles are certified, each within
    ``rank_error_`` (at most ``rank_error``) of its rank in all the data
    seen.  Runs on any Array API backend with the fitted state on the
    input's device.

    Parameters
    ----------
    n_quantiles : int, default=1000
        Number of quantiles (the points of the piecewise-linear map); at
        least 2.  A fit of fewer rows uses one quantile per row (with a
        warning, as scikit-learn).
    output_distribution : {"uniform", "normal"}, default="uniform"
        The distribution of the transformed data.
    ignore_implicit_zeros : bool, default=False
        For sparse input: the quantiles of the stored values only (the
        implicit zeros are then missing values, and negative values are
        accepted), as scikit-learn's.  No effect on dense input (a warning
        says so).
    rank_error : float, default=1e-3
        The largest rank error a summary (streams, merges, Dask) may reach,
        in (0, 0.5).
    copy : bool, default=True
        False transforms a float array in place.

    Attributes
    ----------
    n_quantiles_ : int
        The number of quantiles used: ``min(n_quantiles, rows seen)`` (with
        ``sample_weight``: the rows the weights count, the largest over the
        features of the total weight and of the entries observed).
    quantiles_ : array of shape (`n_quantiles_`, n_features)
        The values of the quantiles (NaNs ignored), one column per feature,
        float64 where the device has it.
    references_ : ndarray of shape (`n_quantiles_`,)
        The quantile levels, ``linspace(0, 1, n_quantiles_)``.
    rank_error_ : float
        The certified rank error of ``quantiles_``: 0.0 for an in-memory fit
        (and while a summary still holds every value).
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
    sklearn.preprocessing.QuantileTransformer : the scikit-learn equivalent.
    Robust : centre on the median, scale by a quantile range.

    Notes
    -----
    ``quantiles_[i]`` is the ``references_[i]`` quantile by NumPy's
    ``linear`` interpolation between order statistics
    (``np.nanpercentile``); with ``sample_weight`` a weight counts rows (a
    weight of 2 is the row twice), and weights that average below 1 are
    first scaled to average 1.  ``transform`` interpolates linearly between
    the quantiles (forward and backward, averaged, so that repeated
    quantiles map to the middle of their references), then applies the
    normal distribution's quantile function for ``"normal"`` output,
    clipped at ``norm.ppf(1e-7 - spacing(1))`` and its mirror.  Sparse input
    (non-negative) counts its implicit zeros, and only its stored values
    are transformed, as scikit-learn does.  A certified rank error ``e``
    bounds the uniform output: a value's output is within ``e + 1 /
    (n_quantiles_ - 1) + 1 / n`` of its rank in the data (the last two
    terms are the interpolation between quantiles and between order
    statistics, which the exact fit has too).

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm import Quantile
    >>> X = np.array([[0.0], [1.0], [2.0], [10.0], [100.0]])
    >>> q = Quantile(n_quantiles=5).fit(X)
    >>> q.quantiles_.ravel()
    array([  0.,   1.,   2.,  10., 100.])
    >>> q.transform(np.array([[1.5], [55.0]])).ravel()
    array([0.375, 0.875])

    Normal output, and back:

    >>> qn = Quantile(n_quantiles=5, output_distribution="normal").fit(X)
    >>> Z = qn.transform(X)
    >>> bool(np.allclose(qn.inverse_transform(Z), X))
    True
    """

    _parameter_constraints: dict = {
        "n_quantiles": [Interval(Integral, 2, None, closed="left")],
        "output_distribution": [StrOptions({"uniform", "normal"})],
        "ignore_implicit_zeros": ["boolean"],
        "rank_error": QuantileStatistics._rank_error_constraint,
        "copy": ["boolean"],
    }
    _accept_sparse = ("csc", "csr")
    _finiteness_check = "validate"

    def __init__(
        self,
        *,
        n_quantiles=1000,
        output_distribution="uniform",
        ignore_implicit_zeros=False,
        rank_error=1e-3,
        copy=True,
    ):
        self.n_quantiles = n_quantiles
        self.output_distribution = output_distribution
        self.ignore_implicit_zeros = ignore_implicit_zeros
        self.rank_error = rank_error
        self.copy = copy

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Compute the quantiles of every feature, exactly.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data (any Array API array, NumPy/pandas/polars, or a
            non-negative SciPy sparse matrix); NaNs are ignored.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row, counting rows.

        Returns
        -------
        self : Quantile
            The fitted estimator.
        """
        if self.ignore_implicit_zeros and not sp.issparse(X):
            warnings.warn(
                "'ignore_implicit_zeros' takes effect only with sparse matrix. "
                "This parameter has no effect.",
                UserWarning,
                stacklevel=2,
            )
        self._fit(X, sample_weight)
        if self.n_quantiles > self.n_quantiles_:
            warnings.warn(
                f"n_quantiles ({self.n_quantiles}) is greater than the total "
                f"number of samples ({self.n_quantiles_}). n_quantiles is "
                "set to n_samples.",
                UserWarning,
                stacklevel=2,
            )
        return self

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
        self : Quantile
            The updated estimator (unchanged if this call raised).
        """
        return self._partial_fit(X, sample_weight)

    def _check_call(self, X, method):
        if method in ("fit", "partial_fit"):
            self._check_rank_error(method)
            n = self.n_quantiles
            if not (isinstance(n, Integral) and not isinstance(n, bool) and n >= 2):
                raise ValueError(
                    call_prefix(self, method) + f"n_quantiles must be an integer >= 2; "
                    f"got {n!r}."
                )

    def _validated_input(self, X, *, method, **kwargs):
        validated = super()._validated_input(X, method=method, **kwargs)
        X = validated[0]
        checked = method != "inverse_transform" and not self.ignore_implicit_zeros
        if sp.issparse(X) and checked:
            with np.errstate(invalid="ignore"):  # NaN compares False
                negative = bool(np.any(X.data < 0))
            if negative:
                raise ValueError(
                    call_prefix(self, method) + f"{type(self).__name__} only accepts "
                    "non-negative sparse matrices (its implicit zeros are "
                    "the smallest values); shift the data, pass a dense "
                    "array, or set ignore_implicit_zeros=True."
                )
        return validated

    def _levels(self, n_rows, weighted):
        # At most one quantile per row; weighted data counts the rows its
        # weights stand for (read from the summary when first needed).
        return (int(self.n_quantiles), None if weighted else n_rows)

    # ------------------------------------------------------------------
    @property
    def n_quantiles_(self):
        """``min(n_quantiles, rows seen)`` (weighted: the rows the weights
        count)."""
        return len(self._fitted_lazy("n_quantiles_").phis)

    @property
    def references_(self):
        """The quantile levels: ``linspace(0, 1, n_quantiles_)``."""
        return _references(len(self._fitted_lazy("references_").phis))

    @property
    def quantiles_(self):
        """``(n_quantiles_, n_features)``: the quantiles of every feature."""
        quantiles = self._fitted_quantiles("quantiles_")
        xp = namespace_of(quantiles)
        return xp.permute_dims(quantiles, (1, 0))

    def _fitted_lazy(self, name):
        lazy = self.__dict__.get("_quantiles_")
        if lazy is None:
            raise AttributeError(
                f"{type(self).__name__} has no attribute {name!r} before fit "
                "or partial_fit."
            )
        return lazy

    @lazy_on_dask
    def transform(self, X, copy=None):
        """Map each feature through its quantiles to the output distribution.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data in the namespace and on the device the estimator was fitted
            on; NaNs stay NaN.
        copy : bool, default=None
            False transforms a float array in place; None uses the
            estimator's ``copy``.

        Returns
        -------
        X_new : array of X's shape
            Same namespace, device and float dtype as ``X``; sparse input
            gives a sparse matrix of its format.
        """
        return self._map(X, copy, "transform", quantile_map.forward)

    @lazy_on_dask
    def inverse_transform(self, X, copy=None):
        """Map transformed data back to the features' distribution.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data in the output distribution.
        copy : bool, default=None
            False works in place on a float array.

        Returns
        -------
        X_original : array of X's shape
        """
        return self._map(X, copy, "inverse_transform", quantile_map.inverse)

    def _map(self, X, copy, method, direction):
        copy = self.copy if copy is None else copy
        # The quantile maps are no _transform_kernel: validation checks X.
        validated, xp, must_copy = self._check_transform_input(
            X, method, copy, kernel_checks=False
        )
        quantiles = self.quantiles_
        references = self.references_
        distribution = self.output_distribution
        if xp is None:  # sparse: the stored values only
            out = validated.tocsc(copy=must_copy)
            for j in range(out.shape[1]):
                lo, hi = out.indptr[j], out.indptr[j + 1]
                column = out.data[lo:hi].reshape(-1, 1)
                q = quantiles[:, j : j + 1]
                out.data[lo:hi] = direction(column, q, references, distribution)[:, 0]
            return out.asformat(validated.format)
        Y = direction(validated, quantiles, references, distribution)
        Y = xp.astype(Y, validated.dtype)
        if must_copy:
            return Y
        validated[...] = Y
        return validated
