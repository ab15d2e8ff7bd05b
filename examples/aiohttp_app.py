"""One asyncsdk.Client for the whole lifetime of an aiohttp.web application."""

import os
from collections.abc import AsyncIterator

from aiohttp import web

import asyncsdk

BIRD = web.AppKey("bird", asyncsdk.Client)
CHANNEL = web.AppKey("channel", tuple[str, str])


async def bird_client(app: web.Application) -> AsyncIterator[None]:
    # Runs up to `yield` at start-up and the rest at shutdown: one client, one
    # connection pool and one rate limiter shared by every request handler.
    async with asyncsdk.Client() as client:  # BIRD_ACCESS_KEY from the environment
        app[BIRD] = client
        yield


async def get_call(request: web.Request) -> web.Response:
    workspace_id, channel_id = request.app[CHANNEL]
    try:
        call = await request.app[BIRD].get_call(
            workspace_id, channel_id, request.match_info["call_id"]
        )
    except asyncsdk.InvalidIDError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from exc
    except asyncsdk.NotFoundError as exc:
        raise web.HTTPNotFound(text="no such call") from exc
    except asyncsdk.BirdError as exc:  # throttled, timed out, 5xx after retries ...
        raise web.HTTPBadGateway(text=type(exc).__name__) from exc
    return web.Response(body=call.to_json(), content_type="application/json")


def create_app() -> web.Application:
    app = web.Application()
    app[CHANNEL] = (os.environ["BIRD_WORKSPACE_ID"], os.environ["BIRD_CHANNEL_ID"])
    app.cleanup_ctx.append(bird_client)
    app.router.add_get("/calls/{call_id}", get_call)
    return app


if __name__ == "__main__":
    web.run_app(create_app())
