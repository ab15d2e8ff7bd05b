"""The Voice API's wire protocol, with no I/O: requests in, results or errors out.

Everything here is a pure function of its arguments, so it is tested without an event
loop or a server: validating IDs and the base URL, building the paths and headers,
parsing ``Retry-After``, and turning a response's (status, headers, body) into a
`Call` (or a `CallPage` of a list endpoint) or the one `APIError` subclass that status
maps to. The list endpoints' query strings are built in `asyncsdk.listing._query`.

Imports: the standard library, msgspec, `asyncsdk.errors` and `asyncsdk.models`.
"""

from __future__ import annotations

import ipaddress
import math
import re
import time
import uuid
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Final
from urllib.parse import urlsplit

import msgspec

from .errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    DecodeError,
    InvalidIDError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    UnprocessableEntityError,
)
from .models import CALL_DECODER, Call, CallPage, redact_url

METHOD: Final = "GET"

#: Response headers that carry a request id, in order of preference.
REQUEST_ID_HEADERS: Final = ("X-Request-Id", "Request-Id", "X-Correlation-Id", "X-Amzn-RequestId")

_STATUS_ERRORS: Final[Mapping[int, type[APIError]]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}

_LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
#: The canonical text of a UUID: what ``str(uuid.UUID(...))`` returns.
_CANONICAL_UUID: Final = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
).fullmatch


# --- request side -----------------------------------------------------------------------


def canonical_id(name: str, value: object) -> str:
    """Return ``value`` as a canonical lowercase UUID string, fit for a URL path.

    Accepts a `uuid.UUID` or any string `uuid.UUID` parses. The result contains only
    hex digits and hyphens, so no input can add a path segment, a query or an escape.

    Raises:
        InvalidIDError: ``value`` is not a UUID.
    """
    # Fast path, ~8x cheaper than parsing: text already canonical is returned as is.
    # Only an exact str qualifies; a subclass could format itself differently.
    if type(value) is str and _CANONICAL_UUID(value) is not None:
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
    raise InvalidIDError(name, value)


def calls_prefix(workspace_id: object, channel_id: object) -> str:
    """Build ``/workspaces/{ws}/channels/{ch}/calls/``, validating both IDs.

    Raises:
        InvalidIDError: Either ID is not a UUID; the first bad one is named.
    """
    return (
        f"/workspaces/{canonical_id('workspace_id', workspace_id)}"
        f"/channels/{canonical_id('channel_id', channel_id)}/calls/"
    )


def channel_calls_path(workspace_id: object, channel_id: object) -> str:
    """Build ``/workspaces/{ws}/channels/{ch}/calls``: the calls of one channel.

    Raises:
        InvalidIDError: Either ID is not a UUID; the first bad one is named.
    """
    return calls_prefix(workspace_id, channel_id)[:-1]


def call_log_path(workspace_id: object) -> str:
    """Build ``/workspaces/{ws}/channels/calls``: the workspace's calls log.

    Raises:
        InvalidIDError: ``workspace_id`` is not a UUID.
    """
    return f"/workspaces/{canonical_id('workspace_id', workspace_id)}/channels/calls"


def call_path(workspace_id: object, channel_id: object, call_id: object) -> str:
    """Build the *Get a call* path from three IDs, validating each.

    Raises:
        InvalidIDError: Any ID is not a UUID; the first bad one is named.
    """
    return calls_prefix(workspace_id, channel_id) + canonical_id("call_id", call_id)


def authorization(access_key: str | None, bearer_token: str | None) -> str:
    """Return the ``Authorization`` header value for exactly one credential.

    Raises:
        ConfigurationError: Neither or both credentials are given, or one is blank or
            holds characters a header cannot carry. The message never repeats it.
    """
    if (access_key is None) == (bearer_token is None):
        raise ConfigurationError(
            "pass exactly one credential: access_key=... (or the BIRD_ACCESS_KEY "
            "environment variable) or bearer_token=..."
        )
    scheme, secret = (
        ("AccessKey", access_key) if access_key is not None else ("Bearer", bearer_token)
    )
    name = "access_key" if access_key is not None else "bearer_token"
    if not isinstance(secret, str) or not secret.strip():
        raise ConfigurationError(f"{name} is empty; pass the credential from your Bird dashboard")
    if secret != secret.strip() or any(ord(c) < 0x21 or ord(c) > 0x7E for c in secret):
        raise ConfigurationError(
            f"{name} contains whitespace or non-printable characters; check how it was copied"
        )
    return f"{scheme} {secret}"


