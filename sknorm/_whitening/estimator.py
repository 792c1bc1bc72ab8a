"""ZCAWhitening: decorrelate the features and give them unit variance."""

from __future__ import annotations

import warnings
from numbers import Integral, Real

from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    _check_feature_names_in,
    _generate_get_feature_names_out,
    check_is_fitted,
)

from .._array_api import accumulation_dtype
from .._base import BaseNormalizer, partial_fit_context
from .._dask.routing import lazy_on_dask
from .._kernels import folds_centring
from .._naming import convert_array, convert_state_fields, published_as
from .._stats import (
    CoMoments,
    Statistics,
    comoments_of_batch,
    merge_comoments,
    update_comoments,
)
from .._validation import call_prefix
from .matrices import (
    FOLD_LIMIT,
    METHODS,
    PCA_METHODS,
    dewhitening_matrix,
    fold_cancellation,
    shrink_towards_diagonal,
    whitening_matrices,
)
from .shrinkage import (
    FourthMoments,
    fourth_moments_around,
    fourth_moments_of_batch,
    ledoit_wolf_diagonal_shrinkage,
    merge_fourth_moments,
    update_fourth_moments,
)

__all__ = ["ZCAWhitening"]


@published_as("sknorm.state", "LazyWhitening")
class _LazyWhitening:
    """The whitening matrices of one fitted state, computed on first use.

    ``partial_fit`` stores a fresh one (no eigendecomposition per batch);
    the first ``transform`` (or read of ``whitening_``) fills it with ``W``
    and the factors of ``W^+``, the first ``inverse_transform`` (or read of
    ``dewhitening_``) builds ``W^+`` from them (:func:`dewhitening_matrix`:
    no second decomposition), and the first ``transform`` also decides
    whether it may fold the centring into the product (:meth:`centring`).
    The object itself never changes identity after ``partial_fit`` assigned
    it, so a transform neither changes the estimator's ``__dict__`` nor
    interferes with the transactional restore of a failing ``partial_fit``.
    It holds the parameters the state was fitted with: ``set_params`` after
    fitting takes effect at the next ``fit``/``partial_fit``, as in
    scikit-learn.  Files saved before ``W^+`` was built lazily hold it
    already built (and no ``fold``): they load and are used as they are.
    """

    def __init__(self, covariance, method, eps, n_components):
        self.covariance = covariance
        self.method = method
        self.eps = eps
        self.n_components = n_components
        self.result = None

    def __sklearn_array_api_convert__(self, converter):
        """A copy holding converted arrays; a computed result moves with it
        (the moved estimator transforms with the very same matrices)."""
        moved = type(self)(
            convert_array(self.covariance, converter),
            self.method,
            self.eps,
            self.n_components,
        )
        if self.result is not None:
            moved.result = convert_state_fields(self.result, converter)
        fold = self.__dict__.get("fold")
        if fold is not None:
            moved.fold = tuple(convert_array(a, converter) for a in fold)
        return moved

    def get(self, estimator, method, stacklevel):
        if self.result is None:
            result = whitening_matrices(
                self.covariance,
                self.method,
                eps=self.eps,
                n_components=self.n_components,
            )
            if result.depends_on_eps:
                p = self.covariance.shape[0]
                # Reading an attribute is not a call: no "()" after it.
                prefix = (
                    f"{type(estimator).__name__}.{method}: "
                    if method.endswith("_")
                    else call_prefix(estimator, method)
                )
                warnings.warn(
                    prefix + f"the covariance is singular "
                    f"({result.n_null} of {p} directions have no variance: "
                    "duplicated or constant features, or fewer samples than "
                    "features). Along them the output is scaled by "
                    f"1/sqrt(eps * largest eigenvalue) with eps={self.eps}, so "
                    "it depends on eps. Use eps=0 to give them weight 0 "
                    "(pseudo-inverse), shrinkage to make the covariance "
                    "definite, or remove the redundant features.",
                    UserWarning,
                    stacklevel=stacklevel,
                )
            self.result = result
        return self.result

    def dewhitening(self, estimator, method, stacklevel):
        """``W^+``, built from the factors on first use and kept."""
        result = self.get(estimator, method, stacklevel + 1)
        if result.dewhitening is None:
            D = dewhitening_matrix(result, self.method)
            # The factors are no longer needed: the state keeps W and W^+,
            # as a whitening computed eagerly did.
            result = self.result = result._replace(
                dewhitening=D, basis=None, root=None, feature_scale=None
            )
        return result.dewhitening

    def centring(self, estimator, mean, may_fold=True):
        """``(center, offset)`` of the linear transform kernel:
        ``(mean, None)`` centres each block of X before the product,
        ``(None, -mean @ Wᵀ)`` folds the centring into the product where
        that is exact enough (:func:`fold_cancellation`, decided once per
        fitted state from ``W``, ``mean`` and the covariance; ``get`` must
        have run) and the kernel gains by it (``may_fold``: see
        :func:`sknorm._kernels.folds_centring`)."""
        fold = self.__dict__.get("fold")
        if fold is None:
            W = self.result.whitening
            ratio = fold_cancellation(W, mean, self.covariance)
            fold = (-(mean @ W.T),) if ratio <= FOLD_LIMIT else ()
            self.fold = fold
        return (None, fold[0]) if fold and may_fold else (mean, None)


