"""`MediaTransfer`: one object read from the object store, resumed until it is whole.

The mechanism behind `Client.download_recording`, `Client.open_recording` and
`Client.get_transcript`. ``locate`` asks Bird's media endpoint for a fresh presigned URL
(through the request engine: paced by the workspace's limiter, retried, counted); the
transfer then reads the object from the object store with a fresh header set (no
``Authorization``, no Bird header, none of the session's middlewares, never a redirect
followed by aiohttp), inside one of the client's media slots (``max_media_transfers``),
not paced by Bird's limiter.

When the URL has expired (403), the object store fails (5xx) or the body breaks, the
transfer asks Bird again and resumes with ``Range: bytes=N-`` and ``If-Range: <ETag>``;
`asyncsdk._media._rules.judge` says what each answer means. A whole body where a range
was asked, of the same ETag, is read past what is held (counted in
``ranges_ignored``); of another ETag, the read starts again from byte 0 through
``on_restart`` (a download truncates its file), or raises `MediaChangedError` when there
is none (a stream has already handed its bytes on). Without a strong ETag (none, or a
weak ``W/`` one) ``If-Range`` cannot hold the version, so a resume starts again from
byte 0 the same way. Two versions are never spliced.
Failures that made no progress are bounded by ``RetryPolicy.max_retries`` (with its
backoff), every resume by `MAX_RESUMES`.

Telemetry: given a ``trace`` (`asyncsdk.telemetry._media.MediaTrace`, typed here by the
`Trace` protocol so that nothing is imported), each request to the object store is
reported to it (started, answered, broken, closed with its response) and each chunk's
bytes counted; without one, each of those points is one ``is None`` test.

Imports: aiohttp, yarl, the standard library, and the package's `config`, `models` (`redact_url`),
`errors`, `retry` and `_media._rules`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncGenerator, Awaitable, Callable
from types import TracebackType
from typing import Final, Protocol

import aiohttp
from yarl import URL

from ..config import DEFAULT_MEDIA_READ_TIMEOUT, RetryPolicy
from ..errors import MediaChangedError, MediaError, RedirectError
from ..models import redact_url
from ..retry import backoff_delay
from ._rules import Verdict, judge, media_error, store_headers

__all__ = ["CHUNK_SIZE", "MAX_RESUMES", "Locate", "MediaTransfer"]

#: The size of the pieces read from the socket (asyncio reads at most 256 KiB at a
#: time); each is handed on as it came, never joined to others (a copy per byte).
CHUNK_SIZE: Final = 256 * 1024
#: Bytes aiohttp buffers per response before it pauses reading: a few chunks, so that a
#: large body is not paused and resumed every 64 KiB (aiohttp's default).
READ_BUFFER: Final = 4 * CHUNK_SIZE
#: Most requests to the object store after the first, for one read.
MAX_RESUMES: Final = 64
#: Bytes of an object-store error body kept for the message.
_ERROR_PEEK: Final = 512
_BROKEN: Final = (aiohttp.ClientError, TimeoutError, ConnectionError)
_CODE: Final = re.compile(r"<Code>([A-Za-z0-9 .]{1,64})</Code>").search
_MESSAGE: Final = re.compile(r"<Message>([^<]{1,160})</Message>").search

logger: Final = logging.getLogger("asyncsdk")

#: Ask Bird's media endpoint for a fresh presigned URL.
Locate = Callable[[], Awaitable[URL]]


class Trace(Protocol):
    """The telemetry hooks of a transfer (`asyncsdk.telemetry._media.MediaTrace`)."""

    received: int

    def request(
        self, url: str
    ) -> Callable[[type[BaseException] | None, BaseException | None, TracebackType | None], None]:
        """Start a request to the object store; return what ends it when it is closed."""

    def answered(self, status: int) -> None:
        """Note the answer's status."""

    def broke(self, exc: BaseException) -> None:
        """Note that the request or its body failed."""


