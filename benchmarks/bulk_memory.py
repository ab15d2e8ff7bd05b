"""Scenario ``bulk_memory``: `asyncsdk.iter_calls` holds memory flat however many IDs flow.

A canned HTTP/1.1 server (`benchmarks._canned`) runs in its own process pinned to CPU 0.
For each N, a fresh client process pinned to CPU 1 streams N call IDs from a generator
(``uuid.UUID(int=i)``, made one at a time: no list of IDs ever exists) through
``iter_calls`` on a default `asyncsdk.Client` at concurrency 64, and discards each result.
After a warm-up of a few thousand calls (imports, connections, caches and free lists all
settled) it records its resident set (``VmRSS`` from ``/proc/self/status``) as the
baseline, samples it every few thousand results, and at the end reads the high-water mark
(``VmHWM``, `benchmarks._harness.maxrss_kb`). Growth is the peak after the warm-up less
the baseline; if the IDs or results were kept anywhere, it would grow with N.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Iterator

from benchmarks import _harness as h
from benchmarks._canned import ACCESS_KEY, CHANNEL_ID, FIXTURE, WORKSPACE_ID, CannedServer, pin
from benchmarks._harness import Json
from benchmarks._procs import run_json

NAME = "bulk_memory"
TITLE = "iter_calls memory against the number of IDs"

CONCURRENCY = 64
SERVER_CPU = 0
CLIENT_CPU = 1
#: RSS samples per run, about (one every N / SAMPLES results, at least every 1,000).
SAMPLES = 200
MAX_GROWTH_MB = 64.0  # at the largest N
MAX_PEAK_RATIO = 1.10  # peak RSS at the largest N over peak RSS at the smallest

FULL = {"sizes": [100_000, 1_000_000], "warmup_calls": 5_000}
QUICK = {"sizes": [2_000, 8_000], "warmup_calls": 500}


# --- the client (a child process) ----------------------------------------------------------


def _ids(n: int) -> Iterator[uuid.UUID]:
    return (uuid.UUID(int=i) for i in range(n))


async def _stream(base_url: str, n: int, warmup: int) -> Json:
    import asyncsdk

    every = max(1_000, n // SAMPLES)
    samples: list[list[int]] = []
    failed = done = 0
    baseline = maxrss_warmup = 0
    started = time.perf_counter()
    warm = started
    async with asyncsdk.Client(access_key=ACCESS_KEY, base_url=base_url) as client:
        stream = asyncsdk.iter_calls(
            client, WORKSPACE_ID, CHANNEL_ID, _ids(n), concurrency=CONCURRENCY
        )
        async with contextlib.aclosing(stream):
            async for result in stream:
                failed += result.error is not None
                done += 1
                if done == warmup:
                    baseline, maxrss_warmup = h.rss_kb(), h.maxrss_kb()
                    samples.append([done, baseline])
                    warm = time.perf_counter()
                elif done > warmup and done % every == 0:
                    samples.append([done, h.rss_kb()])
        ended = time.perf_counter()
        stats = client.stats
    final, maxrss_end = h.rss_kb(), h.maxrss_kb()
    samples.append([done, final])
    if done != n or failed or stats.failed or stats.retries or stats.throttled:
        raise RuntimeError(f"expected {n} successes, got {done} results, {failed} failed: {stats}")
    peak_sampled = max(rss for _, rss in samples)
    # The high-water mark counts only if it rose after the warm-up: start-up peaks do not.
    peak = max(peak_sampled, maxrss_end if maxrss_end > maxrss_warmup else 0)
    return {
        "calls": n,
        "warmup_calls": warmup,
        "baseline_rss_kb": baseline,
        "peak_rss_kb": peak,
        "peak_sampled_rss_kb": peak_sampled,
        "final_rss_kb": final,
        "maxrss_after_warmup_kb": maxrss_warmup,
        "maxrss_end_kb": maxrss_end,
        "growth_kb": peak - baseline,
        "seconds": ended - started,
        "calls_per_s": (n - warmup) / (ended - warm),
        "rss_samples_kb": samples,
    }


def _worker(argv: list[str]) -> None:
    cpus = pin(CLIENT_CPU)
    result = asyncio.run(_stream(argv[0], int(argv[1]), int(argv[2])))
    print(json.dumps({**result, "cpus": cpus}))


# --- the scenario (parent process) ---------------------------------------------------------


def _mb(kb: float) -> float:
    return kb / 1024


def run(*, quick: bool = False) -> Json:
    params = dict(QUICK if quick else FULL)
    sizes: list[int] = sorted(params["sizes"])
    warmup = int(params["warmup_calls"])
    runs: dict[int, Json] = {}
    with CannedServer(cpu=SERVER_CPU) as server:
        for n in sizes:
            runs[n] = run_json(
                "benchmarks.bulk_memory",
                [server.base_url, str(n), str(warmup)],
                timeout=3600,
            )
        server_cpus = server.cpus
    small, large = runs[sizes[0]], runs[sizes[-1]]

    in_mb = ("baseline_rss", "peak_rss", "growth", "final_rss", "maxrss_after_warmup", "maxrss_end")
    results: Json = {
        f"n_{n}": {"calls": n}
        | {f"{key}_mb": round(_mb(r[f"{key}_kb"]), 2) for key in in_mb}
        | {"calls_per_s": round(r["calls_per_s"], 1), "seconds": round(r["seconds"], 2)}
        | {"rss_samples_kb": r["rss_samples_kb"]}
        for n, r in runs.items()
    }
    peak_ratio = large["peak_rss_kb"] / small["peak_rss_kb"]
    ratios: Json = {
        f"peak_rss n_{sizes[-1]}/n_{sizes[0]}": round(peak_ratio, 4),
        f"calls n_{sizes[-1]}/n_{sizes[0]}": sizes[-1] / sizes[0],
    }
    baseline_large = _mb(large["baseline_rss_kb"])
    targets = [
        h.target(
            f"peak RSS at N={sizes[-1]:,}, MB <= RSS after warm-up "
            f"({baseline_large:.1f}) + {MAX_GROWTH_MB:.0f}",
            _mb(large["peak_rss_kb"]),
            "<=",
            round(baseline_large + MAX_GROWTH_MB, 1),
            f"VmRSS after {warmup:,} warm-up calls vs the highest VmRSS sampled after "
            "it (and VmHWM, if it rose after the warm-up)",
        ),
        h.target(
            f"peak RSS at N={sizes[-1]:,} / at N={sizes[0]:,} <= {MAX_PEAK_RATIO}",
            peak_ratio,
            "<=",
            MAX_PEAK_RATIO,
            f"{sizes[-1] // sizes[0]}x the IDs; flat memory keeps the ratio near 1",
        ),
    ]
    slope = (large["growth_kb"] - small["growth_kb"]) * 1024 / (sizes[-1] - sizes[0])
    columns = ("baseline_rss_mb", "peak_rss_mb", "growth_mb", "calls_per_s", "seconds")
    rows = [[f"{n:,}", *(h.fmt(results[f"n_{n}"][c]) for c in columns)] for n in sizes]
    return h.make_result(
        scenario=NAME,
        title=TITLE,
        description=(
            f"Resident memory of a client process streaming N call IDs from a generator "
            f"through iter_calls at concurrency {CONCURRENCY}, discarding each result, "
            "against a canned loopback server in another process; one fresh client process "
            "per N. Memory that stays flat as N grows 10x means nothing is kept per ID."
        ),
        parameters={
            "sizes": ", ".join(f"{n:,}" for n in sizes),
            "warmup_calls": warmup,
            "concurrency": CONCURRENCY,
            "fixture_bytes": FIXTURE.stat().st_size,
            "server_cpus": str(server_cpus),
            "client_cpus": str(large["cpus"]),
        },
        results=results,
        ratios=ratios,
        targets=targets,
        tables=[
            h.table(
                "Client resident memory (MB) and throughput per N",
                (
                    "IDs (N)",
                    "baseline RSS after warm-up",
                    "peak RSS",
                    "growth",
                    "calls/s",
                    "seconds",
                ),
                rows,
            ),
        ],
        chart=_chart(results, sizes),
        notes=[
            f"Growth difference between N={sizes[-1]:,} and N={sizes[0]:,}: "
            f"{h.fmt(_mb(large['growth_kb'] - small['growth_kb']))} MB, "
            f"{slope:+.2f} bytes per extra ID; a leak of one small object per ID would show "
            "as tens of bytes or more.",
            "RSS is sampled from /proc/self/status every "
            f"max(1,000, N/{SAMPLES}) results; every sample is in the JSON "
            "(rss_samples_kb: [results so far, kB]). calls/s is over the calls after the "
            "warm-up, with the default Client (adaptive limiter, retries), one process on one "
            "core, the canned server on the other.",
        ],
    )


def _chart(results: Json, sizes: list[int]) -> Json:
    bars: Json = {}
    for n in sizes:
        r = results[f"n_{n}"]
        bars[f"N={n:,}: RSS after warm-up"] = {"median": r["baseline_rss_mb"]}
        bars[f"N={n:,}: peak RSS"] = {"median": r["peak_rss_mb"]}
    return {
        "title": "iter_calls client resident set per N, after warm-up and peak (MB)",
        "xlabel": "resident set, MB",
        "groups": {"RSS": bars},
    }


if __name__ == "__main__":
    h.scenario_main(run, _worker)
