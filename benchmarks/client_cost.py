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
If the SDK misses its CPU target, its worker also runs one round under `cProfile` and
the top functions go in the notes.

Run alone: ``python -m benchmarks.client_cost [--quick]``.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import pstats
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks import _canned
from benchmarks._canned import ACCESS_KEY, FIXTURE, CannedServer, pin
from benchmarks._harness import (
    Json,
    cpu_seconds,
    fmt,
    fmt_range,
    fmt_ratio,
    interleaved,
    make_result,
    paired_ratio,
    scenario_main,
    summarize,
    table,
    target,
)
from benchmarks._procs import ROOT, Worker, serve

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
QUICK = {"calls": 2_000, "httpx_calls": 200, "rounds": 2, "warmup_calls": 100}
PROFILE_CALLS = {"full": 5_000, "quick": 500}
PROFILE_TOP = 8
#: Functions cheaper than this (us of own time per request) are left out of a profile.
PROFILE_FLOOR_US = 0.05


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
    headers = {"Authorization": f"AccessKey {ACCESS_KEY}", "Accept": "application/json"}
    semaphore = asyncio.Semaphore(CONCURRENCY)
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def fetch(call_id: str) -> asyncsdk.Call:
            async with semaphore, session.get(_url(base, call_id), headers=headers) as resp:
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

    headers = {"Authorization": f"AccessKey {ACCESS_KEY}", "Accept": "application/json"}
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
                        async with session.get(url, headers=headers) as resp:
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

    headers = {"Authorization": f"AccessKey {ACCESS_KEY}", "Accept": "application/json"}
    semaphore = asyncio.Semaphore(CONCURRENCY)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(http1=True, http2=False, limits=limits) as client:

        async def fetch(call_id: str) -> Call:
            async with semaphore:
                resp = await client.get(_url(base, call_id), headers=headers)
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
        cpu, wall = cpu_seconds(), time.perf_counter()
        fetched = asyncio.run(FETCHERS[key](base, ids))
        wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    finally:
        gc.callbacks.remove(gc_clock)
    if fetched != n:
        raise RuntimeError(f"{key} fetched {fetched} of {n} calls")
    return {"cpu_s": cpu, "gc_s": gc_clock.seconds, "wall_s": wall, "calls": n}


def _profile(key: str, base: str, n: int) -> Json:
    """Run one round under cProfile; return us per request by function: own, cumulative."""
    ids = call_ids(n)
    profiler = cProfile.Profile()
    profiler.enable()
    asyncio.run(FETCHERS[key](base, ids))
    profiler.disable()
    stats: Any = pstats.Stats(profiler).stats  # {(file, line, fn): (cc, nc, tt, ct, callers)}
    own: Json = {}
    cumulative: Json = {}
    for (file, line, fn), (_cc, _calls, tt, ct, _callers) in stats.items():
        where = file.rsplit("site-packages/", 1)[-1].rsplit(str(ROOT) + "/", 1)[-1]
        name = f"{where}:{line}({fn})"
        if tt / n * 1e6 >= PROFILE_FLOOR_US:
            own[name] = own.get(name, 0.0) + tt / n * 1e6
        if where.startswith("asyncsdk/"):
            cumulative[name] = ct / n * 1e6
    return {"calls": n, "own_us": own, "cumulative_us": cumulative}


def _worker(argv: list[str]) -> None:
    key, base = argv
    cpus = pin(CLIENT_CPU)

    def handle(message: Json) -> Json:
        if "profile" in message:
            return _profile(key, base, int(message["profile"]))
        return {**_one_round(key, base, int(message["calls"])), "cpus": cpus}

    serve(handle)


# --- the scenario (parent process) ---------------------------------------------------------


