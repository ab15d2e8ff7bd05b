"""Bird's webhook signature scheme: sign a delivery, verify one, read its timestamp.

The scheme (Bird's "Verifying a webhook subscription"): the signature is the base64 of
HMAC-SHA256, keyed with the subscription's signing key (its UTF-8 bytes), over::

    timestamp + LF + url + LF + sha256(body)

where ``LF`` is a newline byte, ``timestamp`` the ``messagebird-request-timestamp``
header as sent, ``url`` the URL Bird called (scheme, host, path and query) and
``sha256(body)`` the 32 raw bytes of the digest of the body. The comparison is
constant-time (`hmac.compare_digest`). The standard library does all of it:
`hmac.digest` runs OpenSSL's one-shot HMAC, the fastest path CPython offers.

The signature covers bytes, while headers and paths reach Python as text. aiohttp
decodes them as UTF-8 with ``surrogateescape`` (a byte that is not UTF-8 becomes a
lone surrogate), so the text is encoded back the same way and the bytes that were sent
are the bytes checked; from raw bytes, decode them so too
(``raw.decode("utf-8", "surrogateescape")``). Text that no bytes decode to (any other
lone surrogate) cannot have been signed, and is refused as an `InvalidSignatureError`.

No I/O and no framework: usable from aiohttp, FastAPI, Starlette, Django or a queue
consumer alike.

Imports: the standard library, `asyncsdk.errors` and the webhooks' `_errors`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import math
import time
from collections.abc import Sequence
from typing import Final

from asyncsdk.errors import ConfigurationError
from asyncsdk.webhooks._errors import (
    InvalidSignatureError,
    MissingHeaderError,
    StaleTimestampError,
)

__all__ = [
    "DEFAULT_TOLERANCE",
    "REQUEST_ID_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "SigningKeys",
    "check_signature",
    "check_tolerance",
    "compute_signature",
    "parse_timestamp",
    "signing_keys",
    "verify_signature",
]

SIGNATURE_HEADER: Final = "messagebird-signature"
"""The header holding the base64 signature."""
TIMESTAMP_HEADER: Final = "messagebird-request-timestamp"
"""The header holding the delivery's timestamp (Unix seconds, or RFC 3339)."""
REQUEST_ID_HEADER: Final = "messagebird-request-id"
"""The header naming the delivery; a retried delivery keeps it."""
DEFAULT_TOLERANCE: Final = 300.0
"""Seconds a delivery's timestamp may be from now, either way, before it is refused."""

#: One signing key, or several during a rotation (each str is taken as UTF-8).
SigningKeys = str | bytes | Sequence[str | bytes]

_DIGEST_SIZE: Final = 32
#: A signature longer than this (base64 of far more than 32 bytes) is refused unread.
_MAX_SIGNATURE_LENGTH: Final = 128


def signing_keys(keys: SigningKeys) -> tuple[bytes, ...]:
    """Return the keys as bytes, in order: one key, or a list of them during a rotation.

    Raises:
        ValueError: No key, an empty key, or something that is not str or bytes. The
            message never repeats a key.
    """
    given: Sequence[str | bytes] = (keys,) if isinstance(keys, str | bytes) else keys
    if isinstance(given, str | bytes) or not isinstance(given, Sequence):
        raise ValueError("signing_key must be a str, bytes, or a list of them")
    result: list[bytes] = []
    for key in given:
        if not isinstance(key, str | bytes):
            raise ValueError(f"a signing key must be str or bytes, got {type(key).__name__}")
        raw = key.encode() if isinstance(key, str) else bytes(key)
        if not raw:
            raise ValueError("a signing key is empty; pass the key from the subscription")
        result.append(raw)
    if not result:
        raise ValueError("no signing key given; pass the key from the subscription")
    return tuple(result)


def check_tolerance(tolerance: float | None) -> float | None:
    """Return ``tolerance`` if it is ``None`` or a finite number of seconds > 0.

    Raises:
        ConfigurationError: Anything else (0 would refuse every delivery, infinity or
            NaN would accept any timestamp: say ``None`` to turn the check off).
    """
    if tolerance is None:
        return None
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float):
        raise ConfigurationError(
            f"tolerance must be a number of seconds or None, got {type(tolerance).__name__}"
        )
    if not (math.isfinite(tolerance) and tolerance > 0):
        raise ConfigurationError(
            f"tolerance must be a finite number of seconds > 0 (None turns the check off), "
            f"got {tolerance!r}"
        )
    return float(tolerance)


def _message(timestamp: str, url: str, body: bytes) -> bytes:
    """Return the signed bytes; raise `UnicodeEncodeError` for text no bytes decode to."""
    return b"%s\n%s\n%s" % (
        timestamp.encode("utf-8", "surrogateescape"),
        url.encode("utf-8", "surrogateescape"),
        hashlib.sha256(body).digest(),
    )


def compute_signature(signing_key: str | bytes, *, timestamp: str, url: str, body: bytes) -> str:
    """Return the base64 signature Bird sends for a delivery (for tests and senders).

    Args:
        signing_key: The subscription's signing key.
        timestamp: The ``messagebird-request-timestamp`` value, as sent.
        url: The URL the delivery is sent to, exactly (scheme, host, path, query).
        body: The raw body.

    Raises:
        ValueError: The key is empty, or ``timestamp`` or ``url`` holds a lone
            surrogate that is not a byte decoded with ``surrogateescape``.
    """
    (key,) = signing_keys(signing_key)
    try:
        message = _message(timestamp, url, body)
    except UnicodeEncodeError:
        raise ValueError("timestamp and url must be text that UTF-8 bytes decode to") from None
    return base64.b64encode(hmac.digest(key, message, "sha256")).decode()


