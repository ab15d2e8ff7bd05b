"""The recordings' and transcriptions' models decode every fixture as its README says."""

from __future__ import annotations

import datetime as dt
import gc
import uuid

import msgspec
import pytest

from asyncsdk import (
    CallDirection,
    CallRecording,
    CallRecordingPage,
    Recording,
    RecordingOrigin,
    RecordingPage,
    RecordingSource,
    RecordingStatus,
    Transcription,
    TranscriptionPage,
    TranscriptionStatus,
)
from asyncsdk.models import ZERO_TIME, redact_url

from ._support import fixture_bytes

RECORDING_FIXTURES = [
    "recording_realistic.json",
    "recording_minimal.json",
    "recording_nulls.json",
    "recording_future_values.json",
]
PAGES: list[tuple[str, type[RecordingPage | CallRecordingPage | TranscriptionPage], int, bool]] = [
    ("recordings_page.json", RecordingPage, 3, True),
    ("recordings_page_last.json", RecordingPage, -1, False),
    ("recordings_page_empty.json", RecordingPage, 0, False),
    ("call_recordings_page.json", CallRecordingPage, 1, False),
    ("transcriptions_page.json", TranscriptionPage, 2, True),
]
SIGNATURE = "X-Amz-Signature"


@pytest.mark.parametrize("name", RECORDING_FIXTURES)
def test_recording_fixture_round_trips(name: str) -> None:
    """decode -> encode -> decode gives an equal recording; the JSON stays camelCase."""
    recording = Recording.from_json(fixture_bytes(name))
    encoded = recording.to_json()
    assert Recording.from_json(encoded) == recording
    assert all("_" not in key for key in msgspec.json.decode(encoded))


def test_realistic_recording_has_typed_values() -> None:
    rec = Recording.from_json(fixture_bytes("recording_realistic.json"))
    assert rec.id == uuid.UUID("3c1e9d2a-7b4f-4e8a-9c6d-2f1a0b9e8d7c")
    assert isinstance(rec.source_id, uuid.UUID) and isinstance(rec.channel_id, uuid.UUID)
    assert rec.source == RecordingSource.CALL
    assert rec.status == RecordingStatus.AVAILABLE
    assert rec.origin == RecordingOrigin.CALL_COMMAND_RECORD
    assert rec.direction == CallDirection.OUTGOING
    assert rec.duration == 180 and rec.stereo is False and rec.transcription is True
    assert rec.format == "mp3"
    assert rec.originator is not None and rec.originator.number is not None
    assert rec.originator.number.caller_id_name == "Front Desk"
    assert rec.created_at == dt.datetime(2026, 10, 2, 9, 14, 12, 400000, tzinfo=dt.UTC)
    assert rec.url is not None and SIGNATURE in rec.url  # the attribute is the URL as sent


def test_zero_time_reads_as_none() -> None:
    """``0001-01-01T00:00:00Z`` is Bird's "not set": it decodes as None, in every model."""
    assert Recording.from_json(fixture_bytes("recording_realistic.json")).ended_at is None
    nulls = Recording.from_json(fixture_bytes("recording_nulls.json"))
    assert nulls.started_at is None and nulls.ended_at is None
    assert CallRecording.from_json(fixture_bytes("call_recording.json")).ended_at is None
    pending = Transcription.from_json(fixture_bytes("transcription_pending.json"))
    assert pending.updated_at is None and pending.created_at is not None


def test_zero_time_with_an_offset_and_real_year_one_times() -> None:
    """Only the zero instant is "not set"; another time of year 1 is kept."""
    rid = "3c1e9d2a-7b4f-4e8a-9c6d-2f1a0b9e8d7c"
    zero = Recording.from_json(f'{{"id":"{rid}","endedAt":"0001-01-01T00:00:00+00:00"}}')
    assert zero.ended_at is None
    later = Recording.from_json(f'{{"id":"{rid}","endedAt":"0001-01-01T00:00:01Z"}}')
    assert later.ended_at == ZERO_TIME + dt.timedelta(seconds=1)


