"""`SeenDeliveries`: which deliveries were already accepted, in bounded memory.

Bird retries a delivery that got no 2xx (and one whose 2xx was lost on the way) with
the same ``messagebird-request-id``, signed afresh. The id is not signed, though: a
captured delivery can be replayed with fresh ids, and only its signature (over the
timestamp, the URL and the body) still gives it away. So the receiver remembers each
delivery it has *accepted* (handed to the sink and acknowledged) by two keys, its id
and its signature, and acknowledges a delivery matching either without passing it on
again. Only acceptance is remembered: a delivery refused with 503 is not, so its
retry is processed.

Memory is bounded two ways: a key is forgotten ``ttl`` seconds after it was accepted,
and beyond ``max_entries`` the oldest keys are forgotten first. ``collections.OrderedDict``
keeps acceptance order, so both evictions pop from the front in O(1); the clock is a
parameter, so tests fake it.

Imports: the standard library only.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

__all__ = ["DEFAULT_DEDUPE_ENTRIES", "DEFAULT_DEDUPE_TTL", "SeenDeliveries"]

DEFAULT_DEDUPE_TTL: Final = 9 * 3600.0
"""Seconds an accepted delivery is remembered: Bird retries for 8 hours, plus margin."""
DEFAULT_DEDUPE_ENTRIES: Final = 200_000
"""Keys remembered at most: two per accepted delivery (its id and its signature), so the
last 100,000 deliveries (about 40 MB at the most, the keys included)."""


class SeenDeliveries:
    """The deliveries accepted recently, forgotten after ``ttl`` or beyond ``max_entries``.

    Holds keys: a receiver adds two for each delivery it accepts, its
    ``messagebird-request-id`` and its signature, and takes a delivery matching either
    for a repeat. Share one between handlers (or processes' warm-up code) to dedupe
    across them; `add` may be called to preload ids accepted before a restart.

    Args:
        ttl: Seconds a key is remembered after it was accepted.
        max_entries: Keys remembered at most (two per delivery); the oldest are
            forgotten first.
        clock: Monotonic seconds; defaults to `time.monotonic`.

    Raises:
        ValueError: ``ttl`` or ``max_entries`` is not positive.
    """

    __slots__ = ("_clock", "_expiry", "max_entries", "ttl")

    def __init__(
        self,
        *,
        ttl: float = DEFAULT_DEDUPE_TTL,
        max_entries: int = DEFAULT_DEDUPE_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (isinstance(ttl, int | float) and ttl > 0):
            raise ValueError(f"ttl must be a positive number of seconds, got {ttl!r}")
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ValueError(f"max_entries must be an int >= 1, got {max_entries!r}")
        self.ttl = float(ttl)
        self.max_entries = max_entries
        self._clock = clock
        self._expiry: OrderedDict[str, float] = OrderedDict()

    def __contains__(self, delivery_id: object) -> bool:
        """Whether ``delivery_id`` (an id or a signature) was accepted less than ``ttl`` ago."""
        expiry = self._expiry.get(delivery_id)  # type: ignore[call-overload]
        return expiry is not None and expiry > self._clock()

    def __len__(self) -> int:
        """How many keys are remembered (some may have expired but not been evicted yet)."""
        return len(self._expiry)

    def add(self, delivery_id: str) -> None:
        """Remember ``delivery_id`` (an id or a signature) as accepted now, evicting what is due."""
        now = self._clock()
        expiry = self._expiry
        expiry[delivery_id] = now + self.ttl
        expiry.move_to_end(delivery_id)
        while len(expiry) > self.max_entries:
            expiry.popitem(last=False)
        while expiry:
            oldest = next(iter(expiry.values()))
            if oldest > now:
                break
            expiry.popitem(last=False)

    def __repr__(self) -> str:
        return f"<SeenDeliveries {len(self)}/{self.max_entries} ttl={self.ttl:g}s>"
