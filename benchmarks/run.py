"""Benchmark sknorm against scikit-learn and against the memory floor.

Usage::

    python benchmarks/run.py                      # NumPy, 1,000,000 x 64, both dtypes
    python benchmarks/run.py --backend cupy       # GPU, 10,000,000 x 64
    python benchmarks/run.py --dtype float32 --n-samples 200000
    python benchmarks/run.py --quick              # smoke run (seconds)
    python benchmarks/run.py --only scalers       # only bench_scalers.py

Every ``benchmarks/bench_<family>.py`` module is discovered and its
``run(ctx)`` called once per dtype; it yields result rows, each made by
``ctx.measure``.  A module that raises prints its error as a row and the run
goes on.  The table gives, per operation, sknorm's time, the reference
(scikit-learn, torch, ...) timed in the same run, the speedup over the
reference, the ratio to a memory floor (``read`` = ``ones @ X``, ``copy`` =
``X.copy()``, ``gram`` = ``X.T @ X``) and, where asked, the peak extra memory
(tracemalloc on NumPy, the CuPy memory pool on the GPU).  The JSON file holds
the same rows and the machine they ran on.

The interface a benchmark module sees (``ctx``):

``ctx.xp``, ``ctx.backend``, ``ctx.dtype``
    the Array API namespace (``numpy`` or ``cupy``), its name, and
    ``"float64"`` or ``"float32"``;
``ctx.X``, ``ctx.X_numpy``
    the (n_samples, n_features) C-ordered data on the device, and as NumPy;
``ctx.sync()``
    block until the device is idle (no-op on the CPU);
``ctx.measure(name, fn, *, reference=None, floor="read", memory=False, repeat=None)``
    time ``fn()`` (median of ``repeat`` synchronised runs after one warm-up),
    time ``reference=(label, callable)`` the same way, compute the ratio to
    ``floor`` (a name above, a callable, a ``(label, callable)`` pair, or
    None) and, with ``memory=True``, the peak extra memory of one more call;
    returns the row (a dict).  Optional extras: ``target`` (the ratio the
    issue asks for, printed as ok/MISS), ``also`` (a second floor, a
    ``(label, callable)`` pair timed in the same rounds; its ratio goes into
    the row as ``also_ratio`` and is printed after the row), ``data`` (the
    array the named floor is timed on, default ``ctx.X``) and ``note``;
``ctx.torch_ref(torch, label, fn)``
    a torch reference run under ``torch.no_grad()`` (None without torch);
``ctx.single_threaded(fn)``
    ``fn`` run with sknorm's kernels and BLAS on the calling thread only;
``ctx.stream_floors(name, fit)``
    the ``measure`` keywords of a stream of small ``partial_fit`` batches:
    on the CPU the floor is ``fit`` single-threaded (small batches run on
    one core; target 1.2x) and ``also`` the threaded ``fit``; on a GPU the
    floor is ``fit`` (no target: each call costs its launches);
``ctx.measure_per_call(name, stream, n_calls, *, reference, assume_finite, note)``
    ``measure`` of a stream of calls, reported per call (optionally under
    scikit-learn's ``assume_finite``);
``ctx.make_data(n_samples, n_features)``
    ``(X_backend, X_numpy)``, same distribution as ``ctx.X``;
``ctx.quick``
    True for the smoke run (tiny sizes, two repeats);
``ctx.array_api_dispatch()``
    a context manager for scikit-learn references: scikit-learn's Array API
    dispatch on for device arrays, a no-op on NumPy.
"""

from __future__ import annotations

import os

# scikit-learn's Array API dispatch (the CuPy references) needs this set
# before SciPy is first imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import argparse
import contextlib
import importlib.util
import json
import platform
import statistics
import sys
import time
import traceback
import tracemalloc
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

DEFAULT_SAMPLES = {"numpy": 1_000_000, "cupy": 10_000_000}
DEFAULT_REPEAT = {"numpy": 5, "cupy": 10}
QUICK_SHAPE = (2_000, 8)


# ------------------------------------------------------------- backends ----
class _NumpyDevice:
    name = "numpy"

    def __init__(self):
        self.xp = np

    def sync(self):
        pass

    def to_device(self, a):
        return a

    def to_numpy(self, a):
        return a

    def copy(self, X):
        return X.copy()

    def describe(self):
        return _cpu_model()

    @contextlib.contextmanager
    def track_memory(self):
        """Peak bytes allocated above the level at entry (tracemalloc)."""
        result = {}
        tracemalloc.start()
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        try:
            yield result
        finally:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            result["peak"] = max(0, peak - base)


