"""MiniBatchNormalizer and LocalResponseNormalizer against PyTorch.

References run on the same device as sknorm: torch on the CPU for the NumPy
backend (zero-copy ``torch.from_numpy``), torch CUDA for the CuPy backend
(zero-copy DLPack).  Without torch (or without torch CUDA on the GPU) the
reference columns stay empty.

Rows: ``partial_fit`` on the whole of X and in 10,000-row batches (floor: one
read of X, target as ZScore's fit), the training-mode step
``normalize_batch`` against ``BatchNorm1d.train()`` forward, inference
``transform`` against ``BatchNorm1d.eval()`` forward (floor: a copy), and
``LocalResponseNormalizer.transform`` against
``torch.nn.functional.local_response_norm``.  On the GPU also the per-call
time of ``normalize_batch`` on 4,096-row batches.
"""

from __future__ import annotations

import sknorm

FIT_TARGET = {"numpy": 2.0, "cupy": 2.5}
GPU_BATCH_ROWS = 4_096
GPU_BATCHES = 50
LRN_PARAMS = {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0}


def _torch_view(ctx):
    """``(torch, X as a tensor on ctx's device)`` sharing memory, or None."""
    try:
        import torch
    except ImportError:
        return None
    if ctx.backend == "numpy":
        return torch, torch.from_numpy(ctx.X_numpy)
    if not torch.cuda.is_available():
        return None
    return torch, torch.from_dlpack(ctx.X)


def _stream(fn, batches):
    def go():
        for b in batches:
            fn(b)

    return go


def run(ctx):
    X = ctx.X
    n_samples, n_features = X.shape
    tv = _torch_view(ctx)
    torch, Xt = tv if tv is not None else (None, None)

    def torch_ref(label, fn):
        return ctx.torch_ref(torch, label, fn)

    bn = None
    if torch is not None:
        bn = torch.nn.BatchNorm1d(
            n_features, dtype=getattr(torch, ctx.dtype), device=Xt.device
        )

    yield ctx.measure(
        "MiniBatchNormalizer.partial_fit (whole X)",
        lambda: sknorm.MiniBatchNormalizer().partial_fit(X),
        target=FIT_TARGET[ctx.backend],
        memory=True,
    )
    rows = 500 if ctx.quick else 10_000
    batches = [X[i : i + rows] for i in range(0, n_samples, rows)]
    est = sknorm.MiniBatchNormalizer()
    whole = sknorm.MiniBatchNormalizer()
    yield ctx.measure(
        f"MiniBatchNormalizer.partial_fit ({rows:,}-row batches)",
        _stream(est.partial_fit, batches),
        # On a GPU each call costs its launches (see the 4,096-row rows).
        **ctx.stream_floors("MiniBatchNormalizer", lambda: whole.fit(X)),
        memory=True,
    )

    est = sknorm.MiniBatchNormalizer()
    yield ctx.measure(
        "MiniBatchNormalizer.normalize_batch",
        lambda: est.normalize_batch(X),
        reference=torch_ref("BatchNorm1d.train() forward", lambda: bn.train()(Xt)),
        floor="copy",
        memory=True,
    )
    est = sknorm.MiniBatchNormalizer().fit(X)
    yield ctx.measure(
        "MiniBatchNormalizer.transform",
        lambda: est.transform(X),
        reference=torch_ref("BatchNorm1d.eval() forward", lambda: bn.eval()(Xt)),
        floor="copy",
        target=1.3,
        memory=True,
    )

    lrn = sknorm.LocalResponseNormalizer(**LRN_PARAMS)
    lrn_ref = None
    if torch is not None:
        F = torch.nn.functional
        Xt3 = Xt[:, :, None]  # features as channels: torch wants (N, C, L)
        lrn_ref = torch_ref(
            "F.local_response_norm",
            lambda: F.local_response_norm(Xt3, **LRN_PARAMS),
        )
    yield ctx.measure(
        "LocalResponseNormalizer.transform",
        lambda: lrn.transform(X),
        reference=lrn_ref,
        floor="copy",
        memory=True,
    )

    if ctx.backend != "numpy":
        yield _small_batches(ctx, torch_ref, bn, Xt)
        yield _small_batches(ctx, torch_ref, bn, Xt, assume_finite=True)


def _small_batches(ctx, torch_ref, bn, Xt, assume_finite=False):
    """Per-call time of the training step on 4,096-row batches (GPU); with
    ``assume_finite`` no value is read back from the device."""
    n = GPU_BATCH_ROWS * GPU_BATCHES
    small = [ctx.X[i : i + GPU_BATCH_ROWS] for i in range(0, n, GPU_BATCH_ROWS)]
    est = sknorm.MiniBatchNormalizer()
    ref = None
    if bn is not None:
        small_t = [Xt[i : i + GPU_BATCH_ROWS] for i in range(0, n, GPU_BATCH_ROWS)]
        bn.train()
        ref = torch_ref("BatchNorm1d.train() forward", _stream(bn, small_t))
    return ctx.measure_per_call(
        f"normalize_batch {GPU_BATCH_ROWS:,}x{ctx.X.shape[1]}",
        _stream(est.normalize_batch, small),
        len(small),
        reference=ref,
        assume_finite=assume_finite,
        note="times per call",
    )
