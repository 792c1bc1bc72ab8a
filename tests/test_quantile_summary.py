"""The quantile summary (issue 19): the certified rank bound, merges,
determinism, memory, zero weights, and the kernels it rests on.

References are independent of the code under test: the rank of every
estimate is counted in the whole data (``tests/quantile_ranks.py``),
``compact``'s error counter against a brute-force comparison of the ranks
before and after, ``interpolated`` against ``np.nanpercentile`` (of the
data, or of ``np.repeat`` for integer weights), ``interp_columns`` against
``np.interp`` bit for bit.
"""

import pickle
import warnings

import numpy as np
import pytest
from quantile_ranks import interpolation_slack, observed, rank_deviation

from sknorm._kernels.quantiles import (
    batch_block,
    compact,
    interp_columns,
    interpolated,
)
from sknorm._quantile_summary import (
    QuantileSummary,
    merge_summaries,
    summary_quantiles,
    summary_rank_error,
    update_summary,
)

RANK_ERROR = 0.01
# Levels across the range, the ends, and levels next to them.
PHIS = np.unique(np.r_[np.linspace(0.0, 1.0, 41), 1e-3, 0.013, 0.5, 0.987, 0.999])


def _stream(X, weights, cuts, *, rank_error=RANK_ERROR, integral=True):
    """The summary of X's rows streamed in the batches ``cuts`` delimits."""
    state = None
    for rows in np.split(np.arange(X.shape[0]), cuts):
        w = None if weights is None else weights[rows]
        state = update_summary(state, X[rows], w, np.float64, rank_error, integral)
    return state


def _items(summary):
    """The slots a summary holds (its memory), whether its blocks sit side
    by side in one array or apart in a tuple."""
    values = summary.values
    blocks = values if isinstance(values, tuple | list) else (values,)
    return sum(int(block.shape[1]) for block in blocks)


def _cuts(rng, n, n_batches):
    """Uneven batch boundaries (batches of 1 row next to batches of many)."""
    return np.sort(rng.choice(np.arange(1, n), size=n_batches - 1, replace=False))


def _assert_certified(summary, X, weights=None, *, fractional=False, rank_error=None):
    """Every estimate of PHIS has, in the whole data, a rank within the
    feature's counted error (plus the interpolation's slack) of its target;
    the reported bound covers every feature and stays within the budget."""
    quantiles = summary_quantiles(summary, PHIS)
    assert quantiles.shape == (X.shape[1], PHIS.size)
    deviation = rank_deviation(X, quantiles, PHIS, weights)
    slack = interpolation_slack(X, weights, fractional=fractional)
    total = np.asarray(summary.total)
    per_feature = np.where(
        total > 0, np.asarray(summary.error) / np.where(total > 0, total, 1), 0
    )
    reported = summary_rank_error(summary)
    # 1e-9: floating-point rounding of the counts, far below one row (1/W).
    np.testing.assert_array_less(deviation, per_feature + slack + 1e-9)
    assert reported >= per_feature.max()
    if rank_error is not None:
        assert reported <= rank_error
    return deviation, reported


def _normal(rng, n, f=3):
    return rng.normal(size=(n, f))


def _sorted(rng, n):
    return np.sort(_normal(rng, n), axis=0)


def _reverse_sorted(rng, n):
    return np.ascontiguousarray(_sorted(rng, n)[::-1])


def _duplicates(rng, n):
    X = np.empty((n, 3))
    X[:, 0] = np.where(rng.uniform(size=n) < 0.9, 0.0, rng.integers(-3, 4, n))
    X[:, 1] = rng.integers(0, 3, n)  # three values
    X[:, 2] = 7.0  # one value
    return X


def _cauchy(rng, n):
    return rng.standard_cauchy(size=(n, 3))


def _scales(rng, n):
    """Rows of 1e-6 and 1e6 scale interleaved in every feature, and features
    of either scale side by side."""
    X = _normal(rng, n, 4)
    X[::2, :2] *= 1e-6
    X[1::2, :2] *= 1e6
    X[:, 2] *= 1e-6
    X[:, 3] *= 1e6
    return X


