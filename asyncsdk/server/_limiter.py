"""A server-side token bucket: the embedded server's rate limiter.

Pure logic over a clock value passed in (seconds, monotonic), so tests need no loop.

Imports: the standard library only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

__all__ = ["Admission", "Quota", "TokenBucket", "policy_header", "workspace_key"]

#: The neighbour of a `Quota` is served in steps of this share of the time its bucket
#: takes to fill: short enough that its tokens are taken as they come.
NEIGHBOUR_STEP = 0.25


def policy_header(rate: float) -> str:
    """Return the ``RateLimit-Policy`` value for ``rate`` requests per second: ``200;w=1``.

    The quota is written in plain decimal (``200``, ``12.5``, ``0.001``), never with an
    exponent, over a window of one second.
    """
    quota = format(Decimal(repr(float(rate))), "f")
    if "." in quota:
        quota = quota.rstrip("0").rstrip(".")
    return f"{quota};w=1"


@dataclass(frozen=True, slots=True)
class Admission:
    """The bucket's answer to one request.

    Attributes:
        allowed: Whether the request may proceed.
        remaining: Whole tokens left after this request.
        reset: Seconds until a token is free (0.0 if one already is).
    """

    allowed: bool
    remaining: int
    reset: float

    @property
    def retry_after(self) -> int:
        """``Retry-After`` for a refusal: ``reset`` rounded up to whole seconds, at least 1."""
        return max(1, math.ceil(self.reset))


class TokenBucket:
    """``burst`` tokens, refilled at ``rate`` tokens per second; a request takes one.

    The bucket starts full. Args are validated by `ServerConfig`.

    Args:
        rate: Refill rate, in tokens (requests) per second; more than 0.
        burst: Capacity, in tokens; 1 or more.
        now: Clock value at creation, in seconds.
    """

    __slots__ = ("_burst", "_rate", "_tokens", "_updated")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self._rate = rate
        self._burst = burst
        self._tokens = float(burst)
        self._updated = now

    @property
    def rate(self) -> float:
        """Refill rate, in tokens per second."""
        return self._rate

    @property
    def burst(self) -> int:
        """Capacity, in tokens."""
        return self._burst

    def set_rate(self, rate: float, now: float) -> None:
        """Refill at ``rate`` tokens per second from clock value ``now`` on."""
        self._refill(now)
        self._rate = rate

    def acquire(self, now: float) -> Admission:
        """Take one token at clock value ``now`` (seconds) if there is one."""
        self._refill(now)
        allowed = self._tokens >= 1.0
        if allowed:
            self._tokens -= 1.0
        reset = max(0.0, (1.0 - self._tokens) / self._rate)
        return Admission(allowed=allowed, remaining=int(self._tokens), reset=reset)

    def take(self, now: float, wanted: float) -> float:
        """Take up to ``wanted`` tokens (fractions too) at ``now``; return how many."""
        self._refill(now)
        taken = min(self._tokens, wanted)
        self._tokens -= taken
        return taken

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(float(self._burst), self._tokens + elapsed * self._rate)
        self._updated = max(now, self._updated)

    def __repr__(self) -> str:
        return f"<TokenBucket rate={self._rate:g}/s burst={self._burst} tokens={self._tokens:.2f}>"


class Quota:
    """An account's quota as the server enforces it: one bucket, changing, shared.

    The bucket's rate may follow a schedule, and a simulated neighbour client of the
    same account draws on it too.

    Times are clock values in seconds; the schedule counts from ``start``.

    Args:
        rate: Initial refill rate, requests per second.
        burst: Bucket capacity, requests.
        start: Clock value the schedule counts from (the first request).
        schedule: ``(seconds after start, rate)`` steps, in increasing order.
        neighbour_rate: Requests per second the neighbour needs. It is served first:
            its demand accrues continuously and takes the bucket's tokens as they come,
            so the others share what is left (``rate - neighbour_rate`` in the long
            run) and the burst, as behind one account's quota.
    """

    __slots__ = ("_bucket", "_debt", "_neighbour", "_schedule", "_start", "_updated")

    def __init__(
        self,
        rate: float,
        burst: int,
        start: float,
        *,
        schedule: tuple[tuple[float, float], ...] = (),
        neighbour_rate: float = 0.0,
    ) -> None:
        self._bucket = TokenBucket(rate, burst, start)
        self._start = start
        self._schedule = list(schedule)
        self._neighbour = neighbour_rate
        self._debt = 0.0  # requests the neighbour wants and has not had yet
        self._updated = start

    @property
    def rate(self) -> float:
        """The rate in force, requests per second (as of the last `acquire`)."""
        return self._bucket.rate

    def acquire(self, now: float) -> Admission:
        """Apply the schedule and the neighbour up to ``now``, then take a token if free."""
        bucket = self._bucket
        while True:
            change = self._start + self._schedule[0][0] if self._schedule else math.inf
            upto = min(change, now)
            if self._neighbour:
                self._serve_neighbour(upto)
            if change > now:
                break
            bucket.set_rate(self._schedule.pop(0)[1], change)
        return bucket.acquire(now)

    def _serve_neighbour(self, upto: float) -> None:
        """Let the neighbour take its tokens as they come, up to ``upto``.

        In steps short enough that the bucket cannot fill up within one: the neighbour
        takes tokens as they arrive, so an idle spell of ours must not bank its demand
        (a bucket refilled to its cap at once, then the whole spell's demand taken,
        would leave it a debt that starves us for as long again, and every pause of
        ours would make the next one longer).
        """
        bucket = self._bucket
        step = max(NEIGHBOUR_STEP * bucket.burst / bucket.rate, 0.001)
        while self._updated < upto:
            t = min(upto, self._updated + step)
            self._debt += (t - self._updated) * self._neighbour
            self._updated = t
            self._debt -= bucket.take(t, self._debt)

    def __repr__(self) -> str:
        return f"<Quota {self._bucket!r} schedule={self._schedule} start={self._start:g}>"


def workspace_key(raw: str, quotas: Mapping[str, object]) -> str | None:
    """Return the key of ``raw`` (a path's workspace id) in ``quotas``, if it has one.

    Workspace ids are compared as UUIDs (``quotas`` keyed by canonical lower-case text),
    so a client's upper-case spelling finds the same quota.
    """
    if raw in quotas:
        return raw
    lowered = raw.lower()
    return lowered if lowered in quotas else None
