"""Machinery shared by every estimator: the estimators themselves stay thin.

* ``fit`` = reset + one update; ``partial_fit`` = one update.
* Updates are transactional: the new fitted state is computed first and
  assigned last; if anything raises, the estimator's ``__dict__`` is restored
  to exactly what it was (bit-identical arrays, same objects).
* Transforms of the per-feature normalizers are one affine map
  ``(X - center) * scale + offset`` evaluated by the backend's kernel; the
  inverse is the inverse map.
"""

from __future__ import annotations

import contextlib
import functools

import array_api_compat.numpy
import numpy as np
from sklearn.base import (
    BaseEstimator,
    OneToOneFeatureMixin,
    TransformerMixin,
)
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import check_is_fitted

from . import _channels as channels
from ._array_api import accumulation_dtype, check_same_namespace
from ._kernels import NonFiniteError, kernels_for, transforms_find_nonfinite
from ._stats import moments_of_batch, update_min_max, update_moments
from ._validation import validate_sample_weight, validate_X, where

__all__ = ["AffineNormalizer", "BaseNormalizer"]


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
    result goes to new memory instead of failing).
    """
    if isinstance(validated, np.ndarray) and not validated.flags.writeable:
        return True
    return bool(copy) and _may_alias(original, validated)


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
            prefix = where(self, name)
            if str(exc).startswith(prefix):
                raise
            raise InvalidParameterError(prefix + str(exc)) from exc

    wrapper._sknorm_named_call = True
    return wrapper


class BaseNormalizer(TransformerMixin, BaseEstimator):
    """Fit / partial_fit / transform plumbing of every sknorm estimator.

    Subclasses define:

    ``_reset()``
        drop the fitted state (``fit`` calls it before updating);
    ``_updated_state(X, xp, device, sample_weight, method)``
        the new fitted attributes after seeing batch ``X``, as a dict, without
        touching ``self`` (pure: this is what makes updates transactional);
    ``_anchor_``
        the name of one fitted array, used to check that later inputs live in
        the same namespace and on the same device;
    ``_allow_nan`` / ``_accept_sparse``
        what ``validate_X`` accepts;
    ``_check_call(X, method)`` (optional)
        checks that depend on the parameters and on the kind of the raw
        ``X`` (e.g. sparse input with centring), run first by ``fit``,
        ``partial_fit``, ``transform`` and ``inverse_transform``; raise with
        the ``where(self, method)`` prefix.

    ``fit`` and ``partial_fit`` defined by a subclass are wrapped so that a
    parameter error raised by ``_fit_context`` names the call too.

    Estimators with a ``channel_axis`` parameter take N-D input when it is
    set: validation, statistics and transforms then go through
    :mod:`sknorm._channels` (the ``_update_moments``, ``_batch_moments``,
    ``_update_min_max``, ``_flat_batch`` and ``_affine_map`` helpers below
    route by it; with ``channel_axis=None`` they are the 2-D functions).
    """

    _anchor_ = None
    _allow_nan = True
    _accept_sparse = False
    # "kernel": fit/partial_fit leave the search for infinite values in dense
    # NumPy input to the NumPy kernel's own pass (see validate_X).
    _finite_check = "validate"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
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
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    # ------------------------------------------------------------- fitting
    def _reset(self):
        fitted = [k for k in vars(self) if k.endswith("_") and not k.startswith("__")]
        for key in fitted:
            delattr(self, key)

    def _is_fitted(self):
        return self._anchor_ is not None and hasattr(self, self._anchor_)

    @contextlib.contextmanager
    def _transaction(self, method):
        """All-or-nothing changes to the fitted state.

        Everything assigned to ``self`` inside the block stays only if the
        block completes; if anything raises, ``__dict__`` is restored to the
        very objects it held before (bit-identical fitted arrays).  A
        non-finite value found by a kernel becomes the usual prefixed
        ``ValueError``.
        """
        saved = dict(self.__dict__)
        try:
            try:
                yield
            except NonFiniteError as exc:
                raise ValueError(where(self, method) + str(exc)) from exc
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    def _validated_batch(self, X, sample_weight, *, method, reset):
        """Check one training batch: ``(X, xp, device, sample_weight)``.

        Runs ``_check_call``, ``validate_X`` (which records
        ``n_features_in_`` when ``reset``), the same-namespace check against
        the fitted state, and puts ``sample_weight`` in X's namespace in the
        accumulation dtype.  Call it inside :meth:`_transaction`.
        """
        self._check_call(X, method)
        X, xp, device = self._validated_input(
            X, method=method, reset=reset, finite_check=self._finite_check, record=True
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

    def _validated_input(self, X, *, method, reset, finite_check, record, columns=None):
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
                finite_check=finite_check,
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
            finite_check=finite_check,
        )

    # ------------------------------------ statistics, per feature or channel
    def _channel_layout(self, X):
        """X's :class:`~sknorm._channels.Layout`, or None for 2-D input."""
        axis = getattr(self, "channel_axis", None)
        return None if axis is None else channels.layout_of(X.shape, axis)

    def _update_moments(self, state, X, sample_weight, dtype):
        """:func:`sknorm._stats.update_moments`, per channel for N-D input."""
        layout = self._channel_layout(X)
        if layout is None:
            return update_moments(state, X, sample_weight, dtype)
        return channels.update_moments(state, X, layout, sample_weight, dtype)

    def _batch_moments(self, X, sample_weight, dtype):
        """:func:`sknorm._stats.moments_of_batch`, per channel for N-D input."""
        layout = self._channel_layout(X)
        if layout is None:
            return moments_of_batch(X, sample_weight, dtype)
        return channels.batch_moments(X, layout, sample_weight, dtype)

    def _update_min_max(self, state, X):
        """:func:`sknorm._stats.update_min_max`, per channel for N-D input."""
        layout = self._channel_layout(X)
        if layout is None:
            return update_min_max(state, X)
        return channels.update_min_max(state, X, layout)

    def _flat_batch(self, X, sample_weight):
        """``(matrix, weights)`` whose columns are the features (2-D input) or
        the channels (an N-D layout that is a plain matrix of channels, see
        :func:`sknorm._channels.flat_batch`), for the 2-D fused steps; None
        when per-channel statistics need a merge of parts."""
        layout = self._channel_layout(X)
        if layout is None:
            return X, sample_weight
        return channels.flat_batch(X, layout, sample_weight)

    def _affine_map(self, xp, X, center, scale, offset, copy):
        """The affine kernel on validated X, broadcast along the channels for
        N-D input (no finiteness check: for outputs of a statistics pass)."""
        layout = self._channel_layout(X)
        if layout is None:
            return kernels_for(xp).affine(X, center, scale, offset, copy)
        return channels.affine(X, center, scale, offset, copy, layout=layout)

    def _update(self, X, sample_weight, *, method, reset):
        with self._transaction(method):
            X, xp, device, sample_weight = self._validated_batch(
                X, sample_weight, method=method, reset=reset
            )
            self.__dict__.update(
                self._updated_state(X, xp, device, sample_weight, method)
            )
        return self

    def _fit(self, X, sample_weight):
        self._reset()
        return self._update(X, sample_weight, method="fit", reset=True)

    def _partial_fit(self, X, sample_weight):
        return self._update(
            X, sample_weight, method="partial_fit", reset=not self._is_fitted()
        )

    # ----------------------------------------------------------- transform
    def _check_transform_input(self, X, method, copy, columns=None):
        """Validated X, its namespace, and whether the kernel must copy.

        ``columns``: see :func:`validate_X` (inverse of a dimension
        reduction).  The finiteness check of device arrays is left to the
        transform kernel where it can do it (:meth:`_transform_kernel`)."""
        fitted = self._is_fitted()
        if not fitted and self.__sklearn_tags__().requires_fit:
            check_is_fitted(self)
        self._check_call(X, method)
        validated, xp, _ = self._validated_input(
            X,
            method=method,
            reset=False,
            finite_check="transform",
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
            if channels.transforms_check(xp):
                check = "inf" if self._allow_nan else "nonfinite"
            try:
                return getattr(channels, name)(*args, layout=layout, check=check)
            except NonFiniteError as exc:
                raise ValueError(where(self, method) + str(exc)) from exc
        kernel = getattr(kernels_for(xp), name)
        if not transforms_find_nonfinite(xp):
            return kernel(*args)
        try:
            return kernel(*args, check="inf" if self._allow_nan else "nonfinite")
        except NonFiniteError as exc:
            raise ValueError(where(self, method) + str(exc)) from exc


class AffineNormalizer(OneToOneFeatureMixin, BaseNormalizer):
    """A per-feature normalizer ``y = (x - center) * scale + offset``.

    Subclasses define ``_affine_terms(X, xp)`` returning ``(center, scale,
    offset)`` (any may be None) and, optionally, ``_inverse_affine_terms``
    and ``_postprocess(Y, xp)`` (MinMax's clipping).
    """

    def _affine_terms(self, X, xp):  # pragma: no cover - abstract
        raise NotImplementedError

    def _postprocess(self, Y, xp):
        return Y

    def _resolved_copy(self, copy):
        if copy is not None:
            return copy
        return getattr(self, "copy", True)

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
        center, scale, offset = self._inverse_affine_terms(X, xp)
        return self._transform_kernel(
            xp, "inverse_transform", "affine", X, center, scale, offset, must_copy
        )

    def _inverse_affine_terms(self, X, xp):
        """``(center, scale, offset)`` of the inverse map, for the same kernel:
        ``x = (y - offset) * (1 / scale) + center``.  Subclasses that hold the
        reciprocal of their scale (ZScore divides by ``scale_``) override it
        to avoid rounding a reciprocal of a reciprocal."""
        center, scale, offset = self._affine_terms(X, xp)
        return offset, None if scale is None else 1.0 / scale, center

    def _transform_sparse(self, X, copy):  # pragma: no cover - dense-only
        raise TypeError(f"{type(self).__name__} does not accept sparse input.")

    _inverse_transform_sparse = _transform_sparse
