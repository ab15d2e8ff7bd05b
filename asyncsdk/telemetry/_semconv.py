"""No I/O: the names and values telemetry records, decided by small pure functions.

What the OpenTelemetry HTTP conventions (stable) ask of a client span, and what the SDK
adds, computed from plain values so that each rule is tested without a provider:

- `url_template`: a span's name comes from the URL template, never the raw path (IDs in
  a path would make every span name unique): each UUID segment becomes the placeholder
  its collection names (``calls/<uuid>`` -> ``calls/{callId}``), so a new endpoint
  (recordings, a media GET) gets its template without being listed here; a URL that is
  not under the API root (a presigned media URL after a redirect) has none, and its span
  is named by the method alone;
- `redact_url`: ``url.full`` without credentials or presigned signatures;
- `error_type`: ``error.type``, the status code as text or the exception's qualified name;
- the wait causes and attribute names the SDK adds (no convention covers client-side
  rate-limiter waits; the names follow .NET's ``time_in_queue`` under our namespace).

Imports: the standard library only.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "DURATION_BUCKETS",
    "WAIT_BACKOFF",
    "WAIT_OUTAGE",
    "WAIT_PROBE",
    "WAIT_QUOTA_PAUSE",
    "WAIT_RATE",
    "WAIT_RETRY_AFTER",
    "error_type",
    "operation_of",
    "redact_url",
    "retry_wait_cause",
    "url_template",
]

DURATION_BUCKETS: Final = (
    *(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75),
    *(1.0, 2.5, 5.0, 7.5, 10.0),
)
"""Histogram bucket bounds in seconds, as the HTTP conventions give them."""

#: Why an attempt waited (the ``asyncsdk.wait.cause`` attribute).
WAIT_RATE: Final = "rate_limit"  # the limiter's pace: its turn in the queue
WAIT_QUOTA_PAUSE: Final = "quota_pause"  # every request paused: the quota is used up
WAIT_OUTAGE: Final = "outage_probe"  # the server seems down: one request probes at a time
WAIT_PROBE: Final = "probe"  # the first request's answer is awaited to learn the rate
WAIT_RETRY_AFTER: Final = "retry_after"  # the server's Retry-After before a retry
WAIT_BACKOFF: Final = "backoff"  # the retry policy's jittered backoff

#: Query keys whose value is a secret (presigned URLs); compared in lower case.
_SECRET_KEYS: Final = frozenset(
    {"x-amz-signature", "signature", "sig", "awsaccesskeyid", "x-amz-credential"}
    | {"x-amz-security-token", "x-goog-signature", "x-goog-credential", "token"}
    # the calls log's filters by phone number: personal data, not for every trace
    | {"from", "to"}
)
REDACTED: Final = "REDACTED"


#: A collection's segment followed by a UUID: ``/calls/<uuid>``, or a media file's
#: ``/recordings/<uuid>.mp3`` (the extension, one of a few formats, is kept).
_ITEM: Final = re.compile(
    r"/([A-Za-z]+?)s?/[0-9a-fA-F]{8}-?(?:[0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}"
    r"(?=/|$|\.[a-z0-9]{1,8}$)"
)


def _placeholder(match: re.Match[str]) -> str:
    whole = match.group(0)
    collection = whole[1 : whole.index("/", 1)]
    return f"/{collection}/{{{match.group(1)}Id}}"


def url_template(path: str, base_path: str = "") -> str | None:
    """Return the URL template of ``path`` under the API root ``base_path``, or ``None``.

    ``/workspaces/<uuid>/channels/<uuid>/calls/<uuid>`` ->
    ``/workspaces/{workspaceId}/channels/{channelId}/calls/{callId}``. A path outside
    ``base_path``, or with no UUID at all and no ``/workspaces`` root, has none.
    """
    if base_path and not path.startswith(base_path + "/"):
        return None
    rest = path[len(base_path) :]
    if not rest.startswith("/workspaces/"):
        return None
    return base_path + _ITEM.sub(_placeholder, rest)


#: The SDK operation each endpoint's URL template is (the INTERNAL span's name): an
#: endpoint added here gets its operation span from the engine, with no decorator.
_OPERATIONS: Final = {
    "/workspaces/{workspaceId}/channels/{channelId}/calls/{callId}": "get_call",
    "/workspaces/{workspaceId}/channels/{channelId}/calls": "list_calls.page",
    "/workspaces/{workspaceId}/channels/calls": "list_call_log.page",
    "/workspaces/{workspaceId}/recordings/{recordingId}": "get_recording",
    "/workspaces/{workspaceId}/recordings": "list_recordings.page",
    "/workspaces/{workspaceId}/channels/{channelId}/calls/{callId}/recordings/{recordingId}": (
        "get_call_recording"
    ),
    "/workspaces/{workspaceId}/channels/{channelId}/calls/{callId}/recordings": (
        "list_call_recordings.page"
    ),
    "/workspaces/{workspaceId}/transcriptions/{transcriptionId}": "get_transcription",
    "/workspaces/{workspaceId}/transcriptions": "list_transcriptions.page",
    # The media endpoints (``.../recordings/{recordingId}.mp3``) are not operations of
    # their own: their 307 is one step of ``download_recording`` and the like, whose
    # span (`asyncsdk.telemetry._media`) is its parent.
}


def operation_of(
    path: str, template: str | None, base_path: str = ""
) -> tuple[str, dict[str, str]] | None:
    """Return the SDK operation a request to ``path`` is, with its IDs as attributes.

    ``template`` is ``url_template(path, base_path)``. ``("get_call",
    {"bird.workspace.id": ..., "bird.channel.id": ..., "bird.call.id": ...})`` for *Get
    a call*; ``None`` for a path no operation is known for.
    """
    name = _OPERATIONS.get(template[len(base_path) :]) if template is not None else None
    if name is None:
        return None
    ids = {
        f"bird.{match.group(1)}.id": match.group(0).rpartition("/")[2]
        for match in _ITEM.finditer(path)
    }
    return name, ids


def redact_url(url: str) -> str:
    """Return ``url`` without user info, and with secret query values as ``REDACTED``.

    The user and password become ``REDACTED:REDACTED`` (as the conventions say); the
    values of signature and credential keys (``X-Amz-Signature``, ``Signature``,
    ``sig``, ``AWSAccessKeyId`` ...) and of the phone-number filters ``from`` and ``to``
    become ``REDACTED``; the rest is kept.
    """
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "REDACTED:REDACTED@" + netloc.rpartition("@")[2]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(key.lower() in _SECRET_KEYS for key, _ in pairs):
            query = urlencode(
                [(k, REDACTED if k.lower() in _SECRET_KEYS else v) for k, v in pairs], safe="{}"
            )
    if netloc == parts.netloc and query == parts.query and not parts.fragment:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def error_type(status: int | None, exc: BaseException | None) -> str | None:
    """Return ``error.type``: the status as text for 4xx/5xx, else the exception's type.

    ``None`` when the attempt succeeded. A cancelled attempt is
    ``asyncio.CancelledError``; an SDK error its class's qualified name
    (``asyncsdk.errors.APITimeoutError``).
    """
    if status is not None and status >= 400:
        return str(status)
    if exc is None:
        return None
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def retry_wait_cause(retry_after: float | None) -> str:
    """Name the cause of a wait before a retry: the server's ``Retry-After``, or backoff."""
    return WAIT_RETRY_AFTER if retry_after is not None else WAIT_BACKOFF