def _nan(rng, n):
    """NaN interleaved: 10 % of one feature, 90 % of another, none of a
    third (very unequal weights per feature)."""
    X = _normal(rng, n)
    X[rng.uniform(size=n) < 0.1, 0] = np.nan
    X[rng.uniform(size=n) < 0.9, 1] = np.nan
    return X


STREAMS = {
    "sorted": _sorted,
    "reverse-sorted": _reverse_sorted,
    "heavy-duplicates": _duplicates,
    "cauchy": _cauchy,
    "scales-1e-6-1e6": _scales,
    "nan-10%-90%": _nan,
}


@pytest.mark.parametrize("n_batches", [40, 7])
@pytest.mark.parametrize("name", list(STREAMS))
def test_stream_is_certified(name, n_batches):
    rng = np.random.default_rng(list(STREAMS).index(name))
    n = 6000
    X = STREAMS[name](rng, n)
    summary = _stream(X, None, _cuts(rng, n, n_batches))
    _assert_certified(summary, X, rank_error=RANK_ERROR)
    # The stream was compacted (the bound is not vacuous).  A feature may
    # stay exact: a constant one compacts without error, and the NumPy
    # budget check keeps the few values of a 90 % NaN feature whole.
    assert _items(summary) < n
    assert np.asarray(summary.error).max() > 0


def test_a_feature_observed_first_stays_within_the_budget():
    """A feature observed in the first quarter of the rows only (NaN after):
    its values pass level after level of compactions sized for the other
    feature's rows while its weight stops growing.  Without the NumPy
    path's budget check its error would reach 0.0112 > 0.01 here."""
    X = np.random.default_rng(0).normal(size=(5000, 2))
    X[1250:, 1] = np.nan
    cuts = [rows[0] for rows in np.array_split(np.arange(5000), 16)[1:]]
    summary = _stream(X, None, cuts)
    _assert_certified(summary, X, rank_error=RANK_ERROR)


def test_stream_at_the_default_rank_error():
    rng = np.random.default_rng(3)
    X = _cauchy(rng, 40_000)
    X[rng.uniform(size=X.shape) < 0.2] = np.nan
    summary = _stream(X, None, _cuts(rng, 40_000, 20), rank_error=1e-3)
    _assert_certified(summary, X, rank_error=1e-3)
    assert _items(summary) < 40_000


def test_one_row_batches():
    rng = np.random.default_rng(4)
    X = _cauchy(rng, 700)[:, :2]
    X[rng.uniform(size=700) < 0.3, 1] = np.nan
    summary = _stream(X, None, np.arange(1, 700), rank_error=0.02)
    _assert_certified(summary, X, rank_error=0.02)
    assert np.all(np.asarray(summary.error) > 0)


WEIGHTS = {
    # name: (weights, integral)
    "integers-0-1000": (lambda rng, n: rng.integers(0, 1001, n).astype(float), True),
    "lognormal-sigma-3": (lambda rng, n: np.exp(rng.normal(scale=3.0, size=n)), False),
    "half-zero": (
        lambda rng, n: np.where(rng.uniform(size=n) < 0.5, 0.0, rng.uniform(0.5, 2, n)),
        False,
    ),
    "probabilities": (lambda rng, n: (w := rng.uniform(size=n) ** 4) / w.sum(), False),
}


@pytest.mark.parametrize("data", ["normal", "nan-10%-90%", "sorted"])
@pytest.mark.parametrize("name", list(WEIGHTS))
def test_weighted_stream_is_certified(name, data):
    rng = np.random.default_rng(5)
    n = 5000
    X = {"normal": _normal, "nan-10%-90%": _nan, "sorted": _sorted}[data](rng, n)
    make, integral = WEIGHTS[name]
    w = make(rng, n)
    summary = _stream(X, w, _cuts(rng, n, 25), integral=integral)
    _assert_certified(summary, X, w, fractional=not integral, rank_error=RANK_ERROR)
    # The totals are the data's weights and entries.
    for j, (values, weights) in enumerate(observed(X, w)):
        assert float(summary.n_observed[j]) == values.size
        if integral:
            assert float(summary.total[j]) == weights.sum()
        else:
            np.testing.assert_allclose(
                float(summary.total[j]), weights.sum(), rtol=1e-12
            )


