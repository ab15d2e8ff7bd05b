"""The transcriptions resource: *List transcriptions* and *Get a transcription*.

`Client` inherits `TranscriptionsResource`. Transcriptions are made asynchronously
from recordings (a reader sees ``accepted`` or ``ongoing`` before ``available``);
these are metadata GETs, never redirected (a 307 raises `APIError`, as for
recordings). The transcript itself, in one of its formats, is media: another resource.

Imports: the standard library, and the package's `_engine` (its type), `_protocol`,
`listing`, `models` and this subpackage's `_paging`.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from .. import _protocol
from ..listing import Pager
from ..listing._query import MAX_RECORDINGS_PAGE_SIZE, build_query
from ..models import TRANSCRIPTION_DECODER, Transcription, TranscriptionPage
from ._paging import get_item, json_decode, pager

if TYPE_CHECKING:
    from .._engine import Engine

__all__ = ["TranscriptionsResource", "transcriptions_path"]

#: An ID as callers pass it.
Id = str | uuid.UUID

_decode_transcription = json_decode(
    TRANSCRIPTION_DECODER.decode, "a valid transcription", presigned=True
)
_decode_page = json_decode(
    TranscriptionPage.from_json, "a valid page of transcriptions", presigned=True
)


def transcriptions_path(workspace_id: object) -> str:
    """Build ``/workspaces/{ws}/transcriptions``, validating the ID.

    Raises:
        InvalidIDError: ``workspace_id`` is not a UUID.
    """
    return f"/workspaces/{_protocol.canonical_id('workspace_id', workspace_id)}/transcriptions"


class TranscriptionsResource:
    """The transcriptions endpoints of `Client`."""

    __slots__ = ()
    _engine: Engine

    async def get_transcription(self, workspace_id: Id, transcription_id: Id) -> Transcription:
        """Fetch one transcription's metadata (*Get a transcription*).

        Args:
            workspace_id: The workspace's UUID, as `uuid.UUID` or string.
            transcription_id: The transcription's UUID.

        Returns:
            The decoded transcription; its ``url``, if any, is presigned and expires.

        Raises:
            InvalidIDError: An ID is not a UUID; nothing was sent.
            NotFoundError: No such transcription (404); `APIError` subclasses for other
                statuses, `APIError` with ``status`` 307 if the API redirected (not
                followed).
            APIConnectionError: The connection failed; `APITimeoutError` if it timed out.
            DecodeError: The API answered 2xx with a body that is not a transcription.
        """
        path = transcriptions_path(workspace_id) + "/"
        path += _protocol.canonical_id("transcription_id", transcription_id)
        return await get_item(self._engine, path, _decode_transcription)

    def list_transcriptions(
        self, workspace_id: Id, *, page_size: int | None = None, page_token: str | None = None
    ) -> Pager[TranscriptionPage, Transcription]:
        """List the workspace's transcriptions (*List transcriptions*).

        Nothing is sent until the pager is iterated; every argument is checked now.

        Example:
            ```python
            async for tr in client.list_transcriptions(ws, page_size=99):
                if tr.status == asyncsdk.TranscriptionStatus.AVAILABLE:
                    print(tr.id, tr.locale, tr.summary)
            ```

        Args:
            workspace_id: The workspace's UUID.
            page_size: Transcriptions per page, 1 to 99 (the API's default is 10).
            page_token: A saved ``next_page_token``: start at that page.

        Returns:
            A `Pager` of `TranscriptionPage`: iterate it for `Transcription`.

        Raises:
            InvalidIDError: ``workspace_id`` is not a UUID.
            ConfigurationError: ``page_size`` is not 1 to 99, or ``page_token`` is empty
                or oversized.
        """
        query = build_query(
            transcriptions_path(workspace_id),
            page_size=page_size,
            max_page_size=MAX_RECORDINGS_PAGE_SIZE,
        )
        return pager(self._engine, _decode_page, query, page_token, Pager)
