"""What a `TokenBucketLimiter` shows of itself: read-only views of its state.

Reports, the client's counters (``WorkspaceStats.rate``), load shedding
(``expected_wait``) and telemetry (``holding``, ``limit_estimate``) read a bucket
through these; none of them changes it. They are kept apart from the bucket's
mechanism (`asyncsdk.ratelimit._bucket`: tokens, timers, who waits), which sets the
attributes declared here.

Imports: the standard library and this subpackage's ``_throttling``.
"""

from __future__ import annotations

import asyncio
from collections import deque

from ._throttling import Controller, Phase

__all__ = ["BucketViews"]


class BucketViews:
    """The read-only views of `TokenBucketLimiter`; the bucket sets these attributes."""

    __slots__ = ()

    _burst: float
    _control: Controller
    _last: float
    _outage: bool
    _paused_until: float
    _pauses: int
    _probe_started: float | None
    _throttles: int
    _tokens: float
    _waiters: deque[asyncio.Future[None]]

    @property
    def rate(self) -> float | None:
        """The current sending rate in requests per second; ``None`` is unlimited."""
        return self._control.rate

    @property
    def phase(self) -> str:
        """``"fixed"``, ``"probe"``, ``"startup"``, ``"cruise"`` or ``"known"`` (module doc)."""
        return self._control.phase.value

    @property
    def waiting(self) -> int:
        """How many tasks are waiting in `acquire`."""
        return sum(1 for f in self._waiters if not f.done())

    @property
    def pauses(self) -> int:
        """How many times every request was paused (exhausted or correlated throttling)."""
        return self._pauses

    @property
    def limit_estimate(self) -> float | None:
        """The server's limit as the limiter knows it, requests per second, if it does.

        The stated or configured ceiling; else the rate at which throttling last
        appeared; ``None`` before either.
        """
        control = self._control
        return control.ceiling if control.ceiling is not None else (control.w_max or None)

    def holding(self, now: float) -> str | None:
        """Say what holds a request arriving at loop time ``now`` beyond its pace.

        ``"pause"`` (every request paused: the quota is used up), ``"outage"`` (the
        server seems down: one probe at a time), ``"probe"`` (the first answer is
        awaited to learn the rate), or ``None`` (only the pace).
        """
        if self._outage:
            return "outage"
        if now < self._paused_until:
            return "pause"
        if self._probe_started is not None and self._control.phase is Phase.PROBE:
            return "probe"
        return None

    def expected_wait(self) -> float:
        """Seconds a request arriving now would wait, by the current pause, rate and queue.

        An estimate for load shedding: the rate may change while it waits.
        """
        now = asyncio.get_running_loop().time()
        wait = max(0.0, self._paused_until - now)
        rate = self._control.rate
        if rate is not None:
            start = now + wait
            tokens = min(self._burst, self._tokens + max(0.0, start - self._last) * rate)
            deficit = self.waiting + 1 - tokens
            if deficit > 0:
                wait += deficit / rate
        return wait

    def __repr__(self) -> str:
        rate = self._control.rate
        shown = "unlimited" if rate is None else f"{rate:.2f}/s"
        return (
            f"<TokenBucketLimiter {self.phase} rate={shown} burst={self._burst:g} "
            f"tokens={self._tokens:.2f} waiting={self.waiting} "
            f"ambient429={self._control.ambient:.3f} throttles={self._throttles} "
            f"pauses={self._pauses} cuts={self._control.cuts} undos={self._control.undos}>"
        )
