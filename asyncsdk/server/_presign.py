"""The object store's rules, without I/O: presigned URLs, ranges, preconditions, S3 errors.

And the pacing of a bandwidth cap (`bandwidth_wait`).

A presigned URL carries S3's query parameters (``X-Amz-Algorithm``, ``-Credential``,
``-Date``, ``-Expires``, ``-SignedHeaders``, ``-Signature``). Its signature is an
HMAC-SHA256, under the store's secret, over the path, the date and the expiry: not
SigV4's canonical request (nothing here checks a client's signing, only that it sends
the URL unchanged and in time).

The decisions on ``Range``, ``If-Range``, ``If-Match`` and ``If-None-Match`` follow RFC
9110 as S3 applies them: one range (``bytes=N-``, ``bytes=N-M``, ``bytes=-N``), a
``Range`` with several ranges or of another unit is ignored (200, the whole body), an
``If-Range`` that is not the current ETag (a date included) turns the answer into a
200 with the whole body.

Imports: the server's `_mediaconfig` and the standard library.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from xml.sax.saxutils import escape

from asyncsdk.server._mediaconfig import MediaFaults

__all__ = [
    "ALGORITHM",
    "AMZ_DATE_FORMAT",
    "ByteRange",
    "Verdict",
    "bandwidth_wait",
    "body_faults",
    "check_presigned",
    "etag_matches",
    "hostile_range",
    "parse_range",
    "presign_query",
    "s3_error",
]

#: The algorithm a presigned URL names (what S3 URLs carry).
ALGORITHM = "AWS4-HMAC-SHA256"
#: ``X-Amz-Date``'s format: basic ISO 8601, UTC.
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
#: The access key id a presigned URL names (not a secret).
_KEY_ID = "ASIAEMBEDDEDSTORE"
_REQUIRED = ("X-Amz-Algorithm", "X-Amz-Date", "X-Amz-Expires", "X-Amz-Signature")
_SINGLE_RANGE = re.compile(r"bytes=(\d{0,19})-(\d{0,19})").fullmatch
#: Longest X-Amz-Expires S3 accepts: seven days.
MAX_EXPIRES = 7 * 24 * 3600

#: What `check_presigned` finds: valid, expired, or not a valid signature of this store.
Verdict = Literal["ok", "expired", "invalid"]


def _signature(secret: bytes, path: str, date: str, expires: str) -> str:
    message = f"{ALGORITHM}\n{path}\n{date}\n{expires}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def presign_query(secret: bytes, path: str, signed_at: dt.datetime, ttl: int) -> str:
    """Return the query string that presigns ``path`` from ``signed_at`` for ``ttl`` seconds."""
    date = signed_at.astimezone(dt.UTC).strftime(AMZ_DATE_FORMAT)
    expires = str(ttl)
    # Every value is URL-safe but the credential's slashes, written encoded: a listed
    # page presigns a URL per recording, and urlencode would cost most of the page.
    credential = f"{_KEY_ID}%2F{date[:8]}%2Feu-west-1%2Fs3%2Faws4_request"
    return (
        f"X-Amz-Algorithm={ALGORITHM}&X-Amz-Credential={credential}&X-Amz-Date={date}"
        f"&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host"
        f"&X-Amz-Signature={_signature(secret, path, date, expires)}"
    )


def check_presigned(
    secret: bytes, path: str, query: Mapping[str, str], now: dt.datetime
) -> Verdict:
    """Check a request's presigned query against ``path`` and the time ``now``.

    The signature is checked first, as S3 does: a URL whose parameters were altered is
    ``"invalid"`` even when it has also expired.
    """
    if any(name not in query for name in _REQUIRED):
        return "invalid"
    date, expires = query["X-Amz-Date"], query["X-Amz-Expires"]
    if query["X-Amz-Algorithm"] != ALGORITHM or not expires.isdigit():
        return "invalid"
    expected = _signature(secret, path, date, expires)
    if not hmac.compare_digest(expected, query["X-Amz-Signature"]):
        return "invalid"
    try:
        signed_at = dt.datetime.strptime(date, AMZ_DATE_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError:
        return "invalid"
    if int(expires) > MAX_EXPIRES:
        return "invalid"
    return "ok" if now <= signed_at + dt.timedelta(seconds=int(expires)) else "expired"


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Bytes ``start .. end - 1`` of an object, as a 206 serves them.

    Attributes:
        start: The first byte.
        end: One past the last byte.
    """

    start: int
    end: int

    def content_range(self, size: int) -> str:
        """Return the ``Content-Range`` value for this range of an object of ``size`` bytes."""
        return f"bytes {self.start}-{self.end - 1}/{size}"