@published_as("sknorm")
class ZCAWhitening(BaseNormalizer):
    """Whiten features: decorrelate them and give them unit variance.

    ``z = W (x - mean)`` with a whitening matrix ``W`` such that
    ``Wᵀ W = Σ^-1``, so that the covariance of ``z`` is the identity.  The
    five optimal whitening matrices of Kessy, Lewin & Strimmer (2018) are
    available, on streaming data (``partial_fit``), on any Array API backend
    (NumPy, CuPy, torch, array-api-strict) with the fitted state and the
    linear algebra on the input's device.

    Parameters
    ----------
    method : {"zca", "zca-cor", "pca", "pca-cor", "cholesky"}, default="zca"
        Which whitening matrix; see Notes for what each one optimizes and
        when to choose it.
    n_components : int, default=None
        Number of components kept by ``"pca"`` and ``"pca-cor"``
        (dimensionality reduction, as ``PCA(n_components, whiten=True)``);
        None keeps all.  The other methods are one-to-one maps of the
        features and ignore it (see Notes).
    eps : float, default=0.0
        Regularization added to the eigenvalues, relative to the largest
        one: ``λ + eps * λ_max``.  0 is exact whitening.
    shrinkage : float in [0, 1], "ledoit-wolf" or None, default=None
        Shrink the covariance towards its diagonal before whitening:
        ``(1 - α) Σ + α diag(Σ)`` (correlations multiplied by ``1 - α``),
        for when ``n_samples`` is close to or below ``n_features``.
        ``"ledoit-wolf"`` estimates the optimal ``α`` from the data (see
        Notes); it must be set before the first ``partial_fit``.  None means
        no shrinkage.

    Attributes
    ----------
    mean_ : array of shape (n_features,)
        Per-feature (weighted) mean, in the fitting namespace and on its
        device, float64 where the device has it.
    covariance_ : array of shape (n_features, n_features)
        Population covariance (ddof=0), after shrinkage: the matrix the
        whitening is computed from.
    shrinkage_ : float
        The shrinkage intensity used (0.0 without shrinkage).
    whitening_ : array of shape (`n_components_`, n_features)
        ``W``: ``transform(X) = (X - mean_) @ whitening_.T``.  Computed at
        its first use after a ``fit``/``partial_fit`` and cached.
    dewhitening_ : array of shape (n_features, `n_components_`)
        ``W``'s inverse (its pseudo-inverse for singular covariances or
        ``n_components < n_features``):
        ``inverse_transform(Z) = Z @ dewhitening_.T + mean_``.
    explained_variance_ : array of shape (`n_components_`,)
        Only for ``"pca"`` (eigenvalues of ``covariance_``) and
        ``"pca-cor"`` (eigenvalues of the correlation matrix), in decreasing
        order, before regularization, ddof=0.
    n_components_ : int
        Number of output features.
    n_samples_seen_ : int or float
        Number of rows seen (sum of ``sample_weight`` when weights were
        given).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X had string column names.

    See Also
    --------
    ZScore : standardize each feature without decorrelating.
    sklearn.decomposition.PCA : ``PCA(whiten=True)`` is ``method="pca"``
        with the ddof=1 covariance.

    Notes
    -----
    With ``Σ`` the covariance, ``V`` its diagonal, ``P = V^-1/2 Σ V^-1/2``
    the correlation, ``Σ = U Λ Uᵀ`` and ``P = G Θ Gᵀ``
    (Kessy, Lewin & Strimmer, "Optimal Whitening and Decorrelation", The
    American Statistician 72(4), 2018):

    - ``"zca"``: ``W = Σ^-1/2`` (Mahalanobis or ZCA whitening).  Minimizes
      ``E ||z - x||²``, i.e. maximizes the trace of the cross-covariance
      ``Cov(z, x)``: each whitened feature stays as close as possible to its
      original.  ``W`` is symmetric.  The default, for whitened data that
      still looks like the input (image patches keep their edges).
    - ``"zca-cor"``: ``W = P^-1/2 V^-1/2``.  Maximizes the trace of the
      cross-correlation ``Cor(z, x)``: ZCA on standardized features, so the
      result does not depend on the units of each feature.  Choose it when
      features have different units or scales.
    - ``"pca"``: ``W = Λ^-1/2 Uᵀ`` (eigenvalues in decreasing order).
      Maximal compression: the first ``k`` components carry the largest
      possible share of the cross-covariance with ``x``.  For dimensionality
      reduction with ``n_components``, like ``PCA(whiten=True)``.
    - ``"pca-cor"``: ``W = Θ^-1/2 Gᵀ V^-1/2``: the same on the correlation
      scale (unit-free compression).
    - ``"cholesky"``: ``W = Lᵀ`` with ``L Lᵀ = Σ^-1``; ``W`` is upper
      triangular with a positive diagonal and ``Cov(z, x) = L^-1`` lower
      triangular: ``z_p`` is ``x_p`` standardized, ``z_{p-1}`` the
      standardized residual of ``x_{p-1}`` given ``x_p``, and so on.  The
      only method that depends on the order of the features; choose it
      when that order means something (lags, a causal order).

    All five satisfy ``Wᵀ W = Σ^-1`` and differ by a rotation.

    *Regularization.* ``eps`` is relative to the largest eigenvalue of the
    decomposed matrix (``Σ``, or ``P`` for the ``-cor`` methods) because
    whitening is scale-equivariant: the output does not change when the
    data is multiplied by a constant, and a relative ``eps`` keeps that
    (an absolute one would mean different things for data in metres and in
    millimetres) and bounds the condition number of the regularized
    matrix by ``(1 + eps) / eps``.  Eigenvalues below
    ``n_features * machine_eps * λ_max`` are rounding noise (a singular
    covariance: duplicated or constant features, linear dependencies,
    ``n_samples <= n_features``).  With ``eps=0`` their directions get
    weight 0, the Moore-Penrose convention: the output is whitened on the
    span of the data, ``dewhitening_`` is the pseudo-inverse, and nothing
    depends on a tuning constant.  With ``eps > 0`` they are scaled by
    ``1/sqrt(eps * λ_max)`` (ridge), the result depends on ``eps``, and a
    ``UserWarning`` says so.  Output is never NaN or infinite.  A constant
    feature is a null direction; for the ``-cor`` methods it gets the
    standard deviation 1, as in :class:`ZScore`.

    *Covariance.* Population covariance (ddof=0), as :class:`ZScore`: on a
    single (non-constant) feature every method equals ``ZScore``, and
    ``"zca-cor"`` on uncorrelated features equals ``ZScore``.  scikit-learn's
    ``PCA(whiten=True)`` divides by the ddof=1 variances:
    ``PCA(n_components=k, whiten=True).transform(X)`` equals
    ``ZCAWhitening(method="pca", n_components=k).transform(X)`` times
    ``sqrt((n - 1) / n)``, up to the sign of each component (sknorm's signs
    are fixed: the largest entry of each eigenvector is positive).

    *Shrinkage.* ``"ledoit-wolf"`` uses Ledoit & Wolf's (2004) estimator of
    the optimal intensity with the diagonal as target (Schäfer & Strimmer's
    target D): ``α = Σ_{j≠k} π_jk / n / Σ_{j≠k} s_jk²`` clipped to [0, 1],
    ``π_jk = mean_i ((x_ij - m_j)(x_ik - m_k) - s_jk)²``.  It is streamed
    with a few extra moments (weights count as frequencies).

    *Streaming.* ``partial_fit`` merges each batch's weighted mean and
    co-moment matrix into the state with the shifted pairwise update of
    Chan, Golub & LeVeque, so any split of the rows gives ``fit``'s result
    to float64 rounding, in memory independent of the number of rows.  The
    eigendecomposition runs once, at the first ``transform`` (or read of
    ``whitening_``) after a change, in float64, with the input's linear
    algebra (CuPy's on the GPU).

    *Precision of float32 input.*  float64 input is accumulated in
    float64 throughout.  Unweighted float32 (and float16) NumPy input of
    2,048 rows or more is shifted by a float32 value (the mean of its first
    rows), multiplied in float32 blocks of about 2 MiB (BLAS ``ssyrk``),
    and the blocks' Gram matrices and column sums are added in float64; the
    mean, ``covariance_``, the merge of batches and the eigendecomposition
    are float64.  Measured on well-conditioned data (means up to 100,
    spreads 0.5-5): ``covariance_`` within 1e-7 relative (Frobenius norm)
    of the float64 computation at 5,000 rows and within 1e-8 at 1,000,000
    rows, where scikit-learn's centred float32 product is off by 1e-7 to
    1.2e-6.  Weighted, smaller or device input is multiplied in float64;
    products beyond the float32 range are summed again in float64.  The
    transform of float32 input is computed in float32 (the input's
    precision).

    *n_components and the one-to-one methods.* ``"zca"``, ``"zca-cor"`` and
    ``"cholesky"`` map each feature to one output feature and ignore
    ``n_components`` instead of raising: scikit-learn's estimator checks
    set ``n_components=1`` on every estimator that has the parameter and
    expect ``fit`` to succeed silently.

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm import ZCAWhitening
    >>> rng = np.random.default_rng(0)
    >>> mixing = np.array([[2.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.5, 0.3, 0.2]])
    >>> X = rng.normal(size=(500, 3)) @ mixing + 10.0
    >>> zca = ZCAWhitening().fit(X)
    >>> Z = zca.transform(X)
    >>> bool(np.allclose(np.cov(Z, rowvar=False, bias=True), np.eye(3)))
    True
    >>> bool(np.allclose(zca.whitening_, zca.whitening_.T))  # Σ^-1/2
    True
    >>> bool(np.allclose(zca.inverse_transform(Z), X))
    True

    PCA whitening with dimensionality reduction, and Cholesky whitening:

    >>> pca = ZCAWhitening(method="pca", n_components=2).fit(X)
    >>> pca.transform(X).shape
    (500, 2)
    >>> pca.get_feature_names_out()
    array(['zcawhitening0', 'zcawhitening1'], dtype=object)
    >>> W = ZCAWhitening(method="cholesky").fit(X).whitening_
    >>> bool(np.allclose(W, np.triu(W)))
    True

    Streaming gives the same whitening as one fit:

    >>> s = ZCAWhitening()
    >>> for batch in np.array_split(X, 7):
    ...     s = s.partial_fit(batch)
    >>> bool(np.allclose(s.whitening_, zca.whitening_, rtol=1e-12))
    True
    """

    _parameter_constraints: dict = {
        "method": [StrOptions(set(METHODS))],
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "eps": [Interval(Real, 0, None, closed="left")],
        "shrinkage": [
            Interval(Real, 0, 1, closed="both"),
            StrOptions({"ledoit-wolf"}),
            None,
        ],
    }
    _anchor_ = "mean_"
    _allow_nan = False
    # The NumPy co-moments kernel finds NaN and infinity in its own pass.
    _finiteness_check = "kernel"

    def __init__(self, method="zca", *, n_components=None, eps=0.0, shrinkage=None):
        self.method = method
        self.n_components = n_components
        self.eps = eps
        self.shrinkage = shrinkage

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Compute the mean and covariance of ``X`` (whitening deferred).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (any Array API array, or NumPy/pandas/polars).
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row.

        Returns
        -------
        self : ZCAWhitening
            The fitted estimator.
        """
        return self._fit(X, sample_weight)

    @partial_fit_context
    def partial_fit(self, X, y=None, sample_weight=None):
        """Merge one batch of rows into the mean and covariance.

        Cheap: no eigendecomposition; the whitening matrix is recomputed at
        the next ``transform``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            One batch. Later batches must have the same features, namespace
            and device.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row.

        Returns
        -------
        self : ZCAWhitening
            The updated estimator (unchanged if this call raised).
        """
        return self._partial_fit(X, sample_weight)

    # ------------------------------------------------------------ state
    def _is_fitted(self):
        return hasattr(self, "_comoments_")

    def _updated_state(self, X, xp, device, sample_weight, method):
        self._check_fit_shape(method, X.shape[1])
        dtype = accumulation_dtype(xp, device)
        previous = getattr(self, "_comoments_", None)
        fourth = self._fourth_moments(method)
        comoments = update_comoments(previous, X, sample_weight, dtype)
        if self.shrinkage == "ledoit-wolf":
            fourth = update_fourth_moments(
                fourth, X, sample_weight, dtype, comoments.shift
            )
        weighted = getattr(self, "_weighted_", False) or sample_weight is not None
        return self._fitted_state(
            Statistics((comoments, fourth), 0, weighted), xp, device, X.shape[1]
        )

    def _reduces_dimension(self):
        return self.method in PCA_METHODS and self.n_components is not None

    def _check_fit_shape(self, method, n_features):
        if self._reduces_dimension() and self.n_components > n_features:
            raise ValueError(
                call_prefix(self, method) + f"n_components={self.n_components} must be "
                f"at most n_features={n_features}; lower it or pass "
                "n_components=None to keep every component."
            )

    def _output_width(self, method, n_columns):
        return self.n_components_ if method == "transform" else self.n_features_in_

    def _inverse_columns(self):
        return self.n_components_ if self._reduces() else None

    def _prepare_transform(self, method):
        # What the transform derives from the fitted state, computed once on
        # the caller's side (the Dask layer's frozen copy carries it to
        # every block, which would otherwise build it again).
        if method == "inverse_transform":
            self._dewhitening(method, stacklevel=6)
        else:
            self._matrices(method, stacklevel=6)
            self._whitening_cache_.centring(self, self.mean_)

    def _fourth_moments(self, method):
        """The running fourth moments (None without Ledoit-Wolf shrinkage)."""
        fourth = getattr(self, "_fourth_moments_", None)
        if self.shrinkage != "ledoit-wolf":
            return None
        if self._is_fitted() and fourth is None:
            raise ValueError(
                call_prefix(self, method) + "shrinkage='ledoit-wolf' needs statistics "
                "of every batch, but it was set after the first one. Call fit "
                "(or partial_fit after a fresh clone) with it set from the "
                "start."
            )
        return fourth

    # Mergeable statistics (merge, Dask): co-moments, and the fourth moments
    # of Ledoit-Wolf shrinkage.
    _merge_params = ("shrinkage",)

    def _not_mergeable(self):
        return None

    def _statistic_types(self):
        if self.shrinkage == "ledoit-wolf":
            return (CoMoments, FourthMoments)
        return (CoMoments,)

    def _batch_statistics(self, X, xp, device, sample_weight):
        dtype = accumulation_dtype(xp, device)
        comoments = comoments_of_batch(X, sample_weight, dtype)
        if self.shrinkage != "ledoit-wolf":
            return (comoments,)
        fourth = fourth_moments_of_batch(X, sample_weight, dtype, comoments.shift)
        return (comoments, fourth)

    def _merge_statistics(self, a, b):
        comoments = merge_comoments(a[0], b[0])
        if len(a) < 2 or a[1] is None:
            return (comoments,)
        # Fourth moments are averaged around one shift: the merged one.
        return (
            comoments,
            merge_fourth_moments(
                fourth_moments_around(a[1], a[0], comoments.shift),
                fourth_moments_around(b[1], b[0], comoments.shift),
            ),
        )

    def _statistics(self, method):
        fourth = self._fourth_moments(method)
        states = (self._comoments_,) if fourth is None else (self._comoments_, fourth)
        return Statistics(states, 0, self._weighted_)

    def _fitted_state(self, statistics, xp, device, n_features):
        comoments, *rest = statistics.states
        fourth = rest[0] if rest else None
        if fourth is not None:
            # A 0-d array on the data's device: no host read per batch.
            alpha = ledoit_wolf_diagonal_shrinkage(
                fourth, comoments.mean, comoments.cov
            )
        else:
            alpha = 0.0 if self.shrinkage is None else float(self.shrinkage)
        covariance = shrink_towards_diagonal(comoments.cov, alpha)
        reduces = self._reduces_dimension()
        return {
            "_comoments_": comoments,
            "_fourth_moments_": fourth,
            "_weighted_": statistics.weighted,
            "_whitening_cache_": _LazyWhitening(
                covariance,
                self.method,
                float(self.eps),
                self.n_components if reduces else None,
            ),
            "mean_": comoments.location,
            "covariance_": covariance,
            "_shrinkage_": alpha,
            "n_components_": self.n_components if reduces else n_features,
        }

    def _matrices(self, method, attribute=None, stacklevel=4):
        # stacklevel 4: user code -> property or method -> _matrices -> get
        # (transform is wrapped once more by scikit-learn's set_output).
        cache = self.__dict__.get("_whitening_cache_")
        if cache is None:
            if attribute is not None:
                # AttributeError: hasattr(est, "whitening_") is False unfitted.
                raise AttributeError(
                    f"{type(self).__name__} has no attribute {attribute!r} "
                    "before fit or partial_fit."
                )
            check_is_fitted(self)
        return cache.get(self, method, stacklevel)

    @property
    def n_samples_seen_(self):
        """Rows seen (an int), or the sum of their weights (a float) once
        ``sample_weight`` was given; read from the device on access."""
        count = self._fitted("n_samples_seen_")._comoments_.count
        return float(count) if self._weighted_ else int(count)

    @property
    def shrinkage_(self):
        """The shrinkage intensity used (a float in [0, 1])."""
        return float(self._fitted("shrinkage_")._shrinkage_)

    def _fitted(self, attribute):
        if "_comoments_" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__} has no attribute {attribute!r} before "
                "fit or partial_fit."
            )
        return self

    @property
    def whitening_(self):
        return self._matrices("whitening_", "whitening_").whitening

    @property
    def dewhitening_(self):
        return self._dewhitening("dewhitening_", "dewhitening_")

    def _dewhitening(self, method, attribute=None, stacklevel=5):
        # stacklevel as in _matrices, one call deeper.
        self._matrices(method, attribute, stacklevel=stacklevel)
        return self._whitening_cache_.dewhitening(self, method, stacklevel)

    @property
    def explained_variance_(self):
        result = self._matrices("explained_variance_", "explained_variance_")
        if result.explained_variance is None:
            raise AttributeError(
                f"{type(self).__name__}.explained_variance_ exists only for "
                f"method='pca' or 'pca-cor' (fitted with "
                f"method={self._whitening_cache_.method!r})."
            )
        return result.explained_variance

    def _reduces(self):
        return self._whitening_cache_.method in PCA_METHODS

    def _lazy_attributes(self):
        names = super()._lazy_attributes()
        if not self._reduces():
            names.discard("explained_variance_")
        return names

    # -------------------------------------------------------- transform
    @lazy_on_dask
    def transform(self, X):
        """Whiten ``X``: ``(X - mean_) @ whitening_.T``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data in the namespace and on the device the estimator was fitted
            on.

        Returns
        -------
        Z : array of shape (n_samples, `n_components_`)
            Same namespace, device and float dtype as ``X``.
        """
        X, xp, _ = self._check_transform_input(X, "transform", copy=False)
        # stacklevel 7: user -> _dask_aware_output's, set_output's and
        # lazy_on_dask's wrappers -> transform -> _matrices -> get.
        W = self._matrices("transform", stacklevel=7).whitening
        center, offset = self._whitening_cache_.centring(
            self, self.mean_, may_fold=folds_centring(xp)
        )
        return self._transform_kernel(
            xp, "transform", "linear", X, center, W, False, offset
        )

    @lazy_on_dask
    def inverse_transform(self, X):
        """Map whitened data back: ``X @ dewhitening_.T + mean_``.

        The exact inverse of ``transform`` for a non-singular covariance
        and all components; with ``n_components`` (or a singular
        covariance) the projection back onto the kept components.

        Parameters
        ----------
        X : array-like of shape (n_samples, `n_components_`)
            Whitened data.

        Returns
        -------
        X_original : array of shape (n_samples, n_features)
        """
        columns = self._inverse_columns() if self._is_fitted() else None
        Z, xp, _ = self._check_transform_input(
            X, "inverse_transform", copy=False, columns=columns
        )
        # stacklevel 6: user -> lazy_on_dask's wrapper -> inverse_transform
        # -> _dewhitening -> _matrices -> get.
        D = self._dewhitening("inverse_transform", stacklevel=6)
        # One kernel: each block's product, then the mean added while the
        # block is in cache (16-bit floats: both in float32, rounded once).
        return self._transform_kernel(
            xp, "inverse_transform", "linear", Z, None, D, False, self.mean_
        )

    def get_feature_names_out(self, input_features=None):
        """Output feature names.

        Parameters
        ----------
        input_features : array-like of str, default=None
            Input feature names; only used by the one-to-one methods (and
            checked against ``feature_names_in_``).

        Returns
        -------
        feature_names_out : ndarray of str
            The input names for ``"zca"``, ``"zca-cor"`` and ``"cholesky"``;
            ``zcawhitening0``, ``zcawhitening1``, ... for the PCA variants.
        """
        check_is_fitted(self, "n_features_in_")
        if self._reduces():
            return _generate_get_feature_names_out(
                self, self.n_components_, input_features=input_features
            )
        return _check_feature_names_in(self, input_features)
