"""The ONNX converters behind :mod:`sknorm.onnx` (imported only by it: they
import skl2onnx and onnx).

One module per job: :mod:`.table` (which estimator gets which builder),
:mod:`.registry` (their registration with skl2onnx), :mod:`.glue` (the
shape calculator and converter skl2onnx calls: checks, dtypes, inputs),
:mod:`.graph` (the node emitter and the input's layout), the builders
(:mod:`.affine`, :mod:`.whitening`, :mod:`.batchnorm`, :mod:`.lrn`,
:mod:`.quantile`) and :mod:`.export` (the N-D entry point).
"""
