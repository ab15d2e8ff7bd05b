"""Review of the media path: silences, versions, ends and credentials at the object store.

The scripted Bird endpoint and raw object store of `tests.test_media_hostile` answer
over loopback. An object store that sends an error's headers and then nothing must not
hang a transfer; one that sends no ``ETag`` gives the SDK nothing to send in
``If-Range``, so a ranged resume could splice two versions of the object into one file;
a body that ends only when the connection closes cannot be told from a cut one; and a
caller's session middleware must not add its credentials to the object store's request.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from asyncsdk import MediaChangedError, MediaError, Timeout
from asyncsdk._media._rules import judge
from tests.test_media_hostile import (
    BODY,
    REC,
    WS,
    Bird,
    Stall,
    Store,
    client,
    head,
    hostile,
    whole,
)

__all__ = ["hostile"]  # the fixture, imported for the tests below

#: A second version of the object, of the same size: only a validator tells them apart.
OTHER = bytes(reversed(BODY))
#: Bound of each test: far above what it needs, only so that a hang fails instead of
#: stalling the suite.
HANG = 20.0


class SilentError(Stall):
    """A 403's headers announcing a body, then silence with the connection open."""

    def __init__(self) -> None:
        super().__init__(0)

    def __call__(self, headers: dict[str, str]) -> bytes:
        return head(
            "403 Forbidden",
            {"Content-Length": "400", "Content-Type": "application/xml", "Connection": "close"},
        )


def versioned(body: bytes, etag: str | None = None, cut: int | None = None) -> object:
    """``body`` under ``etag`` (none if ``None``): the range asked, else whole (cut short)."""

    def answer(headers: dict[str, str]) -> bytes:
        tag = {"Connection": "close"} if etag is None else {"ETag": etag, "Connection": "close"}
        if "range" not in headers:
            sent = body if cut is None else body[:cut]
            return head("200 OK", {"Content-Length": str(len(body)), **tag}) + sent
        start = int(headers["range"].removeprefix("bytes=").rstrip("-"))
        shown = f"bytes {start}-{len(body) - 1}/{len(body)}"
        part = body[start:]
        extra = {"Content-Length": str(len(part)), "Content-Range": shown, **tag}
        return head("206 Partial Content", extra) + part

    return answer


async def test_an_error_body_that_goes_silent_does_not_hang(
    hostile: tuple[Bird, Store, str], tmp_path: Path
) -> None:
    _bird, store, base = hostile
    store.answers = [SilentError(), whole()]
    timeout = Timeout(connect=5, read=1.0, total=30)
    async with asyncio.timeout(HANG), client(base, timeout=timeout) as c:
        result = await c.download_recording(WS, REC, tmp_path)
    assert result.sha256 == hashlib.sha256(BODY).hexdigest()
    assert len(store.requests) == 2


async def test_a_download_without_etag_is_never_spliced(
    hostile: tuple[Bird, Store, str], tmp_path: Path
) -> None:
    _bird, store, base = hostile
    # Version 1 is cut short; meanwhile the object became version 2 (same size).
    store.answers = [versioned(BODY, cut=300_000), versioned(OTHER)]  # type: ignore[list-item]
    async with asyncio.timeout(HANG), client(base, max_retries=2) as c:
        result = await c.download_recording(WS, REC, tmp_path)
    written = (tmp_path / f"{REC}.mp3").read_bytes()
    assert written in (BODY, OTHER)  # one version whole, never two spliced
    assert result.sha256 == hashlib.sha256(written).hexdigest()
    assert "range" not in store.requests[1]  # nothing to hold a range to the same version


async def test_a_stream_without_etag_is_never_spliced(
    hostile: tuple[Bird, Store, str],
) -> None:
    _bird, store, base = hostile
    store.answers = [versioned(BODY, cut=300_000), versioned(OTHER)]  # type: ignore[list-item]
    received = bytearray()

    async def read_all() -> None:
        async with client(base, max_retries=2) as c, c.open_recording(WS, REC) as stream:
            async for chunk in stream:
                received.extend(chunk)

    async with asyncio.timeout(HANG):
        with pytest.raises(MediaChangedError, match="ETag"):
            await read_all()
    assert bytes(received) == BODY[: len(received)]  # only version 1's bytes were handed on


def close_delimited(body: bytes, cut: int | None = None) -> object:
    """A whole answer with neither ``Content-Length`` nor chunks: it ends when it closes."""

    def answer(_headers: dict[str, str]) -> bytes:
        sent = body if cut is None else body[:cut]
        return head("200 OK", {"ETag": '"v1"', "Connection": "close"}) + sent

    return answer


async def test_a_body_that_ends_only_when_it_closes_is_not_a_whole_file(
    hostile: tuple[Bird, Store, str], tmp_path: Path
) -> None:
    _bird, store, base = hostile
    store.answers = [close_delimited(BODY, cut=300_000)]  # type: ignore[list-item]
    async with asyncio.timeout(HANG), client(base, max_retries=1) as c:
        with pytest.raises(MediaError, match="Content-Length"):
            await c.download_recording(WS, REC, tmp_path)
    assert not (tmp_path / f"{REC}.mp3").exists()  # a cut body never at the final name


def test_judge_refuses_a_whole_answer_that_does_not_say_where_it_ends() -> None:
    assert judge(200, {"ETag": '"a"'}, offset=0, etag=None, size=None).action == "fail"
    chunked = {"ETag": '"a"', "Transfer-Encoding": "chunked"}
    assert judge(200, chunked, offset=0, etag=None, size=None).action == "read"


async def test_a_session_middleware_never_reaches_the_object_store(
    hostile: tuple[Bird, Store, str], tmp_path: Path
) -> None:
    import aiohttp

    _bird, store, base = hostile
    store.answers = [whole()]

    async def sign(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        request.headers.setdefault("Authorization", "Bearer user-token")
        return await handler(request)

    async with (
        asyncio.timeout(HANG),
        aiohttp.ClientSession(middlewares=(sign,)) as session,
        client(base, session=session) as c,
    ):
        result = await c.download_recording(WS, REC, tmp_path)
    assert result.sha256 == hashlib.sha256(BODY).hexdigest()
    assert [r.get("authorization") for r in store.requests] == [None]


async def test_a_weak_etag_does_not_hold_a_resume_to_the_same_bytes(
    hostile: tuple[Bird, Store, str], tmp_path: Path
) -> None:
    _bird, store, base = hostile
    # A weak ETag names equivalent content, not the same bytes: If-Range cannot use it.
    store.answers = [versioned(BODY, 'W/"v1"', 300_000), versioned(OTHER, 'W/"v1"')]  # type: ignore[list-item]
    async with asyncio.timeout(HANG), client(base, max_retries=2) as c:
        await c.download_recording(WS, REC, tmp_path)
    assert (tmp_path / f"{REC}.mp3").read_bytes() in (BODY, OTHER)
    assert "range" not in store.requests[1]
