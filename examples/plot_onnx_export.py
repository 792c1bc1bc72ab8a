"""
Fit on a stream, serve with ONNX
================================

A normalizer fitted batch by batch with ``partial_fit`` (a stream from a
file or a queue), a classifier on top, exported to ONNX and run by
onnxruntime: the serving side needs neither Python nor sknorm.  After
``import sknorm.onnx``, skl2onnx's own ``to_onnx`` converts the pipeline;
:func:`sknorm.onnx.to_onnx` converts N-D image statistics
(``channel_axis``), which skl2onnx's entry cannot express.

Run: ``python examples/plot_onnx_export.py [figure.png]`` (needs
``pip install "sknorm[onnx]"``).
"""

# %%
# A pipeline fitted on a stream
# -----------------------------
# The digits (1,797 images of 8 x 8 pixels, as 64 features) arrive in
# batches of 100 rows: :class:`sknorm.ZScore` and
# :class:`sknorm.ZCAWhitening` take them with ``partial_fit``, and a
# logistic regression is fitted on the whitened rows.
import sys

import matplotlib.pyplot as plt
import numpy as np
import onnxruntime as ort
import skl2onnx
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

import sknorm.onnx  # registers sknorm's converters with skl2onnx
from sknorm import MiniBatchNormalizer, ZCAWhitening, ZScore

X, y = load_digits(return_X_y=True)
X = X.astype(np.float32)
scaler, whitening = ZScore(), ZCAWhitening(method="pca", n_components=30, eps=1e-3)
for start in range(0, len(X), 100):
    batch = X[start : start + 100]
    scaler.partial_fit(batch)
for start in range(0, len(X), 100):
    whitening.partial_fit(scaler.transform(X[start : start + 100]))
classifier = LogisticRegression(max_iter=500).fit(
    whitening.transform(scaler.transform(X)), y
)
pipe = Pipeline([("scale", scaler), ("whiten", whitening), ("classify", classifier)])

# %%
# Export and serve
# ----------------
# One call converts the whole pipeline (float32 in, float32 graph); the
# session is all a server needs.
model = skl2onnx.to_onnx(pipe, X[:1], options={"zipmap": False})
session = ort.InferenceSession(model.SerializeToString())
labels, proba = session.run(None, {"X": X})
print("nodes:", [node.op_type for node in model.graph.node])
print(f"labels identical: {np.array_equal(labels, pipe.predict(X))}")
print(
    f"largest probability difference: {np.abs(proba - pipe.predict_proba(X)).max():.1e}"
)

# %%
# Batch Normalization statistics of images
# ----------------------------------------
# :class:`sknorm.MiniBatchNormalizer` with ``channel_axis=1`` keeps
# per-channel running statistics of ``(N, C, H, W)`` batches, as
# ``BatchNorm2d`` does; :func:`sknorm.onnx.to_onnx` turns them into a
# ``BatchNormalization`` node (after a ``Sub`` of the running mean: the
# graph keeps the digits the estimator keeps).  The sizes other than the
# channels stay free: the graph takes images of any size.
rng = np.random.default_rng(0)
means = np.array([120.0, 80.0, 30.0]).reshape(3, 1, 1)
bn = MiniBatchNormalizer(channel_axis=1, momentum=None)
for _ in range(20):
    bn.partial_fit((means + 20.0 * rng.normal(size=(32, 3, 16, 16))).astype(np.float32))
bn_model = sknorm.onnx.to_onnx(bn, np.zeros((1, 3, 16, 16), np.float32))
print("nodes:", [node.op_type for node in bn_model.graph.node])
images = (means + 20.0 * rng.normal(size=(8, 3, 40, 30))).astype(np.float32)
(served,) = ort.InferenceSession(bn_model.SerializeToString()).run(None, {"X": images})
reference = bn.transform(images)
ulps = np.abs(served - reference) / np.spacing(np.abs(reference))
print(f"largest difference: {ulps.max():.0f} float32 units in the last place")

# %%
# What the difference looks like
# ------------------------------
# Left: the pipeline's probabilities, onnxruntime's minus Python's, against
# the probability: float32 roundings (the whitening's matrix product and
# the classifier sum in another order).  Right: the images' differences in
# units in the last place of float32: onnxruntime's ``BatchNormalization``
# computes ``gamma / sqrt(var + eps)`` in float32 where the estimator
# rounds it once from float64.
fig, (left, right) = plt.subplots(1, 2, figsize=(8.0, 3.6))
python_proba = pipe.predict_proba(X)
left.plot(python_proba.ravel(), (proba - python_proba).ravel(), ".", ms=2)
left.set_xlabel("predict_proba (Python)")
left.set_ylabel("onnxruntime - Python")
left.set_title("Pipeline probabilities")
right.hist(ulps.ravel(), bins=np.arange(0, ulps.max() + 2) - 0.5)
right.set_xlabel("|ONNX - transform| in float32 ulps")
right.set_ylabel("values")
right.set_title("BatchNormalization of images")
fig.tight_layout()
if len(sys.argv) > 1:
    fig.savefig(sys.argv[1])
