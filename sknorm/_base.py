"""Machinery shared by every estimator: the estimators themselves stay thin.

* ``fit`` = reset + one update; ``partial_fit`` = one update.
* Updates are transactional: the new fitted state is computed first and
  assigned last; if anything raises, the estimator's ``__dict__`` is restored
  to exactly what it was (bit-identical arrays, same objects).
* Transforms of the per-feature normalizers are one affine map
  ``(X - center) * scale + offset`` evaluated by the backend's kernel; the
  inverse is the inverse map.
* Fitted statistics are mergeable (:class:`~sknorm._stats.Statistics`):
  :meth:`BaseNormalizer.merge` combines two fitted estimators, and the Dask
  layer (:mod:`sknorm._dask`, imported only when a Dask collection is
  passed) fits chunk by chunk with the same hooks.
"""

from __future__ import annotations

import functools

import array_api_compat.numpy
import numpy as np
from sklearn.base import (
    BaseEstimator,
    OneToOneFeatureMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import check_is_fitted

from . import _channels as channels
from ._array_api import (
    accumulation_dtype,
    check_same_namespace,
    detached,
    is_numpy_namespace,
    requires_grad,
)
from ._callbacks import CallbackSupport, fit_task, has_callbacks
from ._channels.routing import ChannelRouting
from ._dask.routing import dask_aware_output, lazy_on_dask
from ._dask.routing import updated as dask_updated
from ._display import ReprWithoutComputing
from ._kernels import NonFiniteError, kernels_for, transforms_check_finiteness
from ._merging import Mergeable
from ._move import ArrayConversion
from ._stats import (
    Moments,
)
from ._validation import call_prefix, validate_sample_weight, validate_X

__all__ = [
    "AffineNormalizer",
    "BaseNormalizer",
    "MomentStatistics",
    "clipped_in_place",
    "partial_fit_context",
]


def _may_alias(original, validated):
    """Whether writing into ``validated`` could change the caller's data."""
    if validated is original:
        return True
    if isinstance(original, np.ndarray) and isinstance(validated, np.ndarray):
        return np.may_share_memory(original, validated)
    # Lists and Array API arrays are converted into new memory when they are
    # converted at all; frames may hand out views of their blocks.
    return not isinstance(original, list | tuple)


def needs_copy(copy, original, validated):
    """Whether a transform must write into new memory.

    With ``copy=True`` when writing into ``validated`` could change the
    caller's data; and always when ``validated`` is read-only (a ``copy=False``
    request on a read-only array is honoured the way scikit-learn's is: the
    result goes to new memory instead of failing) or a tensor that requires
    grad (the output then stays differentiable with respect to it).
    """
    if isinstance(validated, np.ndarray) and not validated.flags.writeable:
        return True
    if requires_grad(validated):
        # Written in place, a tensor autograd records would lose (a leaf:
        # refuse) the graph of the output: new memory, as for read-only.
        return True
    return bool(copy) and _may_alias(original, validated)


def clipped_in_place(Y, xp, lo, hi):
    """``Y`` clipped to ``[lo, hi]`` in place: Y is either a transform
    kernel's own output or, with ``copy=False``, the caller's array, which
    must end up clipped too (a torch tensor that requires grad is clipped
    into a new one: autograd needs clip's input intact)."""
    if is_numpy_namespace(xp):
        return np.clip(Y, lo, hi, out=Y)
    if requires_grad(Y):
        return xp.clip(Y, lo, hi)
    Y[...] = xp.clip(Y, lo, hi)
    return Y


def _namespace_probe(X, xp):
    """What stands for ``X`` in the same-namespace check: SciPy sparse
    matrices live in NumPy on the CPU."""
    return X if xp is not None else np.empty((0, 0))


def _name_the_call(method):
    """Prefix scikit-learn's parameter errors with ``"Estimator.method(): "``.

    ``_fit_context`` validates ``_parameter_constraints`` before the method
    body runs, with a message that names the estimator but not the call;
    this keeps the type (``InvalidParameterError``, which scikit-learn's
    checks expect) and adds the call.
    """
    name = method.__name__

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except InvalidParameterError as exc:
            prefix = call_prefix(self, name)
            if str(exc).startswith(prefix):
                raise
            raise InvalidParameterError(prefix + str(exc)) from exc

    wrapper._sknorm_named_call = True
    return wrapper


class MomentStatistics:
    """The mergeable statistics of the moment-based estimators (ZScore,
    MiniBatchNormalizer): one batch's shifted moments."""

    def _statistic_types(self):
        return (Moments,)

    def _batch_statistics(self, X, xp, device, sample_weight):
        dtype = accumulation_dtype(xp, device)
        # Per channel for N-D input (a Dask chunk with a channel_axis).
        return (self._batch_moments(X, sample_weight, dtype),)


def partial_fit_context(partial_fit):
    """scikit-learn's ``_fit_context(prefer_skip_nested_validation=True)``
    around a ``partial_fit``, skipped on the calls where it has nothing to do.

    On a fitted estimator without callbacks (neither its own nor a
    meta-estimator's context) scikit-learn's wrapper validates no parameter
    (once per stream is its rule too), tears down no callback, and sets
    ``skip_parameter_validation`` for nested calls, of which sknorm's
    ``partial_fit`` makes none (it calls no function of scikit-learn's that
    validates its parameters).  That costs ~8 µs per call (two
    ``set_config`` calls, its own fitted check): a third of a small batch's
    whole call.  Such calls go straight to the method; every other call (the
    first of a stream, a stream with callbacks) goes through scikit-learn's
    wrapper.
    """
    checked = _fit_context(prefer_skip_nested_validation=True)(partial_fit)

    @functools.wraps(partial_fit)
    def wrapper(self, *args, **kwargs):
        if self._is_fitted() and not has_callbacks(self):
            return partial_fit(self, *args, **kwargs)
        return checked(self, *args, **kwargs)

    return wrapper


class _Transaction:
    """:meth:`BaseNormalizer._transaction` (a class: entered on every
    ``partial_fit``, where a generator-based context manager costs µs)."""

    __slots__ = ("estimator", "method", "saved")

    def __init__(self, estimator, method):
        self.estimator, self.method = estimator, method

    def __enter__(self):
        self.saved = dict(self.estimator.__dict__)

    def __exit__(self, kind, exc, traceback):
        if kind is None:
            return False
        state = self.estimator.__dict__
        state.clear()
        state.update(self.saved)
        if isinstance(exc, NonFiniteError):
            prefix = call_prefix(self.estimator, self.method)
            raise ValueError(prefix + str(exc)) from exc
        return False


class BaseNormalizer(
    Mergeable,
    ChannelRouting,
    CallbackSupport,
    ArrayConversion,
    ReprWithoutComputing,
    TransformerMixin,
    BaseEstimator,
):
    """Fit / partial_fit / transform plumbing of every sknorm estimator.

    The hooks a subclass defines, and those this class gives the layers,
    are the estimator contract, written down once in
    :mod:`sknorm._contract`.  Merging (:class:`~sknorm._merging.Mergeable`)
    and the routing of statistics by ``channel_axis``
    (:class:`~sknorm._channels.routing.ChannelRouting`) are mixed in from
    modules of their own; Dask input goes to :mod:`sknorm._dask.routing`.

    ``fit`` and ``partial_fit`` defined by a subclass are wrapped so that a
    parameter error raised by ``_fit_context`` names the call too.  Each
    public fitting call reports itself to scikit-learn's callbacks as one
    task (:meth:`_fit_task`).
    """

    _anchor_ = None
    _allow_nan = True
    _accept_sparse = False
    # "kernel": fit/partial_fit leave the search for infinite values in dense
    # NumPy input to the NumPy kernel's own pass (see validate_X).
    _finiteness_check = "validate"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)  # scikit-learn's set_output wrap
        for name in ("transform", "fit_transform"):
            if name in cls.__dict__:
                setattr(cls, name, dask_aware_output(cls.__dict__[name]))
        for name in ("fit", "partial_fit"):
            method = cls.__dict__.get(name)
            if callable(method) and not getattr(method, "_sknorm_named_call", False):
                setattr(cls, name, _name_the_call(method))

    def _check_call(self, X, method):
        """Parameter/input-kind checks run before validation (default: none)."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.array_api_support = True
        tags.input_tags.allow_nan = self._allow_nan
        tags.input_tags.sparse = bool(self._accept_sparse)
        # float16 is kept too (computed in float32, rounded once), as
        # scikit-learn's scalers keep it.
        tags.transformer_tags.preserves_dtype = ["float64", "float32", "float16"]
        return tags

    # ------------------------------------------------------------- fitting
    def _reset(self):
        fitted = [k for k in vars(self) if k.endswith("_") and not k.startswith("__")]
        for key in fitted:
            delattr(self, key)

    def _is_fitted(self):
        return self._anchor_ is not None and hasattr(self, self._anchor_)

    def _transaction(self, method):
        """All-or-nothing changes to the fitted state (a context manager).

        Everything assigned to ``self`` inside the block stays only if the
        block completes; if anything raises, ``__dict__`` is restored to the
        very objects it held before (bit-identical fitted arrays).  A
        non-finite value found by a kernel becomes the usual prefixed
        ``ValueError``.
        """
        return _Transaction(self, method)

    def _validated_batch(self, X, sample_weight, *, method, reset):
        """Check one training batch: ``(X, xp, device, sample_weight)``.

        Runs ``_check_call``, ``validate_X`` (which records
        ``n_features_in_`` when ``reset``), the same-namespace check against
        the fitted state, and puts ``sample_weight`` in X's namespace in the
        accumulation dtype.  Call it inside :meth:`_transaction`.
        """
        self._check_call(X, method)
        # Statistics of the values, never of an autograd graph.
        X, sample_weight = detached(X), detached(sample_weight)
        X, xp, device = self._validated_input(
            X,
            method=method,
            reset=reset,
            finiteness_check=self._finiteness_check,
            record=True,
        )
        if not reset and self._is_fitted():
            check_same_namespace(
                self, method, _namespace_probe(X, xp), getattr(self, self._anchor_)
            )
        if sample_weight is not None:
            w_xp = xp if xp is not None else array_api_compat.numpy
            # Weights are accumulated with the data: in float64 where the
            # device has it, whatever X's dtype (float32 weights would round
            # every weight to 7 digits).
            sample_weight = validate_sample_weight(
                self,
                method,
                sample_weight,
                X,
                w_xp,
                device,
                accumulation_dtype(w_xp, device),
            )
        return X, xp, device, sample_weight

    def _fit_task(
        self, method, X, sample_weight, max_subtasks=0, sequential_subtasks=True
    ):
        """The callbacks' root task of one public fitting call.

        Open it once per public call, after validation and inside
        :meth:`_transaction` (a failing call then tears its callbacks down
        before the state is restored); end it once the new state is
        assigned.  A fit over pieces (batches, chunks) reports each with
        ``task.subtask(...)``: see :mod:`sknorm._callbacks`.
        """
        return fit_task(
            self,
            method,
            X=X,
            sample_weight=sample_weight,
            max_subtasks=max_subtasks,
            sequential_subtasks=sequential_subtasks,
        )

    def _validated_input(
        self, X, *, method, reset, finiteness_check, record, columns=None
    ):
        """:func:`validate_X`, or its N-D counterpart for an estimator with a
        ``channel_axis`` (``record``: a training call, which may record the
        layout of an estimator built from a state dict)."""
        if channels.applies(self, reset):
            return channels.validate_X(
                self,
                X,
                method=method,
                reset=reset,
                allow_nan=self._allow_nan,
                finiteness_check=finiteness_check,
                record=record,
            )
        return validate_X(
            self,
            X,
            method=method,
            reset=reset,
            allow_nan=self._allow_nan,
            accept_sparse=self._accept_sparse,
            columns=columns,
            finiteness_check=finiteness_check,
        )

    def _update(self, X, sample_weight, *, method, reset):
        fitted = dask_updated(self, X, sample_weight, method=method, reset=reset)
        if fitted is not None:
            return fitted
        with self._transaction(method):
            X, xp, device, sample_weight = self._validated_batch(
                X, sample_weight, method=method, reset=reset
            )
            with self._fit_task(method, X, sample_weight) as task:
                self.__dict__.update(
                    self._updated_state(X, xp, device, sample_weight, method)
                )
                task.end()
        return self

    def _fit(self, X, sample_weight):
        self._reset()
        return self._update(X, sample_weight, method="fit", reset=True)

    def _partial_fit(self, X, sample_weight):
        return self._update(
            X, sample_weight, method="partial_fit", reset=not self._is_fitted()
        )

    # ----------------------------------------------------------- transform
    def _check_transform_input(
        self, X, method, copy, columns=None, *, kernel_checks=True
    ):
        """Validated X, its namespace, and whether the kernel must copy.

        ``columns``: see :func:`validate_X` (inverse of a dimension
        reduction).  The finiteness check of device arrays is left to the
        transform kernel where it can do it (:meth:`_transform_kernel`);
        a transform that computes without it (``kernel_checks=False``)
        has validation check the values."""
        fitted = self._is_fitted()
        if not fitted and self.__sklearn_tags__().requires_fit:
            check_is_fitted(self)
        self._check_call(X, method)
        validated, xp, _ = self._validated_input(
            X,
            method=method,
            reset=False,
            finiteness_check="transform" if kernel_checks else "validate",
            record=False,
            columns=columns,
        )
        if fitted:
            check_same_namespace(
                self,
                method,
                _namespace_probe(validated, xp),
                getattr(self, self._anchor_),
            )
        must_copy = needs_copy(copy, X, validated)
        return validated, xp, must_copy

    def _transform_kernel(self, xp, method, name, *args):
        """``kernels_for(xp).<name>(*args)`` for a transform whose input was
        validated by :meth:`_check_transform_input`: the kernel checks X for
        non-finite values where validation left that to it, and its error
        names the call.  N-D input: :mod:`sknorm._channels`' kernel of that
        name, along the channel axis."""
        layout = self._channel_layout(args[0])
        if layout is not None:
            check = None
            if channels.channel_transforms_check_finiteness(xp):
                check = "inf" if self._allow_nan else "nonfinite"
            try:
                return getattr(channels, name)(*args, layout=layout, check=check)
            except NonFiniteError as exc:
                raise ValueError(call_prefix(self, method) + str(exc)) from exc
        kernel = getattr(kernels_for(xp), name)
        if not transforms_check_finiteness(xp):
            return kernel(*args)
        try:
            return kernel(*args, check="inf" if self._allow_nan else "nonfinite")
        except NonFiniteError as exc:
            raise ValueError(call_prefix(self, method) + str(exc)) from exc


# TransformerMixin's fit_transform, inherited by every estimator.
BaseNormalizer.fit_transform = dask_aware_output(BaseNormalizer.fit_transform)


class AffineNormalizer(OneToOneFeatureMixin, BaseNormalizer):
    """A per-feature normalizer ``y = (x - center) * scale + offset``.

    Subclasses define ``_affine_terms(X, xp)`` returning ``(center, scale,
    offset)`` (any may be None) and, optionally, ``_inverse_affine_terms``
    (which may add a fourth term, a scale applied to the result: MinMax's
    two-step inverse of ranges wider than the float range) and
    ``_postprocess(Y, xp)`` (MinMax's clipping).
    """

    def _affine_terms(self, X, xp):  # pragma: no cover - abstract
        raise NotImplementedError

    def _postprocess(self, Y, xp):
        return Y

    def _resolved_copy(self, copy):
        if copy is not None:
            return copy
        return getattr(self, "copy", True)

    @lazy_on_dask
    def transform(self, X, copy=None):
        """Normalize ``X`` with the fitted per-feature affine map.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            (or ``(n_samples, ..., n_channels, ...)`` with ``channel_axis``)
            Data in the namespace and on the device the estimator was fitted
            on.
        copy : bool, default=None
            False normalizes a float array in place; None uses the
            estimator's ``copy`` parameter (True when it has none).

        Returns
        -------
        X_new : array of X's shape
            Same namespace, device and float dtype as ``X``.
        """
        copy = self._resolved_copy(copy)
        X, xp, must_copy = self._check_transform_input(X, "transform", copy)
        if xp is None:
            return self._transform_sparse(X, must_copy)
        center, scale, offset = self._affine_terms(X, xp)
        Y = self._transform_kernel(
            xp, "transform", "affine", X, center, scale, offset, must_copy
        )
        return self._postprocess(Y, xp)

    @lazy_on_dask
    def inverse_transform(self, X, copy=None):
        """Map normalized data back to the original feature space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            (or ``(n_samples, ..., n_channels, ...)`` with ``channel_axis``)
            Normalized data.
        copy : bool, default=None
            False works in place on a float array; None uses the estimator's
            ``copy`` parameter (True when it has none).

        Returns
        -------
        X_original : array of X's shape
        """
        copy = self._resolved_copy(copy)
        X, xp, must_copy = self._check_transform_input(X, "inverse_transform", copy)
        if xp is None:
            return self._inverse_transform_sparse(X, must_copy)
        center, scale, offset, *then = self._inverse_affine_terms(X, xp)
        X_back = self._transform_kernel(
            xp, "inverse_transform", "affine", X, center, scale, offset, must_copy
        )
        if then:  # a second step: the result scaled in place
            X_back = self._affine_map(xp, X_back, None, then[0], None, False)
        return X_back

    def _inverse_affine_terms(self, X, xp):
        """``(center, scale, offset)`` of the inverse map, for the same kernel:
        ``x = (y - offset) * (1 / scale) + center``, optionally followed by a
        fourth term, a scale the result is multiplied by.  Subclasses that
        hold the reciprocal of their scale (ZScore divides by ``scale_``)
        override it to avoid rounding a reciprocal of a reciprocal."""
        center, scale, offset = self._affine_terms(X, xp)
        return offset, None if scale is None else 1.0 / scale, center

    def _transform_sparse(self, X, copy):  # pragma: no cover - dense-only
        raise TypeError(f"{type(self).__name__} does not accept sparse input.")

    _inverse_transform_sparse = _transform_sparse
