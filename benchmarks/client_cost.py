"""Scenario ``client_cost``: client CPU per request, the SDK against hand-written loops.

A canned HTTP/1.1 server (`benchmarks._canned`: a raw `asyncio.Protocol` answering every
GET at once with ``tests/fixtures/call_realistic.json``) runs in its own process pinned to
CPU 0, so the client is the bottleneck. Each contender is a persistent worker process
pinned to CPU 1 that fetches the same N call IDs at concurrency 64:

* ``sdk`` -- `asyncsdk.gather_calls` on a default `asyncsdk.Client` (adaptive limiter and
  retries on; the server states no limit, so the limiter's first request probes alone,
  then startup paces from four requests per round trip, doubling every 0.2 s, until the
  rate is above what the client can send: part of every round);
* ``aiohttp+msgspec (hand-written)`` -- one `aiohttp.ClientSession`, an
  `asyncio.Semaphore` and `asyncio.gather`, ``resp.read()``, a status check and a
  ``msgspec.json.Decoder(asyncsdk.Call)`` built once: the loop an expert writes by hand;
* ``aiohttp+tenacity+pydantic`` -- the same loop with a tenacity ``AsyncRetrying`` around
  each request and pydantic's ``TypeAdapter(Call).validate_json`` (`_pydantic_models`);
* ``httpx+pydantic`` -- `httpx.AsyncClient` (HTTP/1.1, pool sized for 64) and pydantic.

Each round builds a fresh client or session inside a fresh event loop and fetches all N;
rounds alternate A B C D, B C D A, ... Per round the worker reports its own CPU time
(``resource.getrusage(RUSAGE_SELF)``, user + system, every thread), the part of it
spent in the cyclic garbage collector (timed from `gc.callbacks`) and the wall time.
If the SDK misses its CPU target, the SDK's and the hand-written loop's workers also
run one round under `cProfile` (`benchmarks._profile`), and the difference goes in the notes.
"""

from __future__ import annotations

import asyncio
import gc
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks import _canned
from benchmarks import _harness as h
from benchmarks._canned import ACCESS_KEY, FIXTURE, CannedServer, pin
from benchmarks._harness import Json
from benchmarks._procs import Worker, serve
from benchmarks._profile import compare_profiles, profile_notes, profile_round

NAME = "client_cost"
TITLE = "Client CPU per request: the SDK against hand-written loops"

#: As strings: what every contender is given.
WORKSPACE_ID, CHANNEL_ID = str(_canned.WORKSPACE_ID), str(_canned.CHANNEL_ID)
CONCURRENCY = 64
SERVER_CPU = 0
CLIENT_CPU = 1

#: contender key -> label
CONTENDERS: dict[str, str] = {
    "sdk": "sdk (gather_calls, default Client)",
    "handwritten": "aiohttp+msgspec (hand-written)",
    "tenacity_pydantic": "aiohttp+tenacity+pydantic",
    "httpx_pydantic": "httpx+pydantic",
}
PYDANTIC_STACKS = ("tenacity_pydantic", "httpx_pydantic")
MAX_SDK_OVER_HANDWRITTEN = 1.05  # CPU per request

#: ``httpx_calls``: httpx+pydantic costs ~25x the others per request (its connection pool
#: scans every connection on each request), so the smoke run gives it fewer calls.
FULL = {"calls": 20_000, "httpx_calls": 20_000, "rounds": 5, "warmup_calls": 1_000}
QUICK = {"calls": 1_000, "httpx_calls": 100, "rounds": 2, "warmup_calls": 50}
PROFILE_CALLS = {"full": 5_000, "quick": 500}


def call_ids(n: int) -> list[str]:
    """Return ``n`` distinct call IDs, the same for every contender."""
    return [str(uuid.UUID(int=i)) for i in range(n)]


# --- the contenders (in a worker process) ---------------------------------------------------


