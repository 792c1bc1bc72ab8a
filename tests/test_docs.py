"""The README, docs, examples and demo are exercised, not just written."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import sknorm

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def _python_blocks(path):
    return PYTHON_BLOCK.findall(path.read_text())


def _env():
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONWARNINGS="error")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


# Optional libraries a page may show (the test extra installs them all).
OPTIONAL = {"torch", "skops", "rich", "sklearn.callback", "cupy"}


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_doc_python_blocks_run(path):
    # The blocks of one page run in order in one namespace, as a reader
    # would run them.
    namespace = {"__name__": "__doc__"}
    for block in _python_blocks(path):
        try:
            exec(compile(block, str(path), "exec"), namespace)
        except ImportError as exc:
            # scikit-learn reports a missing rich as an ImportError from it.
            missing = exc if exc.name else exc.__cause__
            name = getattr(missing, "name", None)
            if name not in OPTIONAL:
                raise
            pytest.skip(f"{path.name} shows {name}, which is not installed")


def test_readme_has_the_two_commands():
    text = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci in text, "README must hold the exact test command .ci/run runs"
    assert "python -m sknorm" in text


def test_readme_lists_every_public_estimator():
    text = (ROOT / "README.md").read_text() + (ROOT / "docs/index.md").read_text()
    for name in sknorm.__all__:
        if name != "__version__":
            assert f"`{name}" in text, name


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(path, tmp_path):
    out = tmp_path / "figure.png"
    result = subprocess.run(
        [sys.executable, str(path), str(out)],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() or out.exists()


def test_demo_runs_and_covers_every_estimator():
    result = subprocess.run(
        [sys.executable, "-m", "sknorm", "--folds", "3"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    estimators = [n for n in sknorm.__all__ if isinstance(getattr(sknorm, n), type)]
    assert len(estimators) == 5, estimators
    for name in estimators:
        assert f"{name}(" in result.stdout, name
    assert "no normalization" in result.stdout


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff not installed")
def test_ruff_clean():
    result = subprocess.run(
        ["ruff", "check", "sknorm", "tests", "examples", "benchmarks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
