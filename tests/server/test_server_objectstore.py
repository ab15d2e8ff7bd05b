"""The object store behind the media redirects, over loopback HTTP with plain aiohttp."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict
from yarl import URL

from asyncsdk.server import (
    Dataset,
    EmbeddedServer,
    MediaFaults,
    RecordingsConfig,
    ScriptedResponse,
    ServerConfig,
)
from asyncsdk.server._presign import bandwidth_wait

AUTH = {"Authorization": "AccessKey test-access-key"}
SIZE = 300_000


def config(**options: Any) -> ServerConfig:
    faults = options.pop("faults", MediaFaults())
    return ServerConfig(recordings=RecordingsConfig(size=SIZE, faults=faults, **options))


@pytest.fixture
async def server(dataset: Dataset) -> AsyncIterator[EmbeddedServer]:
    async with EmbeddedServer(config(), dataset=dataset) as srv:
        yield srv


@pytest.fixture
async def anonymous() -> AsyncIterator[aiohttp.ClientSession]:
    """A session with no credential: what a client must use on the object store."""
    async with aiohttp.ClientSession() as client:
        yield client


def first_listed(server: EmbeddedServer) -> int:
    recordings = server.recordings
    return next(i for i in range(server.dataset.size) if recordings.available(i))


async def redirect(server: EmbeddedServer, index: int | None = None) -> str:
    """Ask Bird's media endpoint for a recording and return the presigned Location."""
    index = first_listed(server) if index is None else index
    recording_id = server.recordings.recording_id(index)
    url = (
        f"{server.base_url}/workspaces/{server.dataset.workspace_id}/recordings/{recording_id}.mp3"
    )
    async with (
        aiohttp.ClientSession(headers=AUTH) as session,
        session.get(url, allow_redirects=False) as response,
    ):
        assert response.status == 307
        return response.headers["Location"]


async def fetch(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
) -> tuple[int, CIMultiDict[str], bytes, bool]:
    """GET ``url``: status, headers, the body read, and whether it was cut short."""
    async with session.get(url, headers=headers or {}) as response:
        chunks = []
        cut = False
        try:
            async for chunk in response.content.iter_chunked(65536):
                chunks.append(chunk)
        except aiohttp.ClientPayloadError:
            cut = True
        return response.status, CIMultiDict(response.headers), b"".join(chunks), cut


async def test_a_presigned_url_serves_the_whole_object(
    server: EmbeddedServer, anonymous: aiohttp.ClientSession
) -> None:
    location = await redirect(server)
    status, headers, body, cut = await fetch(anonymous, location)
    key = server.recordings.media_key(first_listed(server))
    obj = server.objects.get(key)
    assert obj is not None
    assert (status, cut, len(body)) == (200, False, SIZE)
    assert body == server.objects.content(key)
    assert hashlib.sha256(body).hexdigest() == server.objects.sha256(key)
    assert headers["ETag"] == obj.etag and headers["ETag"].startswith('"')
    assert headers["Content-Length"] == str(SIZE) and headers["Accept-Ranges"] == "bytes"
    assert headers["Content-Type"] == "audio/mpeg"
    stats = server.objects.stats
    assert (stats.full_bodies, stats.bytes_sent, stats.authorization_refused) == (1, SIZE, 0)


async def test_authorization_is_refused_and_counted(
    server: EmbeddedServer, anonymous: aiohttp.ClientSession
) -> None:
    location = await redirect(server)
    for url in (location, location.split("?")[0]):
        status, headers, body, _ = await fetch(anonymous, url, AUTH)
        assert status == 400 and headers["Content-Type"] == "application/xml"
        assert b"<Code>InvalidArgument</Code>" in body and b"Only one auth mechanism" in body
        assert b"test-access-key" not in body
    assert server.objects.stats.authorization_refused == 2
    assert server.objects.stats.bytes_sent == 0
    recorded = server.objects.requests[-1]
    assert recorded.headers["Authorization"] == AUTH["Authorization"]  # tests can see it


async def test_an_altered_or_unsigned_url_is_refused(
    server: EmbeddedServer, anonymous: aiohttp.ClientSession
) -> None:
    location = URL(await redirect(server), encoded=True)
    other_key = server.recordings.media_key(first_listed(server) + 1)
    altered = [
        location.with_path("/" + other_key).with_query(location.query),
        location.update_query({"X-Amz-Expires": "6000"}),
        location.update_query({"X-Amz-Signature": "0" * 64}),
        location.update_query({"X-Amz-Date": "20990101T000000Z"}),
    ]
    for url in altered:
        status, _, body, _ = await fetch(anonymous, str(url))
        assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body
    status, _, body, _ = await fetch(anonymous, str(location.with_query(None)))
    assert status == 403 and b"<Code>AccessDenied</Code>" in body
    assert server.objects.stats.signature_refused == 5


