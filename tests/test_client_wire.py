"""Exact wire behaviour of get_call, asserted with aioresponses (no network)."""

from __future__ import annotations

import asyncio
import logging
import re

import aiohttp
import pytest
from yarl import URL

from asyncsdk import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    Client,
    ConflictError,
    DecodeError,
    InvalidIDError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseTooLargeError,
    ServerError,
    UnprocessableEntityError,
)

from ._aioresponses_compat import MockAPI
from ._support import ACCESS_KEY, CALL, CALL_URL, CHANNEL, MOCK_BASE, WORKSPACE, fixture_bytes


async def test_request_is_one_bare_get_with_auth_and_no_redirects(
    mock_api: MockAPI, mock_client: Client
) -> None:
    mock_api.get(CALL_URL, body=fixture_bytes("call_realistic.json"))
    call = await mock_client.get_call(WORKSPACE, CHANNEL, CALL)
    assert call.id == CALL
    [(key, calls)] = mock_api.requests.items()
    assert key == ("GET", URL(CALL_URL))
    [request] = calls
    headers = request.kwargs["headers"]
    assert headers["Authorization"] == f"AccessKey {ACCESS_KEY}"
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"].startswith("asyncsdk/")
    assert request.kwargs["allow_redirects"] is False
    assert request.kwargs.get("data") is None and request.kwargs.get("json") is None


async def test_bearer_token_scheme(mock_api: MockAPI) -> None:
    mock_api.get(CALL_URL, body=fixture_bytes("call_minimal.json"))
    async with Client(bearer_token="jwt.token.sig", base_url=MOCK_BASE) as client:
        await client.get_call(WORKSPACE, CHANNEL, CALL)
    [[request]] = mock_api.requests.values()
    assert request.kwargs["headers"]["Authorization"] == "Bearer jwt.token.sig"


async def test_ids_are_sent_canonical_whatever_their_form(
    mock_api: MockAPI, mock_client: Client
) -> None:
    mock_api.get(CALL_URL, body=fixture_bytes("call_minimal.json"))
    await mock_client.get_call(str(WORKSPACE).upper(), CHANNEL.hex, "{" + str(CALL) + "}")
    assert list(mock_api.requests) == [("GET", URL(CALL_URL))]


@pytest.mark.parametrize("suffix", ["/bird", "/bird/", "/a/b%20c"])
async def test_a_base_url_path_prefixes_the_request_path(mock_api: MockAPI, suffix: str) -> None:
    """A gateway path on the base URL is kept, as written, in front of the API path."""
    base = MOCK_BASE + suffix
    expected = base.rstrip("/") + CALL_URL.removeprefix(MOCK_BASE)
    mock_api.get(expected, body=fixture_bytes("call_minimal.json"))
    async with Client(access_key=ACCESS_KEY, base_url=base) as client:
        await client.get_call(WORKSPACE, CHANNEL, CALL)
    [(_, url)] = mock_api.requests
    assert url == URL(expected, encoded=True)
    assert str(url) == expected


async def test_validated_prefix_is_reused_but_never_trusted_blindly(
    mock_api: MockAPI, mock_client: Client
) -> None:
    """The workspace/channel prefix is cached per object; other objects are validated."""
    mock_api.get(CALL_URL, body=fixture_bytes("call_minimal.json"), repeat=True)
    ws, ch = str(WORKSPACE), str(CHANNEL)
    await mock_client.get_call(ws, ch, CALL)
    await mock_client.get_call(ws, ch, CALL)  # same objects: cached prefix
    await mock_client.get_call(WORKSPACE, CHANNEL, CALL)  # equal IDs, other objects
    with pytest.raises(InvalidIDError, match="workspace_id"):
        await mock_client.get_call(None, None, CALL)  # type: ignore[arg-type]
    with pytest.raises(InvalidIDError, match="channel_id"):
        await mock_client.get_call(ws, "../x", CALL)
    [calls] = mock_api.requests.values()
    assert len(calls) == 3


@pytest.mark.parametrize(
    "bad", ["../../admin", f"{CALL}/../x", f"{CALL}?q=1", "%2F", "", f"{CALL}#frag"]
)
async def test_invalid_id_sends_nothing(mock_api: MockAPI, mock_client: Client, bad: str) -> None:
    with pytest.raises(InvalidIDError, match="call_id"):
        await mock_client.get_call(WORKSPACE, CHANNEL, bad)
    assert mock_api.requests == {}


