"""Telemetry of the recordings, transcriptions and media: spans, templates, metrics, secrets.

Over loopback against the embedded server and its object store: the metadata GETs get
their INTERNAL span from the engine (named from the URL template), a media operation
gets one of its own, parent of Bird's 307 (a CLIENT span through the engine) and of
each request to the object store (a CLIENT span of its own, its URL redacted).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from asyncsdk import Client, NotFoundError
from asyncsdk._media import CHUNK_SIZE
from asyncsdk.server import Dataset, EmbeddedServer, RecordingsConfig, ServerConfig
from asyncsdk.telemetry._media import store_attributes
from asyncsdk.telemetry._semconv import operation_of, url_template

from ._otel import Recorded, exported_text, recorded
from ._support import ACCESS_KEY
from .test_media_download import _ids

SIZE = 2 * CHUNK_SIZE + 777
RECORDING = "/workspaces/{workspaceId}/recordings/{recordingId}"
MEDIA = RECORDING + ".mp3"


@pytest.fixture
async def media_server() -> AsyncIterator[EmbeddedServer]:
    config = ServerConfig(access_keys=(ACCESS_KEY,), recordings=RecordingsConfig(size=SIZE))
    async with EmbeddedServer(config, dataset=Dataset()) as srv:
        yield srv


@pytest.fixture
async def traced(media_server: EmbeddedServer) -> AsyncIterator[tuple[Client, Recorded]]:
    rec = recorded()
    async with Client(
        access_key=ACCESS_KEY, base_url=media_server.base_url, telemetry=rec.telemetry
    ) as client:
        yield client, rec


def _kids(rec: Recorded, parent: ReadableSpan) -> list[ReadableSpan]:
    """The requests under ``parent``: its children but the limiter's waits (if any)."""
    return [s for s in rec.children(parent) if s.name != "asyncsdk.wait"]


def _one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, [s.name for s in spans]
    return found[0]


def _sum(rec: Recorded, metric: str) -> dict[str, int]:
    found = rec.metrics().get(metric)
    if found is None:
        return {}
    return {
        str((p.attributes or {}).get("asyncsdk.operation")): p.value for p in found.data.data_points
    }


async def test_metadata_gets_and_pages_are_operations_named_from_their_templates(
    media_server: EmbeddedServer, traced: tuple[Client, Recorded]
) -> None:
    client, rec = traced
    ws, rid, _ = _ids(media_server)
    await client.get_recording(ws, rid)
    await client.list_recordings(ws, page_size=5).pages().__anext__()
    tid = str(media_server.recordings.transcription_id(0))
    await client.get_transcription(ws, tid)
    await client.list_transcriptions(ws, page_size=5).pages().__anext__()
    spans = rec.spans()
    # (a pager prefetches the next page: how many pages were asked for is not fixed)
    internal = {s.name for s in spans if s.kind is SpanKind.INTERNAL} - {"asyncsdk.wait"}
    assert internal == {
        "get_recording",
        "list_recordings.page",
        "get_transcription",
        "list_transcriptions.page",
    }
    get = _one(spans, "get_recording")
    assert get.attributes is not None
    assert get.attributes["bird.recording.id"] == rid
    assert get.attributes["bird.workspace.id"] == ws
    client_spans = {s.name for s in spans if s.kind is SpanKind.CLIENT}
    assert client_spans == {
        f"GET {RECORDING}",
        "GET /workspaces/{workspaceId}/recordings",
        "GET /workspaces/{workspaceId}/transcriptions/{transcriptionId}",
        "GET /workspaces/{workspaceId}/transcriptions",
    }
    assert not any(rid in s.name or ws in s.name for s in spans)
    assert set(_sum(rec, "asyncsdk.items")) == {"list_recordings.page", "list_transcriptions.page"}


