"""Doctest collection of the package (``testpaths`` has ``sknorm``):
:mod:`sknorm.onnx` and its converters import skl2onnx, onnx and
onnxruntime (the onnx extra) when imported, so without them they are left
out, as ``tests/test_onnx.py`` skips itself; the compiled loops' modules
import numba (the numba extra), and are left out without it."""

import importlib.util

collect_ignore = []
if any(
    importlib.util.find_spec(name) is None
    for name in ("skl2onnx", "onnx", "onnxruntime")
):
    collect_ignore += ["sknorm/onnx.py", "sknorm/_onnx"]
if importlib.util.find_spec("numba") is None:
    collect_ignore += [
        "sknorm/_kernels/numba_columns.py",
        "sknorm/_kernels/numba_rows.py",
    ]
