"""Fetch many calls at once: one outcome per ID, in the order given."""

import asyncio
import os

import asyncsdk


def report(done: int, total: int) -> None:
    if done == total or done % 100 == 0:
        print(f"progress: {done}/{total}")


async def main() -> None:
    workspace_id = os.environ["BIRD_WORKSPACE_ID"]
    channel_id = os.environ["BIRD_CHANNEL_ID"]
    call_ids = os.environ["BIRD_CALL_IDS"].split()

    async with asyncsdk.Client() as client:
        results = await asyncsdk.gather_calls(
            client, workspace_id, channel_id, call_ids, concurrency=16, progress=report
        )

    calls = [r for r in results if isinstance(r, asyncsdk.Call)]
    failures = [
        (call_id, r)
        for call_id, r in zip(call_ids, results, strict=True)
        if isinstance(r, asyncsdk.BirdError)
    ]
    print(f"{len(calls)} fetched, {len(failures)} failed")
    for call_id, error in failures:
        print(f"  {call_id}: {type(error).__name__}")


if __name__ == "__main__":
    asyncio.run(main())
