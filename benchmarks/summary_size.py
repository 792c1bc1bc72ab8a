"""What a quantile summary weighs after n rows (``Robust``, ``Quantile``).

Usage::

    python benchmarks/summary_size.py          # 1e6, 1e7 measured; 1e8, 1e10 simulated
    python benchmarks/summary_size.py --quick  # 1e5, 1e6 measured; 1e7 simulated

Two kinds of rows, printed in one table:

* **measured**: random data (standard Cauchy, ``--features`` features)
  streamed through :func:`sknorm._quantile_summary.update_summary` in
  batches of 10,000 and of 1,000,000 rows, as ``partial_fit`` streams it;
  the items per feature, the pickled size of the summary divided by the
  number of features, and the certified rank error ``E / W``;
* **schedule**: the same stream with only the block sizes simulated.  The
  summary's schedule (when exact items are compacted, which blocks merge,
  how many slots a compaction keeps) depends on host integers only: block
  sizes and levels (see :mod:`sknorm._quantile_summary`).  The simulation
  below repeats those decisions on ``(level, size)`` pairs, so it gives the
  blocks of any number of rows without the data; where both are computed
  the script checks that the simulated blocks are the measured ones.  The
  pickled size of a simulated row is extrapolated at 16 bytes per item (a
  float64 value and a float64 weight) plus the per-feature overhead
  measured on the largest measured summary.

The simulation assumes that no compaction is redone with more slots, which
on the CPU happens only when it would exceed the rank-error budget
(features with very unequal NaN counts or weights); unweighted data
without NaN never does.
"""

from __future__ import annotations

import argparse
import math
import pickle
import sys
import time

import numpy as np

from sknorm._quantile_summary import slots_for, summary_rank_error, update_summary

ITEM_BYTES = 16  # a float64 value and a float64 weight per item


# ---------------------------------------------------------------- schedule ---
def _height(items):
    return max([1, *(level for level, _ in items)])


def _compacted_size(size, slots):
    # _Blocks.compacted: a block that fits is kept exactly.
    return slots if slots < size else size


def _settled(items, rank_error):
    """``_Blocks.settle`` on ``[level, size]`` pairs (host integers only);
    the blocks in the order ``_Blocks.summary`` lays them out."""
    items = [list(b) for b in items]
    raw = [i for i, (level, _) in enumerate(items) if level == 0]
    raw_items = sum(items[i][1] for i in raw)
    slots = slots_for(rank_error, _height(items))
    if raw_items > 2 * slots:
        level = max(1, round(math.log2(raw_items / slots)))
        items = [b for i, b in enumerate(items) if i not in raw]
        items.append([level, _compacted_size(raw_items, slots)])
    while True:
        levels = [level for level, _ in items if level > 0]
        repeated = sorted({h for h in levels if levels.count(h) > 1})
        if not repeated:
            break
        h = repeated[0]
        pair = [i for i, (level, _) in enumerate(items) if level == h][:2]
        size = sum(items[i][1] for i in pair)
        items = [b for i, b in enumerate(items) if i not in pair]
        slots = slots_for(rank_error, max(_height(items), h + 1))
        items.append([h + 1, _compacted_size(size, slots)])
    return sorted(items, key=lambda b: -b[0])


def simulated_blocks(n_rows, batch, rank_error):
    """The ``(size, level)`` blocks of a summary of ``n_rows`` rows streamed
    in batches of ``batch`` rows (the last one shorter), and the most items
    it held after any batch."""
    state = None
    done = peak = 0
    while done < n_rows:
        rows = min(batch, n_rows - done)
        block = _settled([[0, rows]], rank_error)  # summary_of_block
        state = block if state is None else _settled(state + block, rank_error)
        peak = max(peak, sum(size for _, size in state))
        done += rows
    return tuple((size, level) for level, size in state), peak


# ---------------------------------------------------------------- measured ---
def _blocks_of(summary):
    """``(size, level)`` of each block, highest level first (the summary
    keeps its blocks as a tuple of arrays with their ``levels``; earlier
    versions kept one array with ``blocks`` of ``(size, level)``)."""
    if hasattr(summary, "levels"):
        sizes = (v.shape[1] for v in summary.values)
        return tuple(zip(sizes, summary.levels, strict=True))
    return tuple(summary.blocks)


