"""The statistics of the quantile estimators (``Robust``, ``Quantile``).

Both keep a :class:`~sknorm._quantile_summary.QuantileSummary` and derive
their fitted attributes from quantiles of it:

* the first batch of a fit (``fit``, or the first ``partial_fit``) is all
  the data seen: its quantiles are computed from the batch itself, exactly
  (``rank_error_ == 0``), and the summary is kept for later batches;
* after more batches, a :meth:`merge` or a Dask fit, they are the
  summary's quantiles, whose ranks are within ``rank_error_`` of their
  targets.

Reading a summary's quantiles sorts all its items, so they are computed
when first read (``transform``, or an attribute) and cached in a
:class:`LazyQuantiles` that ``partial_fit`` replaces: a stream of batches
only merges summaries.
"""

from __future__ import annotations

import math
from numbers import Real

import array_api_compat.numpy as np_compat
import numpy as np
import scipy.sparse as sp
from sklearn.utils._param_validation import Interval

from .._array_api import accumulation_dtype, is_numpy_namespace, namespace_of
from .._kernels import quantile_kernels_for
from .._kernels.quantiles import EMPTY
from .._naming import convert_array, published_as
from .._quantile_summary import (
    QuantileSummary,
    merge_summaries,
    summary_of_batch,
    summary_of_block,
    summary_quantiles,
    summary_rank_error,
)
from .._stats import Statistics
from .._validation import call_prefix

__all__ = ["LazyQuantiles", "QuantileStatistics", "quantile_grid", "sparse_block"]


def quantile_grid(n_quantiles, n_rows):
    """The levels of ``n_quantiles`` quantiles of data of ``n_rows`` rows:
    ``linspace(0, 1, min(n_quantiles, n_rows))`` as ``np.nanpercentile``
    receives them from scikit-learn's ``QuantileTransformer`` (``* 100 /
    100``)."""
    references = np.linspace(0, 1, max(1, min(n_quantiles, n_rows)), endpoint=True)
    return tuple((references * 100) / 100)


@published_as("sknorm.state", "LazyQuantiles")
class LazyQuantiles:
    """The quantiles of one fitted state, computed on first use.

    ``summary`` is the state.  ``levels`` are the quantile levels the
    fitted attributes hold: a tuple of floats, or ``(n_quantiles, n_rows)``
    for :func:`quantile_grid`, where ``n_rows`` None means "the rows the
    weights count" (the largest, over the features, of the total weight and
    the entries observed), read from the summary when first needed (a read
    of the device, never inside ``partial_fit``).  ``exact`` holds the
    quantiles already computed from the data itself (a first batch), or
    None.  The object never changes identity once assigned, so a
    ``transform`` leaves the estimator's ``__dict__`` as it was.
    """

    def __init__(self, summary, levels, exact=None):
        self.summary = summary
        self.levels = levels
        self.exact = exact is not None
        self.result = exact

    def __sklearn_array_api_convert__(self, converter):
        moved = type(self)(self.summary.__sklearn_array_api_convert__(converter), ())
        moved.levels, moved.exact = self.levels, self.exact
        moved.result = convert_array(self.result, converter)
        return moved

    @property
    def phis(self):
        """The quantile levels (a tuple of floats)."""
        levels = self.levels
        if (
            isinstance(levels, tuple)
            and len(levels) == 2
            and isinstance(levels[0], int)
        ):
            n_quantiles, n_rows = levels
            if n_rows is None:
                n_rows = _weighted_rows(self.summary)
            return quantile_grid(n_quantiles, n_rows)
        return tuple(float(p) for p in levels)

    def get(self):
        """``(n_features, len(phis))`` quantiles."""
        if self.result is None:
            self.result = summary_quantiles(self.summary, self.phis)
        return self.result

    def rank_error(self):
        """The certified rank error of :meth:`get`'s quantiles."""
        return 0.0 if self.exact else summary_rank_error(self.summary)


def _weighted_rows(summary):
    """The rows weighted data stands for: ``max(floor(W), observed)`` of the
    feature that saw most (integer weights: the repeated rows; weights
    averaging below 1: one row per observation)."""
    xp = namespace_of(summary.total)
    rows = xp.maximum(xp.floor(summary.total), summary.n_observed)
    return int(xp.max(rows)) if rows.shape[0] else 0


