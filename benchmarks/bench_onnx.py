"""ONNX export: onnxruntime inference against the same pipeline in Python.

One row: ``make_pipeline(ZScore(), LogisticRegression())`` fitted on
100,000 x 64 rows (``--quick``: the smoke data), exported with
``skl2onnx.to_onnx`` after ``import sknorm.onnx`` and run by an
onnxruntime CPU session (labels and probabilities), against the
pipeline's ``predict`` in Python on the same rows.  No target: the ratio
tells users what to expect from serving the graph.  NumPy backend only
(the session runs on the CPU); without skl2onnx or onnxruntime the module
yields nothing.
"""

from __future__ import annotations

import numpy as np

N_SAMPLES, N_FEATURES = 100_000, 64


def run(ctx):
    if ctx.backend != "numpy":
        return
    try:
        import onnxruntime as ort
        import skl2onnx
    except ImportError:  # the onnx extra is not installed
        return
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    import sknorm.onnx  # noqa: F401  (registers the converters)
    from sknorm import ZScore

    if ctx.quick:
        X = ctx.X_numpy
    else:
        X, _ = ctx.make_data(N_SAMPLES, N_FEATURES)
    score = X[:, 0] - X[:, 1]
    y = (score > np.median(score)).astype(int)
    pipe = make_pipeline(ZScore(), LogisticRegression(max_iter=200)).fit(X, y)
    model = skl2onnx.to_onnx(pipe, X[:1], options={"zipmap": False})
    session = ort.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    labels, _ = session.run(None, {"X": X})
    if not np.array_equal(labels, pipe.predict(X)):
        raise AssertionError("onnxruntime's labels differ from predict's")
    rows, features = X.shape
    yield ctx.measure(
        "ONNX ZScore+LogisticRegression (onnxruntime)",
        lambda: session.run(None, {"X": X}),
        reference=("pipeline.predict", lambda: pipe.predict(X)),
        floor=None,
        data=X,
        note=f"{rows:,} x {features}; onnxruntime returns probabilities too",
    )