async def test_urls_expire_after_their_lifetime(
    dataset: Dataset, anonymous: aiohttp.ClientSession
) -> None:
    async with EmbeddedServer(config(url_ttl=60), dataset=dataset) as server:
        location = await redirect(server)
        assert URL(location).query["X-Amz-Expires"] == "60"
        server.objects.advance_clock(59)
        assert (await fetch(anonymous, location))[0] == 200
        server.objects.advance_clock(2)
        status, _, body, _ = await fetch(anonymous, location)
        assert status == 403
        assert b"<Code>AccessDenied</Code><Message>Request has expired</Message>" in body
        assert b"<X-Amz-Expires>60</X-Amz-Expires>" in body
        assert server.objects.stats.expired_refused == 1
        assert (await fetch(anonymous, await redirect(server)))[0] == 200  # a fresh one works


async def test_the_expired_fault_hands_out_expired_urls(
    dataset: Dataset, anonymous: aiohttp.ClientSession
) -> None:
    async with EmbeddedServer(config(faults=MediaFaults(expired=1.0)), dataset=dataset) as server:
        assert (await fetch(anonymous, await redirect(server)))[0] == 403
        stats = server.objects.stats
        assert (stats.expired_issued, stats.expired_refused) == (stats.urls_issued, 1)
    async with EmbeddedServer(config(), dataset=dataset) as server:
        key = server.recordings.media_key(first_listed(server))
        server.objects.fail_next(key, "expired")
        assert (await fetch(anonymous, await redirect(server)))[0] == 403
        assert (await fetch(anonymous, await redirect(server)))[0] == 200  # only the next one


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=1000-", 1000, SIZE),
        ("bytes=10-19", 10, 20),
        ("bytes=-100", SIZE - 100, SIZE),
        ("bytes=0-999999999", 0, SIZE),
    ],
)
async def test_a_range_is_answered_206(
    server: EmbeddedServer, anonymous: aiohttp.ClientSession, header: str, start: int, end: int
) -> None:
    location = await redirect(server)
    status, headers, body, _ = await fetch(anonymous, location, {"Range": header})
    key = server.recordings.media_key(first_listed(server))
    assert status == 206
    assert headers["Content-Range"] == f"bytes {start}-{end - 1}/{SIZE}"
    assert headers["Content-Length"] == str(end - start)
    assert body == server.objects.content(key, start, end)
    assert server.objects.stats.partial_bodies == 1


async def test_ranges_it_cannot_or_will_not_serve(
    server: EmbeddedServer, anonymous: aiohttp.ClientSession
) -> None:
    location = await redirect(server)
    status, headers, body, _ = await fetch(anonymous, location, {"Range": f"bytes={SIZE}-"})
    assert status == 416 and headers["Content-Range"] == f"bytes */{SIZE}"
    assert b"<Code>InvalidRange</Code>" in body
    for ignored in ("bytes=0-1,5-9", "items=0-5", "bytes=9-1"):
        status, _, body, _ = await fetch(anonymous, location, {"Range": ignored})
        assert (status, len(body)) == (200, SIZE)


async def test_if_range_and_if_match(
    server: EmbeddedServer, anonymous: aiohttp.ClientSession
) -> None:
    location = await redirect(server)
    key = server.recordings.media_key(first_listed(server))
    obj = server.objects.get(key)
    assert obj is not None
    ranged = {"Range": "bytes=100-"}
    status, _, body, _ = await fetch(anonymous, location, {**ranged, "If-Range": obj.etag})
    assert (status, len(body)) == (206, SIZE - 100)
    for stale in ('"0123"', "W/" + obj.etag, "Thu, 01 Jan 2026 00:00:00 GMT"):
        status, headers, body, _ = await fetch(anonymous, location, {**ranged, "If-Range": stale})
        assert (status, len(body)) == (200, SIZE) and "Content-Range" not in headers
    status, _, body, _ = await fetch(anonymous, location, {"If-Match": '"0123"'})
    assert status == 412 and b"<Code>PreconditionFailed</Code>" in body
    assert (await fetch(anonymous, location, {"If-Match": obj.etag}))[0] == 200
    assert (await fetch(anonymous, location, {"If-None-Match": obj.etag}))[0] == 304


