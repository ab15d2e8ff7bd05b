"""One asyncsdk.Client for the whole lifetime of a FastAPI application."""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request, Response

import asyncsdk


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Up to `yield` runs at start-up, the rest at shutdown.
    async with asyncsdk.Client() as client:  # BIRD_ACCESS_KEY from the environment
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
        except asyncsdk.BirdError as exc:  # throttled, timed out, 5xx after retries ...
            raise HTTPException(502, type(exc).__name__) from exc
        return Response(call.to_json(), media_type="application/json")

    return app


if __name__ == "__main__":
    import uvicorn  # an ASGI server: pip install uvicorn

    uvicorn.run(create_app(), port=8000)
