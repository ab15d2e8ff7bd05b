"""The listener's events file: each event on disk before its 200, fsyncs shared."""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path

import pytest

from asyncsdk.cli import _eventlog
from asyncsdk.cli._eventlog import EventLog
from asyncsdk.cli._listen import Listener, ListenOptions

from .test_cli_listen import SIGNING_KEY, post_events


async def test_concurrent_syncs_share_one_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = os.fsync
    monkeypatch.setattr(_eventlog.os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    log = EventLog(tmp_path / "events.jsonl")
    offsets = [log.append(b'{"n":%d}\n' % n) for n in range(3)]
    assert offsets == [8, 16, 24]
    await asyncio.gather(*(log.sync() for _ in range(3)))
    assert len(calls) == 1  # all three lines were appended before the fsync began
    await log.sync()  # nothing new: no fsync
    assert len(calls) == 1
    log.append(b'{"n":3}\n')
    await log.sync()
    assert len(calls) == 2
    await log.aclose()
    assert (tmp_path / "events.jsonl").read_bytes().count(b"\n") == 4


async def test_a_failing_fsync_refuses_the_delivery_and_stops_the_listener(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    options = ListenOptions(signing_keys=(SIGNING_KEY,), out=tmp_path / "events.jsonl", port=0)
    listener = Listener(options)
    await listener.start()
    monkeypatch.setattr(_eventlog.os, "fsync", broken)  # the disk fails once listening
    try:
        assert await post_events(listener.url, 1) == [503]  # not acknowledged: Bird retries
        await asyncio.wait_for(listener.stopping.wait(), 30)
        assert await post_events(listener.url, 1) == [503]
    finally:
        await asyncio.wait_for(listener.stop(), 30)
    assert listener.failure is not None
    assert str(listener.failure).startswith(f"writing events to {options.out} failed: OSError")


async def test_an_fsync_slower_than_the_hand_off_timeout_writes_the_event_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """503 while the disk stalls, for the delivery and its retry; 200 once on disk.

    The retry is never written again, and never acknowledged before the fsync: a power
    loss then would lose an acknowledged event.
    """
    import threading
    import uuid

    import aiohttp

    from asyncsdk.webhooks import SeenDeliveries

    from ._webhooks import event_body, signed_headers

    release = threading.Event()
    real = os.fsync

    def stalled(fd: int) -> None:
        release.wait(30)  # the disk stalls until the test lets it go
        real(fd)

    options = ListenOptions(signing_keys=(SIGNING_KEY,), out=tmp_path / "events.jsonl", port=0)
    listener = Listener(options)
    listener.receiver._handoff.timeout = 0.2
    assert isinstance(listener.receiver.seen, SeenDeliveries)
    await listener.start()
    monkeypatch.setattr(_eventlog.os, "fsync", stalled)
    try:
        body = event_body(uuid.uuid4(), status="ringing")

        async def deliver() -> tuple[int, str]:
            headers = signed_headers(listener.url, body, key=SIGNING_KEY, request_id="slow")
            async with session.post(listener.url, data=body, headers=headers) as resp:
                return resp.status, await resp.text()

        async with aiohttp.ClientSession() as session:
            answers = [await deliver(), await deliver()]  # the delivery, Bird's retry
            release.set()  # the disk catches up
            listener.receiver._handoff.timeout = 30.0  # however slow this machine is
            answers += [await deliver(), await deliver()]  # Bird retries again
        assert answers == [
            (503, "busy, retry later"),
            (503, "busy, retry later"),
            (200, "ok"),
            (200, "duplicate"),
        ]
    finally:
        release.set()
        await asyncio.wait_for(listener.stop(), 30)
    assert len((tmp_path / "events.jsonl").read_bytes().splitlines()) == 1
    assert listener.stats.written == 1


async def test_a_full_disk_refuses_the_delivery_and_stops_the_listener(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No later line could be written either: the listener stops rather than limping on."""

    def full(self: EventLog, line: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(EventLog, "append", full)
    options = ListenOptions(signing_keys=(SIGNING_KEY,), out=tmp_path / "events.jsonl", port=0)
    listener = Listener(options)
    await listener.start()
    try:
        assert await post_events(listener.url, 1) == [503]
        await asyncio.wait_for(listener.stopping.wait(), 30)
    finally:
        await asyncio.wait_for(listener.stop(), 30)
    assert listener.failure is not None
    assert "No space left on device" in str(listener.failure)
    assert listener.stats.written == 0 and listener.intake.empty()


def test_the_ids_a_start_takes_for_duplicates_are_on_disk_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A killed listener's last lines may be in the OS only; their retries get a 200."""
    from asyncsdk.cli import _catchup
    from asyncsdk.webhooks import SeenDeliveries

    out = tmp_path / "events.jsonl"
    out.write_bytes(b'{"requestId":"a"}\n{"requestId":"b"}\n{"requestId":"c"')
    synced: list[bytes] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(out.read_bytes())
        real(fd)

    monkeypatch.setattr(_catchup.os, "fsync", fsync)
    assert _catchup.load_seen(out, SeenDeliveries()) == 2
    assert synced == [b'{"requestId":"a"}\n{"requestId":"b"}\n']


async def test_a_second_listener_on_the_same_events_file_is_refused_before_touching_it(
    tmp_path: Path,
) -> None:
    """Its start would drop a line the first is writing, and their offsets would mix."""
    from asyncsdk.cli._eventlog import EventLogBusyError

    out = tmp_path / "events.jsonl"
    first = Listener(ListenOptions(signing_keys=(SIGNING_KEY,), out=out, port=0))
    await first.start()
    try:
        assert await post_events(first.url, 2) == [200, 200]
        with out.open("ab") as f:
            f.write(b'{"a line being written')  # as the first listener's write, mid-way
        second = Listener(ListenOptions(signing_keys=(SIGNING_KEY,), out=out, port=0))
        with pytest.raises(EventLogBusyError, match="one listener per events file"):
            await second.start()
        assert out.read_bytes().endswith(b'{"a line being written')  # not truncated
        assert second.url == ""  # never listened
    finally:
        await first.stop()


def test_listen_on_an_events_file_in_use_exits_1_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from asyncsdk.cli import main

    out = tmp_path / "events.jsonl"
    held = EventLog(out)  # another listener's
    try:
        code = main(["listen", "--signing-key", "k", "--out", str(out), "--port", "0"])
    finally:
        asyncio.run(held.aclose())
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f"asyncsdk: error: EventLogBusyError: {out} is in use by another")
    assert err.count("\n") == 1
