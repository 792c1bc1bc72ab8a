"""Persisted files name sknorm's classes by stable public names."""

import pickle
import subprocess
import sys

import numpy as np

import sknorm
import sknorm._minibatch.estimator
import sknorm.state


def test_classes_are_named_where_they_are_documented():
    for name in ("ZScore", "MinMax", "ZCAWhitening", "MiniBatchNormalizer"):
        cls = getattr(sknorm, name)
        assert (cls.__module__, cls.__name__) == ("sknorm", name)
    for name in sknorm.state.__all__:
        cls = getattr(sknorm.state, name)
        assert (cls.__module__, cls.__qualname__) == ("sknorm.state", name)


def test_a_pickle_names_only_public_modules_and_loads_elsewhere():
    X = np.random.default_rng(0).normal(size=(30, 3))
    est = sknorm.ZCAWhitening(shrinkage="ledoit-wolf").fit(X)
    est.transform(X)  # the cached matrices are pickled too
    payload = pickle.dumps(est)
    assert b"sknorm._" not in payload  # no private module in the file
    code = (
        "import pickle, sys, numpy as np; "
        "est = pickle.loads(sys.stdin.buffer.read()); "
        "print(repr(float(np.asarray(est.whitening_).sum())))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], input=payload, capture_output=True
    )
    assert result.returncode == 0, result.stderr.decode()
    assert float(result.stdout) == float(est.whitening_.sum())


def test_method_examples_stay_in_the_doctest_run():
    # doctest finds a class's methods through its __module__'s globals; the
    # methods with examples are listed in their module's __test__ instead.
    tests = sknorm._minibatch.estimator.__test__
    assert set(tests) == {
        "MiniBatchNormalizer.to_torch_state_dict",
        "MiniBatchNormalizer.from_torch_state_dict",
    }
