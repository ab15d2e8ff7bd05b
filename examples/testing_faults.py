"""A seeded, rate-limited, faulty server: the client must still fetch every call."""

import asyncio

import asyncsdk
from asyncsdk.server import Dataset, EmbeddedServer, Faults, ServerConfig

ACCESS_KEY = "test-key"


async def main() -> None:
    config = ServerConfig(
        access_keys=(ACCESS_KEY,),
        rate_limit=500.0,  # requests/s; past it: 429 with Retry-After
        latency=0.002,  # seconds added to every answer
        faults=Faults(error_503=0.05, error_502_html=0.02, reset=0.01),
        seed=42,  # the same seed and requests give the same faults
    )
    dataset = Dataset(size=200, seed=1)  # the same size and seed give the same calls
    async with EmbeddedServer(config, dataset=dataset) as server:
        async with asyncsdk.Client(
            access_key=ACCESS_KEY,
            base_url=server.base_url,
            # Short waits keep tests fast; the rules stay the same.
            retry_policy=asyncsdk.RetryPolicy(initial_backoff=0.01, max_backoff=0.1),
        ) as client:
            results = await asyncsdk.gather_calls(
                client, dataset.workspace_id, dataset.channel_id, dataset.call_ids
            )

        assert all(isinstance(r, asyncsdk.Call) for r in results)
        first = dataset.call_ids[0]
        assert results[0] == dataset.call(first)  # what the server sent, decoded
        print("faults injected:", {k: n for k, n in server.stats.faults.items() if n})
        print("client retries:", dict(client.stats.retries_by_reason))


if __name__ == "__main__":
    asyncio.run(main())