class _StatusError(Exception):
    """A non-2xx answer in the hand-written loops (retryable if 429 or 5xx)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


def _retryable(exc: BaseException) -> bool:
    import aiohttp

    if isinstance(exc, _StatusError):
        return exc.status == 429 or exc.status >= 500
    return isinstance(exc, aiohttp.ClientError | TimeoutError)


HEADERS = {"Authorization": f"AccessKey {ACCESS_KEY}", "Accept": "application/json"}


def _url(base: str, call_id: str) -> str:
    return f"{base}/workspaces/{WORKSPACE_ID}/channels/{CHANNEL_ID}/calls/{call_id}"


async def _sdk(base: str, ids: list[str]) -> int:
    import asyncsdk

    async with asyncsdk.Client(access_key=ACCESS_KEY, base_url=base) as client:
        results = await asyncsdk.gather_calls(
            client, WORKSPACE_ID, CHANNEL_ID, ids, concurrency=CONCURRENCY
        )
        stats = client.stats
    if stats.failed or stats.retries or stats.throttled:
        raise RuntimeError(f"the SDK did not only succeed: {stats}")
    return sum(isinstance(r, asyncsdk.Call) for r in results)


async def _handwritten(base: str, ids: list[str]) -> int:
    import aiohttp
    import msgspec

    import asyncsdk

    decoder = msgspec.json.Decoder(asyncsdk.Call)
    semaphore = asyncio.Semaphore(CONCURRENCY)
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def fetch(call_id: str) -> asyncsdk.Call:
            async with semaphore, session.get(_url(base, call_id), headers=HEADERS) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise _StatusError(resp.status)
                return decoder.decode(body)

        results = await asyncio.gather(*(fetch(i) for i in ids))
    return len(results)


async def _tenacity_pydantic(base: str, ids: list[str]) -> int:
    import aiohttp
    from tenacity import (
        AsyncRetrying,
        retry_if_exception,
        stop_after_attempt,
        wait_exponential_jitter,
    )

    from benchmarks._pydantic_models import CALL_ADAPTER, Call

    semaphore = asyncio.Semaphore(CONCURRENCY)
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def fetch(call_id: str) -> Call:
            url = _url(base, call_id)
            async with semaphore:
                async for attempt in AsyncRetrying(
                    stop=stop_after_attempt(4),
                    wait=wait_exponential_jitter(multiplier=0.5, max=8),
                    retry=retry_if_exception(_retryable),
                    reraise=True,
                ):
                    with attempt:
                        async with session.get(url, headers=HEADERS) as resp:
                            body = await resp.read()
                            if resp.status != 200:
                                raise _StatusError(resp.status)
                            return CALL_ADAPTER.validate_json(body)
            raise AssertionError("unreachable: tenacity reraises")

        results = await asyncio.gather(*(fetch(i) for i in ids))
    return len(results)


async def _httpx_pydantic(base: str, ids: list[str]) -> int:
    import httpx

    from benchmarks._pydantic_models import CALL_ADAPTER, Call

    semaphore = asyncio.Semaphore(CONCURRENCY)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(http1=True, http2=False, limits=limits) as client:

        async def fetch(call_id: str) -> Call:
            async with semaphore:
                resp = await client.get(_url(base, call_id), headers=HEADERS)
                if resp.status_code != 200:
                    raise _StatusError(resp.status_code)
                return CALL_ADAPTER.validate_json(resp.content)

        results = await asyncio.gather(*(fetch(i) for i in ids))
    return len(results)


FETCHERS: dict[str, Callable[[str, list[str]], Awaitable[int]]] = {
    "sdk": _sdk,
    "handwritten": _handwritten,
    "tenacity_pydantic": _tenacity_pydantic,
    "httpx_pydantic": _httpx_pydantic,
}


class _GCClock:
    """CPU seconds spent in the cyclic garbage collector, from `gc.callbacks`."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.process_time()
        else:
            self.seconds += time.process_time() - self._started


def _one_round(key: str, base: str, n: int) -> Json:
    ids = call_ids(n)  # built before the clock starts: input, not client cost
    gc_clock = _GCClock()
    gc.callbacks.append(gc_clock)
    try:
        cpu, wall = h.cpu_seconds(), time.perf_counter()
        fetched = asyncio.run(FETCHERS[key](base, ids))
        wall, cpu = time.perf_counter() - wall, h.cpu_seconds() - cpu
    finally:
        gc.callbacks.remove(gc_clock)
    if fetched != n:
        raise RuntimeError(f"{key} fetched {fetched} of {n} calls")
    return {"cpu_s": cpu, "gc_s": gc_clock.seconds, "wall_s": wall, "calls": n}


