"""repr, the HTML repr and its fitted-attributes table compute nothing:
no whitening matrix, no read of a device array; the ``?`` link points at the
estimator's page of the documentation site."""

import inspect

import numpy as np
import pytest
from deploy_cases import CASES, fit
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

import sknorm
import sknorm._whitening.estimator
from sknorm._display import DOCS_URL

HAS_TABLE = hasattr(BaseEstimator, "_get_fitted_attr_html")  # scikit-learn 1.9


def _show(est):
    text = repr(est)
    html = est._repr_html_()
    est._repr_mimebundle_()
    if HAS_TABLE:
        est._get_fitted_attr_html()
    return text, html


@pytest.fixture
def no_whitening(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the whitening matrices were computed")

    monkeypatch.setattr(sknorm._whitening.estimator, "whitening_matrices", refuse)
    monkeypatch.setattr(np.linalg, "eigh", refuse)


@pytest.mark.parametrize("case", ["zca", "pca-lw", "cholesky-shrunk"])
def test_showing_a_whitening_computes_no_matrix(case, no_whitening):
    est = sknorm.ZCAWhitening(**CASES[case]().get_params())
    est.fit(np.random.default_rng(0).normal(size=(50, 4)))
    _, html = _show(est)
    assert est._whitening_cache_.result is None
    assert "computed on access" in html or not HAS_TABLE
    pipe = Pipeline([("w", est)])
    pipe._repr_html_()
    assert est._whitening_cache_.result is None


@pytest.mark.skipif(not HAS_TABLE, reason="scikit-learn < 1.9 has no table")
def test_scikit_learns_own_table_would_compute_them(no_whitening):
    """What the override prevents (the test above would fail without it)."""
    est = sknorm.ZCAWhitening().fit(np.random.default_rng(0).normal(size=(50, 4)))
    with pytest.raises(AssertionError, match="computed"):
        BaseEstimator._get_fitted_attr_html(est)


@pytest.mark.parametrize("case", CASES)
def test_showing_reads_nothing_from_the_device(case, no_host_reads):
    import array_api_strict as xs

    est = fit(case, xs.asarray)
    with no_host_reads():
        text, _ = _show(est)
    assert type(est).__name__ in text
    # The harness works: reading a derived count does need the device (the
    # quantile estimators count rows on the host: nothing to read there).
    if hasattr(type(est), "n_samples_seen_") and not hasattr(est, "rank_error"):
        with no_host_reads(), pytest.raises(AssertionError, match="host"):
            est.n_samples_seen_


@pytest.mark.skipif(not HAS_TABLE, reason="scikit-learn < 1.9 has no table")
@pytest.mark.parametrize("case", CASES)
def test_the_table_lists_what_scikit_learn_lists(case):
    est = fit(case)
    ours = est._get_fitted_attr_html()
    theirs = BaseEstimator._get_fitted_attr_html(est)  # evaluates everything
    assert list(ours) == list(theirs)
    for name, row in ours.items():
        if name in vars(est):  # stored: shown as scikit-learn shows it
            assert row["value"] is theirs[name]["value"]
            assert row["type_name"] == theirs[name]["type_name"]
        else:
            assert isinstance(inspect.getattr_static(est, name), property)
            assert repr(row["value"]) == "computed on access"


@pytest.mark.skipif(not HAS_TABLE, reason="scikit-learn < 1.9 has no table")
def test_device_arrays_show_type_dtype_and_shape():
    torch = pytest.importorskip("torch")
    est = sknorm.MinMax().fit(torch.ones((3, 2), dtype=torch.float64))
    row = est._get_fitted_attr_html()["data_min_"]
    assert row["type_name"] == "Tensor"
    assert row["shape"] == (2,)
    assert row["dtype"] == torch.float64
    assert repr(row["value"]) == "not read (on cpu)"
    assert "not read (on cpu)" in est._repr_html_()


@pytest.mark.parametrize(
    "make",
    [type(CASES[c]()) for c in ("zscore", "minmax-clip", "zca", "lrn")]
    + [sknorm.MiniBatchNormalizer],
)
def test_the_doc_link_is_the_class_page(make):
    url = f"{DOCS_URL}/generated/sknorm.{make.__name__}.html"
    assert make()._get_doc_link() == url
    assert f'href="{url}"' in make()._repr_html_()
    assert url in Pipeline([("step", make())])._repr_html_()