class _CupyDevice:
    name = "cupy"

    def __init__(self):
        import array_api_compat.cupy as xp  # only when the GPU is asked for
        import cupy

        self.cupy = cupy
        # The Array API namespace (astype, asarray(copy=...), ... on any CuPy
        # version); its functions take and return plain CuPy arrays.
        self.xp = xp

    def sync(self):
        self.cupy.cuda.get_current_stream().synchronize()
        self.cupy.cuda.Device().synchronize()

    def to_device(self, a):
        return self.cupy.asarray(a)

    def to_numpy(self, a):
        return self.cupy.asnumpy(a)

    def copy(self, X):
        return X.copy()

    def describe(self):
        props = self.cupy.cuda.runtime.getDeviceProperties(self.cupy.cuda.Device().id)
        name = props["name"]
        return name.decode() if isinstance(name, bytes) else str(name)

    @contextlib.contextmanager
    def track_memory(self):
        """Peak bytes handed out by CuPy's memory pool above the entry level."""
        cupy = self.cupy
        result = {}

        class _Peak(cupy.cuda.MemoryHook):
            name = "sknorm-bench-peak"

            def __init__(self):
                self.current = 0
                self.peak = 0

            def malloc_postprocess(self, **kw):
                self.current += kw["mem_size"]
                self.peak = max(self.peak, self.current)

            def free_postprocess(self, **kw):
                self.current -= kw["mem_size"]

        hook = _Peak()
        self.sync()
        try:
            with hook:
                yield result
                self.sync()
        finally:
            result["peak"] = hook.peak


def _cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:  # pragma: no cover - non-Linux
        pass
    return platform.processor() or platform.machine()


