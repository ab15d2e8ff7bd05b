"""One GET over aiohttp: no redirects, a bounded body, and aiohttp's errors translated.

This is the only module that talks to the network. It knows nothing of calls, retries
or rate limits: it returns the raw status, headers and body, or raises
`APIConnectionError` / `APITimeoutError` / `ResponseTooLargeError`.
`asyncio.CancelledError` passes through untouched.

Imports: aiohttp, multidict, yarl, the standard library, `asyncsdk._tls` (the words for a
failed handshake) and `asyncsdk.errors`.
"""

from __future__ import annotations

import contextlib
import os
import socket
from typing import NamedTuple

import aiohttp
from aiohttp import hdrs
from multidict import CIMultiDictProxy
from yarl import URL

from ._tls import tls_reason
from .errors import APIConnectionError, APITimeoutError, ResponseTooLargeError

_METHOD = "GET"
_ENCODING = hdrs.CONTENT_ENCODING  # an istr: a cheaper lookup than a plain str


class RawResponse(NamedTuple):
    """A complete HTTP response, body read."""

    status: int
    reason: str | None
    headers: CIMultiDictProxy[str]
    body: bytes


async def get(
    session: aiohttp.ClientSession,
    url: URL,
    *,
    headers: dict[str, str],
    client_timeout: aiohttp.ClientTimeout,
    max_bytes: int,
) -> RawResponse:
    """Send one GET and read the whole body, refusing bodies over ``max_bytes``.

    ``url`` must already be safe (built from validated parts, ``encoded=True``): it is
    sent as given, without re-quoting.

    Raises:
        APITimeoutError: Connecting, reading or the whole attempt took too long.
        APIConnectionError: The connection failed, was reset, or the body was cut off.
        ResponseTooLargeError: The body is larger than ``max_bytes``; it is not read.
    """
    try:
        async with session.get(
            url, headers=headers, timeout=client_timeout, allow_redirects=False
        ) as resp:
            length = resp.content_length
            if length is not None and length <= max_bytes and _ENCODING not in resp.headers:
                body = await resp.read()  # aiohttp reads exactly Content-Length bytes
            else:
                body = await _read_capped(resp, max_bytes, url)
            return RawResponse(resp.status, resp.reason, resp.headers, body)
    except TimeoutError as exc:  # aiohttp's timeouts all derive from TimeoutError
        raise APITimeoutError(
            _timeout_message(exc, client_timeout), method=_METHOD, url=str(url)
        ) from exc
    except aiohttp.ClientPayloadError as exc:
        # aiohttp's text names an internal code ("ContentLengthError: 400") that reads
        # like an HTTP status; say what happened instead.
        raise APIConnectionError(
            "the response body was cut off: the connection closed before all of it "
            f"arrived ({_cut_short(exc)})",
            method=_METHOD,
            url=str(url),
        ) from exc
    except aiohttp.ClientConnectorError as exc:
        raise APIConnectionError(_connect_message(exc), method=_METHOD, url=str(url)) from exc
    except aiohttp.ClientError as exc:
        raise APIConnectionError(
            f"connection failed: {type(exc).__name__}: {exc}".rstrip(": "),
            method=_METHOD,
            url=str(url),
        ) from exc


async def _read_capped(resp: aiohttp.ClientResponse, max_bytes: int, url: URL) -> bytes:
    """Read a body that is too long, compressed, or of unknown length, up to the cap.

    Counting as we go cuts a huge or decompression-bomb body off at the cap instead of
    letting it fill memory.
    """
    length = resp.content_length
    if length is not None and length > max_bytes:
        raise _too_large(resp, max_bytes, url, f"response body of {length} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_any():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(resp, max_bytes, url, "response body")
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(
    resp: aiohttp.ClientResponse, max_bytes: int, url: URL, what: str
) -> ResponseTooLargeError:
    return ResponseTooLargeError(
        f"{what} exceeds max_response_bytes={max_bytes}",
        method=_METHOD,
        url=str(url),
        limit=max_bytes,
        status=resp.status,
    )


def _connect_message(exc: aiohttp.ClientConnectorError) -> str:
    """Say which address could not be reached and the OS's reason, in plain words.

    aiohttp's own text ("Cannot connect to host h:p ssl:default [...]") names a TLS
    setting even for plain http, and its reason is often "Connect call failed".
    """
    where = f"{exc.host}:{exc.port}" if exc.port is not None else exc.host
    if isinstance(exc, aiohttp.ClientSSLError):
        reason = tls_reason(exc.os_error) or _os_reason(exc.os_error)
        return f"connection failed: TLS with {where} failed: {reason}"
    return f"connection failed: cannot connect to {where}: {_os_reason(exc.os_error)}"


def _os_reason(error: OSError) -> str:
    """The OS's words for ``error`` ("Connection refused"), not the call that failed."""
    if error.errno is not None and not isinstance(error, socket.gaierror):
        with contextlib.suppress(ValueError):
            return os.strerror(error.errno)
    reason = error.strerror or str(error) or type(error).__name__
    if isinstance(error, socket.gaierror):
        return f"the host name does not resolve ({reason})"
    return reason


def _cut_short(exc: aiohttp.ClientPayloadError) -> str:
    """Describe a body cut short without aiohttp's internal error codes."""
    text = str(exc).lower()
    if "content length" in text or "contentlength" in text:
        return "fewer bytes than its Content-Length"
    if "chunk" in text:
        return "a chunked body ended early"
    if "compress" in text or "decod" in text:
        return "a compressed body could not be decoded"
    return "the body was incomplete"


def _timeout_message(exc: BaseException, timeout: aiohttp.ClientTimeout) -> str:
    def limit(name: str, seconds: float | None) -> str:
        return f" ({name} timeout {seconds:g}s)" if seconds is not None else ""

    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return "timed out connecting" + limit("connect", timeout.sock_connect)
    if isinstance(exc, aiohttp.SocketTimeoutError):
        return "timed out reading the response" + limit("read", timeout.sock_read)
    return "request timed out" + limit("total", timeout.total) + " per attempt"
