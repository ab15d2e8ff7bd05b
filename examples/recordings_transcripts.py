"""Read a transcription's files: text as str, the JSON as bytes (its shape is Bird's)."""

import asyncio
import json
import os

import asyncsdk


async def main() -> None:
    workspace_id = os.environ["BIRD_WORKSPACE_ID"]
    transcription_id = os.environ["BIRD_TRANSCRIPTION_ID"]

    async with asyncsdk.Client() as client:
        text = await client.get_transcript(workspace_id, transcription_id)  # "txt"
        subtitles = await client.get_transcript(workspace_id, transcription_id, "vtt")
        raw = await client.get_transcript(workspace_id, transcription_id, "json")

    print("first line:", text.splitlines()[0])
    print("vtt cues:", subtitles.count("-->"))
    document = json.loads(raw)  # undocumented shape: read only what you need, defensively
    print("json:", type(document).__name__, len(raw), "bytes")


if __name__ == "__main__":
    asyncio.run(main())