def run(*, quick: bool = False) -> Json:
    params = dict(QUICK if quick else FULL)
    rounds = int(params["rounds"])
    keys = list(CONTENDERS)
    n = {k: int(params["httpx_calls" if k == "httpx_pydantic" else "calls"]) for k in keys}
    cpu_us: dict[str, list[float]] = {k: [] for k in keys}
    gc_us: dict[str, list[float]] = {k: [] for k in keys}
    rps: dict[str, list[float]] = {k: [] for k in keys}
    client_cpus: dict[str, Any] = {}
    profile: Json | None = None
    with CannedServer(cpu=SERVER_CPU) as server:
        workers = {k: Worker("benchmarks.client_cost", [k, server.base_url]) for k in keys}
        try:
            for key in keys:  # imports, first connections, caches: not measured
                client_cpus[key] = workers[key].request({"calls": params["warmup_calls"]})["cpus"]
            for order in interleaved(keys, rounds):
                for key in order:
                    reply = workers[key].request({"calls": n[key]})
                    cpu_us[key].append(reply["cpu_s"] / n[key] * 1e6)
                    gc_us[key].append(reply["gc_s"] / n[key] * 1e6)
                    rps[key].append(n[key] / reply["wall_s"])
            sdk_ratio = paired_ratio(cpu_us["sdk"], cpu_us["handwritten"])
            if sdk_ratio["median"] > MAX_SDK_OVER_HANDWRITTEN:
                count = PROFILE_CALLS["quick" if quick else "full"]
                profile = _compare_profiles(
                    workers["sdk"].request({"profile": count}),
                    workers["handwritten"].request({"profile": count}),
                )
        finally:
            for w in workers.values():
                w.close()
        server_cpus = server.cpus

    results: Json = {
        key: {
            "label": CONTENDERS[key],
            "cpu_us_per_request": summarize(cpu_us[key]),
            "gc_us_per_request": summarize(gc_us[key]),
            "requests_per_s": summarize(rps[key]),
        }
        for key in keys
    }
    ratios: Json = {
        "sdk/handwritten cpu": sdk_ratio,
        **{f"sdk/{k} cpu": paired_ratio(cpu_us["sdk"], cpu_us[k]) for k in PYDANTIC_STACKS},
        "sdk/handwritten requests_per_s": paired_ratio(rps["sdk"], rps["handwritten"]),
        "sdk/handwritten cpu outside gc": paired_ratio(
            *(
                [c - g for c, g in zip(cpu_us[k], gc_us[k], strict=True)]
                for k in ("sdk", "handwritten")
            )
        ),
    }
    targets = [
        target(
            f"SDK / hand-written CPU per request <= {MAX_SDK_OVER_HANDWRITTEN}",
            sdk_ratio["median"],
            "<=",
            MAX_SDK_OVER_HANDWRITTEN,
            "client process CPU (user + system) per request, median of per-round ratios",
        ),
        *(
            target(
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
        f"holds {CONCURRENCY}. GC took {fmt(gc_median['handwritten'])} us per request in "
        f"the hand-written loop and {fmt(gc_median['sdk'])} in the SDK; outside GC the "
        f"SDK's CPU per request was {fmt_ratio(ratios['sdk/handwritten cpu outside gc'])} "
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
        notes += _profile_notes(profile)
    return make_result(
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


def _group(function: str) -> str:
    """Name the package a profiled function belongs to."""
    if function.startswith("~:0("):
        return "C builtins"
    if function.startswith(("asyncsdk/", "benchmarks/")):
        return "asyncsdk / the loop"
    if "/asyncio/" in function:
        return "asyncio"
    if function.startswith("/"):
        return "other stdlib"
    return function.split("/", 1)[0]


def _compare_profiles(sdk: Json, handwritten: Json) -> Json:
    """Rank the SDK's functions, and its own time per request by package against the loop's."""

    def top(table: Json) -> list[list[Any]]:
        ranked = sorted(table.items(), key=lambda item: item[1], reverse=True)[:PROFILE_TOP]
        return [[name, round(us, 2)] for name, us in ranked]

    def by_group(own: Json) -> dict[str, float]:
        groups: dict[str, float] = {}
        for name, us in own.items():
            groups[_group(name)] = groups.get(_group(name), 0.0) + us
        return groups

    base = handwritten["own_us"]
    extra = {name: us - base.get(name, 0.0) for name, us in sdk["own_us"].items()}
    sdk_groups, base_groups = by_group(sdk["own_us"]), by_group(base)
    return {
        "calls": sdk["calls"],
        "sdk_own_us_total": round(sum(sdk["own_us"].values()), 1),
        "handwritten_own_us_total": round(sum(base.values()), 1),
        "own_us_by_package": {
            group: {
                "sdk": round(sdk_groups.get(group, 0.0), 1),
                "handwritten": round(base_groups.get(group, 0.0), 1),
            }
            for group in sorted(
                sdk_groups.keys() | base_groups.keys(),
                key=lambda g: -(sdk_groups.get(g, 0.0) + base_groups.get(g, 0.0)),
            )
        },
        "sdk_top_cumulative_us": top(sdk["cumulative_us"]),
        "sdk_top_own_us": top(sdk["own_us"]),
        "sdk_top_extra_own_us": top({name: us for name, us in extra.items() if us > 0}),
    }


def _profile_notes(profile: Json) -> list[str]:
    def listing(rows: list[list[Any]]) -> str:
        return "; ".join(f"`{name}` {fmt(us)}" for name, us in rows[:6])

    packages = "; ".join(
        f"{group} {fmt(v['sdk'])} vs {fmt(v['handwritten'])}"
        for group, v in profile["own_us_by_package"].items()
    )
    return [
        "Profile hint (the SDK missed its CPU target): the SDK and hand-written workers each "
        f"ran one round of {profile['calls']} requests under cProfile, which inflates every "
        "figure, most for code that makes many small Python calls. Own us per request, all "
        f"functions: SDK {fmt(profile['sdk_own_us_total'])}, hand-written "
        f"{fmt(profile['handwritten_own_us_total'])}; by package, SDK vs hand-written: "
        f"{packages}.",
        "asyncsdk functions by cumulative us per request: "
        + listing(profile["sdk_top_cumulative_us"])
        + ". Functions by extra own us per request in the SDK over the hand-written loop "
        "(matched by name, so the loop's own `fetch` is not set against `_transport.get`): "
        + listing(profile["sdk_top_extra_own_us"])
        + ". Full lists in results.sdk_profile.",
    ]


def _chart(results: Json) -> Json:
    return {
        "title": "Client CPU per request, concurrency 64 (us; min-max; httpx+pydantic is off "
        "this scale)",
        "xlabel": "client CPU microseconds per request",
        "groups": {
            "client CPU": {
                CONTENDERS[k]: results[k]["cpu_us_per_request"]
                for k in CONTENDERS
                if k != "httpx_pydantic"
            }
        },
    }


def _tables(results: Json, ratios: Json) -> list[Json]:
    base = results["handwritten"]["cpu_us_per_request"]["median"]
    rows = [
        [
            r["label"],
            fmt_range(r["cpu_us_per_request"]),
            fmt_range(r["gc_us_per_request"]),
            f"{r['cpu_us_per_request']['median'] / base:.2f}x",
            fmt_range(r["requests_per_s"]),
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
        table(
            "Client CPU per request and throughput, median (min-max) across rounds",
            [
                "contender",
                "CPU us / request",
                "of which GC",
                "median / hand-written median",
                "requests/s (wall)",
            ],
            rows,
        ),
        table(
            "Per-round ratios, SDK / other, median (min-max)",
            ["ratio", "value"],
            ([label, fmt_ratio(ratios[key])] for key, label in named.items()),
        ),
    ]


if __name__ == "__main__":
    scenario_main(run, _worker)