class MediaTransfer:
    """Read one object through Bird's redirect, resuming until whole (see the module).

    Args:
        session: The client's session (its default headers checked by the caller).
        locate: Asks Bird for a fresh presigned URL.
        endpoint: Bird's media URL, named in errors.
        slots: The client's media slots: one is held while a response is open.
        timeout: Per request to the object store: its ``sock_connect`` bounds
            connecting, its ``sock_read`` every silence (waiting for the headers, and
            between chunks); no total.
        policy: Its ``max_retries`` bounds failures without progress, with its backoff.
        offset: Bytes already held (a ``.part`` file), with their ``etag`` and ``size``.
        etag: The ETag of the bytes held.
        size: The object's size, when known.
        ranged: Resume with ``Range``; ``False`` starts every retry from byte 0.
        on_restart: Called before starting again from byte 0 on another version;
            ``None`` raises `MediaChangedError` instead once bytes were handed on.
        max_bytes: Largest object accepted, or ``None``.
        trace: Telemetry's hooks for each request to the object store, or ``None``.

    Attributes:
        offset: Bytes handed on so far (of the current version).
        size: The object's size, once an answer said it.
        etag: The object's ETag, once an answer said it.
        content_type: The object's ``Content-Type``, once known.
        resumes: Requests to the object store after the first.
        requests: Requests sent to the object store, the first included (a
            `MediaError`'s ``attempts``, and the count its message gives).
        restarts: Times the read started again from byte 0 (another version).
        ranges_ignored: Ranged requests answered whole (Range ignored).
        refetched: Bytes received again and thrown away (a whole answer to a range).
        continued: Answers that continued the bytes held (206 to ``Range``).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        locate: Locate,
        *,
        endpoint: str,
        slots: asyncio.Semaphore,
        timeout: aiohttp.ClientTimeout,
        policy: RetryPolicy,
        offset: int = 0,
        etag: str | None = None,
        size: int | None = None,
        ranged: bool = True,
        on_restart: Callable[[], Awaitable[None]] | None = None,
        max_bytes: int | None = None,
        trace: Trace | None = None,
    ) -> None:
        self._session = session
        self._locate = locate
        self._endpoint = endpoint
        self._slots = slots
        # aiohttp bounds connecting; the body's silences are bounded by a watchdog here.
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout.sock_connect)
        read = timeout.sock_read
        self._read = read if read is not None else DEFAULT_MEDIA_READ_TIMEOUT
        self._policy = policy
        self._ranged = ranged
        self._on_restart = on_restart
        self._max_bytes = max_bytes
        self._trace = trace
        self._stalls = 0
        self._status: int | None = None
        self.offset = offset
        self.etag = etag if offset else None
        self.size = size if offset else None
        self.content_type: str | None = None
        self.resumes = 0
        self.requests = 0
        self.restarts = 0
        self.ranges_ignored = 0
        self.refetched = 0
        self.continued = 0

    def __repr__(self) -> str:
        return (
            f"<MediaTransfer {self._endpoint} offset={self.offset} size={self.size} "
            f"resumes={self.resumes}>"
        )

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        """Yield the object's bytes from ``offset`` on, resuming until the end.

        Raises:
            MediaError: An answer that cannot be used, or the resumes ran out.
            MediaChangedError: The object changed and there is no ``on_restart``.
            RedirectError: Bird's endpoint gave no redirect to follow.
            RequestError: Bird's endpoint failed (as for any Bird request).
        """
        while True:
            if self.size is not None and self.offset == self.size and self.offset > 0:
                return
            async with contextlib.AsyncExitStack() as stack:
                opened = await self._open(stack)
                if opened is None:
                    continue
                response, skip = opened
                start = self.offset
                read = response.content.readchunk
                loop = asyncio.get_running_loop()
                try:
                    # The read timeout is this watchdog, armed only while waiting on the
                    # network (never while the consumer holds a chunk), moved once per
                    # chunk: aiohttp's sock_read would re-arm a timer per packet.
                    async with asyncio.timeout(None) as watchdog:
                        while True:
                            watchdog.reschedule(loop.time() + self._read)
                            chunk, boundary = await read()
                            watchdog.reschedule(None)
                            if not chunk:
                                if boundary:  # an empty piece at an HTTP chunk's end
                                    continue
                                break  # the end of the body
                            if self._trace is not None:
                                self._trace.received += len(chunk)
                            if skip:
                                if len(chunk) <= skip:
                                    skip -= len(chunk)
                                    continue
                                chunk, skip = chunk[skip:], 0
                            self.offset += len(chunk)
                            self._check_cap()
                            yield chunk
                except _BROKEN as exc:
                    if self._trace is not None:
                        self._trace.broke(exc)
                    why = f"the body broke at byte {self.offset}: {type(exc).__name__}"
                    await self._failed(why, progress=self.offset > start)
                    continue
            if self.size is None or self.offset >= self.size:
                return
            await self._failed(
                f"the body ended at byte {self.offset} of {self.size}",
                progress=self.offset > start,
            )

    async def _open(
        self, stack: contextlib.AsyncExitStack
    ) -> tuple[aiohttp.ClientResponse, int] | None:
        """Get a usable answer, or ``None`` to try again; return it and bytes to skip."""
        url = await self._locate()
        if self.offset > 0 and not self._ranged:
            await self._restart()
        elif self.offset > 0 and (self.etag is None or self.etag.startswith("W/")):
            # If-Range needs a strong ETag: without one, a 206 may be another version.
            await self._restart("resuming without a strong ETag to hold the version")
        await stack.enter_async_context(self._slots)
        if self._trace is not None:  # its span ends when the response is closed
            stack.push(self._trace.request(str(url)))
        self.requests += 1
        try:
            async with asyncio.timeout(self._read):  # until the headers are in
                response = await stack.enter_async_context(
                    self._session.get(
                        url,
                        headers=store_headers(self.offset, self.etag),
                        allow_redirects=False,
                        middlewares=(),  # a session's middleware may add credentials
                        timeout=self._timeout,
                        read_bufsize=READ_BUFFER,
                    )
                )
        except _BROKEN as exc:
            if self._trace is not None:
                self._trace.broke(exc)
            await stack.aclose()
            shown = redact_url(str(url))
            await self._failed(
                f"the request to {shown} failed: {type(exc).__name__}", progress=False
            )
            return None
        self._status = response.status
        if self._trace is not None:
            self._trace.answered(response.status)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "GET %s -> %d (object store, from byte %d)",
                redact_url(str(url)),
                response.status,
                self.offset,
            )
        verdict = judge(
            response.status, response.headers, offset=self.offset, etag=self.etag, size=self.size
        )
        if verdict.action in ("fail", "refresh"):
            text = await _peek(response, self._read)
            await stack.aclose()
            why = f"{verdict.why} for {redact_url(str(url))}{text}"
            if verdict.action == "fail" and 300 <= response.status < 400:
                raise self._error(
                    f"a second redirect ({response.status}) from the object store; not followed",
                    RedirectError,
                )
            if verdict.action == "fail":
                raise self._error(why)
            await self._failed(why, progress=False)
            return None
        skip = 0
        if verdict.action == "restart":
            if response.status != 200:
                await stack.aclose()
                await self._restart(verdict.why)
                return None
            await self._restart(verdict.why)
        elif self.offset > 0 and response.status == 206:
            self.continued += 1
        elif verdict.action == "skip":
            skip = self.offset
            self.ranges_ignored += 1
            self.refetched += skip
        self._learn(verdict, response)
        return response, skip

    def _learn(self, verdict: Verdict, response: aiohttp.ClientResponse) -> None:
        if verdict.etag is not None:
            self.etag = verdict.etag
        if verdict.size is not None:
            self.size = verdict.size
        if self.content_type is None:
            self.content_type = response.headers.get("Content-Type")
        self._check_cap()

    def _check_cap(self) -> None:
        cap = self._max_bytes
        if cap is not None and max(self.offset, self.size or 0) > cap:
            raise self._error(f"the object is larger than max_bytes={cap}")

    async def _restart(self, why: str = "resuming without Range") -> None:
        """Start again from byte 0 (another version), or raise when bytes were handed on."""
        if self.offset > 0:
            if self._on_restart is None:
                raise self._error(
                    f"{why} after {self.offset} bytes were handed on; not spliced",
                    MediaChangedError,
                )
            await self._on_restart()
            self.restarts += 1
        self.offset = 0
        self.etag = None
        self.size = None

    async def _failed(self, why: str, *, progress: bool) -> None:
        """Count a failure; wait its backoff, or raise when the resumes ran out."""
        self.resumes += 1
        self._stalls = 0 if progress else self._stalls + 1
        if self._stalls > self._policy.max_retries or self.resumes > MAX_RESUMES:
            raise self._error(
                f"gave up after {self.requests} requests to the object store: {why}",
                counted=True,
            )
        if self._stalls > 1:
            await asyncio.sleep(backoff_delay(self._stalls - 1, self._policy))

    def _error(
        self, why: str, kind: type[MediaError] = MediaError, *, counted: bool = False
    ) -> MediaError:
        return media_error(
            why,
            kind,
            endpoint=self._endpoint,
            received=self.offset,
            size=self.size,
            requests=self.requests,
            status=self._status,
            counted=counted,
        )


async def _peek(response: aiohttp.ClientResponse, read: float) -> str:
    """Return an error body's ``Code`` and ``Message`` (S3's XML), for the message.

    Only those two: S3's ``SignatureDoesNotMatch`` body also echoes the signature. A
    body silent for ``read`` seconds gives nothing (the session sets no read timeout).
    """
    try:
        async with asyncio.timeout(read):
            body = await response.content.read(_ERROR_PEEK)
    except _BROKEN:
        return ""
    text = body.decode("utf-8", errors="replace")
    found = [m[1] for m in (_CODE(text), _MESSAGE(text)) if m is not None]
    return f" ({': '.join(found)[:200]})" if found else ""
