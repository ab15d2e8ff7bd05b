"""The benchmarks' shared harness: environment, statistics, timing, targets, result files.

A scenario module holds only its scenario; everything here serves all of them:

* the environment a result records (`machine`, `packages` with the commit and
  `sources_sha256`, a digest of the SDK's sources as they were);
* statistics (`summarize`, `paired_ratio`) and `interleaved`, the round order that lets a
  slow spell on a shared machine hit every contender alike;
* timing (`calibrate`, `time_loops`) and `time_workers`, which times named calls in one
  persistent worker process per contender (the child side is `serve_timings`);
* memory (`held_bytes`), CPU and resident-set readings (`cpu_seconds`, `rss_kb`);
* the result document (`make_result`) with its `target`, `table` and `grid` parts, which
  `benchmarks._render` draws without scenario-specific code;
* `scenario_main`, the ``python -m benchmarks.<scenario> [--quick | --worker ARGS]`` entry.

pyperf would time the loops, but not interleave contenders living in separate processes
round by round, nor produce the tables and targets the page shows; the statistics are a
median and a range. Imports: the standard library and `benchmarks._procs`.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import gc
import hashlib
import importlib.metadata
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import tomllib
import tracemalloc
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from benchmarks._procs import ROOT, Json, Worker, serve

RESULTS_DIR = ROOT / "benchmarks" / "results"
FIXTURES = ROOT / "tests" / "fixtures"

#: Keys every scenario result carries; ``tests/test_benchmarks.py`` checks them.
RESULT_KEYS = (
    *("scenario", "title", "description", "timestamp", "machine", "python", "packages"),
    *("parameters", "results", "ratios", "targets", "tables", "chart", "notes"),
)
#: Runtime dependencies of asyncsdk, then the peers and tools the benchmarks use.
PACKAGES = ("msgspec", "aiohttp", "tenacity", "orjson", "pydantic", "pydantic-core", "httpx")
TOOLS = ("matplotlib",)

K = TypeVar("K")
T = TypeVar("T")


# --- the environment ---------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> Json:
    """Describe the machine: CPU model, cores, OS and the load when the run started."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "arch": platform.machine(),
        "os": platform.platform(),
        "load_average_1_5_15_min": [round(x, 2) for x in load] if load else None,
    }


def packages() -> Json:
    """Return the versions of asyncsdk (and its commit), its dependencies, peers and tools."""
    try:
        version = importlib.metadata.version("asyncsdk")
    except importlib.metadata.PackageNotFoundError:
        with (ROOT / "pyproject.toml").open("rb") as f:
            version = str(tomllib.load(f)["project"]["version"]) + " (source tree)"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    found: Json = {
        "asyncsdk": version,
        "asyncsdk_commit": commit or None,
        "asyncsdk_sources_sha256": sources_sha256(),
    }
    for name in PACKAGES + TOOLS:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def sources_sha256() -> str:
    """One digest of every asyncsdk source file: what an uncommitted tree held, moves included."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "asyncsdk").rglob("*.py")):
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


# --- statistics ----------------------------------------------------------------------------


def summarize(samples: Sequence[float], *, digits: int = 4) -> Json:
    """Return the median, min, max and count of ``samples`` (and the samples, rounded)."""
    if not samples:
        raise ValueError("summarize() needs at least one sample")

    def r(x: float) -> float:
        return float(f"{x:.{digits}g}")

    return {
        "median": r(statistics.median(samples)),
        "min": r(min(samples)),
        "max": r(max(samples)),
        "n": len(samples),
        "samples": [r(x) for x in samples],
    }


def paired_ratio(numerator: Sequence[float], denominator: Sequence[float]) -> Json:
    """Summarize per-round ratios ``numerator[i] / denominator[i]``.

    Pairing the samples of one round cancels slow drift in machine speed, which matters on a
    shared machine more than the spread within a round.
    """
    if len(numerator) != len(denominator):
        raise ValueError("paired_ratio() needs samples from the same rounds")
    return summarize([a / b for a, b in zip(numerator, denominator, strict=True)], digits=3)


def by_contender(labels: Mapping[str, str], samples: Mapping[str, Mapping[str, Any]]) -> Json:
    """Per contender: its label and the `summarize` of each metric's samples (metric -> key)."""
    return {
        key: {"label": label, **{metric: summarize(s[key]) for metric, s in samples.items()}}
        for key, label in labels.items()
    }