def test_fractional_weights_need_two_rows_of_slack():
    """The two-row slack of interpolation_slack is reached: weights
    (1.01, 0.99, 1) on values (0, 1.999, 2) give the 99.9 % quantile 1.996,
    whose rank (1.01 / 3) is 1.99 rows from the target -- more than the one
    row an unweighted interpolation allows.  (The summary holds the data
    exactly here: its error is 0.)"""
    X = np.array([[0.0], [1.999], [2.0]])
    w = np.array([1.01, 0.99, 1.0])
    summary = update_summary(None, X, w, np.float64, RANK_ERROR, False)
    q = summary_quantiles(summary, [0.999])
    deviation = rank_deviation(X, q, [0.999], w)[0]
    assert deviation * 3 > 1.9
    assert deviation <= interpolation_slack(X, w, fractional=True)[0]


# ---------------------------------------------------------------- merges ----


def _tree_merges(summaries, shape, rng):
    """Merge a list of summaries along a tree of the given shape."""
    items = list(summaries)
    if shape == "left":
        out = items[0]
        for s in items[1:]:
            out = merge_summaries(out, s, RANK_ERROR)
        return out
    if shape == "right":
        out = items[-1]
        for s in reversed(items[:-1]):
            out = merge_summaries(s, out, RANK_ERROR)
        return out
    if shape == "balanced":
        while len(items) > 1:
            pairs = [items[i : i + 2] for i in range(0, len(items), 2)]
            items = [
                p[0] if len(p) == 1 else merge_summaries(*p, RANK_ERROR) for p in pairs
            ]
        return items[0]
    # "random": merge random neighbours, either side first.
    while len(items) > 1:
        i = int(rng.integers(0, len(items) - 1))
        a, b = items[i], items.pop(i + 1)
        items[i] = (
            merge_summaries(a, b, RANK_ERROR)
            if rng.uniform() < 0.5
            else merge_summaries(b, a, RANK_ERROR)
        )
    return items[0]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", ["left", "right", "balanced", "random"])
def test_any_merge_tree_is_certified(shape, weighted):
    rng = np.random.default_rng(6)
    n = 8000
    X = _cauchy(rng, n)
    X[rng.uniform(size=n) < 0.1, 0] = np.nan
    X[rng.uniform(size=n) < 0.9, 1] = np.nan
    w = rng.integers(0, 20, n).astype(float) if weighted else None
    # Chunks of 1 row up to thousands, each summarised (and compacted) alone.
    cuts = np.r_[1, 2, _cuts(rng, n - 10, 30) + 5]
    chunks = np.split(np.arange(n), np.unique(cuts))
    summaries = [
        update_summary(
            None, X[c], None if w is None else w[c], np.float64, RANK_ERROR, True
        )
        for c in chunks
    ]
    merged = _tree_merges(summaries, shape, rng)
    _assert_certified(merged, X, w, rank_error=RANK_ERROR)
    assert np.all(np.asarray(merged.error) > 0)
    carries_data = ~np.isnan(X) & ((np.ones(n) if w is None else w) > 0)[:, None]
    np.testing.assert_array_equal(merged.n_observed, carries_data.sum(axis=0))


def test_merge_with_nothing_is_neutral():
    rng = np.random.default_rng(7)
    X = _nan(rng, 3000)
    s = _stream(X, None, _cuts(rng, 3000, 10))
    empty = QuantileSummary.empty(np, X.shape[1], np.float64, None)
    assert merge_summaries(s, None, RANK_ERROR) is s
    assert merge_summaries(None, s, RANK_ERROR) is s
    for merged in (
        merge_summaries(s, empty, RANK_ERROR),
        merge_summaries(empty, s, RANK_ERROR),
    ):
        _assert_same_summary(merged, s)


