"""Fetch one call and print what happened on it."""

import asyncio
import os

import asyncsdk


async def main() -> None:
    workspace_id = os.environ["BIRD_WORKSPACE_ID"]
    channel_id = os.environ["BIRD_CHANNEL_ID"]
    call_id = os.environ["BIRD_CALL_ID"]

    # The credential comes from BIRD_ACCESS_KEY (and the API root from BIRD_BASE_URL,
    # when set); pass access_key=... to give it explicitly.
    async with asyncsdk.Client() as client:
        call = await client.get_call(workspace_id, channel_id, call_id)

    print(call.id, call.status, call.from_, "->", call.to, "duration:", call.duration)
    if call.status == asyncsdk.CallStatus.COMPLETED:
        print("answered at", call.answered_at)


if __name__ == "__main__":
    asyncio.run(main())
