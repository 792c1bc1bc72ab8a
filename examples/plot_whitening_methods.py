"""
The five whitening methods on correlated data
=============================================

Every method of :class:`sknorm.ZCAWhitening` returns data with identity
covariance, and they all satisfy ``Wᵀ W = Σ⁻¹``: they differ only by a
rotation of the output.  Which rotation is what each one optimizes
(Kessy, Lewin & Strimmer, 2018):

* ``"zca"`` maximizes the trace of the cross-covariance ``Φ = Cov(z, x)``
  (each output stays as close as possible to its input feature);
* ``"zca-cor"`` maximizes the trace of the cross-correlation
  ``Ψ = Cor(z, x)`` (the same, independent of each feature's units);
* ``"pca"`` and ``"pca-cor"`` put as much of ``Φ`` (``Ψ``) as possible
  into the first components (compression);
* ``"cholesky"`` makes ``Φ`` lower triangular (it depends on the order of
  the features).

The scatter plots show the five outputs of the same two correlated
features (uniform data, so that the rotations show); the heat maps show
``Ψ`` for four features, and the table checks each optimality claim
numerically.

Run: ``python examples/plot_whitening_methods.py [figure.png]``
"""

# %%
# Two correlated features in different units
# ------------------------------------------
import sys

import matplotlib.pyplot as plt
import numpy as np

from sknorm import ZCAWhitening

METHODS = ["zca", "zca-cor", "pca", "pca-cor", "cholesky"]
rng = np.random.default_rng(0)
# Uniform sources mixed into two correlated features in different units
# (feature 1 has 20 times the spread of feature 0): the input is a
# parallelogram, and each whitened output a square, turned by a different
# rotation.  The colour follows the input's feature 0, to show where each
# point went.
sources = rng.uniform(-np.sqrt(3), np.sqrt(3), size=(1_500, 2))
X2 = sources @ np.array([[1.0, 0.0], [16.0, 12.0]]).T + np.array([1.0, 50.0])

fig, axes = plt.subplots(2, 3, figsize=(9.6, 6.4))
axes = axes.ravel()
colour = dict(c=X2[:, 0], cmap="viridis", s=3)
axes[0].scatter(X2[:, 0], X2[:, 1], **colour)
axes[0].set_title("input (correlation 0.8, scales 1 and 20)", fontsize=9)
for ax, method in zip(axes[1:], METHODS, strict=True):
    Z = ZCAWhitening(method=method).fit_transform(X2)
    ax.scatter(Z[:, 0], Z[:, 1], **colour)
    ax.set_title(f'method="{method}"', fontsize=9)
    ax.set_xlim(-2.6, 2.6)
    ax.set_ylim(-2.6, 2.6)
    ax.set_aspect("equal")
for ax in axes:
    ax.tick_params(labelsize=7)
fig.suptitle("The same data whitened five ways: each output has identity covariance")
fig.tight_layout()
if len(sys.argv) > 1:
    fig.savefig(sys.argv[1].replace(".png", "-scatter.png"))

# %%
# Cross-covariance and cross-correlation with the input
# -----------------------------------------------------
# Four features, mixed so that they are correlated, with scales from 0.5
# to 10.  For each method: ``Φ = Cov(z, x)`` and ``Ψ = Cor(z, x)``
# (population moments, as sknorm's covariance).
d = 4
mixing = np.array(
    [
        [1.0, 0.0, 0.0, 0.0],
        [0.8, 0.6, 0.0, 0.0],
        [0.5, 0.3, 0.8, 0.0],
        [0.1, 0.6, 0.3, 0.7],
    ]
)
X = (rng.normal(size=(5_000, d)) @ mixing.T) * np.array([0.5, 1.0, 3.0, 10.0])
Xc = X - X.mean(axis=0)
std = X.std(axis=0)

cross_cov, cross_cor = {}, {}
for method in METHODS:
    Z = ZCAWhitening(method=method).fit_transform(X)
    Zc = Z - Z.mean(axis=0)
    assert np.allclose(Zc.T @ Zc / len(Z), np.eye(d), atol=1e-10)
    cross_cov[method] = Zc.T @ Xc / len(X)  # Φ: rows are outputs
    cross_cor[method] = cross_cov[method] / std  # Ψ = Φ V^-1/2


def first_share(M):
    """Share of ||M||² carried by the first output component."""
    return float((M[0] ** 2).sum() / (M**2).sum())


print(f"{'method':>9}  {'tr Φ':>6}  {'tr Ψ':>6}  {'1st of Φ':>8}  {'1st of Ψ':>8}")
for method in METHODS:
    phi, psi = cross_cov[method], cross_cor[method]
    print(
        f"{method:>9}  {np.trace(phi):6.3f}  {np.trace(psi):6.3f}  "
        f"{first_share(phi):8.3f}  {first_share(psi):8.3f}"
    )

# The claims, checked on these numbers:
best = lambda score: max(METHODS, key=lambda m: score(m))  # noqa: E731
assert best(lambda m: np.trace(cross_cov[m])) == "zca"
assert best(lambda m: np.trace(cross_cor[m])) == "zca-cor"
assert best(lambda m: first_share(cross_cov[m])) == "pca"
assert best(lambda m: first_share(cross_cor[m])) == "pca-cor"
assert np.allclose(np.triu(cross_cov["cholesky"], 1), 0.0, atol=1e-10)
print("Φ of cholesky is lower triangular; each method wins its own criterion.")

# %%
# ``Ψ`` for each method: ZCA-cor concentrates it on the diagonal, PCA-cor
# in the first row, Cholesky below the diagonal.
fig, axes = plt.subplots(1, 5, figsize=(11.0, 2.6), layout="constrained")
for ax, method in zip(axes, METHODS, strict=True):
    im = ax.imshow(cross_cor[method], cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_title(method, fontsize=9)
    ax.set_xticks(range(d))
    ax.set_yticks(range(d))
    ax.set_xlabel("input feature", fontsize=8)
    ax.tick_params(labelsize=7)
axes[0].set_ylabel("whitened component", fontsize=8)
fig.colorbar(im, ax=axes, shrink=0.8, label="Cor(z, x)")
fig.suptitle("Cross-correlation of the whitened data with the input")
if len(sys.argv) > 1:
    fig.savefig(sys.argv[1])
