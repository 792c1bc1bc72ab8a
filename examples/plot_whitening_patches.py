"""
ZCA whitening of natural image patches
======================================

Neighbouring pixels of natural images are strongly correlated: the
covariance of 8x8 patches is dominated by smooth, low-frequency structure.
ZCA whitening (``ZCAWhitening(method="zca")``, ``W = Σ^-1/2``) removes those
correlations while keeping each output pixel as close as possible to the
input pixel, so whitened patches still look like patches: flat regions
vanish and edges stand out, the classic preprocessing of Krizhevsky's and
Coates & Ng's image models.

The patches come from the two images that ship with scikit-learn
(``load_sample_images``, no download) and are fed to ``partial_fit`` one
image at a time, as a stream would.  The figure shows patches before and
after whitening and the two 64 x 64 covariance matrices.

Run: ``python examples/plot_whitening_patches.py [figure.png]``
"""

# %%
# Patches, streamed one image at a time
# -------------------------------------
import sys

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_sample_images
from sklearn.feature_extraction.image import extract_patches_2d

from sknorm import ZCAWhitening

PATCH = 8
PATCHES_PER_IMAGE = 20_000
SHOWN = 8


def image_patches(image, rng):
    """Grayscale 8x8 patches of one RGB image, as rows of 64 pixels."""
    gray = image.astype(np.float64) @ np.array([0.299, 0.587, 0.114]) / 255.0
    patches = extract_patches_2d(
        gray, (PATCH, PATCH), max_patches=PATCHES_PER_IMAGE, random_state=rng
    )
    return patches.reshape(len(patches), -1)


def max_abs_correlation(X):
    corr = np.corrcoef(X, rowvar=False)
    np.fill_diagonal(corr, 0.0)
    return np.abs(corr).max()


rng = np.random.RandomState(0)
images = load_sample_images().images
batches = [image_patches(image, rng) for image in images]
X = np.vstack(batches)

# eps is relative to the largest eigenvalue: it keeps the smallest,
# noise-dominated directions (JPEG artefacts) from being blown up.
zca = ZCAWhitening(method="zca", eps=1e-4)
for batch in batches:
    zca.partial_fit(batch)
Z = zca.transform(X)

# %%
# What whitening did to the correlations
# --------------------------------------
print(f"{X.shape[0]} patches of {PATCH}x{PATCH} pixels from {len(images)} images")
print(f"max |correlation| between pixels: before {max_abs_correlation(X):.3f}")
print(f"                                  after  {max_abs_correlation(Z):.3f}")
cov_x = np.cov(X, rowvar=False, bias=True)
cov_z = np.cov(Z, rowvar=False, bias=True)
lam = np.linalg.eigvalsh(zca.covariance_)
print(f"condition number of the patch covariance: {lam[-1] / lam[0]:.3g}")
# eps shrinks the variance of direction i to lam_i / (lam_i + eps lam_max).
var = np.diag(cov_z)
print(f"whitened variances: {var.min():.3f} to {var.max():.3f} (1 at eps=0)")

# %%
# Patches and covariances before and after
# ----------------------------------------
# Patches with some structure in them (among the most varied ones).
shown = np.argsort(X.std(axis=1))[::-1][: 40 * SHOWN : 40]

fig = plt.figure(figsize=(10, 7.2), layout="constrained")
top, bottom = fig.subfigures(2, 1, height_ratios=[1.0, 2.4])
axes = top.subplots(2, SHOWN)
for row, (data, label) in enumerate(((X, "input"), (Z, "ZCA-whitened"))):
    for ax, i in zip(axes[row], shown, strict=True):
        ax.imshow(data[i].reshape(PATCH, PATCH), cmap="gray")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[row, 0].set_ylabel(label, fontsize=9)
ax_x, ax_z = bottom.subplots(1, 2)
# The input covariance is positive everywhere (neighbouring pixels move
# together): a sequential colour map shows its banded structure.
im = ax_x.imshow(cov_x, cmap="viridis")
bottom.colorbar(im, ax=ax_x, shrink=0.8)
ax_x.set_title("covariance of the input pixels", fontsize=10)
lim = np.abs(cov_z).max()
im = ax_z.imshow(cov_z, cmap="RdBu_r", vmin=-lim, vmax=lim)
bottom.colorbar(im, ax=ax_z, shrink=0.8)
ax_z.set_title("covariance after ZCA whitening (eps=1e-4)", fontsize=10)
for ax in (ax_x, ax_z):
    ax.set_xlabel("pixel (row-major in the 8x8 patch)", fontsize=8)
top.suptitle("sknorm.ZCAWhitening on 8x8 patches of load_sample_images()")
if len(sys.argv) > 1:
    fig.savefig(sys.argv[1], dpi=90, bbox_inches="tight")