def _worker(argv: list[str]) -> None:
    key, base = argv
    cpus = pin(CLIENT_CPU)

    def handle(message: Json) -> Json:
        if "profile" in message:
            n = int(message["profile"])
            ids = call_ids(n)
            return profile_round(lambda: asyncio.run(FETCHERS[key](base, ids)), n)
        return {**_one_round(key, base, int(message["calls"])), "cpus": cpus}

    serve(handle)


def run(*, quick: bool = False) -> Json:
    params = dict(QUICK if quick else FULL)
    rounds = int(params["rounds"])
    keys = list(CONTENDERS)
    n = {k: int(params["httpx_calls" if k == "httpx_pydantic" else "calls"]) for k in keys}
    metrics = ("cpu_us_per_request", "gc_us_per_request", "requests_per_s")
    samples: dict[str, dict[str, list[float]]] = {m: {k: [] for k in keys} for m in metrics}
    cpu_us, gc_us, rps = samples.values()
    client_cpus: dict[str, Any] = {}
    profile: Json | None = None
    with CannedServer(cpu=SERVER_CPU) as server:
        workers = {k: Worker("benchmarks.client_cost", [k, server.base_url]) for k in keys}
        try:
            for key in keys:  # imports, first connections, caches: not measured
                client_cpus[key] = workers[key].request({"calls": params["warmup_calls"]})["cpus"]
            for order in h.interleaved(keys, rounds):
                for key in order:
                    reply = workers[key].request({"calls": n[key]})
                    cpu_us[key].append(reply["cpu_s"] / n[key] * 1e6)
                    gc_us[key].append(reply["gc_s"] / n[key] * 1e6)
                    rps[key].append(n[key] / reply["wall_s"])
            sdk_ratio = h.paired_ratio(cpu_us["sdk"], cpu_us["handwritten"])
            if sdk_ratio["median"] > MAX_SDK_OVER_HANDWRITTEN:
                count = PROFILE_CALLS["quick" if quick else "full"]
                profile = compare_profiles(
                    workers["sdk"].request({"profile": count}),
                    workers["handwritten"].request({"profile": count}),
                )
        finally:
            for w in workers.values():
                w.close()
        server_cpus = server.cpus

    results: Json = h.by_contender(CONTENDERS, samples)
    ratios: Json = {
        "sdk/handwritten cpu": sdk_ratio,
        **{f"sdk/{k} cpu": h.paired_ratio(cpu_us["sdk"], cpu_us[k]) for k in PYDANTIC_STACKS},
        "sdk/handwritten requests_per_s": h.paired_ratio(rps["sdk"], rps["handwritten"]),
        "sdk/handwritten cpu outside gc": h.paired_ratio(
            *(
                [c - g for c, g in zip(cpu_us[k], gc_us[k], strict=True)]
                for k in ("sdk", "handwritten")
            )
        ),
    }
    basis = "client process CPU (user + system) per request, median of per-round ratios"
    targets = [
        h.target(
            f"SDK / hand-written CPU per request <= {MAX_SDK_OVER_HANDWRITTEN}",
            sdk_ratio["median"],
            "<=",
            MAX_SDK_OVER_HANDWRITTEN,
            basis,
        ),
        *(
            h.target(
                f"SDK / {CONTENDERS[k]} CPU per request < 1 (SDK cheaper)",
                ratios[f"sdk/{k} cpu"]["median"],
                "<=",
                1.0,
                "client process CPU per request, median of per-round ratios",
            )
            for k in PYDANTIC_STACKS
        ),
    ]
    gc_median = {k: results[k]["gc_us_per_request"]["median"] for k in keys}
    notes = [
        "CPU is the client process's own (getrusage RUSAGE_SELF, user + system, all "
        "threads) over a whole round: building the client or session, connecting 64 "
        "keep-alive connections, fetching and decoding N calls, closing. The canned "
        "server's CPU is not included; it runs pinned to another core so that the client "
        "is the bottleneck.",
        f"Pinning: server on CPUs {server_cpus}, clients on CPUs "
        f"{sorted({c for v in client_cpus.values() for c in (v or [])}) or 'unknown'} "
        "(empty or both cores means pinning was not possible).",
        "Every contender gets the same IDs as canonical UUID strings, sends the same "
        "Authorization and Accept headers, checks the status and decodes every body into "
        "a typed call. The SDK also validates the IDs, sends a User-Agent, bounds the body "
        "size, waits on its limiter, goes through its retrier and counts every attempt.",
        "Garbage collection: every contender keeps all N decoded calls until the round "
        "ends, and the `uuid.UUID` objects inside them are tracked by Python's cyclic "
        "collector, which rescans them on each full collection. The hand-written loop "
        "also holds N pending tasks at once (asyncio.gather over every ID); gather_calls "
        f"holds {CONCURRENCY}. GC took {h.fmt(gc_median['handwritten'])} us per request in "
        f"the hand-written loop and {h.fmt(gc_median['sdk'])} in the SDK; outside GC the "
        f"SDK's CPU per request was {h.fmt_ratio(ratios['sdk/handwritten cpu outside gc'])} "
        "the loop's. The SDK's own work (ID validation, limiter, retrier, counters) is in "
        "that second figure.",
        "httpx+pydantic: nearly all of its CPU is httpcore's connection pool "
        "(`_assign_requests_to_connections` scans every pooled connection, polling idle "
        "sockets, on each request and each release, so its cost per request grows with "
        "the pool; encode/httpcore#1035 and encode/httpx#3215), not pydantic."
        + (
            f" The smoke run gives it {n['httpx_pydantic']} calls instead of "
            f"{n['handwritten']} to stay short."
            if n["httpx_pydantic"] != n["handwritten"]
            else ""
        ),
    ]
    if profile is not None:
        notes += profile_notes(profile)
    return h.make_result(
        scenario=NAME,
        title=TITLE,
        description=(
            f"Client CPU time per request fetching the same N calls at concurrency "
            f"{CONCURRENCY} from a canned loopback server in another process (pinned to "
            "another core, so the client is the bottleneck): the SDK's gather_calls against "
            "the aiohttp + msgspec loop an expert would write by hand, and two pydantic "
            "stacks. Each contender runs in its own pinned process; rounds alternate."
        ),
        parameters={
            **params,
            "concurrency": CONCURRENCY,
            "fixture_bytes": FIXTURE.stat().st_size,
            "server_cpus": str(server_cpus),
            "client_cpus": {k: str(v) for k, v in client_cpus.items()},
        },
        results={**results, **({"sdk_profile": profile} if profile is not None else {})},
        ratios=ratios,
        targets=targets,
        tables=_tables(results, ratios),
        chart=_chart(results),
        notes=notes,
    )


