"""`iter_recordings`: the workspace's recordings of a time window, sharded, each once.

The recordings list (*List recordings*) pages newest first through an opaque token
and filters on ``createdAt`` with ``startAt``/``endAt``, as the calls log does: the
same engine lists it (`asyncsdk.listing._shards`), with the same guarantees (each
recording exactly once, whole-second windows whatever the API's precision or bound
convention, checkpoints that name recordings, not positions; see
`asyncsdk.listing._call_log`). Only the page size differs (1 to 99), and a checkpoint
says it is a recordings listing's: a calls checkpoint does not resume it.

Imports: the standard library and this subpackage's modules (the `Client` for its type
only: it runs on the public client API).
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from typing import TYPE_CHECKING

from ._checkpoints import ListingCheckpoint
from ._query import Values
from ._sharding import DEFAULT_SHARDS, make_listing
from ._shards import RecordingListing

if TYPE_CHECKING:  # the client imports this package: only its type is needed here
    from ..client import Client

__all__ = ["iter_recordings"]


def iter_recordings(
    client: Client,
    workspace_id: str | uuid.UUID,
    *,
    start_at: dt.datetime,
    end_at: dt.datetime,
    shards: int = DEFAULT_SHARDS,
    page_size: int | None = None,
    resume: ListingCheckpoint | None = None,
    channel_id: str | uuid.UUID | None = None,
    source_id: str | uuid.UUID | None = None,
    call_id: str | uuid.UUID | None = None,
    direction: Values | None = None,
    status: Values | None = None,
    from_: str | None = None,
    to: str | None = None,
) -> RecordingListing:
    """List the workspace's recordings of ``[start_at, end_at)`` with concurrent shards.

    The window (on the recordings' ``createdAt``) is cut into ``shards`` sub-windows
    paged at once, busy ones split further; each recording comes exactly once, and
    `RecordingListing.checkpoint` resumes the listing exactly where it stood, across
    processes. The filters are those of `Client.list_recordings`.

    Example:
        ```python
        listing = asyncsdk.iter_recordings(
            client, ws, start_at=since, end_at=until, shards=8, status="available"
        )
        async for recording in listing:
            print(recording.id, recording.created_at)
        ```

    Args:
        client: The client whose limiter, retries and connections every page uses.
        workspace_id: The workspace's UUID.
        start_at: Start of the window (inclusive), timezone-aware.
        end_at: End of the window (exclusive), timezone-aware.
        shards: Shards paged at once (and so requests in flight), 1 to 1000.
        page_size: Recordings per page of each shard, 1 to 99; default 99, the API's
            maximum, or the checkpoint's when resuming.
        resume: A `ListingCheckpoint` of the same recordings listing to continue from.
        channel_id: Only recordings of this channel.
        source_id: Only the recordings of this call (or conference).
        call_id: Sent as ``id`` ("the ID for the call").
        direction: ``incoming`` and/or ``outgoing``.
        status: Recording status(es) to keep (see `RecordingStatus`).
        from_: Only recordings of calls from this number.
        to: Only recordings of calls to this number.

    Returns:
        A `RecordingListing`; nothing is sent until it is iterated.

    Raises:
        ConfigurationError: A filter is out of range, a bound is missing, or ``resume``
            belongs to another listing (a calls listing's, other filters or window).
        InvalidIDError: An ID is not a UUID.
    """
    return make_listing(
        RecordingListing,
        functools.partial(client.list_recordings, workspace_id),
        {
            "channel_id": channel_id,
            "source_id": source_id,
            "call_id": call_id,
            "direction": direction,
            "status": status,
            "from_": from_,
            "to": to,
        },
        start_at=start_at,
        end_at=end_at,
        shards=shards,
        page_size=page_size,
        resume=resume,
    )
