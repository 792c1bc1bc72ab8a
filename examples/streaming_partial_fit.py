"""Streaming statistics with ``partial_fit``: any batching, same answer.

Feeds the digits data set (ships with scikit-learn) to ``ZScore`` and
``MinMax`` in batches of random sizes, as a generator reading a file or a
queue would, and checks the result against a single ``fit`` on all rows.
Then shows why the shifted, pairwise merge matters: features with a huge
mean and a tiny spread, where scikit-learn's ``StandardScaler.partial_fit``
loses seven digits of the variance.

Run: ``python examples/streaming_partial_fit.py``
"""

import numpy as np
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

from sknorm import MinMax, ZScore


def batches(X, rng, low=1, high=200):
    """Yield consecutive row batches of random sizes."""
    start = 0
    while start < len(X):
        stop = start + int(rng.integers(low, high))
        yield X[start:stop]
        start = stop


def main():
    rng = np.random.default_rng(0)
    X, _ = load_digits(return_X_y=True)

    streamed, streamed_minmax = ZScore(), MinMax()
    for batch in batches(X, rng):
        streamed.partial_fit(batch)
        streamed_minmax.partial_fit(batch)
    whole = ZScore().fit(X)
    print(
        "digits: max |var_ streamed - var_ fit| =",
        float(np.max(np.abs(streamed.var_ - whole.var_))),
    )
    print(
        "digits: MinMax ranges identical:",
        bool(np.array_equal(streamed_minmax.data_range_, MinMax().fit(X).data_range_)),
    )

    # Huge mean, tiny spread: 1e8 + N(0, 1e-3), in 1,000-row batches.
    noise = rng.normal(0.0, 1e-3, size=(100_000, 4))
    X_big = 1e8 + noise
    # Reference: subtracting 1e8 from X_big is exact (Sterbenz), so this is
    # the variance of the data actually stored, to float64 rounding.
    exact_var = (X_big - 1e8).var(axis=0)
    ours, sk = ZScore(), StandardScaler()
    for batch in np.array_split(X_big, 100):
        ours.partial_fit(batch)
        sk.partial_fit(batch)
    rel = lambda v: float(np.max(np.abs(v - exact_var) / exact_var))  # noqa: E731
    print(
        f"1e8 + N(0, 1e-3): relative error of var_  sknorm {rel(ours.var_):.1e}"
        f"   scikit-learn {rel(sk.var_):.1e}"
    )
    return ours


if __name__ == "__main__":
    main()
