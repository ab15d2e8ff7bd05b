"""The list endpoints' queries, with no I/O: every filter checked, then encoded.

`build_query` turns the keyword arguments of every list method (``Client.list_calls``,
``Client.list_call_log``, ``Client.list_recordings``, ``Client.list_transcriptions``,
...) into a frozen `ListQuery` or raises `ConfigurationError` / `InvalidIDError` naming
the argument, before anything is sent; each endpoint passes its own largest page size.
`ListQuery.query_string` then writes the wire form for one page: repeated filters as repeated keys
(``status=completed&status=busy``), datetimes as RFC 3339 in UTC, and every value
percent-encoded (a ``+`` in a phone number must not arrive as a space).

The standard library's ``urllib.parse.quote`` does the encoding; no query-building
library is needed for a dozen fixed keys.

Imports: the standard library, `asyncsdk.errors` and `asyncsdk._protocol`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

from .._protocol import canonical_id
from ..errors import ConfigurationError

__all__ = [
    "MAX_PAGE_SIZE",
    "MAX_PAGE_TOKEN_LENGTH",
    "MAX_RECORDINGS_PAGE_SIZE",
    "ListQuery",
    "Values",
    "build_query",
    "check_page_token",
    "rfc3339",
]

#: Calls a page may hold at most (the API's upper bound for ``limit``); also the
#: call-scoped recordings list's.
MAX_PAGE_SIZE: Final = 1000
#: Recordings or transcriptions a page of their workspace lists may hold at most.
MAX_RECORDINGS_PAGE_SIZE: Final = 99
#: Characters a page token may have at most.
MAX_PAGE_TOKEN_LENGTH: Final = 8000
#: Characters of one text filter value at most (``from`` and ``to``: 1..100 in the API).
MAX_TEXT_LENGTH: Final = 100

#: One value, or any iterable of values, of a filter that may repeat.
Values = str | Iterable[str]


def rfc3339(value: dt.datetime) -> str:
    """Format an aware datetime as RFC 3339 in UTC: ``2026-10-02T09:14:03.120Z``.

    Whole seconds are written without a fraction, whole milliseconds with three digits,
    anything finer with six. The year always has four digits (``0001-01-01T00:00:00Z``,
    as Bird writes its zero time): ``strftime("%Y")`` writes ``1`` for year 1 on some
    platforms, which is not RFC 3339.
    """
    utc = value.astimezone(dt.UTC)
    text = (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
        f"T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    )
    micro = utc.microsecond
    if micro == 0:
        return text + "Z"
    if micro % 1000 == 0:
        return f"{text}.{micro // 1000:03d}Z"
    return f"{text}.{micro:06d}Z"


def _encode(value: str) -> str:
    return quote(value, safe="")


@dataclass(frozen=True, slots=True)
class ListQuery:
    """One validated query of a list endpoint, without its page token.

    Attributes:
        path: The endpoint's path (``/workspaces/{ws}/channels/calls``), IDs validated.
        filters: ``(key, value)`` pairs in wire order, values already percent-encoded;
            the window, page size and token are kept apart.
        start_at: Start of the window (UTC), or ``None``.
        end_at: End of the window (UTC), or ``None``.
        page_size: Items per page, or ``None`` for the endpoint's default.
    """

    path: str
    filters: tuple[tuple[str, str], ...]
    start_at: dt.datetime | None
    end_at: dt.datetime | None
    page_size: int | None

    def query_string(self, page_token: str | None) -> str:
        """Return the encoded query of the page at ``page_token`` (the first if ``None``)."""
        parts: list[str] = []
        if self.page_size is not None:
            parts.append(f"limit={self.page_size}")
        if page_token is not None:
            parts.append("pageToken=" + _encode(page_token))
        if self.start_at is not None:
            parts.append("startAt=" + _encode(rfc3339(self.start_at)))
        if self.end_at is not None:
            parts.append("endAt=" + _encode(rfc3339(self.end_at)))
        parts.extend(f"{key}={value}" for key, value in self.filters)
        return "&".join(parts)

    def with_window(self, start_at: dt.datetime, end_at: dt.datetime) -> ListQuery:
        """Return the same query over another window (both bounds aware)."""
        return dataclasses.replace(
            self, start_at=start_at.astimezone(dt.UTC), end_at=end_at.astimezone(dt.UTC)
        )

    def fingerprint(self) -> str:
        """Return a digest of the endpoint, filters and window (not page size or token).

        Two queries with the same fingerprint list the same calls; a checkpoint taken
        from one can resume the other.
        """
        text = "\n".join(
            [
                self.path,
                *(f"{key}={value}" for key, value in self.filters),
                rfc3339(self.start_at) if self.start_at is not None else "-",
                rfc3339(self.end_at) if self.end_at is not None else "-",
            ]
        )
        return hashlib.sha256(text.encode()).hexdigest()[:32]


# --- validation ----------------------------------------------------------------------


def _text(name: str, value: object, *, max_length: int = MAX_TEXT_LENGTH) -> str:
    if not isinstance(value, str):
        raise ConfigurationError(f"{name} must be a string, got {type(value).__name__}")
    # The string's own value: str() of a `(str, Enum)` member is "Cls.NAME", and a str
    # subclass may override __str__; what is sent must be what was checked.
    text = str.__str__(value)
    if not text or len(text) > max_length:
        raise ConfigurationError(
            f"{name} must be 1 to {max_length} characters, got {len(text)}: {text[:40]!r}"
        )
    if not text.isprintable():
        raise ConfigurationError(f"{name} holds non-printable characters: {text[:40]!r}")
    return text


def _many(name: str, value: object) -> tuple[str, ...]:
    """One string or an iterable of strings: each checked, repeats dropped, order kept."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (_text(name, value),)
    if not isinstance(value, Iterable):
        raise ConfigurationError(
            f"{name} must be a string or an iterable of strings, got {type(value).__name__}"
        )
    items = tuple(dict.fromkeys(_text(name, item) for item in value))
    if not items:
        raise ConfigurationError(f"{name} is empty; pass None for no {name} filter")
    return items


