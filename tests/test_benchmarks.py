"""The benchmark suite runs end to end and writes well-formed results (no speed thresholds)."""

from __future__ import annotations

import datetime
import json
import math
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytest.importorskip("orjson")
pytest.importorskip("pydantic")
pytest.importorskip("matplotlib")

from benchmarks._harness import RESULT_KEYS  # noqa: E402
from benchmarks.run import SCENARIOS  # noqa: E402


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


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run every registered scenario once in --quick mode, into a temporary directory."""
    out = tmp_path_factory.mktemp("bench")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.run",
            "--quick",
            "--out",
            str(out / "results"),
            "--docs",
            str(out / "docs"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    combined = json.loads(proc.stdout)
    assert sorted(combined) == sorted(SCENARIOS)
    return out


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_writes_well_formed_json(quick_run: Path, name: str) -> None:
    """Each scenario's result file has every expected key and only finite, sane numbers."""
    result = json.loads((quick_run / "results" / f"{name}.json").read_text())
    assert set(RESULT_KEYS) <= set(result)
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


def test_decode_reports_every_contender_and_ratio(quick_run: Path) -> None:
    """The decode result has positive calls/s and MB/s for each contender and each case."""
    result = json.loads((quick_run / "results" / "decode.json").read_text())
    for case in result["results"].values():
        for contender in case["contenders"].values():
            for metric in ("calls_per_s", "mb_per_s"):
                s = contender[metric]
                assert 0 < s["min"] <= s["median"] <= s["max"]
    for case_ratios in result["ratios"].values():
        assert set(case_ratios) == {"sdk/orjson", "sdk/json", "sdk/pydantic"}
        assert all(r["median"] > 0 for r in case_ratios.values())


def test_memory_reports_bytes_per_call(quick_run: Path) -> None:
    """The memory result has a positive bytes-per-call figure for each contender."""
    result = json.loads((quick_run / "results" / "memory.json").read_text())
    assert set(result["results"]) == {"sdk", "orjson", "pydantic"}
    assert all(r["bytes_per_call"] > 0 for r in result["results"].values())
    assert result["ratios"]["sdk/orjson"] > 0


def test_page_and_chart_are_rendered(quick_run: Path) -> None:
    """The runner renders the results page, opening with the caveat, and a PNG it embeds."""
    page = (quick_run / "docs" / "benchmarks.md").read_text()
    assert page.startswith("# Benchmarks")
    assert "shared, noisy" in page
    assert "](img/benchmarks.png)" in page
    png = (quick_run / "docs" / "img" / "benchmarks.png").read_bytes()
    assert png.startswith(b"\x89PNG")


def test_pydantic_twin_decodes_the_same_call() -> None:
    """The pydantic contender decodes the fixture to the same values as the SDK's Call."""
    import msgspec

    from asyncsdk.models import Call
    from benchmarks._pydantic_models import CALL_ADAPTER

    data = (ROOT / "tests" / "fixtures" / "call_realistic.json").read_bytes()
    sdk = msgspec.to_builtins(Call.from_json(data), builtin_types=(datetime.datetime, uuid.UUID))
    twin = CALL_ADAPTER.validate_json(data).model_dump(by_alias=True, exclude_none=True)
    assert twin == sdk


def test_page_generator_is_deterministic_and_decodes() -> None:
    """The generated page is the same bytes every time and decodes into 1,000 Calls."""
    import msgspec

    from asyncsdk.models import Call
    from benchmarks import _data

    page = _data.page_bytes()
    assert page == _data.page_bytes()
    calls = msgspec.json.decode(page, type=list[Call])
    assert len(calls) == _data.PAGE_SIZE
    assert len({c.id for c in calls}) == _data.PAGE_SIZE
