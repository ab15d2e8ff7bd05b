"""Disk hints for a file being downloaded: early writeback, and space reserved ahead.

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

`Preallocation` reserves the file's blocks a few MiB ahead of the bytes written, once the
object's size is known, with ``fallocate(FALLOC_FL_KEEP_SIZE)`` (bound the same way,
as ``fallocate64`` where it exists: `fallocate_names` says why;
``os.posix_fallocate`` has no flags, and would grow the file's size, which tells a later
run how many bytes a ``.part`` holds). The file system then allocates the space in a
few large extents instead of at every write (measured: about 10% faster one large
download, with ext4); the file's size still grows only as bytes are written, and a
reservation is never beyond the size announced, nor more than `PREALLOCATE_AHEAD`
ahead of what was written (a store announcing a huge size reserves no more). A failed
reservation (a full disk, a file system without it) is dropped: the writes report it.

Imports: the standard library only.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable
from typing import Final

__all__ = [
    "PREALLOCATE_AHEAD",
    "WRITEBACK_EVERY",
    "Preallocation",
    "WritebackHint",
    "fallocate_names",
    "preallocation_due",
    "writeback_due",
]

#: Bytes written between two hints: large enough that each is one sizeable request to
#: the device, small enough that the final fsync has little left to write.
WRITEBACK_EVERY: Final = 8 * 1024 * 1024
#: Most bytes reserved ahead of those written.
PREALLOCATE_AHEAD: Final = 64 * 1024 * 1024
#: ``SYNC_FILE_RANGE_WRITE`` (linux/fs.h): start writeback of dirty pages, do not wait.
_SYNC_FILE_RANGE_WRITE: Final = 2
#: ``FALLOC_FL_KEEP_SIZE`` (linux/falloc.h): reserve blocks, leave the file's size.
_FALLOC_FL_KEEP_SIZE: Final = 1

#: ``sync_file_range(fd, offset, nbytes, flags)`` and ``fallocate(fd, mode, offset, len)``.
SyncFileRange = Callable[[int, int, int, int], int]
Fallocate = Callable[[int, int, int, int], int]


def fallocate_names(pointer_bytes: int) -> tuple[str, ...]:
    """Return the libc symbols that take ``fallocate``'s offsets as 64 bits, best first.

    ``fallocate64`` always does. Plain ``fallocate`` takes an ``off_t``, 32 bits in a
    32-bit glibc process: bound with 64-bit arguments there, its offset and length would
    be read from the wrong words. So it is a fallback only where pointers (and then
    ``off_t``) are 64 bits.

    Args:
        pointer_bytes: ``ctypes.sizeof(ctypes.c_void_p)``.
    """
    return ("fallocate64", "fallocate") if pointer_bytes >= 8 else ("fallocate64",)


def _bind(
    names: str | tuple[str, ...], *argtypes: type[ctypes._SimpleCData[int]]
) -> SyncFileRange | None:
    """Return libc's first function of ``names``, or ``None`` where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # the process's own symbols: libc's
    except OSError:
        return None
    for name in (names,) if isinstance(names, str) else names:
        function = getattr(libc, name, None)
        if function is not None:
            break
    else:
        return None
    function.argtypes = argtypes
    function.restype = ctypes.c_int
    return function  # type: ignore[no-any-return]


#: libc's ``sync_file_range``, bound once; ``None`` where the platform has none.
SYNC_FILE_RANGE: SyncFileRange | None = _bind(
    "sync_file_range", ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint
)
#: libc's ``fallocate``, bound once; ``None`` where the platform has none.
FALLOCATE: Fallocate | None = _bind(
    fallocate_names(ctypes.sizeof(ctypes.c_void_p)),
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int64,
    ctypes.c_int64,
)


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


def preallocation_due(
    written: int, reserved: int, size: int | None, ahead: int = PREALLOCATE_AHEAD
) -> tuple[int, int] | None:
    """Return the range to reserve now, as (offset, length), or ``None``.

    Nothing until the size is known, nor while more than half of ``ahead`` is reserved
    past ``written``; then up to ``ahead`` past ``written``, never past ``size``.

    Args:
        written: Bytes written to the file so far.
        reserved: Bytes reserved so far (from byte 0).
        size: The object's size, or ``None`` if unknown.
        ahead: Most bytes reserved past ``written``.
    """
    if size is None:
        return None
    start = max(written, reserved)
    if start >= size or start - written >= ahead // 2:
        return None
    return start, min(size, written + ahead) - start


class Preallocation:
    """Reserves one file's blocks ahead of its writes (see the module).

    Not thread-safe: one writer calls `wrote`; `size` may be set from another thread.

    Args:
        fd: The file being written.
        start: Bytes already in the file.
        ahead: Most bytes reserved past those written.
        fallocate: The binding to call; `FALLOCATE` by default, ``None`` for none.

    Attributes:
        size: The object's size, once known: nothing is reserved until then.
    """

    def __init__(
        self,
        fd: int,
        start: int = 0,
        *,
        ahead: int = PREALLOCATE_AHEAD,
        fallocate: Fallocate | None = FALLOCATE,
    ) -> None:
        self._fd = fd
        self._ahead = ahead
        self._call = fallocate
        self.reserved = start
        self.size: int | None = None

    def wrote(self, written: int) -> None:
        """Note that the file now holds ``written`` bytes; reserve more if due."""
        if self._call is None:
            return
        due = preallocation_due(written, self.reserved, self.size, self._ahead)
        if due is None:
            return
        offset, length = due
        if self._call(self._fd, _FALLOC_FL_KEEP_SIZE, offset, length) != 0:
            self._call = None  # a full disk or no support: the writes say what is wrong
            return
        self.reserved = offset + length

    def restart(self) -> None:
        """The file was truncated to 0 bytes (its reservation with it)."""
        self.reserved = 0
        self.size = None
