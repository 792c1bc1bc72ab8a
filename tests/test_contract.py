"""The estimator contract (``sknorm._contract``) holds on both sides.

Every public estimator has every member of the contract, and the layers
that drive estimators -- the Dask layer and merging -- touch no private
member of an estimator outside it (read from their source, so a new call
into an estimator's private API fails here until it joins the contract).
"""

import ast
import inspect
import pathlib

import pytest
from sklearn.base import BaseEstimator

import sknorm
from sknorm._contract import MEMBERS, Normalizer

PACKAGE = pathlib.Path(sknorm.__file__).parent

ESTIMATORS = [
    getattr(sknorm, name)
    for name in sknorm.__all__
    if inspect.isclass(getattr(sknorm, name))
    and issubclass(getattr(sknorm, name), BaseEstimator)
]


#: scikit-learn's own private API, which the layers may call on any
#: scikit-learn estimator.
SKLEARN_PRIVATE = frozenset({"_validate_params"})


def test_every_public_estimator_is_listed():
    names = {cls.__name__ for cls in ESTIMATORS}
    assert {
        "MinMax",
        "ZScore",
        "ZCAWhitening",
        "MiniBatchNormalizer",
        "LocalResponseNormalizer",
        "MaxAbs",
        "Robust",
        "Quantile",
    } <= names


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_every_estimator_implements_the_contract(cls):
    estimator = cls()
    missing = sorted(name for name in MEMBERS if not hasattr(estimator, name))
    assert not missing, f"{cls.__name__} lacks {missing}"
    assert isinstance(estimator, Normalizer)
    assert estimator._finiteness_check in {"validate", "kernel"}


def test_an_object_without_the_hooks_is_not_a_normalizer():
    # The runtime check has teeth: a scikit-learn estimator is not one.
    from sklearn.preprocessing import StandardScaler

    assert not isinstance(StandardScaler(), Normalizer)


def test_every_member_is_documented_in_the_module_table():
    import sknorm._contract as contract

    table = contract.__doc__
    undocumented = sorted(name for name in MEMBERS if f"``{name}``" not in table)
    assert not undocumented, undocumented


def _private_calls(path, receivers):
    """``(receiver, member)`` for every ``receiver._member`` in ``path``
    whose receiver's source text is one of ``receivers``."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        member = node.attr
        if not member.startswith("_") or member.startswith("__"):
            continue
        receiver = ast.unparse(node.value)
        if receiver in receivers:
            found.add((path.name, receiver, member))
    return found


ESTIMATOR_NAMES = {"estimator", "spec.estimator", "est", "other", "self"}


def test_the_dask_layer_calls_only_contract_hooks():
    calls = set()
    for path in sorted((PACKAGE / "_dask").glob("*.py")):
        calls |= _private_calls(path, ESTIMATOR_NAMES)
    assert calls, "the AST scan found no estimator call at all"
    outside = sorted(
        c for c in calls if c[2] not in MEMBERS and c[2] not in SKLEARN_PRIVATE
    )
    assert not outside, outside


def test_merging_calls_only_contract_hooks():
    calls = _private_calls(PACKAGE / "_merging.py", ESTIMATOR_NAMES)
    from sknorm._merging import Mergeable

    own = {name for name in vars(Mergeable) if name.startswith("_")}
    outside = sorted(c for c in calls if c[2] not in MEMBERS and c[2] not in own)
    assert not outside, outside


def test_the_dask_layer_has_no_estimator_specific_code():
    # MiniBatchNormalizer's steps live with it (sknorm._minibatch), not in
    # the layer: the layer names no estimator class.
    names = {cls.__name__ for cls in ESTIMATORS}
    for path in sorted((PACKAGE / "_dask").glob("*.py")):
        tree = ast.parse(path.read_text())
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        assert not used & names, (path.name, used & names)