async def test_download_is_one_operation_over_bird_307_and_the_object_store(
    media_server: EmbeddedServer, traced: tuple[Client, Recorded], tmp_path: Path
) -> None:
    client, rec = traced
    ws, rid, key = _ids(media_server)
    media_server.objects.fail_next(key, "reset", after=CHUNK_SIZE + 1000)
    result = await client.download_recording(ws, rid, tmp_path)
    assert result.resumes == 1

    spans = rec.spans()
    root = _one(spans, "download_recording")
    assert root.parent is None and root.kind is SpanKind.INTERNAL
    assert root.attributes is not None
    assert root.attributes["bird.recording.id"] == rid
    kids = _kids(rec, root)
    assert [(s.name, s.kind) for s in kids] == [
        (f"GET {MEDIA}", SpanKind.CLIENT),  # Bird's 307, through the engine
        ("GET", SpanKind.CLIENT),  # the object store, cut
        (f"GET {MEDIA}", SpanKind.CLIENT),  # a fresh URL
        ("GET", SpanKind.CLIENT),  # the object store, resumed
    ]
    bird, cut, _, resumed = (dict(s.attributes or {}) for s in kids)
    assert bird["http.response.status_code"] == 307
    assert bird["url.template"] == MEDIA
    store_host = media_server.objects.base_url.split("//")[1].split(":")[0]
    assert cut["server.address"] == resumed["server.address"] == store_host
    assert cut["server.port"] != bird["server.port"]  # the store's own port
    assert "http.request.resend_count" not in cut
    assert resumed["http.request.resend_count"] == 1
    assert cut["http.response.status_code"] == 200
    assert cut["error.type"] == "aiohttp.client_exceptions.ClientPayloadError"
    assert kids[1].status.status_code is StatusCode.ERROR
    assert resumed["http.response.status_code"] == 206
    assert "error.type" not in resumed
    assert "X-Amz-Signature=REDACTED" in resumed["url.full"]
    # metrics, without IDs
    received = _sum(rec, "asyncsdk.media.bytes")["download_recording"]
    assert SIZE <= received <= SIZE + CHUNK_SIZE
    assert _sum(rec, "asyncsdk.media.resumes") == {"download_recording": 1}
    for metric in ("asyncsdk.media.bytes", "asyncsdk.media.resumes"):
        for point in rec.metrics()[metric].data.data_points:
            assert rid not in str(point.attributes) and ws not in str(point.attributes)


async def test_open_recording_span_ends_with_the_stream_and_parents_its_requests(
    media_server: EmbeddedServer, traced: tuple[Client, Recorded]
) -> None:
    client, rec = traced
    ws, rid, _ = _ids(media_server)
    async with client.open_recording(ws, rid) as stream:
        assert not rec.spans()  # nothing sent before it is iterated
        total = 0
        async for chunk in stream:
            total += len(chunk)
            assert all(s.name != "open_recording" for s in rec.spans())
    assert total == SIZE
    root = _one(rec.spans(), "open_recording")
    assert root.status.status_code is StatusCode.UNSET
    assert [s.name for s in _kids(rec, root)] == [f"GET {MEDIA}", "GET"]
    assert _sum(rec, "asyncsdk.media.bytes") == {"open_recording": SIZE}


async def test_a_stream_never_iterated_ends_its_span_when_closed(
    media_server: EmbeddedServer, traced: tuple[Client, Recorded]
) -> None:
    client, rec = traced
    ws, rid, _ = _ids(media_server)
    async with client.open_recording(ws, rid):
        pass
    root = _one(rec.spans(), "open_recording")
    assert _kids(rec, root) == []


async def test_get_transcript_span_and_a_failed_media_operation(
    media_server: EmbeddedServer, traced: tuple[Client, Recorded]
) -> None:
    client, rec = traced
    ws = str(media_server.dataset.workspace_id)
    tid = str(media_server.recordings.transcription_id(0))
    await client.get_transcript(ws, tid, "vtt")
    root = _one(rec.spans(), "get_transcript")
    assert root.attributes is not None
    assert root.attributes["bird.transcription.id"] == tid
    assert [s.name for s in _kids(rec, root)] == [
        "GET /workspaces/{workspaceId}/transcriptions/{transcriptionId}.vtt",
        "GET",
    ]
    rec.exporter.clear()
    missing = "00000000-0000-4000-8000-00000000dead"
    with pytest.raises(NotFoundError):
        await client.get_transcript(ws, missing, "txt")
    failed = _one(rec.spans(), "get_transcript")
    assert failed.status.status_code is StatusCode.ERROR
    assert (failed.attributes or {})["error.type"] == "asyncsdk.errors.NotFoundError"


