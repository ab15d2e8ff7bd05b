"""Recordings and transcripts over loopback: the embedded server's 307 and its object store."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal

import pytest

import asyncsdk
from asyncsdk import (
    Client,
    ConfigurationError,
    DestinationError,
    InvalidIDError,
    MediaChangedError,
    MediaError,
    NotFoundError,
)
from asyncsdk._media import CHUNK_SIZE
from asyncsdk.server import Dataset, EmbeddedServer, RecordingsConfig, ServerConfig

from ._support import ACCESS_KEY, wait_until

SIZE = 3 * CHUNK_SIZE + 12_345
#: Request headers the object store may see: none of them Bird's.
STORE_HEADERS = {"host", "accept", "accept-encoding", "user-agent", "range", "if-range"}


@pytest.fixture
async def media_server() -> AsyncIterator[EmbeddedServer]:
    config = ServerConfig(
        access_keys=(ACCESS_KEY,),
        recordings=RecordingsConfig(size=SIZE, unavailable_every=5),
    )
    async with EmbeddedServer(config, dataset=Dataset()) as srv:
        yield srv


@pytest.fixture
async def media_client(media_server: EmbeddedServer) -> AsyncIterator[Client]:
    async with Client(access_key=ACCESS_KEY, base_url=media_server.base_url) as c:
        yield c


def _ids(server: EmbeddedServer, index: int = 0) -> tuple[str, str, str]:
    recordings = server.recordings
    return (
        str(server.dataset.workspace_id),
        str(recordings.recording_id(index)),
        recordings.media_key(index),
    )


def _store_saw_no_credential(server: EmbeddedServer) -> None:
    store = server.objects
    assert store.stats.authorization_refused == 0
    assert store.requests, "the object store was not asked"
    for request in store.requests:
        assert {name.lower() for name in request.headers} <= STORE_HEADERS, request.headers
        assert ACCESS_KEY not in repr(request.headers)
        assert "asyncsdk" not in request.headers.get("User-Agent", "")


async def test_download_writes_the_whole_file_and_nothing_else(
    media_server: EmbeddedServer, media_client: Client, tmp_path: Path
) -> None:
    ws, rid, key = _ids(media_server)
    seen: list[tuple[int, int | None]] = []
    result = await media_client.download_recording(
        ws, rid, tmp_path, progress=lambda held, size: seen.append((held, size))
    )
    assert result.path == tmp_path / f"{rid}.mp3"
    assert result.size == SIZE == result.path.stat().st_size
    assert result.sha256 == media_server.objects.sha256(key)
    assert result.sha256 == hashlib.sha256(result.path.read_bytes()).hexdigest()
    assert result.etag == media_server.objects.get(key).etag  # type: ignore[union-attr]
    assert result.content_type == "audio/mpeg"
    assert not result.resumed and result.resumes == 0
    assert sorted(os.listdir(tmp_path)) == [f"{rid}.mp3"]
    assert seen[-1] == (SIZE, SIZE)
    assert [held for held, _ in seen] == sorted(held for held, _ in seen)
    _store_saw_no_credential(media_server)
    # The request to Bird went through the engine: paced, counted.
    assert media_client.stats.calls == 1 and media_client.stats.succeeded == 1


async def test_download_to_a_file_name(
    media_server: EmbeddedServer, media_client: Client, tmp_path: Path
) -> None:
    ws, rid, key = _ids(media_server)
    result = await media_client.download_recording(ws, rid, tmp_path / "a.mp3")
    assert result.path == tmp_path / "a.mp3"
    assert result.sha256 == media_server.objects.sha256(key)


async def test_an_expired_url_is_asked_again(
    media_server: EmbeddedServer, media_client: Client, tmp_path: Path
) -> None:
    ws, rid, key = _ids(media_server)
    media_server.objects.fail_next(key, "expired")
    result = await media_client.download_recording(ws, rid, tmp_path)
    assert result.sha256 == media_server.objects.sha256(key)
    assert result.resumes == 1
    assert not result.resumed  # nothing was held yet: no Range was needed
    assert media_server.objects.stats.expired_refused == 1
    assert media_client.stats.calls == 2  # a fresh URL from Bird


async def test_a_broken_body_resumes_with_range_and_if_range(
    media_server: EmbeddedServer, media_client: Client, tmp_path: Path
) -> None:
    ws, rid, key = _ids(media_server)
    media_server.objects.fail_next(key, "reset", after=CHUNK_SIZE + 1000)
    result = await media_client.download_recording(ws, rid, tmp_path)
    assert result.sha256 == media_server.objects.sha256(key)
    assert result.resumed and result.resumes == 1
    stats = media_server.objects.stats
    assert stats.partial_bodies == 1
    assert stats.bytes_sent - SIZE <= CHUNK_SIZE  # at most one chunk read twice
    ranged = [r for r in media_server.objects.requests if "Range" in r.headers]
    assert len(ranged) == 1
    assert ranged[0].headers["If-Range"] == result.etag
    _store_saw_no_credential(media_server)


async def test_an_object_replaced_mid_download_starts_again(
    media_server: EmbeddedServer, media_client: Client, tmp_path: Path
) -> None:
    ws, rid, key = _ids(media_server)
    first = media_server.objects.get(key)
    media_server.objects.fail_next(key, "replace", after=CHUNK_SIZE + 10)
    result = await media_client.download_recording(ws, rid, tmp_path)
    now = media_server.objects.get(key)
    assert first is not None and now is not None and now.etag != first.etag
    assert result.etag == now.etag
    assert result.sha256 == media_server.objects.sha256(key)  # the new version, whole
    assert result.restarts == 1


async def test_without_resume_a_break_starts_from_byte_zero(
    media_server: EmbeddedServer, media_client: Client, tmp_path: Path
) -> None:
    ws, rid, key = _ids(media_server)
    media_server.objects.fail_next(key, "reset", after=CHUNK_SIZE + 1000)
    result = await media_client.download_recording(ws, rid, tmp_path, resume=False)
    assert result.sha256 == media_server.objects.sha256(key)
    assert not any("Range" in r.headers for r in media_server.objects.requests)


async def test_a_download_that_gives_up_keeps_its_part_for_a_later_run(
    media_server: EmbeddedServer, tmp_path: Path
) -> None:
    ws, rid, key = _ids(media_server)
    media_server.objects.fail_next(key, "reset", after=CHUNK_SIZE * 2 + 5)
    media_server.objects.fail_next(key, "reset", after=0)
    async with Client(access_key=ACCESS_KEY, base_url=media_server.base_url, max_retries=0) as c:
        with pytest.raises(MediaError) as info:
            await c.download_recording(ws, rid, tmp_path)
    assert info.value.received >= CHUNK_SIZE
    assert info.value.size == SIZE
    assert "X-Amz-Signature" not in str(info.value)
    assert not (tmp_path / f"{rid}.mp3").exists()
    part = tmp_path / f"{rid}.mp3.part"
    assert part.stat().st_size == info.value.received
    async with Client(access_key=ACCESS_KEY, base_url=media_server.base_url) as c:
        result = await c.download_recording(ws, rid, tmp_path)
    assert result.resumed
    assert result.sha256 == media_server.objects.sha256(key)
    assert sorted(os.listdir(tmp_path)) == [f"{rid}.mp3"]
    first_range = next(r for r in media_server.objects.requests if "Range" in r.headers)
    assert first_range.headers["Range"] == f"bytes={info.value.received}-"


async def test_a_part_of_another_version_is_not_spliced(
    media_server: EmbeddedServer, media_client: Client, tmp_path: Path
) -> None:
    ws, rid, key = _ids(media_server)
    (tmp_path / f"{rid}.mp3.part").write_bytes(b"x" * 1000)
    (tmp_path / f"{rid}.mp3.part.json").write_bytes(b'{"etag": "\\"old\\"", "size": 5000}')
    result = await media_client.download_recording(ws, rid, tmp_path)
    assert result.sha256 == media_server.objects.sha256(key)
    assert result.restarts == 1
    assert media_server.objects.stats.full_bodies == 1


async def test_open_recording_streams_and_resumes(
    media_server: EmbeddedServer, media_client: Client
) -> None:
    ws, rid, key = _ids(media_server)
    media_server.objects.fail_next(key, "reset", after=CHUNK_SIZE // 2)
    digest = hashlib.sha256()
    async with media_client.open_recording(ws, rid) as stream:
        async for chunk in stream:
            digest.update(chunk)
    assert digest.hexdigest() == media_server.objects.sha256(key)
    assert stream.received == SIZE == stream.size
    assert stream.resumes == 1
    assert stream.content_type == "audio/mpeg"
    _store_saw_no_credential(media_server)


async def test_open_recording_raises_when_the_object_changes(
    media_server: EmbeddedServer, media_client: Client
) -> None:
    ws, rid, key = _ids(media_server)
    media_server.objects.fail_next(key, "replace", after=CHUNK_SIZE + 10)
    received = 0

    async def read_all() -> None:
        nonlocal received
        async with media_client.open_recording(ws, rid) as stream:
            async for chunk in stream:
                received += len(chunk)

    with pytest.raises(MediaChangedError) as info:
        await read_all()
    assert info.value.received == received > 0


async def test_leaving_a_stream_early_frees_its_slot(
    media_server: EmbeddedServer,
) -> None:
    ws, rid, _key = _ids(media_server)
    async with Client(
        access_key=ACCESS_KEY, base_url=media_server.base_url, max_media_transfers=1
    ) as c:
        for _ in range(3):  # with one slot, a leaked one would block the next stream
            async with c.open_recording(ws, rid) as stream:
                async for _chunk in stream:
                    break


@pytest.mark.parametrize("fmt", ["txt", "srt", "vtt", "json"])
async def test_get_transcript(media_server: EmbeddedServer, media_client: Client, fmt: str) -> None:
    ws = str(media_server.dataset.workspace_id)
    tid = media_server.recordings.transcription_id(0)
    content = media_server.objects.content(media_server.recordings.transcript_key(0, fmt))
    got = await media_client.get_transcript(ws, tid, fmt)  # type: ignore[call-overload]
    if fmt == "json":
        assert isinstance(got, bytes) and got == content
    else:
        assert isinstance(got, str) and got == content.decode()


async def test_get_transcript_is_bounded(
    media_server: EmbeddedServer, media_client: Client
) -> None:
    ws = str(media_server.dataset.workspace_id)
    tid = media_server.recordings.transcription_id(0)
    with pytest.raises(MediaError, match="max_bytes=10"):
        await media_client.get_transcript(ws, tid, "txt", max_bytes=10)


async def test_bad_input_is_refused_before_any_request(
    media_server: EmbeddedServer, media_client: Client, tmp_path: Path
) -> None:
    ws, rid, _key = _ids(media_server)
    with pytest.raises(InvalidIDError):
        await media_client.download_recording(ws, "not-a-uuid", tmp_path)
    with pytest.raises(ConfigurationError, match="format"):
        await media_client.download_recording(ws, rid, tmp_path, format="../x")
    with pytest.raises(ConfigurationError, match="format"):
        await media_client.get_transcript(ws, rid, "pdf")  # type: ignore[call-overload]
    with pytest.raises(DestinationError, match="does not exist") as missing:
        await media_client.download_recording(ws, rid, tmp_path / "nope" / "a.mp3")
    assert missing.value.filename == str(tmp_path / "nope")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.geteuid() != 0:  # root writes anywhere
        with pytest.raises(DestinationError, match="not writable"):
            await media_client.download_recording(ws, rid, locked)
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(DestinationError, match="not a directory"):
        await media_client.download_recording(ws, rid, tmp_path / "file" / "a.mp3")
    assert media_client.stats.calls == 0
    assert media_server.objects.stats.requests == 0


async def test_a_recording_without_media_is_not_found(
    media_server: EmbeddedServer, media_client: Client, tmp_path: Path
) -> None:
    ws, rid, _key = _ids(media_server, 4)  # unavailable_every=5: recording 4 has no media
    with pytest.raises(NotFoundError):
        await media_client.download_recording(ws, rid, tmp_path)
    assert os.listdir(tmp_path) == []


async def test_the_bird_request_waits_on_the_workspace_limiter(
    media_server: EmbeddedServer, tmp_path: Path
) -> None:
    ws, rid, _key = _ids(media_server)
    async with Client(access_key=ACCESS_KEY, base_url=media_server.base_url) as c:
        await c.download_recording(ws, rid, tmp_path)
        stats = c.workspace_stats(ws)
    assert stats is not None and stats.attempts == 1


def test_media_names_are_public() -> None:
    for name in (
        "DownloadResult",
        "MediaStream",
        "MediaError",
        "RedirectError",
        "MediaChangedError",
        "DestinationError",
    ):
        assert name in asyncsdk.__all__


async def test_a_whole_part_left_by_an_earlier_run_needs_no_request(
    media_server: EmbeddedServer, media_client: Client, tmp_path: Path
) -> None:
    ws, rid, key = _ids(media_server)
    etag = media_server.objects.get(key).etag  # type: ignore[union-attr]
    (tmp_path / f"{rid}.mp3.part").write_bytes(media_server.objects.content(key))
    meta = json.dumps({"etag": etag, "size": SIZE}).encode()
    (tmp_path / f"{rid}.mp3.part.json").write_bytes(meta)
    result = await media_client.download_recording(ws, rid, tmp_path)
    assert result.sha256 == media_server.objects.sha256(key) and result.resumed
    assert media_server.objects.stats.requests == 0
    assert sorted(os.listdir(tmp_path)) == [f"{rid}.mp3"]


async def test_logs_show_presigned_urls_redacted(
    media_server: EmbeddedServer,
    media_client: Client,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ws, rid, key = _ids(media_server)
    media_server.objects.fail_next(key, "reset", after=1000)
    with caplog.at_level(logging.DEBUG, logger="asyncsdk"):
        await media_client.download_recording(ws, rid, tmp_path)
    store_lines = [r.getMessage() for r in caplog.records if "object store" in r.getMessage()]
    assert len(store_lines) == 2
    assert all("?[redacted]" in line for line in store_lines)
    assert "X-Amz-Signature" not in caplog.text and "X-Amz-Credential" not in caplog.text
    assert ACCESS_KEY not in caplog.text


async def test_object_store_transfers_are_bounded_by_their_own_slots(
    media_server: EmbeddedServer, tmp_path: Path
) -> None:
    ws, rid, _key = _ids(media_server)
    other = str(media_server.recordings.recording_id(1))
    async with Client(
        access_key=ACCESS_KEY, base_url=media_server.base_url, max_media_transfers=1
    ) as c:
        async with c.open_recording(ws, rid) as stream:
            async for _chunk in stream:
                break  # holds the only slot, its answer open
            second = asyncio.create_task(c.download_recording(ws, other, tmp_path))
            # The second download's request to Bird is made (paced by the limiter)...
            await wait_until(lambda: c.stats.succeeded == 2, what="the second 307")
            await asyncio.sleep(0)
            # ...but it waits for a slot before it reaches the object store.
            assert media_server.objects.stats.requests == 1
        result = await asyncio.wait_for(second, 60)
    assert result.size == SIZE
    assert media_server.objects.stats.requests == 2
    # Bird's limiter saw Bird's two requests only, not the object store's.
    assert c.stats.attempts == 2


LARGE = 3 * 1024 * 1024 + 777  # several of the .part file's blocks


@pytest.fixture
async def large_server() -> AsyncIterator[EmbeddedServer]:
    config = ServerConfig(access_keys=(ACCESS_KEY,), recordings=RecordingsConfig(size=LARGE))
    async with EmbeddedServer(config, dataset=Dataset(size=5)) as srv:
        yield srv


@pytest.mark.parametrize("checksum", ["sha256", None])
async def test_a_large_download_resumes_whole_with_or_without_its_checksum(
    large_server: EmbeddedServer, tmp_path: Path, checksum: Literal["sha256"] | None
) -> None:
    ws, rid, key = _ids(large_server)
    large_server.objects.fail_next(key, "reset", after=LARGE // 2 + 3)
    async with Client(access_key=ACCESS_KEY, base_url=large_server.base_url) as c:
        result = await c.download_recording(ws, rid, tmp_path, checksum=checksum)
    whole = hashlib.sha256(result.path.read_bytes()).hexdigest()
    assert whole == large_server.objects.sha256(key)
    assert result.sha256 == (whole if checksum else None)
    assert result.size == LARGE and result.resumes == 1
    assert sorted(os.listdir(tmp_path)) == [f"{rid}.mp3"]


async def test_a_large_download_that_gives_up_keeps_every_byte_received(
    large_server: EmbeddedServer, tmp_path: Path
) -> None:
    ws, rid, key = _ids(large_server)
    large_server.objects.fail_next(key, "reset", after=2 * 1024 * 1024 + 5)
    large_server.objects.fail_next(key, "reset", after=0)
    async with Client(access_key=ACCESS_KEY, base_url=large_server.base_url, max_retries=0) as c:
        with pytest.raises(MediaError) as info:
            await c.download_recording(ws, rid, tmp_path)
    held = (tmp_path / f"{rid}.mp3.part").read_bytes()
    assert len(held) == info.value.received
    assert held == large_server.objects.content(key)[: len(held)]


async def test_an_unknown_checksum_is_refused_before_any_request(
    media_server: EmbeddedServer, media_client: Client, tmp_path: Path
) -> None:
    ws, rid, _key = _ids(media_server)
    with pytest.raises(ConfigurationError, match="checksum"):
        await media_client.download_recording(ws, rid, tmp_path, checksum="md5")  # type: ignore[arg-type]
    assert media_client.stats.calls == 0
    assert os.listdir(tmp_path) == []
