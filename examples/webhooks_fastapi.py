"""Bird's call webhooks in FastAPI: verify_signature and parse_event, no aiohttp receiver."""

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

from asyncsdk.webhooks import (
    REQUEST_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    CallEvent,
    InvalidEventError,
    MissingHeaderError,
    SeenDeliveries,
    WebhookError,
    parse_event,
    verify_signature,
)

MAX_BODY = 256 * 1024


def create_app() -> FastAPI:
    signing_key = os.environ["BIRD_WEBHOOK_SIGNING_KEY"]
    # Scheme and host Bird calls; behind a proxy the app sees another URL.
    public_url = os.environ.get("BIRD_WEBHOOK_PUBLIC_URL")
    events: asyncio.Queue[CallEvent] = asyncio.Queue(maxsize=1000)
    seen = SeenDeliveries()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.events = events  # a worker elsewhere takes events from here
        yield

    app = FastAPI(lifespan=lifespan)

    @app.post("/bird/voice")
    async def voice(request: Request) -> Response:
        if int(request.headers.get("content-length") or 0) > MAX_BODY:
            return Response("too large", status_code=413)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return Response("too large", status_code=413)
        # The URL Bird called, as it signed it: the raw path and query, still
        # percent-encoded (request.url.path is decoded), after the public origin.
        target = request.scope["raw_path"]
        if request.scope["query_string"]:
            target += b"?" + request.scope["query_string"]
        origin = public_url or f"{request.url.scheme}://{request.url.netloc}"
        url = origin + target.decode("utf-8", "surrogateescape")
        try:
            verify_signature(
                signing_key,
                signature=request.headers.get(SIGNATURE_HEADER),
                timestamp=request.headers.get(TIMESTAMP_HEADER),
                url=url,
                body=bytes(body),
            )
        except MissingHeaderError as exc:
            return Response(str(exc), status_code=400)
        except WebhookError:
            return Response("unauthorized", status_code=401)  # no detail for a forger
        # A repeat has the id of a delivery accepted before (Bird's retries) or its
        # signature (the id is not signed: a replay with a fresh id keeps the signature).
        request_id = request.headers.get(REQUEST_ID_HEADER)
        keys = [key for key in (request_id, request.headers[SIGNATURE_HEADER]) if key]
        if any(key in seen for key in keys):
            return Response("duplicate")  # 2xx, or Bird retries it for 8 hours
        try:
            event = parse_event(bytes(body), request_id=request_id)
        except InvalidEventError as exc:
            return Response(str(exc), status_code=400)
        try:
            events.put_nowait(event)
        except asyncio.QueueFull:
            return Response("busy", status_code=503, headers={"Retry-After": "5"})
        for key in keys:  # only once the event is handed on
            seen.add(key)
        return Response("ok")

    return app


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(create_app(), port=8090)
