"""The benchmark scenarios with the longest quick runs: the throttling lab, the limiters,
the Redis Streams pipeline (a module of their own so that the suite's two workers share
the scenarios; `tests/_benchquick.py` says how they are split)."""

from __future__ import annotations

import pytest

pytest.importorskip("orjson")
pytest.importorskip("pydantic")
pytest.importorskip("matplotlib")

from benchmarks._harness import RESULT_KEYS

from ._benchquick import LAB_SCENARIOS, QuickRuns, check_well_formed


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory: pytest.TempPathFactory) -> QuickRuns:
    """The scenarios' quick runs, shared by this module's tests, into a temporary directory."""
    return QuickRuns(tmp_path_factory.mktemp("bench-lab"))


@pytest.mark.parametrize("name", LAB_SCENARIOS)
def test_scenario_writes_well_formed_json(quick_runs: QuickRuns, name: str) -> None:
    """Each scenario's result file has every expected key and only finite, sane numbers."""
    check_well_formed(quick_runs.result(name), name, RESULT_KEYS)


def test_streams_keep_every_event_once_through_kills(quick_runs: QuickRuns) -> None:
    """With a replica and a worker SIGKILLed, no event is lost or doubled, no row is wrong."""
    kills = quick_runs.result("streams")["results"]["kills"]
    assert kills["events_delivered"] > 0
    assert (kills["lost"], kills["doubled"], kills["rows_wrong"], kills["gave_up"]) == (0, 0, 0, 0)