async def test_head_and_other_methods(
    server: EmbeddedServer, anonymous: aiohttp.ClientSession
) -> None:
    location = await redirect(server)
    async with anonymous.head(location) as response:
        assert response.status == 200 and response.headers["Content-Length"] == str(SIZE)
        assert await response.read() == b""
    async with anonymous.put(location, data=b"x") as response:
        assert response.status == 405


async def test_a_valid_url_of_an_unknown_key_is_404(
    server: EmbeddedServer, anonymous: aiohttp.ClientSession
) -> None:
    url = server.objects.presign("recordings/nothing.mp3")
    status, _, body, _ = await fetch(anonymous, url)
    assert status == 404 and b"<Code>NoSuchKey</Code>" in body


async def test_a_reset_cuts_the_body_after_n_bytes(
    server: EmbeddedServer, anonymous: aiohttp.ClientSession
) -> None:
    key = server.recordings.media_key(first_listed(server))
    server.objects.fail_next(key, "reset", after=70_000)
    location = await redirect(server)
    status, headers, body, cut = await fetch(anonymous, location)
    assert (status, cut, len(body)) == (200, True, 70_000)
    assert headers["Content-Length"] == str(SIZE)
    assert body == server.objects.content(key, 0, 70_000)
    # The resume continues the same object.
    ranged = {"Range": "bytes=70000-", "If-Range": headers["ETag"]}
    status, _, rest, cut = await fetch(anonymous, location, ranged)
    assert (status, cut) == (206, False)
    assert hashlib.sha256(body + rest).hexdigest() == server.objects.sha256(key)
    assert server.objects.stats.cut == 1


async def test_drawn_resets_are_seeded(dataset: Dataset, anonymous: aiohttp.ClientSession) -> None:
    outcomes = []
    for _ in range(2):
        async with EmbeddedServer(config(faults=MediaFaults(reset=0.5)), dataset=dataset) as server:
            location = await redirect(server)
            run = [(await fetch(anonymous, location))[2:] for _ in range(8)]
            outcomes.append([(len(body), cut) for body, cut in run])
            assert server.objects.stats.cut == sum(cut for _, cut in outcomes[-1])
    assert outcomes[0] == outcomes[1]
    assert {cut for _, cut in outcomes[0]} == {True, False}
    assert all(0 <= n < SIZE for n, cut in outcomes[0] if cut)


async def test_a_replaced_object_changes_etag_and_bytes(
    server: EmbeddedServer, anonymous: aiohttp.ClientSession
) -> None:
    key = server.recordings.media_key(first_listed(server))
    before = server.objects.sha256(key)
    server.objects.fail_next(key, "replace", after=1000)
    location = await redirect(server)
    status, headers, body, cut = await fetch(anonymous, location)
    assert (status, cut, len(body)) == (200, True, 1000)
    ranged = {"Range": "bytes=1000-", "If-Range": headers["ETag"]}
    status, fresh, whole, cut = await fetch(anonymous, location, ranged)
    assert (status, cut, len(whole)) == (200, False, SIZE)  # the new version, whole
    assert fresh["ETag"] != headers["ETag"]
    assert hashlib.sha256(whole).hexdigest() == server.objects.sha256(key) != before
    assert (await fetch(anonymous, location, {"If-Match": headers["ETag"]}))[0] == 412
    stats = server.objects.stats
    assert (stats.cut, stats.replaced) == (1, 1)


async def test_replace_and_resize_by_hand(server: EmbeddedServer) -> None:
    key = server.recordings.media_key(first_listed(server))
    old = server.objects.get(key)
    new = server.objects.replace(key, size=5)
    assert old is not None and (new.version, new.size) == (old.version + 1, 5)
    assert new.etag != old.etag and len(server.objects.content(key)) == 5
    with pytest.raises(KeyError):
        server.objects.replace("recordings/none.mp3")


async def test_a_trickle_and_a_bandwidth_cap_still_deliver_everything(
    dataset: Dataset, anonymous: aiohttp.ClientSession
) -> None:
    faults = MediaFaults(trickle=1.0, trickle_rate=4_000_000)
    options = {"faults": faults, "bandwidth": 50_000_000, "latency": 0.001}
    async with EmbeddedServer(config(**options), dataset=dataset) as server:
        key = server.recordings.media_key(first_listed(server))
        status, _, body, cut = await fetch(anonymous, await redirect(server))
        assert (status, cut) == (200, False)
        assert hashlib.sha256(body).hexdigest() == server.objects.sha256(key)
        assert server.objects.stats.trickled == 1


