"""The emitter every converter writes its nodes through, and the layout of
the tensor it converts.

:class:`Graph` adds nodes and constants to one skl2onnx conversion (its
scope names them uniquely, its container holds them), so a converter is
written in a few lines of ``g.op("Sub", x, g.const(mean))`` and works both
inside a pipeline and from :func:`sknorm.onnx.to_onnx`.  Constants are
stored in the graph's float dtype (the dtype the estimator's transform
computes in): a float32 graph holds float32 state, as the kernels cast the
fitted terms to float32 before a float32 transform.

:class:`InputLayout` says where the features are: axis 1 of a 2-D input, or the
channel axis of an N-D one; per-feature vectors are reshaped to broadcast
along it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from onnx import numpy_helper
from onnx.helper import np_dtype_to_tensor_dtype

__all__ = ["Graph", "InputLayout"]


@dataclass(frozen=True)
class InputLayout:
    """An input of ``rank`` dimensions whose features lie along ``axis``
    (1 for 2-D input, the normalised channel axis of N-D input);
    ``channels`` is their count when the input type gives it (else None)."""

    rank: int
    axis: int
    channels: int | None

    def vector_shape(self, n):
        """The shape a vector of ``n`` per-feature values broadcasts from."""
        return (n,) + (1,) * (self.rank - 1 - self.axis)

    def broadcast(self, values):
        """``values`` (a scalar or one per feature) shaped to broadcast
        against the input; scalars stay scalars."""
        values = np.asarray(values)
        if values.ndim == 0:
            return values
        return values.reshape(self.vector_shape(values.shape[0]))


class Graph:
    """Nodes and constants of one conversion, computed in ``dtype``."""

    def __init__(self, scope, container, dtype):
        self.scope = scope
        self.container = container
        self.dtype = np.dtype(dtype)
        self._nodes = []

    def retyped(self, dtype):
        """The same graph (its held nodes shared) computing in ``dtype``."""
        other = Graph(self.scope, self.container, dtype)
        other._nodes = self._nodes
        return other

    @property
    def opset(self):
        """The ONNX (default domain) opset the model targets."""
        return self.container.target_opset

    def const(self, value, dtype=None, name="c"):
        """A constant (initializer) holding ``value`` in ``dtype`` (default:
        the graph's float dtype); returns its name."""
        array = np.ascontiguousarray(
            value, dtype=self.dtype if dtype is None else dtype
        )
        unique = self.scope.get_unique_variable_name(name)
        self.container.add_initializer(
            unique, None, None, numpy_helper.from_array(array, unique)
        )
        return unique

    def ints(self, values, name="i"):
        """An int64 constant (axes, pads, shapes, indices)."""
        return self.const(values, dtype=np.int64, name=name)

    def op(self, op_type, *inputs, domain="", **attrs):
        """Add one node of ``op_type``; returns its (single) output's name.

        Nodes are held until :meth:`finish`, which names the last one's
        output as the operator's output.
        """
        output = self.scope.get_unique_variable_name(op_type.lower())
        self._nodes.append((op_type, list(inputs), output, domain, attrs))
        return output

    def finish(self, y, out):
        """Add the held nodes to the model, ``y`` renamed ``out`` (an
        ``Identity`` when no node computed ``y``: it is the input)."""
        produced = {node[2] for node in self._nodes}
        if y not in produced:
            self._nodes.append(("Identity", [y], out, "", {}))
            y = out

        def renamed(name):
            return out if name == y else name

        for op_type, inputs, output, domain, attrs in self._nodes:
            self.container.add_node(
                op_type,
                [renamed(i) for i in inputs],
                [renamed(output)],
                op_domain=domain,
                name=self.scope.get_unique_operator_name(op_type),
                **attrs,
            )
        self._nodes.clear()

    def cast(self, name, dtype):
        """``name`` cast to the NumPy ``dtype``."""
        return self.op("Cast", name, to=np_dtype_to_tensor_dtype(np.dtype(dtype)))

    def where(self, condition, then, otherwise):
        return self.op("Where", condition, then, otherwise)


def per_channel_rows(g, x, layout, build):
    """``build(rows)`` applied to the input seen as ``(rows, channels)``.

    For a map that needs its features on axis 1 of a 2-D tensor (the
    quantile search gathers along axis 0 of a ``(n, channels)`` table):
    2-D input as it is; N-D input with the channel axis moved last, the
    other axes flattened into rows, and the result put back.
    """
    if layout.rank == 2:
        return build(x)
    perm = [a for a in range(layout.rank) if a != layout.axis] + [layout.axis]
    moved = x if layout.axis == layout.rank - 1 else g.op("Transpose", x, perm=perm)
    rows = g.op("Reshape", moved, g.ints([-1, layout.channels], name="rows"))
    y = g.op("Reshape", build(rows), g.op("Shape", moved))
    if moved is x:
        return y
    return g.op("Transpose", y, perm=[int(a) for a in np.argsort(perm)])
