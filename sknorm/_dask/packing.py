"""An estimator's mergeable states packed into one array per chunk.

Dask's tree reduction (``dask.array.reduction``) moves arrays, not tuples:
each chunk's states (``Moments``, ``MinMaxState``, ``CoMoments``, ...) and
its row count are packed into one ``(k, n_features)`` float64 array, in the
chunk's namespace (NumPy or CuPy), and unpacked again to be merged.  A 0-d
field takes one row (broadcast), a vector one row, a matrix ``n_features``
rows; the last row holds the number of rows.  Packing is exact: every field
is already in the accumulation dtype except the minimum and maximum, which
float64 holds exactly.

A state whose size depends on the data (a quantile summary: blocks of items)
packs itself: its class has ``to_rows(xp, dtype)``, giving ``(k,
n_features)`` rows, and ``from_rows(rows)``.  Its part is preceded by one row
holding ``k``; a layout with such a state is *variable*
(:attr:`StateLayout.variable`): its packed arrays differ in length, and
unpacking reads those lengths on the host.
"""

from __future__ import annotations

import array_api_compat.numpy as np_compat
import numpy as np

__all__ = ["StateLayout"]


class _Field:
    __slots__ = ("kind", "start", "stop")

    def __init__(self, kind, start, stop):
        self.kind, self.start, self.stop = kind, start, stop


class StateLayout:
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
        self.variable = any(_packs_itself(cls) for cls in self.types)
        self.extra_rows = extra_rows
        self.fields = []
        row = 0
        for cls in self.types:
            if _packs_itself(cls):
                self.fields.append(None)
                continue
            empty = cls.empty(np_compat, n_features, np.float64, "cpu")
            fields = []
            for value in empty:
                kind = {0: "scalar", 1: "vector", 2: "matrix"}[value.ndim]
                rows = n_features if kind == "matrix" else 1
                fields.append(_Field(kind, row, row + rows))
                row += rows
            self.fields.append(fields)
        # (Fixed layouts only: a variable one has no fixed rows.)
        self.count_row = None if self.variable else row
        self.rows = None if self.variable else row + 1 + extra_rows

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
            if fields is None:  # a state that packs itself, after its length
                rows = state.to_rows(xp, dtype)
                parts.append(
                    xp.full((1, f), float(rows.shape[0]), dtype=dtype, device=device)
                )
                parts.append(rows)
                continue
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
        ``n_rows`` is a 0-d array (no host read, but for the lengths of the
        states that pack themselves)."""
        states = []
        row = 0
        for cls, fields in zip(self.types, self.fields, strict=True):
            if fields is None:
                k = int(_host_float(packed[row, 0]))
                states.append(cls.from_rows(packed[row + 1 : row + 1 + k, :]))
                row += 1 + k
                continue
            values = []
            for field in fields:
                if field.kind == "scalar":
                    values.append(packed[field.start, 0])
                elif field.kind == "vector":
                    values.append(packed[field.start, :])
                else:
                    values.append(packed[field.start : field.stop, :])
                row = field.stop
            states.append(cls(*values))
        return tuple(states), packed[row, 0]


def _packs_itself(cls):
    return hasattr(cls, "to_rows") and hasattr(cls, "from_rows")


def _host_float(value):
    """A 0-d array's value on the host (CuPy: ``.get()``)."""
    if hasattr(value, "get"):
        value = value.get()
    return float(value)
