"""The ``.part`` file's pipeline: blocks hashed and written off the event loop, in order.

Unit tests on real files (no server): whole files under every chunking, a failing and
a short ``writev``, writeback hints (and none, where the platform has no
``sync_file_range``), and a download cancelled while a block is being written or waits
for a thread: the ``.part`` left is always a prefix of the object, never spliced.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import functools
import hashlib
import os
import random
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from asyncsdk import DestinationError
from asyncsdk._media import _blocks, _files, _writeback
from asyncsdk._media._blocks import BACKLOG, BLOCK
from asyncsdk._media._files import PartFile
from asyncsdk._media._writeback import (
    Preallocation,
    WritebackHint,
    preallocation_due,
    writeback_due,
)

MIB = 1024 * 1024
DATA = random.Random(7).randbytes(5 * MIB + 12_345)


def _chunked(data: bytes, seed: int) -> list[bytes]:
    """Cut ``data`` in pieces of 1 byte to 300 KiB, as a network might hand them."""
    rng = random.Random(seed)
    pieces, at = [], 0
    while at < len(data):
        size = rng.choice((1, 17, 4096, 65_536, 262_144, 300_000))
        pieces.append(data[at : at + size])
        at += size
    return pieces


async def _write(part: PartFile, pieces: list[bytes]) -> None:
    for piece in pieces:
        await part.write(piece)


async def _write_and_finish(part: PartFile, pieces: list[bytes]) -> str | None:
    await _write(part, pieces)
    return await part.finish(sum(len(piece) for piece in pieces))


def _recorder(calls: list[tuple[int, int]]) -> _writeback.SyncFileRange:
    def sync_file_range(fd: int, offset: int, length: int, flags: int) -> int:
        assert flags == 2  # SYNC_FILE_RANGE_WRITE: start, never wait
        calls.append((offset, length))
        return 0

    return sync_file_range


def test_writeback_is_due_every_so_many_bytes() -> None:
    assert writeback_due(0, 0, every=100) == 0
    assert writeback_due(99, 0, every=100) == 0
    assert writeback_due(100, 0, every=100) == 100
    assert writeback_due(350, 100, every=100) == 250
    assert writeback_due(150, 100, every=100) == 0


def test_writeback_hints_cover_the_file_in_order() -> None:
    calls: list[tuple[int, int]] = []
    hint = WritebackHint(3, 40, every=100, sync_file_range=_recorder(calls))
    for written in (90, 140, 150, 260, 400):
        hint.wrote(written)
    assert calls == [(40, 100), (140, 120), (260, 140)]
    assert hint.hints == 3
    hint.restart()
    hint.wrote(120)
    assert calls[-1] == (0, 120)


def test_a_file_system_that_refuses_hints_gets_no_more() -> None:
    calls: list[int] = []

    def refuses(fd: int, offset: int, length: int, flags: int) -> int:
        calls.append(offset)
        return -1

    hint = WritebackHint(3, every=10, sync_file_range=refuses)
    hint.wrote(10)
    hint.wrote(100)
    assert calls == [0]
    assert hint.hints == 0
    WritebackHint(3, every=10, sync_file_range=None).wrote(100)  # no binding: nothing


def test_preallocation_is_due_ahead_of_the_writes_within_the_size() -> None:
    assert preallocation_due(0, 0, None, ahead=100) is None  # size unknown
    assert preallocation_due(0, 0, 1000, ahead=100) == (0, 100)
    assert preallocation_due(40, 100, 1000, ahead=100) is None  # 60 ahead: enough
    assert preallocation_due(60, 100, 1000, ahead=100) == (100, 60)
    assert preallocation_due(950, 1000, 1000, ahead=100) is None  # all reserved
    assert preallocation_due(980, 980, 1000, ahead=100) == (980, 20)  # never past the size
    assert preallocation_due(500, 0, 1000, ahead=100) == (500, 100)  # from the bytes written


def test_preallocation_reserves_in_order_and_stops_when_refused() -> None:
    calls: list[tuple[int, int, int]] = []

    def fallocate(fd: int, mode: int, offset: int, length: int) -> int:
        calls.append((mode, offset, length))
        return -1 if offset >= 300 else 0

    reserve = Preallocation(3, ahead=200, fallocate=fallocate)
    reserve.wrote(0)
    assert calls == []  # nothing until the size is known
    reserve.size = 1000
    for written in (0, 50, 150, 250, 400, 600):
        reserve.wrote(written)
    # KEEP_SIZE, each from what is reserved or written, up to 200 past what is written
    assert calls == [(1, 0, 200), (1, 200, 150), (1, 400, 200)]
    assert reserve.reserved == 350  # the refused one is not counted, and none follows
    reserve.restart()
    assert (reserve.reserved, reserve.size) == (0, None)


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("checksum", [True, False])
async def test_any_chunking_gives_the_whole_file_and_its_hash(
    tmp_path: Path, seed: int, checksum: bool
) -> None:
    part = PartFile(tmp_path / "a.mp3", resume=False, checksum=checksum)
    await part.open()
    await _write(part, _chunked(DATA, seed))
    digest = await part.finish(len(DATA))
    assert digest == (hashlib.sha256(DATA).hexdigest() if checksum else None)
    assert (tmp_path / "a.mp3").read_bytes() == DATA
    assert os.listdir(tmp_path) == ["a.mp3"]


@pytest.mark.parametrize("binding", ["recorded", "none"])
async def test_writeback_hints_or_none_the_file_is_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, binding: str
) -> None:
    calls: list[tuple[int, int]] = []
    bound = _recorder(calls) if binding == "recorded" else None
    hint = functools.partial(WritebackHint, every=MIB, sync_file_range=bound)
    monkeypatch.setattr(_blocks, "WritebackHint", hint)
    part = PartFile(tmp_path / "a.mp3", resume=False)
    await part.open()
    await _write(part, _chunked(DATA, 3))
    assert await part.finish(len(DATA)) == hashlib.sha256(DATA).hexdigest()
    assert (tmp_path / "a.mp3").read_bytes() == DATA
    if binding == "recorded":  # contiguous from byte 0, each at least 1 MiB
        assert calls
        assert [offset for offset, _ in calls] == [0, *(o + n for o, n in calls[:-1])]
        assert all(length >= MIB for _, length in calls)
    else:
        assert calls == []


async def test_a_short_writev_is_written_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.writev

    def short(fd: int, buffers: list[bytes]) -> int:  # at most 1,000 bytes per call
        return real(fd, [bytes(memoryview(b"".join(buffers))[:1000])])

    monkeypatch.setattr(os, "writev", short)
    part = PartFile(tmp_path / "a.mp3", resume=False)
    await part.open()
    await _write(part, _chunked(DATA[: 3 * MIB], 4))
    assert await part.finish(3 * MIB) == hashlib.sha256(DATA[: 3 * MIB]).hexdigest()
    assert (tmp_path / "a.mp3").read_bytes() == DATA[: 3 * MIB]


async def test_a_failed_write_removes_the_part_and_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int, buffers: list[bytes]) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    part = PartFile(tmp_path / "a.mp3", resume=False)
    await part.open()
    part.remember('"v1"', len(DATA))
    monkeypatch.setattr(os, "writev", full)
    with pytest.raises(DestinationError, match="No space left") as info:
        await _write_and_finish(part, _chunked(DATA, 5))
    assert info.value.filename == str(tmp_path / "a.mp3")
    assert info.value.errno == errno.ENOSPC
    assert os.listdir(tmp_path) == []
    await part.aclose()  # as a failed download's cleanup does: nothing left to keep
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("code", [errno.EIO, errno.EACCES, errno.EINVAL])
async def test_a_directory_that_cannot_be_synced_keeps_the_whole_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, code: int
) -> None:
    """Renamed, the file is whole and the old one gone: a failed directory sync warns.

    A directory the process may write but not read (mode 0300) cannot be opened to be
    synced; some file systems refuse to sync a directory; a device can fail. Removing
    the file then would lose both it and the file it replaced.
    """

    def refused(folder: Path) -> None:
        raise OSError(code, os.strerror(code))

    (tmp_path / "a.mp3").write_bytes(b"an older file")
    part = PartFile(tmp_path / "a.mp3", resume=True)
    await part.open()
    part.remember('"v1"', len(DATA))
    monkeypatch.setattr(_files, "_fsync_dir", refused)
    with caplog.at_level("WARNING", logger="asyncsdk"):
        digest = await _write_and_finish(part, _chunked(DATA, 5))
    assert digest == hashlib.sha256(DATA).hexdigest()
    assert sorted(os.listdir(tmp_path)) == ["a.mp3"]
    assert (tmp_path / "a.mp3").read_bytes() == DATA
    assert "could not be synced" in caplog.text


@pytest.mark.parametrize("keep", [True, False])
async def test_cancelled_while_the_directory_syncs_the_whole_file_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keep: bool
) -> None:
    """The rename is the point of no return: cancelled after it, the file is whole.

    The caller sees the cancellation; the final name holds every byte (the file
    fsynced before its rename), nothing else is left, and the download's cleanup, which
    keeps or removes the ``.part``, leaves the file alone. A later run fetches it again
    or finds it whole; `asyncsdk recordings` writes its manifest line only after the
    download returned, so it downloads it again.
    """
    syncing, release = threading.Event(), threading.Event()

    def slow(folder: Path) -> None:
        syncing.set()
        assert release.wait(timeout=30)

    part = PartFile(tmp_path / "a.mp3", resume=True)
    await part.open()
    part.remember('"v1"', len(DATA))
    monkeypatch.setattr(_files, "_fsync_dir", slow)
    task = asyncio.ensure_future(_write_and_finish(part, _chunked(DATA, 9)))
    try:
        assert await asyncio.to_thread(syncing.wait, 30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        release.set()
    if keep:  # the download's cleanup: keep the .part for a resume, or remove it
        await part.aclose()
    else:
        part.discard()
    assert sorted(os.listdir(tmp_path)) == ["a.mp3"]
    assert (tmp_path / "a.mp3").read_bytes() == DATA


class _Gate:
    """A ``writev`` that blocks its thread until opened, after ``free`` calls."""

    def __init__(self, free: int) -> None:
        self.free = free
        self.waiting = threading.Event()
        self.open = threading.Event()
        self._real = os.writev

    def __call__(self, fd: int, buffers: list[bytes]) -> int:
        if self.free == 0:
            self.waiting.set()
            assert self.open.wait(timeout=30)
        self.free -= 1
        return self._real(fd, buffers)


async def test_cancelled_while_waiting_for_room_keeps_every_byte_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = _Gate(free=1)
    monkeypatch.setattr(os, "writev", gate)
    part = PartFile(tmp_path / "a.mp3", resume=True)
    await part.open()
    part.remember('"v1"', len(DATA))
    blocks = BACKLOG // BLOCK
    for index in range(blocks):  # the first written, the second blocked, the rest queued
        await part.write(DATA[index * BLOCK : (index + 1) * BLOCK])
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, gate.waiting.wait, 30)
    accepted = blocks * BLOCK + 100
    await part.write(DATA[blocks * BLOCK : accepted])  # gathered
    task = asyncio.create_task(part.write(DATA[accepted : accepted + BLOCK]))
    await asyncio.sleep(0)  # the task queues its block, then waits for room
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    gate.open.set()
    await part.aclose()  # as a failed download keeping its .part does
    assert (tmp_path / "a.mp3.part").read_bytes() == DATA[: part.offset]
    assert part.offset == accepted + BLOCK
    assert (tmp_path / "a.mp3.part.json").exists()


@pytest.mark.parametrize("how", ["discard", "cancelled-aclose"])
async def test_closing_during_a_write_never_waits_for_the_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """Closing runs on the event loop: a block being written is left to the drain.

    The drain's thread finishes the write, then closes the file; the ``.part`` holds a
    prefix of the bytes (the whole first block, the one being written, nothing after).
    """
    gate = _Gate(free=1)
    monkeypatch.setattr(os, "writev", gate)
    part = PartFile(tmp_path / "a.mp3", resume=True)
    await part.open()
    part.remember('"v1"', len(DATA))
    for index in range(3):  # the first written, the second held in its write, one queued
        await part.write(DATA[index * BLOCK : (index + 1) * BLOCK])
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, gate.waiting.wait, 30)
    failsafe = threading.Timer(30, gate.open.set)  # were close to wait, the test ends anyway
    failsafe.start()
    try:
        writer = part._writer
        assert writer is not None and writer.fd is not None
        if how == "discard":
            part.discard()  # on the loop, while the drain's thread is in its write
        else:
            closing = asyncio.create_task(part.aclose())
            await asyncio.sleep(0)  # waiting for the blocks on their way
            closing.cancel()  # the caller gives up: close at once
            with pytest.raises(asyncio.CancelledError):
                await closing
        assert not gate.open.is_set()  # returned while the write was still held
        assert writer.fd is not None  # the drain closes it, after its write
        gate.open.set()
        async with asyncio.timeout(30):  # a guard against a hang, not a measure
            await writer.settle()  # until the drain's write ended
        assert writer.fd is None
    finally:
        failsafe.cancel()
        gate.open.set()
    if how == "discard":
        assert os.listdir(tmp_path) == []
    else:
        assert (tmp_path / "a.mp3.part").read_bytes() == DATA[: 2 * BLOCK]


async def test_a_writer_closed_during_a_write_refuses_to_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closed, its fd left to the drain's write: ``restart`` never truncates under it.

    The drain closes the fd once its write ends, and the number may then be another
    file's: a restart (``lseek``, ``ftruncate``) after `close` is refused with an
    `OSError` instead, and the file keeps the block being written, whole.
    """
    gate = _Gate(free=0)
    monkeypatch.setattr(os, "writev", gate)
    fd = os.open(tmp_path / "a.part", os.O_WRONLY | os.O_CREAT, 0o644)
    writer = _blocks.BlockWriter(fd, 0, None)
    await writer.add(DATA[:BLOCK])  # a block: queued, its write held in the drain
    assert await asyncio.to_thread(gate.waiting.wait, 30)
    try:
        writer.close()
        with pytest.raises(OSError, match="closed"):
            writer.restart(hashlib.sha256())
    finally:
        gate.open.set()
    async with asyncio.timeout(30):  # a guard against a hang, not a measure
        await writer.settle()
    assert writer.fd is None
    assert (tmp_path / "a.part").read_bytes() == DATA[:BLOCK]


