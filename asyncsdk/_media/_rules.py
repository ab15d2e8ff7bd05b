"""The media path's decisions, without I/O: which redirect to follow, what an answer means.

Each is a small pure function beside the mechanism that applies it
(`asyncsdk._media._transfer`):

- `follow_location`: the one redirect Bird's media endpoints give; only an absolute
  ``https`` URL (plain ``http`` to a loopback host when the client allows it);
- `store_headers`: the fresh header set sent to the object store: no ``Authorization``,
  no Bird header, only ``Range`` and ``If-Range`` when resuming;
- `leaking_session_headers`: a caller's session whose default headers would follow the
  request to the object store;
- `parse_content_range` and `judge`: what an object-store answer means for a read that
  holds ``offset`` bytes of the version ``etag``;
- `RedirectDecode`: how the request engine reads a media endpoint's answer (a redirect
  to follow, never a body).

Imports: yarl, the standard library, and the package's `_protocol` (loopback hosts),
`errors` and `models` (`redact_url`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Final, Literal

from yarl import URL

from .. import _protocol
from ..errors import MediaError, RedirectError
from ..models import redact_url

__all__ = [
    "RedirectDecode",
    "Verdict",
    "follow_location",
    "judge",
    "leaking_session_headers",
    "media_error",
    "parse_content_range",
    "store_headers",
]

_METHOD: Final = "GET"
#: Default headers of a caller's session that may go to any host.
_HARMLESS: Final = frozenset(("user-agent", "accept", "accept-encoding", "accept-language"))
_CONTENT_RANGE: Final = re.compile(r"bytes (\d{1,19})-(\d{1,19})/(\d{1,19}|\*)").fullmatch


def follow_location(
    status: int, headers: Mapping[str, str], *, endpoint: str, allow_http: bool
) -> URL:
    """Return the object-store URL a media endpoint's redirect names, or refuse it.

    Args:
        status: The endpoint's 3xx status.
        headers: Its headers.
        endpoint: Bird's media URL, for the error.
        allow_http: Whether plain ``http`` to a loopback host may be followed (the
            client's own ``base_url`` is plain http, or it allows insecure http).

    Raises:
        RedirectError: Not a 307 or 302/303/308, no ``Location``, a relative one,
            another scheme than ``https``, or ``http`` where it is not allowed.
    """
    location = headers.get("Location")
    if status not in (302, 303, 307, 308):
        raise RedirectError(
            f"media endpoint answered {status}, not a redirect to follow",
            method=_METHOD,
            url=endpoint,
            status=status,
        )
    if not location:
        raise RedirectError(
            f"media endpoint answered {status} without a Location",
            method=_METHOD,
            url=endpoint,
            status=status,
        )
    try:
        target = URL(location, encoded=True)
    except (ValueError, TypeError):
        target = URL()
    shown = redact_url(location)
    if not target.scheme or not target.is_absolute() or not target.host:
        raise RedirectError(
            f"media endpoint redirected to {shown!r}: not an absolute URL; not followed",
            method=_METHOD,
            url=endpoint,
            status=status,
        )
    scheme = target.scheme.lower()
    secure = scheme == "https"
    loopback_http = scheme == "http" and allow_http and _protocol.is_loopback(target.host)
    if not (secure or loopback_http):
        why = (
            "plain http to a non-loopback host"
            if scheme == "http"
            else f"scheme {scheme!r} is not https"
        )
        raise RedirectError(
            f"media endpoint redirected to {shown!r}: {why}; not followed",
            method=_METHOD,
            url=endpoint,
            status=status,
        )
    return target


def store_headers(offset: int, etag: str | None) -> dict[str, str]:
    """Return the headers of an object-store request: never a credential or a Bird header.

    ``Accept-Encoding: identity`` keeps byte offsets those of the object; from
    ``offset`` > 0 on, ``Range`` asks for the rest and ``If-Range`` (with the ETag, when
    known) for the same version only.
    """
    headers = {"Accept": "*/*", "Accept-Encoding": "identity"}
    if offset > 0:
        headers["Range"] = f"bytes={offset}-"
        if etag is not None:
            headers["If-Range"] = etag
    return headers


def leaking_session_headers(default_headers: Mapping[str, str], has_auth: bool) -> list[str]:
    """Name a session's default headers that would reach the object store (not their values).

    aiohttp merges a session's default headers into every request; a caller's session
    with an ``Authorization`` or a custom header default would send it to the object
    store's host.
    """
    names = sorted({name for name in default_headers if name.lower() not in _HARMLESS})
    if has_auth:
        names.append("Authorization (session auth)")
    return names


def parse_content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """Parse ``bytes first-last/total`` (``total`` may be ``*``); ``None`` if it is not that."""
    if value is None:
        return None
    match = _CONTENT_RANGE(value.strip())
    if match is None:
        return None
    first, last = int(match[1]), int(match[2])
    total = None if match[3] == "*" else int(match[3])
    if last < first or (total is not None and last >= total):
        return None
    return first, last, total


#: What to do with an object-store answer: read it (``"read"``), read it but throw away
#: the first ``offset`` bytes (``"skip"``: the same version, whole), start again from
#: byte 0 (``"restart"``: another version), ask Bird for a fresh URL (``"refresh"``:
#: expired or failed), or fail (``"fail"``).
Action = Literal["read", "skip", "restart", "refresh", "fail"]


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    """What `judge` decided about one object-store answer.

    Attributes:
        action: See `Action`.
        size: The object's whole size, when the answer says it.
        etag: The answer's ETag, if any.
        why: Why, for a log line or an error.
    """

    action: Action
    size: int | None = None
    etag: str | None = None
    why: str = ""


def judge(
    status: int,
    headers: Mapping[str, str],
    *,
    offset: int,
    etag: str | None,
    size: int | None,
) -> Verdict:
    """Decide what an object-store answer means for a read holding ``offset`` bytes.

    A whole answer must say where it ends (``Content-Length``, or chunks with their
    last one): one delimited only by the connection closing is refused, as a cut
    could not be told from the end.

    Args:
        status: The answer's status.
        headers: Its headers.
        offset: Bytes already held (0: the first request, no ``Range`` sent).
        etag: The ETag of the bytes held, if known.
        size: The object's size as first announced, if known.
    """
    got = headers.get("ETag")
    length = _content_length(headers)
    if status == 200:
        if length is None and "chunked" not in headers.get("Transfer-Encoding", "").lower():
            return Verdict(
                "fail",
                None,
                got,
                "a 200 with neither Content-Length nor chunks: its end cannot be told from a cut",
            )
        if length is not None and size is not None and offset == 0 and length != size:
            return Verdict("restart", length, got, "the object's size changed")
        if offset == 0:
            return Verdict("read", length, got)
        # A ranged request answered whole: Range ignored, or If-Range said another version.
        if got is not None and got == etag and (size is None or length in (None, size)):
            return Verdict("skip", length, got, "the object store ignored Range")
        return Verdict("restart", length, got, "the object changed (another ETag)")
    if status == 206:
        parsed = parse_content_range(headers.get("Content-Range"))
        if offset == 0 or parsed is None:
            return Verdict(
                "fail",
                None,
                got,
                f"206 with Content-Range {headers.get('Content-Range')!r}"
                " for a request that asked no such range",
            )
        first, last, total = parsed
        expected_total = size if size is not None else total
        if first != offset or (total is not None and last != total - 1) or total != expected_total:
            return Verdict(
                "fail",
                None,
                got,
                f"206 for bytes {first}-{last}/{total}, not the range asked "
                f"(bytes={offset}- of {expected_total})",
            )
        if length is not None and length != last - first + 1:
            return Verdict(
                "fail", None, got, f"206 with Content-Length {length} for {last - first + 1} bytes"
            )
        if etag is not None and got is not None and got != etag:
            return Verdict("restart", total, got, "the object changed (another ETag)")
        return Verdict("read", total, got if got is not None else etag)
    if status in (403, 408, 429, 500, 502, 503, 504):
        return Verdict("refresh", None, got, f"the object store answered {status}")
    if status == 412:
        return Verdict("restart", None, got, "the object changed (precondition failed)")
    if 300 <= status < 400:
        return Verdict("fail", None, got, f"a second redirect ({status}); not followed")
    return Verdict("fail", None, got, f"the object store answered {status}")


def _content_length(headers: Mapping[str, str]) -> int | None:
    value = headers.get("Content-Length")
    if value is None or not value.isdigit():
        return None
    return int(value)


def media_error(
    message: str,
    kind: type[MediaError] = MediaError,
    *,
    endpoint: str,
    received: int,
    size: int | None,
    requests: int,
    status: int | None,
    counted: bool = False,
) -> MediaError:
    """Build a `MediaError` (or ``kind``, a subclass) with its context.

    ``requests`` is the requests sent to the object store for this read: the error's
    ``attempts`` (at least 1), and ``resumes`` is every one after the first. The
    message gets ``(after N requests to the object store)`` when N is more than one,
    unless it says N itself (``counted``): the count is said once.
    """
    attempts = max(requests, 1)
    if attempts > 1 and not counted:
        message = f"{message} (after {attempts} requests to the object store)"
    return kind(
        message,
        method=_METHOD,
        url=endpoint,
        received=received,
        size=size,
        resumes=attempts - 1,
        status=status,
        attempts=attempts,
    )


class RedirectDecode:
    """The engine's decode for a media endpoint: its answer is a redirect, not a body.

    A 2xx with a body is a `RedirectError`; a redirect goes through `follow_location`.
    """

    __slots__ = ("_allow_http", "_endpoint")

    def __init__(self, endpoint: str, allow_http: bool) -> None:
        self._endpoint = endpoint
        self._allow_http = allow_http

    def __call__(self, body: bytes, *, url: object) -> URL:
        raise RedirectError(
            "media endpoint answered 2xx with a body, not a redirect to the media",
            method="GET",
            url=self._endpoint,
            status=200,
        )

    def redirect(self, status: int, headers: Mapping[str, str], *, url: object) -> URL:
        return follow_location(
            status, headers, endpoint=self._endpoint, allow_http=self._allow_http
        )
