"""Downloads to disk: the destination checked, a ``.part`` file, fsync, rename.

`check_destination` refuses a directory that does not exist or is not writable before
any request. `PartFile` writes the bytes of one download to ``<name>.part`` while
hashing them (SHA-256, memory flat whatever the size), remembers the version it holds
in ``<name>.part.json`` (ETag and size, so a later run can resume it), and on
`PartFile.finish` checks the length, fsyncs the file, renames it to its final name and
fsyncs the directory. A failed download never leaves a file at the final name; a write
that fails (a full disk) removes the ``.part`` file and raises `DestinationError`
naming the file.

Imports: msgspec, the standard library and the package's `errors`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
from pathlib import Path
from typing import BinaryIO, Final

import msgspec

from ..errors import DestinationError

__all__ = ["PartFile", "check_destination"]

#: Bytes read at a time when hashing a ``.part`` file left by an earlier run.
_REHASH_CHUNK: Final = 1 << 20
#: Write buffer of a ``.part`` file, in bytes: smaller than a chunk, so that a chunk goes
#: to the file as it is instead of being copied into a buffer first.
_WRITE_BUFFER: Final = 64 * 1024


class _PartMeta(msgspec.Struct):
    etag: str
    size: int | None = None


def check_destination(dest: str | os.PathLike[str], default_name: str) -> Path:
    """Return the final path of a download, or refuse ``dest`` before any request.

    Args:
        dest: A file path, or an existing directory (the file is then
            ``default_name`` in it).
        default_name: The file's name inside a directory ``dest``.

    Raises:
        DestinationError: The directory does not exist, is not a directory, or is not
            writable.
    """
    path = Path(os.fspath(dest))
    if path.is_dir():
        path = path / default_name
    folder = path.parent
    if not folder.exists():
        raise DestinationError(
            errno.ENOENT, "the destination directory does not exist", str(folder)
        )
    if not folder.is_dir():
        raise DestinationError(
            errno.ENOTDIR, "the destination's parent is not a directory", str(folder)
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DestinationError(
            errno.EACCES, "the destination directory is not writable", str(folder)
        )
    return path


class PartFile:
    """The ``.part`` file of one download (see the module).

    Args:
        final: The final path (`check_destination`'s).
        resume: Pick up a ``.part`` left by an earlier run (its bytes rehashed); else
            start empty.

    Attributes:
        offset: Bytes held.
        etag: The version held, if a ``.part`` was picked up.
        size: The object's size, if known.
    """

    def __init__(self, final: Path, *, resume: bool) -> None:
        self.final = final
        self.path = final.with_name(final.name + ".part")
        self.meta = final.with_name(final.name + ".part.json")
        self._resume = resume
        self._file: BinaryIO | None = None
        self._hash = hashlib.sha256()
        self.offset = 0
        self.etag: str | None = None
        self.size: int | None = None

    async def open(self) -> None:
        """Open the ``.part`` file: pick up an earlier run's, or create it empty."""
        held = self._held() if self._resume else None
        try:
            if held is not None:
                self.etag, self.size = held.etag, held.size
            self.offset = await asyncio.to_thread(self._open, held is not None)
        except OSError as exc:
            self.discard()
            raise _write_error(exc, self.final) from exc

    def _held(self) -> _PartMeta | None:
        try:
            meta = msgspec.json.decode(self.meta.read_bytes(), type=_PartMeta)
            held = self.path.stat().st_size
        except (OSError, msgspec.DecodeError):
            return None
        if meta.size is not None and held > meta.size:
            return None
        return meta

    def _open(self, held: bool) -> int:
        """Open the file (in a thread); return the bytes it holds, hashed."""
        if not held:
            self.meta.unlink(missing_ok=True)
            self._file = open(self.path, "wb", buffering=_WRITE_BUFFER)  # noqa: SIM115
            return 0
        file = self._file = open(self.path, "r+b", buffering=_WRITE_BUFFER)  # noqa: SIM115
        size = self._rehash(file)
        file.seek(size)
        return size

    def _rehash(self, file: BinaryIO) -> int:
        file.seek(0)
        size = 0
        while block := file.read(_REHASH_CHUNK):
            self._hash.update(block)
            size += len(block)
        return size

    def remember(self, etag: str | None, size: int | None) -> None:
        """Record the version being written, so that a later run may resume it."""
        if etag == self.etag and size == self.size:
            return
        self.etag, self.size = etag, size
        if etag is None:
            self.meta.unlink(missing_ok=True)
            return
        try:
            self.meta.write_bytes(msgspec.json.encode(_PartMeta(etag, size)))
        except OSError as exc:
            self.discard()
            raise _write_error(exc, self.final) from exc

    def write(self, chunk: bytes) -> None:
        """Append ``chunk`` and hash it; a failed write removes the ``.part`` file."""
        assert self._file is not None
        try:
            self._file.write(chunk)
        except OSError as exc:
            self.discard()
            raise _write_error(exc, self.final) from exc
        self._hash.update(chunk)
        self.offset += len(chunk)

    async def truncate(self) -> None:
        """Start again from byte 0 (the object changed)."""
        assert self._file is not None
        self._file.seek(0)
        self._file.truncate()
        self._hash = hashlib.sha256()
        self.offset = 0
        self.remember(None, None)

    async def finish(self, size: int | None) -> str:
        """Check the length, fsync, rename to the final name; return the SHA-256."""
        assert self._file is not None
        file = self._file
        try:
            file.flush()
            await asyncio.to_thread(os.fsync, file.fileno())
            file.close()
            self._file = None
            if size is not None and self.path.stat().st_size != size:
                raise OSError(errno.EIO, f"wrote {self.path.stat().st_size} bytes of {size}")
            os.replace(self.path, self.final)
            self.meta.unlink(missing_ok=True)
            await asyncio.to_thread(_fsync_dir, self.final.parent)
        except OSError as exc:
            self.discard()
            raise _write_error(exc, self.final) from exc
        return self._hash.hexdigest()

    def close(self) -> None:
        """Close the file, keeping the ``.part`` (and its version) for a later resume."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None

    def discard(self) -> None:
        """Close and remove the ``.part`` file and its version."""
        self.close()
        for leftover in (self.path, self.meta):
            with contextlib.suppress(OSError):
                leftover.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_error(exc: OSError, final: Path) -> DestinationError:
    reason = exc.strerror or str(exc) or type(exc).__name__
    return DestinationError(
        exc.errno or errno.EIO, f"writing {final.name} failed: {reason}; nothing kept", str(final)
    )
