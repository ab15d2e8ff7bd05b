"""What the client needs from a rate limiter: the `RateLimiter` protocol, and its rules.

The client awaits `RateLimiter.acquire` before every attempt (retries included) and
then reports how the attempt ended, exactly once: `RateLimiter.on_success` (an answer:
2xx, or a client error), `RateLimiter.on_throttle` (429, or 503 with ``Retry-After``)
or `RateLimiter.on_failure` (a server error, or no response: reset, timeout,
cancelled). The local `TokenBucketLimiter` and the fleet's `RedisRateLimiter` both
implement it; a limiter that keeps one limit per workspace also implements
`PerWorkspaceLimiter`.

What a throttling response does (the rules, their thresholds and the evidence behind
them are in `asyncsdk.ratelimit._throttling`'s docstring and ``docs/throttling.md``):

- **Who waits.** The throttled request always waits its own ``Retry-After`` before its
  retry (the retrier sees to that). *Every* request waits only when the quota is
  exhausted: the server states it (``RateLimit-Remaining: 0`` with a reset, or
  ``RateLimit: r=0``), or, at a configured rate and in fleets, the throttling is
  correlated (at least half of the last second's responses, twenty or more, are 429s;
  or ten 429s in a row). Sporadic 429s (a quota shared with other clients, a
  gateway's own limits) delay only their own request: independent 429s no longer
  serialise the whole client.
- **The rate**: a configured ``rate_limit=R`` (`RateController`) is a ceiling that
  sporadic 429s never lower (a cut needs 20 % of 429s, and the rate returns to R once
  the throttling stops), with cuts that are tentative: measured against the rate that
  was being sent, verified by the share of 429s falling, undone when it does not fall.
  ``RateLimit(adaptive=False)`` is a fixed pace; a ``RateLimit-Policy`` header (IETF
  draft) sets the rate. With neither, the rate is discovered (`SharedRateController`):
  the first request probes alone, the rate starts at Bird's documented 50/s (or one
  request per round trip), regrows by Kelly's rule so that processes sharing a quota
  converge to equal shares, and sends a few requests at once now and then to tell a
  limiter at its limit from sporadic 429s.
- **Outages**: when nearly every attempt fails (90 % of the last second's), everyone
  waits a second and the first request after probes; fresh requests are not spent at
  full pace on a server that is down.

Imports: the standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

__all__ = ["PerWorkspaceLimiter", "RateLimiter"]


@runtime_checkable
class RateLimiter(Protocol):
    """What the client needs from a rate limiter.

    Every `acquire` that returns is followed by exactly one of `on_success`,
    `on_throttle` or `on_failure` for that request. Implementations must be safe to
    share by every task of one event loop, and ``acquire`` must be cancel-safe: a
    cancelled waiter takes no capacity.
    """

    async def acquire(self) -> None:
        """Wait until one more request may be sent."""
        ...

    def on_success(self, headers: Mapping[str, str]) -> None:
        """Record a response that was not throttled (any status but 429/503)."""
        ...

    async def on_throttle(self, retry_after: float | None, headers: Mapping[str, str]) -> None:
        """Record a throttling response; pause every request if the quota is exhausted."""
        ...

    def on_failure(self, *, server: bool = True) -> None:
        """Record a request that failed.

        Args:
            server: The server failed it (no response: reset, timeout; or a 5xx).
                ``False`` when this client gave up on it (cancelled by the caller, an
                answer refused as too large): it only frees its place.
        """
        ...


@runtime_checkable
class PerWorkspaceLimiter(Protocol):
    """A custom limiter that keeps a separate limit for each workspace (optional).

    Bird's quota is per workspace. A limiter passed as ``Client(limiter=...)`` that has
    this method is asked, once per workspace the client calls, for the limiter that
    workspace's attempts wait on (the client keeps the children, bounded); one without
    it is a single limit shared by every workspace. `RedisRateLimiter` has it.
    """

    def for_workspace(self, workspace_id: str) -> RateLimiter:
        """Return the limiter for ``workspace_id`` (a canonical lower-case UUID)."""
        ...
