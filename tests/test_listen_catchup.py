"""A listener's start: the events file applied where the database lacks it, then enriched."""

from __future__ import annotations

import uuid
from pathlib import Path

import msgspec
import pytest

from asyncsdk import Call, Client
from asyncsdk.cli._calldb import Applied, CallStore, read_calls, row
from asyncsdk.cli._catchup import first_line_digest, replay, replay_from
from asyncsdk.cli._listen import Listener, ListenOptions
from asyncsdk.server import EmbeddedServer
from asyncsdk.webhooks import CallEvent

SIGNING_KEY = "catch-up-signing-key"


def event(call: Call, status: str) -> CallEvent:
    payload = msgspec.structs.replace(call, status=status)
    return CallEvent(
        service="channels", event="voice.outbound", payload=payload, request_id=str(uuid.uuid4())
    )


@pytest.mark.parametrize(
    ("applied", "size", "first", "start"),
    [
        (None, 100, "a", 0),  # nothing recorded: the whole file
        (Applied(40, "a"), 100, "a", 40),
        (Applied(40, "a"), 100, "b", 0),  # another file
        (Applied(140, "a"), 100, "a", 0),  # the file is shorter than recorded
        (Applied(100, "a"), 100, "a", 100),  # all applied
        (Applied(40, "a"), 0, None, 0),
    ],
)
def test_where_the_replay_starts(
    applied: Applied | None, size: int, first: str | None, start: int
) -> None:
    assert replay_from(applied, size, first) == start


async def test_replay_applies_only_what_the_database_lacks(tmp_path: Path) -> None:
    call = Call(id=uuid.uuid4(), channel_id=uuid.uuid4())
    events = [event(call, "ringing"), event(call, "ongoing"), event(call, "completed")]
    lines = [e.to_json() + b"\n" for e in events]
    out = tmp_path / "events.jsonl"
    out.write_bytes(b"".join(lines) + b'{"cut sh')
    store = CallStore(tmp_path / "calls.sqlite")
    await store.open()
    try:
        digest = first_line_digest(lines[0])
        # The database has the first two events (recorded) and nothing of the third.
        await store.write(
            [row(events[1].payload, source="event", event="voice.outbound")],
            [],
            Applied(len(lines[0]) + len(lines[1]), digest),
        )
        assert await replay(out, store) == (1, digest)
        assert await store.applied(digest) == Applied(sum(map(len, lines)), digest)
        assert [c for c, _, _ in await store.unenriched({"completed"})] == [str(call.id)]
        assert await replay(out, store) == (0, digest)  # nothing left to apply
    finally:
        await store.close()
    assert read_calls(tmp_path / "calls.sqlite")[str(call.id)][:2] == ("completed", "event")


async def test_a_start_applies_the_file_and_enriches_what_earlier_runs_left(
    tmp_path: Path, server: EmbeddedServer, client: Client
) -> None:
    """What a listener killed before its database caught up leaves; the next start fixes."""
    ds = server.dataset
    finished = [c for c in map(ds.call, ds.call_ids[:30]) if c and c.status == "completed"]
    a, b, c = finished[:3]
    out, db = tmp_path / "events.jsonl", tmp_path / "calls.sqlite"
    # a: only in the file. b: applied, never enriched. c: applied at an older state.
    written = [event(a, "completed"), event(b, "completed"), event(c, "completed")]
    out.write_bytes(b"".join(e.to_json() + b"\n" for e in written))
    store = CallStore(db)
    await store.open()
    try:
        await store.write(
            [
                row(written[1].payload, source="event", event="voice.outbound"),
                row(msgspec.structs.replace(c, status="ringing"), source="event", event=None),
            ],
            [],
        )
    finally:
        await store.close()
    options = ListenOptions(
        signing_keys=(SIGNING_KEY,), out=out, port=0, workspace=str(ds.workspace_id), db=db
    )
    listener = Listener(options, client)
    await listener.start()
    await listener.stop()
    assert (listener.preloaded, listener.replayed, listener.backlog) == (3, 3, 3)
    rows = read_calls(db)
    for call in (a, b, c):
        assert rows[str(call.id)] == ("completed", "api", call)


async def test_the_unenriched_calls_are_read_a_batch_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asyncsdk.cli import _catchup
    from asyncsdk.cli._catchup import unenriched_events

    monkeypatch.setattr(_catchup, "BATCH", 2)
    calls = [Call(id=uuid.uuid4(), status=s) for s in ["busy"] * 5 + ["ringing", "completed"]]
    store = CallStore(tmp_path / "calls.sqlite")
    await store.open()
    try:
        rows = [row(c, source="event", event="voice.inbound") for c in calls]
        rows[0] = row(calls[0], source="api", event="voice.inbound")  # enriched already
        await store.write(rows, [])
        found = [e.payload async for e in unenriched_events(store, {"busy", "completed"})]
    finally:
        await store.close()
    assert sorted(str(c.id) for c in found) == sorted(str(c.id) for c in calls[1:5] + calls[6:])
    assert found == sorted(found, key=lambda c: str(c.id)) and found[0] in calls


async def test_two_events_files_into_one_database_keep_their_own_offsets(
    tmp_path: Path,
) -> None:
    """Two listeners (say inbound and outbound) may share a database, not a file."""
    store = CallStore(tmp_path / "calls.sqlite")
    outs = [tmp_path / "inbound.jsonl", tmp_path / "outbound.jsonl"]
    for out in outs:
        call = Call(id=uuid.uuid4(), channel_id=uuid.uuid4())
        out.write_bytes(b"".join(event(call, s).to_json() + b"\n" for s in ("ringing", "ongoing")))
    await store.open()
    try:
        digests = [(await replay(out, store))[1] for out in outs]
        for out, digest in zip(outs, digests, strict=True):
            assert await replay(out, store) == (0, digest)  # each file's offset kept
            assert await store.applied(digest) == Applied(out.stat().st_size, digest)
        assert await store.applied(first_line_digest(b"another file\n")) is None
    finally:
        await store.close()


async def test_a_backlog_that_cannot_be_read_stops_the_listener_at_once(
    tmp_path: Path, server: EmbeddedServer, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not only when it stops: until then nothing of the backlog would be enriched."""
    import asyncio
    import sqlite3

    async def unreadable(self: CallStore, *args: object, **kwargs: object) -> object:
        raise sqlite3.OperationalError("database disk image is malformed")

    monkeypatch.setattr(CallStore, "unenriched", unreadable)
    db = tmp_path / "calls.sqlite"
    options = ListenOptions(
        signing_keys=(SIGNING_KEY,),
        out=tmp_path / "events.jsonl",
        port=0,
        workspace=str(server.dataset.workspace_id),
        db=db,
    )
    listener = Listener(options, client)
    await listener.start()
    try:
        await asyncio.wait_for(listener.stopping.wait(), 60)
    finally:
        await asyncio.wait_for(listener.stop(), 60)
    assert str(listener.failure) == (
        f"reading {db} for calls not enriched failed: OperationalError: database disk "
        "image is malformed"
    )