def parse_range(header: str | None, size: int) -> ByteRange | Literal["ignore", "unsatisfiable"]:
    """Decide what a ``Range`` header asks of an object of ``size`` bytes.

    Returns:
        The `ByteRange` to answer with a 206; ``"ignore"`` for no header or one that is
        not a single byte range (answer the whole body); ``"unsatisfiable"`` for a range
        that starts at or past the end (answer 416).
    """
    if header is None:
        return "ignore"
    match = _SINGLE_RANGE(header.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return "ignore"
    first, last = match.group(1), match.group(2)
    if first == "":  # the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            return "unsatisfiable"
        return ByteRange(max(0, size - suffix), size)
    start = int(first)
    end = size if last == "" else min(int(last) + 1, size)
    if last != "" and int(last) < start:
        return "ignore"  # invalid: RFC 9110 says to ignore it
    if start >= size:
        return "unsatisfiable"
    return ByteRange(start, end)


def hostile_range(kind: str, asked: ByteRange) -> ByteRange | Literal["ignore"]:
    """Return what a hostile store serves for ``asked``: ``"ignore_range"`` or another range.

    ``"ignore_range"`` ignores it (the whole body, 200); ``"wrong_range"`` serves from
    half its start, or one byte short of its end when it starts at 0.
    """
    if kind == "ignore_range":
        return "ignore"
    if asked.start > 0:
        return ByteRange(asked.start // 2, asked.end)
    return ByteRange(0, max(1, asked.end - 1))


def etag_matches(header: str, etag: str) -> bool:
    """Whether an ``If-Match`` / ``If-None-Match`` list names ``etag`` (or is ``*``)."""
    tags = [tag.strip() for tag in header.split(",")]
    return "*" in tags or etag in tags


def s3_error(code: str, message: str, resource: str, request_id: str, **extra: str) -> bytes:
    """Return S3's XML error body (``<Error><Code>...``), with ``extra`` elements."""
    parts = [f"<Code>{escape(code)}</Code>", f"<Message>{escape(message)}</Message>"]
    parts += [f"<{name}>{escape(value)}</{name}>" for name, value in extra.items()]
    parts += [f"<Resource>{escape(resource)}</Resource>", f"<RequestId>{request_id}</RequestId>"]
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error>' + "".join(parts) + "</Error>"
    ).encode()


def bandwidth_wait(now: float, next_free: float, size: int, bandwidth: int) -> tuple[float, float]:
    """Pace ``size`` bytes under a cap of ``bandwidth`` bytes/s shared by every answer.

    Args:
        now: The clock now, in seconds.
        next_free: When the cap lets the next byte go (the previous call's second value).
        size: Bytes about to be written.
        bandwidth: The cap, bytes per second.

    Returns:
        Seconds to wait before writing, and the new ``next_free``.
    """
    start = max(now, next_free)
    return start - now, start + size / bandwidth


def body_faults(
    draws: tuple[float, ...],
    faults: MediaFaults,
    queued: tuple[str, int | None] | None,
    length: int,
) -> tuple[int | None, bool, bool]:
    """Decide the faults of one body of ``length`` bytes.

    Args:
        draws: Four uniform numbers in ``[0, 1)``: reset, replace, trickle, and the cut
            point (always drawn, so that the seeded sequence does not depend on what
            was decided).
        faults: The configured probabilities.
        queued: A fault queued for this object (``kind``, ``after``), taking the place
            of the drawn ones; ``after`` defaults to half the body.
        length: Bytes of the body.

    Returns:
        Bytes to send before the cut (``None``: no cut), whether the object is replaced
        at the cut, and whether the body trickles.
    """
    reset, replace, trickle = (
        draws[0] < faults.reset,
        draws[1] < faults.replace,
        draws[2] < faults.trickle,
    )
    after = faults.cut_after
    if queued is not None:
        kind, after = queued
        reset, replace, trickle = kind == "reset", kind == "replace", kind == "trickle"
        after = length // 2 if after is None else after
    cut = None
    if length > 0 and (reset or replace):
        cut = min(after, length - 1) if after is not None else int(draws[3] * length)
    return cut, cut is not None and replace and not reset, trickle
