"""The recordings' and transcriptions' models, their pages and the known values of their fields.

`Recording` (the workspace's Recordings API), `CallRecording` (the recording of an
active call, as the call-scoped endpoints show it) and `Transcription`, with
`RecordingPage`, `CallRecordingPage` and `TranscriptionPage`. They follow the calls'
conventions (`asyncsdk.models._calls`): frozen, snake_case, enumerated fields typed
``str`` with a `StrEnum` of the known values, every field but ``id`` optional.

Two things differ. Bird writes "not set" times as the zero time
``0001-01-01T00:00:00Z``: each model's ``__post_init__`` turns it into ``None``
(`asyncsdk.models._base.zero_times_to_none`), after msgspec parsed it in C. And a
recording's or transcription's ``url`` is a presigned object-store URL whose query is
a credential for ten minutes: their ``repr`` (and rich's) shows it redacted, as every
URL field (a recording's ``room_info_url`` may be signed too); the attribute itself is
the URL as sent.

Imports: the standard library, and this package's `_base` and `_parties` (msgspec through them).
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Final

from ._base import (
    Document,
    Page,
    Timestamp,
    document_decoder,
    page_decoder,
    repr_redacted,
    rich_repr_redacted,
    zero_times_to_none,
)
from ._parties import Party

__all__ = [
    "CALL_RECORDING_DECODER",
    "CALL_RECORDING_PAGE_DECODER",
    "RECORDING_DECODER",
    "RECORDING_PAGE_DECODER",
    "TRANSCRIPTION_DECODER",
    "TRANSCRIPTION_PAGE_DECODER",
    "CallRecording",
    "CallRecordingPage",
    "Recording",
    "RecordingOrigin",
    "RecordingPage",
    "RecordingSource",
    "RecordingStatus",
    "Transcription",
    "TranscriptionPage",
    "TranscriptionStatus",
]


# --- known values of the enumerated fields ---------------------------------------------


class RecordingStatus(StrEnum):
    """Known values of ``Recording.status`` and ``CallRecording.status``; the API may send others.

    Only an ``available`` recording has media to download.
    """

    ACCEPTED = "accepted"
    ONGOING = "ongoing"
    PAUSED = "paused"
    COMPLETED = "completed"
    AVAILABLE = "available"
    ABSENT = "absent"
    FAILED = "failed"


class RecordingOrigin(StrEnum):
    """Known values of ``Recording.origin`` (what started it); the API may send others."""

    CALL_COMMAND_RECORD = "call-command-record"
    CALL_COMMAND_RECORD_CALL = "call-command-record-call"
    CREATE_CALL = "create-call"
    BRIDGE_CALL = "bridge-call"


class RecordingSource(StrEnum):
    """Known values of ``Recording.source`` (what was recorded); the API may send others."""

    CALL = "call"
    CONFERENCE = "conference"


class TranscriptionStatus(StrEnum):
    """Known values of ``Transcription.status``; the API may send others.

    Transcriptions are made asynchronously: ``accepted`` and ``ongoing`` come before
    ``available``.
    """

    ACCEPTED = "accepted"
    ONGOING = "ongoing"
    AVAILABLE = "available"
    ABSENT = "absent"
    FAILED = "failed"


# --- the structs ----------------------------------------------------------------------

_RECORDING_TIMES: Final = ("created_at", "updated_at", "started_at", "ended_at")
_TRANSCRIPTION_TIMES: Final = ("created_at", "updated_at")


class Recording(Document, frozen=True):
    """A recording of a call or a conference, as the Recordings API lists it.

    Times Bird sends as its zero time (``0001-01-01T00:00:00Z``, "not set") read as
    ``None``. ``url`` is a presigned object-store URL that expires (ten minutes in
    Bird's example): use it at once or not at all; ``repr`` shows it, and
    ``room_info_url``, redacted.

    Example:
        ```pycon
        >>> rec = Recording.from_json(
        ...     b'{"id": "3c1e9d2a-7b4f-4e8a-9c6d-2f1a0b9e8d7c", "status": "available",'
        ...     b' "endedAt": "0001-01-01T00:00:00Z"}'
        ... )
        >>> rec.status == RecordingStatus.AVAILABLE, rec.ended_at
        (True, None)
        ```
    """

    id: uuid.UUID
    source_id: uuid.UUID | None = None
    """The call (or conference) recorded."""
    channel_id: uuid.UUID | None = None
    source: str | None = None
    """See `RecordingSource` for the known values."""
    status: str | None = None
    """See `RecordingStatus` for the known values."""
    origin: str | None = None
    """See `RecordingOrigin` for the known values."""
    direction: str | None = None
    """See `CallDirection` for the known values."""
    originator: Party | None = None
    receiver: Party | None = None
    duration: int | None = None
    """Length of the recording in seconds."""
    stereo: bool | None = None
    transcription: bool | None = None
    """Whether the recording is (to be) transcribed."""
    format: str | None = None
    """The media's format (``mp3`` in Bird's example)."""
    conference_id: uuid.UUID | None = None
    url: str | None = None
    """A presigned URL of the media; it expires, and its query is a credential."""
    room_info_url: str | None = None
    """A URL of the call's room; it may carry a signature or token, so ``repr`` redacts it."""
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None
    started_at: Timestamp | None = None
    ended_at: Timestamp | None = None

    def __post_init__(self) -> None:
        zero_times_to_none(self, _RECORDING_TIMES)

    __repr__ = repr_redacted
    __rich_repr__ = rich_repr_redacted


