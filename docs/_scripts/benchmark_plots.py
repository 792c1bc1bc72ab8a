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
import numpy as np

RUNS = Path(__file__).resolve().parents[1] / "_data" / "benchmarks"
DTYPES = ("float64", "float32")
COLOURS = {
    "scalers": "tab:blue",
    "minibatch": "tab:orange",
    "whitening": "tab:green",
    "dask": "tab:purple",
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
    return (
        f"{device}; X {c['n_samples']:,} x {c['n_features']}, median of "
        f"{c['repeat']}{when}\n{versions}"
    )


def _rows(payload, dtype, keep):
    return [
        r
        for r in payload["rows"]
        if not r.get("error") and r["dtype"] == dtype and keep(r)
    ]


def _barh(ax, rows, values, colours, xlabel):
    y = np.arange(len(rows))[::-1]
    ax.barh(y, values, color=colours, height=0.7)
    ax.set_yticks(y, [r["operation"] for r in rows], fontsize=7)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    ax.set_ylim(-0.6, len(rows) - 0.4)


def speedups(payload):
    """sknorm's speedup over its reference (scikit-learn, torch, dask-ml),
    one panel per dtype, on a log axis."""
    panels = [
        (dtype, _rows(payload, dtype, lambda r: r.get("speedup"))) for dtype in DTYPES
    ]
    panels = [(d, rows) for d, rows in panels if rows]
    height = 1.2 + 0.17 * max(len(rows) for _, rows in panels)
    fig, axes = plt.subplots(
        1, len(panels), figsize=(11.0, height), squeeze=False, layout="constrained"
    )
    for ax, (dtype, rows) in zip(axes[0], panels, strict=True):
        values = [r["speedup"] for r in rows]
        colours = [COLOURS.get(r["family"], "grey") for r in rows]
        _barh(ax, rows, values, colours, "speedup over the reference (log scale)")
        ax.set_xscale("log")
        ax.axvline(1.0, color="black", lw=0.8)
        ax.set_title(f"{dtype}: reference time / sknorm time", fontsize=9)
        for y, (r, v) in enumerate(zip(rows[::-1], values[::-1], strict=True)):
            ax.text(v, y, f" {v:.1f}x vs {r['reference']}", va="center", fontsize=6)
        ax.set_xlim(right=max(values) * 30)
    fig.suptitle(describe(payload), fontsize=8)
    return fig


def floor_ratios(payload):
    """Time over the memory floor of the same run (one read, one copy, the
    Gram matrix ...) for the rows that have a target, the target marked."""
    panels = [
        (dtype, _rows(payload, dtype, lambda r: r.get("target") is not None))
        for dtype in DTYPES
    ]
    panels = [(d, rows) for d, rows in panels if rows]
    height = 1.2 + 0.17 * max(len(rows) for _, rows in panels)
    fig, axes = plt.subplots(
        1, len(panels), figsize=(11.0, height), squeeze=False, layout="constrained"
    )
    for ax, (dtype, rows) in zip(axes[0], panels, strict=True):
        values = [r["ratio"] for r in rows]
        colours = ["tab:green" if r["ok"] else "tab:red" for r in rows]
        _barh(ax, rows, values, colours, "time / floor (green: target met)")
        y = np.arange(len(rows))[::-1]
        ax.scatter(
            [r["target"] for r in rows],
            y,
            marker="|",
            s=120,
            color="black",
            label="target",
            zorder=3,
        )
        for yy, r in zip(y, rows, strict=True):
            ax.text(
                r["ratio"],
                yy,
                f" {r['ratio']:.2f}x {r['floor']}",
                va="center",
                fontsize=6,
            )
        ax.set_xlim(0, max(max(values), max(r["target"] for r in rows)) * 1.45)
        ax.set_title(f"{dtype}: sknorm time / memory floor", fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(describe(payload), fontsize=8)
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