# ----------------------------------------------------------- determinism ----


def _assert_same_summary(a, b):
    """Every field bit for bit, whatever the layout of the blocks (one
    array side by side, or a tuple of arrays)."""
    assert type(a) is type(b)
    for name in a._fields:
        _assert_same_field(getattr(a, name), getattr(b, name), name)


def _assert_same_field(x, y, name):
    if isinstance(x, tuple | list):
        assert isinstance(y, tuple | list) and len(x) == len(y), name
        for i, (u, v) in enumerate(zip(x, y, strict=True)):
            _assert_same_field(u, v, f"{name}[{i}]")
    elif isinstance(x, np.ndarray):
        y = np.asarray(y)
        assert x.dtype == y.dtype and x.shape == y.shape, name
        assert x.tobytes() == y.tobytes(), name
    else:
        assert x == y, name


@pytest.mark.parametrize("weighted", [False, True])
def test_same_batches_give_the_same_bits(weighted):
    rng = np.random.default_rng(8)
    n = 6000
    X = _nan(rng, n)
    w = np.exp(rng.normal(size=n)) if weighted else None
    cuts = _cuts(rng, n, 30)
    first = _stream(X, w, cuts, integral=not weighted)
    again = _stream(
        X.copy(), None if w is None else w.copy(), cuts, integral=not weighted
    )
    _assert_same_summary(first, again)
    assert (
        summary_quantiles(first, PHIS).tobytes()
        == summary_quantiles(again, PHIS).tobytes()
    )
    assert summary_rank_error(first) == summary_rank_error(again)
    # The same merge tree over the same chunks: the same bits too.
    chunks = np.split(np.arange(n), cuts)
    trees = [
        _tree_merges(
            [
                update_summary(
                    None,
                    X[c],
                    None if w is None else w[c],
                    np.float64,
                    RANK_ERROR,
                    not weighted,
                )
                for c in chunks
            ],
            "random",
            np.random.default_rng(9),
        )
        for _ in range(2)
    ]
    _assert_same_summary(*trees)


# ---------------------------------------------------------------- memory ----


@pytest.mark.slow
def test_two_million_rows_pickle_under_4_mb():
    """2,000,000 x 4 float64 (64 MB) in 200 batches: the summary pickles to
    under 4 MB at the default rank error, and is still certified."""
    rng = np.random.default_rng(10)
    X = rng.standard_cauchy(size=(2_000_000, 4))
    summary = _stream(X, None, np.arange(10_000, 2_000_000, 10_000), rank_error=1e-3)
    assert len(pickle.dumps(summary)) < 4_000_000
    assert summary_rank_error(summary) <= 1e-3
    phis = np.array([0.001, 0.25, 0.5, 0.75, 0.999])
    deviation = rank_deviation(X, summary_quantiles(summary, phis), phis)
    assert np.all(deviation <= summary_rank_error(summary) + 1 / X.shape[0])


def test_items_grow_slowly():
    """4x the rows (in batches of the same size) -> far fewer than 4x items."""
    rng = np.random.default_rng(11)
    sizes = {}
    for n in (40_000, 160_000):
        X = rng.normal(size=(n, 1))
        summary = _stream(X, None, np.arange(1000, n, 1000))
        assert summary_rank_error(summary) <= RANK_ERROR
        sizes[n] = _items(summary)
    assert sizes[160_000] < 1.5 * sizes[40_000], sizes


# ----------------------------------------------------------- zero weights ----


