"""How a fitted estimator shows itself: a display that computes nothing.

scikit-learn 1.9's HTML repr lists the fitted attributes with
``inspect.getmembers``, which evaluates every property: for sknorm that
would run ``ZCAWhitening``'s eigendecomposition (its matrices are computed
on first use), and read device arrays back to the host (a GPU
synchronisation per attribute).  :class:`ReprWithoutComputing` lists the
same attributes without evaluating any: stored NumPy arrays are shown as
scikit-learn shows them, device arrays by type, dtype and shape only, and
derived attributes as "computed on access".

The ``?`` link of the repr points at the estimator's page of the
documentation site, ``DOCS_URL`` below (one page per class, Sphinx
autosummary's ``generated/<module>.<Name>.html``).
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator

__all__ = ["DOCS_URL", "ReprWithoutComputing"]

#: The documentation site, as .readthedocs.yaml builds it; the one place to
#: change when it moves ("latest" is the build of the default branch, the
#: one version Read the Docs has before a release is tagged).
DOCS_URL = "https://sknorm.readthedocs.io/en/latest"


class _Placeholder:
    """A value shown by its text, for what the display does not read."""

    def __init__(self, text):
        self._text = text

    def __repr__(self):
        return self._text


_COMPUTED_ON_ACCESS = _Placeholder("computed on access")


def _unread(value):
    # scikit-learn's table cuts a value's text at 30 characters.
    text = f"not read (on {getattr(value, 'device', 'its device')})"
    return _Placeholder(text if len(text) <= 30 else "not read (device array)")


def _stored_row(value):
    """What scikit-learn's table shows for a stored attribute, minus reads."""
    is_array = (
        hasattr(value, "shape")
        and hasattr(value, "dtype")
        and not isinstance(value, numbers.Number)
    )
    if not is_array:
        return {"type_name": type(value).__name__, "value": value}
    return {
        "type_name": type(value).__name__,
        "shape": tuple(value.shape),
        "dtype": value.dtype,
        # Printing a device (or any non-NumPy) array would copy it to the
        # host; its type, dtype, shape and device are metadata, free to read.
        "value": value if isinstance(value, np.ndarray) else _unread(value),
    }


class ReprWithoutComputing:
    """The documentation link and a fitted-attributes table without work."""

    _doc_link_module = "sknorm"
    _doc_link_template = DOCS_URL + "/generated/sknorm.{estimator_name}.html"

    def _lazy_attributes(self):
        """Names of the public fitted attributes computed when read (the
        properties ending in ``_``); estimators drop those their current
        state does not have."""
        names = set()
        for klass in type(self).__mro__:
            for name, value in vars(klass).items():
                public = not name.startswith("_") and name.endswith("_")
                if public and isinstance(value, property):
                    names.add(name)
        return names


def _fitted_attributes_table(self, doc_link=""):
    """scikit-learn 1.9's fitted-attributes table, evaluating nothing.

    scikit-learn's own calls ``inspect.getmembers(self)``; this reads
    ``__dict__`` and lists the properties by name.
    """
    from sklearn.utils._repr_html.fitted_attributes import AttrsDict

    rows = {}
    stored = {
        name: value
        for name, value in vars(self).items()
        if not name.startswith("_") and name.endswith("_")
    }
    lazy = self._lazy_attributes() - set(stored)
    for name in sorted(set(stored) | lazy):
        if name in stored:
            rows[name] = _stored_row(stored[name])
        else:
            rows[name] = {"type_name": "property", "value": _COMPUTED_ON_ACCESS}
    return AttrsDict(fitted_attrs=rows, estimator_class=type(self), doc_link=doc_link)


# scikit-learn 1.9 added the table (BaseEstimator._get_fitted_attr_html);
# earlier versions neither call nor have it.
if hasattr(BaseEstimator, "_get_fitted_attr_html"):
    ReprWithoutComputing._get_fitted_attr_html = _fitted_attributes_table
