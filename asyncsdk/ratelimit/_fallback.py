"""The fleet limiter while Redis is unavailable: the fallback, the probes, the rejoin.

When Redis fails (refused, reset, slower than ``timeout``, restarted, loading, out of
memory, read-only): requests do not fail. By default the limiter logs one WARNING on
the ``asyncsdk`` logger per outage and paces this process with a local
`TokenBucketLimiter` at ``fallback_share * rate`` (set the share to 1 / the number of
workers to keep the fleet within the quota); every ``probe_interval`` seconds it asks
Redis again, and the first answer puts it back on the shared limit (logged at INFO).
With ``fail_closed=True`` nothing is sent without Redis's grant: requests wait, probing,
until Redis answers (bound the wait with the client's ``Timeout(deadline=...)``).

Rejoining. Processes find Redis again each at its own next probe, up to
``probe_interval`` apart: one already back on the shared limit could take all of it
while the others still send their fallback share (measured: 4 workers at 100/s, Redis
restarted between their probes, sent 133 to 155 requests in the next second). So for
``probe_interval + timeout`` seconds after it rejoins, by when every live process has
probed too, a process takes each grant from Redis *and* from its fallback bucket: the
fleet stays within the fallback bound (``rate * t`` plus one fallback burst per
process, with ``fallback_share = 1 / processes``) until all are back, and within
Redis's bound after. A partial outage, where only some workers lose Redis, costs more:
the cut-off ones send their fallback share on top of the full rate the others share,
up to ``rate * (1 + cut_off * fallback_share)``; `docs/fleet.md` says how to size it.

A limiter and the workspaces' limiters it made (`RedisRateLimiter.for_workspace`) are
one family: an outage they see together is logged once and counted once.

Imports: the standard library and the local `TokenBucketLimiter`.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
from typing import Final

from ._bucket import TokenBucketLimiter

__all__ = ["LimiterMode", "fallback_bucket"]

logger: Final = logging.getLogger("asyncsdk")


class LimiterMode(enum.Enum):
    """Where a `RedisRateLimiter` takes its grants from."""

    #: The shared limit in Redis.
    REDIS = "redis"
    #: Redis is unavailable: a local bucket (or, failing closed, nothing) until it answers.
    FALLBACK = "fallback"
    #: `RedisRateLimiter.aclose` was called.
    CLOSED = "closed"


def fallback_bucket(rate: float, burst: int, share: float) -> TokenBucketLimiter:
    """The local bucket a process paces itself with alone: ``share`` of the fleet's limit."""
    return TokenBucketLimiter(rate * share, burst=max(1, math.floor(burst * share)), adaptive=False)


class _Fallback:
    """Going to the fallback on a Redis failure and back on its first answer (module doc)."""

    __slots__ = (
        "_degraded",
        "_degraded_at",
        "_fail_closed",
        "_fallback",
        "_fallback_share",
        "_key",
        "_mode",
        "_next_probe",
        "_outages",
        "_parent",
        "_probe_interval",
        "_rate",
        "_rejoin_until",
        "_timeout",
    )

    _mode: LimiterMode
    _key: str
    _rate: float
    _fallback: TokenBucketLimiter
    _fallback_share: float
    _fail_closed: bool
    _timeout: float
    _probe_interval: float
    _next_probe: float
    _rejoin_until: float
    _degraded_at: float
    _degraded: int
    _outages: int
    _parent: _Fallback | None

    def _redis_failed(self, exc: BaseException) -> None:
        now = asyncio.get_running_loop().time()
        self._next_probe = now + self._probe_interval
        if self._mode is not LimiterMode.REDIS:
            return  # a probe failed: the same outage
        self._mode = LimiterMode.FALLBACK
        self._degraded_at = now
        family = self._parent or self
        family._degraded += 1
        if family is not self:
            self._outages += 1
        if family._degraded > 1:
            return  # the same outage, already logged by another workspace's limiter
        family._outages += 1
        what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if self._fail_closed:
            then = "holding requests until it answers (fail_closed)"
        else:
            then = (
                f"pacing this process at {self._fallback.rate:g}/s "
                f"({self._fallback_share:g} of {self._rate:g}/s) until it answers"
            )
        logger.warning("rate limit %s: Redis unavailable (%s); %s", family._key, what, then)

    def _redis_back(self) -> None:
        self._mode = LimiterMode.REDIS
        now = asyncio.get_running_loop().time()
        if not self._fail_closed:  # failing closed, nobody sent meanwhile
            self._rejoin_until = now + self._probe_interval + self._timeout
        family = self._parent or self
        family._degraded = max(0, family._degraded - 1)
        if family._degraded == 0:
            down = now - self._degraded_at
            logger.info("rate limit %s: Redis answers again after %.1f s", family._key, down)

    def _rejoining(self, now: float) -> bool:
        """Whether a grant must also come from the fallback bucket (module doc)."""
        return self._mode is LimiterMode.FALLBACK or now < self._rejoin_until
