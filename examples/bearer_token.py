"""Authenticate with a JWT instead of an access key."""

import asyncio
import os

import asyncsdk


async def main() -> None:
    # Sent as "Authorization: Bearer <token>". Pass exactly one credential.
    async with asyncsdk.Client(bearer_token=os.environ["BIRD_BEARER_TOKEN"]) as client:
        call = await client.get_call(
            os.environ["BIRD_WORKSPACE_ID"],
            os.environ["BIRD_CHANNEL_ID"],
            os.environ["BIRD_CALL_ID"],
        )
        print(client, call.id)


if __name__ == "__main__":
    asyncio.run(main())
