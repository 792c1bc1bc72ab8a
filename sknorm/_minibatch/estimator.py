"""MiniBatchNormalizer: Batch Normalization statistics as a transformer."""

from __future__ import annotations

from numbers import Integral, Real

import array_api_compat
import numpy as np
from sklearn import get_config
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions

from .._array_api import (
    accumulation_dtype,
    array_device,
    move_to_namespace,
    requires_grad,
)
from .._base import (
    AffineNormalizer,
    MomentStatistics,
    _name_the_call,
    needs_copy,
    partial_fit_context,
)
from .._dask import is_dask_collection
from .._kernels import kernels_for
from .._naming import published_as
from .._stats import merge_moments
from .._validation import call_prefix
from .steps import take_steps, training_scale

__all__ = ["MiniBatchNormalizer"]


# The running arrays of the state, in the order the kernels take them.
_RUNNING = ("running_mean_", "running_var_", "_mean_updates_", "_var_updates_")


def _next_state(state, arrays, n_rows):
    """The state after one more batch of ``n_rows`` rows: ``arrays`` are the
    new running arrays (in ``_RUNNING`` order); ``state`` None is the start."""
    seen = state or {}
    return {
        **dict(zip(_RUNNING, arrays, strict=True)),
        "n_batches_seen_": seen.get("n_batches_seen_", 0) + 1,
        "n_samples_seen_": seen.get("n_samples_seen_", 0) + int(n_rows),
    }


def _per_feature(estimator, method, value, name, n_features, xp, device, dtype):
    """``scale`` (γ) or ``shift`` (β) as a float or a (n_features,) array.

    Scalars stay Python floats (they broadcast for free); arrays are moved to
    the data's namespace and device (scikit-learn's "everything follows X")
    and cast to ``dtype``.
    """
    prefix = call_prefix(estimator, method)
    if isinstance(value, Real) and not isinstance(value, bool):
        value = float(value)
        if not np.isfinite(value):
            raise ValueError(prefix + f"{name}={value!r} must be finite.")
        return value
    if hasattr(value, "detach"):
        value = value.detach()  # a torch parameter: its values, not its graph
    if not array_api_compat.is_array_api_obj(value):
        value = np.asarray(value)
        if value.dtype.kind not in "biuf":
            raise TypeError(
                prefix + f"{name} must be a real number or an array of real "
                f"numbers, one per feature; got dtype {value.dtype}."
            )
    arr = move_to_namespace(value, xp, device)
    if tuple(arr.shape) not in {(), (n_features,)}:
        raise ValueError(
            prefix + f"{name} has shape {tuple(arr.shape)}; expected a scalar "
            f"or one value per feature, shape ({n_features},)."
        )
    if not xp.isdtype(arr.dtype, ("real floating", "integral", "bool")):
        raise TypeError(
            prefix + f"{name} has dtype {arr.dtype}; pass real numbers, one "
            "per feature."
        )
    return xp.astype(arr, dtype)


def _check_finite(estimator, method, value, name, xp):
    if isinstance(value, float):
        return
    if not bool(xp.all(xp.isfinite(value))):
        raise ValueError(
            call_prefix(estimator, method) + f"{name} contains NaN or infinity; "
            "pass finite values."
        )