def _ids(name: str, value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, Iterable) and not isinstance(value, str):
        items = tuple(dict.fromkeys(canonical_id(name, item) for item in value))
        if not items:
            raise ConfigurationError(f"{name} is empty; pass None for no {name} filter")
        return items
    return (canonical_id(name, value),)


def _when(name: str, value: object) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        raise ConfigurationError(
            f"{name} must be a timezone-aware datetime, got {type(value).__name__}"
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise ConfigurationError(
            f"{name} must be timezone-aware (e.g. datetime(..., tzinfo=datetime.UTC)), "
            f"got the naive {value.isoformat()}"
        )
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise ConfigurationError(
            f"{name} is out of range: {value.isoformat()} is before year 1 or after "
            "year 9999 in UTC"
        ) from None


def _count(name: str, value: object, low: int, high: int | None) -> int | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value > high)
    ):
        bounds = f"from {low} to {high}" if high is not None else f"{low} or more"
        raise ConfigurationError(f"{name} must be an int {bounds}, got {value!r}")
    return value


def check_page_token(page_token: object) -> str | None:
    """Return a page token fit to send, or ``None``.

    Raises:
        ConfigurationError: Not a string, empty (the listing it came from had ended), or
            longer than `MAX_PAGE_TOKEN_LENGTH`.
    """
    if page_token is None:
        return None
    if not isinstance(page_token, str):
        raise ConfigurationError(
            f"page_token must be a string from a page's next_page_token, "
            f"got {type(page_token).__name__}"
        )
    if not page_token:
        raise ConfigurationError(
            "page_token is empty: the listing it came from had ended; "
            "pass None to start from the first page"
        )
    if len(page_token) > MAX_PAGE_TOKEN_LENGTH:
        raise ConfigurationError(
            f"page_token has {len(page_token)} characters; the API's tokens have at most "
            f"{MAX_PAGE_TOKEN_LENGTH}"
        )
    return page_token


def build_query(
    path: str,
    *,
    status: object = None,
    direction: object = None,
    type: object = None,
    from_: object = None,
    to: object = None,
    duration: object = None,
    start_at: object = None,
    end_at: object = None,
    page_size: object = None,
    channel_ids: object = None,
    call_id: object = None,
    tags: object = None,
    source_id: object = None,
    max_page_size: int = MAX_PAGE_SIZE,
) -> ListQuery:
    """Check every filter and return the `ListQuery`; nothing is sent.

    Args:
        path: The endpoint path, built from validated IDs.
        status: Call status(es); any string (the API adds values).
        direction: Direction(s): ``incoming``, ``outgoing``, or a newer value.
        type: Call type(s).
        from_: The calling number, 1 to 100 characters.
        to: The called number, 1 to 100 characters.
        duration: Seconds, 0 or more.
        start_at: Start of the window, timezone-aware.
        end_at: End of the window, timezone-aware, after ``start_at``.
        page_size: Items per page, 1 to ``max_page_size``.
        channel_ids: Channel UUID(s) (the calls log and the recordings list).
        call_id: One call's UUID, sent as ``id`` (the calls log and the recordings list).
        tags: Tag(s) (the calls log only).
        source_id: The UUID of the call or conference recorded (the recordings list).
        max_page_size: The endpoint's largest ``limit``: 1000 for the calls lists, 99
            for the recordings and transcriptions lists.

    Raises:
        ConfigurationError: A filter is of the wrong type or out of range.
        InvalidIDError: A channel or call ID is not a UUID.
    """
    start = _when("start_at", start_at)
    end = _when("end_at", end_at)
    if start is not None and end is not None and not start < end:
        raise ConfigurationError(
            f"start_at must be before end_at, got {rfc3339(start)} and {rfc3339(end)}"
        )
    size = _count("page_size", page_size, 1, max_page_size)
    seconds = _count("duration", duration, 0, None)
    filters: list[tuple[str, str]] = []
    filters += [("status", v) for v in _many("status", status)]
    filters += [("type", v) for v in _many("type", type)]
    filters += [("direction", v) for v in _many("direction", direction)]
    if from_ is not None:
        filters.append(("from", _text("from_", from_)))
    if to is not None:
        filters.append(("to", _text("to", to)))
    if seconds is not None:
        filters.append(("duration", str(int(seconds))))  # an IntEnum member: its number
    filters += [("channelId", v) for v in _ids("channel_ids", channel_ids)]
    if call_id is not None:
        filters.append(("id", canonical_id("call_id", call_id)))
    filters += [("tag", v) for v in _many("tags", tags)]
    if source_id is not None:
        filters.append(("sourceId", canonical_id("source_id", source_id)))
    return ListQuery(
        path=path,
        filters=tuple((key, _encode(value)) for key, value in filters),
        start_at=start,
        end_at=end,
        page_size=size,
    )
