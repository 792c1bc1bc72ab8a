"""LocalResponseNormalizer: ONNX's ``LRN`` where its semantics match the
estimator's, the same sum from elementary ops everywhere else.

``LRN`` sums ``x**2`` over channels ``c - floor((size-1)/2)`` to ``c +
ceil((size-1)/2)`` and divides by ``(bias + alpha / size * sum) ** beta``:
torch's (and the estimator's) window for an odd ``size``, one channel
higher for an even one.  onnxruntime runs it on 4-D float32 input only,
and a NaN spreads into its neighbours' sums, where the estimator counts it
as 0.  So the node is used for float32 (and float16, computed in float32),
odd sizes and the channels on axis 1 (2-D input included), reshaped to
``(N, C, -1, 1)`` and back, with NaNs set to 0 before it and restored
after.  Otherwise the graph computes what the estimator's kernel does, in
its order: ``x * x`` (NaN as 0), zero padded along the channels, the
window's shifted slices added in increasing order, then ``/ size``,
``* alpha``, ``+ k``, ``** beta`` and ``x / that``: any rank, channel axis,
size and float dtype.
"""

from __future__ import annotations

import numpy as np

__all__ = ["convert_lrn"]

_TO_END = np.iinfo(np.int64).max


def _params(estimator):
    return (
        int(estimator.size),
        float(estimator.alpha),
        float(estimator.beta),
        float(estimator.k),
    )


def convert_lrn(estimator, g, x, layout):
    size = int(estimator.size)
    if g.dtype == np.float32 and size % 2 == 1 and layout.axis == 1:
        return _lrn_node(estimator, g, x, layout)
    return _window_sum(estimator, g, x, layout)


def _lrn_node(estimator, g, x, layout):
    size, alpha, beta, k = _params(estimator)
    x4 = x
    if layout.rank != 4:
        x4 = g.op("Reshape", x, g.ints([0, 0, -1, 1], name="nc_rest"))
    missing = g.op("IsNaN", x4)
    zeroed = g.where(missing, g.const(0.0, name="zero"), x4)
    y = g.op("LRN", zeroed, size=size, alpha=alpha, beta=beta, bias=k)
    y = g.where(missing, x4, y)
    if layout.rank != 4:
        y = g.op("Reshape", y, g.op("Shape", x))
    return y


def _window_sum(estimator, g, x, layout):
    size, alpha, beta, k = _params(estimator)
    sq = g.op("Mul", x, x)
    # Missing values add nothing to their neighbours' windows (as the zero
    # padding at the edges) and stay NaN in the output (x / ... is NaN).
    sq = g.where(g.op("IsNaN", sq), g.const(0.0, name="zero"), sq)
    before, after = size // 2, (size - 1) // 2
    if layout.channels is not None:  # cells further than C - 1 away: padding
        before = min(before, layout.channels - 1)
        after = min(after, layout.channels - 1)
    width = before + after
    if width:
        pads = np.zeros(2 * layout.rank, dtype=np.int64)
        pads[layout.axis] = before
        pads[layout.rank + layout.axis] = after
        padded = g.op("Pad", sq, g.ints(pads, name="pads"))
        axes = g.ints([layout.axis], name="axis")

        def window(d):  # padded[d : d + C] along the axis
            end = d - width if d < width else _TO_END
            return g.op("Slice", padded, g.ints([d]), g.ints([end]), axes)

        div = g.op("Add", window(0), window(1))
        for d in range(2, width + 1):
            div = g.op("Add", div, window(d))
    else:
        div = sq
    # torch: avg_pool (sum / size), then .mul(alpha).add(k).pow(beta).
    div = g.op("Div", div, g.const(float(size), name="size"))
    div = g.op("Mul", div, g.const(alpha, name="alpha"))
    div = g.op("Add", div, g.const(k, name="k"))
    div = g.op("Pow", div, g.const(beta, name="beta"))
    return g.op("Div", x, div)
