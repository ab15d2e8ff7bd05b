"""A throttling server and a client of the real limiter, on a virtual clock.

The server is the embedded server's own `Quota` (a token bucket whose rate may follow a
schedule, shared with a neighbour) plus throttling that does not depend on the rate
(a probability, ``Retry-After`` values). The client is ``concurrency`` tasks sharing one
`TokenBucketLimiter`: each takes the next ID, waits for the limiter, "sends" (a
latency with jitter), reports the answer to the limiter as the client does, and on a
429 waits its ``Retry-After`` before retrying, up to ``max_retries``.

Everything runs on `tests._vtime`'s loop: seconds of traffic take milliseconds, and the
same seed gives the same run. Used by the rule tests; the throttling lab
(``benchmarks/throttling.py``) measures the real client over loopback HTTP.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from asyncsdk.ratelimit import TokenBucketLimiter
from asyncsdk.server._limiter import Quota

from . import _vtime

BIN = 0.25
#: Seconds per bin of `SharedResult.by_client`: start-up's luck is drawn within 0.1 s.
SHARE_BIN = 0.1


@dataclass
class SimServer:
    """What the simulated API does."""

    rate: float | None = None
    burst: int = 10
    schedule: tuple[tuple[float, float], ...] = ()
    neighbour: float = 0.0
    sporadic: float = 0.0
    retry_after: tuple[float, ...] = (1.0,)
    latency: float = 0.03
    jitter: float = 0.0003
    policy: bool = False
    seed: int = 0


@dataclass
class SimResult:
    """What happened, by `BIN` of time."""

    sent: list[int] = field(default_factory=list)
    ok: list[int] = field(default_factory=list)
    throttled: list[int] = field(default_factory=list)
    limit: list[float] = field(default_factory=list)
    rates: list[float | None] = field(default_factory=list)
    outcomes: dict[int, str] = field(default_factory=dict)
    finished: float = 0.0
    limiter: TokenBucketLimiter | None = None

    def share_429(self, start: float = 0.0, end: float = 1e9) -> float:
        lo, hi = int(start / BIN), int(end / BIN)
        sent = sum(self.sent[lo:hi])
        return sum(self.throttled[lo:hi]) / sent if sent else 0.0

    def accepted_rate(self, start: float = 0.0, end: float = 1e9) -> float:
        lo, hi = int(start / BIN), min(int(end / BIN), len(self.ok))
        return sum(self.ok[lo:hi]) / ((hi - lo) * BIN) if hi > lo else 0.0

    def available(self, start: float = 0.0, end: float = 1e9) -> float:
        lo, hi = int(start / BIN), min(int(end / BIN), len(self.limit))
        return sum(self.limit[lo:hi]) / (hi - lo) if hi > lo else 0.0


def _bump(series: list[int], t: float) -> None:
    index = int(t / BIN)
    while len(series) <= index:
        series.append(0)
    series[index] += 1


def simulate(
    server: SimServer,
    limiter_factory: Callable[[], TokenBucketLimiter],
    *,
    calls: int | None = None,
    duration: float | None = None,
    concurrency: int = 64,
    max_retries: int = 4,
) -> SimResult:
    """Run ``calls`` IDs (or for ``duration`` seconds) through the limiter; see the doc."""

    async def scenario() -> SimResult:
        loop = asyncio.get_running_loop()
        rng = random.Random(server.seed)
        limiter = limiter_factory()
        result = SimResult(limiter=limiter)
        quota = (
            Quota(
                server.rate,
                server.burst,
                0.0,
                schedule=server.schedule,
                neighbour_rate=server.neighbour,
            )
            if server.rate is not None
            else None
        )
        counter = iter(range(calls if calls is not None else 10**9))
        end = duration if duration is not None else 1e9

        async def answer() -> tuple[bool, float | None, dict[str, str]]:
            # The request reaches the server a little late, by a random amount: paced
            # requests arrive unevenly, as over a real network and event loop.
            await asyncio.sleep(rng.uniform(0, server.jitter))
            now = loop.time()
            headers: dict[str, str] = {}
            throttled, retry_after = False, None
            if quota is not None:
                admission = quota.acquire(now)
                if server.policy:
                    headers["RateLimit-Policy"] = f"{quota.rate:g};w=1"
                if not admission.allowed:
                    throttled, retry_after = True, float(admission.retry_after)
            if not throttled and rng.random() < server.sporadic:
                throttled, retry_after = True, rng.choice(server.retry_after)
            await asyncio.sleep(server.latency)
            return throttled, retry_after, headers

        async def worker() -> None:
            for index in counter:
                if loop.time() >= end:
                    return
                for _attempt in range(max_retries + 1):
                    await limiter.acquire()
                    now = loop.time()
                    _bump(result.sent, now)
                    throttled, retry_after, headers = await answer()
                    if throttled:
                        _bump(result.throttled, now)
                        await limiter.on_throttle(retry_after, headers)
                        if _attempt < max_retries:
                            await asyncio.sleep(retry_after or 0.0)
                        continue
                    _bump(result.ok, now)
                    limiter.on_success(headers)
                    result.outcomes[index] = "ok"
                    break
                else:
                    result.outcomes[index] = "throttled"

        async def sample() -> None:
            while True:
                t = loop.time()
                result.rates.append(limiter.rate)
                if quota is not None:
                    rate = server.rate
                    for at, r in server.schedule:
                        if t >= at:
                            rate = r
                    result.limit.append(rate - server.neighbour if rate else 0.0)
                await asyncio.sleep(BIN)

        sampler = asyncio.create_task(sample())
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.finished = loop.time()
        sampler.cancel()
        return result

    return _vtime.run(scenario())


@dataclass
class SharedResult:
    """What happened to clients that share one quota without coordinating."""

    sent: int = 0
    throttled: int = 0
    throttled_by_second: list[int] = field(default_factory=list)
    finished: list[float] = field(default_factory=list)
    outcomes: dict[tuple[int, int], str] = field(default_factory=dict)
    limiters: list[TokenBucketLimiter] = field(default_factory=list)
    trace: list[tuple[float, list[float | None]]] = field(default_factory=list)
    #: Per client, by `SHARE_BIN` of time: ``[sent, throttled]`` (who got which 429s).
    by_client: list[list[list[int]]] = field(default_factory=list)

    @property
    def share_429(self) -> float:
        return self.throttled / self.sent if self.sent else 0.0

    @property
    def slowest_over_fastest(self) -> float:
        return max(self.finished) / min(self.finished)


def _bin(series: list[list[int]], t: float) -> list[int]:
    index = int(t / SHARE_BIN)
    while len(series) <= index:
        series.append([0, 0])
    return series[index]


def simulate_shared(
    server: SimServer,
    limiter_factory: Callable[[], TokenBucketLimiter],
    *,
    clients: int = 4,
    calls: int = 1000,
    concurrency: int = 64,
    max_retries: int = 1000,
    starts: tuple[float, ...] = (),
    max_seconds: float = 300.0,
) -> SharedResult:
    """Run ``clients`` independent limiters, ``calls`` IDs each, on one quota.

    Each client is what one process of the lab's ``shared-4`` scenario is: its own
    limiter and ``concurrency`` tasks; only the server's bucket is shared. ``starts``
    gives each client's start time (seconds; all at 0 by default). No ID is taken after
    ``max_seconds`` of virtual time, so rules that starve a client end the run anyway
    (its IDs then have no outcome, which the tests notice).
    """

    async def scenario() -> SharedResult:
        loop = asyncio.get_running_loop()
        rng = random.Random(server.seed)
        assert server.rate is not None
        quota = Quota(server.rate, server.burst, 0.0, schedule=server.schedule)
        result = SharedResult(finished=[0.0] * clients)
        result.by_client = [[] for _ in range(clients)]
        result.limiters = [limiter_factory() for _ in range(clients)]

        async def answer() -> tuple[bool, float | None]:
            await asyncio.sleep(rng.uniform(0, server.jitter))
            admission = quota.acquire(loop.time())
            throttled = not admission.allowed
            retry_after = float(admission.retry_after) if throttled else None
            await asyncio.sleep(server.latency)
            return throttled, retry_after

        async def client(n: int) -> None:
            limiter = result.limiters[n]
            start = starts[n] if n < len(starts) else 0.0
            await asyncio.sleep(start)
            counter = iter(range(calls))

            async def worker() -> None:
                for index in counter:
                    if loop.time() >= max_seconds:
                        return
                    for attempt in range(max_retries + 1):
                        await limiter.acquire()
                        result.sent += 1
                        counts = _bin(result.by_client[n], loop.time())
                        counts[0] += 1
                        throttled, retry_after = await answer()
                        if throttled:
                            counts[1] += 1
                            result.throttled += 1
                            second = int(loop.time())
                            by_second = result.throttled_by_second
                            by_second.extend([0] * (second + 1 - len(by_second)))
                            by_second[second] += 1
                            await limiter.on_throttle(retry_after, {})
                            if attempt < max_retries:
                                await asyncio.sleep(retry_after or 0.0)
                            continue
                        limiter.on_success({})
                        result.outcomes[n, index] = "ok"
                        break
                    else:
                        result.outcomes[n, index] = "throttled"

            await asyncio.gather(*(worker() for _ in range(concurrency)))
            result.finished[n] = loop.time() - start

        async def sample() -> None:
            while True:
                await asyncio.sleep(0.5)
                result.trace.append((loop.time(), [x.rate for x in result.limiters]))

        sampler = asyncio.create_task(sample())
        await asyncio.gather(*(client(n) for n in range(clients)))
        sampler.cancel()
        return result

    return _vtime.run(scenario())
