"""Figures of the performance page, drawn from the benchmarks' JSON.

Every ``*.json`` in ``docs/_data/benchmarks/`` is a run of
``python benchmarks/run.py --json FILE`` (the rows, the machine and the
configuration, see that script).  Nothing here measures anything: the
figures show the committed numbers, and each names the machine, the
versions, the date and the array shape of its run.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt

RUNS = Path(__file__).resolve().parents[1] / "_data" / "benchmarks"
DTYPES = ("float64", "float32")
COLOURS = {
    "scalers": "tab:blue",
    "minibatch": "tab:orange",
    "whitening": "tab:green",
    "dask": "tab:purple",
    "quantiles": "tab:brown",
}


def runs():
    """(name, payload) of every committed run, sorted by file name."""
    return [(p.stem, json.loads(p.read_text())) for p in sorted(RUNS.glob("*.json"))]


def describe(payload):
    """One line naming the machine, the versions and the run."""
    m, c = payload["machine"], payload["config"]
    device = m.get("gpu") or f"{m['cpu']} ({m['cpu_count']} CPUs)"
    versions = ", ".join(
        f"{name} {m[key]}"
        for name, key in (
            ("sknorm", "sknorm"),
            ("Python", "python"),
            ("NumPy", "numpy"),
            ("scikit-learn", "scikit-learn"),
            ("numba", "numba"),
            ("CuPy", "cupy"),
            ("torch", "torch"),
        )
        if key in m
    )
    when = f", {m['date']}" if "date" in m else ""
    if "load_average" in m:
        when += f", load average {m['load_average'][0]} at the start"
    return (
        f"{device}; X {c['n_samples']:,} x {c['n_features']}, median of "
        f"{c['repeat']}{when}\n{versions}"
    )


def _grouped(payload, keep):
    """The operations that ``keep`` accepts, in the run's order, with their
    row per dtype (an operation may lack a dtype)."""
    names, by_key = [], {}
    for r in payload["rows"]:
        if r.get("error") or not keep(r):
            continue
        if r["operation"] not in names:
            names.append(r["operation"])
        by_key[r["operation"], r["dtype"]] = r
    return names, by_key


def _grouped_barh(payload, keep, value, xlabel, title, colour=None):
    """One horizontal bar per operation and dtype; returns (fig, ax, rows)
    with rows the (y, row) pairs drawn."""
    names, by_key = _grouped(payload, keep)
    if not names:
        return None, None, []
    height = 0.7 + 0.26 * len(names)
    fig, ax = plt.subplots(figsize=(9.0, height), layout="constrained")
    drawn = []
    for k, (dtype, shade) in enumerate(zip(DTYPES, (1.0, 0.55), strict=True)):
        ys, xs, colours = [], [], []
        for i, name in enumerate(names):
            row = by_key.get((name, dtype))
            if row is None:
                continue
            y = len(names) - 1 - i + (0.2 if k == 0 else -0.2)
            ys.append(y)
            xs.append(value(row))
            base = colour(row) if colour else COLOURS.get(row["family"], "grey")
            colours.append(base)
            drawn.append((y, row))
        ax.barh(ys, xs, height=0.38, color=colours, alpha=shade, label=dtype)
    labels = []
    for name in names:
        row = next(by_key[name, d] for d in DTYPES if (name, d) in by_key)
        labels.append(
            f"{name}  (vs {row['reference']})"
            if row.get("reference") and "speedup" in xlabel
            else name
        )
    ax.set_yticks(range(len(names))[::-1], labels, fontsize=7)
    ax.set_ylim(-0.6, len(names) - 0.4)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    ax.set_title(title, fontsize=9)
    ax.legend(
        fontsize=7, loc="lower right", title="upper bar / lower bar", title_fontsize=7
    )
    fig.suptitle(describe(payload), fontsize=8)
    return fig, ax, drawn


def speedups(payload):
    """sknorm's speedup over the reference timed in the same run
    (scikit-learn, torch, dask-ml), float64 and float32, log axis."""
    fig, ax, drawn = _grouped_barh(
        payload,
        lambda r: r.get("speedup"),
        lambda r: r["speedup"],
        "speedup over the reference: reference time / sknorm time (log scale)",
        "sknorm against the reference library, same data, same run",
    )
    if fig is None:
        return None
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", lw=0.8)
    for y, r in drawn:
        ax.text(r["speedup"], y, f" {r['speedup']:.1f}x", va="center", fontsize=6)
    ax.set_xlim(right=max(r["speedup"] for _, r in drawn) * 3)
    return fig


def floor_ratios(payload):
    """Time over the memory floor of the same run (one read, one copy, the
    Gram matrix ...) for the rows that have a target, the target marked."""
    fig, ax, drawn = _grouped_barh(
        payload,
        lambda r: r.get("target") is not None and r.get("ratio") is not None,
        lambda r: r["ratio"],
        "sknorm time / floor (green: target met, red: missed; | the target)",
        "sknorm against the memory floor of the same run",
        colour=lambda r: "tab:green" if r["ok"] else "tab:red",
    )
    if fig is None:
        return None
    ax.scatter(
        [r["target"] for _, r in drawn],
        [y for y, _ in drawn],
        marker="|",
        s=60,
        color="black",
        zorder=3,
    )
    for y, r in drawn:
        ax.text(
            r["ratio"], y, f" {r['ratio']:.2f}x {r['floor']}", va="center", fontsize=6
        )
    top = max(max(r["ratio"], r["target"]) for _, r in drawn)
    ax.set_xlim(0, top * 1.5)
    return fig


def draw_all():
    """The two figures of every committed run."""
    found = runs()
    if not found:
        raise FileNotFoundError(f"no benchmark JSON in {RUNS}")
    return [
        fig
        for _, payload in found
        for fig in (speedups(payload), floor_ratios(payload))
    ]
