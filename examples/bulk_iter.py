"""Stream results as they complete, from a source that produces IDs over time."""

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

import asyncsdk

PAGE = 50


async def call_ids() -> AsyncIterator[str]:
    """Stands in for a database cursor or a queue: IDs arrive a page at a time."""
    ids = os.environ["BIRD_CALL_IDS"].split()
    for start in range(0, len(ids), PAGE):
        await asyncio.sleep(0)  # a real source awaits its next page here
        for call_id in ids[start : start + PAGE]:
            yield call_id


async def main() -> None:
    workspace_id = os.environ["BIRD_WORKSPACE_ID"]
    channel_id = os.environ["BIRD_CHANNEL_ID"]
    fetched = 0
    async with asyncsdk.Client() as client:
        results = asyncsdk.iter_calls(client, workspace_id, channel_id, call_ids(), concurrency=8)
        # aclosing: leaving the loop early cancels the requests still in flight, now.
        async with contextlib.aclosing(results):
            async for result in results:
                if result.call is not None:
                    fetched += 1
                    print(result.call.to_json().decode()[:50], "...")
                elif isinstance(result.error, asyncsdk.AuthenticationError):
                    print("credential refused; stopping")
                    break
                else:
                    print(f"#{result.index} {result.call_id}: {type(result.error).__name__}")
    print(f"{fetched} calls fetched")


if __name__ == "__main__":
    asyncio.run(main())
