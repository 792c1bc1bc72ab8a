"""Data and tolerances shared by the kernel tests (``test_kernels`` for the
CPU paths, ``test_cupy_kernels`` for CuPy's compiled kernels)."""

import numpy as np
from hypothesis import strategies as st

# Shrunk geometry: with FOLD_WIDTH 8 and 16 rows per block for 3 features,
# a segment is 2 blocks and 200 rows cross about a dozen blocks.
SMALL_ROWS = 16


# ----------------------------------------------------------------- data ----
def make_X(seed, n, f, dtype, nan, loc, layout):
    rng = np.random.default_rng(seed)
    X = loc + rng.normal(size=(n, 2 * f)) * rng.uniform(0.5, 3.0, size=2 * f)
    if nan == "scattered":
        X[rng.uniform(size=X.shape) < 0.2] = np.nan
    elif nan == "column":
        X[:, 0] = np.nan
    elif nan == "first row":
        X[0, :] = np.nan
    X = X.astype(dtype)
    if layout == "C":
        return np.ascontiguousarray(X[:, :f])
    if layout == "F":
        return np.asfortranarray(X[:, :f])
    return X[:, ::2]  # strided columns


def make_weights(seed, n, kind):
    if kind == "none":
        return None
    rng = np.random.default_rng(seed + 1)
    w = rng.uniform(0.0, 3.0, size=n)
    if kind == "with zeros":
        w[rng.uniform(size=n) < 0.3] = 0.0
        w[0] = 1.0  # at least one row counts
    return w


def first_observed(X, dtype):
    """The shift _stats would pass: first non-NaN value per feature."""
    shift = np.zeros(X.shape[1], dtype)
    for j in range(X.shape[1]):
        col = X[:, j][~np.isnan(X[:, j])]
        if col.size:
            shift[j] = col[0]
    return shift


def assert_moments_close(got, ref, X, shift):
    count, n_obs, mean, var = (np.asarray(a, np.float64) for a in got)
    r_count, r_obs, r_mean, r_var = (np.asarray(a, np.float64) for a in ref)
    spread = np.nanmax(np.abs(np.asarray(X, np.float64) - shift), initial=1.0)
    np.testing.assert_array_equal(n_obs, r_obs)
    np.testing.assert_allclose(count, r_count, rtol=1e-13)
    np.testing.assert_allclose(mean, r_mean, rtol=1e-12, atol=1e-13 * spread)
    np.testing.assert_allclose(var, r_var, rtol=1e-12, atol=1e-13 * spread**2)


SHAPES = st.one_of(
    st.sampled_from(
        [1, 2, SMALL_ROWS - 1, SMALL_ROWS, SMALL_ROWS + 1, 2 * SMALL_ROWS + 1, 97]
    ),
    st.integers(1, 200),
)
CASES = dict(
    seed=st.integers(0, 2**31),
    n=SHAPES,
    f=st.integers(1, 5),
    dtype=st.sampled_from([np.float64, np.float32]),
    nan=st.sampled_from(["none", "scattered", "column", "first row"]),
    loc=st.sampled_from([0.0, 1e3, -1e8]),
    layout=st.sampled_from(["C", "F", "strided"]),
    weights=st.sampled_from(["none", "positive", "with zeros"]),
    fused=st.booleans(),
)
