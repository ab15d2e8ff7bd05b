"""Shared benchmark plumbing: environment facts, statistics, subprocess workers, result files.

The scenario interface. A scenario is a module under ``benchmarks`` that defines:

* ``NAME: str`` -- the key used by ``--only`` and the result file name (``<NAME>.json``);
* ``TITLE: str`` -- the heading on the results page;
* ``run(*, quick: bool) -> dict`` -- measures and returns a result built by `make_result`.

and ends with ``if __name__ == "__main__": scenario_main(run)`` so it also runs alone. The
runner (``benchmarks/run.py``) lists the scenario modules in its registry; adding a scenario is
adding a module and a registry line. Results are rendered generically from the keys
`make_result` fills (``tables``, ``targets``, ``chart``, ``notes``), so a new scenario needs no
rendering code.

Contenders run in subprocesses: either one-shot (`run_json`: a fresh interpreter that prints
one JSON document) or persistent (`Worker`: a process that answers JSON requests line by line,
so the parent can interleave rounds A B C A B C across isolated processes).

Imports: the standard library only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import importlib.metadata
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "benchmarks" / "results"

#: Keys every scenario result carries; ``tests/test_benchmarks.py`` checks them.
RESULT_KEYS = (
    "scenario",
    "title",
    "description",
    "timestamp",
    "machine",
    "python",
    "packages",
    "parameters",
    "results",
    "ratios",
    "targets",
    "tables",
    "chart",
    "notes",
)

#: Runtime dependencies of asyncsdk, then the peers and tools the benchmarks use.
PACKAGES = ("msgspec", "aiohttp", "tenacity", "orjson", "pydantic", "pydantic-core", "httpx")
TOOLS = ("matplotlib",)

Json = dict[str, Any]


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


def python_info() -> Json:
    return {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "compiler": platform.python_compiler(),
    }


def _asyncsdk_version() -> str:
    try:
        return importlib.metadata.version("asyncsdk")
    except importlib.metadata.PackageNotFoundError:
        with (ROOT / "pyproject.toml").open("rb") as f:
            return str(tomllib.load(f)["project"]["version"]) + " (source tree)"


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def packages() -> Json:
    """Return the versions of asyncsdk, its dependencies, the peers and the tools."""
    found: Json = {"asyncsdk": _asyncsdk_version(), "asyncsdk_commit": _git_commit()}
    for name in PACKAGES + TOOLS:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def timestamp() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


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


def target(*, name: str, value: float, op: str, threshold: float, basis: str) -> Json:
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


# --- the result document -----------------------------------------------------------------


def make_result(
    *,
    scenario: str,
    title: str,
    description: str,
    parameters: Json,
    results: Json,
    ratios: Json,
    targets: list[Json],
    tables: list[Json],
    chart: Json | None,
    notes: list[str],
) -> Json:
    """Wrap a scenario's measurements with the machine, Python and package versions.

    ``tables`` are render-ready: ``{"title", "columns", "rows"}`` with string cells. ``chart``
    is ``{"title", "xlabel", "groups": {group: {bar: {"median", "min", "max"}}}}`` or None.
    """
    return {
        "scenario": scenario,
        "title": title,
        "description": description,
        "timestamp": timestamp(),
        "machine": machine(),
        "python": python_info(),
        "packages": packages(),
        "parameters": parameters,
        "results": results,
        "ratios": ratios,
        "targets": targets,
        "tables": tables,
        "chart": chart,
        "notes": notes,
    }


def write_json(path: Path, data: Json) -> None:
    """Write ``data`` as indented JSON, atomically (a ``.tmp`` file renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    tmp.replace(path)


# --- subprocesses --------------------------------------------------------------------------


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONHASHSEED"] = "0"
    return env


def run_json(module: str, args: Sequence[str], *, timeout: float = 600) -> Json:
    """Run ``python -m module *args`` in a fresh interpreter and parse the JSON it prints."""
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=_child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed:\n{proc.stderr}")
    result: Json = json.loads(proc.stdout)
    return result


class Worker:
    """A persistent ``python -m module *args`` process answering one JSON line per request.

    The child calls `serve`. Keeping the process alive lets the parent interleave rounds
    across contenders, each in its own interpreter, without paying start-up per round.
    """

    def __init__(self, module: str, args: Sequence[str]) -> None:
        self.label = f"{module} {' '.join(args)}"
        self._proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=ROOT,
            env=_child_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def request(self, message: Json) -> Json:
        assert self._proc.stdin is not None
        assert self._proc.stdout is not None
        self._proc.stdin.write(json.dumps(message) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.label!r} exited (code {self._proc.wait()})")
        reply: Json = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"worker {self.label!r}: {reply['error']}")
        return reply

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve(handle: Callable[[Json], Json]) -> None:
    """Answer requests from a parent `Worker`: one JSON line in, one JSON line out."""
    for line in sys.stdin:
        try:
            reply = handle(json.loads(line))
        except Exception as exc:  # report to the parent instead of dying mid-protocol
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


# --- timing --------------------------------------------------------------------------------


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


# --- running a scenario alone ------------------------------------------------------------


def scenario_main(run: Callable[..., Json], argv: Sequence[str] | None = None) -> None:
    """Entry point of ``python -m benchmarks.<scenario> [--quick]``: print the result JSON."""
    parser = argparse.ArgumentParser(description=(run.__module__ or "").rsplit(".", 1)[-1])
    parser.add_argument("--quick", action="store_true", help="few, short rounds (a smoke run)")
    ns = parser.parse_args(argv)
    print(json.dumps(run(quick=ns.quick), indent=2, ensure_ascii=False))


#: The line the embedded server prints once it is up (``asyncsdk.server`` ``describe``).
SERVER_ANNOUNCEMENT = re.compile(
    r"serving (?P<url>http://\S+) workspace=(?P<ws>\S+) channel=(?P<ch>\S+)"
)


def start_announced(
    module: str, argv: Sequence[str]
) -> tuple[subprocess.Popen[str], re.Match[str]]:
    """Run ``python -m module *argv`` and wait for the embedded server's announcement.

    Returns the process (its stdout still open, for whatever it prints later) and the
    match, whose groups are ``url``, ``ws`` and ``ch``.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *argv],
        cwd=ROOT,
        env=_child_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    found = SERVER_ANNOUNCEMENT.search(line)
    if found is None:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        raise RuntimeError(f"the server did not announce itself: {line!r}")
    return proc, found


def sources_sha256(names: Sequence[str]) -> Json:
    """Short digests of SDK source files, for results measured on an uncommitted tree."""
    return {
        name: hashlib.sha256((ROOT / "asyncsdk" / name).read_bytes()).hexdigest()[:12]
        for name in names
    }
