"""The benchmark harness: ``benchmarks/run.py --quick`` and its ``ctx``.

Benchmarks are scripts, not timed tests: these tests check that every
``benchmarks/bench_*.py`` module runs at smoke size, that the table and the
JSON come out, and that ``ctx.measure`` computes what it says.  No timing
is asserted.
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "benchmarks" / "run.py"


def _load_run():
    spec = importlib.util.spec_from_file_location("sknorm_bench_run", RUN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(*args, timeout=240):
    env = dict(os.environ, SCIPY_ARRAY_API="1")
    # The checkout's sknorm, whatever is installed (as tests/test_docs.py).
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, str(RUN), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )


def test_quick_run_prints_the_table_and_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    proc = _run("--quick", "--json", str(out))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = proc.stdout
    for column in ("operation", "sknorm", "reference", "speedup", "ratio"):
        assert column in text
    assert "== float64" in text and "== float32" in text
    assert "ZScore.fit" in text and "MinMax.transform" in text
    payload = json.loads(out.read_text())
    assert payload["config"]["quick"] is True
    assert payload["machine"]["numpy"] == np.__version__
    rows = payload["rows"]
    families = {p.stem[len("bench_") :] for p in RUN.parent.glob("bench_*.py")}
    # every discovered module produced rows, none of them an error
    assert {r["family"] for r in rows} == families
    assert [r for r in rows if r.get("error")] == []
    for r in rows:
        assert r["seconds"] > 0
        assert r["dtype"] in ("float64", "float32")
        if r["floor_seconds"]:
            assert r["ratio"] == pytest.approx(r["seconds"] / r["floor_seconds"])
        if r["reference_seconds"]:
            assert r["speedup"] == pytest.approx(r["reference_seconds"] / r["seconds"])
    fits = [r for r in rows if r["operation"] == "ZScore.fit"]
    assert len(fits) == 2 and all(r["peak_bytes"] is not None for r in fits)


def test_a_failing_module_is_a_row_and_the_run_goes_on(tmp_path):
    (tmp_path / "bench_broken.py").write_text(
        "def run(ctx):\n    raise RuntimeError('deliberately broken')\n"
    )
    (tmp_path / "bench_tiny.py").write_text(
        "def run(ctx):\n    yield ctx.measure('tiny.sum', lambda: ctx.X.sum(axis=0))\n"
    )
    out = tmp_path / "bench.json"
    proc = _run(
        "--quick", "--dtype", "float64", "--dir", str(tmp_path), "--json", str(out)
    )
    assert proc.returncode == 1  # a failure is reported in the exit status too
    assert "ERROR RuntimeError: deliberately broken" in proc.stdout
    rows = json.loads(out.read_text())["rows"]
    assert [r["operation"] for r in rows] == ["broken (module failed)", "tiny.sum"]


@pytest.fixture(scope="module")
def ctx():
    run = _load_run()
    return run.Context(
        run._NumpyDevice(), "float32", 300, 4, quick=True, repeat=2, seed=1
    )


def test_context_data(ctx):
    assert ctx.backend == "numpy" and ctx.xp is np and ctx.quick
    assert ctx.X.shape == (300, 4) and ctx.X.dtype == np.float32
    assert ctx.X.flags.c_contiguous and ctx.X_numpy is ctx.X
    X, X_np = ctx.make_data(50, 3)
    assert X.shape == (50, 3) and X.dtype == np.float32
    np.testing.assert_array_equal(X, X_np)
    ctx.sync()  # a no-op on the CPU


@pytest.mark.parametrize(
    ("floor", "label"),
    [("read", "read"), ("copy", "copy"), ("gram", "gram"), (None, None)],
)
def test_measure_row(ctx, floor, label):
    calls = []
    row = ctx.measure(
        "op",
        lambda: calls.append(1),
        reference=("ref", lambda: None),
        floor=floor,
        target=2.0,
    )
    assert len(calls) == 1 + ctx.repeat  # warm-up + repeats
    assert row["operation"] == "op" and row["reference"] == "ref"
    assert row["floor"] == label
    assert row["shape"] == [300, 4] and row["dtype"] == "float32"
    if floor is None:
        assert row["ratio"] is None and row["ok"] is None
    else:
        assert row["ratio"] == pytest.approx(row["seconds"] / row["floor_seconds"])
        assert row["ok"] == (row["ratio"] <= 2.0)


def test_measure_callable_floor_and_memory(ctx):
    size = 1 << 20
    row = ctx.measure(
        "alloc",
        lambda: np.ones(size, np.uint8),
        floor=("noop", lambda: None),
        memory=True,
    )
    assert row["floor"] == "noop"
    assert row["peak_bytes"] >= size
    assert row["peak_fraction"] == pytest.approx(row["peak_bytes"] / ctx.X.nbytes)


def test_measure_per_call_divides_and_can_assume_finite(ctx):
    """A stream of n calls is reported per call, its reference too; with
    assume_finite the stream runs under scikit-learn's setting."""
    from sklearn import get_config

    seen = []

    def stream():
        seen.append(get_config()["assume_finite"])

    row = ctx.measure_per_call("step", stream, 1_000, reference=("ref", stream))
    assert row["operation"] == "step (per call)" and row["floor"] is None
    assert row["seconds"] < 1e-4 and row["reference_seconds"] < 1e-4
    assert not any(seen)
    seen.clear()
    row = ctx.measure_per_call("step", stream, 10, assume_finite=True)
    assert row["operation"] == "step (per call, assume_finite)"
    assert seen and all(seen)


def test_format_row_shows_errors_and_misses():
    run = _load_run()
    assert "ERROR boom" in run.format_row({"operation": "x", "error": "boom"})
    row = {
        "operation": "op",
        "seconds": 0.002,
        "reference": None,
        "reference_seconds": None,
        "speedup": None,
        "floor": "read",
        "floor_seconds": 0.001,
        "ratio": 2.0,
        "target": 1.5,
        "ok": False,
        "peak_bytes": 3 << 20,
        "peak_fraction": 0.01,
        "note": None,
    }
    line = run.format_row(row)
    assert "2.00x read MISS(<=1.5)" in line and "3.0 MiB (1.0%)" in line


def test_markdown_table_of_a_json_run(tmp_path):
    """``--from-json`` turns a run's JSON into the tables of the docs."""
    out = tmp_path / "bench.json"
    assert (
        _run(
            "--quick", "--dtype", "float32", "--only", "scalers", "--json", str(out)
        ).returncode
        == 0
    )
    proc = _run("--from-json", str(out))
    assert proc.returncode == 0
    lines = proc.stdout.strip().splitlines()
    rows = json.loads(out.read_text())["rows"]
    assert lines[0].startswith("| operation | dtype | sknorm |")
    assert len(lines) == 2 + len(rows)
    assert all(line.count("|") == 11 for line in lines[2:])
    assert "| ZScore.fit | float32 |" in proc.stdout
