"""What a failure looks like, and which ones to handle."""

import asyncio
import logging
import os
import uuid

import asyncsdk

log = logging.getLogger(__name__)


async def call_or_none(
    client: asyncsdk.Client, workspace_id: str, channel_id: str, call_id: str
) -> asyncsdk.Call | None:
    """Return the call, None if it does not exist; let every other failure through."""
    try:
        return await client.get_call(workspace_id, channel_id, call_id)
    except asyncsdk.NotFoundError:
        return None
    except asyncsdk.RateLimitError as exc:
        # Retries are spent, or the server asked to wait longer than max_retry_after.
        log.warning("throttled, retry after %s s (request %s)", exc.retry_after, exc.request_id)
        raise


async def main() -> None:
    workspace_id = os.environ["BIRD_WORKSPACE_ID"]
    channel_id = os.environ["BIRD_CHANNEL_ID"]

    async with asyncsdk.Client() as client:
        print(await call_or_none(client, workspace_id, channel_id, str(uuid.uuid4())))

        try:
            await client.get_call(workspace_id, channel_id, str(uuid.uuid4()))
        except asyncsdk.APIError as exc:  # every status error carries the same context
            print(type(exc).__name__, exc.status, exc.code, exc.request_id, exc.attempts)
            print(exc)  # one log line: message, method, URL (never the credential)

        try:
            await client.get_call(workspace_id, channel_id, "12345")
        except asyncsdk.InvalidIDError as exc:  # raised before anything is sent
            print(type(exc).__name__, exc.name, repr(exc.value))

        try:
            await client.get_call(workspace_id, channel_id, os.environ["BIRD_CALL_ID"])
        except asyncsdk.BirdError as exc:  # the root of everything the SDK raises
            print("failed:", exc)
        else:
            print("fetched")


if __name__ == "__main__":
    asyncio.run(main())
