"""A server-side token bucket: the embedded server's rate limiter.

Pure logic over a clock value passed in (seconds, monotonic), so tests need no loop.

Imports: the standard library only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Admission", "TokenBucket"]


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

    def acquire(self, now: float) -> Admission:
        """Take one token at clock value ``now`` (seconds) if there is one."""
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(float(self._burst), self._tokens + elapsed * self._rate)
        self._updated = max(now, self._updated)
        allowed = self._tokens >= 1.0
        if allowed:
            self._tokens -= 1.0
        reset = max(0.0, (1.0 - self._tokens) / self._rate)
        return Admission(allowed=allowed, remaining=int(self._tokens), reset=reset)

    def __repr__(self) -> str:
        return f"<TokenBucket rate={self._rate:g}/s burst={self._burst} tokens={self._tokens:.2f}>"
