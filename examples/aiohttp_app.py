"""One asyncsdk.Client for the whole lifetime of an aiohttp.web application.

Load shedding: when requests come in faster than the Bird API's rate limit lets them
out, waiting in the client's limiter queue would grow every response's latency without
bound. ``Timeout(limiter_wait=0.5)`` refuses at once the calls that would wait longer,
and the handler answers those 503 with ``Retry-After``: the service stays fast for the
requests it can serve.
"""

import os
from collections.abc import AsyncIterator

from aiohttp import web

import asyncsdk

BIRD = web.AppKey("bird", asyncsdk.Client)
CHANNEL = web.AppKey("channel", tuple[str, str])


async def bird_client(app: web.Application) -> AsyncIterator[None]:
    # Runs up to `yield` at start-up and the rest at shutdown: one client, one
    # connection pool and one rate limiter shared by every request handler.
    timeout = asyncsdk.Timeout(total=10, limiter_wait=0.5, deadline=5)
    async with asyncsdk.Client(timeout=timeout) as client:  # BIRD_ACCESS_KEY from the env
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
    except asyncsdk.LimiterTimeoutError as exc:  # shed: over the rate limit's capacity
        raise web.HTTPServiceUnavailable(text="busy", headers={"Retry-After": "1"}) from exc
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