async def _behind_a_busy_thread(
    tmp_path: Path,
) -> tuple[PartFile, concurrent.futures.ThreadPoolExecutor, threading.Event]:
    """A .part with one block queued behind the executor's only thread, 100 bytes gathered."""
    part = PartFile(tmp_path / "a.mp3", resume=True)
    await part.open()
    part.remember('"v1"', len(DATA))
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    asyncio.get_running_loop().set_default_executor(pool)
    busy = threading.Event()
    pool.submit(busy.wait, 30)  # the pool's only thread, until released
    await part.write(DATA[:BLOCK])  # queued behind it
    await part.write(DATA[BLOCK : BLOCK + 100])  # gathered
    return part, pool, busy


async def test_discarded_while_a_block_waits_for_a_thread_writes_nothing(
    tmp_path: Path,
) -> None:
    part, pool, busy = await _behind_a_busy_thread(tmp_path)
    part.discard()  # the download failed with nothing worth keeping
    busy.set()
    pool.shutdown(wait=True)  # the drain ran, found the file closed, wrote nothing
    assert os.listdir(tmp_path) == []


async def test_closing_fails_a_wait_for_the_blocks_instead_of_leaving_it_waiting(
    tmp_path: Path,
) -> None:
    """A task waiting for the blocks when another closes the file gets an `OSError`.

    The blocks it waited for were dropped: no drain would wake it (the one queued
    finds nothing left), and returning would say they are in the file.
    """
    part, pool, busy = await _behind_a_busy_thread(tmp_path)
    writer = part._writer
    assert writer is not None
    waiting = asyncio.create_task(writer.drain())
    await asyncio.sleep(0)
    assert not waiting.done()  # the block waits for the executor's thread
    part.discard()
    try:
        async with asyncio.timeout(30):  # a guard against a hang, not a measure
            with pytest.raises(OSError, match="closed"):
                await waiting
        with pytest.raises(OSError, match="closed"):  # nor says later that all is written
            await writer.drain()
    finally:
        busy.set()
        pool.shutdown(wait=True)
    assert os.listdir(tmp_path) == []


