"""Per-channel statistics of image batches (``channel_axis``, issue 13).

One batch of ``(256, 3, 224, 224)`` images (an ImageNet batch) and its
channels-last twin ``(256, 224, 224, 3)`` (a separate C-ordered array with
the same values), in ``ctx.dtype``; ``--quick``: ``(8, 3, 32, 32)``.

Rows, each timed with its floor and reference in the same run:

* ``ZScore.fit`` and ``MiniBatchNormalizer.partial_fit``: floor one read of
  X (``ones @ X.reshape(N, -1)``), target <= 2x; reference torch's
  ``x.mean(dim)`` plus ``x.var(dim)`` over every axis but the channels
  (target: faster, ``speedup`` > 1);
* ``ZScore.transform``: floor a copy, target <= 1.3x;
* ``MiniBatchNormalizer.normalize_batch`` (the training step): reference
  ``BatchNorm2d.train()`` forward (target: no slower), floor a copy;
* ``MinMax.fit`` (floor a read) and ``LocalResponseNormalizer.transform``
  against ``F.local_response_norm`` (floor a copy), for the record.

The torch references run on the same device: torch on the CPU for NumPy
(``torch.from_numpy``, zero copy; the channels-last twin is handed to torch
as the ``channels_last`` memory format of the logical NCHW tensor, which
its kernels take natively), torch CUDA for CuPy (DLPack).  Without torch
the reference columns stay empty.
"""

from __future__ import annotations

import sknorm

FIT_TARGET = {"numpy": 2.0, "cupy": 2.5}
SHAPE = (256, 3, 224, 224)
QUICK_SHAPE = (8, 3, 32, 32)
LRN_PARAMS = {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0}


def _images(ctx):
    """``(channels-first, channels-last)`` batches on ctx's device."""
    xp = ctx.xp
    n, c, h, w = QUICK_SHAPE if ctx.quick else SHAPE
    # ctx.make_data gives (rows, features) with per-feature means and
    # spreads: its rows are the pixels, its features the channels.
    last, _ = ctx.make_data(n * h * w, c)
    last = xp.reshape(last, (n, h, w, c))
    # A C-ordered copy (NumPy's and CuPy's namespaces both have it; an
    # Array API copy would keep the transposed strides).
    first = xp.ascontiguousarray(xp.permute_dims(last, (0, 3, 1, 2)))
    assert first.flags.c_contiguous and last.flags.c_contiguous
    return first, last


def _torch(ctx, first, last):
    """``(torch, channels-first tensor, channels-last-memory tensor)``
    sharing memory with the batches, or three None."""
    try:
        import torch
    except ImportError:
        return None, None, None
    if ctx.backend == "numpy":
        as_tensor = torch.from_numpy
    elif torch.cuda.is_available():
        as_tensor = torch.from_dlpack
    else:
        return None, None, None
    t_first = as_tensor(first)
    # (N, H, W, C) memory seen as the logical (N, C, H, W) tensor.
    t_last = as_tensor(last).permute(0, 3, 1, 2)
    return torch, t_first, t_last


def run(ctx):
    first, last = _images(ctx)
    torch, t_first, t_last = _torch(ctx, first, last)
    for label, X, axis, t in (("NCHW", first, 1, t_first), ("NHWC", last, -1, t_last)):
        yield from _layout(ctx, label, X, axis, t, torch)


def _layout(ctx, label, X, axis, t, torch):
    shape = "x".join(str(s) for s in X.shape)
    dims = (0, 2, 3)  # torch's tensor is NCHW whatever the memory order
    stats_ref = ctx.torch_ref(
        torch, "torch mean + var", lambda: (t.mean(dim=dims), t.var(dim=dims))
    )
    bn = None
    if torch is not None:
        bn = torch.nn.BatchNorm2d(
            X.shape[axis], dtype=getattr(torch, ctx.dtype), device=t.device
        )
        if label == "NHWC":
            bn = bn.to(memory_format=torch.channels_last)
    note = f"{label} {shape}"

    for name, fit in (
        ("ZScore.fit", lambda: sknorm.ZScore(channel_axis=axis).fit(X)),
        (
            "MiniBatchNormalizer.partial_fit",
            lambda: sknorm.MiniBatchNormalizer(channel_axis=axis).partial_fit(X),
        ),
    ):
        yield ctx.measure(
            f"{name} ({label})",
            fit,
            reference=stats_ref,
            floor="read",
            target=FIT_TARGET[ctx.backend],
            data=X,
            memory=True,
            note=note,
        )
    z = sknorm.ZScore(channel_axis=axis).fit(X)
    yield ctx.measure(
        f"ZScore.transform ({label})",
        lambda: z.transform(X),
        floor="copy",
        target=1.3,
        data=X,
        memory=True,
        note=note,
    )
    est = sknorm.MiniBatchNormalizer(channel_axis=axis)
    yield ctx.measure(
        f"MiniBatchNormalizer.normalize_batch ({label})",
        lambda: est.normalize_batch(X),
        reference=ctx.torch_ref(
            torch, "BatchNorm2d.train() forward", lambda: bn.train()(t)
        ),
        floor="copy",
        data=X,
        memory=True,
        note=note,
    )
    yield ctx.measure(
        f"MinMax.fit ({label})",
        lambda: sknorm.MinMax(channel_axis=axis).fit(X),
        floor="read",
        target=FIT_TARGET[ctx.backend],
        data=X,
        note=note,
    )
    lrn = sknorm.LocalResponseNormalizer(**LRN_PARAMS, channel_axis=axis)
    lrn_ref = None
    if torch is not None:
        F = torch.nn.functional
        lrn_ref = ctx.torch_ref(
            torch,
            "F.local_response_norm",
            lambda: F.local_response_norm(t, **LRN_PARAMS),
        )
    yield ctx.measure(
        f"LocalResponseNormalizer.transform ({label})",
        lambda: lrn.transform(X),
        reference=lrn_ref,
        floor="copy",
        data=X,
        repeat=max(1, ctx.repeat // 2),
        note=note,
    )
