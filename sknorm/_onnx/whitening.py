"""ZCAWhitening: ``(x - mean_) @ whitening_.T``, the fitted matrix a
constant (every method, ``n_components``, shrinkage: they differ only in
the matrix)."""

from __future__ import annotations

import numpy as np

__all__ = ["convert_whitening", "whitening_width"]


def whitening_width(estimator):
    """Columns of the output: the kept components."""
    return int(estimator.n_components_)


def convert_whitening(estimator, g, x, layout):
    """``Sub`` then ``MatMul`` by the transposed whitening matrix, as the
    transform's kernel computes it (in the input's float dtype)."""
    W = np.asarray(estimator.whitening_)
    centred = g.op("Sub", x, g.const(estimator.mean_, name="mean"))
    return g.op("MatMul", centred, g.const(W.T, name="whitening_T"))
