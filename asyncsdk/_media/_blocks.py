"""`BlockWriter`: a download's chunks hashed and appended in order, off the event loop.

The event loop only gathers chunks: every `BLOCK` bytes it queues them, and one drain
job in the loop's default executor takes the queued blocks in order, hashes them and
appends them to the file (``hashlib``'s ``update`` and ``os.writev`` both release the
GIL), then tells the kernel to start writing them out (`asyncsdk._media._writeback`).
The drain keeps going while blocks are queued, so it never waits for the loop to wake
up and hand it the next one; it ends when the queue is empty, and the next block starts
another. At most `BACKLOG` bytes wait or are being written: past that, `add` waits for
room, so memory stays flat whatever the size. The loop drops the written blocks at its
next block, so they are freed on the thread that allocated them (glibc's allocator then
reuses their memory; fresh pages cost page faults, a measurable share of the CPU).

The first writer of a process also lets glibc keep those few MiB in its heap
(`keep_heap`): by default its ``free`` hands the top of the heap back to the kernel as
soon as 512 KiB of it are free, so each block's chunks, freed together, went back to the
kernel and were faulted in again for the next ones (120 page faults and 0.4 ms of CPU per
MB on the event loop's thread, a third of a plain read-and-write loop's CPU). Copying
each chunk into a few reused blocks instead (so that each is freed at once) measured
slower: the copy cost 0.3 ms per MB, the blocks' memory moving between the loop's core
and the drain's.

Where the time goes (one 200 MB download over loopback, 2 cores, per MB; 13 runs of 3-10
paired rounds with the drain timed): the drain is busy 88-95% of the download's wall
time in every run, so it is the slower stage and sets the pace. It spends 0.94-1.14 ms
on a core (the hash 0.65-0.71, SHA-256's own cost; the writes 0.27-0.39; the hand-offs,
hints and reservations 0.04), 0.18-1.06 ms runnable but waiting for a core (the loop,
the server and other processes hold both) and 0.02-0.23 ms asleep (the GIL between its
calls, the locks, the disk). The loop spends 0.54-1.08 ms, the bare loop 0.80-1.23 with
its writes. The drain alone thus costs more than the whole bare loop whenever the hash
costs more than the receiving (0.66 against 0.51 ms on a quiet machine): the download
then reaches at most the bare loop's time over the drain's, 0.81 there (0.80 against
0.99 ms), on any number of cores, and 0.59-0.63 once the waits are added. On a loaded
machine the SDK gets fewer cores than its two threads need (0.74-0.96 against about
1.3). `benchmarks.media_throughput` reports both bounds. Pinned to one core, the
download spends the bare loop's CPU plus the hash's, and 0.02-0.26 ms more; on two cores
the loop's thread spends 0.1-0.3 ms more (the kernel's network and wake-up work, the
copies and the interpreter, in perf's samples), the drain the same.

Measured and not kept, each against the default in the same runs (median sdk/aiohttp of
paired rounds; rounds vary by 30%). A third thread hashing beside the drain's writes:
638 against 636 MB/s. Joining each block's chunks on the loop (one hash call and one
write each): 680 against 645 MB/s, within the spread; joined in the drain instead (no
copy on the loop): 0.59 and 0.64 against 0.66 and 0.64. Freeing the drained blocks two
or four blocks later: 585 and 563 against 622 MB/s. Blocks of 256 KiB, 512 KiB, 2 MiB
and 4 MiB (the backlog four blocks): 0.51, 0.60, 0.57 and 0.39 against 0.64-0.66. The
loop hashing the next queued block instead of waiting for room (the hash in order, in
either thread): no gain over five runs (0.53-0.71 against 0.52-0.93), the loop's CPU up
as much as the drain's went down. The GIL is not what holds the drain: the switch
interval at 0.5 ms and 20 ms instead of 5 gave 0.76 and 0.68 against 0.75. Nor is the
bytes' move between cores: in a receive-and-hash loop without the SDK, hashing them on
the other core costs 0.00-0.05 ms per MB more. Writing on the loop with ``RWF_NOWAIT``
(it never waits, and the drain would only hash) is refused by ext4 for buffered writes
(``EOPNOTSUPP``). Pinning both threads to one core beat leaving them free (0.71-0.82
against 0.65-0.67), but a library does not choose its caller's cores.

A write that fails stops the drain: the blocks still queued are dropped, and the next
`add` or `drain` raises its `OSError`. Closing never waits on the event loop: it drops
the blocks still queued, and a block being written is finished by the drain's thread,
which then closes the file (never under the write), so the file is always a prefix of
what was accepted, never spliced. A drain that no executor runs (shut
down, or its job cancelled before it started) fails the same way, with an `OSError`,
instead of leaving `add`, `drain` and the close waiting for it.

Imports: the standard library and the package's `_media._writeback`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import functools
import hashlib
import os
import threading
from collections.abc import Callable
from typing import Final

from ._writeback import Preallocation, WritebackHint

__all__ = ["BACKLOG", "BLOCK", "HEAP_HINT", "BlockWriter", "keep_heap"]

#: Bytes gathered into one block before it is queued.
BLOCK: Final = 1024 * 1024
#: Most bytes queued or being written before `BlockWriter.add` waits for room.
BACKLOG: Final = 4 * BLOCK
#: Most chunks in one block (``os.writev`` takes at most ``IOV_MAX``, 1024 on Linux).
_MAX_PIECES: Final = 256
#: The buffer `keep_heap` frees: the backlog's size, so that glibc keeps twice that.
HEAP_HINT: Final = BACKLOG
_heap_kept = False


def keep_heap() -> None:
    """Let glibc keep a download's chunks' memory in its heap (once per process).

    glibc returns the top of its heap to the kernel once more than ``M_TRIM_THRESHOLD``
    of it is free; by default that threshold follows the largest mmapped chunk freed so
    far (twice its size, ``mallopt(3)``): 512 KiB once a 256 KiB socket read was freed,
    less than one block. Freeing one `HEAP_HINT`-sized buffer does what glibc does for
    any program that frees a buffer that large: the thresholds rise to 4 MiB (mmap) and
    8 MiB (trim), so the heap a download reuses stays mapped; at most 8 MiB of free heap
    is kept, not returned. A process that set either threshold itself (``mallopt``,
    ``MALLOC_TRIM_THRESHOLD_``) keeps its own: glibc then adjusts neither. Elsewhere
    than glibc this does nothing.
    """
    global _heap_kept
    if _heap_kept:
        return
    _heap_kept = True
    if _glibc():
        with contextlib.suppress(MemoryError):  # a hint: the download goes on without it
            buffer = bytearray(HEAP_HINT)  # mmapped (above the threshold), then freed
            del buffer


def _glibc() -> bool:
    try:
        return bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (AttributeError, ValueError, OSError):  # no confstr, or not glibc
        return False


class BlockWriter:
    """Appends chunks to an open file in order, hashed, off the event loop (see the module).

    Args:
        fd: The file, positioned at its end; closed by `close`.
        held: Bytes already in it (and in ``digest``).
        digest: The SHA-256 of those bytes, continued here; ``None`` hashes nothing.

    Attributes:
        accepted: Bytes accepted by `add` (in the file, queued, or gathered).
        written: Bytes in the file.
    """

    def __init__(self, fd: int, held: int = 0, digest: hashlib._Hash | None = None) -> None:
        keep_heap()
        self._fd: int | None = fd
        self._digest = digest
        self._hint = WritebackHint(fd, held)
        self._reserve = Preallocation(fd, held)
        self._gathered: list[bytes] = []
        self._gathered_size = 0
        self._queue: collections.deque[list[bytes]] = collections.deque()
        self._spent: list[list[bytes]] = []
        self._backlog = 0
        self._queued = held  # bytes in the file once the queue is written
        self._draining = False
        self._waiter: asyncio.Future[None] | None = None
        self._waiting_for = 0  # wake the waiter once the backlog is at most this
        self._error: BaseException | None = None
        self._state = threading.Lock()  # the queue, the backlog, the waiter, the fd
        self._writing = False  # a block is being written (the drain closes the fd after)
        self._closing = False
        self.accepted = self.written = held

    @property
    def fd(self) -> int | None:
        """The file descriptor, or ``None`` once closed."""
        return self._fd

    def hexdigest(self) -> str | None:
        """The SHA-256 of the bytes written, as 64 hex digits; ``None`` if unhashed."""
        return None if self._digest is None else self._digest.hexdigest()

    def expect(self, size: int | None) -> None:
        """Note the object's size, so that its blocks are reserved ahead of the writes."""
        self._reserve.size = size

    @property
    def broken(self) -> bool:
        """Whether a write failed, leaving bytes not whole (blocks no drain took leave a prefix)."""
        return self._error is not None and getattr(self._error, "errno", 0) != errno.ECANCELED

    async def add(self, chunk: bytes) -> None:
        """Accept ``chunk``; queue a block once one is gathered, waiting for room.

        Raises:
            OSError: An earlier block could not be written.
        """
        self._gathered.append(chunk)
        self._gathered_size += len(chunk)
        self.accepted += len(chunk)
        if self._gathered_size >= BLOCK or len(self._gathered) >= _MAX_PIECES:
            self._enqueue()
            await self._wait(BACKLOG - 1)

    async def drain(self) -> None:
        """Queue what is gathered and wait until all of it is in the file.

        Raises:
            OSError: A block could not be written.
        """
        self._enqueue()
        await self._wait(0)

    def _enqueue(self) -> None:
        """Queue the gathered chunks, starting a drain if none is running."""
        self._raise()
        blocks, self._gathered, self._gathered_size = self._gathered, [], 0
        with self._state:
            spent, self._spent = self._spent, []
            if not blocks:
                return
            self._queue.append(blocks)
            size = sum(len(block) for block in blocks)
            self._backlog += size
            self._queued += size
            start, self._draining = not self._draining, True
        del spent  # freed here, on the loop's thread
        if start:
            try:
                job = asyncio.get_running_loop().run_in_executor(None, self._drain)
            except RuntimeError as exc:  # no executor (the loop is closing): none drains
                wake = self._stop(_unwritten(f"no executor took it ({exc})"))
                if wake is not None:
                    _call(wake)
                self._raise()
            job.add_done_callback(self._dropped)

    def _dropped(self, job: asyncio.Future[None]) -> None:
        """Fail the blocks of a drain the executor cancelled before it ran (on the loop)."""
        if job.cancelled():  # as by shutdown(cancel_futures=True): it never started
            wake = self._stop(_unwritten("its executor cancelled the write"))
            if wake is not None:
                _call(wake)

    def _stop(self, exc: BaseException) -> Callable[[], object] | None:
        """Drop the queued blocks, ``exc`` their error; return what wakes the waiter."""
        with self._state:
            self._error = exc
            self._queue.clear()
            self._backlog = 0
            self._draining = False
            return self._wake_if_due()

    async def _wait(self, most: int) -> None:
        """Wait until at most ``most`` bytes are queued or being written."""
        with self._state:
            if self._backlog <= most:
                waiter = None
            else:
                waiter = self._waiter = asyncio.get_running_loop().create_future()
                self._waiting_for = most
        if waiter is not None:
            try:
                await waiter
            finally:
                with self._state:
                    self._waiter = None
        self._raise()

    def _raise(self) -> None:
        if self._error is not None or self._closing:  # closed: its blocks were dropped
            raise self._error or OSError(errno.EBADF, "the file is closed: nothing written")

    def _drain(self) -> None:
        """Hash and append the queued blocks in order (in a thread), until none is left."""
        try:
            while True:
                with self._state:
                    if not self._queue:
                        self._draining = False
                        return
                    blocks = self._queue.popleft()
                self._put(blocks)
                with self._state:
                    self._spent.append(blocks)
                    self._backlog -= sum(len(block) for block in blocks)
                    loop_wake = self._wake_if_due()
                if loop_wake is not None:
                    _call(loop_wake)
        except BaseException as exc:
            loop_wake = self._stop(exc)
            if loop_wake is not None:
                _call(loop_wake)
            if not isinstance(exc, Exception):
                raise

    def _wake_if_due(self) -> Callable[[], object] | None:
        """Return what wakes the loop's waiter, if the backlog fell far enough (locked)."""
        waiter = self._waiter
        if waiter is None or (
            self._backlog > self._waiting_for and self._error is None and not self._closing
        ):
            return None
        self._waiter = None
        loop = waiter.get_loop()
        return functools.partial(loop.call_soon_threadsafe, _wake, waiter)

    def _put(self, blocks: list[bytes]) -> None:
        """Hash and append one block; start its writeback when due; close if asked meanwhile."""
        with self._state:
            fd, closed = self._fd, self._closing
            if fd is None or closed:
                return  # closed meanwhile: dropped, as the blocks still queued
            self._writing = True
        try:
            if self._digest is not None:
                for block in blocks:
                    self._digest.update(block)
            self._reserve.wrote(self.written)
            self.written += _write_all(fd, blocks)
            self._hint.wrote(self.written)
        finally:  # the write ended: close the file if `close` was called meanwhile
            with self._state:
                self._writing = False
                closing = self._closing
            if closing:
                self._close_fd()

    async def settle(self) -> None:
        """Queue what is gathered and wait until all of it is in the file.

        A failed write is not raised (see `broken`); after one, the gathered chunks are
        not written (never after a gap).
        """
        with contextlib.suppress(Exception):
            self._enqueue()
        with contextlib.suppress(Exception):
            await self._wait(0)

    def restart(self, digest: hashlib._Hash | None) -> None:
        """Empty the file (nothing queued: after `drain`) and start hashing afresh.

        Raises:
            OSError: `close` was called (the drain may still be writing to the fd).
        """
        if self._fd is None or self._closing:
            raise OSError(errno.EBADF, "the file is closed: nothing to restart")
        self._gathered, self._gathered_size = [], 0
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.ftruncate(self._fd, 0)
        self._hint.restart()
        self._reserve.restart()
        self._digest = digest
        self.accepted = self.written = self._queued = 0

    def close(self) -> None:
        """Close the file without waiting; drop what is queued or gathered.

        Never waits for the disk (it runs on the event loop): a block being written is
        finished by the drain's thread, which then closes the file. To keep every byte
        accepted, `settle` first. A task waiting for the blocks gets an `OSError`.
        """
        self._gathered, self._gathered_size = [], 0
        with self._state:
            self._backlog -= sum(len(b) for blocks in self._queue for b in blocks)
            self._queue.clear()
            self._spent = []
            self._closing = True
            wake, writing = self._wake_if_due(), self._writing
        if wake is not None:
            _call(wake)
        if not writing:
            self._close_fd()

    def _close_fd(self) -> None:
        with self._state:
            fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def _call(wake: Callable[[], object]) -> None:
    """Wake the loop's waiter; a loop already closed has no one left to wake."""
    with contextlib.suppress(RuntimeError):
        wake()


def _unwritten(why: str) -> OSError:
    """The error of blocks no drain will write: the file's bytes are not whole."""
    return OSError(errno.ECANCELED, f"a block was not written: {why}")


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():  # a cancelled wait
        waiter.set_result(None)


def _write_all(fd: int, blocks: list[bytes]) -> int:
    """Append ``blocks`` to ``fd`` with as few system calls as it takes; return the bytes.

    ``os.writev`` may write less than asked (a signal, a nearly full disk): the rest is
    written on, or the call's ``OSError`` raised.
    """
    total = sum(len(block) for block in blocks)
    done = os.writev(fd, blocks)
    if done < total:
        rest = memoryview(b"".join(blocks))[done:]
        while rest:
            written = os.write(fd, rest)
            if written == 0:
                raise OSError(errno.ENOSPC, "the file system took no more bytes")
            rest = rest[written:]
    return total