def parse_timestamp(value: str) -> float:
    """Read a delivery timestamp: Unix seconds (``"1764147243"``) or RFC 3339.

    Args:
        value: The header value. An RFC 3339 time must carry its offset (``Z`` or
            ``+01:00``).

    Returns:
        Unix time in seconds.

    Raises:
        StaleTimestampError: The value is neither (``skew`` is ``None``).
    """
    text = value.strip()
    seconds: float | None = None
    if text.isascii() and text[:1].isdigit() and text.replace(".", "", 1).isdigit():
        seconds = float(text)
    elif len(text) >= len("2026-01-01T00:00:00Z"):
        try:
            when = dt.datetime.fromisoformat(text)
        except ValueError:
            when = None
        if when is not None and when.tzinfo is not None:
            seconds = when.timestamp()
    if seconds is None or not math.isfinite(seconds):
        raise StaleTimestampError(
            "the delivery's timestamp is neither Unix seconds nor an RFC 3339 time"
        )
    return seconds


def verify_signature(
    signing_key: SigningKeys,
    *,
    signature: str | None,
    timestamp: str | None,
    url: str,
    body: bytes,
    tolerance: float | None = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> None:
    """Check that a delivery was signed by Bird with one of your keys, recently.

    Pass the headers as received (``None`` when absent); the URL must be the one Bird
    called, which behind a proxy is not the one your server sees (see the webhooks
    guide). The signature is checked first, then the timestamp, so a
    `StaleTimestampError` always concerns a genuine delivery.

    Args:
        signing_key: The subscription's signing key, or a list of keys during a
            rotation (any one may match).
        signature: The ``messagebird-signature`` header.
        timestamp: The ``messagebird-request-timestamp`` header.
        url: The URL Bird called: scheme, host, path and query, exactly; the path and
            query as received, still percent-encoded (aiohttp's ``request.raw_path``,
            ASGI's ``scope["raw_path"]`` and ``scope["query_string"]``). Text decoded
            from bytes that are not UTF-8 is checked as those bytes (see the module).
        body: The raw request body, every byte.
        tolerance: Seconds the timestamp may be away from ``now``, in the past or the
            future: a finite number > 0, or ``None`` to turn the check off (not
            recommended: it is the replay protection).
        now: The current Unix time in seconds; defaults to `time.time`.

    Raises:
        MissingHeaderError: ``signature`` or ``timestamp`` is absent or empty.
        InvalidSignatureError: The signature is not base64 of 32 bytes, or matches no
            key, or ``timestamp`` or ``url`` is text that no bytes decode to.
        StaleTimestampError: The timestamp is unreadable, or further from now than
            ``tolerance``.
        ValueError: ``signing_key`` is empty or not str/bytes.
        ConfigurationError: ``tolerance`` is not ``None`` or a finite number > 0 (a
            `ValueError` too).

    Example:
        ```python
        verify_signature(
            key,
            signature=headers.get(SIGNATURE_HEADER),
            timestamp=headers.get(TIMESTAMP_HEADER),
            url="https://hooks.example.com/bird/voice?tenant=7",
            body=raw_body,
        )
        event = parse_event(raw_body)
        ```
    """
    check_signature(
        signing_keys(signing_key),
        signature=signature,
        timestamp=timestamp,
        url=url,
        body=body,
        tolerance=check_tolerance(tolerance),
        now=now,
    )


def check_signature(
    keys: tuple[bytes, ...],
    *,
    signature: str | None,
    timestamp: str | None,
    url: str,
    body: bytes,
    tolerance: float | None,
    now: float | None,
) -> float | None:
    """`verify_signature` with the keys already resolved by `signing_keys` (no checks).

    Returns:
        The timestamp read (Unix seconds), or ``None`` when ``tolerance`` is ``None``
        (then it was not read).
    """
    if not signature:
        raise MissingHeaderError(SIGNATURE_HEADER)
    if not timestamp:
        raise MissingHeaderError(TIMESTAMP_HEADER)
    if len(signature) > _MAX_SIGNATURE_LENGTH:
        raise InvalidSignatureError("the signature is too long to be an HMAC-SHA256")
    try:
        given = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSignatureError("the signature is not base64") from None
    if len(given) != _DIGEST_SIZE:
        raise InvalidSignatureError("the signature is not an HMAC-SHA256 (32 bytes)")
    try:
        message = _message(timestamp, url, body)
    except UnicodeEncodeError:  # no bytes decode to this text: it was never signed
        raise InvalidSignatureError(
            "the timestamp or the URL is not text that UTF-8 bytes decode to"
        ) from None
    # Every key is tried, so the time taken does not tell which one matched.
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(hmac.digest(key, message, "sha256"), given)
    if not matched:
        raise InvalidSignatureError("the signature does not match the body, URL and timestamp")
    if tolerance is None:
        return None
    seconds = parse_timestamp(timestamp)
    skew = (time.time() if now is None else now) - seconds
    if abs(skew) > tolerance:
        direction = "old" if skew > 0 else "in the future"
        raise StaleTimestampError(
            f"the delivery's timestamp is {abs(skew):.0f}s {direction}, "
            f"beyond the tolerance of {tolerance:g}s",
            skew=skew,
        )
    return seconds
