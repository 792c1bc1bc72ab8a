"""The README, docs, examples and demo are exercised, not just written."""

import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
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
    assert len(estimators) == 8, estimators
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


# ----------------------------------------------- the site reads offline
NETWORK = re.compile(r"^(https?:)?//", re.I)
# <link rel=...> values that only name a page (nothing is loaded).
LINK_NAMES_A_PAGE = {"canonical", "alternate", "author", "license", "help"}
LINK_NAMES_A_PAGE |= {"index", "search", "next", "prev", "up", "top"}
CSS_URL = re.compile(r"""(?:@import\s+|url\()\s*['"]?((?:https?:)?//[^'")\s]+)""", re.I)


class _Loads(HTMLParser):
    """Every address a page makes the browser fetch by itself: the src of
    scripts, images, frames and media, the href of stylesheets, icons and
    preloads, and url()/@import in inline styles."""

    def __init__(self):
        super().__init__()
        self.addresses = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("src", "data", "poster"):
            if attrs.get(name):
                self.addresses.append((tag, attrs[name]))
        for candidate in (attrs.get("srcset") or "").split(","):
            if candidate.strip():
                self.addresses.append((tag, candidate.split()[0]))
        rel = set((attrs.get("rel") or "").lower().split())
        if tag == "link" and attrs.get("href") and not rel <= LINK_NAMES_A_PAGE:
            self.addresses.append((f"link rel={' '.join(sorted(rel))}", attrs["href"]))
        self.addresses += [
            (tag, url) for url in CSS_URL.findall(attrs.get("style", ""))
        ]
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.addresses += [("style", url) for url in CSS_URL.findall(data)]


def _loads(html):
    parser = _Loads()
    parser.feed(html)
    return parser.addresses


def _network_loads(html):
    return [(tag, url) for tag, url in _loads(html) if NETWORK.match(url)]


def test_network_loads_are_found():
    # The scan itself, on the markup sphinx-gallery's timing pages and
    # sphinx.ext.mathjax's default would write (an unscanned form passes
    # silently otherwise).
    page = """
    <link href="https://cdn.example/bootstrap.min.css" rel="stylesheet" />
    <link rel="preload" as="font" href="//fonts.example/f.woff2">
    <link rel="canonical" href="https://sknorm.readthedocs.io/en/latest/">
    <script async src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js">
    </script><script src="_static/local.js"></script>
    <img srcset="a.png 1x, https://img.example/b.png 2x">
    <style>@import url("https://fonts.example/css"); p {color: red}</style>
    <a href="https://scikit-learn.org/stable/">a link, not a load</a>
    """
    assert [url for _, url in _network_loads(page)] == [
        "https://cdn.example/bootstrap.min.css",
        "//fonts.example/f.woff2",
        "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js",
        "https://img.example/b.png",
        "https://fonts.example/css",
    ]


@pytest.mark.slow
def test_site_loads_nothing_from_the_network(site):
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 20, pages
    found = {}
    for page in pages:
        loads = _network_loads(page.read_text())
        if loads:
            found[str(page.relative_to(site))] = loads
    assert not found, found
    # Nor do the site's stylesheets (fonts, @import).
    for sheet in site.rglob("*.css"):
        assert not CSS_URL.findall(sheet.read_text(errors="replace")), sheet


@pytest.mark.slow
def test_site_math_is_rendered_by_a_local_mathjax(site):
    static = site / "_static"
    renderer = static / "mathjax" / "tex-chtml.js"
    assert renderer.is_file() and renderer.stat().st_size > 100_000
    # The CHTML output's TeX fonts, which MathJax loads next to itself.
    fonts = list((static / "mathjax" / "output" / "chtml" / "fonts").rglob("*.woff"))
    assert len(fonts) > 10, fonts
    math_pages = [p for p in site.rglob("*.html") if 'class="math' in p.read_text()]
    # The user guide's formulas and the docstrings' (generated/) ones.
    names = {p.relative_to(site).as_posix() for p in math_pages}
    assert {"user_guide/zscore.html", "user_guide/batchnorm.html"} <= names, names
    for page in math_pages:
        scripts = [url for tag, url in _loads(page.read_text()) if tag == "script"]
        local = [u for u in scripts if u.split("?")[0].endswith("mathjax/tex-chtml.js")]
        assert local, (page, scripts)
        assert (page.parent / local[0].split("?")[0]).resolve() == renderer.resolve()
