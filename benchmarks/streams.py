"""Scenario ``streams``: the pipeline across processes on Redis Streams, measured and checked.

Three measurements, each with real processes on loopback (``redis-server`` with its
append-only file at ``appendfsync everysec``, ``asyncsdk listen --redis`` replicas,
``asyncsdk enrich`` workers, the embedded API server):

1. **throughput**: signed deliveries (signed, and their HTTP requests built, before the
   clock starts) posted 64 at a time by a minimal HTTP/1.1 client on asyncio streams
   (`_streamprocs.blast`: the load generator shares the 2 cores, and aiohttp's client
   spent about 0.3 ms of CPU per event, as much as a replica; each request now goes
   out in one write, where aiohttp's went out as headers then body), alternately to 2
   replicas while 3 workers drain the stream; events
   acknowledged (2xx) per second, and the CPU the receiving side (replicas and Redis)
   spent per event, which a loaded machine distorts less than the rate. The baseline
   in the same run: one ``asyncsdk listen --out`` process (JSON Lines with fsync, no
   enrichment: with it, its 1,000-event intake fills at 50 GET/s and it answers 503,
   as designed, so its rate would measure the API budget, not the receiver) fed the
   same way.
2. **kills**: lifecycle events delivered by the embedded server (retrying as Bird
   does) through the example's balancer to 2 replicas and 3 workers; one replica and
   one worker SIGKILLed mid-run. Lost, doubled and wrong rows are counted (all must
   be 0). The workers share 500 GET/s here, so the run is not bound by the API.
3. **latency**: from an event's 2xx (its stream entry id is Redis time at the
   append) to its row's commit, p50 and p99, with the workers sharing 50 GET/s
   (Bird's documented limit) and calls arriving below it; for all events, and for
   the fetched (terminal) ones alone.

Redis is `benchmarks._redis.RedisServer`; the processes start concurrently.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import signal
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import _harness as h
from benchmarks._harness import Json
from benchmarks._ports import free_port
from benchmarks._procs import ROOT
from benchmarks._redis import RedisServer
from benchmarks._streamprocs import (
    ACCESS_KEY,
    SIGNING_KEY,
    blast,
    cpu_seconds_of,
    deliveries_to,
    fleet,
    start,
    stop,
)
from benchmarks.webhook_pipeline import calls_for

NAME = "streams"
TITLE = "Call events across processes: Redis Streams"
FULL = {"throughput_events": 20_000, "kill_events": 20_000, "latency_calls": 400}
#: ``latency_calls`` 0: no run of its own (the kills' run reports its latency too).
QUICK = {"throughput_events": 300, "kill_events": 300, "latency_calls": 0}


async def throughput(events: int) -> dict[str, Any]:
    """Events acknowledged per second: 2 replicas + 3 workers, and one ``listen --out``."""
    from asyncsdk.server import Dataset, EmbeddedServer, ServerConfig

    work = Path(tempfile.mkdtemp(prefix="asyncsdk-bench-streams-"))
    result: dict[str, Any] = {"events": events}
    try:
        async with (
            RedisServer(appendonly=True, directory=work) as redis,
            EmbeddedServer(
                ServerConfig(access_keys=(ACCESS_KEY,)), dataset=Dataset(size=events, seed=11)
            ) as api,
        ):
            ports = [free_port(), free_port()]
            procs = await fleet(
                redis.url, ports, work, enrich=(
                    "--workspace", str(api.dataset.workspace_id), "--db",
                    str(work / "calls.sqlite"), "--base-url", api.base_url,
                ),
            )  # fmt: skip
            urls = [f"http://127.0.0.1:{p}/bird" for p in ports]
            deliveries = deliveries_to(urls, events, None)
            pids = [p.pid for p in procs] + [redis.pid]
            before = [cpu_seconds_of(pid) for pid in pids]
            measured = await blast(deliveries)
            spent = [round(cpu_seconds_of(pid) - b, 2) for pid, b in zip(pids, before, strict=True)]
            measured["cpu_seconds"] = {
                "receivers": sum(spent[:2]), "workers": sum(spent[2:5]), "redis": spent[5],
            }  # fmt: skip
            receiving = sum(spent[:2]) + spent[5]
            measured["receiving_cpu_ms_per_event"] = round(receiving / events * 1000, 3)
            result["streams_2_receivers_3_workers"] = measured
            await stop(procs)
            port = free_port()
            single = await start(
                "listen", "--out", str(work / "events.jsonl"), "--port", str(port),
                "--path", "/bird", expect="listening", cwd=work,
            )  # fmt: skip
            url = f"http://127.0.0.1:{port}/bird"
            deliveries = deliveries_to([url], events, None)
            before_single = cpu_seconds_of(single.pid)
            measured = await blast(deliveries)
            spent_single = cpu_seconds_of(single.pid) - before_single
            measured["cpu_seconds"] = {"receiver": round(spent_single, 2)}
            measured["receiving_cpu_ms_per_event"] = round(spent_single / events * 1000, 3)
            result["baseline_listen_out_1_process"] = measured
            await stop([single])
        result["load_average_1min_after"] = round(os.getloadavg()[0], 1)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return result


def _load_balancer() -> Any:
    path = ROOT / "examples" / "streams_pipeline.py"
    spec = importlib.util.spec_from_file_location("asyncsdk_example_streams_pipeline", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Balancer


async def _pipeline(
    calls: int, *, rate: float, calls_per_second: float, kill: bool
) -> dict[str, Any]:
    """Deliver ``calls`` lifecycles through a balancer to 2 replicas and 3 workers; check."""
    from aiohttp import web

    from asyncsdk.server import Dataset, EmbeddedServer, ServerConfig, WebhookConfig, WebhookSender
    from asyncsdk.webhooks import TERMINAL_STATUSES

    work = Path(tempfile.mkdtemp(prefix="asyncsdk-bench-streams-"))
    db = work / "calls.sqlite"
    dataset = Dataset(size=calls, seed=13)
    balancer = _load_balancer()([f"http://127.0.0.1:{free_port()}" for _ in range(2)])
    front = web.Application()
    front.router.add_post("/bird", balancer.handle)
    runner = web.AppRunner(front, access_log=None)
    front_port = free_port()
    public = f"http://127.0.0.1:{front_port}"
    procs: list[asyncio.subprocess.Process] = []
    try:
        async with (
            RedisServer(appendonly=True, directory=work) as redis,
            EmbeddedServer(ServerConfig(access_keys=(ACCESS_KEY,)), dataset=dataset) as api,
        ):
            ports = [int(backend.rsplit(":", 1)[1]) for backend in balancer.backends]
            procs = await fleet(
                redis.url, ports, work, listen=("--public-url", public), enrich=(
                    "--workspace", str(dataset.workspace_id), "--db", str(db),
                    "--base-url", api.base_url, "--rate-limit", str(rate), "--min-idle", "2",
                ),
            )  # fmt: skip
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", front_port).start()
            config = WebhookConfig(
                url=f"{public}/bird", signing_key=SIGNING_KEY, calls_per_second=calls_per_second,
                step=0.05, first_retry=0.1, max_retry_delay=1.0, retry_for=600.0, concurrency=64,
            )  # fmt: skip
            started = time.perf_counter()
            async with WebhookSender(config, dataset) as sender:
                if kill:
                    third = calls  # about 3.6 events a call: a little under a third of them
                    while sender.stats.delivered < third:  # noqa: ASYNC110 - polls a counter
                        await asyncio.sleep(0.05)
                    procs[0].send_signal(signal.SIGKILL)  # a replica
                    procs[2].send_signal(signal.SIGKILL)  # a worker
                stats = await sender.wait_done()
            delivered = stats.delivered
            for _ in range(12_000):  # at most 10 minutes
                if db.exists():
                    with sqlite3.connect(db, timeout=30) as conn:
                        query = "SELECT count(DISTINCT request_id) FROM stream_entries"
                        if conn.execute(query).fetchone()[0] >= delivered:
                            break
                await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - started
            await stop(procs)
        with sqlite3.connect(db) as conn:
            entries = conn.execute(
                "SELECT entry, request_id, call_id, committed_at FROM stream_entries"
            ).fetchall()
            rows = {
                i: (s, src) for i, s, src in conn.execute("SELECT id, status, source FROM calls")
            }
        ids = [r for _, r, _, _ in entries]
        wrong = 0
        for call_id in dataset.call_ids:
            call = dataset.call(call_id)
            assert call is not None
            source = "api" if call.status in TERMINAL_STATUSES else "event"
            wrong += rows.get(str(call_id)) != (call.status, source)
        fetched = {
            str(c) for c in dataset.call_ids if (dataset.call(c) or c).status in TERMINAL_STATUSES
        }  # type: ignore[union-attr]
        lat_all = [t - int(e.split("-")[0]) / 1000 for e, _, _, t in entries]
        terminal_ids = {
            rid for d in sender.deliveries if d.final and str(d.call_id) in fetched
            for rid in (d.request_id,)
        }  # fmt: skip
        lat_fetched = [
            t - int(e.split("-")[0]) / 1000 for e, r, _, t in entries if r in terminal_ids
        ]
        return {
            "calls": calls,
            "events_delivered": delivered,
            "gave_up": stats.gave_up,
            "lost": delivered - len(set(ids)),
            "doubled": len(ids) - len(set(ids)),
            "rows_wrong": wrong,
            "seconds": round(elapsed, 1),
            "killed": "1 replica + 1 worker (SIGKILL)" if kill else "none",
            "get_rate_shared": rate,
            "latency_all_p50_ms": _ms(lat_all, 0.5),
            "latency_all_p99_ms": _ms(lat_all, 0.99),
            "latency_fetched_p50_ms": _ms(lat_fetched, 0.5),
            "latency_fetched_p99_ms": _ms(lat_fetched, 0.99),
        }
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        await runner.cleanup()
        await balancer.aclose()
        shutil.rmtree(work, ignore_errors=True)


def _ms(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)


async def _measure(sizes: dict[str, int]) -> dict[str, Any]:
    """The three measurements, one after the other."""
    out: dict[str, Any] = {"throughput": await throughput(sizes["throughput_events"])}
    out["kills"] = await _pipeline(
        calls_for(sizes["kill_events"], seed=13), rate=500.0, calls_per_second=400.0, kill=True
    )
    if sizes["latency_calls"]:
        out["latency_at_50_get_per_second"] = await _pipeline(
            sizes["latency_calls"], rate=50.0, calls_per_second=40.0, kill=False
        )
    return out


def _exact(run: dict[str, Any]) -> float:
    """The fraction of events kept exactly once with their call's row right (1 is all)."""
    bad = run["lost"] + run["doubled"] + run["rows_wrong"] + run["gave_up"]
    return max(run["events_delivered"] - bad, 0) / max(run["events_delivered"], 1)


