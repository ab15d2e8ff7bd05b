"""One worker process of the multi-process Redis limiter tests (and the benchmark).

Run as ``python -m tests._redis_worker <options>``: it builds one `Client` whose limiter
is a `RedisRateLimiter`, prints ``ready``, waits for a line on standard input (so every
worker starts together), then fetches the dataset's calls ``first .. first+count-1``
over and over with ``concurrency`` tasks for ``duration`` seconds. It prints one JSON
line: the wall-clock time of every grant and of every throttle handled (when it began
and when the limiter had dealt with it), every answer Redis gave its requests for slots
(with the wall-clock times the request was sent and answered), the outcomes, and the
limiter's state.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from asyncsdk import BirdError, Client
from asyncsdk.ratelimit.fleet import RedisRateLimiter
from asyncsdk.server import Dataset

ACCESS_KEY = "fleet-test-key"


class RedisReplies(RedisRateLimiter):
    """A `RedisRateLimiter` that notes every answer Redis gives its requests for slots.

    Each is ``(sent, answered, granted, wait_us)`` in `replies`: ``sent`` and
    ``answered`` are wall-clock times, the rest as the script returned them
    (``granted`` 0 while the fleet is paused; else slots granted now, or one reserved
    ``wait_us`` ahead). What Redis decided does not depend on how the machine
    scheduled anything, unlike the moment a waiter runs again after its grant, so a
    test can assert on it exactly.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.replies: list[tuple[float, float, int, int]] = []

    async def _call(self, op: str, *args: float) -> tuple[int, ...]:
        sent = time.time()
        reply = await super()._call(op, *args)
        if op == "acquire":
            self.replies.append((sent, time.time(), reply[0], reply[1]))
        return reply


class RecordingLimiter:
    """Delegates to a limiter and notes the wall-clock times of grants and throttles."""

    def __init__(self, inner: RedisRateLimiter) -> None:
        self.inner = inner
        self.grants: list[float] = []
        self.throttles: list[tuple[float, float]] = []

    async def acquire(self) -> None:
        await self.inner.acquire()
        self.grants.append(time.time())

    def on_success(self, headers: Mapping[str, str]) -> None:
        self.inner.on_success(headers)

    async def on_throttle(self, retry_after: float | None, headers: Mapping[str, str]) -> None:
        began = time.time()
        await self.inner.on_throttle(retry_after, headers)
        self.throttles.append((began, time.time()))

    def on_failure(self, *, server: bool = True) -> None:
        self.inner.on_failure(server=server)


async def run(ns: argparse.Namespace) -> dict[str, object]:
    dataset = Dataset(ns.dataset_size)
    ids = list(dataset.call_ids[ns.first : ns.first + ns.count])
    limiter = RedisReplies(
        ns.redis,
        rate=ns.rate,
        burst=ns.burst,
        key=ns.key,
        fallback_share=ns.fallback_share,
        probe_interval=ns.probe_interval,
        timeout=ns.redis_timeout,
    )
    recording = RecordingLimiter(limiter)
    outcomes: Counter[str] = Counter()
    source = itertools.cycle(ids) if ns.cycle else iter(ids)
    end = time.time() + ns.duration
    async with Client(
        access_key=ACCESS_KEY, base_url=ns.base_url, limiter=recording, timeout=10
    ) as client:

        async def fetch_loop() -> None:
            while time.time() < end:
                call_id = next(source, None)
                if call_id is None:
                    return
                try:
                    await client.get_call(dataset.workspace_id, dataset.channel_id, call_id)
                    outcomes["ok"] += 1
                except BirdError as exc:
                    outcomes[type(exc).__name__] += 1

        await asyncio.gather(*(fetch_loop() for _ in range(ns.concurrency)))
    result: dict[str, object] = {
        "grants": recording.grants,
        "throttles": recording.throttles,
        "replies": limiter.replies,
        "outcomes": dict(outcomes),
        "outages": limiter.outages,
        "mode": limiter.mode.value,
    }
    await limiter.aclose()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--burst", type=int, default=1)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--dataset-size", type=int, default=1000)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--no-cycle", dest="cycle", action="store_false")
    parser.add_argument("--fallback-share", type=float, default=0.25)
    parser.add_argument("--probe-interval", type=float, default=1.0)
    parser.add_argument("--redis-timeout", type=float, default=0.25)
    ns = parser.parse_args()
    print("ready", flush=True)
    sys.stdin.readline()
    result = asyncio.run(run(ns))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