# -------------------------------------------------------------- context ----
class Context:
    """What one benchmark module sees for one backend and one dtype."""

    def __init__(self, device, dtype, n_samples, n_features, *, quick, repeat, seed):
        self._device = device
        self.xp = device.xp
        self.backend = device.name
        self.dtype = dtype
        self.quick = quick
        self.repeat = repeat
        self._seed = seed
        self.X, self._X_numpy = self.make_data(n_samples, n_features)
        self.family = None

    # ----------------------------------------------------------- data ----
    @property
    def X_numpy(self):
        if self._X_numpy is None:
            self._X_numpy = self._device.to_numpy(self.X)
        return self._X_numpy

    def make_data(self, n_samples, n_features):
        """``(X_backend, X_numpy)``: features with different means and scales.

        The means are large compared with the spreads (as in real data, and
        where naive variance formulas lose digits).
        """
        rng = np.random.default_rng(self._seed)
        loc = rng.uniform(-100.0, 100.0, n_features)
        scale = rng.uniform(0.5, 5.0, n_features)
        if self.backend == "cupy":
            cp = self._device.cupy
            g = cp.random.default_rng(self._seed)
            X = g.standard_normal((n_samples, n_features), dtype=cp.float64)
            X *= cp.asarray(scale)
            X += cp.asarray(loc)
            X = cp.ascontiguousarray(X.astype(self.dtype))
            return X, None  # NumPy copy made on first use of X_numpy
        X = rng.standard_normal((n_samples, n_features))
        X *= scale
        X += loc
        X = np.ascontiguousarray(X, dtype=self.dtype)
        return X, X

    def sync(self):
        self._device.sync()

    def stream_floors(self, name, fit):
        """:meth:`measure` keywords of a stream of small batches (see the
        module docstring)."""
        if self.backend != "numpy":
            return {"floor": (f"{name}.fit", fit)}
        from sknorm._kernels._parallel import num_threads

        return {
            "floor": (f"{name}.fit, 1 thread", self.single_threaded(fit)),
            "also": (f"fit, {num_threads()} threads", fit),
            "target": 1.2,
        }

    @staticmethod
    def torch_ref(torch, label, fn):
        """A reference ``(label, callable)`` that runs ``fn`` under
        ``torch.no_grad()``, or None without torch."""
        if torch is None:
            return None

        def call():
            with torch.no_grad():
                return fn()

        return (label, call)

    def single_threaded(self, fn):
        """``fn`` with sknorm's kernels (:func:`sknorm._kernels._parallel.serial`)
        and BLAS (threadpoolctl) on the calling thread only."""
        from threadpoolctl import ThreadpoolController

        from sknorm._kernels._parallel import serial

        # One controller: finding the BLAS libraries costs milliseconds,
        # setting their thread counts microseconds.
        controller = ThreadpoolController()

        def run():
            with serial(), controller.limit(limits=1):
                return fn()

        return run

    def array_api_dispatch(self):
        """scikit-learn's Array API dispatch for device references."""
        if self.backend == "numpy":
            return contextlib.nullcontext()
        import sklearn

        return sklearn.config_context(array_api_dispatch=True)

    def measure_per_call(
        self, name, stream, n_calls, *, reference=None, assume_finite=False, note=None
    ):
        """:meth:`measure` of ``stream`` (``n_calls`` calls, and its
        reference likewise), reported per call.  ``assume_finite`` runs the
        stream under scikit-learn's ``assume_finite``: no value checks, so
        nothing is read back from a device."""
        run = stream
        if assume_finite:
            import sklearn

            def run():
                with sklearn.config_context(assume_finite=True):
                    stream()

        mode = ", assume_finite" if assume_finite else ""
        row = self.measure(
            f"{name} (per call{mode})", run, reference=reference, floor=None, note=note
        )
        for key in ("seconds", "reference_seconds"):
            if row[key] is not None:
                row[key] /= n_calls
        return row

    # --------------------------------------------------------- timing ----
    def _time(self, fns, repeat):
        """Median seconds of each callable in ``fns`` (None entries skipped).

        The callables are interleaved, one call of each per round, so that a
        change in the machine's load (other processes on a shared machine)
        hits the operation, its reference and its floor alike: the ratios
        stay meaningful even when the absolute times move.
        """
        live = [fn for fn in fns if fn is not None]
        for fn in live:
            fn()  # warm-up: allocator, caches, compiled kernels
        self.sync()
        times = {id(fn): [] for fn in live}
        for _ in range(repeat):
            for fn in live:
                t0 = time.perf_counter()
                fn()
                self.sync()
                times[id(fn)].append(time.perf_counter() - t0)
        return [None if fn is None else statistics.median(times[id(fn)]) for fn in fns]

    def _floor_fn(self, floor, data):
        """``(label, callable)`` of a floor: a name, a callable or a pair."""
        if floor is None:
            return None, None
        if isinstance(floor, tuple):
            return floor
        if callable(floor):
            return getattr(floor, "__name__", "custom"), floor
        xp = self.xp
        if floor == "read":
            # N-D data (images) read as (n_samples, everything else).
            matrix = xp.reshape(data, (data.shape[0], -1))
            ones = xp.ones((1, data.shape[0]), dtype=data.dtype)
            return floor, lambda: ones @ matrix
        if floor == "copy":
            return floor, lambda: self._device.copy(data)
        if floor == "gram":
            return floor, lambda: data.T @ data
        raise ValueError(f"unknown floor {floor!r}; use read, copy, gram or a callable")

    def measure(
        self,
        name,
        fn,
        *,
        reference=None,
        floor="read",
        memory=False,
        repeat=None,
        target=None,
        data=None,
        note=None,
        also=None,
    ):
        """Time ``fn`` (and ``reference``, ``floor`` and ``also``); return a
        row."""
        repeat = self.repeat if repeat is None else repeat
        data = self.X if data is None else data
        ref_label, ref_fn = reference if reference is not None else (None, None)
        floor_label, floor_fn = self._floor_fn(floor, data)
        also_label, also_fn = also if also is not None else (None, None)
        seconds, ref_seconds, floor_seconds, also_seconds = self._time(
            [fn, ref_fn, floor_fn, also_fn], repeat
        )
        peak = None
        if memory:
            try:
                with self._device.track_memory() as mem:
                    fn()
                peak = mem["peak"]
            except Exception as exc:
                note = f"{note + '; ' if note else ''}memory: {exc}"
        nbytes = int(data.size) * data.dtype.itemsize
        ratio = seconds / floor_seconds if floor_seconds else None
        return {
            "family": self.family,
            "backend": self.backend,
            "dtype": self.dtype,
            "shape": list(data.shape),
            "operation": name,
            "seconds": seconds,
            "reference": ref_label,
            "reference_seconds": ref_seconds,
            "speedup": ref_seconds / seconds if ref_seconds else None,
            "floor": floor_label,
            "floor_seconds": floor_seconds,
            "ratio": ratio,
            "target": target,
            "ok": None if (target is None or ratio is None) else ratio <= target,
            "also": also_label,
            "also_seconds": also_seconds,
            "also_ratio": seconds / also_seconds if also_seconds else None,
            "peak_bytes": peak,
            "peak_fraction": None if peak is None else peak / nbytes,
            "note": note,
            "error": None,
        }