class CallRecording(Document, frozen=True):
    """A recording of an active call, as *List call recordings of a call* shows it.

    For a completed call, use the Recordings API (`Recording`). Zero times read as
    ``None``.
    """

    id: uuid.UUID
    call_id: uuid.UUID | None = None
    channel_id: uuid.UUID | None = None
    status: str | None = None
    """See `RecordingStatus` for the known values."""
    origin: str | None = None
    """See `RecordingOrigin` for the known values."""
    duration: int | None = None
    """Length so far, in seconds."""
    stereo: bool | None = None
    end_cause: str | None = None
    """Why the recording ended, as the API words it (``None`` or empty while it runs)."""
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None
    started_at: Timestamp | None = None
    ended_at: Timestamp | None = None

    def __post_init__(self) -> None:
        zero_times_to_none(self, _RECORDING_TIMES)


class Transcription(Document, frozen=True):
    """A transcription of a recording.

    ``url`` is presigned and expires like `Recording.url`; ``repr`` shows it redacted.
    Zero times read as ``None``.
    """

    id: uuid.UUID
    recording_id: uuid.UUID | None = None
    status: str | None = None
    """See `TranscriptionStatus` for the known values."""
    stereo: bool | None = None
    locale: str | None = None
    """The transcript's language (``en-GB``)."""
    url: str | None = None
    """A presigned URL of the transcript; it expires, and its query is a credential."""
    summary: str | None = None
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None

    def __post_init__(self) -> None:
        zero_times_to_none(self, _TRANSCRIPTION_TIMES)

    __repr__ = repr_redacted
    __rich_repr__ = rich_repr_redacted


class RecordingPage(Page, frozen=True):
    """One page of *List recordings*: its recordings, newest first, and the next token."""

    results: list[Recording]
    """The recordings of this page (possibly fewer than asked for, even before the end)."""
    next_page_token: str | None = None
    """Opaque cursor to pass back as ``page_token``; ``None`` at the end."""


class CallRecordingPage(Page, frozen=True):
    """One page of *List call recordings of a call*."""

    results: list[CallRecording]
    """The call's recordings on this page."""
    next_page_token: str | None = None
    """Opaque cursor to pass back as ``page_token``; ``None`` at the end."""


class TranscriptionPage(Page, frozen=True):
    """One page of *List transcriptions*."""

    results: list[Transcription]
    """The transcriptions of this page."""
    next_page_token: str | None = None
    """Opaque cursor to pass back as ``page_token``; ``None`` at the end."""


#: One decoder per type, built once.
RECORDING_DECODER = document_decoder(Recording)
CALL_RECORDING_DECODER = document_decoder(CallRecording)
TRANSCRIPTION_DECODER = document_decoder(Transcription)
RECORDING_PAGE_DECODER = page_decoder(RecordingPage)
CALL_RECORDING_PAGE_DECODER = page_decoder(CallRecordingPage)
TRANSCRIPTION_PAGE_DECODER = page_decoder(TranscriptionPage)