def test_the_bandwidth_cap_paces_every_answer_together() -> None:
    wait, free = bandwidth_wait(10.0, 0.0, 1000, 1000)
    assert (wait, free) == (0.0, 11.0)
    wait, free = bandwidth_wait(10.5, free, 500, 1000)  # another answer, same link
    assert (wait, free) == (0.5, 11.5)


async def test_a_gigabyte_is_servable_without_holding_it(
    dataset: Dataset, anonymous: aiohttp.ClientSession
) -> None:
    size = 1_000_000_000
    options = ServerConfig(recordings=RecordingsConfig(size=size))
    async with EmbeddedServer(options, dataset=dataset) as server:
        location = await redirect(server)
        key = server.recordings.media_key(first_listed(server))
        tail = {"Range": f"bytes={size - 3000}-"}
        status, headers, body, _ = await fetch(anonymous, location, tail)
        assert (
            status == 206 and headers["Content-Range"] == f"bytes {size - 3000}-{size - 1}/{size}"
        )
        assert body == server.objects.content(key, size - 3000)


async def test_stopping_cuts_a_download_in_flight(
    dataset: Dataset, anonymous: aiohttp.ClientSession
) -> None:
    faults = MediaFaults(trickle=1.0, trickle_rate=1000)  # 300 KB would take 5 minutes
    server = EmbeddedServer(config(faults=faults), dataset=dataset)
    await server.start()
    try:
        location = await redirect(server)
        async with anonymous.get(location) as response:
            first = await response.content.read(10)
            assert first
            await asyncio.wait_for(server.stop(), 30)  # a bound that turns a hang into a failure
            with pytest.raises(aiohttp.ClientPayloadError):
                await response.read()
    finally:
        await server.stop()


async def test_cut_answers_log_no_server_errors(
    server: EmbeddedServer, anonymous: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    key = server.recordings.media_key(first_listed(server))
    server.objects.fail_next(key, "reset", after=10)
    with caplog.at_level(logging.WARNING):
        assert (await fetch(anonymous, await redirect(server)))[3] is True
    assert not [r for r in caplog.records if r.name.startswith("aiohttp")]


@pytest.mark.parametrize(
    ("kind", "asked", "status", "content_range"),
    [
        ("ignore_range", "bytes=1000-", 200, None),
        ("wrong_range", "bytes=1000-", 206, f"bytes 500-{SIZE - 1}/{SIZE}"),
        ("wrong_range", "bytes=0-", 206, f"bytes 0-{SIZE - 2}/{SIZE}"),
    ],
)
async def test_hostile_range_answers_on_request(
    server: EmbeddedServer,
    anonymous: aiohttp.ClientSession,
    kind: Any,
    asked: str,
    status: int,
    content_range: str | None,
) -> None:
    key = server.recordings.media_key(first_listed(server))
    server.objects.fail_next(key, kind)
    location = await redirect(server)
    assert (await fetch(anonymous, location))[0] == 200  # not ranged: not affected
    got, headers, body, _ = await fetch(anonymous, location, {"Range": asked})
    assert (got, headers.get("Content-Range")) == (status, content_range)
    assert int(headers["Content-Length"]) == len(body)
    got, headers, _, _ = await fetch(anonymous, location, {"Range": asked})
    assert got == 206  # only the next one


async def test_scripted_answers_for_a_recording(
    server: EmbeddedServer, anonymous: aiohttp.ClientSession
) -> None:
    """Hostile redirects from Bird's side, queued by recording id as by call id."""
    index = first_listed(server)
    recording_id = server.recordings.recording_id(index)
    ws = server.dataset.workspace_id
    url = f"{server.base_url}/workspaces/{ws}/recordings/{recording_id}"
    server.script(
        recording_id,
        ScriptedResponse(307, headers={"Location": "ftp://127.0.0.1/x.mp3"}),
        ScriptedResponse(307, headers={"Location": url + ".mp3"}),
        ScriptedResponse(200),
    )
    async with aiohttp.ClientSession(headers=AUTH) as session:
        for expected in ("ftp://127.0.0.1/x.mp3", url + ".mp3"):
            async with session.get(url + ".mp3", allow_redirects=False) as response:
                assert (response.status, response.headers["Location"]) == (307, expected)
        async with session.get(url, allow_redirects=False) as response:
            assert response.status == 200  # the scripted 200 is the real metadata
            assert (await response.json())["id"] == str(recording_id)
        async with session.get(url + ".mp3", allow_redirects=False) as response:
            assert response.status == 307  # the script is used up: the real answer
            assert response.headers["Location"].startswith(server.objects.base_url)
    assert server.stats.scripted == 3
