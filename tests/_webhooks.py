"""Helpers for the webhook tests: sign and post deliveries as Bird does."""

from __future__ import annotations

import time
import uuid

import aiohttp

from asyncsdk.webhooks import (
    REQUEST_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    compute_signature,
)

from ._support import fixture_bytes

SIGNING_KEY = "test-signing-key"
BODY = fixture_bytes("webhook_voice_outbound.json")


def event_body(call_id: uuid.UUID | str | None = None, status: str = "completed") -> bytes:
    """The fixture's body for another call or status."""
    body = BODY
    if call_id is not None:
        body = body.replace(b"5f0c7a9e-3b1d-4c8e-9a52-1d7e0b6f2a41", str(call_id).encode())
    return body.replace(b'"status":"completed"', f'"status":"{status}"'.encode())


def signed_headers(
    url: str,
    body: bytes,
    *,
    key: str = SIGNING_KEY,
    request_id: str | None = None,
    timestamp: str | None = None,
) -> dict[str, str]:
    stamp = timestamp if timestamp is not None else str(int(time.time()))
    return {
        SIGNATURE_HEADER: compute_signature(key, timestamp=stamp, url=url, body=body),
        TIMESTAMP_HEADER: stamp,
        REQUEST_ID_HEADER: request_id or str(uuid.uuid4()),
        "Content-Type": "application/json",
    }


async def deliver(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes = BODY,
    *,
    signed_url: str | None = None,
    **kwargs: str,
) -> tuple[int, str, dict[str, str]]:
    """POST a signed delivery; return the status, body text and headers."""
    headers = signed_headers(signed_url or url, body, **kwargs)
    async with session.post(url, data=body, headers=headers) as resp:
        return resp.status, await resp.text(), dict(resp.headers)