@pytest.mark.parametrize("integral", [True, False])
def test_zero_weight_rows_change_nothing(integral):
    """A stream with rows of weight 0 is the stream without them, bit for
    bit (the rows of weight 0 hold 1e12, or NaN)."""
    rng = np.random.default_rng(12)
    n = 4000
    X = _nan(rng, n)
    w = np.ones(n) if integral else rng.uniform(0.5, 2.0, n)
    zero = rng.uniform(size=n) < 0.3
    w[zero] = 0.0
    X[zero & (rng.uniform(size=n) < 0.5), 0] = 1e12
    with_zeros = without = None
    for rows in np.array_split(np.arange(n), 23):
        kept = rows[w[rows] > 0]
        with_zeros = update_summary(
            with_zeros, X[rows], w[rows], np.float64, RANK_ERROR, integral
        )
        without = update_summary(
            without, X[kept], w[kept], np.float64, RANK_ERROR, integral
        )
    for name in ("total", "n_observed", "error"):
        assert (
            np.asarray(getattr(with_zeros, name)).tobytes()
            == np.asarray(getattr(without, name)).tobytes()
        ), name
    assert (
        summary_quantiles(with_zeros, PHIS).tobytes()
        == summary_quantiles(without, PHIS).tobytes()
    )


@pytest.mark.parametrize("integral", [True, False])
def test_zero_weight_rows_in_one_small_batch_change_nothing(integral):
    """Within one batch that the summary holds whole, rows of weight 0 are
    invisible: the same quantiles and counts as without them."""
    rng = np.random.default_rng(13)
    X = _nan(rng, 60)
    w = np.ones(60) if integral else rng.uniform(0.5, 2.0, 60)
    w[::3] = 0.0
    X[::6, 0] = 1e12
    with_zeros = update_summary(None, X, w, np.float64, RANK_ERROR, integral)
    without = update_summary(None, X[w > 0], w[w > 0], np.float64, RANK_ERROR, integral)
    assert (
        summary_quantiles(with_zeros, PHIS).tobytes()
        == summary_quantiles(without, PHIS).tobytes()
    )
    np.testing.assert_array_equal(with_zeros.n_observed, without.n_observed)
    np.testing.assert_array_equal(with_zeros.error, without.error)
    np.testing.assert_allclose(with_zeros.total, without.total, rtol=1e-15)


# --------------------------------------------------------------- compact ----


def _ranks(values, weights, q):
    cumulative = np.concatenate([[0.0], np.cumsum(weights)])
    return (
        cumulative[np.searchsorted(values, q, side="left")],
        cumulative[np.searchsorted(values, q, side="right")],
    )


@pytest.mark.parametrize("kind", ["unweighted", "integers", "fractional"])
def test_compact_counts_its_rank_error_exactly(kind):
    """The error ``compact`` reports is the largest change it makes to any
    rank ``#(x < q)`` or ``#(x <= q)`` (brute force over every value of the
    input and the output): equal for integer weights, an upper bound (with
    its rounding margin) for fractional ones; the total weight is kept."""
    rng = np.random.default_rng(14)
    for trial in range(40):
        n = int(rng.integers(2, 300))
        X = (
            rng.normal(size=(n, 2))
            if trial % 2
            else rng.integers(0, 8, size=(n, 2)).astype(float)
        )
        X[rng.uniform(size=X.shape) < 0.1] = np.nan
        w = {
            "unweighted": None,
            "integers": rng.integers(0, 5, n).astype(float),
            "fractional": rng.uniform(0, 3, n),
        }[kind]
        integral = kind != "fractional"
        values, weights = batch_block(X, w, np.float64)
        slots = int(rng.integers(1, 40))
        new_values, new_weights, error = compact(values, weights, slots, integral)
        assert new_values.shape == (2, slots)
        for j in range(2):
            keep = weights[j] > 0
            before_v, before_w = values[j][keep], weights[j][keep]
            assert np.all(np.diff(new_values[j]) >= 0)
            after = new_weights[j] > 0
            q = np.unique(np.r_[before_v, new_values[j][after]])
            a, b = (
                _ranks(before_v, before_w, q),
                _ranks(new_values[j][after], new_weights[j][after], q),
            )
            true = max(
                np.abs(a[0] - b[0]).max(initial=0), np.abs(a[1] - b[1]).max(initial=0)
            )
            if integral:
                assert error[j] == true
                if before_w.sum() <= slots:
                    assert error[j] == 0
            else:
                assert true <= error[j] <= true + 1e-9 * before_w.sum()
            np.testing.assert_allclose(new_weights[j].sum(), before_w.sum(), rtol=1e-13)