def measured(n_rows, batch, n_features, rank_error, seed=0):
    rng = np.random.default_rng(seed)
    state = None
    done = peak = 0
    start = time.perf_counter()
    while done < n_rows:
        rows = min(batch, n_rows - done)
        X = rng.standard_cauchy((rows, n_features))
        state = update_summary(state, X, None, np.float64, rank_error, True)
        peak = max(peak, sum(size for size, _ in _blocks_of(state)))
        done += rows
    seconds = time.perf_counter() - start
    blocks = _blocks_of(state)
    return {
        "blocks": blocks,
        "items": sum(size for size, _ in blocks),
        "peak": peak,
        "bytes_per_feature": len(pickle.dumps(state)) / n_features,
        "rank_error": summary_rank_error(state),
        "seconds": seconds,
    }


def _human(n_bytes):
    for unit in ("B", "KB", "MB", "GB"):
        if n_bytes < 1000 or unit == "GB":
            return f"{n_bytes:,.0f} {unit}" if unit == "B" else f"{n_bytes:,.1f} {unit}"
        n_bytes /= 1000
    return None  # unreachable


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    p.add_argument("--rank-error", type=float, default=1e-3)
    p.add_argument("--features", type=int, default=4)
    args = p.parse_args(argv)
    eps = args.rank_error
    if args.quick:
        measure_rows, simulate_rows = (10**5, 10**6), (10**7,)
    else:
        measure_rows, simulate_rows = (10**6, 10**7), (10**8, 10**10)
    batches = (10_000, 1_000_000)

    print(
        f"rank_error = {eps:g}, {args.features} features, standard Cauchy data; "
        f"slots per block: {slots_for(eps, 1)} at height 1, "
        f"{slots_for(eps, 20)} at height 20"
    )
    header = (
        f"{'rows':>8} {'batch':>10} {'how':>9} {'items/feature':>14} "
        f"{'pickled/feature':>16} {'E/W':>9} {'levels':>7} {'peak items':>11}"
    )
    print(header)
    print("-" * len(header))
    surprises = 0
    overhead = None
    for n in measure_rows:
        for batch in batches:
            if batch > n:
                continue
            m = measured(n, batch, args.features, eps)
            blocks, peak = simulated_blocks(n, batch, eps)
            if blocks != tuple(m["blocks"]) or peak != m["peak"]:
                surprises += 1
                print(f"  simulated blocks {blocks} != measured {m['blocks']}")
            overhead = m["bytes_per_feature"] - ITEM_BYTES * m["items"]
            levels = max(level for _, level in m["blocks"])
            print(
                f"{n:>8.0e} {batch:>10,} {'measured':>9} {m['items']:>14,} "
                f"{_human(m['bytes_per_feature']):>16} {m['rank_error']:>9.2e} "
                f"{levels:>7} {m['peak']:>11,}"
            )
    for n in simulate_rows:
        for batch in batches:
            if n // batch > 10**6:
                continue  # a million simulated batches at most (seconds)
            blocks, peak = simulated_blocks(n, batch, eps)
            items = sum(size for size, _ in blocks)
            levels = max(level for _, level in blocks)
            size = ITEM_BYTES * items + overhead
            print(
                f"{n:>8.0e} {batch:>10,} {'schedule':>9} {items:>14,} "
                f"{'~' + _human(size):>16} {'':>9} {levels:>7} {peak:>11,}"
            )
    print(
        "measured: update_summary on the data; schedule: the block sizes "
        "simulated, pickled size at 16 bytes per item plus the measured "
        "overhead (E/W is not simulated: it is counted from the data); "
        "peak items: the most items held after any batch of the stream"
    )
    if surprises:
        print(f"{surprises} simulated schedule(s) differ from the measured one")
    return 1 if surprises else 0


if __name__ == "__main__":
    sys.exit(main())
