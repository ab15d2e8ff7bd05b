"""The embedded server's list endpoints: filters, newest-first pages, signed page tokens.

* ``GET /workspaces/{workspaceId}/channels/{channelId}/calls``: one channel's calls
  (``limit`` defaults to 25);
* ``GET /workspaces/{workspaceId}/channels/calls``: the workspace's calls log (``limit``
  defaults to 10; also ``channelId``, ``id`` and ``tag``).

Calls come newest first: ``createdAt`` descending, then id descending, which for a
`Dataset` is descending index order (see `asyncsdk.server._timeline`), so a window
``[startAt, endAt)`` is an index range and a page is a slice of it. Filters compare the
values each call's template keeps, so a filtered scan renders only what it returns; it
examines at most `SCAN_PER_PAGE` calls per page and may answer a short (even empty)
page with a token, as real APIs do.

A page token is opaque: ``base64url(payload).base64url(HMAC-SHA256(key, payload))``,
where the payload holds a format version, a digest of the query (endpoint, IDs, filters
and window; not ``limit``) and the position to continue from. A changed byte, a token
of another query or of another server is answered 422, like a malformed date or a
``limit`` out of 1..1000. The key derives from the server's and the dataset's seeds, so
a restarted server still takes its tokens, as a real API's survive a deployment.

A page waits `ServerConfig.page_latency` scaled by its size (on top of ``latency``).

Bird's reference does not say how finely ``startAt`` and ``endAt`` are read, nor whether
each bound is inclusive; `ServerConfig.time_precision`, ``start_inclusive`` and
``end_inclusive`` choose (by default: to the microsecond, ``[startAt, endAt)``), so
that a client can be tried against every plausible answer. `ServerConfig.unlisted`
leaves calls out of every listing, as if not created yet (until the list request
``unlisted_until``, if set: calls created while a listing runs), and
``offset_tokens`` makes a token count the calls served before instead of naming where
the last page ended, so that calls created meanwhile shift the next page.

Imports: aiohttp's multidict, the server's own modules and the standard library.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from multidict import MultiMapping

from asyncsdk.server._config import ServerConfig
from asyncsdk.server._dataset import Dataset
from asyncsdk.server._params import (
    InvalidParameterError,
    PageTokens,
    parse_datetime,
    parse_limit,
    parse_text,
    parse_uuid,
    query_digest,
)
from asyncsdk.server._replies import Reply, error_reply
from asyncsdk.server._templates import Facts

__all__ = [
    "CALL_LOG_ROUTE",
    "CHANNEL_CALLS_ROUTE",
    "DEFAULT_CHANNEL_PAGE_SIZE",
    "DEFAULT_LOG_PAGE_SIZE",
    "SCAN_PER_PAGE",
    "Listing",
    "parse_window",
    "scan_page",
    "window_indices",
]

#: The calls of one channel.
CHANNEL_CALLS_ROUTE = "/workspaces/{workspaceId}/channels/{channelId}/calls"
#: The workspace's calls log, across channels.
CALL_LOG_ROUTE = "/workspaces/{workspaceId}/channels/calls"
#: ``limit`` when none is given, per endpoint (the API reference's defaults).
DEFAULT_CHANNEL_PAGE_SIZE = 25
DEFAULT_LOG_PAGE_SIZE = 10
MAX_PAGE_SIZE = 1000
MAX_TEXT_LENGTH = 100
#: Calls a filtered page examines at most before it answers with what it found.
SCAN_PER_PAGE = 20_000
_DURATION = re.compile(r"\d{1,9}").fullmatch


@dataclass(frozen=True, slots=True)
class _Query:
    """A parsed, checked list query."""

    digest: bytes
    limit: int
    start: dt.datetime | None
    end: dt.datetime | None
    statuses: frozenset[str]
    directions: frozenset[str]
    types: frozenset[str]
    from_: str | None
    to: str | None
    duration: int | None
    tags: frozenset[str]
    channels: frozenset[uuid.UUID] | None
    call_id: uuid.UUID | None

    @property
    def filtered(self) -> bool:
        return bool(
            self.statuses
            or self.directions
            or self.types
            or self.tags
            or self.from_ is not None
            or self.to is not None
            or self.duration is not None
        )

    def matches(self, facts: Facts) -> bool:
        return (
            (not self.statuses or facts.status in self.statuses)
            and (not self.directions or facts.direction in self.directions)
            and (not self.types or facts.type in self.types)
            and (self.from_ is None or facts.from_ == self.from_)
            and (self.to is None or facts.to == self.to)
            and (self.duration is None or facts.duration == self.duration)
            and (not self.tags or not self.tags.isdisjoint(facts.tags))
        )


#: What `truncate` keeps of a datetime, per ``ServerConfig.time_precision``.
_KEEP = {"second": 1_000_000, "millisecond": 1000, "microsecond": 1}
_TICK = dt.timedelta(microseconds=1)


def truncate(value: dt.datetime, precision: str) -> dt.datetime:
    """Cut ``value`` down to whole seconds, milliseconds or microseconds."""
    keep = _KEEP[precision]
    return value.replace(microsecond=value.microsecond - value.microsecond % keep)


def _just_after(value: dt.datetime) -> dt.datetime:
    """The next microsecond: calls are created on whole microseconds at the finest."""
    try:
        return value + _TICK
    except OverflowError:  # the last microsecond there is: nothing comes after it
        return value


def parse_window(
    params: MultiMapping[str], precision: str
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """Return ``startAt`` and ``endAt`` of a list query, checked, then cut to ``precision``.

    Raises:
        InvalidParameterError: A bound is not an RFC 3339 date-time with a zone, or
            ``endAt`` is not after ``startAt``.
    """
    start = end = None
    if "startAt" in params:
        start = parse_datetime("startAt", params["startAt"])
    if "endAt" in params:
        end = parse_datetime("endAt", params["endAt"])
    if start is not None and end is not None and not start < end:
        raise InvalidParameterError("endAt", "must be after startAt")
    # Read as coarsely as configured, after the check: what was sent was in order.
    start = None if start is None else truncate(start, precision)
    end = None if end is None else truncate(end, precision)
    return start, end


def window_indices(
    config: ServerConfig, dataset: Dataset, start: dt.datetime | None, end: dt.datetime | None
) -> range:
    """Return the indices ``[start, end)`` holds, each bound included as ``config`` says."""
    if start is not None and not config.start_inclusive:
        start = _just_after(start)
    if end is not None and config.end_inclusive:
        end = _just_after(end)
    return dataset.timeline.indices(start, end)


def scan_page(
    window: range, end: int, limit: int, keep: Callable[[int], bool] | None
) -> tuple[list[int], int | None]:
    """Return one page of ``window``'s indices below ``end``, newest first, and the next end.

    Args:
        window: The indices the query holds.
        end: Where the page starts (exclusive): the window's end, or a token's position.
        limit: Most indices on the page.
        keep: Which indices the filters keep; ``None`` keeps them all. A filtered page
            examines at most `SCAN_PER_PAGE` indices, and may come short (even empty)
            with a next end, as real APIs' pages do.

    Returns:
        The page's indices, and where the next page starts (``None``: no more pages).
    """
    end = min(max(end, window.start), window.stop)
    if keep is None:
        low = max(window.start, end - limit)
        return list(range(end - 1, low - 1, -1)), (low if low > window.start else None)
    found: list[int] = []
    floor = max(window.start, end - SCAN_PER_PAGE)
    index = end
    while index > floor and len(found) < limit:
        index -= 1
        if keep(index):
            found.append(index)
    return found, (index if index > window.start else None)


class Listing:
    """Answers list requests from a `Dataset`; one per server.

    Args:
        config: The server's configuration (seed for the token key, page latency).
        dataset: The calls to list.
    """

    def __init__(self, config: ServerConfig, dataset: Dataset) -> None:
        self._config = config
        self._dataset = dataset
        self._unlisted = frozenset(
            index for call_id in config.unlisted if (index := dataset.index(call_id)) is not None
        )
        self._answered = 0  # list requests answered, for ``unlisted_until``
        self._tokens = PageTokens(
            hashlib.sha256(
                f"asyncsdk.server.page-token:{config.seed}:{dataset.seed}:{dataset.size}".encode()
            ).digest()
        )

    def answer(self, ids: Mapping[str, str], params: MultiMapping[str], *, log: bool) -> Reply:
        """Return the reply to a list request whose auth, limits and faults passed."""
        try:
            query = self._parse(ids, params, log=log)
            position = self._tokens.position(params.get("pageToken"), query.digest)
        except InvalidParameterError as exc:
            return error_reply(422, str(exc), {exc.name: [exc.problem]})
        dataset = self._dataset
        if uuid.UUID(ids["workspaceId"]) != dataset.workspace_id:
            return error_reply(404, "workspace not found")
        if not log and uuid.UUID(ids["channelId"]) != dataset.channel_id:
            return error_reply(404, "channel not found")
        self._answered += 1
        until = self._config.unlisted_until
        unlisted = self._unlisted if until is None or self._answered < until else frozenset()
        window = self._window(query)
        if self._config.offset_tokens:
            found, following = self._scan_from(query, window, position or 0, unlisted)
        else:
            end = window.stop if position is None else position
            found, following = self._scan(query, window, end, unlisted)
        body = b'{"results":[' + b",".join(dataset.body_at(i) for i in found) + b"]"
        if following is not None:
            token = self._tokens.make(query.digest, following)
            body += b',"nextPageToken":"' + token.encode() + b'"'
        reply = Reply(200, body + b"}")
        reply.delay = self._config.page_latency * len(found) / MAX_PAGE_SIZE
        return reply

    # --- parsing ----------------------------------------------------------------------

    def _parse(self, ids: Mapping[str, str], params: MultiMapping[str], *, log: bool) -> _Query:
        names = ("workspaceId",) if log else ("workspaceId", "channelId")
        canonical = ["log" if log else "channel"]
        for name in names:
            canonical.append(str(parse_uuid(name, ids[name])))
        default = DEFAULT_LOG_PAGE_SIZE if log else DEFAULT_CHANNEL_PAGE_SIZE
        limit = parse_limit(params.get("limit"), default, MAX_PAGE_SIZE)
        start, end = parse_window(params, self._config.time_precision)
        repeated = {name: frozenset(params.getall(name, ())) for name in ("status", "type")}
        repeated["direction"] = frozenset(params.getall("direction", ()))
        single = {
            name: parse_text(name, params[name], MAX_TEXT_LENGTH)
            for name in ("from", "to")
            if name in params
        }
        duration = None
        if "duration" in params:
            if _DURATION(params["duration"]) is None:
                raise InvalidParameterError(
                    "duration", "must be a whole number of seconds, 0 or more"
                )
            duration = int(params["duration"])
        tags: frozenset[str] = frozenset()
        channels: frozenset[uuid.UUID] | None = None
        call_id = None
        if log:
            tags = frozenset(params.getall("tag", ()))
            if "channelId" in params:
                channels = frozenset(parse_uuid("channelId", c) for c in params.getall("channelId"))
            if "id" in params:
                call_id = parse_uuid("id", params["id"])
        for name, values in sorted(repeated.items()):
            canonical.append(f"{name}=" + ",".join(sorted(values)))
        canonical += [f"{name}={value}" for name, value in sorted(single.items())]
        canonical += [
            f"duration={duration}",
            "tag=" + ",".join(sorted(tags)),
            "channelId=" + ",".join(sorted(str(c) for c in channels or ())),
            f"id={call_id}",
            f"startAt={start.isoformat() if start else '-'}",
            f"endAt={end.isoformat() if end else '-'}",
        ]
        return _Query(
            digest=query_digest(canonical),
            limit=limit,
            start=start,
            end=end,
            statuses=repeated["status"],
            directions=repeated["direction"],
            types=repeated["type"],
            from_=single.get("from"),
            to=single.get("to"),
            duration=duration,
            tags=tags,
            channels=channels,
            call_id=call_id,
        )

    # --- pages ------------------------------------------------------------------------

    def _window(self, query: _Query) -> range:
        dataset = self._dataset
        if query.channels is not None and dataset.channel_id not in query.channels:
            return range(0)
        window = window_indices(self._config, dataset, query.start, query.end)
        if query.call_id is not None:
            index = dataset.index(query.call_id)
            if index is None or index not in window:
                return range(0)
            return range(index, index + 1)
        return window

    def _scan(
        self, query: _Query, window: range, end: int, unlisted: frozenset[int]
    ) -> tuple[list[int], int | None]:
        """Return the indices of one page below ``end``, newest first, and the next end."""
        if not query.filtered and not unlisted:
            return scan_page(window, end, query.limit, None)
        template_at = self._dataset.template_at
        return scan_page(
            window,
            end,
            query.limit,
            lambda index: index not in unlisted and query.matches(template_at(index).facts),
        )

    def _scan_from(
        self, query: _Query, window: range, offset: int, unlisted: frozenset[int]
    ) -> tuple[list[int], int | None]:
        """Return one page after the first ``offset`` calls listed now, and the next offset."""
        dataset = self._dataset
        listed = (
            index
            for index in reversed(window)
            if index not in unlisted and query.matches(dataset.template_at(index).facts)
        )
        found = list(itertools.islice(listed, offset, offset + query.limit + 1))
        more = len(found) > query.limit
        return found[: query.limit], (offset + query.limit if more else None)
