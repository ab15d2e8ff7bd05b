"""get_call end to end: the real Client against the embedded server over loopback HTTP."""

from __future__ import annotations

import asyncio

import pytest

from asyncsdk import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    Call,
    Client,
    NotFoundError,
    ResponseTooLargeError,
    ServerError,
    Timeout,
)
from asyncsdk.server import EmbeddedServer, ScriptedResponse

from ._support import ACCESS_KEY, fixture_bytes, refused_port


def ids(server: EmbeddedServer, index: int = 0) -> tuple[object, object, object]:
    ds = server.dataset
    return ds.workspace_id, ds.channel_id, ds.call_ids[index]


async def test_fetched_calls_equal_the_served_data(client: Client, server: EmbeddedServer) -> None:
    for index in range(0, 1000, 97):
        ws, ch, call_id = ids(server, index)
        call = await client.get_call(ws, ch, call_id)
        assert isinstance(call, Call)
        assert call == server.dataset.call(call_id)  # type: ignore[arg-type]


async def test_thousands_of_concurrent_tasks_share_one_client(
    client: Client, server: EmbeddedServer
) -> None:
    ws, ch, _ = ids(server)
    call_ids = [server.dataset.call_ids[i % 1000] for i in range(2000)]
    calls = await asyncio.gather(*(client.get_call(ws, ch, c) for c in call_ids))
    assert [c.id for c in calls] == call_ids
    assert client.stats.succeeded == 2000 and client.stats.attempts == 2000


async def test_unknown_call_is_not_found_with_request_id(
    client: Client, server: EmbeddedServer
) -> None:
    ws, ch, _ = ids(server)
    with pytest.raises(NotFoundError) as info:
        await client.get_call(ws, ch, server.dataset.missing_call_id())
    assert info.value.code == "NotFound" and info.value.request_id


async def test_wrong_credential_is_authentication_error(server: EmbeddedServer) -> None:
    async with Client(access_key="wrong-key", base_url=server.base_url) as client:
        with pytest.raises(AuthenticationError) as info:
            await client.get_call(*ids(server))
    assert "wrong-key" not in str(info.value)
    assert server.stats.by_status == {401: 1}  # not retried


async def test_bearer_token_is_accepted(server: EmbeddedServer) -> None:
    async with Client(bearer_token="test-jwt", base_url=server.base_url) as client:
        assert isinstance(await client.get_call(*ids(server)), Call)


async def test_connection_refused_is_a_connection_error() -> None:
    with refused_port() as port:
        async with Client(
            access_key=ACCESS_KEY, base_url=f"http://127.0.0.1:{port}", max_retries=0
        ) as client:
            with pytest.raises(APIConnectionError, match="connection failed"):
                await client.get_call(
                    "0f1e2d3c-4b5a-4697-8877-665544332211",
                    "8d2e4f60-7a1b-4c3d-8e9f-0a1b2c3d4e5f",
                    "5f0c7a9e-3b1d-4c8e-9a52-1d7e0b6f2a41",
                )


@pytest.mark.parametrize(
    ("scripted", "error", "match"),
    [
        (ScriptedResponse(action="reset"), APIConnectionError, "connection failed"),
        (
            ScriptedResponse(action="truncate"),
            APIConnectionError,
            "body was cut off.*Content-Length",
        ),
        (
            ScriptedResponse(
                status=502,
                body=fixture_bytes("error_502.html"),
                headers={"Content-Type": "text/html"},
            ),
            ServerError,
            "502",
        ),
        (
            ScriptedResponse(status=302, headers={"Location": "http://127.0.0.2/steal"}),
            APIError,
            "unexpected redirect",
        ),
    ],
)
async def test_server_faults_become_typed_errors(
    server: EmbeddedServer,
    scripted: ScriptedResponse,
    error: type[Exception],
    match: str,
) -> None:
    ws, ch, call_id = ids(server)
    server.script(call_id, scripted)
    async with Client(access_key=ACCESS_KEY, base_url=server.base_url, max_retries=0) as client:
        with pytest.raises(error, match=match):
            await client.get_call(ws, ch, call_id)
    assert len(server.requests) == 1  # no hidden resend, no redirect followed


async def test_slow_response_times_out(server: EmbeddedServer) -> None:
    ws, ch, call_id = ids(server)
    server.script(call_id, ScriptedResponse(action="slow", delay=30))
    async with Client(
        access_key=ACCESS_KEY, base_url=server.base_url, timeout=0.2, max_retries=0
    ) as client:
        with pytest.raises(APITimeoutError) as info:
            await client.get_call(ws, ch, call_id)
    assert isinstance(info.value, TimeoutError)


async def test_per_call_deadline_covers_retries(server: EmbeddedServer) -> None:
    ws, ch, call_id = ids(server)
    server.script(call_id, *[ScriptedResponse(action="slow", delay=30)] * 4)
    timeout = Timeout(connect=5, read=5, total=0.15, deadline=0.4)
    async with Client(access_key=ACCESS_KEY, base_url=server.base_url, timeout=timeout) as client:
        with pytest.raises(APITimeoutError) as info:
            await client.get_call(ws, ch, call_id)
    assert info.value.attempts <= 4


async def test_oversized_body_is_refused(server: EmbeddedServer) -> None:
    ws, ch, call_id = ids(server)
    server.script(call_id, ScriptedResponse(body=b'{"id": "' + b"x" * 10_000 + b'"}'))
    async with Client(
        access_key=ACCESS_KEY, base_url=server.base_url, max_response_bytes=4096
    ) as client:
        with pytest.raises(ResponseTooLargeError):
            await client.get_call(ws, ch, call_id)
