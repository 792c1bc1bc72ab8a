"""Exact per-channel mean and std of an image set, streamed in batches
=====================================================================

``torchvision.transforms.Normalize(mean, std)`` wants the mean and standard
deviation of every colour channel over the whole training set.  The data
rarely fits in memory at once, so they are computed batch by batch, and a
common shortcut is to average the per-batch means and the per-batch
standard deviations.  The mean comes out right when the batches are equal
in size, the std does not: averaging within-batch stds leaves out how much
the batches differ from one another (and a mean of square roots is not the
square root of a mean), so the shortcut underestimates the spread, the more
so the smaller the batches and the more they differ.

``ZScore(channel_axis=-1)`` streams the exact statistics instead: each
``partial_fit`` merges the batch's per-channel moments into the running
ones (Chan, Golub & LeVeque's update around a per-channel shift), so any
split of the images, in batches of any sizes and of tiles of any sizes,
gives the statistics of all the pixels at once, to float64 rounding.

The images are the two photographs that ship with scikit-learn
(``load_sample_images``, no download), cut into tiles of two sizes and fed
in batches as a data loader would, channels last ``(N, H, W, C)`` as they
come from an image decoder.  ``channel_axis=1`` does the same for PyTorch's
``(N, C, H, W)``, here on a transposed view of the same tiles (no copy).

Run: ``python examples/plot_channel_statistics.py [output.png]``
"""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_sample_images

from sknorm import ZScore

CHANNELS = ("red", "green", "blue")


def tiles(image, size):
    """Non-overlapping ``size x size`` tiles of an (H, W, 3) image, as
    (n_tiles, size, size, 3) float32 in [0, 1] (torchvision's ``ToTensor``)."""
    h, w = (s - s % size for s in image.shape[:2])
    cut = image[:h, :w].reshape(h // size, size, w // size, size, 3)
    return cut.swapaxes(1, 2).reshape(-1, size, size, 3).astype(np.float32) / 255.0


def batches(tile_set, batch_size, rng):
    """The tiles in shuffled batches of ``batch_size`` (the last one smaller)."""
    order = rng.permutation(len(tile_set))
    return [
        tile_set[order[i : i + batch_size]] for i in range(0, len(order), batch_size)
    ]


def shortcut(batch_list):
    """The loop people write: the average of per-batch means and stds."""
    means = [b.mean(axis=(0, 1, 2), dtype=np.float64) for b in batch_list]
    stds = [b.std(axis=(0, 1, 2), dtype=np.float64) for b in batch_list]
    return np.mean(means, axis=0), np.mean(stds, axis=0)


def main(out=None):
    rng = np.random.default_rng(0)
    images = load_sample_images().images
    # Two tile sizes: the spatial size may change from batch to batch.
    stream = []
    for size, batch_size in ((64, 16), (32, 48)):
        tile_set = np.concatenate([tiles(image, size) for image in images])
        stream += batches(tile_set, batch_size, rng)
    rng.shuffle(stream)

    scaler = ZScore(channel_axis=-1)
    for batch in stream:
        scaler.partial_fit(batch)

    # Reference: every pixel at once, two passes in float64.
    pixels = np.concatenate([b.reshape(-1, 3) for b in stream]).astype(np.float64)
    exact_mean, exact_std = pixels.mean(axis=0), pixels.std(axis=0)
    n_pixels = len(pixels)

    print(
        f"{sum(len(b) for b in stream)} tiles (64x64 and 32x32) in {len(stream)} "
        f"batches, {n_pixels:,} pixels per channel"
    )
    mean_cut, std_cut = shortcut(stream)
    print(f"{'':25s}{'red':>10s}{'green':>10s}{'blue':>10s}")
    rows = [
        ("mean, sknorm streamed", scaler.mean_),
        ("mean, all at once", exact_mean),
        ("mean, averaged per batch", mean_cut),
        ("std, sknorm streamed", scaler.scale_),
        ("std, all at once", exact_std),
        ("std, averaged per batch", std_cut),
    ]
    for label, values in rows:
        print(f"{label:25s}" + "".join(f"{v:10.6f}" for v in values))
    np.testing.assert_allclose(scaler.mean_, exact_mean, rtol=1e-12)
    np.testing.assert_allclose(scaler.scale_, exact_std, rtol=1e-12)

    # The same tiles channels first, as PyTorch holds them: a transposed
    # view of each batch, read in place.
    first = ZScore(channel_axis=1)
    for batch in stream:
        first.partial_fit(batch.transpose(0, 3, 1, 2))
    np.testing.assert_allclose(first.scale_, exact_std, rtol=1e-12)

    print(
        "\ntorchvision.transforms.Normalize("
        f"mean={[round(float(m), 4) for m in scaler.mean_]}, "
        f"std={[round(float(s), 4) for s in scaler.scale_]})"
    )

    # How far the shortcut is, batch size by batch size (64x64 tiles only).
    tile_set = np.concatenate([tiles(image, 64) for image in images])
    true_std = tile_set.reshape(-1, 3).std(axis=0, dtype=np.float64)
    sizes = [1, 2, 4, 8, 16, 32, 64]
    errors, ours = [], []
    for batch_size in sizes:
        batch_list = batches(tile_set, batch_size, np.random.default_rng(1))
        errors.append(shortcut(batch_list)[1] / true_std - 1)
        streamed = ZScore(channel_axis=-1)
        for b in batch_list:
            streamed.partial_fit(b)
        ours.append(streamed.scale_ / true_std - 1)
    errors, ours = 100 * np.array(errors), 100 * np.array(ours)
    print("\n64x64 tiles per batch  " + "".join(f"{s:>7d}" for s in sizes))
    print("shortcut's std error    " + "".join(f"{e:6.1f}%" for e in errors.min(1)))
    print(f"sknorm's std error: below {np.abs(ours).max() / 100:.0e} at every size")

    fig, (ax_hist, ax_err) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    for c, colour in enumerate(CHANNELS):
        ax_hist.hist(pixels[:, c], bins=64, histtype="step", color=colour, lw=1.2)
        ax_hist.axvline(scaler.mean_[c], color=colour, ls="--", lw=1)
    ax_hist.set_xlabel("pixel value (ToTensor scale)")
    ax_hist.set_ylabel("pixels")
    ax_hist.set_title("pixel values; dashed: the exact channel means", fontsize=10)
    for c, colour in enumerate(CHANNELS):
        ax_err.plot(sizes, errors[:, c], "o-", color=colour, label=f"{colour} channel")
    ax_err.plot(sizes, ours.max(axis=1), "k-", lw=1, label="sknorm, streamed (exact)")
    ax_err.set_xscale("log", base=2)
    ax_err.set_xlabel("tiles per batch (64x64 tiles)")
    ax_err.set_ylabel("error of the std (%)")
    ax_err.set_title("average of per-batch stds vs the exact std", fontsize=10)
    ax_err.legend(fontsize=8)
    fig.suptitle("Per-channel statistics of load_sample_images() tiles, streamed")
    if out:  # the gallery collects the open figure itself
        fig.savefig(out, dpi=90)
        print(f"saved {out}")
    return fig


if __name__ == "__main__":
    main(*sys.argv[1:2])
