"""The media resource: a recording's audio and a transcription's files, over the engine.

`Client` inherits `MediaResource`. Each method checks its arguments (nothing is sent on
bad input: IDs, the format, the destination), asks Bird's media endpoint
(``/workspaces/{ws}/recordings/{id}.mp3``, ``/workspaces/{ws}/transcriptions/{id}.{fmt}``)
through the request engine, which paces, retries and counts it like every Bird
request and hands back the one redirect it gives; the object store behind it is read by
`asyncsdk._media.MediaTransfer`, inside one of the client's ``max_media_transfers``
slots, with no Bird header, resumed until whole.

What the methods hand back, `DownloadResult` and `MediaStream`, is in `_mediatypes`.

With telemetry, each method is one INTERNAL span (``download_recording``,
``open_recording``, ``get_transcript``: `asyncsdk.telemetry._media.MediaTrace`, reached
through the engine's hooks), the parent of Bird's 307 and of each object-store request;
without it, one ``is None`` test per method.

Imports: yarl, the standard library, and the package's `_engine` (its type and
state), `_media`, `_protocol`, `errors`, `ratelimit._workspaces` and `_mediatypes`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, Literal, overload

from yarl import URL

from .. import _protocol
from .._engine import State
from .._media import MediaTransfer, PartFile, check_destination
from .._media._rules import RedirectDecode, leaking_session_headers
from ..errors import ConfigurationError, DecodeError
from ..ratelimit._workspaces import workspace_of
from ._mediatypes import DownloadResult, MediaStream, OperationTrace

if TYPE_CHECKING:
    from .._engine import Engine


__all__ = [
    "DEFAULT_MAX_TRANSCRIPT_BYTES",
    "DownloadResult",
    "MediaResource",
    "MediaStream",
    "TranscriptFormat",
]

Id = str | uuid.UUID
#: A transcript's formats.
TranscriptFormat = Literal["txt", "srt", "vtt", "json"]
_TRANSCRIPT_FORMATS: Final = frozenset(("txt", "srt", "vtt", "json"))
_MEDIA_FORMAT: Final = re.compile(r"[a-z0-9]{1,8}").fullmatch
DEFAULT_MAX_TRANSCRIPT_BYTES: Final = 16 * 1024 * 1024
"""Largest transcript `Client.get_transcript` reads by default, in bytes."""

#: Called with (bytes held, the object's size or ``None``) as a download progresses.
Progress = Callable[[int, int | None], object]


class MediaResource:
    """The media endpoints of `Client`: recordings' audio and transcripts."""

    __slots__ = ()
    _engine: Engine

    def _transfer(
        self, path: str, trace: OperationTrace | None
    ) -> functools.partial[MediaTransfer]:
        """Return a maker of transfers of one media path (``/workspaces/...``), unsent.

        Call it with `MediaTransfer`'s keyword arguments (what is held, ``ranged``,
        ``on_restart``, ``max_bytes``). ``trace`` is the operation's telemetry, or
        ``None``: Bird's redirect is then asked for inside its span.

        Raises:
            ConfigurationError: The client's session sends default headers that would
                reach the object store.
        """
        engine = self._engine
        session = engine.session if engine.state is State.OPEN else engine.open()
        assert session is not None
        leaks = leaking_session_headers(session.headers, session.auth is not None)
        if leaks:
            raise ConfigurationError(
                "the session passed to Client sends default headers "
                f"({', '.join(leaks)}) that would reach the object store's host; "
                "pass a session without them"
            )
        settings = engine.settings
        endpoint_url = engine.url(path)
        endpoint = str(endpoint_url)
        workspace = workspace_of(path)
        decode = RedirectDecode(endpoint, allow_http=settings.base.scheme == "http")

        async def locate() -> URL:
            if trace is not None:
                with trace.attached():
                    return await engine.request(
                        endpoint_url, decode, settings.max_response_bytes, workspace
                    )
            return await engine.request(
                endpoint_url, decode, settings.max_response_bytes, workspace
            )

        return functools.partial(
            MediaTransfer,
            session,
            locate,
            endpoint=endpoint,
            slots=engine.transfers,
            timeout=settings.media_timeout,
            policy=settings.retry_policy,
            trace=trace,
        )

    def _trace(self, name: str, workspace: str, key: str, value: str) -> OperationTrace | None:
        """Start the telemetry of media operation ``name``, or ``None`` when it is off."""
        hooks = self._engine.telemetry
        if hooks is None:
            return None
        return hooks.media(name, {"bird.workspace.id": workspace, key: value})

    @overload
    async def download_recording(
        self,
        workspace_id: Id,
        recording_id: Id,
        dest: str | os.PathLike[str],
        *,
        resume: bool = ...,
        progress: Progress | None = ...,
        format: str = ...,
        checksum: Literal["sha256"] = ...,
    ) -> DownloadResult[str]: ...

    @overload
    async def download_recording(
        self,
        workspace_id: Id,
        recording_id: Id,
        dest: str | os.PathLike[str],
        *,
        resume: bool = ...,
        progress: Progress | None = ...,
        format: str = ...,
        checksum: None,
    ) -> DownloadResult[None]: ...

    async def download_recording(
        self,
        workspace_id: Id,
        recording_id: Id,
        dest: str | os.PathLike[str],
        *,
        resume: bool = True,
        progress: Progress | None = None,
        format: str = "mp3",
        checksum: Literal["sha256"] | None = "sha256",
    ) -> DownloadResult[Any]:
        """Download a recording's audio to a file, whole or not at all.

        The bytes go to ``<dest>.part`` (hashed as they come, memory flat whatever the
        size); once the length is checked the file is fsynced and renamed to ``dest``.
        A failed download never leaves a file at ``dest``. The hashing and writing run
        in the event loop's default executor, one MiB at a time, beside the network.

        Example:
            ```python
            result = await client.download_recording(ws, recording_id, "calls/")
            print(result.path, result.size, result.sha256)
            ```

        Args:
            workspace_id: The workspace's UUID.
            recording_id: The recording's UUID.
            dest: The file to write, or an existing directory (the file is then
                ``<recording_id>.<format>`` in it).
            resume: Resume a broken transfer with ``Range`` (``If-Range`` its ETag) and
                pick up a ``.part`` file left by an earlier run; ``False`` starts every
                try from byte 0. A ``.part`` is kept after a network failure either way.
            progress: Called as ``progress(bytes_held, size_or_None)`` after each chunk.
            format: The media format the recording has (its ``format``), ``"mp3"``.
            checksum: ``"sha256"`` hashes the bytes as they are written (the result's
                ``sha256``); ``None`` skips it (the result's ``sha256`` is ``None``),
                for a caller that checks the file some other way: SHA-256 costs about
                0.65 ms of CPU per MB, a third of the download's. The length
                is checked and the file fsynced either way.

        Returns:
            The path, size, SHA-256 (unless ``checksum=None``), ETag, content type, and
            whether it resumed: a ``DownloadResult[str]``, or with ``checksum=None`` a
            ``DownloadResult[None]``.

        Raises:
            InvalidIDError: An ID is not a UUID; nothing was sent.
            ConfigurationError: ``format`` is not a plain extension, or ``checksum`` is
                neither ``"sha256"`` nor ``None``; nothing was sent.
            DestinationError: The directory is missing or not writable (nothing sent),
                or writing failed (the ``.part`` file is removed).
            RedirectError: Bird's endpoint gave no redirect the SDK may follow.
            MediaError: The object store's answers could not be used, or the resumes
                ran out; the ``.part`` file is kept for a later resume.
            NotFoundError: No such recording (or no media yet); `APIError` subclasses
                for other statuses of Bird's endpoint.
        """
        path, ws, rid = _recording_path(workspace_id, recording_id, format)
        if checksum is not None and checksum != "sha256":
            raise ConfigurationError(f"checksum must be 'sha256' or None, got {checksum!r}")
        final = check_destination(dest, f"{rid}.{format}")
        part = PartFile(final, resume=resume, checksum=checksum is not None)
        await part.open()
        ok = False
        trace = self._trace("download_recording", ws, "bird.recording.id", rid)
        try:
            transfer = self._transfer(path, trace)(
                offset=part.offset,
                etag=part.etag,
                size=part.size,
                ranged=resume,
                on_restart=part.truncate,
            )
            picked_up = part.offset > 0
            async with contextlib.aclosing(transfer.chunks()) as chunks:
                async for chunk in chunks:
                    if transfer.etag != part.etag or transfer.size != part.size:
                        part.remember(transfer.etag, transfer.size)
                    await part.write(chunk)
                    if progress is not None:
                        progress(part.offset, transfer.size)
            if transfer.etag != part.etag or transfer.size != part.size:
                part.remember(transfer.etag, transfer.size)
            digest = await part.finish(transfer.size)
            ok = True
        except BaseException as exc:
            if trace is not None:
                trace.close(exc)
            raise
        finally:
            if not ok:
                # Kept only if a later run can resume it: bytes of a known version.
                if resume and part.offset > 0 and part.etag is not None:
                    await part.aclose()
                else:
                    part.discard()
        if trace is not None:
            trace.close()
        return DownloadResult(
            path=final,
            size=part.offset,
            sha256=digest,
            etag=transfer.etag,
            content_type=transfer.content_type,
            resumed=picked_up or transfer.continued > 0,
            resumes=transfer.resumes,
            restarts=transfer.restarts,
            ranges_ignored=transfer.ranges_ignored,
        )

    def open_recording(
        self, workspace_id: Id, recording_id: Id, *, format: str = "mp3"
    ) -> MediaStream:
        """Open a recording's audio as an async iterator of bytes, without touching disk.

        A broken body or an expired URL is resumed transparently from the byte reached
        (``Range`` with ``If-Range`` its ETag); if the object changed meanwhile the
        stream raises `MediaChangedError`, since the earlier bytes were handed on.

        Example:
            ```python
            async with client.open_recording(ws, recording_id) as stream:
                async for chunk in stream:
                    await sink.write(chunk)
            ```

        Args:
            workspace_id: The workspace's UUID.
            recording_id: The recording's UUID.
            format: The media format the recording has, ``"mp3"``.

        Returns:
            A `MediaStream`: nothing is sent until it is iterated.

        Raises:
            InvalidIDError: An ID is not a UUID; nothing was sent.
            ConfigurationError: ``format`` is not a plain extension.
        """
        path, ws, rid = _recording_path(workspace_id, recording_id, format)
        trace = self._trace("open_recording", ws, "bird.recording.id", rid)
        return MediaStream(self._transfer(path, trace)(), trace)

    @overload
    async def get_transcript(
        self,
        workspace_id: Id,
        transcription_id: Id,
        format: Literal["json"],
        *,
        max_bytes: int = ...,
    ) -> bytes: ...
    @overload
    async def get_transcript(
        self,
        workspace_id: Id,
        transcription_id: Id,
        format: Literal["txt", "srt", "vtt"] = ...,
        *,
        max_bytes: int = ...,
    ) -> str: ...
    async def get_transcript(
        self,
        workspace_id: Id,
        transcription_id: Id,
        format: TranscriptFormat = "txt",
        *,
        max_bytes: int = DEFAULT_MAX_TRANSCRIPT_BYTES,
    ) -> str | bytes:
        """Fetch a transcription's file: text for ``txt``/``srt``/``vtt``, bytes for ``json``.

        The JSON transcript's shape is not documented by Bird, so it is returned as the
        bytes sent (parse it with the JSON library of your choice).

        Args:
            workspace_id: The workspace's UUID.
            transcription_id: The transcription's UUID.
            format: ``"txt"``, ``"srt"``, ``"vtt"`` or ``"json"``.
            max_bytes: Largest transcript accepted.

        Returns:
            The transcript, as `str` (UTF-8 decoded) or, for ``json``, `bytes`.

        Raises:
            InvalidIDError: An ID is not a UUID; nothing was sent.
            ConfigurationError: An unknown ``format`` or a bad ``max_bytes``.
            MediaError: The object store's answers could not be used, or the transcript
                is larger than ``max_bytes``.
            DecodeError: A text transcript that is not UTF-8.
            NotFoundError: No such transcription (or not available yet).
        """
        if format not in _TRANSCRIPT_FORMATS:
            raise ConfigurationError(
                f"format must be one of {sorted(_TRANSCRIPT_FORMATS)}, got {format!r}"
            )
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
            raise ConfigurationError(f"max_bytes must be a positive int, got {max_bytes!r}")
        ws = _protocol.canonical_id("workspace_id", workspace_id)
        tid = _protocol.canonical_id("transcription_id", transcription_id)
        path = f"/workspaces/{ws}/transcriptions/{tid}.{format}"
        trace = self._trace("get_transcript", ws, "bird.transcription.id", tid)
        parts: list[bytes] = []

        async def restart() -> None:  # another version: its bytes only
            parts.clear()

        try:
            transfer = self._transfer(path, trace)(max_bytes=max_bytes, on_restart=restart)
            async with contextlib.aclosing(transfer.chunks()) as chunks:
                async for chunk in chunks:
                    parts.append(chunk)
        except BaseException as exc:
            if trace is not None:
                trace.close(exc)
            raise
        if trace is not None:  # a transcript that is not UTF-8 still arrived whole
            trace.close()
        body = b"".join(parts)
        if format == "json":
            return body
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(
                f"the {format} transcript is not UTF-8 text: {exc.reason} at byte {exc.start}",
                method="GET",
                url=str(self._engine.url(path)),
                path=None,
                body=body[:2048],
            ) from exc


def _recording_path(workspace_id: Id, recording_id: Id, format: str) -> tuple[str, str, str]:
    """Return a recording's media path, and its workspace's and recording's canonical IDs."""
    if not isinstance(format, str) or not _MEDIA_FORMAT(format):
        raise ConfigurationError(
            f"format must be a media extension such as 'mp3' (lowercase letters and "
            f"digits), got {format!r}"
        )
    ws = _protocol.canonical_id("workspace_id", workspace_id)
    rid = _protocol.canonical_id("recording_id", recording_id)
    return f"/workspaces/{ws}/recordings/{rid}.{format}", ws, rid
