"""Hostile answers to the media path, from a scripted Bird endpoint and a raw object store.

Both listen on loopback: Bird's side is an aiohttp app that answers the media endpoint
as a test says; the object store is a raw asyncio server that writes whatever bytes a
test scripts (a body shorter than its ``Content-Length``, a ``206`` for another range,
an ETag that changes), which no well-behaved server library would send.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from asyncsdk import (
    APIError,
    Client,
    ConfigurationError,
    MediaChangedError,
    MediaError,
    RedirectError,
    Timeout,
)

ACCESS_KEY = "hostile-test-key"
WS = uuid.UUID("0f1e2d3c-4b5a-4697-8877-665544332211")
REC = uuid.UUID("5f0c7a9e-3b1d-4c8e-9a52-1d7e0b6f2a41")
BODY = bytes(range(256)) * 4000  # 1,024,000 bytes
ETAG = '"v1"'
SECRET = "X-Amz-Signature=deadbeefcafe"

#: Turns (the request's headers) into the raw bytes of one answer, then whether to close.
Answer = Callable[[dict[str, str]], bytes]


def head(status: str, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def whole(body: bytes = BODY, etag: str = ETAG, cut: int | None = None) -> Answer:
    def answer(_headers: dict[str, str]) -> bytes:
        sent = body if cut is None else body[:cut]
        return (
            head(
                "200 OK",
                {
                    "Content-Length": str(len(body)),
                    "ETag": etag,
                    "Content-Type": "audio/mpeg",
                    "Connection": "close",
                },
            )
            + sent
        )

    return answer


def ranged(
    body: bytes = BODY,
    etag: str = ETAG,
    content_range: str | None = None,
    length: int | None = None,
) -> Answer:
    def answer(headers: dict[str, str]) -> bytes:
        start = int(headers["range"].removeprefix("bytes=").rstrip("-"))
        part = body[start:]
        shown = content_range or f"bytes {start}-{len(body) - 1}/{len(body)}"
        return (
            head(
                "206 Partial Content",
                {
                    "Content-Length": str(length if length is not None else len(part)),
                    "Content-Range": shown,
                    "ETag": etag,
                    "Connection": "close",
                },
            )
            + part
        )

    return answer


def status(line: str, extra: dict[str, str] | None = None, body: bytes = b"") -> Answer:
    def answer(_headers: dict[str, str]) -> bytes:
        return (
            head(line, {"Content-Length": str(len(body)), "Connection": "close", **(extra or {})})
            + body
        )

    return answer


class Stall:
    """A whole answer's headers and the first ``sent`` bytes, then silence."""

    def __init__(self, sent: int) -> None:
        self.sent = sent

    def __call__(self, headers: dict[str, str]) -> bytes:
        return whole()(headers)[: -(len(BODY) - self.sent)]


@dataclass
class Store:
    """A raw object store: answers its scripted answers in turn, and records requests."""

    answers: list[Answer] = field(default_factory=list)
    requests: list[dict[str, str]] = field(default_factory=list)
    url: str = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
            lines = raw.decode("latin-1").split("\r\n")[1:]
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (line.partition(":") for line in lines if line)
            }
            self.requests.append(headers)
            index = min(len(self.requests), len(self.answers)) - 1
            answer = self.answers[index]
            writer.write(answer(headers))
            await writer.drain()
            if isinstance(answer, Stall):
                await asyncio.sleep(30)  # silent, connection open: the client must not wait
        finally:
            writer.close()


@dataclass
class Bird:
    """What Bird's media endpoint answers: a status and a Location (``{store}`` filled in)."""

    status: int = 307
    location: str | None = "{store}/rec.mp3?X-Amz-Expires=600&" + SECRET
    calls: int = 0


@pytest.fixture
async def hostile(tmp_path: Path) -> AsyncIterator[tuple[Bird, Store, str]]:
    store = Store()
    server = await asyncio.start_server(store.handle, "127.0.0.1", 0)
    store.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    bird = Bird()

    async def media(request: web.Request) -> web.Response:
        bird.calls += 1
        assert request.headers["Authorization"] == f"AccessKey {ACCESS_KEY}"
        headers = {}
        if bird.location is not None:
            headers["Location"] = bird.location.format(store=store.url)
        return web.Response(status=bird.status, headers=headers, body=b"{}")

    app = web.Application()
    app.router.add_get("/workspaces/{ws}/recordings/{rec}.mp3", media)
    app.router.add_get("/workspaces/{ws}/channels/{ch}/calls/{call}", media)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield bird, store, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
        server.close()
        await server.wait_closed()


def client(base: str, **options: object) -> Client:
    return Client(access_key=ACCESS_KEY, base_url=base, **options)  # type: ignore[arg-type]


