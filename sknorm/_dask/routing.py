"""Where the estimators hand Dask input to the Dask layer.

:mod:`sknorm._base` calls these for every estimator; nothing here imports
Dask (the layer, :mod:`.layer`, is imported on the first Dask input):

* :func:`updated` -- ``fit`` / ``partial_fit`` of a Dask collection (one
  graph execution), or None for any other input;
* :func:`lazy_on_dask` -- a transform-like method that returns a lazy Dask
  result for Dask input;
* :func:`dask_aware_output` -- scikit-learn's ``set_output`` wrapper kept
  lazy for Dask input.
"""

from __future__ import annotations

import functools

from . import is_dask_collection

__all__ = ["dask_aware_output", "layer", "lazy_on_dask", "updated"]


def layer():
    """The Dask layer, imported on first use (``import sknorm`` must not
    import dask)."""
    from . import layer as dask_layer

    return dask_layer


def updated(estimator, X, sample_weight, *, method, reset):
    """The estimator after ``fit`` (``reset``) or ``partial_fit`` of the
    Dask collection ``X``; None when X is not one (the caller fits it)."""
    if not is_dask_collection(X):
        return None
    return layer().update(estimator, X, sample_weight, method=method, reset=reset)


def lazy_on_dask(method):
    """Route a transform-like method to the Dask layer for Dask input.

    ``method(self, X, ...)`` is called as it is for any other input; for a
    ``dask.array.Array`` or ``dask.dataframe.DataFrame`` the Dask layer builds
    the lazy result, which applies ``method`` of a frozen copy of the
    estimator to every block (no graph is executed).
    """
    name = method.__name__

    @functools.wraps(method)
    def wrapper(self, X, *args, **kwargs):
        if is_dask_collection(X):
            return layer().lazy_transform(self, name, X, *args, **kwargs)
        return method(self, X, *args, **kwargs)

    return wrapper


def dask_aware_output(wrapped):
    """Keep Dask output lazy under ``set_output``.

    scikit-learn's ``set_output`` wrapper (around ``transform`` and
    ``fit_transform``) would turn a lazy result into a pandas frame, i.e.
    compute it; for Dask input this calls the method inside that wrapper and
    lets the Dask layer give the configured container its Dask form (a
    ``dask.dataframe.DataFrame`` for "pandas").
    """
    inner = getattr(wrapped, "__wrapped__", None)
    if inner is None or getattr(wrapped, "_sknorm_dask_output", False):
        return wrapped

    @functools.wraps(wrapped)
    def method(self, X, *args, **kwargs):
        if is_dask_collection(X):
            return layer().output_container(self, inner(self, X, *args, **kwargs))
        return wrapped(self, X, *args, **kwargs)

    method._sknorm_dask_output = True
    return method
