"""Receive Bird's call webhooks with aiohttp and fetch each finished call's details."""

import asyncio
import os
from collections.abc import AsyncIterator

from aiohttp import web

import asyncsdk
from asyncsdk.webhooks import CallEvent, enrich_events, webhook_handler

EVENTS = web.AppKey("events", asyncio.Queue[CallEvent | None])


async def process(queue: asyncio.Queue[CallEvent | None]) -> None:
    """The consumer: one fetch per finished call, whatever the number of events naming it."""
    async with asyncsdk.Client() as client:  # BIRD_ACCESS_KEY from the environment
        stream = enrich_events(
            client,
            queue,
            workspace_id=os.environ["BIRD_WORKSPACE_ID"],  # events do not carry it
            channel_id=os.environ.get("BIRD_CHANNEL_ID"),  # for payloads without channelId
        )
        try:
            async with stream:
                async for event, call in stream:
                    if isinstance(call, asyncsdk.Call):
                        print(f"{call.id} {call.status} after {call.duration}s ({event.event})")
                    else:
                        print(f"{event.call_id} not fetched: {type(call).__name__}")
        except asyncsdk.RunStoppedError as exc:
            # No fetch could succeed (the API unreachable, the key refused): stopped at
            # the first failure instead of failing every event. The events not read are
            # still in the queue; stream.leftovers holds those taken.
            print(f"enrichment stopped: {exc.reason} ({len(stream.leftovers)} events taken)")
            raise


async def pipeline(app: web.Application) -> AsyncIterator[None]:
    worker = asyncio.create_task(process(app[EVENTS]))
    yield
    # Shutting down: the port is closed, so nothing new is acknowledged. Let the
    # worker finish every event already acknowledged, then stop. If the worker has
    # failed, the queue may be full for good: stop waiting for the end to fit in.
    end = asyncio.create_task(app[EVENTS].put(None))
    await asyncio.wait([end, worker], return_when=asyncio.FIRST_EXCEPTION)
    end.cancel()
    await worker  # the worker's error, if it failed, is the app's cleanup error


def create_app() -> web.Application:
    # A bounded queue is the backpressure: when it is full the receiver answers 503
    # and Bird delivers the event again later. Nothing acknowledged is dropped.
    queue: asyncio.Queue[CallEvent | None] = asyncio.Queue(maxsize=1000)
    app = web.Application()
    app[EVENTS] = queue
    handler = webhook_handler(
        os.environ["BIRD_WEBHOOK_SIGNING_KEY"],  # or a list of keys during a rotation
        queue,
        # The URL Bird calls, when a proxy or load balancer sits in front of this app:
        public_url=os.environ.get("BIRD_WEBHOOK_PUBLIC_URL"),
    )
    app.router.add_post("/bird/voice", handler)
    app.cleanup_ctx.append(pipeline)
    return app


if __name__ == "__main__":
    web.run_app(create_app(), port=8090)
