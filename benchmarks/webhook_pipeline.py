"""Scenario ``webhook_pipeline``: 10,000 lifecycle events end to end, checked.

The embedded server plays calls through their lifecycles and delivers about 10,000
signed status events (2% sent twice, as when Bird never sees the 2xx) over loopback to
the ``asyncsdk listen`` pipeline, which writes each event to JSON Lines and fetches
every finished call's details from the same server, through injected API faults
(503, 500, resets, truncated bodies), into SQLite. Afterwards the outcome is checked
against the dataset: every delivered event written exactly once, every call's row at
the state *Get a call* returns.

It is a correctness run at volume more than a speed race: the result is the count of
events lost, doubled and rows wrong (all must be 0), with the time it took. Each round
runs in a fresh process.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

from benchmarks import _harness as h
from benchmarks._harness import Json
from benchmarks._procs import run_json

NAME = "webhook_pipeline"
TITLE = "Webhook pipeline end to end"

FULL = {"rounds": 3, "events": 10_000, "calls_per_second": 1500.0}
QUICK = {"rounds": 1, "events": 300, "calls_per_second": 1500.0}
SEED = 7


def calls_for(events: int, seed: int = SEED) -> int:
    """The number of dataset calls whose lifecycles add up to at least ``events`` events."""
    from asyncsdk.server import Dataset
    from asyncsdk.server._lifecycle import lifecycle

    dataset = Dataset(size=events, seed=seed)
    total = 0
    for count, call in enumerate(map(dataset.call, dataset.call_ids), 1):
        assert call is not None
        total += len(lifecycle(call.status, call.direction)[1])
        if total >= events:
            return count
    return events


def _one(argv: list[str]) -> None:
    """One round in this (fresh) process: print its counts as one JSON line."""
    from asyncsdk.cli._pipeline import run_pipeline

    events, calls_per_second = int(argv[0]), float(argv[1])
    calls = calls_for(events)
    with tempfile.TemporaryDirectory(prefix="asyncsdk-bench-") as workdir:
        report = asyncio.run(
            run_pipeline(Path(workdir), calls=calls, calls_per_second=calls_per_second, seed=SEED)
        )
    found = {
        "calls": report.calls,
        "events": report.events,
        "written": report.written,
        "lost": report.lost,
        "doubled": report.doubled,
        "wrong_rows": len(report.wrong_rows),
        "ok": report.ok,
        "seconds": report.seconds,
        "enriched": report.enriched,
        "attempts": report.sender.attempts,
        "sent_twice": report.sender.duplicates,
        "duplicates_acknowledged": report.receiver["duplicates"],
        "deferred_503": report.receiver["busy"],
        "api_faults": report.api["faults"],
        "api_requests": report.api["requests"],
    }
    print(json.dumps(found))


def run(*, quick: bool = False) -> Json:
    params = dict(QUICK if quick else FULL)
    samples = [
        run_json(
            "benchmarks.webhook_pipeline",
            [str(params["events"]), str(params["calls_per_second"])],
        )
        for _ in range(int(params["rounds"]))
    ]
    bad = sum(s["lost"] + s["doubled"] + s["wrong_rows"] for s in samples)
    rates = [s["events"] / s["seconds"] for s in samples]
    results = {
        "rounds": samples,
        "events_per_second": h.summarize(rates),
        "seconds": h.summarize([s["seconds"] for s in samples]),
    }
    return h.make_result(
        scenario=NAME,
        title=TITLE,
        description=(
            f"About {params['events']:,} call-status events from the embedded server's "
            "webhook sender to the listen pipeline (JSON Lines + enrichment into SQLite), "
            "with duplicate deliveries and API faults; checked against the dataset."
        ),
        parameters={**params, "seed": SEED},
        results=results,
        targets=[
            h.target(
                "share of events written exactly once, every row at its final state",
                1.0 - bad / max(1, sum(s["events"] for s in samples)),
                ">=",
                1.0,
                f"1 - (lost + doubled + rows wrong) / events, over {len(samples)} rounds",
            )
        ],
        tables=[
            h.table(
                "Each round",
                (
                    *("events", "calls", "seconds", "events/s", "lost", "doubled", "rows wrong"),
                    *("sent twice / acknowledged as duplicates", "fetched", "API faults"),
                ),
                (
                    [
                        f"{s['events']:,}",
                        f"{s['calls']:,}",
                        h.fmt(s["seconds"]),
                        h.fmt(s["events"] / s["seconds"]),
                        *(str(s[k]) for k in ("lost", "doubled", "wrong_rows")),
                        f"{s['sent_twice']} / {s['duplicates_acknowledged']}",
                        f"{s['enriched']:,}",
                        ", ".join(f"{k} {v}" for k, v in sorted(s["api_faults"].items())),
                    ]
                    for s in samples
                ),
            )
        ],
        notes=[
            "All processes share one machine: the sender, the API server, the listener and "
            "SQLite run in one event loop, so events/s is the whole pipeline's, not the "
            "receiver's (see webhook_receiver for that).",
        ],
    )


if __name__ == "__main__":
    h.scenario_main(run, _one)
