"""A hand-written archiver against the server with every media fault on: each file whole.

What the SDK's archive must do, in a few dozen lines of plain aiohttp: ask Bird for the
307, fetch the presigned URL without credentials, on 403 ask again, on a cut body resume
with ``Range`` + ``If-Range``, and start over when the object changed. The server must
let such a client finish every file, and its counters must tell what happened.
"""

from __future__ import annotations

import asyncio
import hashlib

import aiohttp

from asyncsdk.server import (
    Dataset,
    EmbeddedServer,
    MediaFaults,
    RecordingsConfig,
    ServerConfig,
)

AUTH = {"Authorization": "AccessKey test-access-key"}
#: Attempts per file before the test gives up on it (a bound, not an expectation).
MOST_ATTEMPTS = 50


async def archive_one(
    bird: aiohttp.ClientSession, store: aiohttp.ClientSession, media_url: str
) -> tuple[bytes, int]:
    """Download one recording, resuming and restarting as the faults require."""
    body = bytearray()
    etag: str | None = None
    for attempt in range(1, MOST_ATTEMPTS + 1):
        async with bird.get(media_url, allow_redirects=False) as redirect:
            assert redirect.status == 307
            location = redirect.headers["Location"]
        headers = {} if etag is None else {"Range": f"bytes={len(body)}-", "If-Range": etag}
        async with store.get(location, headers=headers) as response:
            if response.status == 403:
                continue  # expired: ask Bird again
            assert response.status in (200, 206)
            if response.status == 200:
                body.clear()  # a whole body: the first try, or the object changed
            etag = response.headers["ETag"]
            try:
                async for chunk in response.content.iter_chunked(65536):
                    body += chunk
            except aiohttp.ClientPayloadError:
                continue  # cut: resume from what arrived
            return bytes(body), attempt
    raise AssertionError(f"{media_url} did not complete in {MOST_ATTEMPTS} attempts")


async def test_every_file_completes_under_every_fault() -> None:
    faults = MediaFaults(expired=0.1, reset=0.1, replace=0.05, trickle=0.02, trickle_rate=2**22)
    recordings = RecordingsConfig(size=200_000, latency=0.001, faults=faults)
    # No rate limit: this client does not retry a 429, and 60 first requests at once
    # would overrun any burst smaller than 60 (the SDK's own archive tests cover 429s).
    config = ServerConfig(recordings=recordings, seed=7)
    async with EmbeddedServer(config, dataset=Dataset(60, seed=7)) as server:
        ws = server.dataset.workspace_id
        ids = server.recordings.listed()
        # One of each for certain, whatever the interleaving does with the drawn ones.
        for recording_id, kind in zip(ids, ("expired", "reset", "replace"), strict=False):
            server.objects.fail_next(server.recordings.media_key(recording_id), kind)
        async with (
            aiohttp.ClientSession(headers=AUTH) as bird,
            aiohttp.ClientSession() as store,
        ):
            results = await asyncio.gather(
                *(
                    archive_one(
                        bird, store, f"{server.base_url}/workspaces/{ws}/recordings/{i}.mp3"
                    )
                    for i in ids
                )
            )
        for recording_id, (body, _) in zip(ids, results, strict=True):
            key = server.recordings.media_key(recording_id)
            assert hashlib.sha256(body).hexdigest() == server.objects.sha256(key)
        stats = server.objects.stats
        assert stats.authorization_refused == 0
        assert stats.expired_refused == stats.expired_issued >= 1  # each one fetched once
        assert stats.cut >= 2 and stats.replaced >= 1 and stats.partial_bodies >= 1
        assert stats.bytes_sent >= sum(len(body) for body, _ in results)