def sparse_block(X, sample_weight, dtype, implicit_zeros=True):
    """``(values, weights, n_observed)``: the sorted block of a SciPy sparse
    batch, per column its stored values (NaN and rows of weight 0 left out)
    and, with ``implicit_zeros``, one item ``0`` weighing the rows that store
    nothing there (scikit-learn's quantiles of a sparse column: the stored
    values and the implicit zeros, or the stored values only), and the
    entries each column observed (the zero item stands for its rows)."""
    X = X.tocsc()
    n_rows, n_features = X.shape
    w = np.ones(n_rows) if sample_weight is None else np.asarray(sample_weight)
    w = w.astype(dtype, copy=False)
    total = float(np.sum(w))
    positive = int(np.count_nonzero(w > 0))
    stored = np.diff(X.indptr)
    width = int(stored.max(initial=0)) + 1
    values = np.full((n_features, width), EMPTY, dtype=dtype)
    weights = np.zeros((n_features, width), dtype=dtype)
    n_observed = np.zeros(n_features, dtype=dtype)
    for j in range(n_features):
        lo, hi = X.indptr[j], X.indptr[j + 1]
        data = X.data[lo:hi].astype(dtype)
        row_w = w[X.indices[lo:hi]]
        keep = ~np.isnan(data) & (row_w > 0)
        k = int(keep.sum())
        values[j, :k] = data[keep]
        weights[j, :k] = row_w[keep]
        n_observed[j] = k
        # The rows with nothing stored in this column.
        zeros = total - float(np.sum(row_w))
        if implicit_zeros and zeros > 0:
            values[j, k] = 0.0
            weights[j, k] = zeros
            n_observed[j] += positive - int(np.count_nonzero(row_w > 0))
    values, weights = quantile_kernels_for(np_compat).sorted_block(values, weights)
    return values, weights, n_observed


def _is_integral(xp, sample_weight):
    """Whether every weight is an integer (unweighted data is): the summary
    is then computed in exact integer arithmetic.  Device weights are not
    inspected (a host read); they are computed in floating point."""
    if sample_weight is None:
        return True
    if not is_numpy_namespace(xp):
        return False
    w = np.asarray(sample_weight)
    return bool(np.all(w == np.floor(w)))


