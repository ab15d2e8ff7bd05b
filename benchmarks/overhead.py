"""Scenario ``overhead``: what the limiter and the retry wrapper cost a call that succeeds.

Two measurements, each in a fresh client process:

* **micro** -- one event loop timing, per call, ``await fn()`` for a trivial
  ``async def fn(): return 1`` (the baseline), an uncontended round trip of a
  ``TokenBucketLimiter`` around it (``acquire``, then ``on_success`` with a response's
  headers: every grant is answered, as the protocol requires) for a fixed rate of 1e9/s
  and for the default (rate ``None``, adaptive), ``Retrier.run(fn)``, and all composed as
  the client composes them (``Retrier.run`` of a ``functools.partial`` that acquires,
  awaits ``fn`` and reports success). The default limiter starts at four requests per
  round trip and doubles every 0.2 s while it is kept busy; it is first driven for
  ``micro_warmup`` seconds so that the samples measure its steady state, not its startup
  pacing (which the end-to-end run includes). Rounds interleave the variants; each
  sample is calibrated to a fixed duration.
* **end to end** -- sequential ``client.get_call`` against a canned HTTP/1.1 server in its
  own process (a raw `asyncio.Protocol` answering every request on a keep-alive
  connection at once with ``tests/fixtures/call_realistic.json``), against a "bare" path
  over the same aiohttp session: ``_protocol.call_path``, ``_transport.get`` with the
  client's own arguments, then ``_protocol.decode_call`` -- the client's attempt without
  the limiter, the retrier and the counters. Rounds alternate which path goes first. Wall
  time and the client process's CPU time (``time.process_time``) per call are reported.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable

from benchmarks import _harness as h
from benchmarks._canned import ACCESS_KEY, CALL_ID, CHANNEL_ID, FIXTURE, WORKSPACE_ID, CannedServer
from benchmarks._harness import Json
from benchmarks._procs import run_json

NAME = "overhead"
TITLE = "Cost of the resilience machinery on the success path"

#: micro variant -> label
MICRO: dict[str, str] = {
    "bare": "await fn()",
    "acquire_fixed": "acquire() + on_success(headers) [rate 1e9/s, fixed] + await fn()",
    "limiter_round_trip": "acquire() + on_success(headers) [default] + await fn()",
    "retrier": "Retrier.run(fn)",
    "both": "Retrier.run(partial(acquire + fn + on_success)) [default], as in the client",
}
#: end-to-end path -> label
E2E: dict[str, str] = {
    "client": "client.get_call (limiter + retrier)",
    "bare": "bare: call_path + _transport.get + decode_call",
}
MAX_OVERHEAD = 0.05  # of the bare request's time

FULL = dict(micro_rounds=15, micro_seconds=0.1, micro_warmup=3.0, e2e_rounds=20, e2e_calls=1000)
QUICK = dict(micro_rounds=3, micro_seconds=0.01, micro_warmup=0.5, e2e_rounds=3, e2e_calls=100)
E2E_WARMUP_CALLS = 200


# --- micro (a child process) ---------------------------------------------------------------


async def _fn() -> int:
    return 1


async def _micro(rounds: int, seconds: float, warmup: float) -> Json:
    from multidict import CIMultiDict, CIMultiDictProxy

    from asyncsdk import RetryPolicy, TokenBucketLimiter
    from asyncsdk.retry import Retrier, RetryBudget

    policy = RetryPolicy()
    retrier = Retrier(policy, RetryBudget(policy.budget))
    default = TokenBucketLimiter(None)
    fixed = TokenBucketLimiter(1e9, adaptive=False)
    # The canned server's response headers: no rate-limit headers, as from an unlimited API.
    headers = CIMultiDictProxy(
        CIMultiDict({"Content-Type": "application/json", "Content-Length": "2949"})
    )
    # A client's first request probes alone until its response; then startup doubles the
    # rate while it is kept busy: drive it to its steady state first.
    until = time.perf_counter() + warmup
    while time.perf_counter() < until:
        await default.acquire()
        default.on_success(headers)

    async def attempt(limiter: TokenBucketLimiter) -> int:
        await limiter.acquire()
        result = await _fn()
        limiter.on_success(headers)
        return result

    async def bare(n: int) -> None:
        for _ in range(n):
            await _fn()

    def round_trip(limiter: TokenBucketLimiter) -> Callable[[int], Awaitable[None]]:
        async def loop(n: int) -> None:
            for _ in range(n):
                await limiter.acquire()
                await _fn()
                limiter.on_success(headers)

        return loop

    async def retried(n: int) -> None:
        for _ in range(n):
            await retrier.run(_fn, deadline=None)

    async def both(n: int) -> None:
        for _ in range(n):
            await retrier.run(functools.partial(attempt, default), deadline=None)

    loops: dict[str, Callable[[int], Awaitable[None]]] = {
        "bare": bare,
        "acquire_fixed": round_trip(fixed),
        "limiter_round_trip": round_trip(default),
        "retrier": retried,
        "both": both,
    }

    async def timed(key: str, n: int) -> float:
        start = time.perf_counter()
        await loops[key](n)
        return time.perf_counter() - start

    counts = {}
    for key in loops:
        n = 1
        while (elapsed := await timed(key, n)) < seconds / 5:
            n *= 2
        counts[key] = max(1, round(n * seconds / elapsed))
    samples: dict[str, list[float]] = {key: [] for key in loops}
    for order in h.interleaved(loops, rounds):
        for key in order:
            samples[key].append(await timed(key, counts[key]) / counts[key] * 1e9)
    return {"ns_per_call": samples, "loops_per_sample": counts}


# --- end to end (a child process) ----------------------------------------------------------


async def _e2e(port: int, rounds: int, calls: int) -> Json:
    import aiohttp
    from yarl import URL

    from asyncsdk import Client, Timeout, _protocol, _transport
    from asyncsdk.config import DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_RESPONSE_BYTES

    timeout = Timeout()
    client_timeout = aiohttp.ClientTimeout(
        total=timeout.total, sock_connect=timeout.connect, sock_read=timeout.read
    )
    # The session the client would build for itself, shared by both paths.
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=DEFAULT_MAX_CONNECTIONS, ttl_dns_cache=300),
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=client_timeout,
    )
    client = Client(
        access_key=ACCESS_KEY, base_url=f"http://127.0.0.1:{port}", session=session, timeout=timeout
    )
    headers = dict(client._engine.settings.headers)  # the exact headers the client sends
    base = URL(client.base_url, encoded=True)

    async def bare_call() -> object:
        # the URL built as the client builds it: the parsed base with its path replaced
        url = base.with_path(_protocol.call_path(WORKSPACE_ID, CHANNEL_ID, CALL_ID), encoded=True)
        resp = await _transport.get(
            session,
            url,
            headers=headers,
            client_timeout=client_timeout,
            max_bytes=DEFAULT_MAX_RESPONSE_BYTES,
        )
        if 200 <= resp.status < 300:
            return _protocol.decode_call(resp.body, url=url)
        raise _protocol.api_error(
            resp.status, resp.headers, resp.body, url=str(url), reason=resp.reason
        )

    async def client_call() -> object:
        return await client.get_call(WORKSPACE_ID, CHANNEL_ID, CALL_ID)

    paths: dict[str, Callable[[], Awaitable[object]]] = {"client": client_call, "bare": bare_call}

    async def timed(key: str, n: int) -> tuple[float, float]:
        call = paths[key]
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(n):
            await call()
        return time.perf_counter() - wall, time.process_time() - cpu

    wall: dict[str, list[float]] = {key: [] for key in paths}
    cpu: dict[str, list[float]] = {key: [] for key in paths}
    async with session, client:
        first = await client_call()
        if first != await bare_call():
            raise RuntimeError("the two paths decoded different calls")
        for key in paths:
            await timed(key, E2E_WARMUP_CALLS)
        for order in h.interleaved(paths, rounds):
            for key in order:
                w, c = await timed(key, calls)
                wall[key].append(w / calls * 1e6)
                cpu[key].append(c / calls * 1e6)
        stats = client.stats
    if stats.failed or stats.retries or stats.throttled:
        raise RuntimeError(f"the client did not only succeed: {stats}")
    return {"us_per_call": wall, "cpu_us_per_call": cpu, "client_calls": stats.succeeded}


# --- the scenario (parent process) ---------------------------------------------------------


def run(*, quick: bool = False) -> Json:
    params = dict(QUICK if quick else FULL)
    micro = run_json(
        "benchmarks.overhead",
        ["micro", *(str(params[f"micro_{k}"]) for k in ("rounds", "seconds", "warmup"))],
    )
    with CannedServer() as server:
        e2e = run_json(
            "benchmarks.overhead",
            ["e2e", str(server.port), str(params["e2e_rounds"]), str(params["e2e_calls"])],
        )

    ns = micro["ns_per_call"]
    us, cpu = e2e["us_per_call"], e2e["cpu_us_per_call"]
    results: Json = {
        "micro": {key: {"label": MICRO[key], "ns_per_call": h.summarize(ns[key])} for key in MICRO},
        "end_to_end": {
            key: {"label": label, "us_per_call": h.summarize(us[key])}
            | {"cpu_us_per_call": h.summarize(cpu[key])}
            for key, label in E2E.items()
        },
    }
    ratios: Json = {
        "micro": {
            f"{key}/bare": h.paired_ratio(ns[key], ns["bare"]) for key in MICRO if key != "bare"
        },
        "end_to_end": {
            "client/bare": h.paired_ratio(us["client"], us["bare"]),
            "client/bare cpu": h.paired_ratio(cpu["client"], cpu["bare"]),
        },
    }
    client_us = results["end_to_end"]["client"]["us_per_call"]["median"]
    both_ns = results["micro"]["both"]["ns_per_call"]["median"]
    targets = [
        h.target(
            f"client/bare time per call <= {1 + MAX_OVERHEAD:.2f}",
            ratios["end_to_end"]["client/bare"]["median"],
            "<=",
            1 + MAX_OVERHEAD,
            "end to end, median of per-round ratios (overhead <= 5 % of the bare request)",
        ),
        h.target(
            "limiter + retrier (micro) <= 5 % of a client call, in %",
            100 * both_ns / (client_us * 1e3),
            "<=",
            100 * MAX_OVERHEAD,
            "micro 'both' ns per call (it includes the await of fn: an upper bound) "
            "over the end-to-end client us per call, medians",
        ),
    ]
    return h.make_result(
        scenario=NAME,
        title=TITLE,
        description=(
            "What the rate limiter and the retry wrapper add to a call that succeeds at once: "
            "in isolation (per await, one event loop) and end to end (sequential get_call "
            "against a canned loopback server in another process, against the same request "
            "sent and decoded without them)."
        ),
        parameters={
            **params,
            "e2e_warmup_calls": E2E_WARMUP_CALLS,
            "fixture_bytes": FIXTURE.stat().st_size,
            "micro_loops_per_sample": micro["loops_per_sample"],
        },
        results=results,
        ratios=ratios,
        targets=targets,
        tables=_tables(results, ratios),
        chart={
            "title": "get_call over loopback vs the bare request (us per call; bars min-max)",
            "xlabel": "microseconds per call",
            "groups": {
                "wall time": {E2E[k]: results["end_to_end"][k]["us_per_call"] for k in E2E},
                "client CPU": {E2E[k]: results["end_to_end"][k]["cpu_us_per_call"] for k in E2E},
            },
        },
        notes=[
            "Overheads are differences of medians and may be negative when the machinery "
            "costs less than the noise; the per-round ratios in the JSON pair each round's "
            "samples, which cancels slow drift on the shared machine.",
            "The bare path does everything the client's attempt does except wait on the "
            "limiter, go through the retrier and bump the counters; both share one aiohttp "
            "session and one keep-alive connection to the canned server.",
            "CPU time is the client process's own (time.process_time), per call; the canned "
            "server's CPU is not included.",
        ],
    )


def _diff(value: Json, base: Json) -> str:
    change = value["median"] - base["median"]
    return f"{h.fmt(change)} us ({100 * change / base['median']:+.1f} %)"


def _tables(results: Json, ratios: Json) -> list[Json]:
    micro, e2e = results["micro"], results["end_to_end"]
    bare_ns = micro["bare"]["ns_per_call"]["median"]
    micro_rows = [
        [
            r["label"],
            h.fmt_range(r["ns_per_call"]),
            "-" if key == "bare" else f"{h.fmt(r['ns_per_call']['median'] - bare_ns)} ns",
            "-" if key == "bare" else h.fmt_ratio(ratios["micro"][f"{key}/bare"]),
        ]
        for key, r in micro.items()
    ]
    metrics = ("us_per_call", "cpu_us_per_call")

    def over(key: str, metric: str) -> str:
        return "-" if key == "bare" else _diff(e2e[key][metric], e2e["bare"][metric])

    e2e_rows = [
        [r["label"], *(h.fmt_range(r[m]) for m in metrics), *(over(key, m) for m in metrics)]
        for key, r in e2e.items()
    ]
    return [
        h.table(
            "Micro: ns per call, median (min-max)",
            ["variant", "ns per call", "over await fn()", "ratio to await fn()"],
            micro_rows,
        ),
        h.table(
            "End to end: us per call, median (min-max)",
            ["path", "wall us", "client CPU us", "wall overhead", "CPU overhead"],
            e2e_rows,
        ),
        h.table(
            "End to end: per-round ratio client / bare, median (min-max)",
            ["wall time", "client CPU time"],
            [[h.fmt_ratio(ratios["end_to_end"][f"client/bare{s}"]) for s in ("", " cpu")]],
        ),
    ]


def _worker(argv: list[str]) -> None:
    import json

    if argv[0] == "micro":
        print(json.dumps(asyncio.run(_micro(int(argv[1]), float(argv[2]), float(argv[3])))))
    else:
        print(json.dumps(asyncio.run(_e2e(int(argv[1]), int(argv[2]), int(argv[3])))))


if __name__ == "__main__":
    h.scenario_main(run, _worker)
