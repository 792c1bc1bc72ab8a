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
# What Sphinx writes into docs/ (make -C docs html): not pages of ours.
BUILT = {"_build", "generated", "auto_examples"}
DOCS = [
    ROOT / "README.md",
    *sorted(
        p
        for p in (ROOT / "docs").rglob("*.md")
        if not BUILT & set(p.relative_to(ROOT / "docs").parts)
    ),
]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def _page_id(path):
    return str(path.relative_to(ROOT))


def _python_blocks(path):
    return PYTHON_BLOCK.findall(path.read_text())


def _env():
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONWARNINGS="error")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


# Optional libraries a page may show (the test extra installs them all).
OPTIONAL = {
    *("torch", "skops", "rich", "sklearn.callback", "cupy"),
    *("skl2onnx", "onnx", "onnxruntime"),  # the onnx extra (docs/user_guide/onnx.md)
}


def test_doc_pages_are_found():
    # The user guide's pages live in a sub-folder: the glob must reach them.
    names = {_page_id(p) for p in DOCS}
    assert {"docs/index.md", "docs/user_guide/streaming.md"} <= names, names


@pytest.mark.parametrize("path", DOCS, ids=_page_id)
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


# ------------------------------------------------------ the documentation site
SITE_PACKAGES = (
    "sphinx",
    "sphinx_gallery",
    "numpydoc",
    "pydata_sphinx_theme",
    "myst_parser",
    "sphinx_design",
)


def _public_methods(cls):
    return sorted(
        name
        for name in dir(cls)
        if not name.startswith("_") and callable(getattr(cls, name, None))
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The whole site, gallery executed, built from a copy of docs/ and
    examples/ (nothing is written into the checkout), warnings as errors."""
    for name in SITE_PACKAGES:
        pytest.importorskip(name)
    work = tmp_path_factory.mktemp("site")
    shutil.copytree(
        ROOT / "docs",
        work / "docs",
        ignore=shutil.ignore_patterns(*BUILT, "sg_execution_times.rst"),
    )
    shutil.copytree(ROOT / "examples", work / "examples")
    html = work / "html"
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going"]
    result = subprocess.run(
        [*command, "-q", "-d", str(work / "doctrees"), str(work / "docs"), str(html)],
        cwd=work,
        env=dict(_env(), PYTHONWARNINGS="default"),
        capture_output=True,
        text=True,
        timeout=900,
    )
    # -W turns every warning into a failure; --keep-going lists them all.
    assert result.returncode == 0, result.stderr[-6000:]
    assert "WARNING" not in result.stderr and "ERROR" not in result.stderr, (
        result.stderr[-6000:]
    )
    return html


@pytest.mark.slow
def test_site_has_a_page_per_public_object_with_every_method(site):
    from sknorm._display import ReprWithoutComputing

    generated = site / "generated"
    estimators = [n for n in sknorm.__all__ if isinstance(getattr(sknorm, n), type)]
    for name in estimators:
        # The HTML repr's "?" link names exactly this page.
        link = ReprWithoutComputing._doc_link_template.format(estimator_name=name)
        page = generated / link.rsplit("/generated/", 1)[1]
        assert page.exists(), link
        html = page.read_text()
        for method in _public_methods(getattr(sknorm, name)):
            assert f'id="sknorm.{name}.{method}"' in html, (name, method)
        # sphinx-gallery's back-references: the examples that use the class.
        assert "Examples using" in html and "sphx-glr-thumbcontainer" in html, name
    for name in ("sknorm.move_estimator", "sknorm.io.dump", "sknorm.io.load"):
        assert (generated / f"{name}.html").exists(), name
    trusted = (generated / "sknorm.io.TRUSTED_TYPES.html").read_text()
    assert "sknorm.state.Moments" in trusted


@pytest.mark.slow
def test_site_gallery_runs_every_example_with_a_figure(site):
    gallery = site / "auto_examples"
    images = {p.name for p in (gallery.parent / "_images").glob("sphx_glr_*.png")}
    for path in EXAMPLES:
        page = gallery / f"{path.stem}.html"
        assert page.exists(), path.name
        if path.stem == "plot_gpu":
            continue  # executed only where a GPU is (none is assumed here)
        assert "sphx-glr-script-out" in page.read_text(), path.name  # it ran
        if path.stem.startswith("plot_"):
            assert f"sphx_glr_{path.stem}_001.png" in images, path.name


@pytest.mark.slow
def test_site_pages_and_performance_figures(site):
    for page in ("index", "api", "changelog", "performance", "dask", "persistence"):
        assert (site / f"{page}.html").exists(), page
    for page in (ROOT / "docs" / "user_guide").glob("*.md"):
        assert (site / "user_guide" / f"{page.stem}.html").exists(), page.name
    # The figures drawn from the committed benchmark JSON: two per run.
    runs = list((ROOT / "docs" / "_data" / "benchmarks").glob("*.json"))
    assert runs
    html = (site / "performance.html").read_text()
    assert html.count('class="plot-directive"') == 2 * len(runs)
