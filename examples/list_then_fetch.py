"""Find the IDs of a time window's calls, then fetch each call's details."""

import asyncio
import datetime as dt
import os

import asyncsdk


async def main() -> None:
    workspace_id = os.environ["BIRD_WORKSPACE_ID"]
    channel_id = os.environ["BIRD_CHANNEL_ID"]
    since = dt.datetime.fromisoformat(os.environ["BIRD_SINCE"])  # timezone-aware
    until = dt.datetime.fromisoformat(os.environ["BIRD_UNTIL"])

    async with asyncsdk.Client() as client:
        listed = client.list_calls(workspace_id, channel_id, start_at=since, end_at=until)
        ids = [call.id async for call in listed]
        details = await asyncsdk.gather_calls(client, workspace_id, channel_id, ids)
    fetched = [d for d in details if isinstance(d, asyncsdk.Call)]
    print(f"{len(ids)} calls listed, {len(fetched)} fetched")


if __name__ == "__main__":
    asyncio.run(main())