def interleaved(keys: Iterable[K], rounds: int) -> Iterator[list[K]]:
    """Yield each round's order: A B C, then B C A, then C A B, ..."""
    keys = list(keys)
    for r in range(rounds):
        yield keys[r % len(keys) :] + keys[: r % len(keys)]


# --- timing, memory, CPU -------------------------------------------------------------------


def time_loops(fn: Callable[[], object], loops: int) -> float:
    """Return the seconds ``loops`` calls of ``fn`` take (the garbage collector stays on)."""
    start = time.perf_counter()
    for _ in range(loops):
        fn()
    return time.perf_counter() - start


def calibrate(fn: Callable[[], object], seconds: float) -> int:
    """Return how many calls of ``fn`` take about ``seconds`` (after one warm-up call)."""
    fn()
    loops = 1
    while True:
        elapsed = time_loops(fn, loops)
        if elapsed >= seconds / 5 or loops >= 1 << 24:
            return max(1, math.ceil(loops * seconds / max(elapsed, 1e-9)))
        loops *= 2


def serve_timings(calls: Mapping[str, Callable[[], object]], hello: Json | None = None) -> None:
    """Answer `time_workers` in a worker: ``hello``, then calibrate and time one case at a time."""

    def handle(msg: Json) -> Json:
        if msg["op"] == "hello":
            return hello or {}
        if msg["op"] == "calibrate":
            return {"loops": calibrate(calls[msg["case"]], msg["seconds"])}
        return {"seconds": time_loops(calls[msg["case"]], msg["loops"])}

    serve(handle)


@dataclasses.dataclass(frozen=True)
class Timings:
    """What `time_workers` measured.

    Attributes:
        hello: Each contender's hello (what its worker says it built).
        loops: Calls per sample, by contender and case.
        seconds: Seconds per call, by case and contender, one sample per round.
    """

    hello: dict[str, Json]
    loops: dict[str, dict[str, int]]
    seconds: dict[str, dict[str, list[float]]]


def time_workers(
    module: str, keys: Sequence[str], cases: Sequence[str], *, rounds: int, seconds: float
) -> Timings:
    """Time each case in one worker per contender (``module --worker KEY``), interleaved.

    Each sample is calibrated to about ``seconds``; each round runs every case, each case
    every contender, in the order `interleaved` gives. Workers must build the same inputs:
    their hellos' ``inputs`` (digests) must agree.
    """
    workers = {key: Worker(module, [key]) for key in keys}
    try:
        hello = {key: w.request({"op": "hello"}) for key, w in workers.items()}
        if len({json.dumps(h.get("inputs"), sort_keys=True) for h in hello.values()}) != 1:
            raise RuntimeError("workers built different inputs; the generator is not deterministic")
        loops = {
            key: {
                c: w.request({"op": "calibrate", "case": c, "seconds": seconds})["loops"]
                for c in cases
            }
            for key, w in workers.items()
        }
        found: dict[str, dict[str, list[float]]] = {c: {k: [] for k in keys} for c in cases}
        for order in interleaved(keys, rounds):
            for case in cases:
                for key in order:
                    n = loops[key][case]
                    took = workers[key].request({"op": "time", "case": case, "loops": n})
                    found[case][key].append(took["seconds"] / n)
    finally:
        for w in workers.values():
            w.close()
    return Timings(hello, loops, found)


def held_bytes(build: Callable[[], T]) -> tuple[T, int, int]:
    """Call ``build`` under tracemalloc; return its result, bytes still held, peak bytes.

    Garbage is collected before and after, so only what the result keeps alive counts.
    """
    gc.collect()
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    result = build()
    gc.collect()
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, held - before, peak - before


