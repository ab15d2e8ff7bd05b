"""Early writeback of a file being downloaded, so that its final fsync is short.

A download must be on disk before it is renamed to its final name (fsync). Left to the
end, that fsync writes the whole file out while the caller waits: on a fast network a
large part of the download's time. `WritebackHint` asks the kernel, every
`WRITEBACK_EVERY` bytes written, to start writing the bytes since the last hint to
disk, while the next ones arrive; the final fsync then waits for little more than the
last few MiB. It is only a hint: the fsync alone makes the file durable, and a hint
that fails is dropped (the fsync reports any error the device had).

`writeback_due` decides which range to hint (pure); `WritebackHint` applies it with
Linux's ``sync_file_range(SYNC_FILE_RANGE_WRITE)`` (asynchronous: it queues the
writeback and returns). The standard library has no binding for it (``os`` offers
``fsync``/``fdatasync``, which wait for the device, and ``posix_fadvise``, whose
``DONTNEED`` also drops the file from the page cache) and no maintained package offers
one, so it is bound here with `ctypes` (which releases the GIL for the call). Where it
is missing (not Linux, no C library found), every hint is a no-op.

Imports: the standard library only.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable
from typing import Final

__all__ = ["WRITEBACK_EVERY", "WritebackHint", "writeback_due"]

#: Bytes written between two hints: large enough that each is one sizeable request to
#: the device, small enough that the final fsync has little left to write.
WRITEBACK_EVERY: Final = 8 * 1024 * 1024
#: ``SYNC_FILE_RANGE_WRITE`` (linux/fs.h): start writeback of dirty pages, do not wait.
_SYNC_FILE_RANGE_WRITE: Final = 2

SyncFileRange = Callable[[int, int, int, int], int]


def _bind() -> SyncFileRange | None:
    """Return libc's ``sync_file_range``, or ``None`` where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # the process's own symbols: libc's
        function = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    function.restype = ctypes.c_int
    return function


#: libc's ``sync_file_range``, bound once; ``None`` where the platform has none.
SYNC_FILE_RANGE: SyncFileRange | None = _bind()


def writeback_due(written: int, hinted: int, every: int = WRITEBACK_EVERY) -> int:
    """Return how many bytes from ``hinted`` on to hint now: 0 until ``every`` are new.

    Args:
        written: Bytes written to the file so far.
        hinted: Bytes already covered by earlier hints.
        every: Bytes that make a hint worth its system call.
    """
    new = written - hinted
    return new if new >= every else 0


class WritebackHint:
    """Hints the writeback of one file descriptor as it grows (see the module).

    Not thread-safe: one writer calls it, after each write.

    Args:
        fd: The file being written.
        start: Bytes already in the file (covered by no hint: the fsync writes them).
        every: Bytes between two hints.
        sync_file_range: The binding to call; `SYNC_FILE_RANGE` by default, ``None``
            for no hints.
    """

    def __init__(
        self,
        fd: int,
        start: int = 0,
        *,
        every: int = WRITEBACK_EVERY,
        sync_file_range: SyncFileRange | None = SYNC_FILE_RANGE,
    ) -> None:
        self._fd = fd
        self._every = every
        self._call = sync_file_range
        self.hinted = start
        self.hints = 0

    def wrote(self, written: int) -> None:
        """Note that the file now holds ``written`` bytes; hint their writeback if due."""
        if self._call is None:
            return
        length = writeback_due(written, self.hinted, self._every)
        if not length:
            return
        if self._call(self._fd, self.hinted, length, _SYNC_FILE_RANGE_WRITE) != 0:
            self._call = None  # a file system without it: the final fsync does all
            return
        self.hinted += length
        self.hints += 1

    def restart(self) -> None:
        """The file was truncated to 0 bytes: hint again from its start."""
        self.hinted = 0
