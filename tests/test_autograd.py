"""torch tensors that require grad: no graph in the fitted state, and
transforms differentiable with respect to X.

Streaming a network's activations (``partial_fit(layer(x))``) must not keep
their autograd graph in the statistics, as BatchNorm's running buffers do
not: the graph would grow with every batch (a memory leak) and
``copy.deepcopy`` of the estimator would fail.  ``transform`` and
``inverse_transform`` of a tensor that requires grad are differentiable
with respect to X with the fitted statistics as constants
(``torch.autograd.gradcheck`` in float64, and the analytic gradient).
"""

import copy
import pickle

import numpy as np
import pytest

from sknorm import (
    LocalResponseNormalizer,
    MiniBatchNormalizer,
    MinMax,
    ZCAWhitening,
    ZScore,
)

torch = pytest.importorskip("torch")

FITTED = {
    "ZScore": ZScore,
    "ZScore-weighted": ZScore,
    "MinMax": MinMax,
    "ZCA": ZCAWhitening,
    "ZCA-ledoit-wolf": lambda: ZCAWhitening(shrinkage="ledoit-wolf"),
    "MBN": MiniBatchNormalizer,
    "MBN-weighted": lambda: MiniBatchNormalizer(momentum=None),
}


def _activations(seed=0, n_batches=4, n=32, f=3):
    gen = torch.Generator().manual_seed(seed)
    layer = torch.nn.Linear(f, f).double()
    return [
        layer(torch.randn(n, f, generator=gen, dtype=torch.float64))
        for _ in range(n_batches)
    ]


def _tensors(obj):
    """Every tensor the estimator holds (in tuples and named tuples too)."""
    stack = list(vars(obj).values())
    while stack:
        value = stack.pop()
        if isinstance(value, torch.Tensor):
            yield value
        elif isinstance(value, tuple | list):
            stack.extend(value)
        elif hasattr(value, "__dict__") and not isinstance(value, type):
            stack.extend(vars(value).values())


@pytest.mark.parametrize("name", list(FITTED))
def test_partial_fit_keeps_no_graph(name):
    batches = _activations()
    assert batches[0].requires_grad
    est = FITTED[name]()
    weighted = name.endswith("weighted")
    for B in batches:
        if weighted:
            w = torch.rand(B.shape[0], dtype=B.dtype, requires_grad=True)
            est.partial_fit(B, sample_weight=w)
        else:
            est.partial_fit(B)
        held = list(_tensors(est))
        assert held
        for t in held:
            assert not t.requires_grad and t.grad_fn is None
    clone = copy.deepcopy(est)
    pickle.loads(pickle.dumps(est))
    # The statistics are those of the values.
    ref = FITTED[name]()
    for B in batches:
        ref.partial_fit(B.detach())
    for attr in ("mean_", "var_", "data_min_", "covariance_", "running_mean_"):
        if hasattr(ref, attr) and getattr(ref, attr) is not None:
            got = getattr(clone, attr)
            assert not got.requires_grad
            if not weighted:
                torch.testing.assert_close(got, getattr(ref, attr), rtol=0, atol=0)


@pytest.mark.parametrize("name", ["ZScore", "MinMax", "ZCA", "MBN"])
def test_fit_keeps_no_graph(name):
    X = torch.cat(_activations(1))
    est = FITTED[name]().fit(X)
    for t in _tensors(est):
        assert not t.requires_grad
    copy.deepcopy(est)


def _fitted(name, X):
    return {
        "ZScore": lambda: ZScore().fit(X),
        "MinMax": lambda: MinMax(feature_range=(-1, 2)).fit(X),
        "MinMax-clip": lambda: MinMax(clip=True).fit(X),
        "MinMax-fixed": lambda: MinMax(data_range=(-10, 10)),
        "MBN": lambda: MiniBatchNormalizer(scale=2.0, shift=0.5).fit(X),
        "ZCA": lambda: ZCAWhitening().fit(X),
        "PCA": lambda: ZCAWhitening(method="pca", n_components=2).fit(X),
        "LRN": lambda: LocalResponseNormalizer(size=3, alpha=0.3, k=1.0),
    }[name]()