async def test_aclose_waits_for_the_blocks_on_their_way(tmp_path: Path) -> None:
    part, pool, busy = await _behind_a_busy_thread(tmp_path)
    closing = asyncio.create_task(part.aclose())
    await asyncio.sleep(0)
    assert not closing.done()  # waits for the queued block
    busy.set()
    await closing
    pool.shutdown(wait=True)
    assert (tmp_path / "a.mp3.part").read_bytes() == DATA[: BLOCK + 100]


@pytest.mark.parametrize("checksum", [True, False])
async def test_a_part_left_by_an_earlier_run_is_continued(tmp_path: Path, checksum: bool) -> None:
    (tmp_path / "a.mp3.part").write_bytes(DATA[: 2 * MIB + 5])
    (tmp_path / "a.mp3.part.json").write_bytes(b'{"etag": "\\"v1\\"", "size": %d}' % len(DATA))
    part = PartFile(tmp_path / "a.mp3", resume=True, checksum=checksum)
    await part.open()
    assert (part.offset, part.etag, part.size) == (2 * MIB + 5, '"v1"', len(DATA))
    await _write(part, _chunked(DATA[2 * MIB + 5 :], 8))
    digest = await part.finish(len(DATA))
    assert digest == (hashlib.sha256(DATA).hexdigest() if checksum else None)
    assert (tmp_path / "a.mp3").read_bytes() == DATA


