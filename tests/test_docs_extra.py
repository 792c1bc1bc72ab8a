"""The ``docs`` extra installs everything the documentation build imports.

``pip install torch==2.13.0 -e ".[docs]" && make -C docs html`` must work
in a fresh environment.  The build runs code in four places:

- ``docs/conf.py`` and what it loads by name: its ``extensions`` and its
  ``html_theme`` (found through the ``sphinx.html_themes`` entry points);
- every example of ``examples/`` (sphinx-gallery executes them in the
  build's process), except those conf.py's ``GPU_EXAMPLES`` names, which
  run only where a CUDA GPU is (elsewhere their page shows the code);
- the ``.. plot::`` directives of the pages (matplotlib's plot_directive,
  in ``{eval-rst}`` blocks of the Markdown pages, in ``.rst`` pages, or as
  MyST ``{plot}`` fences), the code they hold or the script they name;
- the modules those import from ``docs/_scripts/`` (conf.py puts that
  folder on ``sys.path``), scanned as sources too.

The pages' ```` ```python ```` blocks are not executed by the build
(myst-parser only highlights them; ``tests/test_docs.py`` runs them), and
autodoc imports sknorm itself, whose imports are its runtime dependencies.

The check is static and reads metadata only: the imports of those sources
(``ast``; plus the modules scikit-learn imports on a caller's behalf, such
as pandas for ``as_frame=True``), each top-level module mapped to the
distributions that provide it (``importlib.metadata.packages_distributions``),
compared with the closure of ``sknorm[docs]``'s requirements, read from
pyproject.toml and followed through the installed distributions' own
requirements (markers and extras honoured), plus the standard library.
"""

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
EXTRA = "docs"
PROJECT = "sknorm"

# What the test command and the docs install with: torch pinned first.
DOCS_INSTALL = 'pip install torch==2.13.0 -e ".[docs]"'


# -------------------------------------------------------------- the sources
def _conf_tree(root):
    return ast.parse((root / "docs" / "conf.py").read_text())


