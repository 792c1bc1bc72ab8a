"""The one table of converters: an estimator class and how to build its
nodes.

To export a new estimator, add one entry to :data:`CONVERTERS` (or call
:func:`sknorm._onnx.registry.register` after import).  A builder is
``build(estimator, g, x, layout) -> name``: it gets the estimator's host
copy, the emitter (:class:`~.graph.Graph`, in the compute dtype), the
input's name and its :class:`~.graph.InputLayout`, and returns the name of its
output; :mod:`.glue` does the rest once for every estimator (checks,
dtypes, several inputs, the output's type and name).
"""

from __future__ import annotations

from typing import NamedTuple

from .._lrn import LocalResponseNormalizer
from .._minibatch import MiniBatchNormalizer
from .._minmax import MinMax
from .._robust import MaxAbs, Quantile, Robust
from .._whitening import ZCAWhitening
from .._zscore import ZScore
from . import affine, batchnorm, lrn, quantile, whitening

__all__ = ["CONVERTERS", "Converter", "converter_for"]


class Converter(NamedTuple):
    """``build(estimator, g, x, layout) -> output name``; ``width(estimator)``
    the number of output features when it is not the input's (None)."""

    build: object
    width: object = None


CONVERTERS = {
    MinMax: Converter(affine.convert_minmax),
    ZScore: Converter(affine.convert_affine),
    ZCAWhitening: Converter(whitening.convert_whitening, whitening.whitening_width),
    MiniBatchNormalizer: Converter(batchnorm.convert_minibatch),
    LocalResponseNormalizer: Converter(lrn.convert_lrn),
    MaxAbs: Converter(affine.convert_maxabs),
    Robust: Converter(affine.convert_affine),
    Quantile: Converter(quantile.convert_quantile),
}


def converter_for(estimator):
    """The table's entry for ``estimator``'s class (or its nearest base in
    the table), None if there is none."""
    for cls in type(estimator).__mro__:
        entry = CONVERTERS.get(cls)
        if entry is not None:
            return entry
    return None
