"""`trim_acknowledged`: remove the entries of a stream that every consumer group acknowledged.

``XADD MAXLEN`` and ``XTRIM MAXLEN`` cut by length, unread entries included: an event
acknowledged to Bird would be lost. This cuts by id instead (``XTRIM MINID``), below
the oldest entry some group still needs: for each group, its oldest pending entry, or
just after the last entry delivered to it when nothing is pending.

It reads the groups, then trims: meanwhile groups only move forward (deliveries and
acknowledgements), so the bound read is never too high. A group created meanwhile
from an id below the bound would miss the entries trimmed; create groups before
appending (`enrich_stream` creates its group when it starts).

Imports: redis and the standard library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = ["acknowledged_bound", "safe_bound", "trim_acknowledged", "trim_below"]


def _entry_id(raw: bytes | str) -> tuple[int, int]:
    text = raw.decode() if isinstance(raw, bytes) else raw
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def safe_bound(groups: list[tuple[bytes | str | None, bytes | str]]) -> tuple[int, int] | None:
    """Return the lowest id some group still needs, from ``(oldest pending, last delivered)``.

    Each group gives its oldest pending entry (``None`` when nothing is pending) and
    the last entry delivered to it. ``None`` when there is no group: nothing is trimmed.
    """
    bounds = []
    for oldest_pending, last_delivered in groups:
        if oldest_pending is not None:
            bounds.append(_entry_id(oldest_pending))
        else:
            ms, seq = _entry_id(last_delivered)
            bounds.append((ms, seq + 1))
    return min(bounds) if bounds else None


async def acknowledged_bound(redis: aioredis.Redis, stream: str) -> str | None:
    """Return the lowest entry id some group of ``stream`` still needs (``None``: no group).

    Every entry below it was acknowledged by every group: no worker is given it again.
    """
    info: list[dict[str, Any]] = await redis.xinfo_groups(stream)
    groups: list[tuple[bytes | str | None, bytes | str]] = []
    for group in info:
        oldest = None
        if group["pending"]:
            summary = await redis.xpending(stream, group["name"])
            oldest = summary["min"]
        groups.append((oldest, group["last-delivered-id"]))
    bound = safe_bound(groups)
    return None if bound is None else f"{bound[0]}-{bound[1]}"


async def trim_below(redis: aioredis.Redis, stream: str, bound: str) -> int:
    """Trim the entries of ``stream`` below ``bound`` (an `acknowledged_bound`); return how many."""
    trimmed: int = await redis.xtrim(stream, minid=bound, approximate=False)
    return trimmed


async def trim_acknowledged(redis: aioredis.Redis, stream: str) -> int:
    """Trim the entries of ``stream`` every group acknowledged; return how many went."""
    bound = await acknowledged_bound(redis, stream)
    return 0 if bound is None else await trim_below(redis, stream, bound)
