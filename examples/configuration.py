"""A client with every setting spelled out."""

import asyncio
import dataclasses
import os

import asyncsdk


async def main() -> None:
    client = asyncsdk.Client(
        access_key=os.environ["BIRD_ACCESS_KEY"],
        base_url=os.environ.get("BIRD_BASE_URL", asyncsdk.DEFAULT_BASE_URL),
        # Seconds per phase of one attempt; `deadline` bounds one get_call across
        # all of its attempts and the waits between them.
        timeout=asyncsdk.Timeout(connect=5, read=10, total=10, deadline=30),
        # At most 100 requests/s, 2 back to back; still slows down if the server throttles.
        rate_limit=asyncsdk.RateLimit(rate=100, burst=2),
        # Up to 5 retries, waiting up to 0.2 s, 0.4 s, 0.8 s ... (capped at 4 s).
        retry_policy=asyncsdk.RetryPolicy(max_retries=5, initial_backoff=0.2, max_backoff=4),
        max_connections=20,
        max_response_bytes=1024 * 1024,
    )
    print(client)  # the credential never appears in repr, logs or errors

    async with client:
        call = await client.get_call(
            os.environ["BIRD_WORKSPACE_ID"],
            os.environ["BIRD_CHANNEL_ID"],
            os.environ["BIRD_CALL_ID"],
        )
    print(call.id, call.status)
    print("attempts:", client.stats.attempts, "retries:", client.stats.retries)

    # Settings are frozen; derive a variant with dataclasses.replace.
    quick = dataclasses.replace(client.timeout, total=2.0, deadline=5.0)
    print(quick)


if __name__ == "__main__":
    asyncio.run(main())
