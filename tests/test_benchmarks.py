"""The benchmark suite runs end to end and writes well-formed results (no speed thresholds)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytest.importorskip("orjson")
pytest.importorskip("pydantic")
pytest.importorskip("matplotlib")

from benchmarks._harness import RESULT_KEYS  # noqa: E402
from benchmarks.run import SCENARIOS, main, render  # noqa: E402

from ._benchquick import LAB_SCENARIOS, QuickRuns, check_well_formed  # noqa: E402

#: The scenarios this module runs (the others: ``test_benchmarks_lab.py``).
MAIN_SCENARIOS = [name for name in SCENARIOS if name not in LAB_SCENARIOS]


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory: pytest.TempPathFactory) -> QuickRuns:
    """The scenarios' quick runs, shared by this module's tests, into a temporary directory."""
    return QuickRuns(tmp_path_factory.mktemp("bench"))


@pytest.mark.parametrize("name", MAIN_SCENARIOS)
def test_scenario_writes_well_formed_json(quick_runs: QuickRuns, name: str) -> None:
    """Each scenario's result file has every expected key and only finite, sane numbers."""
    check_well_formed(quick_runs.result(name), name, RESULT_KEYS)


def test_decode_reports_every_contender_and_ratio(quick_runs: QuickRuns) -> None:
    """The decode result has positive calls/s and MB/s for each contender and each case."""
    result = quick_runs.result("decode")
    for case in result["results"].values():
        for contender in case["contenders"].values():
            for metric in ("calls_per_s", "mb_per_s"):
                s = contender[metric]
                assert 0 < s["min"] <= s["median"] <= s["max"]
    for case_ratios in result["ratios"].values():
        assert set(case_ratios) == {"sdk/orjson", "sdk/json", "sdk/pydantic"}
        assert all(r["median"] > 0 for r in case_ratios.values())


def test_memory_reports_bytes_per_call(quick_runs: QuickRuns) -> None:
    """The memory result has a positive bytes-per-call figure for each contender."""
    result = quick_runs.result("memory")
    assert set(result["results"]) == {"sdk", "orjson", "pydantic"}
    assert all(r["bytes_per_call"] > 0 for r in result["results"].values())
    assert result["ratios"]["sdk/orjson"] > 0


def test_page_and_chart_are_rendered(quick_runs: QuickRuns) -> None:
    """The runner renders the results page, opening with the caveat, and a PNG it embeds.

    From every result this module's scenarios wrote: a scenario that failed fails its own
    test above, not this one.
    """
    for name in MAIN_SCENARIOS:
        with contextlib.suppress(AssertionError):
            quick_runs.result(name)
    docs = quick_runs.out / "docs"
    render(quick_runs.out / "results", docs)  # what the runner does after its scenarios
    page = (docs / "benchmarks.md").read_text()
    assert page.startswith("# Benchmarks")
    assert "shared, noisy" in page
    assert "](img/benchmarks.png)" in page
    png = (docs / "img" / "benchmarks.png").read_bytes()
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


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["sdk", "handwritten"])
def test_webhook_receiver_counts_every_acknowledged_event(kind: str) -> None:
    """A receiver's count covers every delivery it acknowledged, however far its consumer lags.

    An acknowledgement means the event is on the receiver's queue, not yet consumed: a
    consumer 50 ms slower per event is still consuming long after the last answer.
    """
    from benchmarks import webhook_receiver

    receiver = webhook_receiver._Receiver(kind, consume_pause=0.05)
    try:
        before = receiver.stats()
        deliveries = webhook_receiver._signed(receiver.url, 20)
        _, ok = asyncio.run(webhook_receiver._load(receiver.url, deliveries, 4))
        after = receiver.stats()
    finally:
        receiver.worker.close()
    assert ok == 20
    assert after["accepted"] - before["accepted"] == 20


def test_rounds_interleave_every_contender_in_turn() -> None:
    """Each round starts with the next contender, so a slow spell hits each alike."""
    from benchmarks._harness import interleaved

    assert list(interleaved("ABC", 4)) == [list("ABC"), list("BCA"), list("CAB"), list("ABC")]


def test_ratios_pair_the_samples_of_one_round() -> None:
    """A per-round ratio divides the samples of the same round, then summarizes them."""
    from benchmarks._harness import by_contender, paired_ratio, ratio_table, summarize

    ratio = paired_ratio([2.0, 6.0, 3.0], [1.0, 2.0, 3.0])
    assert (ratio["median"], ratio["min"], ratio["max"]) == (2.0, 1.0, 3.0)
    results = by_contender({"a": "A"}, {"speed": {"a": [1.0, 3.0, 2.0]}})
    assert results == {"a": {"label": "A", "speed": summarize([1.0, 3.0, 2.0])}}
    table = ratio_table("t", {"x": ratio, "y": ratio}, {"y": "Y"})
    assert table["rows"] == [["Y", "2.00x (1.00-3.00)"]]


def test_media_throughput_bounds_the_download_by_its_busier_thread() -> None:
    """The slower of the loop and the drain sets the most a download reaches."""
    from benchmarks.media_throughput import stage_bounds

    got = stage_bounds(bare=0.8, loop=0.6, drain=1.0, client=1.6, server=0.4)
    assert got == {"pipeline": pytest.approx(0.8), "two_cores": pytest.approx(0.8)}
    assert stage_bounds(1.0, 0.5, 0.4, 0.9, 0.1) == {"pipeline": 2.0, "two_cores": 2.0}


def test_media_scenarios_check_every_file(quick_runs: QuickRuns) -> None:
    """Downloads come out whole: the archive's under faults, the memory runs' of both sizes."""
    faulty = quick_runs.result("media_archive")["results"]["sdk+faults"]
    assert faulty["files_checked"] == faulty["recordings"] > 0
    assert faulty["within_one_chunk_per_resume"]
    memory = quick_runs.result("media_memory")["results"]
    assert memory["small"]["sha256_ok"] and memory["large"]["sha256_ok"]


def test_otel_overhead_off_path_runs_the_same_calls(quick_runs: QuickRuns) -> None:
    """With telemetry off the request path makes the Python calls it made before.

    Within 1 %: a connection's set-up or a collection can land in the counted requests.
    """
    calls = quick_runs.result("otel_overhead")["results"]["python_calls_per_request"]
    assert calls["before"] > 0
    assert calls["installed-off"] == pytest.approx(calls["before"], rel=0.01)


def test_the_runner_takes_scenario_names_as_only_does(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["media_throughput", "no_such_scenario"])  # refused before anything runs
    assert exited.value.code == 2
    assert "unknown scenario 'no_such_scenario'" in capsys.readouterr().err
