"""The event pipeline end to end: server webhooks -> listener -> enrichment -> SQLite.

Real loopback HTTP both ways, a real SQLite file, faults injected into the API and
duplicate deliveries; every event must be written exactly once and every call's row
must hold the state *Get a call* returns.
"""

from __future__ import annotations

from pathlib import Path

from asyncsdk.cli._calldb import CallStore, read_calls, row
from asyncsdk.cli._pipeline import run_pipeline, sync_check
from asyncsdk.server import Dataset


async def test_a_thousand_events_with_api_faults_and_duplicates(tmp_path: Path) -> None:
    report = await run_pipeline(tmp_path, calls=300, calls_per_second=2000, duplicate=0.05)
    sync_check(report)
    assert report.events > 1000
    assert (
        report.sender.duplicates > 0 and report.receiver["duplicates"] == report.sender.duplicates
    )
    assert report.api["faults"]  # enrichment went through injected faults


async def test_a_small_queue_defers_deliveries_and_still_loses_nothing(tmp_path: Path) -> None:
    report = await run_pipeline(
        tmp_path, calls=150, calls_per_second=5000, queue_size=2, concurrency=2, api_latency=0.005
    )
    sync_check(report)
    assert report.receiver["busy"] > 0  # 503s happened, Bird-style retries delivered them


async def test_an_older_state_never_overwrites_a_newer_one(tmp_path: Path) -> None:
    ds = Dataset(size=40, seed=2)
    completed = next(c for c in map(ds.call, ds.call_ids) if c and c.status == "completed")
    ringing = __import__("msgspec").structs.replace(completed, status="ringing")
    store = CallStore(tmp_path / "calls.sqlite")
    await store.open()
    try:
        await store.write([row(completed, source="api", event="voice.outbound")], [])
        await store.write([row(ringing, source="event", event="voice.outbound")], [])  # late
        await store.write([row(completed, source="event", event="voice.outbound")], [])  # same
    finally:
        await store.close()
    status, source, call = read_calls(tmp_path / "calls.sqlite")[str(completed.id)]
    assert (status, source, call) == ("completed", "api", completed)