def _conf_literal(tree, name, default=None):
    """The value of a top-level ``name = <literal>`` of conf.py."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return ast.literal_eval(node.value)
    return default


def _theme_module(theme):
    """The module a Sphinx theme name loads (its entry point, else itself)."""
    for entry in metadata.entry_points(group="sphinx.html_themes"):
        if entry.name == theme:
            return entry.module
    return theme


def _pages(root):
    built = {"_build", "generated", "auto_examples"}
    docs = root / "docs"
    return sorted(
        p
        for pattern in ("*.md", "*.rst")
        for p in docs.rglob(pattern)
        if not built & set(p.relative_to(docs).parts)
    )


# `.. plot:: [script]` with its options and indented content (rst, and the
# {eval-rst} blocks of Markdown pages); the MyST fence form of the same.
RST_PLOT = re.compile(
    r"^([ \t]*)\.\. plot::[ \t]*(\S*)[ \t]*\n((?:\1[ \t]+.*\n|[ \t]*\n)*)", re.M
)
MYST_PLOT = re.compile(
    r"^(`{3,}|:{3,})\{plot\}[ \t]*(\S*)[ \t]*\n(.*?)^\1[ \t]*$", re.M | re.S
)
# matplotlib's default plot_pre_code, run before every plot directive
# (conf.py's own where it sets one).
PLOT_PRE_CODE = "import numpy as np\nfrom matplotlib import pyplot as plt\n"


def _directive_code(body):
    """The code of a directive's body: its options (``:name:`` lines, or a
    MyST ``---`` block) dropped, dedented."""
    code = body.splitlines()
    if code and code[0].strip() == "---" and "---" in [c.strip() for c in code[1:]]:
        code = code[[c.strip() for c in code].index("---", 1) + 1 :]
    while code and (code[0].strip().startswith(":") or not code[0].strip()):
        code.pop(0)
    indent = min((len(c) - len(c.lstrip()) for c in code if c.strip()), default=0)
    return "\n".join(c[indent:] for c in code) + "\n"


def _plot_sources(page, root, pre_code=PLOT_PRE_CODE):
    """(label, code) of every plot directive of a page, and of the scripts
    they name (relative to the page, or to docs/ for a leading ``/``)."""
    text = page.read_text()
    found = [(m.group(2), m.group(3)) for m in RST_PLOT.finditer(text)]
    if page.suffix == ".md":
        found += [(m.group(2), m.group(3)) for m in MYST_PLOT.finditer(text)]
    label = page.relative_to(root).as_posix()
    sources = []
    for argument, body in found:
        sources.append((f"{label} (a plot directive)", pre_code))
        if argument:
            base = root / "docs" if argument.startswith("/") else page.parent
            script = base / argument.lstrip("/")
            sources.append((f"{label} -> {argument}", script.read_text()))
        else:
            sources.append((f"{label} (a plot directive)", _directive_code(body)))
    return sources


def executed_sources(root=ROOT):
    """(label, Python source) of everything the docs build runs."""
    tree = _conf_tree(root)
    sources = [("docs/conf.py", (root / "docs" / "conf.py").read_text())]
    for script in sorted((root / "docs" / "_scripts").glob("*.py")):
        sources.append((script.relative_to(root).as_posix(), script.read_text()))
    # The pages, and the gallery's headers (sphinx-gallery copies them into
    # its index pages).
    pre_code = _conf_literal(tree, "plot_pre_code", PLOT_PRE_CODE)
    for page in [*_pages(root), *sorted((root / "examples").rglob("*.rst"))]:
        sources += _plot_sources(page, root, pre_code)
    gpu_only = set(_conf_literal(tree, "GPU_EXAMPLES", ()))
    for example in sorted((root / "examples").glob("*.py")):
        if example.name not in gpu_only:
            sources.append((example.relative_to(root).as_posix(), example.read_text()))
    return sources


def loaded_by_name(root=ROOT):
    """The modules Sphinx imports by the names conf.py gives: its
    ``extensions`` and its ``html_theme``."""
    tree = _conf_tree(root)
    names = [
        *_conf_literal(tree, "extensions", []),
        _theme_module(_conf_literal(tree, "html_theme", "alabaster")),
    ]
    return {name.split(".")[0] for name in names}


def build_imports(root=ROOT):
    """(label, top-level modules) for every source the build runs, and
    conf.py's loads by name."""
    imports = [
        (label, imported_modules(s, label, guarded=label != "docs/conf.py"))
        for label, s in executed_sources(root)
    ]
    imports.append(("docs/conf.py (extensions, html_theme)", loaded_by_name(root)))
    return imports


def _local_modules(root):
    """Modules of the project itself: sknorm, conf.py's _scripts folder and
    the examples' folder (sphinx-gallery runs each example from there)."""
    scripts = (root / "docs" / "_scripts").glob("*.py")
    examples = (root / "examples").glob("*.py")
    return {PROJECT, *(p.stem for p in scripts), *(p.stem for p in examples)}


# Modules scikit-learn imports on the caller's behalf (its optional
# dependencies, named in its docstrings): a call with these keyword values
# needs the module although the source never imports it.
IMPLICIT_BY_KEYWORD = {
    ("as_frame", True): "pandas",  # sklearn.datasets loaders
    ("transform", "pandas"): "pandas",  # set_output
    ("transform", "polars"): "polars",  # set_output
}
# ... and functions that need one whatever their arguments.
IMPLICIT_BY_CALL = {
    "load_sample_images": "PIL",  # sklearn.datasets: "requires pillow"
    "load_sample_image": "PIL",
}


def _called_name(func):
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else None


IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}


def _guarded(tree):
    """The nodes inside ``try`` blocks that handle a failed import."""
    inside = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try | ast.TryStar):
            caught = set()
            for handler in node.handlers:
                kinds = handler.type
                kinds = kinds.elts if isinstance(kinds, ast.Tuple) else [kinds]
                caught |= {
                    "BaseException" if k is None else _called_name(k) for k in kinds
                }
            if caught & IMPORT_ERRORS:
                inside |= {id(n) for child in node.body for n in ast.walk(child)}
    return inside


