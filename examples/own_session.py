"""Send through an aiohttp.ClientSession your application already has."""

import asyncio
import os

import aiohttp

import asyncsdk


async def main() -> None:
    async with aiohttp.ClientSession() as session:
        # The client uses your session's connection pool; its own timeouts, limits,
        # retries and no-redirect rule still apply to every request it sends.
        async with asyncsdk.Client(session=session) as client:
            call = await client.get_call(
                os.environ["BIRD_WORKSPACE_ID"],
                os.environ["BIRD_CHANNEL_ID"],
                os.environ["BIRD_CALL_ID"],
            )
        print(call.id, call.status)
        print("session still open:", not session.closed)  # closing it stays your job


if __name__ == "__main__":
    asyncio.run(main())
