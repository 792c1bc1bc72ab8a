"""
Fitting on a GPU (CuPy or torch CUDA)
=====================================

sknorm needs no flag for the GPU: hand it a CuPy array or a torch CUDA
tensor and every statistic is computed on that device, the fitted
attributes stay there (CuPy arrays, torch tensors), and ``transform``
returns an array of the same kind on the same device.  Data of another
library or device is refused rather than copied behind your back; the
explicit move is :func:`sknorm.move_estimator` (fit on a GPU, serve on
CPUs).

This example runs only on a machine with a CUDA GPU and CuPy or a CUDA
build of PyTorch.  The documentation is built where there may be none:
then the code is shown without its output, and running the script prints
that it found no GPU and stops.

Run: ``python examples/plot_gpu.py [figure.png]``
"""

# %%
# Find a GPU
# ----------
import sys

import matplotlib.pyplot as plt
import numpy as np

from sknorm import MiniBatchNormalizer, ZCAWhitening, ZScore, move_estimator


def find_gpu():
    """ "cupy" or "torch" for the first library that sees a CUDA GPU."""
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() > 0:
            return "cupy"
    except Exception:  # no CuPy, or CuPy without a driver or a device
        pass
    try:
        import torch

        if torch.cuda.is_available():
            return "torch"
    except ImportError:
        pass
    return None


LIBRARY = find_gpu()
if LIBRARY is None:
    print("No CUDA GPU found (through CuPy or torch): nothing to run.")
    sys.exit(0)

if LIBRARY == "cupy":
    import cupy

    def to_device(a):
        return cupy.asarray(a)

    def to_host(a):
        return cupy.asnumpy(a)

else:
    import torch

    def to_device(a):
        return torch.asarray(a, device="cuda")

    def to_host(a):
        return a.cpu().numpy()


# %%
# Fit and transform on the device
# -------------------------------
rng = np.random.default_rng(0)
X_host = rng.normal(size=(200_000, 8)) @ rng.normal(size=(8, 8)) + 100.0
X = to_device(X_host)

scaler = ZScore().fit(X)
print(f"input: {type(X).__module__}.{type(X).__name__} on {X.device}")
print(f"mean_: {type(scaler.mean_).__name__} on {scaler.mean_.device}")
Z = scaler.transform(X)
print(f"transform: {type(Z).__name__} on {Z.device}, dtype {Z.dtype}")

# Streaming works the same way; partial_fit does not copy batches to the host.
streamed = ZScore()
for start in range(0, X.shape[0], 25_000):
    streamed.partial_fit(X[start : start + 25_000])
gap = float(abs(streamed.var_ - scaler.var_).max() / scaler.var_.min())
print(f"streamed var_ against one fit: {gap:.1e} relative")

# Whitening and the Batch Normalization step, on the device too.
zca = ZCAWhitening(method="zca").fit(X)
W = zca.transform(X)
bn = MiniBatchNormalizer(momentum=0.1)
train_out = bn.normalize_batch(X[:4_096])
print(f"whitened: {type(W).__name__}; batch-normalized: {type(train_out).__name__}")

# %%
# The same-namespace rule, and the explicit move
# ----------------------------------------------
try:
    scaler.transform(X_host)
except ValueError as exc:
    print("NumPy data to a GPU-fitted scaler:", exc)

served = move_estimator(scaler, "numpy")  # every fitted array copied exactly
print("moved mean_:", type(served.mean_).__name__)
same = np.allclose(served.transform(X_host), to_host(Z), rtol=1e-12, atol=1e-12)
print("NumPy copy transforms as the GPU original:", same)

# %%
# What whitening did, drawn from host copies
# ------------------------------------------
cov_in = np.corrcoef(X_host, rowvar=False)
cov_out = np.cov(to_host(W), rowvar=False, bias=True)
fig, axes = plt.subplots(1, 2, figsize=(8.0, 3.6), layout="constrained")
for ax, matrix, title in (
    (axes[0], cov_in, "correlation of the input"),
    (axes[1], cov_out, f"covariance after ZCAWhitening on {LIBRARY}"),
):
    im = ax.imshow(matrix, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_title(title, fontsize=9)
fig.colorbar(im, ax=axes, shrink=0.8)
if len(sys.argv) > 1:
    fig.savefig(sys.argv[1])
