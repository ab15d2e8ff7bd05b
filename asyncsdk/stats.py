"""Per-client counters, and the frozen `ClientStats` snapshot a worker can report.

Imports: the standard library only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["ClientStats"]


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
        limiter_wait: Seconds attempts spent waiting on the rate limiter, summed.
    """

    calls: int = 0
    succeeded: int = 0
    failed: int = 0
    attempts: int = 0
    retries: int = 0
    retries_by_reason: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    throttled: int = 0
    limiter_wait: float = 0.0


class Counters:
    """The mutable counters behind `ClientStats`; cheap to bump on the hot path."""

    __slots__ = ("attempts", "calls", "failed", "limiter_wait", "retries", "succeeded", "throttled")

    def __init__(self) -> None:
        self.calls = self.succeeded = self.failed = 0
        self.attempts = self.throttled = 0
        self.limiter_wait = 0.0
        self.retries: Counter[str] = Counter()

    def count_retry(self, reason: str) -> None:
        """Count one retry and its cause."""
        self.retries[reason] += 1

    def snapshot(self) -> ClientStats:
        """Freeze the current values."""
        return ClientStats(
            calls=self.calls,
            succeeded=self.succeeded,
            failed=self.failed,
            attempts=self.attempts,
            retries=self.retries.total(),
            retries_by_reason=MappingProxyType(dict(self.retries)),
            throttled=self.throttled,
            limiter_wait=self.limiter_wait,
        )
