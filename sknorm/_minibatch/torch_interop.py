"""MiniBatchNormalizer <-> ``torch.nn.BatchNorm*`` state dicts.

``BatchNorm1d``, ``BatchNorm2d`` and ``BatchNorm3d`` share one state dict
layout (one entry per channel); ``channel_axis`` says which input the
estimator then takes.

PyTorch stays optional: it is imported inside :func:`to_torch_state_dict`
only, and :func:`from_torch_state_dict` needs nothing from it (it reads any
Array API or NumPy arrays, torch tensors included, through their own
namespace).
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._array_api import (
    accumulation_dtype,
    array_device,
    namespace_of,
)
from .._validation import call_prefix

__all__ = ["from_torch_state_dict", "to_torch_state_dict"]


def _to_tensor(torch, a, dtype):
    """A torch tensor with ``a``'s values on ``a``'s device, not sharing memory."""
    if isinstance(a, torch.Tensor):
        t = a.detach().clone()
    elif isinstance(a, np.ndarray):
        t = torch.from_numpy(np.array(a, copy=True))
    else:
        try:  # CuPy and other DLPack producers: stays on the device
            t = torch.from_dlpack(a).clone()
        except Exception:  # pragma: no cover - producers without DLPack
            t = torch.from_numpy(np.array(np.asarray(a), copy=True))
    return t if dtype is None else t.to(dtype)


def to_torch_state_dict(estimator, dtype=None):
    """See :meth:`MiniBatchNormalizer.to_torch_state_dict`."""
    method = "to_torch_state_dict"
    try:
        import torch
    except ImportError as exc:
        raise ImportError(
            call_prefix(estimator, method) + "requires PyTorch; install it (pip "
            "install torch) or read running_mean_ / running_var_ directly."
        ) from exc
    check_is_fitted(estimator)
    mean = estimator.running_mean_
    xp = namespace_of(mean)
    n = estimator.n_features_in_
    device = array_device(mean)
    gamma, beta = estimator._gamma_beta(method, n, xp, device, mean.dtype)
    if isinstance(gamma, float):
        gamma = xp.full((n,), gamma, dtype=mean.dtype, device=device)
    if beta is None:
        beta = xp.zeros((n,), dtype=mean.dtype, device=device)
    weight, bias = (
        xp.asarray(xp.broadcast_to(a, (n,)), copy=True) for a in (gamma, beta)
    )
    state = {
        "weight": _to_tensor(torch, weight, dtype),
        "bias": _to_tensor(torch, bias, dtype),
        "running_mean": _to_tensor(torch, mean, dtype),
        "running_var": _to_tensor(torch, estimator.running_var_, dtype),
    }
    state["num_batches_tracked"] = torch.tensor(
        int(estimator.n_batches_seen_),
        dtype=torch.long,
        device=state["running_mean"].device,
    )
    return state


def _as_array(value, prefix, key):
    if hasattr(value, "detach"):  # a torch tensor that may require grad
        value = value.detach()
    if not hasattr(value, "__array_namespace__") and not hasattr(value, "dtype"):
        value = np.asarray(value)
    if isinstance(value, np.generic):
        value = np.asarray(value)
    try:
        xp = namespace_of(value)
    except TypeError as exc:
        raise TypeError(
            prefix + f"state_dict[{key!r}] is a {type(value).__name__}; "
            "expected a tensor or array."
        ) from exc
    return value, xp


def from_torch_state_dict(cls, state_dict, *, prefix, params):
    """See :meth:`MiniBatchNormalizer.from_torch_state_dict`."""
    params = dict(params)
    params.setdefault("init", "pytorch")
    est = cls(**params)
    est._validate_params()
    where_ = call_prefix(est, "from_torch_state_dict")
    keys = {k: prefix + k for k in ("weight", "bias", "running_mean", "running_var")}
    missing = [
        keys[k]
        for k in ("running_mean", "running_var")
        if state_dict.get(keys[k]) is None
    ]
    if missing:
        raise ValueError(
            where_ + f"state_dict has no {' / '.join(missing)} (keys: "
            f"{sorted(state_dict)}). Pass a BatchNorm state dict with "
            "track_running_stats=True, and the layer's prefix if it comes "
            "from a whole model."
        )
    mean, xp = _as_array(state_dict[keys["running_mean"]], where_, "running_mean")
    device = array_device(mean)
    dtype = accumulation_dtype(xp, device)
    if mean.ndim != 1 or mean.shape[0] < 1:
        raise ValueError(
            where_ + f"running_mean has shape {tuple(mean.shape)}; expected "
            "(n_features,) with n_features >= 1."
        )
    n = int(mean.shape[0])
    arrays = {"running_mean": xp.astype(mean, dtype)}
    for key in ("running_var", "weight", "bias"):
        value = state_dict.get(keys[key])
        if value is None:
            continue
        value, value_xp = _as_array(value, where_, key)
        if value_xp.__name__ != xp.__name__:
            raise ValueError(
                where_ + f"{key} is a {value_xp.__name__} array but "
                f"running_mean a {xp.__name__} one; all entries must use the "
                "same namespace."
            )
        if tuple(value.shape) != (n,):
            raise ValueError(
                where_ + f"{key} has shape {tuple(value.shape)}; expected "
                f"({n},) like running_mean."
            )
        arrays[key] = xp.astype(value, dtype)
    for key, value in arrays.items():
        if not bool(xp.all(xp.isfinite(value))):
            raise ValueError(where_ + f"{key} contains NaN or infinity.")
    if bool(xp.any(arrays["running_var"] < 0)):
        raise ValueError(where_ + "running_var has negative entries.")
    for key, name in (("weight", "scale"), ("bias", "shift")):
        if key not in arrays:
            continue
        if name in params:
            raise ValueError(
                where_ + f"{name} was passed but the state dict has {key!r}, "
                f"which is {name}; pass one of them."
            )
        setattr(est, name, arrays[key])
    n_batches = state_dict.get(prefix + "num_batches_tracked")
    n_batches = 0 if n_batches is None else int(_as_array(n_batches, where_, "")[0])
    if n_batches < 0:
        raise ValueError(where_ + "num_batches_tracked must be >= 0.")
    updates = xp.full((n,), float(n_batches), dtype=dtype, device=device)
    est.__dict__.update(
        running_mean_=arrays["running_mean"],
        running_var_=arrays["running_var"],
        _mean_updates_=updates,
        _var_updates_=updates,
        n_batches_seen_=n_batches,
        n_samples_seen_=0,
        n_features_in_=n,
    )
    if getattr(est, "channel_axis", None) is not None:
        # A BatchNorm2d/3d (or 1d on (N, C, L)) state: per channel.  The
        # number of dimensions is learned from the first training batch.
        est._channel_axis_ = est.channel_axis
    return est