TRANSFORMS = [
    "ZScore",
    "MinMax",
    "MinMax-clip",
    "MinMax-fixed",
    "MBN",
    "ZCA",
    "PCA",
    "LRN",
]


@pytest.mark.parametrize("name", TRANSFORMS)
def test_transforms_are_differentiable(name):
    X = torch.cat(_activations(2)).detach()
    est = _fitted(name, X)
    # Interior points (clip's kinks have no derivative).
    x = (0.5 * X[:6] + 0.25 * X.mean(dim=0)).clone().requires_grad_(True)
    assert torch.autograd.gradcheck(est.transform, (x,))
    if hasattr(est, "inverse_transform"):
        z = est.transform(x.detach()).clone().requires_grad_(True)
        if name == "MinMax-clip":
            z = (0.5 * z.detach() + 0.25).requires_grad_(True)  # inside (0, 1)
        assert torch.autograd.gradcheck(est.inverse_transform, (z,))
    for t in _tensors(est):
        assert not t.requires_grad  # the statistics stayed constants


def test_zscore_gradient_is_one_over_scale():
    X = torch.cat(_activations(3)).detach()
    est = ZScore().fit(X)
    x = X[:5].clone().requires_grad_(True)
    g = torch.randn(5, 3, dtype=torch.float64)
    (est.transform(x) * g).sum().backward()
    torch.testing.assert_close(x.grad, g / est.scale_)


def test_zca_gradient_is_the_whitening_matrix():
    X = torch.cat(_activations(4)).detach()
    est = ZCAWhitening().fit(X)
    x = X[:5].clone().requires_grad_(True)
    g = torch.randn(5, 3, dtype=torch.float64)
    (est.transform(x) * g).sum().backward()
    torch.testing.assert_close(x.grad, g @ est.whitening_)


@pytest.mark.parametrize("name", ["ZScore", "MinMax-clip", "MBN"])
def test_copy_false_on_a_tensor_that_requires_grad(name):
    """In place would cut the graph (a leaf cannot even be written): the
    result goes to new memory, as for a read-only array, and the input is
    left as it was."""
    X = torch.cat(_activations(5)).detach()
    est = _fitted(name, X)
    x = X[:4].clone().requires_grad_(True)
    before = x.detach().clone()
    Y = est.transform(x, copy=False)
    assert Y.requires_grad and Y.data_ptr() != x.data_ptr()
    torch.testing.assert_close(x.detach(), before, rtol=0, atol=0)
    torch.testing.assert_close(Y.detach(), est.transform(before), rtol=0, atol=0)
    Y.sum().backward()
    assert x.grad is not None
    y = x * 1.0  # a non-leaf: also left intact
    Z = est.inverse_transform(est.transform(y), copy=False)
    Z.sum().backward()


def test_normalize_batch_of_a_tensor_that_requires_grad_is_refused():
    """The training-mode output depends on the batch's own statistics,
    whose gradient sknorm does not compute: a clear error, not a silently
    different gradient than BatchNorm's."""
    (B,) = _activations(6, n_batches=1)
    est = MiniBatchNormalizer()
    with pytest.raises(
        ValueError, match=r"^MiniBatchNormalizer\.normalize_batch\(\): .*grad"
    ):
        est.normalize_batch(B)
    assert not hasattr(est, "running_mean_")  # nothing was taken
    Y = est.normalize_batch(B.detach())
    assert not Y.requires_grad


def test_no_growth_over_many_batches():
    """The graph of each batch is released: no grad_fn anywhere, the same
    number of held tensors after 2 and after 50 batches."""
    est = ZScore()
    counts = []
    for i, B in enumerate(_activations(7, n_batches=50)):
        est.partial_fit(B)
        if i in (1, 49):
            counts.append(len(list(_tensors(est))))
    assert counts[0] == counts[1]
    assert est.mean_.grad_fn is None and not est.mean_.requires_grad
    assert est._moments_.mean.grad_fn is None
    assert np.isfinite(est.mean_.numpy()).all()
