"""Stable public names for the classes that persisted files refer to.

A pickle or skops file names each object's class by ``__module__`` and
``__name__``.  Left alone, those are the private modules the classes happen
to be defined in (``sknorm._stats.Moments``), so renaming a private module
would break every file saved before, and skops users would have to trust
private names.  The estimators are therefore published as ``sknorm.<Name>``
(their documented names) and the fitted-state types as
``sknorm.state.<Name>``; :mod:`sknorm.state` imports them, which is what
makes those names resolve.

The state types also get ``__sklearn_array_api_convert__``, the hook with
which scikit-learn's ``move_estimator_to`` (and :func:`sknorm.move_estimator`)
converts the arrays inside a state instead of leaving them where they were.
"""

from __future__ import annotations

import sys

import array_api_compat
import numpy as np

__all__ = ["convert_array", "convert_state_fields", "published_as", "state_type"]


def _has_examples(value):
    doc = getattr(value, "__doc__", None)
    return isinstance(doc, str) and ">>>" in doc


def _keep_method_doctests(cls, defining_module):
    """Keep the examples of ``cls``'s methods in the doctest run.

    doctest looks for a class's docstring in the module named by its
    ``__module__`` (``sknorm``, which re-exports it: found there), but for a
    method's in the module whose globals the method has (the private one,
    where doctest no longer sees the class).  ``__test__`` is doctest's way of
    naming extra objects to search, so the methods with examples go there.
    """
    tests = defining_module.__dict__.setdefault("__test__", {})
    for attr, value in vars(cls).items():
        if isinstance(value, classmethod | staticmethod):
            value = getattr(cls, attr)
        elif isinstance(value, property):
            value = value.fget
        if callable(value) and _has_examples(value):
            tests[f"{cls.__name__}.{attr}"] = value


def published_as(module, name=None):
    """Class decorator: the class is known as ``module.name`` from now on.

    ``module`` must import the class under that name (pickle and skops look
    it up there).  ``name`` defaults to the class's own name.
    """

    def decorate(cls):
        defining_module = sys.modules[cls.__module__]
        cls.__module__ = module
        if name is not None:
            cls.__name__ = cls.__qualname__ = name
        _keep_method_doctests(cls, defining_module)
        return cls

    return decorate


def convert_state_fields(state, converter):
    """A copy of the NamedTuple ``state`` with ``converter`` applied to each
    array field, and to each array of a tuple field (a quantile summary's
    blocks); other fields (counts, flags, levels) are kept."""

    def convert(value):
        if type(value) is tuple:
            return tuple(convert_array(v, converter) for v in value)
        return convert_array(value, converter)

    return type(state)(*(convert(v) for v in state))


def convert_array(value, converter):
    """``converter(value)`` for an array, ``value`` itself otherwise.

    A NumPy scalar (what NumPy's reductions return) is handed over as a 0-d
    array: converters go through DLPack, which scalars do not speak.
    """
    if not array_api_compat.is_array_api_obj(value):
        return value
    if isinstance(value, np.generic):
        value = np.asarray(value)
    return converter(value)


def state_type(cls):
    """Class decorator for a fitted-state NamedTuple: published as
    ``sknorm.state.<Name>``, with scikit-learn's array conversion hook."""
    cls.__sklearn_array_api_convert__ = convert_state_fields
    return published_as("sknorm.state")(cls)
