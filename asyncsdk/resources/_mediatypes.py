"""What the media methods hand back: `DownloadResult` and `MediaStream`.

Imports: the standard library and the package's `_closing` and `_media` (the transfer a
stream reads).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from .._closing import Closing
from .._media import MediaTransfer
from .._media._transfer import Trace

__all__ = ["DownloadResult", "MediaStream", "OperationTrace"]


#: The type of `DownloadResult.sha256`: ``str``, or ``None`` with ``checksum=None``.
Digest = TypeVar("Digest", bound=str | None, covariant=True)


@dataclasses.dataclass(frozen=True, slots=True)
class DownloadResult(Generic[Digest]):
    """A finished download (`Client.download_recording`).

    Generic in the type of ``sha256``: ``download_recording(...)`` is typed as returning
    a ``DownloadResult[str]``, ``download_recording(..., checksum=None)`` a
    ``DownloadResult[None]``, so a type checker knows when the digest is there; both are
    a ``DownloadResult[str | None]`` (it is read-only, so covariant).

    Attributes:
        path: The file, at its final name.
        size: Its size in bytes.
        sha256: The SHA-256 of its bytes, as 64 hex digits; ``None`` when the download
            was asked with ``checksum=None``.
        etag: The object's ETag, as the object store sent it (quotes included).
        content_type: The object's ``Content-Type``, if the object store sent one.
        resumed: Whether any part came from a resumed request (a ``Range`` after a
            break, an expired URL, or a ``.part`` file left by an earlier run).
        resumes: Requests to the object store after the first.
        restarts: Times the download started again from byte 0 because the object
            changed (or the store ignored ``Range`` and the ETag differed).
        ranges_ignored: Ranged requests the object store answered whole, with the
            same ETag: the bytes held were received again and thrown away.
    """

    path: Path
    size: int
    sha256: Digest
    etag: str | None
    content_type: str | None
    resumed: bool
    resumes: int = 0
    restarts: int = 0
    ranges_ignored: int = 0


class MediaStream(Closing):
    """A recording's bytes as an async iterator, resumed on breaks (`Client.open_recording`).

    Use it as an async context manager; iterate it once. ``size``, ``etag`` and
    ``content_type`` are known once the first chunk has arrived.

    Attributes:
        size: The object's size in bytes, once the object store said it.
        etag: The object's ETag.
        content_type: The object's ``Content-Type``.
        received: Bytes handed on so far.
        resumes: Requests to the object store after the first.
    """

    def __init__(self, transfer: MediaTransfer, trace: OperationTrace | None = None) -> None:
        self._transfer = transfer
        self._trace = trace
        self._chunks: AsyncIterator[bytes] | None = None

    def __repr__(self) -> str:
        return f"<MediaStream received={self.received} size={self.size}>"

    @property
    def size(self) -> int | None:
        """The object's size in bytes, once known."""
        return self._transfer.size

    @property
    def etag(self) -> str | None:
        """The object's ETag, once known."""
        return self._transfer.etag

    @property
    def content_type(self) -> str | None:
        """The object's ``Content-Type``, once known."""
        return self._transfer.content_type

    @property
    def received(self) -> int:
        """Bytes handed on so far."""
        return self._transfer.offset

    @property
    def resumes(self) -> int:
        """Requests to the object store after the first."""
        return self._transfer.resumes

    def __aiter__(self) -> AsyncIterator[bytes]:
        if self._chunks is not None:
            raise RuntimeError("a MediaStream is iterated once")
        chunks = self._transfer.chunks()
        self._chunks = chunks if self._trace is None else _traced(chunks, self._trace)
        return self._chunks

    async def aclose(self) -> None:
        """Stop reading and release the connection and the media slot. Idempotent."""
        chunks = self._chunks
        if chunks is not None and hasattr(chunks, "aclose"):
            await chunks.aclose()
        if self._trace is not None:  # never iterated, or done: the operation's span ends
            self._trace.close()


class OperationTrace(Trace, Protocol):
    """A media operation's telemetry (`asyncsdk.telemetry._media.MediaTrace`)."""

    def attached(self) -> AbstractContextManager[None]:
        """Make the operation's span current for the block."""

    def close(self, exc: BaseException | None = None) -> None:
        """End the operation's span, failed by ``exc`` if given; idempotent."""


async def _traced(
    chunks: AsyncGenerator[bytes, None], trace: OperationTrace
) -> AsyncIterator[bytes]:
    """Yield ``chunks``; end ``trace`` with how they ended (the first end counts)."""
    try:
        async for chunk in chunks:
            yield chunk
    except BaseException as exc:
        trace.close(None if isinstance(exc, GeneratorExit) else exc)
        raise
    finally:
        await chunks.aclose()
        trace.close()
