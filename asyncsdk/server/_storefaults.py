"""The object store's faults: drawn from the seed, or queued for one key by a test.

`ObjectStore` (`_objectstore`) asks `StoreFaults` on three occasions: when it signs a
URL (``expired``: drawn, or queued), when it answers a ranged request (a hostile
answer queued: ``ignore_range``, ``wrong_range``), and when it answers with a body (a
cut, a replacement mid-body, a trickle: four draws every time, and a queued fault
first). Draws come from one RNG seeded by the server's seed, in arrival order, so a
seed and a request sequence give the same faults; what each draw means is decided by
the pure functions of `_presign`.

Imports: the standard library and the server's `_mediaconfig` and `_presign`.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Literal

from asyncsdk.server._mediaconfig import MediaFaults
from asyncsdk.server._presign import body_faults

__all__ = ["STORE_FAULTS", "StoreFault", "StoreFaults"]

#: A fault `ObjectStore.fail_next` can queue.
StoreFault = Literal["expired", "reset", "replace", "trickle", "ignore_range", "wrong_range"]
#: Every `StoreFault`.
STORE_FAULTS = frozenset(("expired", "reset", "replace", "trickle", "ignore_range", "wrong_range"))
_RANGE_FAULTS = frozenset(("ignore_range", "wrong_range"))
_BODY_FAULTS = frozenset(("reset", "replace", "trickle"))


class StoreFaults:
    """One object store's fault draws and the faults queued per key.

    Args:
        faults: The configured probabilities.
        seed: The server's seed.
    """

    __slots__ = ("_faults", "_queued", "_rng")

    def __init__(self, faults: MediaFaults, seed: int) -> None:
        self._faults = faults
        self._rng = random.Random(f"asyncsdk.server.object-faults:{seed}")
        self._queued: dict[str, deque[tuple[StoreFault, int | None]]] = {}

    def queue(self, key: str, kind: StoreFault, after: int | None) -> None:
        """Queue ``kind`` for ``key`` (``ObjectStore.fail_next`` says what each does).

        Raises:
            ValueError: ``kind`` is not a fault of the store, or ``after`` is negative.
        """
        if kind not in STORE_FAULTS:
            raise ValueError(f"kind must be one of {sorted(STORE_FAULTS)}, got {kind!r}")
        if after is not None and (isinstance(after, bool) or after < 0):
            raise ValueError(f"after must be a number of bytes, 0 or more; got {after!r}")
        self._queued.setdefault(key, deque()).append((kind, after))

    def expired(self, key: str) -> bool:
        """Whether the URL signed now for ``key`` is expired already (one draw, always)."""
        expired = self._rng.random() < self._faults.expired
        queue = self._queued.get(key)
        if queue and queue[0][0] == "expired":
            queue.popleft()
            expired = True
        return expired

    def hostile_range(self, key: str) -> StoreFault | None:
        """The hostile answer queued for ``key``'s next ranged request, taken; or ``None``."""
        queue = self._queued.get(key)
        if queue and queue[0][0] in _RANGE_FAULTS:
            return queue.popleft()[0]
        return None

    def body(self, key: str, length: int) -> tuple[int | None, bool, bool]:
        """Draw the faults of a body of ``length`` bytes: (cut after, replace, trickle).

        Always four draws; a fault queued for ``key`` comes first.
        """
        draws = tuple(self._rng.random() for _ in range(4))
        queue = self._queued.get(key)
        queued = queue.popleft() if queue and queue[0][0] in _BODY_FAULTS else None
        return body_faults(draws, self._faults, queued, length)
