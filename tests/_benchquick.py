"""The benchmark scenarios' quick runs, shared by the two benchmark test modules.

The scenarios are split between ``test_benchmarks.py`` and ``test_benchmarks_lab.py``
(the longest quick runs: the throttling lab, the limiters, the Redis Streams pipeline)
so that the suite's two workers share them: each module runs its own scenarios once.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: The scenarios `test_benchmarks_lab.py` runs; `test_benchmarks.py` runs the others.
LAB_SCENARIOS = ("throttling", "ratelimit", "workspaces", "redis_limiter", "streams")


def _numbers(obj: Any) -> list[float]:
    if isinstance(obj, bool):
        return []
    if isinstance(obj, int | float):
        return [float(obj)]
    if isinstance(obj, dict):
        return [x for v in obj.values() for x in _numbers(v)]
    if isinstance(obj, list):
        return [x for v in obj for x in _numbers(v)]
    return []


class QuickRuns:
    """Each scenario run once in --quick mode, in its own runner process, on demand.

    One process per scenario, so a scenario that fails fails its own tests and no
    other's; the results land side by side in one directory, as `make bench` writes them.
    """

    def __init__(self, out: Path) -> None:
        self.out = out
        self._runs: dict[str, subprocess.CompletedProcess[str]] = {}

    def result(self, name: str) -> dict[str, Any]:
        """The scenario's result document; fails (with the runner's stderr) if it failed."""
        if name not in self._runs:
            self._runs[name] = run_runner(
                "--quick", "--only", name, "--out", str(self.out / "results"), "--no-docs"
            )
        proc = self._runs[name]
        assert proc.returncode == 0, f"benchmarks.run --quick --only {name}:\n{proc.stderr}"
        combined = json.loads(proc.stdout)
        assert list(combined) == [name]
        result: dict[str, Any] = json.loads((self.out / "results" / f"{name}.json").read_text())
        return result


def run_runner(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the benchmark runner; one that takes over 300 s is a failed run (code -1)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    try:
        return subprocess.run(
            [sys.executable, "-m", "benchmarks.run", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr
        return subprocess.CompletedProcess(exc.cmd, -1, "", f"timed out after 300 s\n{err or ''}")


def check_well_formed(result: dict[str, Any], name: str, result_keys: tuple[str, ...]) -> None:
    """Each scenario's result file has every expected key and only finite, sane numbers."""
    assert set(result_keys) <= set(result)
    assert result["scenario"] == name
    assert result["machine"]["cores"] >= 1
    assert result["machine"]["cpu"]
    assert result["python"]["version"].startswith(f"{sys.version_info.major}.")
    assert result["packages"]["msgspec"]
    assert result["results"]
    numbers = _numbers(result["results"]) + _numbers(result["ratios"])
    assert numbers
    assert all(math.isfinite(x) and x >= 0 for x in numbers)
    for t in result["targets"]:
        assert {"name", "value", "op", "threshold", "met", "basis"} <= set(t)
        assert t["value"] > 0
        assert isinstance(t["met"], bool)
    for table in result["tables"]:
        assert all(len(row) == len(table["columns"]) for row in table["rows"])