def run(*, quick: bool = False) -> Json:
    """Measure throughput, kills and latency; return the result document."""
    sizes = dict(QUICK if quick else FULL)
    found = asyncio.run(_measure(sizes))
    streams = found["throughput"]["streams_2_receivers_3_workers"]
    single = found["throughput"]["baseline_listen_out_1_process"]
    kills = found["kills"]
    runs = [kills, *filter(None, [found.get("latency_at_50_get_per_second")])]
    cpu = "receiving_cpu_ms_per_event"
    ratios = {
        "events_per_s streams/listen_out": streams["per_second"] / single["per_second"],
        "receiving_cpu_per_event streams/listen_out": streams[cpu] / max(single[cpu], 1e-9),
    }
    lat = [f"latency_{w}_{q}_ms" for w in ("all", "fetched") for q in ("p50", "p99")]
    seconds = max(len(streams["acknowledged_each_second"]), 1)
    return h.make_result(
        scenario=NAME,
        title=TITLE,
        description=(
            "The pipeline across processes: `asyncsdk listen --redis` replicas appending to a "
            "Redis stream (append-only file, fsync every second), `asyncsdk enrich` workers "
            "fetching each call and committing its row to SQLite. Throughput against one "
            "`asyncsdk listen --out` process in the same run; a run with a replica and a "
            "worker SIGKILLed; the time from an event's 2xx to its row at 50 GET/s."
        ),
        parameters=sizes,
        results=found,
        ratios=ratios,
        targets=[
            h.target(
                "events kept exactly once, rows right, with kills (fraction) >= 1",
                _exact(kills),
                ">=",
                1.0,
                f"{kills['events_delivered']:,} events, 1 replica + 1 worker SIGKILLed",
            ),
            h.target(
                "receiving CPU per event, streams / listen --out <= 1.5",
                ratios["receiving_cpu_per_event streams/listen_out"],
                "<=",
                1.5,
                "CPU of replicas + Redis against the single process, same run",
            ),
        ],
        tables=[
            h.table(
                "Throughput, same run (64 deliveries in flight)",
                ["measurement", "2 replicas + 3 workers", "one `listen --out`"],
                [
                    [
                        "events acknowledged",
                        f"{streams['acknowledged']:,}",
                        f"{single['acknowledged']:,}",
                    ],
                    [
                        "events acknowledged per second",
                        f"{streams['per_second']:,}",
                        f"{single['per_second']:,}",
                    ],
                    ["receiving CPU per event (ms)", h.fmt(streams[cpu]), h.fmt(single[cpu])],
                    [
                        "workers' CPU per event (ms)",
                        h.fmt(streams["cpu_seconds"]["workers"] / streams["acknowledged"] * 1000),
                        "-",
                    ],
                ],
            ),
            h.table(
                "Kills and latency",
                ["run", "events", "lost", "doubled", "rows wrong", *(c[8:] for c in lat)],
                [
                    [
                        r["killed"] if r is kills else f"{r['get_rate_shared']:.0f} GET/s, no kill",
                        f"{r['events_delivered']:,}",
                        str(r["lost"]),
                        str(r["doubled"]),
                        str(r["rows_wrong"]),
                        *(str(r[c]) for c in lat),
                    ]
                    for r in runs
                ],
            ),
        ],
        line_charts=[
            {
                "title": "Events acknowledged per second, same run",
                "file": "img/streams-throughput.png",
                "dt": 1.0,
                "ylabel": "events/s",
                "series": {
                    "2 replicas + 3 workers": streams["acknowledged_each_second"],
                    "one listen --out": single["acknowledged_each_second"],
                },
            }
        ]
        if seconds > 2
        else [],
        notes=[
            "Rates on this shared machine vary by a factor of two between runs; the CPU per "
            "event varies much less, hence the target on it.",
        ],
    )


if __name__ == "__main__":
    h.scenario_main(run)
