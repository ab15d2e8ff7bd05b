"""`StreamWorkerStats`: the live counters of a `StreamWorker`.

The worker (`_worker`) and its calls to Redis (`_persist`) count into it; ``await
worker.run()`` returns it.

Imports: the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["StreamWorkerStats"]


@dataclass(slots=True)
class StreamWorkerStats:
    """What a `StreamWorker` did (live counters).

    Attributes:
        read: Entries read as new (``XREADGROUP >``).
        claimed: Entries claimed after ``min_idle`` (own pending ones at start included).
        enriched: Calls fetched and committed.
        passed: Entries committed without a fetch (a status not asked for).
        replayed: Entries found committed already, acknowledged without a fetch.
        failed: Fetches that failed (the entry stays pending, to be claimed again).
        dead_lettered: Entries moved to the dead-letter stream.
        acknowledged: Entries acknowledged after their commit.
        forgotten: Records of committed entries the store dropped once every group had
            acknowledged them (a `ForgettingStore`).
        redis_errors: Calls to Redis that failed (and were tried again).
        last_failure: The last failure, ``"ErrorName: message"``.
    """

    read: int = 0
    claimed: int = 0
    enriched: int = 0
    passed: int = 0
    replayed: int = 0
    failed: int = 0
    dead_lettered: int = 0
    acknowledged: int = 0
    forgotten: int = 0
    redis_errors: int = 0
    last_failure: str | None = field(default=None)