def imported_modules(source, label="<source>", guarded=True):
    """The top-level modules a source imports, plus the modules
    scikit-learn imports for the calls it makes.  Imports inside functions
    count, and so do those of a ``try`` that handles their failure (an
    example that runs without them shows a page without their output),
    unless ``guarded=False`` (conf.py's probes: is there a GPU?)."""
    tree = ast.parse(source, label)
    skipped = set() if guarded else _guarded(tree)
    modules = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call):
            name = _called_name(node.func)
            arguments = node.args[:1]
            if name in {"import_module", "__import__"} and arguments:
                if isinstance(arguments[0], ast.Constant):
                    modules.add(str(arguments[0].value).split(".")[0])
            if name in IMPLICIT_BY_CALL:
                modules.add(IMPLICIT_BY_CALL[name])
            for keyword in node.keywords:
                if isinstance(keyword.value, ast.Constant):
                    key = (keyword.arg, keyword.value.value)
                    if key in IMPLICIT_BY_KEYWORD:
                        modules.add(IMPLICIT_BY_KEYWORD[key])
    modules.discard("__future__")
    return modules


# -------------------------------------------------------- the requirements
def _pyproject(root=ROOT):
    return tomllib.loads((root / "pyproject.toml").read_text())["project"]


def extra_requirements(project, extra):
    """The requirements ``pip install sknorm[extra]`` starts from."""
    return [
        Requirement(text)
        for text in [*project["dependencies"], *project["optional-dependencies"][extra]]
    ]


def _applies(requirement, extras):
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": e}) for e in extras | {""})


def requirement_closure(requirements, project):
    """Canonical names of every distribution the requirements pull, through
    the installed distributions' ``Requires-Dist`` (with their markers, the
    extras asked for included), and the names that are not installed."""
    wanted = {}  # name -> the extras asked of it
    missing = set()
    stack = [(r, frozenset()) for r in requirements]
    while stack:
        requirement, asked_by = stack.pop()
        if not _applies(requirement, asked_by):
            continue
        name = canonicalize_name(requirement.name)
        extras = set(requirement.extras)
        if name in wanted and extras <= wanted[name]:
            continue
        new = extras - wanted.get(name, set())
        first = name not in wanted
        wanted.setdefault(name, set()).update(extras)
        if name == canonicalize_name(project["name"]):
            # A self-reference (sknorm[dask]): its requirements from pyproject.
            if first:
                stack += [
                    (Requirement(t), frozenset()) for t in project["dependencies"]
                ]
            for extra in new:
                for text in project["optional-dependencies"][extra]:
                    stack.append((Requirement(text), frozenset()))
            continue
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            missing.add(name)
            continue
        for text in requires:
            dependency = Requirement(text)
            # Requirements of an extra only when that extra is new here;
            # the unconditional ones once.
            conditional = dependency.marker is not None and "extra" in str(
                dependency.marker
            )
            if (conditional and new) or (not conditional and first):
                stack.append((dependency, frozenset(new if conditional else ())))
    return set(wanted), missing


def _distributions_of(module, index):
    return {canonicalize_name(d) for d in index.get(module, ())}


def missing_imports(imports, closure, local, index, extra=EXTRA):
    """One message per (source, module) whose module the closure lacks."""
    problems = []
    for label, modules in imports:
        for module in sorted(modules):
            if module in sys.stdlib_module_names or module in local:
                continue
            provided_by = _distributions_of(module, index)
            if provided_by & closure:
                continue
            where = (
                f"distribution {', '.join(sorted(provided_by))}"
                if provided_by
                else "no installed distribution provides it"
            )
            problems.append(
                f"{label} imports {module!r} ({where}), which the {extra!r} "
                f"extra of pyproject.toml does not provide: add it there"
            )
    return problems


@pytest.fixture(scope="module")
def docs_closure():
    project = _pyproject()
    requirements = extra_requirements(project, EXTRA)
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        if name != PROJECT:
            try:
                metadata.distribution(name)
            except metadata.PackageNotFoundError:
                pytest.skip(f"the {EXTRA} extra is not installed ({name})")
    closure, missing = requirement_closure(requirements, project)
    assert not missing, f"installed requirements' dependencies missing: {missing}"
    return closure


