"""Downloads to disk: the destination checked, a ``.part`` file, fsync, rename.

`check_destination` refuses a directory that does not exist or is not writable before
any request. `PartFile` writes the bytes of one download to ``<name>.part`` while
hashing them (SHA-256, memory flat whatever the size), remembers the version it holds
in ``<name>.part.json`` (ETag and size, so a later run can resume it), and on
`PartFile.finish` checks the length, fsyncs the file, renames it to its final name and
fsyncs the directory (a directory that cannot be synced is a warning: the file is whole
by then). A failed download never leaves a file at the final name; a write
that fails (a full disk) removes the ``.part`` file and raises `DestinationError`
naming the file.

The bytes are hashed and written off the event loop, in order, by
`asyncsdk._media._blocks.BlockWriter`, while the next ones arrive.

Imports: msgspec, the standard library and the package's `errors` and
`_media._blocks`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import logging
import os
from pathlib import Path
from typing import Final

import msgspec

from ..errors import DestinationError
from ._blocks import BlockWriter

__all__ = ["PartFile", "check_destination"]

logger: Final = logging.getLogger("asyncsdk")
#: Bytes read at a time when hashing a ``.part`` file left by an earlier run.
_REHASH_CHUNK: Final = 1 << 20


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
        checksum: Hash the bytes (SHA-256); ``False`` writes them unhashed, and
            `finish` returns ``None``.

    Attributes:
        etag: The version held, if a ``.part`` was picked up.
        size: The object's size, if known.
    """

    def __init__(self, final: Path, *, resume: bool, checksum: bool = True) -> None:
        self.final = final
        self.path = final.with_name(final.name + ".part")
        self.meta = final.with_name(final.name + ".part.json")
        self._resume = resume
        self._checksum = checksum
        self._writer: BlockWriter | None = None
        self.etag: str | None = None
        self.size: int | None = None

    @property
    def offset(self) -> int:
        """Bytes accepted: in the file, or on their way to it."""
        return 0 if self._writer is None else self._writer.accepted

    async def open(self) -> None:
        """Open the ``.part`` file: pick up an earlier run's, or create it empty."""
        held = self._held() if self._resume else None
        try:
            if held is not None:
                self.etag, self.size = held.etag, held.size
            opening = asyncio.ensure_future(asyncio.to_thread(self._open, held is not None))
            try:
                self._writer = await asyncio.shield(opening)
            except asyncio.CancelledError:
                opening.add_done_callback(_close_opened)  # its thread opens the file still
                raise
            self._writer.expect(self.size)
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

    def _open(self, held: bool) -> BlockWriter:
        """Open the file (in a thread), its bytes hashed; return its writer."""
        digest = hashlib.sha256() if self._checksum else None
        if not held:
            self.meta.unlink(missing_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
            return BlockWriter(fd, 0, digest)
        fd = os.open(self.path, os.O_RDWR)
        try:
            size = 0
            if digest is not None:
                with open(fd, "rb", closefd=False) as file:
                    while block := file.read(_REHASH_CHUNK):
                        digest.update(block)
                        size += len(block)
            else:
                size = os.fstat(fd).st_size
            os.lseek(fd, size, os.SEEK_SET)
        except BaseException:
            os.close(fd)
            raise
        return BlockWriter(fd, size, digest)

    def remember(self, etag: str | None, size: int | None) -> None:
        """Record the version being written, so that a later run may resume it."""
        if etag == self.etag and size == self.size:
            return
        self.etag, self.size = etag, size
        if self._writer is not None:
            self._writer.expect(size)
        if etag is None:
            self.meta.unlink(missing_ok=True)
            return
        try:
            self.meta.write_bytes(msgspec.json.encode(_PartMeta(etag, size)))
        except OSError as exc:
            self.discard()
            raise _write_error(exc, self.final) from exc

    async def write(self, chunk: bytes) -> None:
        """Accept ``chunk``: hashed and appended off the event loop, in order.

        Raises:
            DestinationError: A block could not be written; the ``.part`` file is
                removed.
        """
        assert self._writer is not None
        try:
            await self._writer.add(chunk)
        except OSError as exc:
            self.discard()
            raise _write_error(exc, self.final) from exc

    async def truncate(self) -> None:
        """Start again from byte 0 (the object changed)."""
        writer = self._writer
        assert writer is not None
        try:
            await writer.drain()
            writer.restart(hashlib.sha256() if self._checksum else None)
        except OSError as exc:
            self.discard()
            raise _write_error(exc, self.final) from exc
        self.remember(None, None)

    async def finish(self, size: int | None) -> str | None:
        """Check the length, fsync, rename to the final name; return the SHA-256.

        The SHA-256 is 64 hex digits, or ``None`` when the file was not hashed. The
        rename is the point of no return: cancelled while the directory is synced, the
        whole file stays at its final name (the cancellation still propagates).
        """
        writer = self._writer
        assert writer is not None
        try:
            await writer.drain()
            assert writer.fd is not None
            await asyncio.to_thread(os.fsync, writer.fd)
            writer.close()
            held = self.path.stat().st_size
            if held != writer.accepted or (size is not None and held != size):
                raise OSError(errno.EIO, f"wrote {held} bytes of {size or writer.accepted}")
            os.replace(self.path, self.final)
        except OSError as exc:
            self.discard()
            raise _write_error(exc, self.final) from exc
        # Renamed: the file is whole and on disk, and whatever was at the final name is
        # gone, so nothing below may fail the download or remove the file. Syncing the
        # directory makes the rename itself survive a crash; where it cannot be (a
        # directory the process may write but not read, a file system that refuses to
        # sync directories, a device error) the download stands, with a warning.
        with contextlib.suppress(OSError):
            self.meta.unlink(missing_ok=True)
        try:
            await asyncio.to_thread(_fsync_dir, self.final.parent)
        except OSError as exc:
            logger.warning(
                "%s is whole, but its directory could not be synced (%s): the rename "
                "may not survive a crash",
                self.final.name,
                exc.strerror or type(exc).__name__,
            )
        return writer.hexdigest()

    async def aclose(self) -> None:
        """Close the file, keeping the ``.part`` (and its version) for a later resume.

        The blocks on their way are written first, then the chunks gathered since, so
        the ``.part`` holds every byte accepted; cancelled meanwhile, it holds a prefix
        of them, which may still grow by the block being written once this returns (the
        drain's thread ends that write, then closes the file). If a write failed, the
        ``.part`` file is removed instead: its bytes are not whole.
        """
        writer = self._writer
        if writer is None:
            return
        try:
            await writer.settle()
        finally:
            writer.close()
            if writer.broken:
                self._remove()

    def discard(self) -> None:
        """Close and remove the ``.part`` file and its version."""
        if self._writer is not None:
            self._writer.close()
        self._remove()

    def _remove(self) -> None:
        for leftover in (self.path, self.meta):
            with contextlib.suppress(OSError):
                leftover.unlink(missing_ok=True)


def _close_opened(opening: asyncio.Future[BlockWriter]) -> None:
    """Close the file a cancelled `PartFile.open` opened after all (its ``.part`` kept)."""
    if not opening.cancelled() and opening.exception() is None:
        opening.result().close()


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