async def test_another_version_starts_the_file_again(tmp_path: Path) -> None:
    part = PartFile(tmp_path / "a.mp3", resume=True)
    await part.open()
    part.remember('"v1"', len(DATA))
    await _write(part, _chunked(DATA[: 3 * MIB], 9))
    await part.truncate()  # the object changed: its new version from byte 0
    assert part.offset == 0
    assert not (tmp_path / "a.mp3.part.json").exists()
    other = DATA[::-1]
    await _write(part, _chunked(other, 10))
    assert await part.finish(len(other)) == hashlib.sha256(other).hexdigest()
    assert (tmp_path / "a.mp3").read_bytes() == other


async def test_without_an_executor_the_download_fails_and_never_hangs(tmp_path: Path) -> None:
    part = PartFile(tmp_path / "a.mp3", resume=True)
    await part.open()
    part.remember('"v1"', len(DATA))
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    asyncio.get_running_loop().set_default_executor(pool)
    pool.shutdown(wait=True)  # as when the loop is shutting down
    with pytest.raises(DestinationError):  # typed, as any failed write
        await part.write(DATA[:BLOCK])
    await part.aclose()  # returns: nothing waits for a drain that never started
    assert not (tmp_path / "a.mp3.part").exists()  # its bytes were not written: removed