# ---------------------------------------------------------------- table ----
COLUMNS = [
    ("operation", 48),
    ("sknorm", 10),
    ("reference", 28),
    ("ref", 10),
    ("speedup", 8),
    ("floor", 10),
    ("ratio", 13),
    ("peak extra", 18),
]


def _fmt_time(s):
    if s is None:
        return "-"
    if s >= 1.0:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.1f} ms"
    return f"{s * 1e6:.0f} us"


def _fmt_bytes(b, fraction):
    if b is None:
        return "-"
    size = f"{b / 2**20:.1f} MiB" if b >= 2**20 else f"{b / 2**10:.0f} KiB"
    return f"{size} ({fraction:.1%})"


def format_row(row):
    if row.get("error"):
        return f"{row['operation']:<48} ERROR {row['error']}"
    ratio = "-"
    if row["ratio"] is not None:
        ratio = f"{row['ratio']:.2f}x {row['floor']}"
        if row["ok"] is not None:
            ratio += " ok" if row["ok"] else f" MISS(<={row['target']})"
    cells = [
        row["operation"],
        _fmt_time(row["seconds"]),
        row["reference"] or "-",
        _fmt_time(row["reference_seconds"]),
        "-" if row["speedup"] is None else f"{row['speedup']:.1f}x",
        _fmt_time(row["floor_seconds"]),
        ratio,
        _fmt_bytes(row["peak_bytes"], row["peak_fraction"]),
    ]
    line = " ".join(
        f"{str(c)[:w]:<{w}}" if i in (0, 2) else f"{c:>{w}}"
        for i, (c, (_, w)) in enumerate(zip(cells, COLUMNS, strict=True))
    )
    notes = [row["note"]] if row.get("note") else []
    if row.get("also_ratio") is not None:
        notes.insert(0, f"{row['also_ratio']:.2f}x {row['also']}")
    return line + (f"  [{'; '.join(notes)}]" if notes else "")


def _markdown_ratio(r):
    if r["ratio"] is None:
        return "-"
    ratio = f"{r['ratio']:.2f}x"
    if r.get("also_ratio") is not None:
        ratio += f" ({r['also_ratio']:.2f}x {r['also']})"
    return ratio


