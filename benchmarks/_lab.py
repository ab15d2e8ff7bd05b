"""The throttling lab's machinery: a server process per run, the contenders, the timelines.

Each run starts the embedded server in its own process (`benchmarks._serverproc`), so
that its token bucket starts full and its event loop never shares a core with the
client's (`against`). When the run ends the server prints its `ServerStats` as one JSON
line, timeline included: requests, 200s and 429s per 0.1 s (`benchmarks._timeline`).

The contenders fetch the same IDs at the same concurrency through one of:

* ``sdk`` -- ``asyncsdk.iter_calls`` on a `Client` at default settings;
* ``sdk_r`` -- the same with ``rate_limit=R``, R the limit the scenario announces;
* ``peer`` -- what a careful engineer writes by hand: aiohttp, msgspec, and a tenacity
  loop per request that retries 429, 5xx, resets and timeouts, waiting each 429's own
  ``Retry-After`` (else exponential backoff with jitter), and no rate limiter.

Every contender gets the same retries (``max_retries`` after the first attempt) and the
same per-attempt timeout. Each returns one outcome per ID: ``"ok"`` or an error name.

Processes sharing one quota without coordinating (web-app replicas, workers, each with
its own client) are `run_fleet`: ``python -m benchmarks._lab --worker ...`` processes
(`fleet_worker`) released together.

Imports: the standard library, aiohttp, msgspec, tenacity, asyncsdk, the harness.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator, Callable, Coroutine, Sequence
from typing import Any

from benchmarks._procs import Json, run_together, wait_for_go
from benchmarks._serverproc import ServerProcess

ACCESS_KEY = "lab-key"
#: Seconds a fleet worker may run at most before it stops taking IDs (a bound, never reached).
MAX_SECONDS = 300.0


@dataclasses.dataclass(frozen=True)
class Workload:
    """What the contenders do: the IDs, for how long, how hard.

    Attributes:
        calls: IDs to fetch (the dataset's first ``calls``).
        duration: Stop taking new IDs after this many seconds (``None``: all of them).
        concurrency: Requests in flight at most.
        max_retries: Retries after the first attempt.
        timeout: Seconds one attempt may take.
    """

    calls: int
    duration: float | None = None
    concurrency: int = 64
    max_retries: int = 4
    timeout: float = 2.0


def against(
    options: Sequence[str],
    size: int,
    fetch: Callable[[ServerProcess], Coroutine[Any, Any, Json]],
    *,
    access_key: str = ACCESS_KEY,
) -> tuple[Json, Json]:
    """Run ``fetch`` against a fresh server with ``options``; return its result, server stats."""
    server = ServerProcess(options, size=size, access_key=access_key)
    try:
        run = asyncio.run(fetch(server))
        return run, server.stats()
    finally:
        server.kill()


def ids(count: int, size: int | None = None) -> list[uuid.UUID]:
    """The first ``count`` call IDs of the embedded server's dataset of ``size`` calls."""
    from asyncsdk.server import Dataset

    return list(Dataset(size=size or count).call_ids[:count])


async def until(ids: Sequence[uuid.UUID], duration: float | None) -> AsyncIterator[uuid.UUID]:
    """Hand out ``ids`` one by one, none after ``duration`` seconds (None: all of them)."""
    end = time.monotonic() + duration if duration is not None else float("inf")
    for call_id in ids:
        if time.monotonic() >= end:
            return
        yield call_id


async def outcomes(stream: AsyncIterable[Any]) -> dict[int, str]:
    """Each ``iter_calls`` result's outcome by index: ``"ok"`` or the error's name."""
    found: dict[int, str] = {}
    async for result in stream:
        if result.index in found:
            raise RuntimeError(f"ID {result.index} got two outcomes")
        found[result.index] = "ok" if result.ok else type(result.error).__name__
    return found


def tally(found: dict[int, str]) -> Json:
    """IDs, whether each got exactly one outcome, the share that ended as calls, errors."""
    ok = sum(1 for v in found.values() if v == "ok")
    return {
        "ids": len(found),
        "exactly_once": sorted(found) == list(range(len(found))),
        "ok": ok,
        "ok_share": ok / len(found) if found else 0.0,
        "errors": dict(Counter(v for v in found.values() if v != "ok")),
    }


async def run_sdk(
    server: ServerProcess,
    work: Workload,
    call_ids: Sequence[uuid.UUID],
    rate: float | None,
    *,
    adaptive: bool = True,
) -> Json:
    """Fetch with `asyncsdk.iter_calls`; return outcomes, timing and the client's state."""
    import asyncsdk

    client = asyncsdk.Client(
        access_key=ACCESS_KEY,
        base_url=server.base_url,
        rate_limit=asyncsdk.RateLimit(rate=rate, adaptive=adaptive),
        max_retries=work.max_retries,
        timeout=asyncsdk.Timeout(connect=work.timeout, total=work.timeout),
    )
    start = time.perf_counter()
    async with client:
        found = await outcomes(
            asyncsdk.iter_calls(
                client,
                server.workspace_id,
                server.channel_id,
                until(call_ids, work.duration),
                concurrency=work.concurrency,
            )
        )
        wall = time.perf_counter() - start
    stats = client.stats
    return {
        "wall_s": wall,
        "outcomes": found,
        "attempts": stats.attempts,
        "retries": stats.retries,
        "throttled": stats.throttled,
        "limiter": repr(client.limiter),
    }


async def run_peer(server: ServerProcess, work: Workload, call_ids: Sequence[uuid.UUID]) -> Json:
    """Fetch with a hand-written aiohttp + msgspec + tenacity loop (see the module doc)."""
    import aiohttp
    import msgspec
    import tenacity

    from asyncsdk import Call

    decoder = msgspec.json.Decoder(Call)

    class RetryableError(Exception):
        def __init__(self, status: int, retry_after: float | None) -> None:
            super().__init__(status)
            self.status = status
            self.retry_after = retry_after

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableError) and exc.retry_after is not None:
            return exc.retry_after
        return tenacity.wait_random_exponential(multiplier=0.5, max=8)(state)

    headers = {"Authorization": f"AccessKey {ACCESS_KEY}"}
    base = f"{server.base_url}/workspaces/{server.workspace_id}/channels/{server.channel_id}/calls/"
    timeout = aiohttp.ClientTimeout(total=work.timeout, sock_connect=work.timeout)
    found: dict[int, str] = {}
    attempts = 0

    async def fetch(session: aiohttp.ClientSession, call_id: uuid.UUID) -> Any:
        nonlocal attempts
        attempts += 1
        async with session.get(base + str(call_id), headers=headers) as resp:
            body = await resp.read()
            if resp.status == 200:
                return decoder.decode(body)
            if resp.status in (408, 429, 500, 502, 503, 504):
                raw = resp.headers.get("Retry-After")
                raise RetryableError(resp.status, float(raw) if raw else None)
            raise RuntimeError(f"status {resp.status}")

    start = time.perf_counter()
    async with aiohttp.ClientSession(timeout=timeout) as session:
        semaphore = asyncio.Semaphore(work.concurrency)

        async def one(index: int, call_id: uuid.UUID) -> None:
            try:
                async for attempt in tenacity.AsyncRetrying(
                    stop=tenacity.stop_after_attempt(work.max_retries + 1),
                    wait=wait,
                    retry=tenacity.retry_if_exception_type(
                        (RetryableError, aiohttp.ClientError, TimeoutError)
                    ),
                    reraise=True,
                ):
                    with attempt:
                        await fetch(session, call_id)
                found[index] = "ok"
            except Exception as exc:
                found[index] = type(exc).__name__
            finally:
                semaphore.release()

        tasks = []
        index = 0
        async for call_id in until(call_ids, work.duration):
            await semaphore.acquire()
            tasks.append(asyncio.create_task(one(index, call_id)))
            index += 1
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - start
    return {"wall_s": wall, "outcomes": found, "attempts": attempts, "limiter": "none"}