def no_secret(exc: BaseException) -> None:
    text = f"{exc} {exc!r} {exc.args}"
    assert "deadbeefcafe" not in text
    assert ACCESS_KEY not in text


async def download(base: str, dest: Path, **options: object) -> object:
    async with client(base, max_retries=1, **options) as c:
        return await c.download_recording(WS, REC, dest)


@pytest.mark.parametrize(
    ("location", "match"),
    [
        ("https://198.51.100.7/rec.mp3?" + SECRET, None),  # https elsewhere: followed
        ("ftp://{store}/rec.mp3?" + SECRET, "scheme 'ftp'"),
        ("http://198.51.100.7/rec.mp3?" + SECRET, "plain http to a non-loopback"),
        ("/rec.mp3?" + SECRET, "not an absolute URL"),
        (None, "without a Location"),
    ],
)
async def test_a_redirect_that_may_not_be_followed(
    hostile: tuple[Bird, Store, str], tmp_path: Path, location: str | None, match: str | None
) -> None:
    bird, store, base = hostile
    bird.location = location
    if match is None:
        return  # an https target is valid; not contacted here (no traffic off loopback)
    with pytest.raises(RedirectError, match=match) as info:
        await download(base, tmp_path)
    no_secret(info.value)
    assert store.requests == []
    assert os.listdir(tmp_path) == []


async def test_a_200_from_the_media_endpoint_is_not_a_redirect(
    hostile: tuple[Bird, Store, str], tmp_path: Path
) -> None:
    bird, store, base = hostile
    bird.status = 200
    with pytest.raises(RedirectError, match="not a redirect"):
        await download(base, tmp_path)
    assert store.requests == []


async def test_a_second_redirect_is_not_followed(
    hostile: tuple[Bird, Store, str], tmp_path: Path
) -> None:
    _bird, store, base = hostile
    store.answers = [status("302 Found", {"Location": store.url + "/other?" + SECRET})]
    with pytest.raises(RedirectError, match="second redirect") as info:
        await download(base, tmp_path)
    no_secret(info.value)
    assert len(store.requests) == 1
    assert os.listdir(tmp_path) == []


async def test_an_endpoint_that_should_not_redirect(
    hostile: tuple[Bird, Store, str],
) -> None:
    _bird, store, base = hostile
    async with client(base, max_retries=0) as c:
        with pytest.raises(APIError, match="unexpected redirect 307") as info:
            await c.get_call(WS, REC, REC)
    no_secret(info.value)
    assert "[redacted]" in str(info.value)
    assert store.requests == []


async def test_the_object_store_never_sees_a_credential(
    hostile: tuple[Bird, Store, str], tmp_path: Path
) -> None:
    _bird, store, base = hostile
    store.answers = [whole()]
    result = await download(base, tmp_path)
    assert result.sha256 == hashlib.sha256(BODY).hexdigest()  # type: ignore[attr-defined]
    for request in store.requests:
        assert "authorization" not in request
        assert "asyncsdk" not in request.get("user-agent", "")


async def test_a_body_shorter_than_its_content_length_is_resumed(
    hostile: tuple[Bird, Store, str], tmp_path: Path
) -> None:
    _bird, store, base = hostile
    store.answers = [whole(cut=300_000), ranged()]
    result = await download(base, tmp_path)
    assert result.sha256 == hashlib.sha256(BODY).hexdigest()  # type: ignore[attr-defined]
    assert store.requests[1]["range"] == "bytes=300000-"
    assert store.requests[1]["if-range"] == ETAG


async def test_a_206_for_another_range_is_an_error(
    hostile: tuple[Bird, Store, str], tmp_path: Path
) -> None:
    _bird, store, base = hostile
    store.answers = [
        whole(cut=300_000),
        ranged(content_range=f"bytes 0-{len(BODY) - 1}/{len(BODY)}"),
    ]
    with pytest.raises(MediaError, match="not the range asked") as info:
        await download(base, tmp_path)
    assert info.value.received == 300_000 and info.value.status == 206
    no_secret(info.value)
    assert not (tmp_path / f"{REC}.mp3").exists()


async def test_a_206_whose_length_disagrees_is_an_error(
    hostile: tuple[Bird, Store, str], tmp_path: Path
) -> None:
    _bird, store, base = hostile
    store.answers = [whole(cut=300_000), ranged(length=len(BODY))]
    with pytest.raises(MediaError, match=f"Content-Length {len(BODY)} for {len(BODY) - 300_000}"):
        await download(base, tmp_path)
    assert not (tmp_path / f"{REC}.mp3").exists()


