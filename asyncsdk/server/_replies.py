"""Answers of the embedded server: error bodies, and sending a planned `Reply`.

A `Reply` says what to send and how (respond, reset the connection, truncate the
body); `send` carries it out on an aiohttp request. Bodies follow the API's error
shape, ``{"code": ..., "message": ...}``.

Imports: aiohttp and the standard library.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Literal

from aiohttp import web

__all__ = [
    "BAD_GATEWAY_HTML",
    "JSON_TYPE",
    "Reply",
    "error_body",
    "error_reply",
    "path_id_refusal",
    "send",
]

#: Content type of every JSON answer.
JSON_TYPE = "application/json"
#: The page a proxy sends with a 502: HTML, not JSON.
BAD_GATEWAY_HTML = (
    b"<html><head><title>502 Bad Gateway</title></head><body><center>"
    b"<h1>502 Bad Gateway</h1></center></body></html>"
)
#: The API's error code for each status it answers with.
_CODES: Mapping[int, str] = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    422: "InvalidParameter",
    429: "TooManyRequests",
    500: "InternalError",
    502: "BadGateway",
    503: "ServiceUnavailable",
}

_UUID_TEXT_LENGTH = 36

ReplyAction = Literal["respond", "reset", "truncate"]


def error_body(status: int, message: str, details: Mapping[str, list[str]] | None = None) -> bytes:
    """Return the API's JSON error body for ``status``, with ``details`` if given."""
    try:
        default_code = HTTPStatus(status).phrase.replace(" ", "")
    except ValueError:
        default_code = "Error"
    problem: dict[str, object] = {"code": _CODES.get(status, default_code), "message": message}
    if details is not None:
        problem["details"] = dict(details)
    return json.dumps(problem).encode()


@dataclass(slots=True)
class Reply:
    """What to answer one request with.

    Attributes:
        status: HTTP status.
        body: Response body.
        headers: Response headers (``Content-Type`` included).
        action: ``"respond"`` sends everything; ``"reset"`` aborts the connection
            without a byte; ``"truncate"`` sends the headers with the full
            ``Content-Length``, half the body, then closes the connection.
        delay: Seconds to wait before acting.
        fault: The injected fault kind that produced this reply, if any.
    """

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": JSON_TYPE})
    action: ReplyAction = "respond"
    delay: float = 0.0
    fault: str | None = None


def error_reply(status: int, message: str, details: Mapping[str, list[str]] | None = None) -> Reply:
    """Return a JSON error `Reply`."""
    return Reply(status, error_body(status, message, details))


def path_id_refusal(ids: Mapping[str, str], names: Iterable[str]) -> Reply | None:
    """Return the 422 for the path ids among ``names`` that are not UUIDs, or ``None``."""
    bad = []
    for name in names:
        text = ids[name]
        try:
            if len(text) != _UUID_TEXT_LENGTH:
                raise ValueError(text)
            uuid.UUID(text)
        except ValueError:
            bad.append(name)
    if not bad:
        return None
    details = {name: ["must be a valid UUID"] for name in bad}
    return error_reply(422, f"{bad[0]} must be a UUID", details)


async def send(request: web.Request, reply: Reply, request_id: str) -> web.StreamResponse:
    """Carry out ``reply`` on ``request`` (after its delay, which the caller has slept).

    Returns:
        The response for aiohttp to finish; after a reset or truncation its connection
        is already closed.
    """
    transport = request.transport
    if reply.action == "reset":
        if transport is not None:
            transport.abort()
        return web.Response(status=reply.status)
    headers = {**reply.headers, "X-Request-Id": request_id}
    if reply.action == "respond":
        return web.Response(status=reply.status, body=reply.body, headers=headers)
    response = web.StreamResponse(status=reply.status, headers=headers)
    response.content_length = len(reply.body)
    await response.prepare(request)
    await response.write(reply.body[: len(reply.body) // 2])
    if transport is not None:
        transport.close()  # flushes what was written, then closes
    return response
