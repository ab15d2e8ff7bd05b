"""A recording behind a 307: presigned, cut mid-body by the object store, resumed by range."""

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

ACCESS_KEY = "test-key"


async def main() -> None:
    config = ServerConfig(
        access_keys=(ACCESS_KEY,),
        rate_limit=50.0,  # recordings count against the workspace's GET quota
        recordings=RecordingsConfig(
            size=2_000_000,  # bytes of every mp3
            url_ttl=600,  # seconds a presigned URL is valid
            # Shares of URLs handed out expired and of bodies cut; none here, since
            # fail_next below cuts one body exactly where the test wants it.
            faults=MediaFaults(expired=0.0, reset=0.0),
        ),
    )
    async with EmbeddedServer(config, dataset=Dataset(size=20, seed=1)) as server:
        recording_id = server.recordings.recording_id(0)
        key = server.recordings.media_key(0)  # "recordings/<id>.mp3"
        server.objects.fail_next(key, "reset", after=500_000)  # cut the next body
        ws = server.dataset.workspace_id
        media = f"{server.base_url}/workspaces/{ws}/recordings/{recording_id}.mp3"

        bird = aiohttp.ClientSession(headers={"Authorization": f"AccessKey {ACCESS_KEY}"})
        store = aiohttp.ClientSession()  # the object store never sees the access key
        async with bird, store:
            async with bird.get(media, allow_redirects=False) as redirect:
                location = redirect.headers["Location"]  # presigned, expiring
            print(
                "redirect:",
                redirect.status,
                "to the object store:",
                location.startswith(server.objects.base_url),
            )
            body = bytearray()
            async with store.get(location) as response:
                etag = response.headers["ETag"]
                try:
                    async for chunk in response.content.iter_chunked(65536):
                        body += chunk
                except aiohttp.ClientPayloadError:
                    print("cut after", len(body), "bytes")
            ranged = {"Range": f"bytes={len(body)}-", "If-Range": etag}
            async with store.get(location, headers=ranged) as response:
                print("resumed:", response.status, response.headers["Content-Range"])
                body += await response.read()

        assert hashlib.sha256(body).hexdigest() == server.objects.sha256(key)
        stats = server.objects.stats
        print("complete:", len(body), "bytes, sha256 checked")
        print(
            "store: 206s",
            stats.partial_bodies,
            "cut",
            stats.cut,
            "auth refused",
            stats.authorization_refused,
        )


if __name__ == "__main__":
    asyncio.run(main())
