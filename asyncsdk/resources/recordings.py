"""The recordings resource: the workspace's Recordings API and a call's recordings.

`Client` inherits `RecordingsResource`: *List recordings* and *Get a recording* (the
workspace's recordings, of completed calls and conferences), and *List call
recordings of a call* and *Get a call recording* (the recordings of an active call:
"for a completed call, use the Recordings API"). Each method checks its arguments
(nothing is sent on bad input), builds the path and query, and hands them to the
shared GET or pager (`asyncsdk.resources._paging`).

These are metadata GETs: the engine's transport never follows a redirect, and a 307
(Bird answers one to a client that will not take JSON; the engine sends ``Accept:
application/json``) raises `APIError` with ``status`` 307, the presigned ``Location``
redacted. The media itself is another resource.

Imports: the standard library, and the package's `_engine` (its type), `_protocol`,
`listing`, `models` and this subpackage's `_paging`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING

from .. import _protocol
from ..listing import Pager
from ..listing._query import MAX_PAGE_SIZE, MAX_RECORDINGS_PAGE_SIZE, Values, build_query
from ..models import (
    CALL_RECORDING_DECODER,
    RECORDING_DECODER,
    CallRecording,
    CallRecordingPage,
    Recording,
    RecordingPage,
)
from ._paging import get_item, json_decode, pager

if TYPE_CHECKING:
    from .._engine import Engine

__all__ = ["RecordingsResource", "call_recordings_path", "recordings_path"]

#: An ID as callers pass it.
Id = str | uuid.UUID

_decode_recording = json_decode(RECORDING_DECODER.decode, "a valid recording", presigned=True)
_decode_recording_page = json_decode(
    RecordingPage.from_json, "a valid page of recordings", presigned=True
)
_decode_call_recording = json_decode(CALL_RECORDING_DECODER.decode, "a valid call recording")
_decode_call_recording_page = json_decode(
    CallRecordingPage.from_json, "a valid page of call recordings"
)


def recordings_path(workspace_id: object) -> str:
    """Build ``/workspaces/{ws}/recordings``, validating the ID.

    Raises:
        InvalidIDError: ``workspace_id`` is not a UUID.
    """
    return f"/workspaces/{_protocol.canonical_id('workspace_id', workspace_id)}/recordings"


def call_recordings_path(workspace_id: object, channel_id: object, call_id: object) -> str:
    """Build ``/workspaces/{ws}/channels/{ch}/calls/{call}/recordings``, validating the IDs.

    Raises:
        InvalidIDError: An ID is not a UUID; the first bad one is named.
    """
    return _protocol.call_path(workspace_id, channel_id, call_id) + "/recordings"


class RecordingsResource:
    """The recordings endpoints of `Client`: the workspace's, and an active call's."""

    __slots__ = ()
    _engine: Engine

    async def get_recording(self, workspace_id: Id, recording_id: Id) -> Recording:
        """Fetch one recording's metadata (*Get a recording*).

        Args:
            workspace_id: The workspace's UUID, as `uuid.UUID` or string.
            recording_id: The recording's UUID.

        Returns:
            The decoded recording; its ``url``, if any, is presigned and expires.

        Raises:
            InvalidIDError: An ID is not a UUID; nothing was sent.
            NotFoundError: No such recording (404); `APIError` subclasses for other
                statuses, `APIError` with ``status`` 307 if the API redirected (not
                followed).
            APIConnectionError: The connection failed; `APITimeoutError` if it timed out.
            DecodeError: The API answered 2xx with a body that is not a recording.
        """
        path = (
            recordings_path(workspace_id)
            + "/"
            + _protocol.canonical_id("recording_id", recording_id)
        )
        return await get_item(self._engine, path, _decode_recording)

    def list_recordings(
        self,
        workspace_id: Id,
        *,
        channel_id: Id | None = None,
        source_id: Id | None = None,
        call_id: Id | None = None,
        direction: Values | None = None,
        status: Values | None = None,
        start_at: dt.datetime | None = None,
        end_at: dt.datetime | None = None,
        from_: str | None = None,
        to: str | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
    ) -> Pager[RecordingPage, Recording]:
        """List the workspace's recordings, newest first (*List recordings*).

        Nothing is sent until the pager is iterated; every argument is checked now.
        ``direction`` and ``status`` take one value or an iterable (sent as repeated
        keys); unknown values are allowed, the API adds them. For a whole time window,
        concurrently and resumably, see `iter_recordings`.

        Example:
            ```python
            async for rec in client.list_recordings(ws, status="available", page_size=99):
                print(rec.id, rec.duration, rec.created_at)
            ```

        Args:
            workspace_id: The workspace's UUID.
            channel_id: Only recordings of this channel.
            source_id: Only the recordings of this call (or conference).
            call_id: Sent as ``id``, "the ID for the call" in Bird's reference.
            direction: ``incoming`` and/or ``outgoing`` (see `CallDirection`).
            status: Recording status(es) to keep (see `RecordingStatus`).
            start_at: Start of the time window (on ``createdAt``); timezone-aware.
            end_at: End of the time window; timezone-aware, after ``start_at``.
            from_: Only recordings of calls from this number (1 to 100 characters).
            to: Only recordings of calls to this number (1 to 100 characters).
            page_size: Recordings per page, 1 to 99 (the API's default is 10).
            page_token: A saved ``next_page_token``: start at that page.

        Returns:
            A `Pager` of `RecordingPage`: iterate it for `Recording`, or its
            `Pager.pages` for pages.

        Raises:
            InvalidIDError: An ID is not a UUID.
            ConfigurationError: A filter is of the wrong type or out of range (a naive
                datetime, ``start_at`` not before ``end_at``, a page size over 99, an
                empty or oversized token).
        """
        query = build_query(
            recordings_path(workspace_id),
            channel_ids=None
            if channel_id is None
            else _protocol.canonical_id("channel_id", channel_id),
            source_id=source_id,
            call_id=call_id,
            direction=direction,
            status=status,
            start_at=start_at,
            end_at=end_at,
            from_=from_,
            to=to,
            page_size=page_size,
            max_page_size=MAX_RECORDINGS_PAGE_SIZE,
        )
        return pager(self._engine, _decode_recording_page, query, page_token, Pager)

    async def get_call_recording(
        self, workspace_id: Id, channel_id: Id, call_id: Id, recording_id: Id
    ) -> CallRecording:
        """Fetch one recording of an active call (*Get a call recording*).

        Args:
            workspace_id: The workspace's UUID.
            channel_id: The voice channel's UUID.
            call_id: The call's UUID.
            recording_id: The recording's UUID.

        Returns:
            The decoded call recording.

        Raises:
            InvalidIDError: An ID is not a UUID; nothing was sent.
            NotFoundError: No such recording, or the call is no longer active (404).
            APIConnectionError: The connection failed; `APITimeoutError` if it timed out.
            DecodeError: The API answered 2xx with a body that is not a call recording.
        """
        path = call_recordings_path(workspace_id, channel_id, call_id)
        path += "/" + _protocol.canonical_id("recording_id", recording_id)
        return await get_item(self._engine, path, _decode_call_recording)

    def list_call_recordings(
        self,
        workspace_id: Id,
        channel_id: Id,
        call_id: Id,
        *,
        page_size: int | None = None,
        page_token: str | None = None,
    ) -> Pager[CallRecordingPage, CallRecording]:
        """List the recordings of an active call (*List call recordings of a call*).

        For a completed call, Bird answers an empty page or 404: use `list_recordings`
        with ``source_id=call_id`` instead.

        Args:
            workspace_id: The workspace's UUID.
            channel_id: The voice channel's UUID.
            call_id: The call's UUID.
            page_size: Recordings per page, 1 to 1000.
            page_token: A saved ``next_page_token``: start at that page.

        Returns:
            A `Pager` of `CallRecordingPage`.

        Raises:
            InvalidIDError: An ID is not a UUID.
            ConfigurationError: ``page_size`` or ``page_token`` is out of range.
        """
        query = build_query(
            call_recordings_path(workspace_id, channel_id, call_id),
            page_size=page_size,
            max_page_size=MAX_PAGE_SIZE,
        )
        return pager(self._engine, _decode_call_recording_page, query, page_token, Pager)
