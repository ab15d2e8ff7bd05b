"""Query parameters and page tokens shared by every list endpoint of the embedded server.

The calls lists (`asyncsdk.server._listing`) and the recordings and transcriptions lists
(`asyncsdk.server._recordings`) check their parameters and sign their page tokens the
same way: a refused parameter is an `InvalidParameterError` (answered 422), and a page
token is ``base64url(payload).base64url(HMAC-SHA256(key, payload))`` where the payload
holds a format version, a digest of the query and the position to continue from.

Imports: the standard library only.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import re
import struct
import uuid

__all__ = [
    "MAX_TOKEN_LENGTH",
    "InvalidParameterError",
    "PageTokens",
    "parse_datetime",
    "parse_limit",
    "parse_text",
    "parse_uuid",
    "query_digest",
]

#: Longest page token accepted, in characters (the API reference's bound).
MAX_TOKEN_LENGTH = 8000
_TOKEN_VERSION = 1
_PAYLOAD = struct.Struct(">B16sQ")
_SIGNATURE_BYTES = 16
_LIMIT = re.compile(r"\d{1,4}").fullmatch
_TOKEN_TEXT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+").fullmatch
_UUID_TEXT_LENGTH = 36


class InvalidParameterError(Exception):
    """A query parameter the endpoint refuses (answered 422).

    Args:
        name: The parameter's name.
        problem: What is wrong with it, as the error body's detail says.
    """

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name} {problem}")
        self.name = name
        self.problem = problem


def parse_uuid(name: str, text: str) -> uuid.UUID:
    """Return ``text`` as a UUID (canonical 36-character form only).

    Raises:
        InvalidParameterError: ``text`` is not a UUID.
    """
    try:
        if len(text) == _UUID_TEXT_LENGTH:
            return uuid.UUID(text)
    except ValueError:
        pass
    raise InvalidParameterError(name, "must be a valid UUID")


def parse_datetime(name: str, text: str) -> dt.datetime:
    """Return ``text`` (RFC 3339 with a zone) as an aware UTC datetime.

    Raises:
        InvalidParameterError: ``text`` is not a date-time with a time zone.
    """
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        value = None
    if value is None or "T" not in text or value.utcoffset() is None:
        raise InvalidParameterError(name, "must be an RFC 3339 date-time with a time zone")
    return value.astimezone(dt.UTC)


def parse_text(name: str, text: str, longest: int) -> str:
    """Return ``text`` if it is 1 to ``longest`` characters long.

    Raises:
        InvalidParameterError: ``text`` is empty or too long.
    """
    if not 1 <= len(text) <= longest:
        raise InvalidParameterError(name, f"must be 1 to {longest} characters")
    return text


def parse_limit(text: str | None, default: int, most: int) -> int:
    """Return the page size ``text`` asks for (``default`` without one), from 1 to ``most``.

    Raises:
        InvalidParameterError: ``text`` is not a whole number from 1 to ``most``.
    """
    if text is None:
        return default
    if _LIMIT(text) is None or not 1 <= int(text) <= most:
        raise InvalidParameterError("limit", f"must be an integer from 1 to {most}")
    return int(text)


def query_digest(canonical: list[str]) -> bytes:
    """Return the 16-byte digest a page token binds: of the query's canonical lines."""
    return hashlib.sha256("\n".join(canonical).encode()).digest()[:16]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class PageTokens:
    """Signs and reads page tokens with one key.

    Args:
        key: The HMAC key; derive it from seeds, so that a restarted server still takes
            its tokens, as a real API's survive a deployment.
    """

    def __init__(self, key: bytes) -> None:
        self._key = key

    def make(self, digest: bytes, position: int) -> str:
        """Return the token that continues the query ``digest`` from ``position``."""
        payload = _PAYLOAD.pack(_TOKEN_VERSION, digest, position)
        signature = hmac.new(self._key, payload, hashlib.sha256).digest()[:_SIGNATURE_BYTES]
        return f"{_b64(payload)}.{_b64(signature)}"

    def position(self, token: str | None, digest: bytes) -> int | None:
        """Return the position ``token`` continues from, or ``None`` for the first page.

        Raises:
            InvalidParameterError: The token is malformed, signed by another key, or
                belongs to another query.
        """
        if token is None:
            return None
        if len(token) > MAX_TOKEN_LENGTH or _TOKEN_TEXT(token) is None:
            raise InvalidParameterError("pageToken", "is not a page token of this API")
        encoded_payload, _, encoded_signature = token.partition(".")
        try:
            payload, signature = _unb64(encoded_payload), _unb64(encoded_signature)
        except (binascii.Error, ValueError):
            raise InvalidParameterError("pageToken", "is not a page token of this API") from None
        expected = hmac.new(self._key, payload, hashlib.sha256).digest()[:_SIGNATURE_BYTES]
        if len(payload) != _PAYLOAD.size or not hmac.compare_digest(signature, expected):
            raise InvalidParameterError("pageToken", "is not a page token of this API (signature)")
        version, token_digest, position = _PAYLOAD.unpack(payload)
        if version != _TOKEN_VERSION or token_digest != digest:
            raise InvalidParameterError(
                "pageToken", "belongs to another query; pass the same filters"
            )
        return int(position)