def cpu_seconds() -> float:
    """This process's CPU time, user + system, every thread (``getrusage``)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _status_kb(field: bytes) -> int | None:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``), or None without it."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(field + b":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def maxrss_kb() -> int:
    """This process's own resident-set high-water mark, kB.

    ``VmHWM``, not ``ru_maxrss``: Linux carries ``ru_maxrss`` across ``exec``, so a
    child of a runner that had grown (an earlier scenario in the same
    ``benchmarks.run``) reported the runner's peak. ``VmHWM`` belongs to the process's
    own address space, new at ``exec``; ``ru_maxrss`` only where /proc is missing.
    """
    own = _status_kb(b"VmHWM")
    return own if own is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def rss_kb() -> int:
    """The current resident set in kB (``VmRSS``; the high-water mark if /proc is missing)."""
    current = _status_kb(b"VmRSS")
    return current if current is not None else maxrss_kb()


# --- the result document -----------------------------------------------------------------


def target(name: str, value: float, op: str, threshold: float, basis: str) -> Json:
    """Evaluate a reported target (never asserted): ``value op threshold``."""
    if op not in (">=", "<="):
        raise ValueError(f"op must be '>=' or '<=', not {op!r}")
    met = value >= threshold if op == ">=" else value <= threshold
    return {
        "name": name,
        "value": round(value, 3),
        "op": op,
        "threshold": threshold,
        "met": met,
        "basis": basis,
    }


def fmt(x: float, *, digits: int = 3) -> str:
    """Format a number for a table: ``digits`` significant digits, thousands separators."""
    if abs(x) >= 10 ** (digits - 1):
        return f"{float(f'{x:.{digits}g}'):,.0f}"
    return f"{x:.{digits}g}"


def fmt_range(summary: Json, *, digits: int = 3) -> str:
    """Format a `summarize` result as ``median (min-max)``."""
    return (
        f"{fmt(summary['median'], digits=digits)} "
        f"({fmt(summary['min'], digits=digits)}-{fmt(summary['max'], digits=digits)})"
    )


def fmt_ratio(summary: Json) -> str:
    """Format a `paired_ratio` result as ``medianx (min-max)`` with two decimals."""
    return f"{summary['median']:.2f}x ({summary['min']:.2f}-{summary['max']:.2f})"


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[str]]) -> Json:
    """A render-ready table: a title, column headings, rows of string cells."""
    return {"title": title, "columns": list(columns), "rows": [list(row) for row in rows]}


def ratio_table(
    title: str, ratios: Mapping[str, Json], names: Mapping[str, str] | None = None
) -> Json:
    """A `table` of `paired_ratio` results: those ``names`` names, in its order, else all."""
    names = names or {key: key for key in ratios}
    rows = ([name, fmt_ratio(ratios[key])] for key, name in names.items())
    return table(title, ["ratio", "value"], rows)


def grid(
    title: str,
    corner: str,
    rows: Mapping[str, str],
    columns: Mapping[str, str],
    cell: Callable[[str, str], str],
) -> Json:
    """A `table` of ``cell(row, column)``: rows and columns given as key -> label."""
    return table(
        title,
        [corner, *columns.values()],
        ([label, *(cell(r, c) for c in columns)] for r, label in rows.items()),
    )


def make_result(
    *,
    scenario: str,
    title: str,
    description: str,
    parameters: Json,
    results: Json,
    ratios: Json | None = None,
    targets: Sequence[Json] = (),
    tables: Sequence[Json] = (),
    chart: Json | None = None,
    notes: Sequence[str] = (),
    **extra: Any,
) -> Json:
    """Wrap a scenario's measurements with the machine, Python and package versions.

    ``tables`` are `table` documents. ``chart`` is ``{"title", "xlabel", "groups": {group:
    {bar: {"median", "min", "max"}}}}`` or None. ``extra`` keys (``line_charts``: see
    `benchmarks._render.render_line_charts`) go in as they are.
    """
    return {
        "scenario": scenario,
        "title": title,
        "description": description,
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "compiler": platform.python_compiler(),
        },
        "packages": packages(),
        "parameters": parameters,
        "results": results,
        "ratios": ratios or {},
        "targets": list(targets),
        "tables": list(tables),
        "chart": chart,
        "notes": list(notes),
        **extra,
    }


def write_json(path: Path, data: Json) -> None:
    """Write ``data`` as indented JSON, atomically (a ``.tmp`` file renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    tmp.replace(path)


def scenario_main(
    run: Callable[..., Json], worker: Callable[[list[str]], object] | None = None
) -> None:
    """Entry point of ``python -m benchmarks.<scenario>``.

    ``--worker ARGS`` runs the scenario's child side (``worker(ARGS)``: see
    `benchmarks._procs`); otherwise it runs the scenario (``--quick``: a smoke run) and
    prints the result as JSON.
    """
    argv = sys.argv[1:]
    if argv[:1] == ["--worker"] and worker is not None:
        worker(argv[1:])
        return
    parser = argparse.ArgumentParser(description=(run.__module__ or "").rsplit(".", 1)[-1])
    parser.add_argument("--quick", action="store_true", help="few, short rounds (a smoke run)")
    ns = parser.parse_args(argv)
    print(json.dumps(run(quick=ns.quick), indent=2, ensure_ascii=False))
