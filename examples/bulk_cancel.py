"""Bound a bulk fetch in time, or stop it at the first failure."""

import asyncio
import os

import asyncsdk


async def main() -> None:
    workspace_id = os.environ["BIRD_WORKSPACE_ID"]
    channel_id = os.environ["BIRD_CHANNEL_ID"]
    call_ids = os.environ["BIRD_CALL_IDS"].split()

    async with asyncsdk.Client() as client:
        # A time limit for the whole batch: on expiry every request in flight is
        # cancelled and TimeoutError raised; the client stays usable.
        try:
            async with asyncio.timeout(60):
                results = await asyncsdk.gather_calls(client, workspace_id, channel_id, call_ids)
            print(len(results), "outcomes")
        except TimeoutError:
            print("gave up after 60 s")

        # fail_fast: raise the first error and cancel the rest.
        try:
            await asyncsdk.gather_calls(client, workspace_id, channel_id, call_ids, fail_fast=True)
            print("all fetched")
        except asyncsdk.BirdError as exc:
            print("stopped at the first failure:", type(exc).__name__)


if __name__ == "__main__":
    asyncio.run(main())
