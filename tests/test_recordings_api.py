"""The recordings and transcriptions endpoints through the real client and the embedded server."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from asyncsdk import (
    APIError,
    CallRecording,
    Client,
    ConfigurationError,
    InvalidIDError,
    NotFoundError,
    Recording,
    RecordingPage,
    RecordingStatus,
    Transcription,
    TranscriptionPage,
)
from asyncsdk.server import Dataset, EmbeddedServer, RecordingsConfig, ServerConfig

from ._support import ACCESS_KEY

SIGNATURE = "X-Amz-Signature"


def config(**recordings: Any) -> ServerConfig:
    return ServerConfig(access_keys=(ACCESS_KEY,), recordings=RecordingsConfig(**recordings))


@pytest.fixture
async def env(request: pytest.FixtureRequest) -> AsyncIterator[tuple[EmbeddedServer, Client]]:
    recordings = getattr(request, "param", {})
    dataset = Dataset(size=120, seed=7)
    async with (
        EmbeddedServer(
            config(unavailable_every=5, transcribed_every=3, **recordings), dataset=dataset
        ) as server,
        Client(access_key=ACCESS_KEY, base_url=server.base_url, max_retries=0) as client,
    ):
        yield server, client


def listed(server: EmbeddedServer) -> list[uuid.UUID]:
    """The recordings the workspace lists, newest first: those of calls not ongoing."""
    recs = server.recordings
    return [
        recs.recording_id(i) for i in reversed(range(server.dataset.size)) if not recs.active(i)
    ]


def active_call(server: EmbeddedServer) -> int:
    return next(i for i in range(server.dataset.size) if server.recordings.active(i))


async def test_list_recordings_pages_every_recording_once(
    env: tuple[EmbeddedServer, Client],
) -> None:
    server, client = env
    ws = server.dataset.workspace_id
    pages = [page async for page in client.list_recordings(ws, page_size=7).pages()]
    assert all(isinstance(p, RecordingPage) and len(p.results) <= 7 for p in pages)
    assert pages[-1].next_page_token is None and len(pages) > 2
    ids = [r.id for p in pages for r in p.results]
    assert ids == listed(server)
    assert [r.id async for r in client.list_recordings(ws, page_size=99)] == ids


async def test_list_recordings_resumes_from_a_page_token(
    env: tuple[EmbeddedServer, Client],
) -> None:
    server, client = env
    ws = server.dataset.workspace_id
    first = await anext(client.list_recordings(ws, page_size=10).pages())
    assert first.next_page_token is not None
    rest = [
        r.id
        async for r in client.list_recordings(ws, page_size=10, page_token=first.next_page_token)
    ]
    assert [r.id for r in first.results] + rest == listed(server)


async def test_list_recordings_filters(env: tuple[EmbeddedServer, Client]) -> None:
    server, client = env
    ws, recs = server.dataset.workspace_id, server.recordings
    available = [r async for r in client.list_recordings(ws, status=RecordingStatus.AVAILABLE)]
    assert available and all(r.status == "available" for r in available)
    assert len(available) < len(listed(server))
    index = next(i for i in range(server.dataset.size) if not recs.active(i))
    call_id = server.dataset.call_ids[index]
    by_source = [r async for r in client.list_recordings(ws, source_id=call_id)]
    assert [r.id for r in by_source] == [recs.recording_id(index)]
    assert by_source[0].source_id == call_id
    by_channel = [
        r.id async for r in client.list_recordings(ws, channel_id=server.dataset.channel_id)
    ]
    assert by_channel == listed(server)
    other = [r async for r in client.list_recordings(ws, channel_id=uuid.uuid4())]
    assert other == []
    newest = by_source[0].created_at
    assert newest is not None
    window = [
        r
        async for r in client.list_recordings(
            ws, start_at=newest - dt.timedelta(hours=1), end_at=newest + dt.timedelta(seconds=1)
        )
    ]
    assert by_source[0].id in {r.id for r in window}
    assert all(
        r.created_at is not None and r.created_at <= newest + dt.timedelta(seconds=1)
        for r in window
    )


async def test_get_recording_matches_the_listing(env: tuple[EmbeddedServer, Client]) -> None:
    server, client = env
    ws = server.dataset.workspace_id
    listed_one = await anext(aiter(client.list_recordings(ws, status="available")))
    got = await client.get_recording(ws, str(listed_one.id))
    assert isinstance(got, Recording)
    assert (got.id, got.status, got.created_at, got.source_id) == (
        listed_one.id,
        listed_one.status,
        listed_one.created_at,
        listed_one.source_id,
    )
    assert got.url is not None and SIGNATURE not in repr(got)
    with pytest.raises(NotFoundError):
        await client.get_recording(ws, uuid.uuid4())


async def test_call_recordings_of_an_active_call(env: tuple[EmbeddedServer, Client]) -> None:
    server, client = env
    ds, recs = server.dataset, server.recordings
    index = active_call(server)
    args = (ds.workspace_id, ds.channel_id, ds.call_ids[index])
    found = [r async for r in client.list_call_recordings(*args, page_size=1000)]
    assert [r.id for r in found] == [recs.recording_id(index)]
    assert isinstance(found[0], CallRecording) and found[0].call_id == ds.call_ids[index]
    one = await client.get_call_recording(*args, found[0].id)
    assert one.id == found[0].id and one.status == "ongoing"
    ended = next(i for i in range(ds.size) if not recs.active(i))
    assert [
        r
        async for r in client.list_call_recordings(
            ds.workspace_id, ds.channel_id, ds.call_ids[ended]
        )
    ] == []


@pytest.mark.parametrize("env", [{"ended_call_recordings": "not_found"}], indirect=True)
async def test_call_recordings_of_an_ended_call_may_be_404(
    env: tuple[EmbeddedServer, Client],
) -> None:
    """Where the reference is silent (empty page or 404), the 404 is a typed error."""
    server, client = env
    ds, recs = server.dataset, server.recordings
    ended = next(i for i in range(ds.size) if not recs.active(i))
    with pytest.raises(NotFoundError):
        [
            r
            async for r in client.list_call_recordings(
                ds.workspace_id, ds.channel_id, ds.call_ids[ended]
            )
        ]


async def test_transcriptions_list_and_get(env: tuple[EmbeddedServer, Client]) -> None:
    server, client = env
    ws, recs = server.dataset.workspace_id, server.recordings
    pages = [p async for p in client.list_transcriptions(ws, page_size=5).pages()]
    assert all(isinstance(p, TranscriptionPage) for p in pages)
    found = [t for p in pages for t in p.results]
    assert found and len({t.id for t in found}) == len(found)
    expected = {recs.transcription_id(i) for i in range(server.dataset.size) if recs.transcribed(i)}
    assert {t.id for t in found} <= expected
    first = found[0]
    got = await client.get_transcription(ws, first.id)
    assert isinstance(got, Transcription)
    assert (got.id, got.recording_id, got.status) == (first.id, first.recording_id, first.status)
    assert SIGNATURE not in repr(got)
    with pytest.raises(NotFoundError):
        await client.get_transcription(ws, uuid.uuid4())


@pytest.mark.parametrize("env", [{"metadata_redirect": "always"}], indirect=True)
async def test_a_redirected_metadata_get_is_a_typed_error_not_followed(
    env: tuple[EmbeddedServer, Client],
) -> None:
    """A metadata GET answered 307 is not followed, and the presigned URL is not shown."""
    server, client = env
    ws, recs = server.dataset.workspace_id, server.recordings
    index = next(i for i in range(server.dataset.size) if recs.available(i) and recs.transcribed(i))
    store_before = server.objects.stats.requests
    for fetch in (
        client.get_recording(ws, recs.recording_id(index)),
        client.get_transcription(ws, recs.transcription_id(index)),
    ):
        with pytest.raises(APIError) as info:
            await fetch
        err = info.value
        assert err.status == 307 and "redirect" in str(err) and "not followed" in str(err)
        for text in (str(err), repr(err), err.message):
            assert SIGNATURE not in text and "X-Amz-Credential" not in text
    assert server.objects.stats.requests == store_before  # the object store saw nothing


BAD_LISTS: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    ("recordings", {"page_size": 0}, ConfigurationError, "page_size must be an int from 1 to 99"),
    ("recordings", {"page_size": 100}, ConfigurationError, "from 1 to 99"),
    ("recordings", {"page_size": True}, ConfigurationError, "page_size"),
    ("recordings", {"page_size": 1000}, ConfigurationError, "from 1 to 99"),
    ("recordings", {"source_id": "nope"}, InvalidIDError, "source_id"),
    ("recordings", {"channel_id": "nope"}, InvalidIDError, "channel_id must"),
    ("recordings", {"call_id": 42}, InvalidIDError, "call_id"),
    ("recordings", {"status": ""}, ConfigurationError, "status"),
    ("recordings", {"direction": []}, ConfigurationError, "direction is empty"),
    ("recordings", {"start_at": dt.datetime(2026, 1, 1)}, ConfigurationError, "timezone-aware"),
    (
        "recordings",
        {
            "start_at": dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
            "end_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        },
        ConfigurationError,
        "before end_at",
    ),
    ("recordings", {"from_": "x" * 101}, ConfigurationError, "from_"),
    ("recordings", {"page_token": ""}, ConfigurationError, "page_token is empty"),
    ("transcriptions", {"page_size": 100}, ConfigurationError, "from 1 to 99"),
    ("transcriptions", {"page_size": 0}, ConfigurationError, "from 1 to 99"),
    ("transcriptions", {"page_token": 5}, ConfigurationError, "page_token"),
    ("call_recordings", {"page_size": 1001}, ConfigurationError, "from 1 to 1000"),
]


@pytest.mark.parametrize(("endpoint", "kwargs", "error", "match"), BAD_LISTS)
async def test_bad_input_is_refused_before_any_request(
    env: tuple[EmbeddedServer, Client],
    endpoint: str,
    kwargs: dict[str, Any],
    error: type[Exception],
    match: str,
) -> None:
    server, client = env
    ds = server.dataset
    before = server.stats.requests
    make = {
        "recordings": lambda: client.list_recordings(ds.workspace_id, **kwargs),
        "transcriptions": lambda: client.list_transcriptions(ds.workspace_id, **kwargs),
        "call_recordings": lambda: client.list_call_recordings(
            ds.workspace_id, ds.channel_id, ds.call_ids[0], **kwargs
        ),
    }[endpoint]
    with pytest.raises(error, match=match):
        make()
    assert server.stats.requests == before


async def test_bad_ids_are_refused_before_any_request(env: tuple[EmbeddedServer, Client]) -> None:
    server, client = env
    ds = server.dataset
    before = server.stats.requests
    with pytest.raises(InvalidIDError, match="workspace_id"):
        client.list_recordings("not-a-uuid")
    with pytest.raises(InvalidIDError, match="workspace_id"):
        client.list_transcriptions("../x")
    with pytest.raises(InvalidIDError, match="recording_id"):
        await client.get_recording(ds.workspace_id, "x/../../calls")
    with pytest.raises(InvalidIDError, match="transcription_id"):
        await client.get_transcription(ds.workspace_id, "abc.mp3")
    with pytest.raises(InvalidIDError, match="call_id"):
        await client.get_call_recording(ds.workspace_id, ds.channel_id, None, uuid.uuid4())
    with pytest.raises(InvalidIDError, match="channel_id"):
        client.list_call_recordings(ds.workspace_id, "", ds.call_ids[0])
    assert server.stats.requests == before
