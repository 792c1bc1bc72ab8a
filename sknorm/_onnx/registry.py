"""Registration with skl2onnx of every class in the table.

``import sknorm.onnx`` calls :func:`register_all`: for each class of
:data:`~.table.CONVERTERS`, ``skl2onnx.update_registered_converter`` with
the shared parser, shape calculator and converter of :mod:`.glue`, under
the alias ``Sknorm<Class>``.  After that, skl2onnx converts the class wherever it
meets it: alone, in a ``Pipeline``, in a ``ColumnTransformer``.
"""

from __future__ import annotations

from skl2onnx import update_registered_converter

from .glue import alias, convert, parser, shape_calculator
from .table import CONVERTERS, Converter

__all__ = ["register", "register_all"]


def _register_with_skl2onnx(cls):
    update_registered_converter(
        cls, alias(cls), shape_calculator, convert, parser=parser
    )


def register(cls, build, width=None):
    """Give ``cls`` the converter ``build`` and register it with skl2onnx.

    Parameters
    ----------
    cls : type
        The estimator class.
    build : callable
        ``build(estimator, g, x, layout) -> name`` (see :mod:`.table`).
    width : callable, default=None
        ``width(estimator) -> int``, the output's number of features, when
        it is not the input's.
    """
    CONVERTERS[cls] = Converter(build, width)
    _register_with_skl2onnx(cls)


def register_all():
    """Register every class of :data:`~.table.CONVERTERS` with skl2onnx."""
    for cls in CONVERTERS:
        _register_with_skl2onnx(cls)