def _chart(results: Json) -> Json:
    cpu = {r["label"]: r["cpu_us_per_request"] for k, r in results.items() if k != "httpx_pydantic"}
    return {
        "title": "Client CPU per request, concurrency 64 (us; min-max; httpx+pydantic is off "
        "this scale)",
        "xlabel": "client CPU microseconds per request",
        "groups": {"client CPU": cpu},
    }


def _tables(results: Json, ratios: Json) -> list[Json]:
    base = results["handwritten"]["cpu_us_per_request"]["median"]
    rows = [
        [
            r["label"],
            h.fmt_range(r["cpu_us_per_request"]),
            h.fmt_range(r["gc_us_per_request"]),
            f"{r['cpu_us_per_request']['median'] / base:.2f}x",
            h.fmt_range(r["requests_per_s"]),
        ]
        for r in (results[k] for k in CONTENDERS)
    ]
    named = {
        "sdk/handwritten cpu": "SDK / hand-written, CPU per request",
        **{f"sdk/{k} cpu": f"SDK / {CONTENDERS[k]}, CPU per request" for k in PYDANTIC_STACKS},
        "sdk/handwritten cpu outside gc": "SDK / hand-written, CPU per request outside GC",
        "sdk/handwritten requests_per_s": "SDK / hand-written, requests/s",
    }
    return [
        h.table(
            "Client CPU per request and throughput, median (min-max) across rounds",
            (
                *("contender", "CPU us / request", "of which GC", "median / hand-written median"),
                "requests/s (wall)",
            ),
            rows,
        ),
        h.ratio_table("Per-round ratios, SDK / other, median (min-max)", ratios, named),
    ]


if __name__ == "__main__":
    h.scenario_main(run, _worker)