# ------------------------------------------------------------------- tests
def test_the_docs_extra_provides_every_import_of_the_build(docs_closure):
    problems = missing_imports(
        build_imports(),
        docs_closure,
        _local_modules(ROOT),
        metadata.packages_distributions(),
    )
    assert not problems, "\n".join(problems)


def test_the_sources_cover_the_gallery_conf_and_the_plot_directives():
    labels = {label for label, _ in executed_sources()}
    tree = _conf_tree(ROOT)
    gpu_only = set(_conf_literal(tree, "GPU_EXAMPLES"))
    assert gpu_only and all((ROOT / "examples" / n).exists() for n in gpu_only)
    for example in (ROOT / "examples").glob("*.py"):
        assert (f"examples/{example.name}" in labels) != (example.name in gpu_only)
    assert "docs/conf.py" in labels
    # docs/performance.md draws its figures with a plot directive.
    assert "docs/performance.md (a plot directive)" in labels
    assert "docs/_scripts/benchmark_plots.py" in labels
    # What conf.py loads by name counts as its imports.
    assert {"sphinx_gallery", "pydata_sphinx_theme", "myst_parser"} <= (
        loaded_by_name()
    )


def test_imports_are_found_wherever_they_are():
    source = """
import a.b
from c.d import e
from . import local_relative
from __future__ import annotations

def f():
    try:
        import g
    except ImportError:
        pass
    importlib.import_module("h.i")

load_wine(as_frame=True)
load_sample_images()
ZScore().set_output(transform="polars")
"""
    assert imported_modules(source) == {"a", "c", "g", "h", "pandas", "PIL", "polars"}
    # conf.py's probes: an import whose failure is handled is optional there.
    probe = "try:\n    import cupy\nexcept Exception:\n    pass\nimport numpy\n"
    assert imported_modules(probe, guarded=False) == {"numpy"}
    assert imported_modules(probe) == {"cupy", "numpy"}
    unhandled = "try:\n    import cupy\nexcept KeyError:\n    pass\n"
    assert imported_modules(unhandled, guarded=False) == {"cupy"}


def test_plot_directives_are_read_in_every_form(tmp_path):
    (tmp_path / "docs" / "_scripts").mkdir(parents=True)
    (tmp_path / "examples").mkdir()
    (tmp_path / "docs" / "conf.py").write_text('extensions = ["x_ext.sub"]\n')
    (tmp_path / "docs" / "figure.py").write_text("import from_script\n")
    (tmp_path / "docs" / "a.md").write_text(
        "```{eval-rst}\n.. plot::\n   :include-source: false\n\n"
        "   import in_eval_rst\n\n   in_eval_rst.draw()\n```\n\n"
        "```{plot}\n:caption: c\nimport in_myst_fence\n```\n"
    )
    (tmp_path / "docs" / "b.rst").write_text(
        "Title\n=====\n\n.. plot:: figure.py\n\n.. plot::\n\n   import in_rst\n"
    )
    modules = set().union(*(m for _, m in build_imports(tmp_path)))
    assert {
        "x_ext",
        "in_eval_rst",
        "in_myst_fence",
        "from_script",
        "in_rst",
        "numpy",
        "matplotlib",
    } <= modules


def test_an_example_importing_what_the_extra_lacks_fails(tmp_path, docs_closure):
    # A new example that imports a package the docs extra does not pull (a
    # test-only one here) must be reported, naming the example, the module
    # and the extra.
    root = tmp_path
    (root / "docs" / "_scripts").mkdir(parents=True)
    (root / "examples").mkdir()
    (root / "docs" / "conf.py").write_text(
        'GPU_EXAMPLES = ()\nhtml_theme = "pydata_sphinx_theme"\n'
    )
    (root / "examples" / "plot_new.py").write_text(
        "import numpy as np\nimport hypothesis.strategies\nimport not_a_module_xyz\n"
    )
    index = metadata.packages_distributions()
    assert not _distributions_of("hypothesis", index) & docs_closure
    problems = missing_imports(build_imports(root), docs_closure, set(), index)
    assert problems == [
        "examples/plot_new.py imports 'hypothesis' (distribution hypothesis), "
        "which the 'docs' extra of pyproject.toml does not provide: add it there",
        "examples/plot_new.py imports 'not_a_module_xyz' (no installed "
        "distribution provides it), which the 'docs' extra of pyproject.toml "
        "does not provide: add it there",
    ]


