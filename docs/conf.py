"""Sphinx configuration of sknorm's documentation site.

The stack of scikit-learn, imbalanced-learn and skrub: the pydata theme,
numpydoc docstrings, autosummary pages (one per public object) and a
sphinx-gallery of ``examples/``; myst-parser makes the Markdown pages
(index.md, user_guide/*.md, dask.md ...) pages of the site.

The build is offline (no intersphinx inventories are downloaded), and so
is the site it writes: no page loads a script, stylesheet or font from the
network (MathJax is served from the site's ``_static/``).  It is meant to
pass with warnings as errors: ``make html`` runs
``sphinx-build -W --keep-going``, and ``tests/test_docs.py`` builds the
whole site, gallery executed, into a temporary folder.
"""

import os
import re
import sys
from pathlib import Path

import sknorm

HERE = Path(__file__).resolve().parent
# The plot scripts of the performance page live next to this file.
sys.path.insert(0, str(HERE / "_scripts"))
# sphinx-gallery runs the examples in this process: matplotlib must never
# try to open a window.
os.environ.setdefault("MPLBACKEND", "Agg")

project = "sknorm"
author = "sknorm developers"
copyright = "sknorm developers, BSD-3-Clause"
release = sknorm.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    # MathJax 3 served by the site itself (copied into _static/mathjax/),
    # so that formulas render without a network (sphinx.ext.mathjax alone
    # loads MathJax from a CDN).
    "sphinx-mathjax-offline",
    "numpydoc",
    "myst_parser",
    "sphinx_design",
    "sphinx_gallery.gen_gallery",
    "matplotlib.sphinxext.plot_directive",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "_scripts",
    "_data",
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
    "auto_examples/*.json",
    "auto_examples/*.md5",
]

# ----------------------------------------------------------------- API ----
# One page per public object, written by autosummary into generated/
# (the HTML repr's "?" link points at generated/sknorm.<Name>.html:
# sknorm/_display.py's DOCS_URL).
autosummary_generate = True
autodoc_typehints = "none"
autodoc_member_order = "groupwise"
# The class template (_templates/class.rst) lists the members itself.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# Type fields such as "array of shape (n_features,)" are prose, not
# cross-reference targets.
numpydoc_xref_param_type = False

# ------------------------------------------------------------------ math ---
# The renderer sphinx-mathjax-offline copies into the site (a path relative
# to _static/).  Set here as well as by that extension, so that the page
# template's script is visible in this file; tests/test_docs.py checks that
# the math pages load it and that no page loads anything from the network.
mathjax_path = "mathjax/tex-chtml.js"

# -------------------------------------------------------------- Markdown ---
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
# Headings up to ### get anchors, so that pages can link to sections.
myst_heading_anchors = 3

# --------------------------------------------------------------- gallery ---


def _has_cuda_gpu():
    """True where CuPy or torch sees a CUDA device (the GPU example runs)."""
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() > 0:
            return True
    except Exception:  # no CuPy, or CuPy without a driver or a device
        pass
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False


# Every example is executed (not only plot_*), so that each page shows its
# real output; those that need a CUDA GPU only where one is (elsewhere their
# page shows the code alone).  tests/test_docs_extra.py reads GPU_EXAMPLES:
# the other examples must run with the docs extra alone.
GPU_EXAMPLES = ("plot_gpu.py",)
if _has_cuda_gpu():
    EXECUTED = r"\.py$"
else:
    GPU_ONLY = "|".join(map(re.escape, GPU_EXAMPLES))
    EXECUTED = rf"^(?!.*({GPU_ONLY})$).*\.py$"

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": EXECUTED,
    # "Examples using sknorm.ZScore" on each API page.
    "doc_module": ("sknorm",),
    "backreferences_dir": "generated",
    # A failing example fails the build (and so the docs test).
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "remove_config_comments": True,
    "reset_modules": ("matplotlib",),
    "matplotlib_animations": False,
    "download_all_examples": False,
    "show_signature": False,
    # No sg_execution_times pages: sphinx-gallery writes them with jQuery,
    # DataTables and Bootstrap from CDNs (the site loads nothing from the
    # network); each example's page still gives its own running time.
    "write_computation_times": False,
}

# --------------------------------------------------- plots from the JSON ---
# The performance page draws its figures at build time from the committed
# benchmark JSON (docs/_data/benchmarks/); the scripts show no source.
plot_include_source = False
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 100)]
plot_rcparams = {"figure.autolayout": True}

# ------------------------------------------------------------------ HTML ---
html_theme = "pydata_sphinx_theme"
html_title = f"sknorm {release}"
# No static files of our own (an empty _static folder would not survive a
# clone: git keeps no empty folders).
html_static_path = []
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc", "sourcelink"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": [], "changelog": []}
html_show_sourcelink = False


# --------------------------------------------- links to other projects ---
# No intersphinx (the build must not download inventories).  References
# that Sphinx cannot resolve here and that point at scikit-learn or PyTorch
# become links to those sites' pages, whose addresses follow fixed
# patterns.  The labels and glossary terms are those of the docstrings
# sknorm inherits from scikit-learn (set_output, get_metadata_routing,
# set_*_request); an unknown label still fails the build.
SKLEARN = "https://scikit-learn.org/stable/"
TORCH = "https://docs.pytorch.org/docs/stable/generated/"
SKLEARN_LABELS = {
    ("ref", "metadata_routing"): "metadata_routing.html",
    (
        "ref",
        "sphx_glr_auto_examples_miscellaneous_plot_set_output.py",
    ): "auto_examples/miscellaneous/plot_set_output.html",
    ("ref", "df_output_transform"): "search.html?q=set_output",
    ("term", "meta-estimator"): "glossary.html#term-meta-estimator",
}


def _external_url(domain, reftype, target):
    if domain == "std":
        page = SKLEARN_LABELS.get((reftype, target.lower()))
        return SKLEARN + page if page else None
    if domain != "py":
        return None
    target = target.lstrip("~.")
    if target.startswith("sklearn.") and target.count(".") >= 2:
        return SKLEARN + f"modules/generated/{target}.html"
    if target.startswith(("torch.nn.", "torch.")) and target.count(".") >= 1:
        return TORCH + f"{target}.html"
    return None


def _resolve_external(app, env, node, contnode):
    from docutils import nodes

    url = _external_url(node.get("refdomain"), node.get("reftype"), node["reftarget"])
    if url is None:
        return None
    reference = nodes.reference("", "", internal=False, refuri=url)
    reference.append(contnode)
    return reference


def setup(app):
    app.connect("missing-reference", _resolve_external)
