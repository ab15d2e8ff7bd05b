"""The throttling lab's machinery: a server process per run, and the three contenders.

Each run starts the embedded server in its own process (`benchmarks._serverproc`), so
that its token bucket starts full and its event loop never shares a core with the
client's. When the run ends the server prints its `ServerStats` as one JSON line,
timeline included: requests, 200s and 429s per 0.1 s.

The contenders fetch the same IDs at the same concurrency through one of:

* ``sdk`` -- ``asyncsdk.iter_calls`` on a `Client` at default settings;
* ``sdk_r`` -- the same with ``rate_limit=R``, R the limit the scenario announces;
* ``peer`` -- what a careful engineer writes by hand: aiohttp, msgspec, and a tenacity
  loop per request that retries 429, 5xx, resets and timeouts, waiting each 429's own
  ``Retry-After`` (else exponential backoff with jitter), and no rate limiter.

Every contender gets the same retries (``max_retries`` after the first attempt) and the
same per-attempt timeout. Each returns one outcome per ID: ``"ok"`` or an error name.

Imports: the standard library, aiohttp, msgspec, tenacity, asyncsdk.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from benchmarks._harness import Json
from benchmarks._serverproc import ServerProcess

ACCESS_KEY = "lab-key"


def lab_server(options: Sequence[str], *, size: int) -> ServerProcess:
    """Start the embedded server with ``options`` in its own process (fresh per run)."""
    return ServerProcess(options, size=size, access_key=ACCESS_KEY)


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


async def _ids(ids: Sequence[uuid.UUID], duration: float | None) -> AsyncIterator[uuid.UUID]:
    end = time.monotonic() + duration if duration is not None else float("inf")
    for call_id in ids:
        if time.monotonic() >= end:
            return
        yield call_id


async def run_sdk(
    server: ServerProcess,
    work: Workload,
    ids: Sequence[uuid.UUID],
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
    outcomes: dict[int, str] = {}
    start = time.perf_counter()
    async with client:
        async for result in asyncsdk.iter_calls(
            client,
            server.workspace_id,
            server.channel_id,
            _ids(ids, work.duration),
            concurrency=work.concurrency,
        ):
            if result.index in outcomes:
                raise RuntimeError(f"ID {result.index} got two outcomes")
            outcomes[result.index] = "ok" if result.ok else type(result.error).__name__
        wall = time.perf_counter() - start
    stats = client.stats
    return {
        "wall_s": wall,
        "outcomes": outcomes,
        "attempts": stats.attempts,
        "retries": stats.retries,
        "throttled": stats.throttled,
        "limiter": repr(client.limiter),
    }


async def run_peer(server: ServerProcess, work: Workload, ids: Sequence[uuid.UUID]) -> Json:
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
    outcomes: dict[int, str] = {}
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
                outcomes[index] = "ok"
            except Exception as exc:
                outcomes[index] = type(exc).__name__
            finally:
                semaphore.release()

        tasks = []
        index = 0
        async for call_id in _ids(ids, work.duration):
            await semaphore.acquire()
            tasks.append(asyncio.create_task(one(index, call_id)))
            index += 1
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - start
    return {"wall_s": wall, "outcomes": outcomes, "attempts": attempts, "limiter": "none"}
