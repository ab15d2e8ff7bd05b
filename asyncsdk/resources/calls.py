"""The calls resource: *Get a call* and the two list endpoints, over the engine.

`Client` inherits `CallsResource`: each method checks its arguments (nothing is sent
on bad input), builds the path and query, and hands them to the request engine
(`asyncsdk._engine`), which paces, sends, retries and decodes. The list endpoints hand
back a `CallPager` (`asyncsdk.listing`) without sending anything.

Imports: the standard library, and the package's `_engine` (its type), `_protocol`,
`listing`, `models` and `ratelimit._workspaces` (which workspace a path names).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from .. import _protocol
from ..listing import CallPager, ListQuery
from ..listing._query import Values, build_query, check_page_token
from ..models import Call, CallPage
from ..ratelimit._workspaces import workspace_of

if TYPE_CHECKING:
    from .._engine import Engine

__all__ = ["CallsResource"]

#: An ID as callers pass it.
Id = str | uuid.UUID

#: Matches no caller's IDs (a fresh object is identical to nothing), so the first call
#: always validates.
_NO_PREFIX: Final[tuple[object, object, str, str]] = (object(), object(), "", "")


class CallsResource:
    """The calls endpoints of `Client`: *Get a call* and the two list endpoints."""

    # The validated prefix of the last (workspace, channel) asked for: see `get_call`.
    __slots__ = ("_prefix",)
    _engine: Engine

    def __init__(self) -> None:
        self._prefix: tuple[object, object, str, str] = _NO_PREFIX

    async def get_call(
        self, workspace_id: str | uuid.UUID, channel_id: str | uuid.UUID, call_id: str | uuid.UUID
    ) -> Call:
        """Fetch one call.

        Args:
            workspace_id: The workspace's UUID, as `uuid.UUID` or string.
            channel_id: The voice channel's UUID.
            call_id: The call's UUID.

        Returns:
            The decoded call.

        Raises:
            InvalidIDError: An ID is not a UUID; nothing was sent.
            ClientClosedError: The client is closed.
            NotFoundError: No such call (404); `APIError` subclasses for other statuses.
            APIConnectionError: The connection failed; `APITimeoutError` if it timed out.
            ResponseTooLargeError: The body exceeded ``max_response_bytes``.
            DecodeError: The API answered 2xx with a body that is not a call.
        """
        # Bulk fetches repeat the same workspace and channel objects: their validated
        # prefix is kept, keyed by identity (str and UUID are immutable).
        prefix = self._prefix
        if workspace_id is not prefix[0] or channel_id is not prefix[1]:
            path = _protocol.calls_prefix(workspace_id, channel_id)
            prefix = self._prefix = (
                workspace_id,
                channel_id,
                self._engine.settings.base_path + path,
                workspace_of(path),
            )
        engine = self._engine
        url = engine.settings.base.with_path(
            prefix[2] + _protocol.canonical_id("call_id", call_id), encoded=True
        )
        return await engine.request(
            url, _protocol.decode_call, engine.settings.max_response_bytes, prefix[3]
        )

    async def _fetch_page(self, query: ListQuery, page_token: str | None) -> CallPage:
        """Fetch one page of a list query (the fetcher every `CallPager` is given)."""
        engine = self._engine
        return await engine.request(
            engine.url(query.path, query.query_string(page_token)),
            _protocol.decode_page,
            engine.settings.max_page_bytes,
            workspace_of(query.path),
        )

    def list_calls(
        self,
        workspace_id: Id,
        channel_id: Id,
        *,
        status: Values | None = None,
        direction: Values | None = None,
        type: Values | None = None,
        from_: str | None = None,
        to: str | None = None,
        duration: int | None = None,
        start_at: dt.datetime | None = None,
        end_at: dt.datetime | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
    ) -> CallPager:
        """List the calls of one channel, newest first (*List calls from a channel*).

        Nothing is sent until the pager is iterated; every argument is checked now.
        Filters that repeat take one value or an iterable of values (sent as repeated
        keys); unknown values are allowed, the API adds them.

        Example:
            ```python
            async for call in client.list_calls(ws, ch, status=["completed", "busy"]):
                print(call.id, call.status)
            ```

        Args:
            workspace_id: The workspace's UUID.
            channel_id: The voice channel's UUID.
            status: Call status(es) to keep (see `CallStatus`).
            direction: ``incoming`` and/or ``outgoing`` (see `CallDirection`).
            type: Call type(s) (see `CallType`).
            from_: Only calls from this number (1 to 100 characters).
            to: Only calls to this number (1 to 100 characters).
            duration: Only calls of this length, in seconds.
            start_at: Start of the time window; timezone-aware, sent in UTC.
            end_at: End of the time window; timezone-aware, after ``start_at``.
            page_size: Calls per page, 1 to 1000 (the API's default is 25).
            page_token: A saved ``next_page_token``: start at that page.

        Returns:
            A `CallPager`: iterate it for calls, or its `CallPager.pages` for pages.

        Raises:
            InvalidIDError: An ID is not a UUID.
            ConfigurationError: A filter is of the wrong type or out of range (a naive
                datetime, ``start_at`` not before ``end_at``, a page size over 1000,
                an empty or oversized token).
        """
        query = build_query(
            _protocol.channel_calls_path(workspace_id, channel_id),
            status=status,
            direction=direction,
            type=type,
            from_=from_,
            to=to,
            duration=duration,
            start_at=start_at,
            end_at=end_at,
            page_size=page_size,
        )
        return CallPager(self._fetch_page, query, page_token=check_page_token(page_token))

    def list_call_log(
        self,
        workspace_id: Id,
        *,
        channel_ids: Id | Iterable[Id] | None = None,
        call_id: Id | None = None,
        tags: Values | None = None,
        status: Values | None = None,
        direction: Values | None = None,
        type: Values | None = None,
        from_: str | None = None,
        to: str | None = None,
        duration: int | None = None,
        start_at: dt.datetime | None = None,
        end_at: dt.datetime | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
    ) -> CallPager:
        """List the workspace's calls across channels, newest first (*Get calls log*).

        Takes the filters of `list_calls`, and three of its own.

        Example:
            ```python
            since = datetime.datetime(2026, 10, 1, tzinfo=datetime.UTC)
            pager = client.list_call_log(ws, start_at=since, tags="vip", page_size=1000)
            async for page in pager.pages():
                print(len(page.results), page.next_page_token)
            ```

        Args:
            workspace_id: The workspace's UUID.
            channel_ids: Only calls of these channels (one UUID or an iterable).
            call_id: Only this call.
            tags: Only calls with this tag (one or an iterable).
            status: Call status(es) to keep (see `CallStatus`).
            direction: ``incoming`` and/or ``outgoing`` (see `CallDirection`).
            type: Call type(s) (see `CallType`).
            from_: Only calls from this number (1 to 100 characters).
            to: Only calls to this number (1 to 100 characters).
            duration: Only calls of this length, in seconds.
            start_at: Start of the time window; timezone-aware, sent in UTC.
            end_at: End of the time window; timezone-aware, after ``start_at``.
            page_size: Calls per page, 1 to 1000 (the API's default is 10).
            page_token: A saved ``next_page_token``: start at that page.

        Returns:
            A `CallPager`: iterate it for calls, or its `CallPager.pages` for pages.

        Raises:
            InvalidIDError: An ID is not a UUID.
            ConfigurationError: A filter is of the wrong type or out of range.
        """
        query = build_query(
            _protocol.call_log_path(workspace_id),
            channel_ids=channel_ids,
            call_id=call_id,
            tags=tags,
            status=status,
            direction=direction,
            type=type,
            from_=from_,
            to=to,
            duration=duration,
            start_at=start_at,
            end_at=end_at,
            page_size=page_size,
        )
        return CallPager(self._fetch_page, query, page_token=check_page_token(page_token))