def markdown_table(rows):
    """The rows as a Markdown table (for docs/performance.md)."""
    lines = [
        "| operation | dtype | sknorm | reference | ref time | speedup "
        "| floor | ratio | target | peak extra |",
        "| --- | --- | ---: | --- | ---: | ---: | --- | ---: | --- | ---: |",
    ]
    for r in rows:
        if r.get("error"):
            lines.append(f"| {r['operation']} | {r['dtype']} | ERROR {r['error']} |")
            continue
        target = "-"
        if r["target"] is not None and r["ok"] is not None:
            target = f"<= {r['target']}: {'ok' if r['ok'] else 'MISS'}"
        floor = "-"
        if r["floor"] is not None:
            floor = f"{r['floor']} {_fmt_time(r['floor_seconds'])}"
        cells = [
            r["operation"],
            r["dtype"],
            _fmt_time(r["seconds"]),
            r["reference"] or "-",
            _fmt_time(r["reference_seconds"]),
            "-" if r["speedup"] is None else f"{r['speedup']:.1f}x",
            floor,
            _markdown_ratio(r),
            target,
            _fmt_bytes(r["peak_bytes"], r["peak_fraction"]),
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def header():
    line = " ".join(
        f"{n:<{w}}" if i in (0, 2) else f"{n:>{w}}" for i, (n, w) in enumerate(COLUMNS)
    )
    return line + "\n" + "-" * len(line)


# ------------------------------------------------------------ discovery ----
def discover(only=None, directory=HERE):
    """``bench_*.py`` modules in ``directory`` (this script's), as
    (family, path)."""
    found = []
    for path in sorted(Path(directory).glob("bench_*.py")):
        family = path.stem[len("bench_") :]
        if only and family not in only:
            continue
        found.append((family, path))
    return found


def _load(family, path):
    spec = importlib.util.spec_from_file_location(f"sknorm_bench_{family}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def error_row(ctx, family, exc):
    return {
        "family": family,
        "backend": ctx.backend,
        "dtype": ctx.dtype,
        "operation": f"{family} (module failed)",
        "error": f"{type(exc).__name__}: {exc}",
    }


def run_family(ctx, family, path, emit):
    """Run one module's rows through ``emit``; an error becomes a row."""
    ctx.family = family
    try:
        module = _load(family, path)
        rows = module.run(ctx)
        for row in rows or ():
            row.setdefault("family", family)
            emit(row)
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        emit(error_row(ctx, family, exc))


# ------------------------------------------------------------------ main ----
def machine(device):
    info = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
    }
    if hasattr(os, "getloadavg"):  # other work on the machine moves the times
        info["load_average"] = [round(x, 1) for x in os.getloadavg()]
    # The versions a reader needs to reproduce a table (the docs' plots
    # print them under each figure); absent libraries are left out.
    for name in ("sknorm", "numba", "torch"):
        try:
            info[name] = importlib.import_module(name).__version__
        except ImportError:
            pass
    try:
        import sklearn

        info["scikit-learn"] = sklearn.__version__
    except ImportError:  # pragma: no cover
        pass
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [
            f"{p.get('internal_api')} {p.get('version')} "
            f"({p.get('num_threads')} threads)"
            for p in threadpool_info()
            if p.get("user_api") == "blas"
        ]
    except ImportError:  # pragma: no cover
        pass
    if device.name == "cupy":
        info["gpu"] = device.describe()
        info["cupy"] = device.cupy.__version__
    return info


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=["numpy", "cupy"], default="numpy")
    p.add_argument("--dtype", choices=["float64", "float32", "both"], default="both")
    p.add_argument("--n-samples", type=int, default=None)
    p.add_argument("--n-features", type=int, default=None)
    p.add_argument("--repeat", type=int, default=None)
    p.add_argument("--quick", action="store_true", help="tiny sizes, two repeats")
    p.add_argument(
        "--only", nargs="*", default=None, help="families (bench_<family>.py) to run"
    )
    p.add_argument(
        "--json",
        default=None,
        help="where to write the rows (default benchmarks/results-<backend>.json)",
    )
    p.add_argument(
        "--markdown",
        action="store_true",
        help="also print the table in Markdown (docs/performance.md)",
    )
    p.add_argument(
        "--from-json",
        default=None,
        help="print the Markdown table of an earlier run's JSON and exit",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--dir", default=str(HERE), help="where to look for bench_*.py modules"
    )
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.from_json:
        payload = json.loads(Path(args.from_json).read_text())
        print(markdown_table(payload["rows"]))
        return 0
    try:
        device = _NumpyDevice() if args.backend == "numpy" else _CupyDevice()
    except ImportError as exc:
        print(f"--backend {args.backend}: {exc}; install CuPy on a GPU machine.")
        return 2
    if args.quick:
        n_samples, n_features = QUICK_SHAPE
        repeat = 2
    else:
        n_samples, n_features = DEFAULT_SAMPLES[args.backend], 64
        repeat = DEFAULT_REPEAT[args.backend]
    n_samples = args.n_samples or n_samples
    n_features = args.n_features or n_features
    repeat = args.repeat or repeat
    dtypes = ["float64", "float32"] if args.dtype == "both" else [args.dtype]
    families = discover(args.only, args.dir)

    info = machine(device)
    print(
        f"sknorm benchmarks: backend={args.backend} ({info.get('gpu', info['cpu'])}, "
        f"{info['cpu_count']} CPUs), X {n_samples:,} x {n_features}, "
        f"median of {repeat}, modules: {', '.join(f for f, _ in families) or 'none'}"
    )
    if "blas" in info:
        print("BLAS:", "; ".join(info["blas"]))
    rows = []

    def emit(row):
        rows.append(row)
        print(format_row(row), flush=True)

    for dtype in dtypes:
        ctx = Context(
            device,
            dtype,
            n_samples,
            n_features,
            quick=args.quick,
            repeat=repeat,
            seed=args.seed,
        )
        nbytes = ctx.X.size * ctx.X.dtype.itemsize
        print(f"\n== {dtype}: X is {nbytes / 2**20:.0f} MiB")
        print(header())
        for family, path in families:
            run_family(ctx, family, path, emit)
        del ctx

    out = Path(args.json) if args.json else HERE / f"results-{args.backend}.json"
    payload = {
        "machine": info,
        "config": {
            "backend": args.backend,
            "n_samples": n_samples,
            "n_features": n_features,
            "repeat": repeat,
            "quick": args.quick,
            "dtypes": dtypes,
        },
        "rows": rows,
    }
    out.write_text(json.dumps(payload, indent=1, default=str))
    if args.markdown:
        print("\n" + markdown_table(rows))
    print(f"\nwrote {out}")
    failed = [r for r in rows if r.get("error")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
