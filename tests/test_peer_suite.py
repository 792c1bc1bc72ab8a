"""scikit-learn's own scaler tests pass on sknorm's estimators (ZScore,
MinMax, MaxAbs, Robust, Quantile: ``benchmarks/peer_suite.py``; ~45 s),
except the deviations listed in that script (and in docs/index.md), each
with its reason."""

import importlib.util
from pathlib import Path

import pytest
import sklearn

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(sklearn.__file__).parent / "preprocessing" / "tests" / "test_data.py"


def _load():
    spec = importlib.util.spec_from_file_location(
        "sknorm_peer_suite", ROOT / "benchmarks" / "peer_suite.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.skipif(not TESTS.exists(), reason="scikit-learn's tests are not installed")
def test_peer_suite_passes_but_for_the_listed_deviations():
    counts, surprises = _load().run()
    assert surprises == [], "\n".join(surprises)
    assert counts["failed"] == 0
    # 9 near-constant cases (dense float64 at 3 means x 3 sizes) and 4 tests
    # of QuantileTransformer's subsampling; the callback tests pass
    # (set_callbacks, issue 12).
    assert counts["expected failures"] == 13
    full = all(importlib.util.find_spec(m) for m in ("torch", "array_api_strict"))
    if sklearn.__version__ == "1.9.1" and full:
        assert counts["passed"] == 381, counts
