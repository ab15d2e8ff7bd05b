"""Scenario ``export``: ``asyncsdk export`` with 8 shards against one sequential listing.

The embedded server (``python -m asyncsdk.server``) runs in its own process with a
dataset of N calls spread over one day and ``--page-latency 0.1``: a page of 1,000 calls
takes 100 ms before its first byte, as a big page of a real API might. Each export runs
the real command (``asyncsdk.cli.main(["export", ...])``, page size 1,000, the whole
day, output to a temporary file, fsync and checkpoint after every page) in a fresh
client process, timed from inside (interpreter start-up excluded) and measured for its
peak resident set (``VmHWM``, `benchmarks._harness.maxrss_kb`).

* Throughput: ``--shards 8`` against ``--shards 1`` (one listing, page after page, its
  next page requested as soon as the previous arrives), rounds interleaved; the ratio is
  taken per round.
* Memory: the peak resident set of ``--shards 8`` at N and at 10 N; flat memory keeps
  the ratio near 1.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from benchmarks import _harness as h
from benchmarks._harness import Json
from benchmarks._procs import Announced, run_json

NAME = "export"
TITLE = "Export: sharded against sequential listing"

ACCESS_KEY = "benchmark-key"
SINCE = "2026-01-01T00:00:00Z"
UNTIL = "2026-01-02T00:00:00Z"
PAGE_SIZE = 1000
PAGE_LATENCY = 0.1
SHARDS = 8
SEED = 17
MIN_SPEEDUP = 5.0
MAX_RSS_RATIO = 1.10

FULL = {"calls": 100_000, "rounds": 3, "memory_calls": [100_000, 1_000_000]}
QUICK = {"calls": 5_000, "rounds": 1, "memory_calls": [5_000, 10_000]}


# --- the client (a child process) ----------------------------------------------------------


def _worker(argv: list[str]) -> None:
    """Run one export of the whole day (``argv``: base URL, workspace, shards) and time it."""
    from asyncsdk.cli import main

    base_url, workspace, shards = argv
    with tempfile.TemporaryDirectory(prefix="asyncsdk-export-") as tmp:
        out = Path(tmp) / "calls.jsonl"
        command = [
            *("export", workspace, "--since", SINCE, "--until", UNTIL),
            *("--out", str(out), "--base-url", base_url, "--shards", shards),
            *("--page-size", str(PAGE_SIZE), "--no-progress", "--access-key", ACCESS_KEY),
        ]
        started = time.perf_counter()
        code = main(command)
        seconds = time.perf_counter() - started
        with out.open("rb") as f:
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    print(
        json.dumps({"code": code, "calls": lines, "seconds": seconds, "maxrss_kb": h.maxrss_kb()})
    )


def _export(server: Announced, shards: int, calls: int) -> Json:
    args = [server.base_url, str(server.workspace_id), str(shards)]
    result = run_json("benchmarks.export", args, timeout=3600)
    if result["code"] != 0 or result["calls"] != calls:
        raise RuntimeError(f"export exited {result['code']}, {result['calls']} calls, not {calls}")
    return result


# --- the scenario (parent process) ---------------------------------------------------------


def _server(calls: int) -> Announced:
    return Announced(
        "asyncsdk.server",
        [
            *("--port", "0", "--size", str(calls), "--seed", str(SEED)),
            *("--span-days", "1", "--page-latency", str(PAGE_LATENCY)),
            *("--access-key", ACCESS_KEY),
        ],
    )


def run(*, quick: bool = False) -> Json:
    params = dict(QUICK if quick else FULL)
    calls, rounds = int(params["calls"]), int(params["rounds"])
    memory_calls: list[int] = sorted(params["memory_calls"])
    contenders = {"sharded": SHARDS, "sequential": 1}
    samples: dict[str, list[Json]] = {key: [] for key in contenders}
    with _server(calls) as server:
        for order in h.interleaved(contenders, rounds):
            for key in order:
                samples[key].append(_export(server, contenders[key], calls))
    memory: dict[int, Json] = {}
    for n in memory_calls:
        with _server(n) as server:
            memory[n] = _export(server, SHARDS, n)

    rate = {k: [calls / s["seconds"] for s in v] for k, v in samples.items()}
    speedup = h.paired_ratio(rate["sharded"], rate["sequential"])
    small, large = memory[memory_calls[0]], memory[memory_calls[-1]]
    rss_ratio = large["maxrss_kb"] / small["maxrss_kb"]
    results: Json = {
        key: {
            "shards": contenders[key],
            "calls_per_s": h.summarize(rate[key]),
            "seconds": h.summarize([s["seconds"] for s in samples[key]]),
            "peak_rss_mb": h.summarize([s["maxrss_kb"] / 1024 for s in samples[key]]),
        }
        for key in contenders
    }
    results["memory"] = {
        f"n_{n}": {
            "calls": n,
            "shards": SHARDS,
            "peak_rss_mb": round(m["maxrss_kb"] / 1024, 1),
            "seconds": round(m["seconds"], 2),
            "calls_per_s": round(n / m["seconds"], 1),
        }
        for n, m in memory.items()
    }
    ratios: Json = {
        "sharded/sequential calls per s": speedup,
        f"peak_rss n_{memory_calls[-1]}/n_{memory_calls[0]}": round(rss_ratio, 4),
    }
    targets = [
        h.target(
            f"--shards {SHARDS} / sequential calls per s >= {MIN_SPEEDUP}",
            speedup["median"],
            ">=",
            MIN_SPEEDUP,
            f"median of per-round ratios, {calls:,} calls, {rounds} rounds",
        ),
        h.target(
            f"peak RSS at {memory_calls[-1]:,} / at {memory_calls[0]:,} calls <= {MAX_RSS_RATIO}",
            rss_ratio,
            "<=",
            MAX_RSS_RATIO,
            f"VmHWM of the export process, --shards {SHARDS}",
        ),
    ]
    latency_bound = calls / PAGE_SIZE * PAGE_LATENCY
    columns = ("calls_per_s", "seconds", "peak_rss_mb")
    return h.make_result(
        scenario=NAME,
        title=TITLE,
        description=(
            f"`asyncsdk export` of {calls:,} calls (one day) from the embedded server, whose "
            f"pages of {PAGE_SIZE:,} calls take {PAGE_LATENCY * 1000:.0f} ms each, with "
            f"--shards {SHARDS} against --shards 1 (one sequential listing). Each export runs "
            "the real command in a fresh process: decode, JSON Lines, fsync and checkpoint "
            "after every page."
        ),
        parameters={
            "calls": calls,
            "rounds": rounds,
            "page_size": PAGE_SIZE,
            "page_latency_s": PAGE_LATENCY,
            "shards": SHARDS,
            "memory_calls": ", ".join(f"{n:,}" for n in memory_calls),
            "dataset_seed": SEED,
        },
        results=results,
        ratios=ratios,
        targets=targets,
        tables=[
            h.table(
                "Throughput, median (min-max) across rounds",
                ["export", "calls/s", "seconds", "peak RSS, MB"],
                [
                    [f"--shards {shards}", *(h.fmt_range(results[k][c]) for c in columns)]
                    for k, shards in contenders.items()
                ]
                + [["sharded / sequential, per round", h.fmt_ratio(speedup), "", ""]],
            ),
            h.table(
                f"Peak resident set of --shards {SHARDS} against the number of calls",
                ["calls", "peak RSS, MB", "seconds", "calls/s"],
                (
                    [f"{n:,}", *(h.fmt(results["memory"][f"n_{n}"][c]) for c in columns[::-1])]
                    for n in memory_calls
                ),
            ),
        ],
        chart={
            "title": f"Export of {calls:,} calls (calls/s, median; bars show min-max)",
            "xlabel": "calls per second",
            "groups": {
                "export": {
                    f"--shards {contenders[k]}": results[k]["calls_per_s"] for k in contenders
                }
            },
        },
        notes=[
            f"The page latency alone bounds one sequential listing at {latency_bound:.0f} s "
            f"({calls / latency_bound:,.0f} calls/s); {SHARDS} shards could divide that by "
            f"{SHARDS} if nothing else counted. What else counts: the client's CPU (decode, "
            "encode, write and fsync per page) and the server's (rendering pages), on a "
            "machine of two cores that run both.",
            "The sequential listing already overlaps a page's round trip with the handling of "
            "the previous one (the pager requests the next page as soon as a page arrives).",
            "Peak RSS: a listing of K shards holds about 2K pages at most, whatever the "
            "number of calls; what rises with a longer run is the C allocator's high-water "
            "mark (the count of Python objects stays flat, sys.getallocatedblocks), which "
            "settles: measured once at 3,000,000 calls, 101 MB.",
        ],
    )


if __name__ == "__main__":
    h.scenario_main(run, _worker)