# --- processes sharing a quota ---------------------------------------------------------------


def fleet_worker(argv: Sequence[str]) -> None:
    """One process of a fleet: its own default client fetches its IDs once released.

    Prints one JSON line: completion time, when it started (wall clock, which the fleet's
    processes share), outcomes by kind, attempts, 429s, the limiter.
    """
    import asyncsdk

    parser = argparse.ArgumentParser(prog="python -m benchmarks._lab --worker")
    for name in ("url", "ws", "ch"):
        parser.add_argument(name)
    for name in ("--first", "--count", "--size"):
        parser.add_argument(name, type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args(argv)
    chunk = ids(args.size)[args.first : args.first + args.count]

    async def fetch() -> Json:
        client = asyncsdk.Client(access_key=ACCESS_KEY, base_url=args.url)
        started_at = time.time()  # the wall clock all the fleet's processes share
        start = time.perf_counter()
        async with client:
            stream = asyncsdk.iter_calls(
                client, args.ws, args.ch, until(chunk, MAX_SECONDS), concurrency=args.concurrency
            )
            found = await outcomes(stream)
            wall = time.perf_counter() - start
        return {
            "wall_s": wall,
            "started_at": started_at,
            "outcomes": dict(Counter(found.values())),
            "attempts": client.stats.attempts,
            "throttled": client.stats.throttled,
            "limiter": repr(client.limiter),
        }

    wait_for_go()
    print(json.dumps(asyncio.run(fetch())), flush=True)


def run_fleet(server: ServerProcess, workers: int, per_worker: int, *, size: int) -> list[Json]:
    """Run ``workers`` fleet processes against ``server``, each its own ``per_worker`` IDs."""
    where = [server.base_url, str(server.workspace_id), str(server.channel_id)]
    argvs = [
        [*where, f"--first={i * per_worker}", f"--count={per_worker}", f"--size={size}"]
        for i in range(workers)
    ]
    return run_together("benchmarks._lab", argvs, timeout=MAX_SECONDS + 60.0)[1]


if __name__ == "__main__":  # python -m benchmarks._lab --worker ...: one fleet process
    fleet_worker(sys.argv[2:])