async def test_closed_without_an_executor_the_part_keeps_what_was_written(
    tmp_path: Path,
) -> None:
    """No thread takes the last chunks: the ``.part`` is still a prefix, kept to resume.

    Only a write that failed leaves bytes that are not whole; chunks that no drain took
    (the loop's executor shut down) leave the file as it was, a prefix of the download.
    """
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    asyncio.get_running_loop().set_default_executor(pool)
    part = PartFile(tmp_path / "a.mp3", resume=True)
    await part.open()
    part.remember('"v1"', len(DATA))
    await part.write(DATA[:BLOCK])
    assert part._writer is not None
    await part._writer.drain()  # the first block in the file
    await part.write(DATA[BLOCK : BLOCK + 100])  # gathered
    pool.shutdown(wait=True)  # as when the loop is shutting down
    await part.aclose()  # returns: nothing waits for a drain that never started
    assert (tmp_path / "a.mp3.part").read_bytes() == DATA[:BLOCK]
    assert (tmp_path / "a.mp3.part.json").exists()


async def test_blocks_are_reserved_ahead_but_the_size_grows_with_the_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reserved: list[tuple[int, int]] = []
    sizes: list[int] = []
    real = _writeback.FALLOCATE

    def fallocate(fd: int, mode: int, offset: int, length: int) -> int:
        reserved.append((offset, length))
        sizes.append(os.fstat(fd).st_size)
        return real(fd, mode, offset, length) if real is not None else 0

    prealloc = functools.partial(Preallocation, ahead=2 * MIB, fallocate=fallocate)
    monkeypatch.setattr(_blocks, "Preallocation", prealloc)
    part = PartFile(tmp_path / "a.mp3", resume=True)
    await part.open()
    part.remember('"v1"', len(DATA))
    await _write(part, _chunked(DATA, 11))
    assert await part.finish(len(DATA)) == hashlib.sha256(DATA).hexdigest()
    assert (tmp_path / "a.mp3").read_bytes() == DATA
    assert reserved[0][0] == 0
    assert [o for o, _ in reserved[1:]] == [o + n for o, n in reserved[:-1]]  # contiguous
    assert sum(n for _, n in reserved) == len(DATA)  # all of it, never past the size
    assert sizes == sorted(sizes)  # the size only grew as bytes were written


_HEAP_CHILD = """
import asyncio, os, resource, sys
from asyncsdk._media import _blocks

if sys.argv[1] == "off":
    _blocks._heap_kept = True  # as if the process had kept its heap already
SOURCE = os.urandom(256 * 1024)


async def main() -> None:
    fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT, 0o600)
    writer = _blocks.BlockWriter(fd, 0, None)
    for index in range(256):
        if index == 128:  # the heap has grown to what a download holds: count from here
            start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        raw = bytearray(SOURCE)  # a socket read, then the body's piece copied out of it
        chunk = bytes(raw[:200_000])
        del raw
        await writer.add(chunk)
        del chunk
    await writer.drain()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start
    writer.close()
    print(faults / (128 * 200_000 / 1e6))


asyncio.run(main())
"""


@pytest.mark.skipif(not _blocks._glibc(), reason="glibc's heap thresholds")
def test_the_heap_a_download_reuses_stays_mapped(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_"))}

    def faults_per_mb(mode: str) -> float:
        out = subprocess.run(
            [sys.executable, "-c", _HEAP_CHILD, mode, str(tmp_path / f"{mode}.part")],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return float(out.stdout)

    # Without it, glibc gave each block's chunks back to the kernel when they were freed
    # together, and the next ones were faulted in again (30-50 page faults per MB here).
    assert faults_per_mb("on") < 5, faults_per_mb("off")
