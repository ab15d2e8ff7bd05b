"""``asyncsdk listen`` on start: apply what the events file holds and the database lacks.

The listener writes each event to ``--out`` (flushed before Bird gets its 200), then
applies it to ``--db`` and, for a finished call, fetches the details. A listener
killed in between (SIGKILL, a crash, the machine's OOM killer) leaves events in the
file that the database does not reflect; Bird will not send them again, since their
deliveries were acknowledged. So every start catches up, before the port opens:

1. `load_seen`: the delivery ids in the file are remembered (a retry of one of them is
   a duplicate, so the file is fsynced first), and a last line cut short by the kill
   is dropped (its delivery was never acknowledged: Bird retries it);
2. `replay`: the events after the offset the database records (`Applied`, written in
   the same transaction as the rows) are applied again. Applying is idempotent and a
   row never moves to an older state (`CallStore`), so replaying an event already
   applied changes nothing, and `replay_from` replays the whole file when the offset
   does not belong to it;
3. `unenriched_events`: every finished call whose row still holds an event's payload
   (killed before the fetch, or the fetch failed) is fetched again, by the pipeline.

Imports: the SDK's public API, `asyncsdk.webhooks`, msgspec, the standard library and
the listener's `_calldb`.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import AsyncIterator, Collection, Iterator
from pathlib import Path
from typing import Final

import msgspec

import asyncsdk
from asyncsdk.webhooks import CallEvent, SeenDeliveries

from ._calldb import Applied, CallStore, Row, row

__all__ = ["first_line_digest", "load_seen", "replay", "replay_from", "unenriched_events"]

logger: Final = logging.getLogger("asyncsdk.cli")

#: Events applied per transaction while replaying, and calls read per query.
BATCH: Final = 500


class _RequestIdOnly(msgspec.Struct, rename="camel"):
    request_id: str | None = None


_ID_DECODER: Final = msgspec.json.Decoder(_RequestIdOnly)
_EVENT_DECODER: Final = msgspec.json.Decoder(CallEvent)
_CALL_DECODER: Final = msgspec.json.Decoder(asyncsdk.Call)


def first_line_digest(line: bytes) -> str:
    """Return the digest that identifies an events file by its first line."""
    return hashlib.sha256(line).hexdigest()[:32]


def load_seen(out: Path, seen: SeenDeliveries) -> int:
    """Remember the delivery ids already in ``out``; drop a last line cut short. Return count."""
    if not out.exists():
        return 0
    count = 0
    with out.open("rb+") as f:
        good_end = 0
        for line in f:
            if not line.endswith(b"\n"):
                break
            with contextlib.suppress(msgspec.MsgspecError):
                request_id = _ID_DECODER.decode(line).request_id
                if request_id:
                    seen.add(request_id)
                    count += 1
            good_end += len(line)
        f.truncate(good_end)
        # A retry of these is acknowledged as a duplicate from now on: they must be on
        # disk, not only in the OS (the process that wrote them may have been killed
        # before its fsync).
        os.fsync(f.fileno())
    return count


def replay_from(applied: Applied | None, size: int, first_line: str | None) -> int:
    """Return the byte offset of ``out`` to replay from: the whole file unless it is known.

    Args:
        applied: What the database records (``None``: nothing yet).
        size: The file's size in bytes now.
        first_line: The digest of the file's first line now (``None``: it is empty).
    """
    if applied is None or first_line is None or applied.first_line != first_line:
        return 0
    return applied.offset if 0 <= applied.offset <= size else 0


async def replay(out: Path, store: CallStore) -> tuple[int, str | None]:
    """Apply the events of ``out`` the database does not reflect yet.

    Returns:
        How many events were replayed, and the digest of the file's first line (``None``
        when the file is empty or absent).
    """
    digest, size = _head(out)
    if digest is None:
        return 0, None
    start = replay_from(await store.applied(digest), size, digest)
    replayed, rows, offset = 0, [], start
    for offset, event in _events(out, start):
        rows.append(event_row(event))
        replayed += 1
        if len(rows) >= BATCH:
            await store.write(rows, [], Applied(offset, digest))
            rows = []
    await store.write(rows, [], Applied(offset, digest))
    return replayed, digest


def _head(out: Path) -> tuple[str | None, int]:
    """Return the digest of the file's first whole line (``None``: none) and its size."""
    try:
        with out.open("rb") as f:
            first = f.readline()
            size = f.seek(0, 2)
    except FileNotFoundError:
        return None, 0
    return (first_line_digest(first) if first.endswith(b"\n") else None), size


def _events(out: Path, start: int) -> Iterator[tuple[int, CallEvent]]:
    """Yield each event of ``out`` from byte ``start`` with the offset just after its line."""
    with out.open("rb") as f:
        f.seek(start)
        offset = start
        for line in f:
            if not line.endswith(b"\n"):
                return  # a line cut short (load_seen drops it): never acknowledged
            offset += len(line)
            try:
                event = _EVENT_DECODER.decode(line)
            except msgspec.MsgspecError as exc:
                logger.warning("listen: %s: skipping a line that is not an event: %s", out, exc)
                continue
            yield offset, event


def event_row(event: CallEvent) -> Row:
    """Return the upsert of an event's payload."""
    return row(event.payload, source="event", event=event.event)


async def unenriched_events(
    store: CallStore, statuses: Collection[str]
) -> AsyncIterator[CallEvent]:
    """Yield an event for each call at one of ``statuses`` whose details were not fetched.

    Read from the database a batch at a time, in id order; the event is rebuilt from the
    row (its payload the call as the event carried it, no request id).
    """
    after = ""
    while True:
        batch = await store.unenriched(statuses, after=after, limit=BATCH)
        for call_id, name, call in batch:
            payload = _CALL_DECODER.decode(call)
            yield CallEvent(service="channels", event=name or "", payload=payload)
            after = call_id
        if len(batch) < BATCH:
            return
