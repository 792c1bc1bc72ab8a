"""The estimator contract: every hook the layers call, written down once.

An sknorm estimator is a :class:`~sknorm._base.BaseNormalizer` that defines
(or inherits a default for) each member of :class:`Normalizer` below; the
layers -- :mod:`sknorm._base` (``fit``, ``partial_fit``, the transforms),
:mod:`sknorm._merging` (``merge``), :mod:`sknorm._channels` (N-D input) and
:mod:`sknorm._dask` (Dask collections) -- call nothing else of an
estimator's private API.  ``tests/test_contract.py`` checks both sides:
every public estimator has every member, and the Dask layer calls only
members of the contract.

Who defines what
----------------

====================================  ===================================
member                                defined by
====================================  ===================================
``_anchor_``                          the estimator (name of a fitted
                                      array)
``_allow_nan``, ``_accept_sparse``    the estimator (what validation
                                      takes)
``_finiteness_check``                 the estimator ("kernel": its NumPy
                                      kernel finds infinity itself)
``_merge_params``                     the estimator (parameters two
                                      merged estimators share)
``_reset``, ``_is_fitted``            ``BaseNormalizer`` (overridable)
``_check_call``                       the estimator, optional
``_statistic_types``,                 the estimator (empty defaults in
``_batch_statistics``,                :class:`~sknorm._merging.Mergeable`;
``_merge_statistics``,                the moments' in
``_statistics``, ``_fitted_state``    ``_base.MomentStatistics``)
``_not_mergeable``                    the estimator that refuses
                                      ``merge`` (default: None)
``_check_fit_shape``,                 ``BaseNormalizer`` defaults for
``_output_width``,                    one-to-one transforms; the
``_inverse_columns``,                 estimator where its output differs
``_prepare_transform``                (``ZCAWhitening``)
``_transaction``, ``_fit_task``,      ``BaseNormalizer``, for the layers
``_merged_statistics``
====================================  ===================================

Besides, ``BaseNormalizer._update`` (the ``fit``/``partial_fit`` of one
batch) asks the estimator for ``_updated_state(X, xp, device,
sample_weight, method)``, the fitted attributes after the validated batch
``X``; an estimator whose fit takes several steps (``MiniBatchNormalizer``:
one per mini-batch) routes its fitting calls itself and defines none.

All hooks that compute statistics are pure: they return new states or
attribute dicts and assign nothing (the caller assigns inside
``_transaction``, which is what keeps a failing call from changing the
fitted state).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["MEMBERS", "Normalizer"]


@runtime_checkable
class Normalizer(Protocol):
    """The hooks of an sknorm estimator (see the module docstring)."""

    # ---------------------------------------------------------- declared
    #: Name of one fitted array: later input must share its namespace and
    #: device.
    _anchor_: str | None
    #: NaN accepted (and ignored in fit, kept in transform).
    _allow_nan: bool
    #: Sparse formats accepted (False: none).
    _accept_sparse: object
    #: "validate" (validation checks the values) or "kernel" (the NumPy
    #: statistics kernel finds infinity in its own pass; one pass, not two).
    _finiteness_check: str
    #: Parameters two estimators must share to be merged.
    _merge_params: tuple

    # ----------------------------------------------------------- fitting
    def _reset(self) -> None:
        """Drop the fitted state (``fit`` calls it first)."""

    def _is_fitted(self) -> bool:
        """Whether a fitted state exists (cheap: asked on every call)."""

    def _check_call(self, X, method: str) -> None:
        """Checks of the parameters and the raw input's kind, before
        validation; raise with the ``call_prefix(self, method)`` prefix."""

    # -------------------------------------- statistics (merge and Dask)
    def _statistic_types(self) -> tuple:
        """The state classes :meth:`_batch_statistics` returns, in order
        (the Dask layer packs and unpacks them)."""

    def _batch_statistics(self, X, xp, device, sample_weight) -> tuple:
        """The states of one validated batch (a Dask chunk)."""

    def _merge_statistics(self, a: tuple, b: tuple) -> tuple:
        """The states of the union of the rows of ``a`` and ``b``."""

    def _statistics(self, method: str):
        """The fitted estimator's :class:`~sknorm._stats.Statistics`."""

    def _fitted_state(self, statistics, xp, device, n_features: int) -> dict:
        """The fitted attributes derived from ``statistics`` (pure)."""

    def _not_mergeable(self) -> str | None:
        """Why ``merge`` is refused (None: it is supported)."""

    # ---------------------------------------- asked by the Dask layer
    def _check_fit_shape(self, method: str, n_features: int) -> None:
        """Checks of a training batch's width against the parameters."""

    def _output_width(self, method: str, n_columns: int) -> int:
        """Columns of ``method``'s output for ``n_columns`` input columns."""

    def _inverse_columns(self) -> int | None:
        """Columns ``inverse_transform`` expects when they are not the input
        features (None: they are)."""

    def _prepare_transform(self, method: str) -> None:
        """Compute, once, what ``method`` derives from the fitted state
        (before a frozen copy is sent to the workers)."""

    # ------------------------------------- provided to the layers
    def _transaction(self, method: str):
        """All-or-nothing changes to the fitted state (a context manager)."""

    def _fit_task(self, method: str, X, sample_weight, max_subtasks=0, **kwargs):
        """The callbacks' root task of one public fitting call."""

    def _merged_statistics(self, a, b):
        """The Statistics of the rows of ``a`` and ``b``."""


#: The names of :class:`Normalizer`'s members (its hooks and declared
#: attributes): all that the layers may use of an estimator's private API.
MEMBERS = frozenset(
    name
    for name, value in vars(Normalizer).items()
    if callable(value) and name.startswith("_") and not name.startswith("__")
) | frozenset(Normalizer.__annotations__)
