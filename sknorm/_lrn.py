"""LocalResponseNormalizer: AlexNet's normalization across neighbouring features."""

from __future__ import annotations

from numbers import Integral, Real

from sklearn.base import OneToOneFeatureMixin, _fit_context
from sklearn.utils._param_validation import Interval

from ._array_api import output_float_dtype
from ._base import BaseNormalizer, _name_the_call
from ._dask.routing import lazy_on_dask
from ._naming import published_as

__all__ = ["LocalResponseNormalizer"]


@published_as("sknorm")
class LocalResponseNormalizer(OneToOneFeatureMixin, BaseNormalizer):
    """Local Response Normalization across neighbouring features (AlexNet).

    Divides each feature by a power of the summed squares of its
    neighbours, the "lateral inhibition" of Krizhevsky, Sutskever & Hinton
    (2012): features treated as channels, the same numbers as
    ``torch.nn.functional.local_response_norm`` (and
    ``torch.nn.LocalResponseNorm``).  Use it to reproduce or check an
    AlexNet-style layer outside a network, or to damp features that are
    large compared with their neighbours in an ordered feature vector
    (spectra, channels).  Stateless: nothing is learned, ``transform``
    works without ``fit``.

    Parameters
    ----------
    size : int >= 1, default=5
        Number of neighbouring features ``n`` summed over (the feature
        itself included).
    alpha : float >= 0, default=1e-4
        Multiplicative factor.
    beta : float, default=0.75
        Exponent (finite; NaN and infinity are refused, as for every float
        parameter).
    k : float > 0, default=2.0
        Additive constant (AlexNet's 2; PyTorch's default is 1.0).
    channel_axis : int or None, default=None
        None: X is ``(n_samples, n_features)`` and the window runs across
        neighbouring features.  An int: X has two or more dimensions, axis 0
        the samples and axis ``channel_axis`` the channels, and each value
        is normalized across neighbouring channels at its own position, as
        AlexNet does on feature maps: ``channel_axis=1`` gives
        ``torch.nn.functional.local_response_norm`` on ``(N, C, L)``,
        ``(N, C, H, W)`` and ``(N, C, D, H, W)``; ``-1`` the same on
        channels-last data.  Dense arrays only.

    Attributes
    ----------
    n_features_in_ : int
        Number of features seen during fit (then checked in ``transform``);
        of channels, with ``channel_axis``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X had string column names.

    See Also
    --------
    MiniBatchNormalizer : Batch Normalization statistics.
    torch.nn.LocalResponseNorm : the PyTorch layer.

    Notes
    -----
    .. math::

        b_i = a_i \\Big/ \\Big(k + \\frac{\\alpha}{n}
              \\sum_{j=i-\\lfloor n/2 \\rfloor}^{i+\\lfloor (n-1)/2 \\rfloor}
              a_j^2\\Big)^{\\beta}

    with ``a_j = 0`` outside ``0 <= j < n_features`` (PyTorch pads
    ``(size // 2, (size - 1) // 2)`` and takes the average over ``size``,
    hence ``alpha / n``).  For an even ``size`` the window reaches one
    feature further back than forward, as in PyTorch.  The AlexNet paper
    writes ``alpha`` without the ``1 / n``: pass ``alpha = n * alpha_paper``
    to reproduce it (AlexNet: n=5, alpha_paper=1e-4, beta=0.75, k=2).

    Computed in the input's float dtype (float32 stays float32, as in
    PyTorch); agreement with PyTorch is to a few units of rounding (tested
    to 1e-12 relative in float64).  NaNs are kept in the output and count
    as 0 in their neighbours' sums (like the padding); infinity is an
    error.  ``fit`` only validates ``X`` and records the number of features,
    the feature names and the array namespace (later calls must use the
    same, scikit-learn's Array API convention).  There is no
    ``inverse_transform``: the map is not invertible in general.

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm import LocalResponseNormalizer
    >>> X = np.array([[1.0, 2.0, 3.0, 4.0]])
    >>> LocalResponseNormalizer(size=3, alpha=3.0, beta=1.0, k=1.0).transform(X)
    array([[0.16666667, 0.13333333, 0.1       , 0.15384615]])

    Feature 1 above: ``2 / (1 + 3/3 * (1 + 4 + 9)) = 2 / 15``.

    Across the channels of feature maps ``(N, C, H, W)``, at each pixel:

    >>> maps = np.ones((1, 4, 2, 2))
    >>> lrn = LocalResponseNormalizer(size=3, alpha=3.0, beta=1.0, k=1.0,
    ...                               channel_axis=1)
    >>> lrn.transform(maps)[0, :, 0, 0]  # edge channels have one neighbour
    array([0.33333333, 0.25      , 0.25      , 0.33333333])
    """

    _parameter_constraints: dict = {
        "size": [Interval(Integral, 1, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "beta": [Interval(Real, None, None, closed="neither")],
        "k": [Interval(Real, 0, None, closed="neither")],
        "channel_axis": [Integral, None],
    }
    _anchor_ = "_fitted_on_"

    def __init__(self, size=5, *, alpha=1e-4, beta=0.75, k=2.0, channel_axis=None):
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k
        self.channel_axis = channel_axis

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Validate ``X`` and record its features; nothing is learned.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            (or ``(n_samples, ..., n_channels, ...)`` with ``channel_axis``)
            Any Array API array, or NumPy/pandas/polars.
        y : None
            Ignored.

        Returns
        -------
        self : LocalResponseNormalizer
            The estimator.
        """
        return self._fit(X, None)

    def _updated_state(self, X, xp, device, sample_weight, method):
        return self._fitted_state(None, xp, device, X.shape[1], X.dtype)

    def _fitted_state(self, statistics, xp, device, n_features, dtype=None):
        # An empty array in X's namespace and on its device: what later calls
        # are checked against (no statistics are kept).
        dtype = output_float_dtype(xp, device, xp.float64) if dtype is None else dtype
        return {"_fitted_on_": xp.zeros((0,), dtype=dtype, device=device)}

    @_name_the_call
    @lazy_on_dask
    def transform(self, X):
        """Normalize each feature by its neighbourhood.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            (or ``(n_samples, ..., n_channels, ...)`` with ``channel_axis``)
            Data; fitted or not, any Array API array.

        Returns
        -------
        X_new : array of shape (n_samples, n_features)
            Same namespace, device and float dtype as ``X`` (integers become
            float64).
        """
        self._validate_params()  # stateless: no fit that would have done it
        X, xp, _ = self._check_transform_input(X, "transform", copy=False)
        size, alpha = int(self.size), float(self.alpha)
        beta, k = float(self.beta), float(self.k)
        return self._transform_kernel(
            xp, "transform", "local_response", X, size, alpha, beta, k
        )
