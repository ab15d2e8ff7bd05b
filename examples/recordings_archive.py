"""Archive recordings to disk: each file whole or not at all, checked, resumable."""

import asyncio
import os
from pathlib import Path

import asyncsdk

ARCHIVE = Path("recordings")


async def main() -> None:
    workspace_id = os.environ["BIRD_WORKSPACE_ID"]
    recording_ids = os.environ["BIRD_RECORDING_IDS"].split()
    os.makedirs(ARCHIVE, exist_ok=True)

    # At most max_media_transfers downloads read from the object store at once; the
    # request to Bird before each is paced by the client's rate limiter.
    async with asyncsdk.Client(max_media_transfers=4) as client:
        results = await asyncio.gather(
            *(client.download_recording(workspace_id, rid, ARCHIVE) for rid in recording_ids),
            return_exceptions=True,
        )

    for rid, result in zip(recording_ids, results, strict=True):
        if isinstance(result, asyncsdk.DownloadResult):
            print(f"{result.path.name} {result.size} bytes sha256={result.sha256[:12]}")
        else:  # a recording without media is a NotFoundError; nothing is left on disk
            print(f"{rid}: {type(result).__name__}")


if __name__ == "__main__":
    asyncio.run(main())
