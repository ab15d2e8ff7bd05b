"""Feed iter_calls from an asyncio.Queue, drain it, and account for every ID."""

import asyncio
import contextlib
import os

import asyncsdk


async def main() -> None:
    workspace_id = os.environ["BIRD_WORKSPACE_ID"]
    channel_id = os.environ["BIRD_CHANNEL_ID"]
    ids = os.environ["BIRD_CALL_IDS"].split()
    queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=100)
    queued = 0

    async def producer() -> None:
        nonlocal queued
        for call_id in ids:
            await queue.put(call_id)
            queued += 1
        await queue.put(None)  # ends the stream (on Python 3.13+: queue.shutdown())

    async with asyncsdk.Client() as client:
        feeding = asyncio.create_task(producer())
        stream = asyncsdk.iter_calls(client, workspace_id, channel_id, queue, concurrency=4)
        try:
            async with stream:
                async for result in stream:
                    print(f"#{result.index} {'ok' if result.ok else type(result.error).__name__}")
                    if result.index == 4:
                        stream.drain()  # stop taking IDs; those in flight still come
        finally:
            # The stream takes no more IDs: stop feeding it too. A producer waiting on
            # a full queue would otherwise wait for ever.
            feeding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeding
        # Nothing is lost silently: after a cancellation or an early exit, the
        # leftovers hold the results not consumed and the IDs never resolved.
        left = stream.leftovers
        print(f"left over: {len(left.results)} results, {len(left.unfinished)} unfinished")
        print(f"still queued: {queue.qsize()}")
        print(f"never queued: {len(ids) - queued}")


if __name__ == "__main__":
    asyncio.run(main())