class QuantileStatistics:
    """The statistics contract (see :mod:`sknorm._base`) of an estimator
    whose fitted attributes are quantiles: a quantile summary.

    The estimator defines ``_levels(n_rows, weighted)``: the quantile levels
    (in [0, 1]) its attributes hold after ``n_rows`` rows, as
    :class:`LazyQuantiles` takes them.
    """

    _anchor_ = "_weight_seen_"
    _merge_params = ("rank_error",)
    _rank_error_constraint = [Interval(Real, 0, 0.5, closed="neither")]

    def _is_fitted(self):
        return "_summary_" in self.__dict__

    def _check_rank_error(self, method):
        value = self.rank_error
        ok = isinstance(value, Real) and not isinstance(value, bool)
        if not (ok and math.isfinite(value) and 0 < value < 0.5):
            raise ValueError(
                call_prefix(self, method) + f"rank_error must be a number in (0, 0.5), "
                f"the largest rank error the summary may reach (1e-3 keeps "
                f"every quantile within 0.1% of its rank); got {value!r}."
            )

    def _batch_summary(self, X, xp, device, sample_weight, levels=None):
        """``(summary, exact)``: one batch's summary and, with ``levels``
        (see :class:`LazyQuantiles`), the batch's own quantiles there."""
        dtype = accumulation_dtype(xp or np_compat, device)
        integral = _is_integral(xp or np_compat, sample_weight)

        def phis(summary):
            return LazyQuantiles(summary, levels).phis

        if not sp.issparse(X):
            return summary_of_batch(
                X,
                sample_weight,
                dtype,
                self.rank_error,
                integral,
                None if levels is None else phis,
            )
        zeros = not getattr(self, "ignore_implicit_zeros", False)
        values, weights, n_observed = sparse_block(
            X, sample_weight, dtype, implicit_zeros=zeros
        )
        summary = summary_of_block(
            values, weights, self.rank_error, integral, n_observed=n_observed
        )
        exact = None
        if levels is not None:
            exact = quantile_kernels_for(np_compat).interpolated(
                values, weights, phis(summary), n_observed=n_observed
            )
        return summary, exact

    def _updated_state(self, X, xp, device, sample_weight, method):
        previous = self.__dict__.get("_summary_")
        n_rows = self.__dict__.get("_rows_seen_", 0) + X.shape[0]
        weighted = self.__dict__.get("_weighted_", False) or sample_weight is not None
        # The first batch is all the data seen: its own quantiles are exact.
        # They are computed now for a fit, and for a first partial_fit on
        # the CPU; on a device a partial_fit leaves them to the summary (the
        # quantile levels of weighted data would need a read of the device;
        # a batch the summary holds whole gives the same exact quantiles).
        exact_now = previous is None and (
            method == "fit" or is_numpy_namespace(xp or np_compat)
        )
        levels = self._levels(n_rows, weighted) if exact_now else None
        batch, exact = self._batch_summary(X, xp, device, sample_weight, levels)
        statistics = Statistics((batch,), n_rows, weighted)
        if previous is not None:
            merged = merge_summaries(previous, batch, self.rank_error)
            statistics = Statistics((merged,), n_rows, weighted)
        return self._fitted_state(
            statistics,
            namespace_of(batch.total),
            device,
            self.n_features_in_,
            exact=exact,
        )

    # Mergeable statistics (merge, Dask): the summary.
    def _not_mergeable(self):
        return None

    def _statistic_types(self):
        return (QuantileSummary,)

    def _batch_statistics(self, X, xp, device, sample_weight):
        return (self._batch_summary(X, xp, device, sample_weight)[0],)

    def _merge_statistics(self, a, b):
        return (merge_summaries(a[0], b[0], self.rank_error),)

    def _statistics(self, method):
        return Statistics((self._summary_,), self._rows_seen_, self._weighted_)

    def _fitted_state(self, statistics, xp, device, n_features, exact=None):
        (summary,) = statistics.states
        levels = self._levels(statistics.n_rows, statistics.weighted)
        return {
            "_summary_": summary,
            "_quantiles_": LazyQuantiles(summary, levels, exact),
            "_rows_seen_": statistics.n_rows,
            "_weighted_": statistics.weighted,
            "_weight_seen_": summary.total,
        }

    # ------------------------------------------------------------------
    def _fitted_quantiles(self, name):
        """``(n_features, len(phis))``: the quantiles of the fitted state."""
        lazy = self.__dict__.get("_quantiles_")
        if lazy is None:
            raise AttributeError(
                f"{type(self).__name__} has no attribute {name!r} before fit "
                "or partial_fit."
            )
        return lazy.get()

    @property
    def rank_error_(self):
        """The certified rank error of the fitted quantiles: every quantile
        the fitted attributes hold has, in all the data seen, a rank within
        ``rank_error_`` of its target, beyond the interpolation's own slack
        (an estimate lies between two order statistics one row apart: one
        row for unweighted or integer weights, up to two rows' weight with
        fractional weights).  0.0 for a fit on in-memory data, and while
        the summary holds every value.  At most ``rank_error`` on the CPU
        (NumPy, torch's CPU tensors), where every compaction is checked;
        on a device, where that check would be a read per compaction, it
        reports the bound reached, which can exceed ``rank_error`` for a
        feature observed (or weighted) very unevenly over the stream.
        Reading it on a device reads one number back."""
        lazy = self.__dict__.get("_quantiles_")
        if lazy is None:
            raise AttributeError(
                f"{type(self).__name__} has no attribute 'rank_error_' before "
                "fit or partial_fit."
            )
        return lazy.rank_error()

    @property
    def n_samples_seen_(self):
        """Samples seen per feature, as ``ZScore`` counts them: the entries
        observed (NaN and rows of weight 0 left out), the sum of their
        weights once ``sample_weight`` was given; an int (a float) when
        every feature saw the same, else an array in the fitting namespace.
        Read from the summary on access (on a device, a read)."""
        summary = self.__dict__.get("_summary_")
        if summary is None:
            raise AttributeError(
                f"{type(self).__name__} has no attribute 'n_samples_seen_' "
                "before fit or partial_fit."
            )
        weighted = self._weighted_
        counts = summary.total if weighted else summary.n_observed
        xp = namespace_of(counts)
        lo, hi = float(xp.min(counts)), float(xp.max(counts))
        if lo == hi:
            return lo if weighted else int(lo)
        return counts if weighted else xp.astype(counts, xp.int64)