# ----------------------------------------------------------- interpolated ----

PERCENTS = np.array([0, 0.1, 1, 12.5, 25, 100 / 3, 50, 62.5, 75, 90, 99, 99.9, 100])


def _assert_same_bits(got, expected, msg=""):
    """Equal bit for bit where not NaN (NaN payloads are not compared)."""
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.dtype == expected.dtype and got.shape == expected.shape, msg
    nan = np.isnan(expected)
    np.testing.assert_array_equal(np.isnan(got), nan, err_msg=str(msg))
    assert got[~nan].tobytes() == expected[~nan].tobytes(), msg


def _nanpercentile(X, percents):
    with warnings.catch_warnings():
        # "All-NaN slice encountered": NaN is the expected answer there.
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanpercentile(X, percents, axis=0, method="linear").T


@pytest.mark.parametrize("unit_weights", [True, False])
def test_interpolated_equals_nanpercentile(unit_weights):
    rng = np.random.default_rng(15)
    for trial in range(40):
        n = int(rng.integers(1, 50))
        X = rng.normal(size=(n, 4))
        if trial % 2:
            X = np.round(X) + 0.0  # ties (+ 0.0: no -0.0, whose sort order is open)
        X[rng.uniform(size=X.shape) < 0.3] = np.nan
        if trial % 5 == 0:
            X[:, 3] = np.nan  # a feature without data
        values, weights = batch_block(X, None, np.float64)
        got = interpolated(values, weights, PERCENTS / 100, unit_weights=unit_weights)
        expected = _nanpercentile(X, PERCENTS)
        _assert_same_bits(got, expected, trial)


def test_interpolated_integer_weights_equal_repeated_rows():
    rng = np.random.default_rng(16)
    for trial in range(40):
        n = int(rng.integers(1, 30))
        X = rng.normal(size=(n, 3))
        if trial % 2:
            X = np.round(X) + 0.0
        w = rng.integers(0, 6, n).astype(float)
        w[0] = max(w[0], 1.0)
        values, weights = batch_block(X, w, np.float64)
        got = interpolated(values, weights, PERCENTS / 100)
        expected = np.percentile(
            np.repeat(X, w.astype(int), axis=0), PERCENTS, axis=0
        ).T
        _assert_same_bits(got, expected, trial)


@pytest.mark.parametrize(
    "weight",
    [
        0.5,
        0.25,
        "1/n",
    ],
)
def test_interpolated_equal_weights_below_one_count_one_row_each(weight):
    """Weights averaging below 1 are scaled to a mean of 1: equal weights
    of 0.5 (or 0.1, or 1/n: weights that sum to 1) are the unweighted data,
    to rounding."""
    rng = np.random.default_rng(17)
    X = rng.normal(size=(37, 3))
    X[rng.uniform(size=X.shape) < 0.2] = np.nan
    w = np.full(37, 1 / 37 if weight == "1/n" else weight)
    values, weights = batch_block(X, w, np.float64)
    got = interpolated(values, weights, PERCENTS / 100)
    np.testing.assert_allclose(got, _nanpercentile(X, PERCENTS), rtol=1e-12, atol=1e-15)


def test_weights_of_a_tenth_give_the_unweighted_median():
    """The minimal case: ten rows of weight 0.1 are ten rows; the median of
    0..9 is 4.5 (the search takes 4.0)."""
    X = np.arange(10.0).reshape(-1, 1)
    values, weights = batch_block(X, np.full(10, 0.1), np.float64)
    np.testing.assert_allclose(
        interpolated(values, weights, [0.5]), [[4.5]], rtol=1e-12
    )


# ---------------------------------------------------------- interp_columns ----


def _np_interp(X, xs, fs):
    return np.stack(
        [np.interp(X[:, c], xs[:, c], fs[:, c]) for c in range(X.shape[1])], axis=1
    )


