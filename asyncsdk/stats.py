"""Per-client counters, and the frozen `ClientStats` snapshot a worker can report.

Waits on the rate limiter go into a histogram of logarithmic buckets (four per octave,
so a percentile is within 10 % of the true value) rather than a sum: a sum over tasks
that wait at the same time says nothing (thousands of concurrent calls waiting 0.1 s
each add up to minutes). Recording is O(1) and allocates nothing.

Imports: the standard library only.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

__all__ = ["ClientStats", "WaitStats", "WorkspaceStats"]

#: Waits shorter than this many seconds count as no wait (an uncontended acquire).
_NO_WAIT: Final = 1e-5
#: Histogram buckets per doubling of the wait, and buckets in all (up to ~3 minutes).
_PER_OCTAVE: Final = 4
_BUCKETS: Final = 24 * _PER_OCTAVE


@dataclass(frozen=True, slots=True)
class WaitStats:
    """How long attempts waited for the rate limiter, per attempt.

    Attributes:
        count: Attempts measured (every attempt that got its turn).
        waited: Of them, how many waited at all (10 microseconds or more).
        mean: Mean wait per attempt, seconds.
        p50: Median wait, seconds (within 10 %).
        p90: 90th percentile, seconds (within 10 %).
        p99: 99th percentile, seconds (within 10 %).
        max: Longest wait, seconds.
        total: Sum of all waits, seconds (overlapping waits add up).
    """

    count: int = 0
    waited: int = 0
    mean: float = 0.0
    p50: float = 0.0
    p90: float = 0.0
    p99: float = 0.0
    max: float = 0.0
    total: float = 0.0

    def __str__(self) -> str:
        return (
            f"{self.count} attempts, {self.waited} waited: mean {self.mean * 1e3:.1f} ms, "
            f"p50 {self.p50 * 1e3:.1f} ms, p90 {self.p90 * 1e3:.1f} ms, "
            f"p99 {self.p99 * 1e3:.1f} ms, max {self.max * 1e3:.1f} ms"
        )


@dataclass(frozen=True, slots=True)
class ClientStats:
    """What one client has done so far (a snapshot; see `Client.stats`).

    Attributes:
        calls: API calls that got past input validation: each `Client.get_call`, and
            each page of a listing.
        succeeded: Calls that returned a `Call` (or a page).
        failed: Calls that raised a `RequestError`.
        attempts: HTTP requests sent (first attempts and retries).
        retries: Attempts that were retries.
        retries_by_reason: Retries by cause: a status (``"503"``), ``"timeout"`` or
            ``"connection"``.
        throttled: Throttling responses received (429, or 503 with ``Retry-After``).
        limiter_wait: Waits for the rate limiter, per attempt, with percentiles.
        limiter_timeouts: Attempts refused or timed out waiting for the rate limiter
            (`LimiterTimeoutError`): load shed, nothing sent.
        workspaces: Workspaces whose rate limiters the client holds now (each workspace
            has its own; `Client.workspace_stats` gives one workspace's counters).
        workspaces_evicted: Idle workspaces' limiters dropped to stay within
            ``max_workspaces``.
    """

    calls: int = 0
    succeeded: int = 0
    failed: int = 0
    attempts: int = 0
    retries: int = 0
    retries_by_reason: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    throttled: int = 0
    limiter_wait: WaitStats = field(default_factory=WaitStats)
    limiter_timeouts: int = 0
    workspaces: int = 0
    workspaces_evicted: int = 0


@dataclass(frozen=True, slots=True)
class WorkspaceStats:
    """One workspace's share of a client's work (see `Client.workspace_stats`).

    Attributes:
        workspace_id: The workspace, as a canonical lower-case UUID.
        attempts: HTTP requests sent for it, since its limiter was created.
        throttled: Throttling responses it got (429, or 503 with ``Retry-After``).
        in_flight: Its calls in progress now.
        rate: Its limiter's current rate, requests per second (``None``: unlimited or
            not told by the limiter).
    """

    workspace_id: str
    attempts: int = 0
    throttled: int = 0
    in_flight: int = 0
    rate: float | None = None


class WaitHistogram:
    """Waits in logarithmic buckets; see the module docstring."""

    __slots__ = ("_buckets", "count", "max", "total", "zero")

    def __init__(self) -> None:
        self._buckets = [0] * _BUCKETS
        self.count = 0
        self.zero = 0
        self.max = 0.0
        self.total = 0.0

    def record(self, seconds: float) -> None:
        """Add one wait of ``seconds``."""
        self.count += 1
        if seconds < _NO_WAIT:
            self.zero += 1
            return
        self.total += seconds
        if seconds > self.max:
            self.max = seconds
        index = int(math.log2(seconds / _NO_WAIT) * _PER_OCTAVE)
        self._buckets[min(index, _BUCKETS - 1)] += 1

    def quantile(self, q: float) -> float:
        """Return the wait at quantile ``q`` (0 to 1): a bucket's middle, at most the max."""
        rank = q * self.count
        seen = self.zero
        if seen >= rank:
            return 0.0
        for index, n in enumerate(self._buckets):
            seen += n
            if seen >= rank:
                middle = _NO_WAIT * math.exp2((index + 0.5) / _PER_OCTAVE)
                return min(middle, self.max)
        return self.max

    def snapshot(self) -> WaitStats:
        """Freeze the current values."""
        count = self.count
        return WaitStats(
            count=count,
            waited=count - self.zero,
            mean=self.total / count if count else 0.0,
            p50=self.quantile(0.5),
            p90=self.quantile(0.9),
            p99=self.quantile(0.99),
            max=self.max,
            total=self.total,
        )


class Counters:
    """The mutable counters behind `ClientStats`; cheap to bump on the hot path."""

    __slots__ = (
        "attempts",
        "calls",
        "failed",
        "limiter_timeouts",
        "limiter_wait",
        "retries",
        "succeeded",
        "throttled",
    )

    def __init__(self) -> None:
        self.calls = self.succeeded = self.failed = 0
        self.attempts = self.throttled = self.limiter_timeouts = 0
        self.limiter_wait = WaitHistogram()
        self.retries: Counter[str] = Counter()

    def count_retry(self, reason: str) -> None:
        """Count one retry and its cause."""
        self.retries[reason] += 1

    def snapshot(self, *, workspaces: int = 0, workspaces_evicted: int = 0) -> ClientStats:
        """Freeze the current values (the workspace counts are the client's to give)."""
        return ClientStats(
            calls=self.calls,
            succeeded=self.succeeded,
            failed=self.failed,
            attempts=self.attempts,
            retries=self.retries.total(),
            retries_by_reason=MappingProxyType(dict(self.retries)),
            throttled=self.throttled,
            limiter_wait=self.limiter_wait.snapshot(),
            limiter_timeouts=self.limiter_timeouts,
            workspaces=workspaces,
            workspaces_evicted=workspaces_evicted,
        )
