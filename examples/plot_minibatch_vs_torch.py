"""
Batch Normalization running statistics against PyTorch's
========================================================

:class:`sknorm.MiniBatchNormalizer` keeps the running mean and variance
that Batch Normalization accumulates, with PyTorch's conventions:
``running = (1 - momentum) * running + momentum * batch_statistic``, the
*unbiased* batch variance in the running variance, ``momentum=None`` for
the cumulative average, and (with ``init="pytorch"``) the start values
mean 0 and variance 1 of a fresh ``torch.nn.BatchNorm1d``.

Here a stream of batches drifts: its mean rises and its spread grows.  The
running mean and variance are drawn for several momenta, sknorm's as lines
and, when PyTorch is installed, ``BatchNorm1d``'s (trained on the very same
batches) as markers on top; the largest difference between the two is
printed.  Without PyTorch the torch curves are left out.

Run: ``python examples/plot_minibatch_vs_torch.py [figure.png]``
"""

# %%
# A drifting stream of batches
# ----------------------------
import sys

import matplotlib.pyplot as plt
import numpy as np

from sknorm import MiniBatchNormalizer

try:
    import torch
except ImportError:  # the example runs without PyTorch, without its curves
    torch = None

rng = np.random.default_rng(0)
N_BATCHES, BATCH, FEATURES = 200, 32, 3
steps = np.arange(N_BATCHES)
true_mean = 2.0 + 3.0 * steps / N_BATCHES  # rises from 2 to 5
true_std = 0.5 + 1.5 * steps / N_BATCHES  # grows from 0.5 to 2
stream = [
    true_mean[t] + true_std[t] * rng.normal(size=(BATCH, FEATURES)) for t in steps
]

# %%
# The same batches through sknorm and through torch
# -------------------------------------------------
MOMENTA = [0.01, 0.1, 0.5, None]
curves = {}
for momentum in MOMENTA:
    ours = MiniBatchNormalizer(momentum=momentum, init="pytorch")
    mean, var = [], []
    for batch in stream:
        ours.partial_fit(batch)
        mean.append(float(ours.running_mean_[0]))
        var.append(float(ours.running_var_[0]))
    curves[momentum] = {"sknorm": (np.array(mean), np.array(var))}
    if torch is None:
        continue
    layer = torch.nn.BatchNorm1d(FEATURES, momentum=momentum, dtype=torch.float64)
    layer.train()
    mean, var = [], []
    with torch.no_grad():
        for batch in stream:
            layer(torch.from_numpy(batch))
            mean.append(float(layer.running_mean[0]))
            var.append(float(layer.running_var[0]))
    curves[momentum]["torch"] = (np.array(mean), np.array(var))
    # The whole state, not only feature 0.
    gap = max(
        float(np.max(np.abs(ours.running_mean_ - layer.running_mean.numpy()))),
        float(np.max(np.abs(ours.running_var_ - layer.running_var.numpy()))),
    )
    print(f"momentum={momentum}: largest |sknorm - torch| after 200 batches {gap:.1e}")

if torch is None:
    print("PyTorch is not installed: the torch curves are left out.")

# %%
# Running mean and variance of feature 0
# --------------------------------------
# A small momentum averages over many batches and lags behind the drift; a
# large one follows the last batches and is noisy; ``momentum=None`` weighs
# every batch alike (the mean of all batches so far).  Keras counts momentum
# the other way round: Keras' ``momentum=0.99`` is ``momentum=0.01`` here.
fig, (ax_mean, ax_var) = plt.subplots(1, 2, figsize=(10.5, 4.0))
ax_mean.plot(steps, true_mean, color="black", lw=1, label="true mean")
ax_var.plot(steps, true_std**2, color="black", lw=1, label="true variance")
for momentum, colour in zip(
    MOMENTA, plt.cm.viridis([0.0, 0.35, 0.65, 0.9]), strict=True
):
    for ax, i in ((ax_mean, 0), (ax_var, 1)):
        ax.plot(
            steps,
            curves[momentum]["sknorm"][i],
            color=colour,
            label=f"momentum={momentum}",
        )
        if "torch" in curves[momentum]:
            ax.plot(
                steps[::10],
                curves[momentum]["torch"][i][::10],
                "o",
                mfc="none",
                color=colour,
                ms=5,
            )
ax_mean.set_title("running_mean_ (lines: sknorm, circles: BatchNorm1d)", fontsize=9)
ax_var.set_title("running_var_ (unbiased)", fontsize=9)
for ax in (ax_mean, ax_var):
    ax.set_xlabel("batch")
ax_mean.legend(fontsize=8)
fig.tight_layout()
if len(sys.argv) > 1:
    fig.savefig(sys.argv[1])