def test_interp_columns_where_slopes_overflow():
    """Points a subnormal apart, or values 1e308 apart: infinite slopes,
    where np.interp takes a point's value at the point itself and its
    fallbacks elsewhere."""
    tiny = 5e-324
    xs = np.array([[0.0, -1.0, 0.0], [tiny, 0.0, tiny], [1.0, 1.0, 2 * tiny]])
    fs = np.array([[0.0, -1e308, 1.0], [1.0, 1e308, 1.0], [2.0, 1e308, 3.0]])
    X = np.array(
        [[0.0, -1.0, 0.0], [tiny, 0.0, tiny], [0.5, -0.5, 2 * tiny], [-1.0, 0.5, 1.0]]
    )
    with np.errstate(over="ignore"):  # see the test below
        got = interp_columns(X, xs, fs)
    expected = _np_interp(X, xs, fs)
    _assert_same_bits(got, expected)


def test_interp_columns_warns_no_more_than_np_interp():
    xs = np.array([[0.0], [1.0]])
    fs = np.array([[-1e308], [1e308]])
    X = np.array([[0.25]])
    expected = _np_interp(X, xs, fs)  # no warning (an error under pytest)
    _assert_same_bits(interp_columns(X, xs, fs), expected)


@pytest.mark.parametrize("k", [1, 2, 3, 8, 1000])
def test_interp_columns_is_np_interp_bit_for_bit(k):
    rng = np.random.default_rng(18 + k)
    n_features = 4
    for trial in range(6):
        if trial % 2:
            xs = np.sort(rng.normal(size=(k, n_features)), axis=0)
        else:  # runs of equal points
            xs = np.sort(rng.integers(0, 4, size=(k, n_features)).astype(float), axis=0)
        fs = rng.normal(size=(k, n_features))
        if trial % 3 == 0:
            fs = np.sort(fs, axis=0)
        if trial == 4:
            fs[:] = fs[:1]  # constant
        X = rng.uniform(-3, 6, size=(200, n_features))  # inside and outside
        X[: min(k, 200)] = xs[:200]  # exactly at the points
        X[rng.uniform(size=X.shape) < 0.1] = np.nan
        got = interp_columns(X, xs, fs)
        expected = _np_interp(X, xs, fs)
        nan = np.isnan(X)
        # NaN stays NaN (np.interp's own answer, but for a single point,
        # where NumPy returns that point's value).
        assert np.all(np.isnan(got[nan]))
        assert got[~nan].tobytes() == expected[~nan].tobytes(), trial
        if k > 1:
            _assert_same_bits(got, expected, trial)


@pytest.mark.parametrize("n", [500, 9_000])  # kept whole, compacted at once
def test_compiled_unweighted_batch_equals_the_array_api_path(n, monkeypatch):
    """NumPy's compiled path sorts and compacts an unweighted batch without
    storing its unit weights; the result is the block path's, bit for bit
    (the block path without numba is the Array API code)."""
    from sknorm._kernels import numba_cpu
    from sknorm._quantile_summary import summary_of_batch

    if not numba_cpu.enabled():
        pytest.skip("numba is not installed")
    rng = np.random.default_rng(31)
    X = rng.standard_cauchy(size=(n, 3))
    X[rng.uniform(size=X.shape) < [0.0, 0.3, 0.97]] = np.nan
    X[: n // 3, 0] = 2.5  # a run of equal values

    def levels(summary):
        return (0.0, 0.1, 0.5, 0.9, 1.0)

    fused = summary_of_batch(X, None, np.float64, 0.01, True, levels)
    monkeypatch.setenv("SKNORM_NUMBA", "0")
    plain = summary_of_batch(X, None, np.float64, 0.01, True, levels)
    for a, b in zip(fused[0], plain[0], strict=True):
        if isinstance(a, tuple):
            assert len(a) == len(b)
            for u, v in zip(a, b, strict=True):
                np.testing.assert_array_equal(u, v)
        else:
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(fused[1], plain[1])