async def test_a_200_to_a_range_of_the_same_etag_is_counted(
    hostile: tuple[Bird, Store, str], tmp_path: Path
) -> None:
    _bird, store, base = hostile
    store.answers = [whole(cut=300_000), whole()]
    result = await download(base, tmp_path)
    assert result.sha256 == hashlib.sha256(BODY).hexdigest()  # type: ignore[attr-defined]
    assert result.ranges_ignored == 1  # type: ignore[attr-defined]


async def test_an_etag_that_changes_between_resumes_starts_again(
    hostile: tuple[Bird, Store, str], tmp_path: Path
) -> None:
    _bird, store, base = hostile
    new = bytes(reversed(BODY))
    store.answers = [
        whole(cut=300_000),
        ranged(body=new, etag='"v2"'),
        whole(body=new, etag='"v2"'),
    ]
    result = await download(base, tmp_path)
    assert result.sha256 == hashlib.sha256(new).hexdigest()  # type: ignore[attr-defined]
    assert result.restarts == 1  # type: ignore[attr-defined]
    assert (tmp_path / f"{REC}.mp3").read_bytes() == new


async def test_a_whole_answer_of_another_etag_starts_again(
    hostile: tuple[Bird, Store, str], tmp_path: Path
) -> None:
    _bird, store, base = hostile
    new = bytes(reversed(BODY))
    store.answers = [whole(cut=300_000), whole(body=new, etag='"v2"')]
    result = await download(base, tmp_path)
    assert (tmp_path / f"{REC}.mp3").read_bytes() == new
    assert result.restarts == 1  # type: ignore[attr-defined]


async def test_a_stream_never_splices_two_versions(
    hostile: tuple[Bird, Store, str],
) -> None:
    _bird, store, base = hostile
    store.answers = [whole(cut=300_000), ranged(body=bytes(reversed(BODY)), etag='"v2"')]

    async def read_all() -> None:
        async with client(base) as c, c.open_recording(WS, REC) as stream:
            async for _chunk in stream:
                pass

    with pytest.raises(MediaChangedError):
        await read_all()


async def test_an_object_store_that_keeps_failing_gives_up(
    hostile: tuple[Bird, Store, str], tmp_path: Path
) -> None:
    bird, store, base = hostile
    store.answers = [status("503 Slow Down", body=b"<Error><Code>SlowDown</Code></Error>")]
    async with client(base, max_retries=2, retry_policy=None) as c:
        with pytest.raises(MediaError, match="gave up after 3") as info:
            await c.download_recording(WS, REC, tmp_path)
    assert "SlowDown" in str(info.value)
    assert str(info.value).count("after") == 1  # the count, once
    no_secret(info.value)
    assert bird.calls == 3  # a fresh URL each time
    assert os.listdir(tmp_path) == []


async def test_a_session_that_would_leak_headers_is_refused(
    hostile: tuple[Bird, Store, str], tmp_path: Path
) -> None:
    import aiohttp

    _bird, store, base = hostile
    leaky = aiohttp.ClientSession(headers={"Authorization": "AccessKey x"})
    async with leaky as session, client(base, session=session) as c:
        with pytest.raises(ConfigurationError, match="Authorization"):
            await c.download_recording(WS, REC, tmp_path)
    assert store.requests == []


async def test_a_body_that_goes_silent_is_resumed(
    hostile: tuple[Bird, Store, str], tmp_path: Path
) -> None:
    _bird, store, base = hostile
    store.answers = [Stall(300_000), ranged()]
    timeout = Timeout(connect=5, read=1.0, total=30)
    async with client(base, timeout=timeout) as c:
        result = await c.download_recording(WS, REC, tmp_path)
    assert result.sha256 == hashlib.sha256(BODY).hexdigest()
    assert store.requests[1]["range"] == "bytes=300000-"


async def test_a_slow_consumer_is_not_a_silent_body(hostile: tuple[Bird, Store, str]) -> None:
    _bird, store, base = hostile
    store.answers = [whole()]
    digest = hashlib.sha256()
    timeout = Timeout(connect=5, read=2.0, total=30)
    async with client(base, timeout=timeout) as c, c.open_recording(WS, REC) as stream:
        async for chunk in stream:
            if stream.received == len(chunk):  # the first chunk
                await asyncio.sleep(2.5)  # longer than the read timeout, holding a chunk
            digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(BODY).hexdigest()
    assert stream.resumes == 0 and len(store.requests) == 1


async def test_a_stream_reads_past_what_it_holds_when_range_is_ignored(
    hostile: tuple[Bird, Store, str],
) -> None:
    _bird, store, base = hostile
    store.answers = [whole(cut=300_000), whole()]  # the same ETag, Range ignored
    received = bytearray()
    async with client(base) as c, c.open_recording(WS, REC) as stream:
        async for chunk in stream:
            received += chunk
    assert bytes(received) == BODY  # nothing twice, nothing missing
    assert stream.resumes == 1