def base_url(url: str, *, allow_insecure_http: bool = False) -> str:
    """Validate the API base URL and return it without a trailing slash.

    ``https`` is required, except for loopback hosts (``localhost``, ``127.0.0.0/8``,
    ``::1``) or when ``allow_insecure_http`` is set: a credential must never cross a
    network in clear text by accident.

    Raises:
        ConfigurationError: The URL is malformed, has credentials, a query or fragment,
            or is plain ``http`` to a non-loopback host without the opt-in.
    """
    if not isinstance(url, str):
        raise ConfigurationError(f"base_url must be a string, got {type(url).__name__}")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - parsing the port validates it
    except ValueError as exc:
        raise ConfigurationError(f"base_url is not a valid URL: {url!r}") from exc
    if parts.scheme not in ("https", "http") or not host:
        raise ConfigurationError(f"base_url must look like https://api.bird.com, got {url!r}")
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError("base_url must not contain credentials; pass access_key=...")
    if parts.query or parts.fragment:
        raise ConfigurationError(f"base_url must not have a query or fragment, got {url!r}")
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback(host):
        raise ConfigurationError(
            f"base_url {url!r} is plain http to a non-loopback host; use https, or pass "
            "allow_insecure_http=True if the network path is trusted"
        )
    return url.rstrip("/")


def is_loopback(host: str) -> bool:
    """Tell whether ``host`` names this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# --- response side ----------------------------------------------------------------------


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Parse a ``Retry-After`` header into seconds to wait from ``now``.

    Accepts delay-seconds (``"120"``, and leniently ``"1.5"``) or an HTTP date
    (``"Wed, 21 Oct 2026 07:28:00 GMT"``). A date in the past gives ``0.0``.

    Args:
        value: The header value, or ``None`` when absent.
        now: The current Unix time in seconds; defaults to `time.time`.

    Returns:
        Seconds, ``>= 0``, or ``None`` when absent or unparseable.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def request_id(headers: Mapping[str, str]) -> str | None:
    """Return the server's request id from the response headers, if it sent one."""
    for name in REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value
    return None


def error_class(status: int) -> type[APIError]:
    """Return the `APIError` subclass for an HTTP status (the one place this is decided)."""
    cls = _STATUS_ERRORS.get(status)
    if cls is not None:
        return cls
    return ServerError if status >= 500 else APIError


def api_error(
    status: int, headers: Mapping[str, str], body: bytes, *, url: str, reason: str | None = None
) -> APIError:
    """Build the typed error for a non-2xx response.

    The body is kept raw (as text, capped) and, when it is a JSON object, parsed into
    ``body``; a proxy's HTML page or an empty body is fine.
    """
    text = body.decode("utf-8", errors="replace")
    parsed: dict[str, object] | None = None
    if body[:1] in (b"{", b" ", b"\n", b"\r", b"\t"):
        try:
            candidate = msgspec.json.decode(body)
        except msgspec.DecodeError:
            candidate = None
        if isinstance(candidate, dict):
            parsed = candidate
    detail = parsed.get("message") if parsed is not None else None
    label = f"{status} {reason}" if reason else str(status)
    if 300 <= status < 400:
        # A presigned Location carries a credential in its query: never in a message.
        location = redact_url(headers.get("Location", "?"))
        message = f"unexpected redirect {label} to {location!r}; not followed"
    elif isinstance(detail, str) and detail:
        message = f"{label}: {detail}"
    else:
        message = label
    return error_class(status)(
        message,
        method=METHOD,
        url=url,
        status=status,
        body=parsed,
        text=text,
        request_id=request_id(headers),
        retry_after=parse_retry_after(headers.get("Retry-After")),
    )


def decode_call(body: bytes, *, url: object) -> Call:
    """Decode a success body into a `Call`.

    ``url`` names the request in the error; it is turned into text only on failure.

    Raises:
        DecodeError: The body is not JSON, or not a call; ``path`` names the JSON path
            that failed and ``body`` keeps the raw bytes.
    """
    try:
        return CALL_DECODER.decode(body)
    except msgspec.MsgspecError as exc:
        raise _decode_error(exc, "a valid call", body, url) from exc


def decode_page(body: bytes, *, url: object) -> CallPage:
    """Decode a success body of a list endpoint into a `CallPage`.

    Raises:
        DecodeError: The body is not JSON, or not a page of calls; ``path`` names the
            JSON path that failed (``$.results[3].duration``).
    """
    try:
        return CallPage.from_json(body)
    except msgspec.MsgspecError as exc:
        raise _decode_error(exc, "a valid page of calls", body, url) from exc


def _decode_error(exc: msgspec.MsgspecError, what: str, body: bytes, url: object) -> DecodeError:
    if isinstance(exc, msgspec.ValidationError):
        message = str(exc)
        path = message.rpartition(" - at `")[2].rstrip("`") if " - at `" in message else "$"
        return DecodeError(
            f"response is not {what}: {message}", method=METHOD, url=str(url), path=path, body=body
        )
    return DecodeError(
        f"response is not valid JSON: {exc}", method=METHOD, url=str(url), path=None, body=body
    )