def test_the_closure_follows_extras_and_markers():
    project = _pyproject()
    closure, missing = requirement_closure(
        [Requirement("dask[dataframe]>=2024.8")], project
    )
    # dask[dataframe] pulls dask[array] (numpy) and pandas, not distributed
    # (dask's "distributed" extra, not asked for).
    assert {"dask", "pandas", "numpy"} <= closure | missing
    assert "distributed" not in closure
    closure, _ = requirement_closure([Requirement("dask>=2024.8")], project)
    assert "pandas" not in closure
    # A requirement whose marker excludes this interpreter pulls nothing.
    closure, _ = requirement_closure(
        [Requirement('pandas>=2; python_version < "3.0"')], project
    )
    assert closure == set()
    # A self-reference takes the extra's requirements from pyproject.
    closure, _ = requirement_closure([Requirement("sknorm[persist]")], project)
    assert "skops" in closure


def test_every_requirement_of_the_docs_extra_is_used_by_the_build(docs_closure):
    # The converse: no requirement of the extra is dead weight (each is
    # imported by the build directly; the pyproject comment says where).
    index = metadata.packages_distributions()
    used = set()
    for _, modules in build_imports():
        for module in modules:
            used |= _distributions_of(module, index)
    for text in _pyproject()["optional-dependencies"][EXTRA]:
        name = canonicalize_name(Requirement(text).name)
        assert name in used, f"{name} of the {EXTRA} extra is imported by nothing"


def test_the_test_extra_holds_the_docs_extra():
    # tests/test_docs.py builds the site in the test environment (CI
    # installs the test extra only).
    extras = _pyproject()["optional-dependencies"]
    test = {canonicalize_name(Requirement(r).name): r for r in extras["test"]}
    for text in extras[EXTRA]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in test, f"{text} of the {EXTRA} extra is not in the test extra"
        # The same bounds and at least the same extras: one list to edit.
        in_test = Requirement(test[name])
        assert in_test.specifier == requirement.specifier, (text, test[name])
        assert requirement.extras <= in_test.extras, (text, test[name])


# ------------------------------------------- where the install is written
def test_readme_and_docs_home_give_the_docs_install_command():
    for page in ("README.md", "docs/index.md"):
        text = (ROOT / page).read_text()
        assert DOCS_INSTALL in text, page
        assert "make -C docs html" in text, page
    # The test command pins the same torch.
    ci = (ROOT / ".ci" / "run").read_text()
    assert DOCS_INSTALL.split(" -e ")[0] in ci


def test_readthedocs_builds_the_docs_extra_with_warnings_as_errors():
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load((ROOT / ".readthedocs.yaml").read_text())
    assert config["version"] == 2
    assert config["build"]["tools"]["python"] == "3.11"
    assert config["build"]["jobs"]["install"] == [DOCS_INSTALL]
    assert config["sphinx"] == {
        "configuration": "docs/conf.py",
        "fail_on_warning": True,
    }


def test_the_addresses_are_the_readthedocs_site():
    from sknorm._display import DOCS_URL

    urls = _pyproject()["urls"]
    assert urls == {"Documentation": DOCS_URL + "/"}
    # The project Read the Docs serves is the one .readthedocs.yaml builds.
    assert re.fullmatch(r"https://sknorm\.readthedocs\.io/en/latest", DOCS_URL)
    assert (ROOT / ".readthedocs.yaml").exists()
    for path in [ROOT / "README.md", *_pages(ROOT), ROOT / "pyproject.toml"]:
        text = path.read_text()
        assert "example.invalid" not in text, path
        for url in re.findall(r"https://sknorm\.readthedocs\.io[^\s)\"'`>]*", text):
            assert url.startswith(DOCS_URL), (path, url)