async def test_presigned_signature_never_in_any_attribute(
    media_server: EmbeddedServer, traced: tuple[Client, Recorded], tmp_path: Path
) -> None:
    client, rec = traced
    ws, rid, key = _ids(media_server)
    recording = await client.get_recording(ws, rid)
    media_server.objects.fail_next(key, "expired")  # a 403 with S3's error body
    assert recording.url is not None and "X-Amz-Signature=" in recording.url
    await client.download_recording(ws, rid, tmp_path)
    text = "\n".join(exported_text(rec))
    query = recording.url.partition("?")[2]
    for name, value in (pair.partition("=")[::2] for pair in query.split("&")):
        if name in ("X-Amz-Signature", "X-Amz-Credential"):
            assert value not in text
    store = [s for s in rec.spans() if s.name == "GET"]
    assert len(store) == 2
    assert (store[0].attributes or {})["http.response.status_code"] == 403
    assert (store[0].attributes or {})["error.type"] == "403"
    for span in store:
        full = str((span.attributes or {})["url.full"])
        assert "X-Amz-Signature=REDACTED" in full and "X-Amz-Credential=REDACTED" in full


def test_store_attributes_redact_and_count_resends() -> None:
    url = (
        "https://bucket.s3.example.com:8443/media/a.mp3?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAEXAMPLE%2F20260101&X-Amz-Signature=deadbeef&X-Amz-Expires=60"
    )
    attrs = store_attributes(url, 0)
    assert attrs["server.address"] == "bucket.s3.example.com"
    assert attrs["server.port"] == 8443
    assert "http.request.resend_count" not in attrs
    assert "deadbeef" not in attrs["url.full"] and "AKIAEXAMPLE" not in attrs["url.full"]
    assert "X-Amz-Expires=60" in attrs["url.full"]
    assert store_attributes("http://127.0.0.1/x", 3)["http.request.resend_count"] == 3
    assert store_attributes("http://127.0.0.1/x", 3)["server.port"] == 80


def test_every_recordings_endpoint_is_an_operation_and_the_media_are_not() -> None:
    ws, call, rec = (f"{n}6582261-7583-41f6-87c5-3d92a1403d43" for n in (1, 2, 3))
    call_path = f"/workspaces/{ws}/channels/{ws}/calls/{call}"
    expected = {
        f"/workspaces/{ws}/recordings/{rec}": ("get_recording", "bird.recording.id"),
        f"/workspaces/{ws}/recordings": ("list_recordings.page", None),
        f"{call_path}/recordings/{rec}": ("get_call_recording", "bird.recording.id"),
        f"{call_path}/recordings": ("list_call_recordings.page", "bird.call.id"),
        f"/workspaces/{ws}/transcriptions/{rec}": ("get_transcription", "bird.transcription.id"),
        f"/workspaces/{ws}/transcriptions": ("list_transcriptions.page", None),
    }
    for path, (name, key) in expected.items():
        found = operation_of(path, url_template(path))
        assert found is not None and found[0] == name, path
        assert found[1]["bird.workspace.id"] == ws
        if key is not None:
            assert found[1][key] in (rec, call)
    for media in (
        f"/workspaces/{ws}/recordings/{rec}.mp3",
        f"/workspaces/{ws}/transcriptions/{rec}.srt",
    ):
        assert operation_of(media, url_template(media)) is None  # a step of a media operation


async def test_a_stream_stopped_early_is_not_a_failure(
    media_server: EmbeddedServer, traced: tuple[Client, Recorded]
) -> None:
    client, rec = traced
    ws, rid, _ = _ids(media_server)
    async with client.open_recording(ws, rid) as stream:
        async for _chunk in stream:
            break
    root = _one(rec.spans(), "open_recording")
    assert root.status.status_code is StatusCode.UNSET
    store = _one(rec.spans(), "GET")
    assert store.status.status_code is StatusCode.UNSET
