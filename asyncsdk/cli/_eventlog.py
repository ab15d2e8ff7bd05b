"""`EventLog`: the listener's ``--out`` file, each event on disk before it is acknowledged.

`EventLog.append` writes one line to the operating system, unbuffered (a kill of the
process loses nothing after that) and returns the offset just after the line;
`EventLog.sync` returns once every line appended so far is on disk (``fsync``), so a
power loss loses nothing acknowledged either. Deliveries arrive concurrently, so the
fsyncs are grouped: one runs at a time, in a worker thread, and covers every line
appended before it started; a line appended meanwhile waits for the next one. Many
deliveries then share one fsync, and the event loop is never blocked by the disk.

Imports: the standard library only.
"""

from __future__ import annotations

import asyncio
import os
import sys
from io import FileIO
from pathlib import Path

if sys.platform != "win32":
    import fcntl

__all__ = ["EventLog", "EventLogBusyError"]


class EventLogBusyError(OSError):
    """Another process (another ``asyncsdk listen``) has the events file open.

    Attributes:
        path: The events file.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"{path} is in use by another process (another asyncsdk listen with this "
            "--out?): one listener per events file"
        )
        self.path = path


def _lock(file: FileIO, path: Path) -> None:
    """Lock ``file`` for this process alone, or raise `EventLogBusyError`."""
    if sys.platform == "win32":  # no flock: one listener per file is up to the user
        return
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise EventLogBusyError(path) from None


class EventLog:
    """An append-only file of JSON lines, flushed on append and fsynced in groups.

    Args:
        path: The file (created if absent, appended to otherwise).

    Raises:
        EventLogBusyError: Another process has the file open as an `EventLog`.
        OSError: The file cannot be opened.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        # Unbuffered: a write that fails leaves nothing behind to be written later
        # with the next line.
        self._file: FileIO = path.open("ab", buffering=0)
        try:
            _lock(self._file, path)
        except BaseException:
            self._file.close()
            raise
        self._end = 0  # the offset after the last line appended
        self._synced = 0  # the offset up to which the file is known to be on disk
        self._syncing: asyncio.Future[None] | None = None

    @property
    def synced(self) -> int:
        """The offset up to which every line appended is known to be on disk."""
        return self._synced

    def append(self, line: bytes) -> int:
        """Write ``line`` (ending in a newline) to the OS; return the offset after it.

        Raises:
            OSError: The write failed (the disk is full): the file may end with part of
                the line, which the next start drops.
        """
        view = memoryview(line)
        while view:
            written = self._file.write(view)
            view = view[written or 0 :]
        self._end = self._file.tell()
        return self._end

    async def sync(self) -> None:
        """Return once every line appended so far is on disk.

        Raises:
            OSError: The fsync failed (the disk, the file system); nothing is known to be
                on disk.
        """
        target = self._end
        while self._synced < target:
            if self._syncing is None:
                self._syncing = asyncio.ensure_future(self._fsync())
            # A waiter that is cancelled (a hand-off timeout) leaves the fsync running
            # for the others.
            await asyncio.shield(self._syncing)

    async def _fsync(self) -> None:
        upto = self._end
        try:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, os.fsync, self._file.fileno())
            self._synced = upto
        finally:
            self._syncing = None

    async def aclose(self) -> None:
        """Wait for an fsync in progress, then close the file."""
        syncing = self._syncing
        if syncing is not None:
            await asyncio.gather(syncing, return_exceptions=True)
        self._file.close()
