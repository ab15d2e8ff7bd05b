"""Scenario ``redis_limiter``: what sharing one rate through Redis costs, and how exact it is.

Two measurements, against a ``redis-server`` this scenario starts on a free loopback port
(persistence off) and stops:

* **cost of one acquire** -- `asyncsdk.ratelimit.fleet.RedisRateLimiter` against the local
  `asyncsdk.ratelimit.TokenBucketLimiter`, both at a rate too high to ever wait, so only
  the limiter's own work is timed: ``sequential`` (one task, acquire after acquire: one
  Redis round trip each) and ``concurrent`` (64 tasks at once: one Redis call serves up
  to ``MAX_BATCH`` waiters). Rounds alternate local/Redis in this process.
* **aggregate accuracy** -- 2, 4 and 8 worker processes (``python -m
  benchmarks.redis_limiter --worker``), each with one `asyncsdk.Client` and its own
  `RedisRateLimiter` on one key, fetch calls from the embedded server (its own process,
  limiting the account to the same rate with a bucket of 20) with 8 tasks each, for a
  few seconds after a common start. Measured from the workers' grant times: granted
  requests per second over the steady window (the first and last half second dropped)
  divided by the shared rate, the busiest whole second, and 429 answers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from collections.abc import Sequence

from benchmarks import _harness as h
from benchmarks._harness import Json
from benchmarks._procs import Announced, run_together, wait_for_go
from benchmarks._redis import RedisServer

NAME = "redis_limiter"
TITLE = "Redis rate limiter: acquire cost and fleet accuracy"

ACCESS_KEY = "benchmark-key"
#: The shared rate of the accuracy runs, requests/s, and the limiter's burst.
RATE = 200.0
BURST = 5
SERVER_BURST = 20
PROCESS_COUNTS = (2, 4, 8)
TASKS_PER_PROCESS = 8
FULL = {"acquires": 20_000, "rounds": 5, "seconds": 5.0, "repeats": 2}
QUICK = {"acquires": 2_000, "rounds": 2, "seconds": 2.0, "repeats": 1}
#: A smoke run's fleets: the first two of `PROCESS_COUNTS` (eight processes starting at
#: once cost most of its time on a small machine).
QUICK_FLEETS = 2
CONCURRENT_TASKS = 64
#: Seconds dropped at each end of a run before the rate is measured.
EDGE = 0.5
STARTUP_TIMEOUT = 60.0


# --- acquire cost ------------------------------------------------------------------------


async def _acquire_cost(redis_url: str, acquires: int, rounds: int) -> Json:
    from asyncsdk.ratelimit import TokenBucketLimiter
    from asyncsdk.ratelimit.fleet import RedisRateLimiter

    huge = 1e9  # never waits: only the limiter's own work is timed

    async def sequential(limiter: TokenBucketLimiter | RedisRateLimiter, n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            await limiter.acquire()
        return (time.perf_counter() - start) / n * 1e6

    async def concurrent(limiter: TokenBucketLimiter | RedisRateLimiter, n: int) -> float:
        per_task = n // CONCURRENT_TASKS

        async def task() -> None:
            for _ in range(per_task):
                await limiter.acquire()

        start = time.perf_counter()
        await asyncio.gather(*(task() for _ in range(CONCURRENT_TASKS)))
        return (time.perf_counter() - start) / (per_task * CONCURRENT_TASKS) * 1e6

    samples: dict[str, list[float]] = {
        f"{kind}_{how}": [] for kind in ("local", "redis") for how in ("sequential", "concurrent")
    }
    redis_limiter = RedisRateLimiter(redis_url, rate=huge, burst=1_000_000, key="bench-cost")
    try:
        await redis_limiter.acquire()  # connect and load the script outside the timing
        for _ in range(rounds):
            local = TokenBucketLimiter(huge, burst=1_000_000, adaptive=False)
            for how, measure in (("sequential", sequential), ("concurrent", concurrent)):
                samples[f"local_{how}"].append(await measure(local, acquires))
                samples[f"redis_{how}"].append(await measure(redis_limiter, acquires // 4))
    finally:
        await redis_limiter.aclose()
    return {name: h.summarize(values) for name, values in samples.items()} | {
        f"ratio_{how}": h.paired_ratio(samples[f"redis_{how}"], samples[f"local_{how}"])
        for how in ("sequential", "concurrent")
    }


# --- fleet accuracy ------------------------------------------------------------------------


def _worker(argv: Sequence[str]) -> None:
    """One fleet process: wait for the go line, fetch for ``seconds``, print grants as JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.redis_limiter --worker")
    parser.add_argument("--redis", required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--offset", type=int, default=0)
    ns = parser.parse_args(argv)

    from asyncsdk import BirdError, Client
    from asyncsdk.ratelimit.fleet import RedisRateLimiter
    from asyncsdk.server import Dataset

    dataset = Dataset(2000)
    ids = list(dataset.call_ids)
    grants: list[float] = []
    outcomes: Counter[str] = Counter()

    class Recording(RedisRateLimiter):
        __slots__ = ()

        async def acquire(self) -> None:
            await super().acquire()
            grants.append(time.time())

    async def main() -> None:
        limiter = Recording(ns.redis, rate=RATE, burst=BURST, key=ns.key)
        end = time.time() + ns.seconds
        async with Client(access_key=ACCESS_KEY, base_url=ns.base_url, limiter=limiter) as client:

            async def loop(task: int) -> None:
                n = ns.offset + task
                while time.time() < end:
                    n += TASKS_PER_PROCESS
                    try:
                        await client.get_call(
                            dataset.workspace_id, dataset.channel_id, ids[n % len(ids)]
                        )
                        outcomes["ok"] += 1
                    except BirdError as exc:
                        outcomes[type(exc).__name__] += 1

            await asyncio.gather(*(loop(i) for i in range(TASKS_PER_PROCESS)))
        await limiter.aclose()

    wait_for_go()
    asyncio.run(main())
    print(json.dumps({"grants": grants, "outcomes": dict(outcomes)}), flush=True)


def _fleet_run(redis_url: str, base_url: str, processes: int, seconds: float, run: int) -> Json:
    argvs = [
        [
            *("--redis", redis_url, "--base-url", base_url, "--key", f"fleet-{processes}-{run}"),
            *("--seconds", str(seconds), "--offset", str(i * 250)),
        ]
        for i in range(processes)
    ]
    go, results = run_together("benchmarks.redis_limiter", argvs, timeout=seconds + STARTUP_TIMEOUT)
    grants = sorted(t for r in results for t in r["grants"])
    steady = [t for t in grants if go + EDGE <= t < go + seconds - EDGE]
    per_second = [sum(1 for t in grants if go + k <= t < go + k + 1) for k in range(int(seconds))]
    outcomes: Counter[str] = Counter()
    for r in results:
        outcomes.update(r["outcomes"])
    shares = [len(r["grants"]) / max(len(grants), 1) for r in results]
    return {
        "accuracy": len(steady) / (seconds - 2 * EDGE) / RATE,
        "busiest_second": max(per_second),
        "throttled": outcomes.get("RateLimitError", 0),
        "outcomes": dict(outcomes),
        "share_min_max": [round(min(shares), 3), round(max(shares), 3)],
    }


def run(*, quick: bool = False) -> Json:
    params = QUICK if quick else FULL
    counts = PROCESS_COUNTS[:QUICK_FLEETS] if quick else PROCESS_COUNTS
    redis = RedisServer()
    try:
        cost = asyncio.run(_acquire_cost(redis.url, params["acquires"], params["rounds"]))
        argv = ["--port", "0", "--access-key", ACCESS_KEY, "--size", "2000"]
        argv += ["--rate-limit", f"{RATE:g}", "--burst", str(SERVER_BURST)]
        with Announced("asyncsdk.server", argv) as server:
            fleet: Json = {}
            for n in counts:
                runs = [
                    _fleet_run(redis.url, server.base_url, n, params["seconds"], r)
                    for r in range(params["repeats"])
                ]
                fleet[str(n)] = {
                    "accuracy": h.summarize([r["accuracy"] for r in runs]),
                    "busiest_second": max(r["busiest_second"] for r in runs),
                    "throttled": sum(r["throttled"] for r in runs),
                    "runs": runs,
                }
    finally:
        redis.stop()
    return h.make_result(
        scenario=NAME,
        title=TITLE,
        description=(
            "Cost of one RedisRateLimiter.acquire against the local TokenBucketLimiter "
            "(loopback Redis, no waiting), and the aggregate granted rate of "
            f"{', '.join(map(str, counts[:-1]))} and {counts[-1]} processes sharing "
            f"{RATE:g} requests/s through one Redis key."
        ),
        parameters=params
        | dict(
            rate=RATE, burst=BURST, server_burst=SERVER_BURST, tasks_per_process=TASKS_PER_PROCESS
        )
        | dict(concurrent_tasks=CONCURRENT_TASKS, process_counts=list(counts)),
        results={"acquire_cost_us": cost, "fleet": fleet},
        ratios={
            f"redis_vs_local_{how}": cost[f"ratio_{how}"] for how in ("sequential", "concurrent")
        },
        targets=_targets(fleet),
        tables=_tables(cost, fleet),
        notes=_notes(params),
    )


def _targets(fleet: Json) -> list[Json]:
    basis = "granted/s over the steady window / shared rate, worst run"
    return [
        h.target(f"{n} processes {op} {bound}", row["accuracy"][worst], op, bound, basis)
        for n, row in fleet.items()
        for worst, op, bound in (("min", ">=", 0.95), ("max", "<=", 1.02))
    ]


def _tables(cost: Json, fleet: Json) -> list[Json]:
    limiters = {
        "local": "TokenBucketLimiter (local)",
        "redis": "RedisRateLimiter (loopback Redis)",
        "ratio": "Redis / local",
    }

    def cost_cell(limiter: str, how: str) -> str:
        if limiter == "ratio":
            return h.fmt_ratio(cost[f"ratio_{how}"])
        return h.fmt_range(cost[f"{limiter}_{how}"])

    fleet_rows = [
        [
            n,
            "{median:.3f} ({min:.3f}-{max:.3f})".format(**row["accuracy"]),
            h.fmt(row["busiest_second"]),
            h.fmt(row["throttled"]),
        ]
        for n, row in fleet.items()
    ]
    return [
        h.grid(
            "Cost of one acquire, microseconds (median (min-max) over rounds)",
            "limiter",
            limiters,
            {
                "sequential": "sequential, 1 task",
                "concurrent": f"concurrent, {CONCURRENT_TASKS} tasks",
            },
            cost_cell,
        ),
        h.table(
            f"Processes sharing {RATE:g}/s (burst {BURST}) through one Redis key",
            ["processes", "granted rate / shared rate", "busiest second", "429s"],
            fleet_rows,
        ),
    ]


def _notes(params: Json) -> list[str]:
    return [
        "Redis runs on the same machine (loopback); across a network each acquire costs "
        "one more network round trip, and only the first waiter of a process pays it.",
        f"Each accuracy run lasts {params['seconds']:g} s; the first and last {EDGE:g} s "
        "are left out (start-up and the tail of in-flight requests).",
        f"The busiest second may reach burst + rate = {BURST + RATE:g} (timer lateness can "
        "add one); the server's own bucket of the same rate answers 429 only beyond that.",
        "All processes, Redis and the API server share the machine's cores.",
    ]


if __name__ == "__main__":
    h.scenario_main(run, _worker)