@published_as("sknorm")
class MiniBatchNormalizer(MomentStatistics, AffineNormalizer):
    """Batch Normalization statistics (PyTorch's ``BatchNorm1d``) as a transformer.

    Keeps the running mean and variance that Batch Normalization (Ioffe &
    Szegedy, 2015) accumulates over mini-batches, with PyTorch's exact
    conventions, outside a network.  Use it to learn the inference-time
    statistics of a stream of batches and load them into a network (or back),
    to check a network's ``BatchNorm1d`` against an independent
    implementation, or as a streaming scaler whose statistics follow drifting
    data (``momentum``) rather than weighting all history equally (use
    :class:`ZScore` for exact all-history statistics).

    * :meth:`partial_fit` is one training step on one batch (the running
      statistics move towards the batch's).
    * :meth:`normalize_batch` is ``BatchNorm1d.train()`` forward: it returns
      the batch normalized with its *own* statistics and takes the same step.
    * :meth:`transform` is ``BatchNorm1d.eval()`` forward: inference with the
      running statistics; :meth:`inverse_transform` undoes it.
    * :meth:`fit` resets and walks ``X`` in mini-batches of ``batch_size``
      rows (one pass), one step per batch.

    Parameters
    ----------
    momentum : float in [0, 1] or None, default=0.1
        Weight of the batch statistic in the running update,
        ``running = (1 - momentum) * running + momentum * batch``. None uses
        the cumulative average over batches, as PyTorch does (the k-th batch
        gets weight ``1 / k``).  Keras counts momentum the other way round:
        ``momentum = 1 - keras_momentum`` (Keras' default 0.99 is 0.01
        here).
    eps : float > 0, default=1e-5
        Added to the variance before the square root (PyTorch's default;
        Keras' is 1e-3).
    scale : float or array-like of shape (n_features,), default=1.0
        The affine weight γ (``BatchNorm1d.weight``). Arrays may live in any
        namespace; they are moved to the data's.
    shift : float or array-like of shape (n_features,), default=0.0
        The affine bias β (``BatchNorm1d.bias``).
    batch_size : int >= 1 or None, default=None
        Rows per mini-batch in :meth:`fit`; the last batch holds the rest.
        None makes the whole of ``X`` one batch.
    init : {"first_batch", "pytorch"}, default="first_batch"
        Initial running statistics.  ``"first_batch"``: the first batch sets
        them (its mean and unbiased variance), so ``fit`` on one array gives
        that array's statistics and needs no warm-up.  ``"pytorch"``: start at
        mean 0 and variance 1 and blend from the first batch on, exactly as a
        freshly constructed ``BatchNorm1d`` (for parity; with the default
        momentum it takes tens of batches to forget the start values).
        With ``momentum=None`` both give the same numbers: the first batch has
        weight 1.
    copy : bool, default=True
        False normalizes a float array in place in :meth:`transform`,
        :meth:`inverse_transform` and :meth:`normalize_batch`.
    channel_axis : int or None, default=None
        None: X is ``(n_samples, n_features)``, as ``BatchNorm1d`` on 2-D
        input.  An int: X has two or more dimensions, axis 0 the samples
        and axis ``channel_axis`` the channels, and the statistics are per
        channel over the samples and every other axis: ``channel_axis=1``
        is ``BatchNorm2d`` on ``(N, C, H, W)``, ``BatchNorm3d`` on
        ``(N, C, D, H, W)`` and ``BatchNorm1d`` on ``(N, C, L)``; ``-1``
        the same on channels-last data.  The batch size of the unbiased
        variance is then the number of values per channel (``N * H * W``,
        as in PyTorch).  Later batches keep the number of dimensions and
        of channels; the other sizes may differ.  Dense arrays only.

    Attributes
    ----------
    running_mean_ : array of shape (n_features,)
        Running mean, in the fitting namespace and on its device, float64
        where the device has it (float32 input included).
    running_var_ : array of shape (n_features,)
        Running *unbiased* variance (PyTorch's convention).
    n_batches_seen_ : int
        Number of training steps taken (PyTorch's ``num_batches_tracked``).
    n_samples_seen_ : int
        Number of rows seen (of samples, axis 0, with ``channel_axis``),
        over all batches (a state dict loaded with
        :meth:`from_torch_state_dict` carries no row count: it starts at 0).
    n_features_in_ : int
        Number of features seen during fit (of channels, with
        ``channel_axis``).
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X had string column names.

    See Also
    --------
    ZScore : exact mean and standard deviation of all the rows seen.
    LocalResponseNormalizer : AlexNet's normalization across features.
    torch.nn.BatchNorm1d : the PyTorch layer whose numbers this reproduces.

    Notes
    -----
    For a batch ``B`` with per-feature mean ``mu_B``, biased (population)
    variance ``var_B`` and ``n`` rows, one step is::

        running_mean_ = momentum * mu_B + (1 - momentum) * running_mean_
        running_var_  = momentum * var_B * n / (n - 1)
                        + (1 - momentum) * running_var_

    (``momentum = 1 / k`` at the k-th step with ``momentum=None``; 1 at the
    first step with ``init="first_batch"``).  As in PyTorch the running
    variance takes the *unbiased* batch variance while the training-mode
    output uses the biased one::

        normalize_batch(B) = (x - mu_B) / sqrt(var_B + eps) * scale + shift
        transform(X)       = (x - running_mean_) / sqrt(running_var_ + eps)
                             * scale + shift

    Agreement with PyTorch: running statistics to ~1e-15 relative in float64
    (batch moments are computed around a per-feature shift with a
    compensated sum, PyTorch's with a plain two-pass sum, so the last bits
    can differ).  Outputs agree to ~1e-15 on data of order 1: PyTorch's CPU
    kernel evaluates ``x * (w * invstd) + (b - mean * w * invstd)``, sknorm
    ``(x - mean) * (w * invstd) + b``, which is the same map rounded
    differently (and more accurate when ``|mean|`` is large compared with the
    spread).  Statistics are accumulated in float64 also for float32 input
    (PyTorch accumulates float32 in float32), so float32 results agree to
    float32 rounding (~1e-6 relative).

    Where PyTorch raises, sknorm defines:

    * A batch of one row (PyTorch: "Expected more than 1 value per channel
      when training") updates the running mean; the unbiased variance of one
      row is undefined, so ``running_var_`` keeps its value and, with
      ``momentum=None``, that batch does not count in the variance's
      average.  Its training-mode output is ``shift`` (x minus its own mean
      is 0).  With ``init="first_batch"`` a variance that no batch has
      defined yet stays at PyTorch's start value 1.
    * NaNs are ignored per feature: a feature's batch statistics come from
      its observed entries, a feature with no observed entry in a batch
      keeps its running statistics (one observed entry: as a one-row batch),
      and NaNs are kept in the output.  Infinity is an error.
    * ``sample_weight`` are frequency weights: weight 2 counts a row twice.
      The weighted mean and biased variance are normalized by the total
      weight ``W`` and the running variance takes ``var_B * W / (W - 1)``
      (defined for ``W > 1``; below, the batch is treated like a one-row
      batch).  Integer weights give exactly the statistics of the batch
      with repeated rows.

    Keras' ``BatchNormalization`` differs beyond the momentum convention: its
    default epsilon is 1e-3 and it updates the moving variance with the
    biased batch variance, so its numbers are not PyTorch's.

    References: S. Ioffe and C. Szegedy, "Batch Normalization: Accelerating
    Deep Network Training by Reducing Internal Covariate Shift", ICML 2015.

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm import MiniBatchNormalizer
    >>> X = np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 40.0], [7.0, 40.0]])
    >>> bn = MiniBatchNormalizer().fit(X)  # one batch: its own statistics
    >>> bn.running_mean_
    array([ 4., 25.])
    >>> bn.running_var_  # unbiased
    array([  6.66666667, 300.        ])
    >>> bn.transform(X)
    array([[-1.16189413, -0.86602539],
           [-0.38729804, -0.86602539],
           [ 0.38729804,  0.86602539],
           [ 1.16189413,  0.86602539]])

    Training-mode steps on a stream of batches (``BatchNorm1d.train()``):

    >>> bn = MiniBatchNormalizer(momentum=0.5)
    >>> for batch in (X[:2], X[2:]):
    ...     Y = bn.normalize_batch(batch)
    >>> Y  # the last batch, normalized with its own (biased) statistics
    array([[-0.999995,  0.      ],
           [ 0.999995,  0.      ]])
    >>> bn.running_mean_, bn.n_batches_seen_
    (array([ 4., 25.]), 2)

    ``BatchNorm2d`` on feature maps ``(N, C, H, W)``: one mean and variance
    per channel, over the batch and both spatial axes:

    >>> maps = np.arange(2 * 2 * 3 * 3, dtype=np.float64).reshape(2, 2, 3, 3)
    >>> bn2d = MiniBatchNormalizer(channel_axis=1).fit(maps)
    >>> bn2d.running_mean_  # channel 0 holds 0..8 and 18..26
    array([13., 22.])
    >>> bn2d.normalize_batch(maps).shape
    (2, 2, 3, 3)
    """

    _parameter_constraints: dict = {
        "momentum": [Interval(Real, 0, 1, closed="both"), None],
        "eps": [Interval(Real, 0, None, closed="neither")],
        "scale": [Real, "array-like"],
        "shift": [Real, "array-like"],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "init": [StrOptions({"first_batch", "pytorch"})],
        "copy": ["boolean"],
        "channel_axis": [Integral, None],
    }
    _anchor_ = "running_mean_"
    _finiteness_check = "kernel"  # every batch goes through the moments kernel

    def __init__(
        self,
        *,
        momentum=0.1,
        eps=1e-5,
        scale=1.0,
        shift=0.0,
        batch_size=None,
        init="first_batch",
        copy=True,
        channel_axis=None,
    ):
        self.momentum = momentum
        self.eps = eps
        self.scale = scale
        self.shift = shift
        self.batch_size = batch_size
        self.init = init
        self.copy = copy
        self.channel_axis = channel_axis

    # ------------------------------------------------------------- fitting
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Reset, then take one step per mini-batch of ``batch_size`` rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            (or ``(n_samples, ..., n_channels, ...)`` with ``channel_axis``)
            Training data (any Array API array, or NumPy/pandas/polars).
            NaNs are ignored per feature.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative frequency weight of each row.

        Returns
        -------
        self : MiniBatchNormalizer
            The fitted estimator.
        """
        self._reset()
        return self._steps(
            X, sample_weight, method="fit", reset=True, rows=self.batch_size
        )

    @partial_fit_context
    def partial_fit(self, X, y=None, sample_weight=None):
        """Take one training step on one batch (the whole of ``X``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            (or ``(n_samples, ..., n_channels, ...)`` with ``channel_axis``)
            One batch. Later batches must have the same features, namespace
            and device.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative frequency weight of each row.

        Returns
        -------
        self : MiniBatchNormalizer
            The updated estimator (unchanged if this call raised).
        """
        return self._steps(
            X, sample_weight, method="partial_fit", reset=not self._is_fitted()
        )

    @_name_the_call
    def normalize_batch(self, X, sample_weight=None):
        """Training-mode forward: normalize ``X`` with its own statistics.

        Returns what ``BatchNorm1d.train()`` forward returns and takes the
        same step on the running statistics (exactly :meth:`partial_fit`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            (or ``(n_samples, ..., n_channels, ...)`` with ``channel_axis``)
            One batch.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative frequency weight of each row (weights the batch
            statistics; the output has one row per row of ``X``).

        Returns
        -------
        X_new : array of shape (n_samples, n_features)
            ``(x - mu_B) / sqrt(var_B + eps) * scale + shift`` with the
            batch's mean and biased variance; same namespace, device and
            float dtype as ``X`` (a NumPy array for pandas/polars input:
            ``set_output`` applies to ``transform`` only). The running
            statistics are unchanged if this call raised.
        """
        if requires_grad(X):
            raise ValueError(
                call_prefix(self, "normalize_batch") + "X requires grad, but the "
                "training-mode output depends on the batch's own mean and "
                "variance, whose gradient sknorm does not compute (its "
                "statistics are taken from detached values). Pass X.detach() "
                "for the numbers, or use torch.nn.BatchNorm1d inside the "
                "network for the gradient; transform() of a tensor that "
                "requires grad is differentiable (running statistics as "
                "constants)."
            )
        # As partial_fit under _fit_context: the parameters are validated on
        # the first step only (a per-call check would cost as much as the
        # step itself on small batches).
        if not self._is_fitted() and not get_config()["skip_parameter_validation"]:
            self._validate_params()
        return self._steps(
            X,
            sample_weight,
            method="normalize_batch",
            reset=not self._is_fitted(),
            training_output=True,
        )

    def _steps(
        self, X, sample_weight, *, method, reset, rows=None, training_output=False
    ):
        """Validate, take one step per ``rows`` rows, assign (transactional).

        The base class's update with two additions this estimator needs:
        ``fit`` takes several steps, and the training-mode step also returns
        an output.
        """
        if is_dask_collection(X):
            from .dask_steps import dask_steps

            return dask_steps(
                self,
                X,
                sample_weight,
                method=method,
                reset=reset,
                rows=rows,
                training_output=training_output,
            )
        original = X
        with self._transaction(method):
            X, xp, device, sample_weight = self._validated_batch(
                X, sample_weight, method=method, reset=reset
            )
            dtype = accumulation_dtype(xp, device)
            n_features = self.n_features_in_  # features, or channels
            if reset:
                self._check_affine_params(method, n_features, xp, device, dtype)
            gamma, beta = 1.0, None
            if training_output:
                gamma, beta = self._gamma_beta(method, n_features, xp, device, dtype)
            n = X.shape[0]
            step = n if rows is None else rows
            starts = range(0, n, step)
            # fit with batch_size reports one sub-task per batch; a callback
            # may stop it after any of them (the steps taken so far stay).
            n_subtasks = 0 if rows is None else len(starts)

            def batches():
                for start in starts:
                    stop = min(start + step, n)
                    if (start, stop) == (0, n):
                        batch, sw = X, sample_weight
                    else:
                        batch = X[start:stop, ...]
                        sw = (
                            None if sample_weight is None else sample_weight[start:stop]
                        )
                    yield (batch, sw), {"X": batch, "sample_weight": sw}

            def one_step(state, batch):
                return self._step(state, *batch, xp, device, dtype, gamma)

            with self._fit_task(method, X, sample_weight, n_subtasks) as task:
                state, mean_b, var_b, scale = take_steps(
                    one_step,
                    None if reset else self._running_state(),
                    batches(),
                    task,
                    report=bool(n_subtasks),
                )
                out = self
                if training_output:
                    if scale is None:
                        scale = training_scale(gamma, var_b, self.eps, xp)
                    must_copy = needs_copy(self.copy, original, X)
                    out = self._affine_map(xp, X, mean_b, scale, beta, must_copy)
                self.__dict__.update(state)
                task.end()
        return out

    def _check_affine_params(self, method, n_features, xp, device, dtype):
        """Fail early (in fit / the first step) on a bad scale or shift."""
        for name in ("scale", "shift"):
            value = _per_feature(
                self, method, getattr(self, name), name, n_features, xp, device, dtype
            )
            _check_finite(self, method, value, name, xp)

    def _running_state(self):
        return {
            "running_mean_": self.running_mean_,
            "running_var_": self.running_var_,
            "_mean_updates_": self._mean_updates_,
            "_var_updates_": self._var_updates_,
            "n_batches_seen_": self.n_batches_seen_,
            "n_samples_seen_": self.n_samples_seen_,
        }

    def _factor(self, xp, updates_before, updates_after):
        """Weight of the batch statistic in the running update, per feature."""
        if self.momentum is None:
            # Cumulative average: the k-th contributing batch gets 1/k.
            return 1.0 / xp.where(
                updates_after > 0, updates_after, xp.ones_like(updates_after)
            )
        momentum = float(self.momentum)
        if self.init == "first_batch":
            return xp.where(
                updates_before == 0,
                xp.ones_like(updates_before),
                xp.full_like(updates_before, momentum),
            )
        return momentum

    def _step(self, state, X, sample_weight, xp, device, dtype, gamma=1.0):
        """One training step: the new state, the batch's mean and variance,
        and the training output's scale ``gamma / sqrt(var_B + eps)`` (None
        when the kernels leave it to the caller)."""
        fused = getattr(kernels_for(xp), "batchnorm_step", None)
        # A matrix of features (or of channels): the kernels' whole step.
        flat = None if fused is None else self._flat_batch(X, sample_weight)
        if flat is not None:
            step = self._fused_step(fused, state, *flat, gamma, X.shape[0])
            if step is not NotImplemented:
                return step
        batch = self._batch_moments(X, sample_weight, dtype)
        return self._step_from_moments(state, batch, X.shape[0], xp, device, dtype)

    def _step_from_moments(self, state, batch, n_rows, xp, device, dtype):
        """:meth:`_step` given the batch's moments (``n_rows`` rows): the
        running update in PyTorch's order of operations."""
        count = batch.count
        mean_b = batch.location
        var_b = batch.var
        # Features with no observed (weighted) entry keep their mean; the
        # unbiased variance needs a total weight above 1.
        has_mean = count > 0
        has_var = count > 1
        unbiased = var_b * count / xp.where(has_var, count - 1, xp.ones_like(count))
        if state is None:
            n_features = batch.mean.shape[0]
            zeros = xp.zeros((n_features,), dtype=dtype, device=device)
            ones = xp.ones((n_features,), dtype=dtype, device=device)
            state = dict(zip(_RUNNING, (zeros, ones, zeros, zeros), strict=True))
        k_mean = state["_mean_updates_"]
        k_var = state["_var_updates_"]
        k_mean_new = k_mean + xp.astype(has_mean, dtype)
        k_var_new = k_var + xp.astype(has_var, dtype)
        f_mean = self._factor(xp, k_mean, k_mean_new)
        f_var = self._factor(xp, k_var, k_var_new)
        r_mean, r_var = state["running_mean_"], state["running_var_"]
        # PyTorch's order of operations: momentum * batch + (1 - momentum) * run.
        new_mean = xp.where(has_mean, f_mean * mean_b + (1 - f_mean) * r_mean, r_mean)
        new_var = xp.where(has_var, f_var * unbiased + (1 - f_var) * r_var, r_var)
        arrays = (new_mean, new_var, k_mean_new, k_var_new)
        return _next_state(state, arrays, n_rows), mean_b, var_b, None

    # Batch statistics for the Dask layer (each batch's moments); the running
    # averages themselves cannot be merged.
    def _not_mergeable(self):
        return (
            "running averages with momentum depend on the order of the "
            "batches, so two fitted MiniBatchNormalizers cannot be combined "
            "as if one had seen the other's rows. Use ZScore for exact "
            "all-history statistics that merge, or feed the batches to one "
            "estimator in order."
        )

    def _merge_statistics(self, a, b):
        # The pieces of one batch (a Dask chunk boundary inside it).
        return (merge_moments(a[0], b[0]),)

    def _fused_step(self, fused, state, X, sample_weight, gamma, n_rows):
        """:meth:`_step` as one kernel call (CuPy: two launches in all; NumPy
        with numba: two compiled calls, or NotImplemented for a batch the
        kernels leave to :meth:`_step`); ``n_rows`` samples."""
        running = None if state is None else tuple(state[k] for k in _RUNNING)
        result = fused(
            running,
            X,
            sample_weight,
            momentum=None if self.momentum is None else float(self.momentum),
            first_batch=self.init == "first_batch",
            gamma=gamma,
            eps=float(self.eps),
        )
        if result is NotImplemented:
            return result
        *arrays, mean_b, var_b, scale = result
        return _next_state(state, arrays, n_rows), mean_b, var_b, scale

    # ----------------------------------------------------------- transform
    def _gamma_beta(self, method, n_features, xp, device, dtype):
        """γ as a float or array; β as an array, or None when it is 0."""
        gamma = _per_feature(
            self, method, self.scale, "scale", n_features, xp, device, dtype
        )
        beta = _per_feature(
            self, method, self.shift, "shift", n_features, xp, device, dtype
        )
        if isinstance(beta, float):
            beta = None if beta == 0.0 else xp.asarray(beta, dtype=dtype, device=device)
        return gamma, beta

    def _affine_terms(self, X, xp):
        running_var = self.running_var_
        gamma, beta = self._gamma_beta(
            "transform",
            self.n_features_in_,
            xp,
            array_device(running_var),
            running_var.dtype,
        )
        # PyTorch's eval kernel: the training output's scale, with the
        # running variance.
        scale = training_scale(gamma, running_var, self.eps, xp)
        return self.running_mean_, scale, beta

    def _inverse_affine_terms(self, X, xp):
        """Undo :meth:`transform`: ``(y - shift) / scale * std + running_mean_``."""
        center, scale, offset = self._affine_terms(X, xp)
        # scale = γ / sqrt(var + eps): zero exactly where γ is.
        if bool(xp.any(scale == 0)):
            raise ValueError(
                call_prefix(self, "inverse_transform") + "scale (γ) is 0 for some "
                "features: transform mapped them to `shift` and they cannot be "
                "recovered. Use a non-zero scale to invert."
            )
        return offset, 1.0 / scale, center

    # ------------------------------------------------------- torch interop
    def to_torch_state_dict(self, *, dtype=None):
        """The ``torch.nn.BatchNorm1d`` state dict of the current statistics.

        Requires PyTorch (imported here only).  Load it with
        ``BatchNorm1d(n_features_in_).load_state_dict(...)`` (an estimator
        with ``channel_axis=1`` into ``BatchNorm2d`` or ``BatchNorm3d``: the
        same keys); pass the same ``momentum`` and ``eps`` to the module.

        Parameters
        ----------
        dtype : torch.dtype, default=None
            dtype of the floating tensors; None keeps the estimator's (float64
            where the device has it).  ``load_state_dict`` casts to the
            module's dtype anyway.

        Returns
        -------
        state_dict : dict
            ``weight`` (γ), ``bias`` (β), ``running_mean``, ``running_var``
            (shape ``(n_features_in_,)``) and ``num_batches_tracked`` (0-d
            int64), on the device of the fitted statistics (CuPy and torch
            CUDA arrays stay on the GPU), sharing no memory with the estimator.

        Examples
        --------
        >>> import numpy as np
        >>> import pytest
        >>> torch = pytest.importorskip("torch")  # the example needs PyTorch
        >>> from sknorm import MiniBatchNormalizer
        >>> X = np.random.default_rng(0).normal(3.0, 2.0, size=(100, 4))
        >>> est = MiniBatchNormalizer(batch_size=10).fit(X)
        >>> module = torch.nn.BatchNorm1d(4, dtype=torch.float64)
        >>> module.load_state_dict(est.to_torch_state_dict())
        <All keys matched successfully>
        >>> Y = module.eval()(torch.from_numpy(X)).detach().numpy()
        >>> bool(np.allclose(Y, est.transform(X), rtol=1e-12, atol=1e-12))
        True
        """
        from .torch_interop import to_torch_state_dict

        return to_torch_state_dict(self, dtype=dtype)

    @classmethod
    def from_torch_state_dict(cls, state_dict, *, prefix="", **params):
        """A fitted estimator holding a ``BatchNorm1d``'s statistics.

        Parameters
        ----------
        state_dict : mapping
            ``running_mean``, ``running_var`` and optionally ``weight``,
            ``bias`` and ``num_batches_tracked`` (a module's
            ``state_dict()``).  Values may be torch tensors (CPU or CUDA) or
            any Array API / NumPy arrays; the fitted arrays live in their
            namespace and on their device (pass ``{k: v.numpy() ...}`` for a
            NumPy estimator).  PyTorch is not needed for non-torch values.
        prefix : str, default=""
            Key prefix of the layer inside a whole model's state dict, e.g.
            ``"features.1."``.
        **params
            Estimator parameters. Pass the module's ``momentum`` and ``eps``
            (they are not part of a state dict), and ``channel_axis=1`` for
            a ``BatchNorm2d`` / ``BatchNorm3d`` state (per-channel
            statistics of N-D input). ``init`` defaults to
            ``"pytorch"`` here, so further steps continue exactly as the
            module would; ``scale`` and ``shift`` come from ``weight`` and
            ``bias`` and may only be passed when those are absent.

        Returns
        -------
        estimator : MiniBatchNormalizer
            Fitted: ``running_mean_``, ``running_var_``, ``n_batches_seen_``
            (``num_batches_tracked``), ``n_features_in_``;
            ``n_samples_seen_`` is 0.

        Examples
        --------
        >>> import numpy as np
        >>> from sknorm import MiniBatchNormalizer
        >>> state = {"running_mean": np.array([1.0, 2.0]),
        ...          "running_var": np.array([4.0, 9.0]),
        ...          "num_batches_tracked": np.array(7)}
        >>> est = MiniBatchNormalizer.from_torch_state_dict(state, eps=0.0001)
        >>> est.n_batches_seen_
        7
        >>> est.transform(np.array([[3.0, 5.0]]))
        array([[0.9999875 , 0.99999444]])
        """
        from .torch_interop import from_torch_state_dict

        return from_torch_state_dict(cls, state_dict, prefix=prefix, params=params)