def test_future_values_decode_as_sent() -> None:
    """Values the API may add later are plain strings; unknown fields are ignored."""
    rec = Recording.from_json(fixture_bytes("recording_future_values.json"))
    assert (rec.source, rec.status, rec.origin, rec.direction, rec.format) == (
        "meeting",
        "archived",
        "ai-agent-record",
        "internal",
        "opus",
    )
    assert not hasattr(rec, "retention_days")
    assert rec.created_at == dt.datetime(2026, 10, 2, 10, tzinfo=dt.UTC)
    pending = Transcription.from_json(fixture_bytes("transcription_pending.json"))
    assert pending.status == "queued" and pending.status not in set(TranscriptionStatus)


def test_minimal_recording_leaves_optional_fields_none() -> None:
    rec = Recording.from_json(fixture_bytes("recording_minimal.json"))
    assert rec.channel_id is None and rec.url is None and rec.direction is None
    assert rec.status == RecordingStatus.ACCEPTED and rec.origin == RecordingOrigin.CREATE_CALL


def test_call_recording_and_transcription() -> None:
    call_rec = CallRecording.from_json(fixture_bytes("call_recording.json"))
    assert call_rec.call_id == uuid.UUID("5f0c7a9e-3b1d-4c8e-9a52-1d7e0b6f2a41")
    assert call_rec.status == RecordingStatus.ONGOING and call_rec.end_cause is None
    assert CallRecording.from_json(call_rec.to_json()) == call_rec
    tr = Transcription.from_json(fixture_bytes("transcription_realistic.json"))
    assert tr.status == TranscriptionStatus.AVAILABLE
    assert tr.locale == "en-GB" and tr.summary == "The caller asked about an order."
    assert tr.recording_id == uuid.UUID("3c1e9d2a-7b4f-4e8a-9c6d-2f1a0b9e8d7c")
    assert Transcription.from_json(tr.to_json()) == tr


@pytest.mark.parametrize(("name", "cls", "count", "more"), PAGES)
def test_pages(name: str, cls: type[RecordingPage], count: int, more: bool) -> None:
    """Each page decodes; no token and an empty token both read as the end."""
    page = cls.from_json(fixture_bytes(name))
    if count >= 0:
        assert len(page.results) == count
    assert (page.next_page_token is not None) is more


def test_page_decoding_restores_the_collector() -> None:
    assert gc.isenabled()
    RecordingPage.from_json(fixture_bytes("recordings_page.json"))
    assert gc.isenabled()
    with pytest.raises(msgspec.ValidationError):
        RecordingPage.from_json(b'{"results": [{"id": "nope"}]}')
    assert gc.isenabled()


def test_wrong_type_names_the_path() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"\$\.results\[0\]\.duration"):
        RecordingPage.from_json(
            b'{"results": [{"id": "%s", "duration": "long"}]}'
            % b"3c1e9d2a-7b4f-4e8a-9c6d-2f1a0b9e8d7c"
        )


@pytest.mark.parametrize("name", ["recording_realistic.json", "transcription_realistic.json"])
def test_repr_redacts_the_presigned_url(name: str) -> None:
    """A logged model names the object, never the signature that opens it."""
    cls = Recording if name.startswith("recording") else Transcription
    model = cls.from_json(fixture_bytes(name))
    for text in (repr(model), str(model), repr([model])):
        assert SIGNATURE not in text and "X-Amz-Credential" not in text
        assert "amazonaws.com/" in text and "[redacted]" in text
    rich = dict(model.__rich_repr__())
    assert SIGNATURE not in str(rich["url"])
    page_name = "recordings_page.json" if cls is Recording else "transcriptions_page.json"
    page = (RecordingPage if cls is Recording else TranscriptionPage).from_json(
        fixture_bytes(page_name)
    )
    assert SIGNATURE not in repr(page)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://s3.example/a.mp3?X-Amz-Signature=1", "https://s3.example/a.mp3?[redacted]"),
        ("https://s3.example/a.mp3", "https://s3.example/a.mp3"),
        ("http://user:pw@127.0.0.1:9000/a?b=c#d", "http://127.0.0.1:9000/a?[redacted]"),
        ("http://[::1", "[redacted]"),
        ("", ""),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected
