"""One asyncsdk.Client for the whole lifetime of a FastAPI application.

Load shedding, as in the aiohttp example: when requests come in faster than the Bird
API's rate limit lets them out, waiting in the client's limiter queue would grow every
response's latency without bound. ``Timeout(limiter_wait=0.5)`` refuses at once the
calls that would wait longer, and the handler answers those 503 with ``Retry-After``:
the service stays fast for the requests it can serve.
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request, Response

import asyncsdk


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Up to `yield` runs at start-up, the rest at shutdown: one client, one connection
    # pool and one rate limiter shared by every request handler.
    timeout = asyncsdk.Timeout(total=10, limiter_wait=0.5, deadline=5)
    async with asyncsdk.Client(timeout=timeout) as client:  # BIRD_ACCESS_KEY from the env
        app.state.bird = client
        yield


def bird_client(request: Request) -> asyncsdk.Client:
    client: asyncsdk.Client = request.app.state.bird
    return client


Bird = Annotated[asyncsdk.Client, Depends(bird_client)]


def create_app() -> FastAPI:
    app = FastAPI(lifespan=lifespan)
    workspace_id = os.environ["BIRD_WORKSPACE_ID"]
    channel_id = os.environ["BIRD_CHANNEL_ID"]

    @app.get("/calls/{call_id}")
    async def get_call(call_id: str, client: Bird) -> Response:
        try:
            call = await client.get_call(workspace_id, channel_id, call_id)
        except asyncsdk.InvalidIDError as exc:
            raise HTTPException(400, str(exc)) from exc
        except asyncsdk.NotFoundError as exc:
            raise HTTPException(404, "no such call") from exc
        except asyncsdk.LimiterTimeoutError as exc:  # shed: over the rate limit's capacity
            raise HTTPException(503, "busy", headers={"Retry-After": "1"}) from exc
        except asyncsdk.BirdError as exc:  # throttled, timed out, 5xx after retries ...
            raise HTTPException(502, type(exc).__name__) from exc
        return Response(call.to_json(), media_type="application/json")

    return app


if __name__ == "__main__":
    import uvicorn  # an ASGI server: pip install uvicorn

    uvicorn.run(create_app(), port=8000)
