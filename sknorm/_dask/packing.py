"""An estimator's mergeable states packed into one array per chunk.

Dask's tree reduction (``dask.array.reduction``) moves arrays, not tuples:
each chunk's states (``Moments``, ``MinMaxState``, ``CoMoments``, ...) and
its row count are packed into one ``(k, n_features)`` float64 array, in the
chunk's namespace (NumPy or CuPy), and unpacked again to be merged.  A 0-d
field takes one row (broadcast), a vector one row, a matrix ``n_features``
rows; the last row holds the number of rows.  Packing is exact: every field
is already in the accumulation dtype except the minimum and maximum, which
float64 holds exactly.
"""

from __future__ import annotations

import array_api_compat.numpy as np_compat
import numpy as np

__all__ = ["Layout"]


class _Field:
    __slots__ = ("kind", "start", "stop")

    def __init__(self, kind, start, stop):
        self.kind, self.start, self.stop = kind, start, stop


class Layout:
    """Where each field of each state sits in the packed array.

    Parameters
    ----------
    types : tuple of state classes
        ``estimator._statistic_types()``; each has ``empty(xp, n_features,
        dtype, device)``, which gives the shape of its fields.
    n_features : int
    extra_rows : int, default=0
        Rows after the row count that callers fill themselves (the batch
        index of a MiniBatchNormalizer piece).
    """

    def __init__(self, types, n_features, extra_rows=0):
        self.types = tuple(types)
        self.n_features = n_features
        self.fields = []
        row = 0
        for cls in self.types:
            empty = cls.empty(np_compat, n_features, np.float64, "cpu")
            fields = []
            for value in empty:
                kind = {0: "scalar", 1: "vector", 2: "matrix"}[value.ndim]
                rows = n_features if kind == "matrix" else 1
                fields.append(_Field(kind, row, row + rows))
                row += rows
            self.fields.append(fields)
        self.count_row = row
        self.rows = row + 1 + extra_rows

    def empty(self, xp, dtype, device):
        """The states of no rows."""
        return tuple(
            cls.empty(xp, self.n_features, dtype, device) for cls in self.types
        )

    def pack(self, xp, states, n_rows, dtype, device, extra=()):
        """``(k, n_features)``: the states, the row count, then ``extra``."""
        f = self.n_features
        parts = []
        for state, fields in zip(states, self.fields, strict=True):
            for value, field in zip(state, fields, strict=True):
                value = xp.astype(value, dtype)
                if field.kind == "scalar":
                    value = xp.broadcast_to(xp.reshape(value, (1, 1)), (1, f))
                elif field.kind == "vector":
                    value = xp.reshape(value, (1, f))
                parts.append(value)
        for value in (n_rows, *extra):
            if hasattr(value, "ndim"):  # a merged count: no host read
                value = xp.reshape(xp.astype(value, dtype), (1, 1))
                parts.append(xp.broadcast_to(value, (1, f)))
            else:
                parts.append(xp.full((1, f), float(value), dtype=dtype, device=device))
        return xp.concat(parts, axis=0)

    def unpack(self, packed):
        """``(states, n_rows)`` from one packed ``(k, n_features)`` array;
        ``n_rows`` is a 0-d array (no host read)."""
        states = []
        for cls, fields in zip(self.types, self.fields, strict=True):
            values = []
            for field in fields:
                if field.kind == "scalar":
                    values.append(packed[field.start, 0])
                elif field.kind == "vector":
                    values.append(packed[field.start, :])
                else:
                    values.append(packed[field.start : field.stop, :])
            states.append(cls(*values))
        return tuple(states), packed[self.count_row, 0]
