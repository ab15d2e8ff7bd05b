"""Scenario ``ratelimit``: how much of a server's rate limit the client turns into calls.

The embedded Bird API server runs in its own process (so it never shares the client's event
loop), limiting the account to ``R`` requests per second with a bucket of 10, and adding
30 ms to every answer. The parent fetches the same calls at concurrency 64 with one
`asyncsdk.Client` per run, and a fresh server per run, so the server's bucket starts full:

* ``configured`` -- ``Client(rate_limit=R)``: the caller knows the limit;
* ``adaptive`` -- ``Client(rate_limit=None)``; the server states its limit in every answer
  (``RateLimit-Policy: R;w=1``) and the adaptive limiter adopts it;
* ``adaptive_no_policy`` -- the same client, but the server states nothing
  (``--no-policy-header``): the limiter must discover the rate from 429s (CUBIC);
* ``no_limiter`` -- ``RateLimit(rate=None, adaptive=False)``: for context, only the retries
  and their ``Retry-After`` pauses hold the client back.

Measured per run: wall time from the first request to the last response; successful calls
per second over that time (and over the second half of the successes, the steady state);
HTTP attempts, 429 answers and retries from ``client.stats``, cross-checked against the
server's own counters, which the server process prints when it stops.

The server process is `benchmarks._serverproc`: the same options and
`asyncsdk.server.serve` loop as ``python -m asyncsdk.server``, plus one JSON line of
`ServerStats` on shutdown, and without per-request recording.
"""

from __future__ import annotations

import asyncio
import functools
import statistics
import time
import uuid
from collections import Counter

from benchmarks import _harness as h
from benchmarks._harness import Json
from benchmarks._lab import against
from benchmarks._serverproc import ServerProcess

NAME = "ratelimit"
TITLE = "Rate-limit utilisation"

NO_POLICY = ("--no-policy-header",)
#: mode -> (label, extra server options, client rate_limit argument as a string)
MODES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "configured": ("configured: Client(rate_limit=R)", (), "R"),
    "adaptive": ("adaptive, server states RateLimit-Policy", (), "None"),
    "adaptive_no_policy": ("adaptive, no policy header (CUBIC discovery)", NO_POLICY, "None"),
    "no_limiter": ("no limiter: RateLimit(rate=None, adaptive=False)", (), "off"),
}
#: mode -> (minimum achieved/R, maximum 429 share in %); modes absent have no target.
TARGETS: dict[str, tuple[float, float]] = {"configured": (0.97, 0.5), "adaptive": (0.85, 5.0)}
#: The no-header case is reported against the adaptive target too, marked as the harder case.
HARDER_CASE = "adaptive_no_policy"

RATE = 200.0
SERVER = {"burst": 10, "latency_s": 0.03, "dataset_size": 5000}
CLIENT = {"concurrency": 64, "max_retries": 3}
FULL = {"calls": 3000, "repeats": 3}
QUICK = {"calls": 300, "repeats": 1}

ACCESS_KEY = "benchmark-key"
#: What each run reports, summarized over the runs of a mode.
SUMMARIZED = (
    *("wall_s", "achieved_per_s", "achieved_over_r", "steady_over_r", "attempts"),
    *("throttled", "retries", "share_429_pct", "failed", "limiter_wait_s"),
)


# --- the client (this process) -----------------------------------------------------------


