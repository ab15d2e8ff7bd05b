"""Stream a recording into another store without touching disk (here: a multipart upload)."""

import asyncio
import hashlib
import os

import asyncsdk

PART_SIZE = 5 * 1024 * 1024  # S3's smallest multipart part


class MultipartUpload:
    """Stands for your store's upload: takes parts of PART_SIZE bytes (the last smaller)."""

    def __init__(self) -> None:
        self.parts: list[int] = []
        self.digest = hashlib.sha256()

    async def upload_part(self, data: bytes) -> None:
        self.parts.append(len(data))
        self.digest.update(data)


async def main() -> None:
    workspace_id = os.environ["BIRD_WORKSPACE_ID"]
    recording_id = os.environ["BIRD_RECORDING_IDS"].split()[0]
    upload = MultipartUpload()
    buffer = bytearray()

    async with (
        asyncsdk.Client() as client,
        client.open_recording(workspace_id, recording_id) as stream,
    ):
        # A broken body or an expired URL is resumed from the byte reached; if the
        # recording changed meanwhile, MediaChangedError says so (never two versions).
        async for chunk in stream:
            buffer += chunk
            if len(buffer) >= PART_SIZE:
                await upload.upload_part(bytes(buffer[:PART_SIZE]))
                del buffer[:PART_SIZE]
        if buffer:
            await upload.upload_part(bytes(buffer))

    print(f"{stream.received} bytes of {stream.content_type} in {len(upload.parts)} part(s)")
    print(f"sha256={upload.digest.hexdigest()[:12]} resumes={stream.resumes}")


if __name__ == "__main__":
    asyncio.run(main())
