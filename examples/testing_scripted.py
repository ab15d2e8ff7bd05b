"""Scripted answers: make one call fail exactly the way a test needs."""

import asyncio

import asyncsdk
from asyncsdk.server import EmbeddedServer, ScriptedResponse, ServerConfig

ACCESS_KEY = "test-key"


async def main() -> None:
    async with EmbeddedServer(ServerConfig(access_keys=(ACCESS_KEY,))) as server:
        workspace_id = server.dataset.workspace_id
        channel_id = server.dataset.channel_id
        call_id = server.dataset.call_ids[0]
        async with asyncsdk.Client(
            access_key=ACCESS_KEY,
            base_url=server.base_url,
            retry_policy=asyncsdk.RetryPolicy(initial_backoff=0.01),
        ) as client:
            # The next three requests for this call: a 503, a reset connection, then a
            # 429 that asks for no wait. After the script runs out: the normal answer.
            server.script(
                call_id,
                ScriptedResponse(status=503),
                ScriptedResponse(action="reset"),
                ScriptedResponse(status=429, headers={"Retry-After": "0"}),
            )
            call = await client.get_call(workspace_id, channel_id, call_id)
            assert call.id == call_id
            print("retries:", dict(client.stats.retries_by_reason))

            # A 404 is not retried.
            server.script(call_id, ScriptedResponse(status=404))
            try:
                await client.get_call(workspace_id, channel_id, call_id)
            except asyncsdk.NotFoundError as exc:
                print("404:", exc.code, exc.attempts)

            # A body of your own: here one the SDK must refuse.
            body = f'{{"id": "{call_id}", "duration": "long"}}'.encode()
            server.script(call_id, ScriptedResponse(status=200, body=body))
            try:
                await client.get_call(workspace_id, channel_id, call_id)
            except asyncsdk.DecodeError as exc:
                print("decode error at", exc.path)

        # Every request the server received, in order: assert on what your code sent.
        first = server.requests[0]
        print(
            first.method, first.headers["Authorization"].split()[0], first.call_id == str(call_id)
        )
        print("scripted answers:", server.stats.scripted)


if __name__ == "__main__":
    asyncio.run(main())