async def _fetch(server: ServerProcess, mode: str, calls: int) -> Json:
    import asyncsdk
    from asyncsdk.server import Dataset

    dataset = Dataset(size=SERVER["dataset_size"])
    if (dataset.workspace_id, dataset.channel_id) != (server.workspace_id, server.channel_id):
        raise RuntimeError("the server's dataset differs from the one the ids come from")
    call_ids = list(dataset.call_ids[:calls])

    rate_limit: float | asyncsdk.RateLimit | None
    kind = MODES[mode][2]
    if kind == "R":
        rate_limit = RATE
    elif kind == "off":
        rate_limit = asyncsdk.RateLimit(rate=None, adaptive=False)
    else:
        rate_limit = None
    client = asyncsdk.Client(
        access_key=ACCESS_KEY,
        base_url=server.base_url,
        rate_limit=rate_limit,
        max_retries=CLIENT["max_retries"],
    )
    semaphore = asyncio.Semaphore(CLIENT["concurrency"])
    done_at: list[float] = []

    async def one(call_id: uuid.UUID) -> asyncsdk.Call:
        async with semaphore:
            call = await client.get_call(server.workspace_id, server.channel_id, call_id)
            done_at.append(time.perf_counter())
            return call

    async with client:
        start = time.perf_counter()
        outcomes = await asyncio.gather(*(one(c) for c in call_ids), return_exceptions=True)
        wall = time.perf_counter() - start
    errors = Counter(type(o).__name__ for o in outcomes if isinstance(o, BaseException))
    stats = client.stats
    succeeded = len(outcomes) - sum(errors.values())
    if succeeded != stats.succeeded or len(done_at) != succeeded:
        raise RuntimeError(f"{mode}: {succeeded} calls returned, stats say {stats.succeeded}")
    # Steady state: the second half of the successes, over the time they took.
    half = done_at[len(done_at) // 2 :]
    steady = (len(half) - 1) / (half[-1] - half[0]) if len(half) > 1 else 0.0
    limiter_rate = getattr(client.limiter, "rate", None)
    return {
        "wall_s": wall,
        "succeeded": succeeded,
        "failed": stats.failed,
        "errors": dict(errors),
        "achieved_per_s": succeeded / wall,
        "achieved_over_r": succeeded / wall / RATE,
        "steady_over_r": steady / RATE,
        "attempts": stats.attempts,
        "throttled": stats.throttled,
        "retries": stats.retries,
        "share_429_pct": 100.0 * stats.throttled / stats.attempts if stats.attempts else 0.0,
        "limiter_wait_s": stats.limiter_wait.total,
        "final_limiter_rate": limiter_rate if isinstance(limiter_rate, float) else 0.0,
    }


def _one_run(mode: str, calls: int) -> Json:
    options = [
        *("--rate-limit", f"{RATE:g}", "--burst", str(SERVER["burst"])),
        *("--latency", str(SERVER["latency_s"])),
        *MODES[mode][1],
    ]
    fetch = functools.partial(_fetch, mode=mode, calls=calls)
    run, seen = against(options, int(SERVER["dataset_size"]), fetch, access_key=ACCESS_KEY)
    run["server"] = seen
    if seen["requests"] != run["attempts"] or seen["throttled"] != run["throttled"]:
        raise RuntimeError(f"{mode}: client and server counts differ: {run} vs {seen}")
    return run


# --- the scenario ----------------------------------------------------------------------


def run(*, quick: bool = False) -> Json:
    params = dict(QUICK if quick else FULL)
    calls, repeats = params["calls"], params["repeats"]
    runs: dict[str, list[Json]] = {mode: [] for mode in MODES}
    for _ in range(repeats):
        for mode in MODES:  # modes interleaved, so a slow spell hits each alike
            runs[mode].append(_one_run(mode, calls))

    results: Json = {}
    for mode, samples in runs.items():
        summary = {key: h.summarize([float(s[key]) for s in samples]) for key in SUMMARIZED}
        results[mode] = {"label": MODES[mode][0], **summary, "runs": samples}

    targets = []
    for mode, (min_ratio, max_share) in TARGETS.items():
        targets += _targets(mode, results[mode], min_ratio, max_share, repeats, "")
    min_ratio, max_share = TARGETS["adaptive"]
    targets += _targets(
        HARDER_CASE,
        results[HARDER_CASE],
        min_ratio,
        max_share,
        repeats,
        " (the harder case: the adaptive target applied without the policy header)",
    )

    return h.make_result(
        scenario=NAME,
        title=TITLE,
        description=(
            f"Calls per second a client gets from a server limiting it to R = {RATE:g} "
            f"requests/s (bucket of {SERVER['burst']}, {SERVER['latency_s'] * 1000:g} ms per "
            f"answer), fetching {calls:,} calls at concurrency {CLIENT['concurrency']} with "
            f"max_retries={CLIENT['max_retries']}. The server runs in its own process, "
            "fresh for every run; the client in the benchmark's process."
        ),
        parameters={
            **params,
            "rate_limit_r": RATE,
            **{f"server_{k}": v for k, v in SERVER.items()},
            **CLIENT,
            "modes": {mode: label for mode, (label, _, _) in MODES.items()},
        },
        results=results,
        ratios={mode: results[mode]["achieved_over_r"] for mode in MODES},
        targets=targets,
        tables=_tables(results),
        chart={
            "title": f"Successful calls per second / R (R = {RATE:g}/s; median, bars min-max)",
            "xlabel": "achieved rate / R",
            "groups": {"": {results[m]["label"]: results[m]["achieved_over_r"] for m in MODES}},
        },
        notes=_notes(results, repeats),
    )


def _targets(
    mode: str, result: Json, min_ratio: float, max_share: float, repeats: int, suffix: str
) -> list[Json]:
    basis = f"median of {repeats} run(s), each against a fresh server{suffix}"
    share = result["share_429_pct"]["median"]
    return [
        h.target(
            f"{mode}: achieved/R >= {min_ratio}",
            result["achieved_over_r"]["median"],
            ">=",
            min_ratio,
            basis,
        ),
        # Stated as the share of answers that were not 429, so that it is positive.
        h.target(
            f"{mode}: 429 share <= {max_share} % (answers not 429 >= {100 - max_share} %)",
            100.0 - share,
            ">=",
            100.0 - max_share,
            basis,
        ),
    ]


def _tables(results: Json) -> list[Json]:
    rows = []
    for r in results.values():
        errors: Counter[str] = Counter()
        for one in r["runs"]:
            errors.update(one["errors"])
        ranges = [h.fmt_range(r[key]) for key in ("achieved_over_r", "steady_over_r")]
        ranges += [h.fmt_range(r[key]) for key in ("achieved_per_s", "wall_s", "share_429_pct")]
        rows.append(
            [
                r["label"],
                *ranges,
                h.fmt_range(r["attempts"], digits=4),
                h.fmt_range(r["retries"]),
                ", ".join(f"{k} {v}" for k, v in sorted(errors.items())) or "0",
            ]
        )
    columns = ("mode", "achieved / R", "steady state / R", "calls/s", "wall s", "429 share %")
    columns += ("HTTP attempts", "retries", "failed calls (all runs)")
    return [h.table("Per mode, median (min-max) over runs", columns, rows)]


def _notes(results: Json, repeats: int) -> list[str]:
    first = results["adaptive_no_policy"]["runs"][0]
    return [
        "Achieved rate counts successful calls only, over the wall time from the first "
        "request to the last response. 'Steady state' is the rate over the second half of "
        "the successes, leaving out the start-up.",
        "Client and server counts agree in every run: HTTP attempts equal the requests the "
        "server received, and 429s counted by the client equal the server's.",
        "The server answers a 429 with `Retry-After` in whole seconds (at least 1), and the "
        "client pauses every request for that long: each throttling episode costs about a "
        "second of sending.",
        f"The no-header adaptive case is the harder one: its first run ended with the limiter "
        f"at {h.fmt(first['final_limiter_rate'])} requests/s after {first['throttled']} 429s.",
        f"Repeats: {repeats} per mode, modes interleaved, a fresh server process each.",
        f"Median wall time of the configured mode: "
        f"{statistics.median(r['wall_s'] for r in results['configured']['runs']):.2f} s.",
    ]


if __name__ == "__main__":
    h.scenario_main(run)
