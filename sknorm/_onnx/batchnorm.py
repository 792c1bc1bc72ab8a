"""MiniBatchNormalizer: inference-mode Batch Normalization from the
running statistics.

``transform`` is ``(x - running_mean_) * (scale / sqrt(running_var_ +
eps)) + shift``: the running mean is subtracted first.  ONNX's
``BatchNormalization`` (inference) folds the mean into the bias, ``x * a +
(b - mean * a)``, which in onnxruntime loses the digits of ``x - mean``
when the means are large compared with the spread (measured: 1e-5
absolute in float32 at means of 1e4, a hundred roundings).  So the graph
subtracts the mean in a ``Sub`` of its own and gives the node a zero mean:
the node holds γ, β and ``running_var_ + eps`` (computed in float64, so
``epsilon`` is 0: the attribute is a float32 and would round ``eps``).
The node runs on ``(N, C, ...)``: 2-D input and ``channel_axis=1``; other
channel axes get the same numbers from ``Mul``/``Add`` broadcast along the
axis (no transposes).
"""

from __future__ import annotations

import array_api_compat.numpy as xp_numpy
import numpy as np

from .affine import convert_affine

__all__ = ["convert_minibatch"]


def convert_minibatch(estimator, g, x, layout):
    if layout.axis != 1:
        # Channels elsewhere: the estimator's own terms, broadcast.
        return convert_affine(estimator, g, x, layout)
    n = estimator.n_features_in_
    gamma, beta = estimator._gamma_beta("transform", n, xp_numpy, "cpu", np.float64)
    gamma = np.broadcast_to(np.asarray(gamma, dtype=np.float64), (n,))
    beta = np.zeros(n) if beta is None else np.broadcast_to(beta, (n,))
    mean = np.asarray(estimator.running_mean_, dtype=np.float64)
    denominator = np.asarray(estimator.running_var_, np.float64) + float(estimator.eps)
    centred = g.op("Sub", x, g.const(layout.broadcast(mean), name="running_mean"))
    return g.op(
        "BatchNormalization",
        centred,
        g.const(gamma, name="gamma"),
        g.const(beta, name="beta"),
        g.const(np.zeros(n), name="zero_mean"),
        g.const(denominator, name="running_var_eps"),
        epsilon=0.0,
    )