@pytest.mark.parametrize(
    ("status", "fixture", "cls"),
    [
        (400, "error_422.json", BadRequestError),
        (401, "error_404.json", AuthenticationError),
        (403, "error_404.json", PermissionDeniedError),
        (404, "error_404.json", NotFoundError),
        (409, "error_404.json", ConflictError),
        (422, "error_422.json", UnprocessableEntityError),
        (429, "error_429.json", RateLimitError),
        (500, "error_500.json", ServerError),
        (502, "error_502.html", ServerError),
        (503, "error_500.json", ServerError),
        (418, "error_404.json", APIError),
    ],
)
async def test_status_maps_to_typed_error_with_context(
    mock_api: MockAPI, mock_client: Client, status: int, fixture: str, cls: type[APIError]
) -> None:
    body = fixture_bytes(fixture)
    mock_api.get(CALL_URL, status=status, body=body, headers={"X-Request-Id": "req-42"})
    with pytest.raises(cls) as info:
        await mock_client.get_call(WORKSPACE, CHANNEL, CALL)
    err = info.value
    assert type(err) is cls
    assert err.status == status and err.url == CALL_URL and err.method == "GET"
    assert err.request_id == "req-42"
    assert err.text == body.decode()
    assert (err.body is None) == fixture.endswith(".html")
    assert ACCESS_KEY not in str(err) and ACCESS_KEY not in repr(err)


async def test_redirect_is_an_error_and_not_followed(
    mock_api: MockAPI, mock_client: Client
) -> None:
    mock_api.get(CALL_URL, status=302, headers={"Location": "https://elsewhere.example/steal"})
    mock_api.get("https://elsewhere.example/steal", body=b"{}")
    with pytest.raises(APIError, match="unexpected redirect") as info:
        await mock_client.get_call(WORKSPACE, CHANNEL, CALL)
    assert info.value.status == 302
    assert list(mock_api.requests) == [("GET", URL(CALL_URL))]


@pytest.mark.parametrize(
    ("fixture", "path"),
    [("call_wrong_type.json", "$.duration"), ("error_502.html", None)],
)
async def test_bad_success_body_is_a_decode_error(
    mock_api: MockAPI, mock_client: Client, fixture: str, path: str | None
) -> None:
    body = fixture_bytes(fixture)
    mock_api.get(CALL_URL, body=body)
    with pytest.raises(DecodeError) as info:
        await mock_client.get_call(WORKSPACE, CHANNEL, CALL)
    assert info.value.path == path and info.value.body == body and info.value.url == CALL_URL


async def test_oversized_body_is_refused(mock_api: MockAPI) -> None:
    mock_api.get(CALL_URL, body=b"x" * 5000)
    async with Client(access_key=ACCESS_KEY, base_url=MOCK_BASE, max_response_bytes=4096) as c:
        with pytest.raises(ResponseTooLargeError) as info:
            await c.get_call(WORKSPACE, CHANNEL, CALL)
    assert info.value.limit == 4096 and info.value.status == 200


async def test_declared_oversized_length_is_refused_unread(mock_api: MockAPI) -> None:
    mock_api.get(CALL_URL, body=b"{}", headers={"Content-Length": "999999999"})
    async with Client(access_key=ACCESS_KEY, base_url=MOCK_BASE, max_response_bytes=4096) as c:
        with pytest.raises(ResponseTooLargeError, match="999999999 bytes"):
            await c.get_call(WORKSPACE, CHANNEL, CALL)


@pytest.mark.parametrize(
    ("exc", "cls", "match"),
    [
        (TimeoutError(), APITimeoutError, "timed out"),
        (aiohttp.ConnectionTimeoutError(), APITimeoutError, "connecting"),
        (aiohttp.SocketTimeoutError(), APITimeoutError, "reading"),
        (aiohttp.ClientConnectionError("refused"), APIConnectionError, "refused"),
        (aiohttp.ServerDisconnectedError(), APIConnectionError, "ServerDisconnected"),
        (aiohttp.ClientPayloadError("cut"), APIConnectionError, "cut"),
    ],
)
async def test_transport_failures_are_typed(
    mock_api: MockAPI, mock_client: Client, exc: Exception, cls: type[Exception], match: str
) -> None:
    mock_api.get(CALL_URL, exception=exc)
    with pytest.raises(cls, match=match) as info:
        await mock_client.get_call(WORKSPACE, CHANNEL, CALL)
    assert info.value.__cause__ is exc
    assert isinstance(info.value, TimeoutError) == (cls is APITimeoutError)


async def test_cancellation_is_not_wrapped(mock_api: MockAPI, mock_client: Client) -> None:
    mock_api.get(CALL_URL, exception=asyncio.CancelledError())
    with pytest.raises(asyncio.CancelledError):
        await mock_client.get_call(WORKSPACE, CHANNEL, CALL)


async def test_debug_log_has_the_url_but_never_the_credential(
    mock_api: MockAPI, mock_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    mock_api.get(CALL_URL, status=404, body=fixture_bytes("error_404.json"))
    with caplog.at_level(logging.DEBUG, logger="asyncsdk"), pytest.raises(NotFoundError):
        await mock_client.get_call(WORKSPACE, CHANNEL, CALL)
    assert re.search(r"GET .*/calls/.* -> 404", caplog.text)
    assert ACCESS_KEY not in caplog.text
