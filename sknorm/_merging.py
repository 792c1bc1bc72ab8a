"""Merging fitted estimators: :meth:`Mergeable.merge`, and the defaults of
the statistics hooks it and the Dask layer use (see :mod:`sknorm._contract`).

``a.merge(b)`` is what ``a`` would be had it also seen ``b``'s rows: both
estimators' :class:`~sknorm._stats.Statistics` merged with the estimator's
own ``_merge_statistics``, the fitted attributes derived again with
``_fitted_state``.  Checked first, with the fitted state left bit-identical
when a check fails: same class, both fitted, the same statistic-relevant
parameters (``_merge_params``), features and namespace.
"""

from __future__ import annotations

import numpy as np

from ._array_api import array_device, check_same_namespace, namespace_of
from ._stats import Statistics
from ._validation import call_prefix

__all__ = ["Mergeable"]


def _same_parameter(a, b):
    try:
        return bool(a == b)
    except Exception:  # arrays: compare their values
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))


def _names(names):
    return "no names" if names is None else repr(list(names))


class Mergeable:
    """``merge`` and the defaults of the statistics hooks (an estimator with
    no mergeable statistics refuses ``merge``)."""

    # The statistics hooks (pure: nothing is assigned) are documented once,
    # in sknorm._contract.Normalizer; these are their defaults.
    _merge_params = ()

    def _statistic_types(self):
        return ()

    def _batch_statistics(self, X, xp, device, sample_weight):
        return ()

    def _merge_statistics(self, a, b):
        return ()

    def _statistics(self, method):
        return Statistics((), 0, False)

    def _merged_statistics(self, a, b):
        """The :class:`~sknorm._stats.Statistics` of the rows of ``a`` and
        ``b`` (``merge``, a Dask ``partial_fit``)."""
        return Statistics(
            self._merge_statistics(a.states, b.states),
            a.n_rows + b.n_rows,
            a.weighted or b.weighted,
        )

    def _fitted_state(self, statistics, xp, device, n_features):
        return {}

    # What the Dask layer asks besides (defaults for one-to-one transforms):
    def _check_fit_shape(self, method, n_features):
        """Checks of a training batch's width against the parameters."""

    def _output_width(self, method, n_columns):
        """Columns of ``method``'s output for ``n_columns`` input columns."""
        return n_columns

    def _inverse_columns(self):
        """Columns ``inverse_transform`` expects when they are not the input
        features (None: they are)."""
        return None

    def _prepare_transform(self, method):
        """Compute, once, what ``method`` derives from the fitted state."""

    def _not_mergeable(self):
        """Why ``merge`` is refused (None: it is supported)."""
        return (
            f"{type(self).__name__} keeps no statistics that two fitted "
            "estimators could combine."
        )

    def merge(self, other):
        """Add the statistics of another fitted estimator to this one.

        The result is what this estimator would be had it also seen, with
        ``partial_fit``, every row ``other`` has seen: fit parts of the data
        anywhere (processes, machines, Spark partitions, a federated
        setting), then combine.  ``other`` is not modified.

        Parameters
        ----------
        other : estimator
            A fitted estimator of the same class, with the same
            statistic-relevant parameters, the same features (count and
            names) and its fitted state in the same namespace and on the same
            device.

        Returns
        -------
        self : estimator
            The updated estimator (unchanged if this call raised).
        """
        reason = self._not_mergeable()
        if reason is not None:
            raise TypeError(call_prefix(self, "merge") + reason)
        with self._transaction("merge"):
            self._check_mergeable(other)
            mine = self._statistics("merge")
            theirs = other._statistics("merge")
            merged = self._merged_statistics(mine, theirs)
            anchor = getattr(self, self._anchor_)
            self.__dict__.update(
                self._fitted_state(
                    merged,
                    namespace_of(anchor),
                    array_device(anchor),
                    self.n_features_in_,
                )
            )
        return self

    def _check_mergeable(self, other):
        prefix = call_prefix(self, "merge")
        name = type(self).__name__
        if type(other) is not type(self):
            raise TypeError(
                prefix + f"can only merge another {name}, got {type(other).__name__}."
            )
        for est, label in ((self, "this estimator"), (other, "other")):
            if not est._is_fitted():
                raise ValueError(
                    prefix + f"{label} is not fitted; fit it (or call "
                    "partial_fit) before merging."
                )
        differ = [
            p
            for p in self._merge_params
            if not _same_parameter(getattr(self, p), getattr(other, p))
        ]
        if differ:
            shown = ", ".join(
                f"{p}={getattr(self, p)!r} vs {getattr(other, p)!r}" for p in differ
            )
            raise ValueError(
                prefix + f"the estimators were fitted with different "
                f"parameters that the statistics depend on ({shown}); merge "
                "estimators fitted with the same ones."
            )
        if self.n_features_in_ != other.n_features_in_:
            raise ValueError(
                prefix + f"other has {other.n_features_in_} features, but this "
                f"estimator has {self.n_features_in_}; merge estimators fitted "
                "on the same columns."
            )
        names = [getattr(e, "feature_names_in_", None) for e in (self, other)]
        if (names[0] is None) != (names[1] is None) or (
            names[0] is not None and list(names[0]) != list(names[1])
        ):
            raise ValueError(
                prefix + f"the feature names differ ({_names(names[0])} vs "
                f"{_names(names[1])}); merge estimators fitted on the same "
                "columns, in the same order."
            )
        check_same_namespace(
            self, "merge", getattr(other, other._anchor_), getattr(self, self._anchor_)
        )
