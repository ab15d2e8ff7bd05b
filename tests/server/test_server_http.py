"""The server over loopback HTTP: auth, validation, lookup, rate limit, latency, records."""

from __future__ import annotations

import asyncio
import json
import uuid

import aiohttp
import pytest

from asyncsdk.models import Call
from asyncsdk.server import Dataset, EmbeddedServer, ServerConfig

ACCESS_KEY_AUTH = {"Authorization": "AccessKey test-access-key"}


async def test_get_a_call_returns_the_dataset_call(
    dataset: Dataset, session: aiohttp.ClientSession
) -> None:
    call_id = dataset.call_ids[7]
    server = EmbeddedServer(dataset=dataset)
    async with server, session.get(server.call_url(call_id)) as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        assert uuid.UUID(response.headers["X-Request-Id"])
        body = await response.read()
    assert body == dataset.body(call_id)
    assert Call.from_json(body) == dataset.call(call_id)
    assert server.stats.by_status == {200: 1}
    assert server.stats.requests == 1
    assert len(server.stats.admitted_times) == 1


async def test_base_url_is_loopback_with_a_free_port(dataset: Dataset) -> None:
    server = EmbeddedServer(dataset=dataset)
    with pytest.raises(RuntimeError, match="not running"):
        server.base_url  # noqa: B018
    await server.start()
    try:
        assert server.base_url.startswith("http://127.0.0.1:")
        assert int(server.base_url.rsplit(":", 1)[1]) > 0
        with pytest.raises(RuntimeError, match="already running"):
            await server.start()
    finally:
        await server.stop()
    await server.stop()  # stopping twice is harmless
    assert not server.running


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "AccessKey wrong-key"},
        {"Authorization": "Bearer test-access-key"},
        {"Authorization": "Basic dGVzdDp0ZXN0"},
    ],
)
async def test_missing_or_unknown_credentials_get_401(
    dataset: Dataset, headers: dict[str, str]
) -> None:
    async with (
        EmbeddedServer(dataset=dataset) as server,
        aiohttp.ClientSession(headers=headers) as session,
        session.get(server.call_url(dataset.call_ids[0])) as response,
    ):
        assert response.status == 401
        problem = await response.json()
        assert problem["code"] == "Unauthorized"
        assert problem["message"]
        assert "X-Request-Id" in response.headers


async def test_bearer_token_and_other_access_keys_are_accepted(dataset: Dataset) -> None:
    config = ServerConfig(access_keys=("k1", "k2"), bearer_tokens=("jwt-1",))
    async with EmbeddedServer(config, dataset=dataset) as server, aiohttp.ClientSession() as s:
        url = server.call_url(dataset.call_ids[1])
        for auth in ("Bearer jwt-1", "AccessKey k2", "accesskey k1"):
            async with s.get(url, headers={"Authorization": auth}) as response:
                assert response.status == 200, auth


async def test_auth_is_checked_before_the_path(dataset: Dataset) -> None:
    async with (
        EmbeddedServer(dataset=dataset) as server,
        aiohttp.ClientSession() as session,
        session.get(f"{server.base_url}/workspaces/x/channels/y/calls/z") as response,
    ):
        assert response.status == 401


@pytest.mark.parametrize("bad", ["workspaceId", "channelId", "callId"])
async def test_non_uuid_path_id_gets_422_naming_it(
    dataset: Dataset, session: aiohttp.ClientSession, bad: str
) -> None:
    ids = {
        "workspaceId": str(dataset.workspace_id),
        "channelId": str(dataset.channel_id),
        "callId": str(dataset.call_ids[0]),
        bad: "not-a-uuid",
    }
    async with EmbeddedServer(dataset=dataset) as server:
        path = "/workspaces/{workspaceId}/channels/{channelId}/calls/{callId}".format(**ids)
        async with session.get(server.base_url + path) as response:
            assert response.status == 422
            problem = await response.json()
    assert problem["code"] == "InvalidParameter"
    assert problem["message"] == f"{bad} must be a UUID"
    assert problem["details"] == {bad: ["must be a valid UUID"]}


async def test_unknown_call_workspace_or_channel_get_404(
    dataset: Dataset, session: aiohttp.ClientSession
) -> None:
    other = uuid.UUID(int=12345, version=4)
    call_id = dataset.call_ids[0]
    async with EmbeddedServer(dataset=dataset) as server:
        urls = {
            "call not found": server.call_url(dataset.missing_call_id()),
            "workspace not found": server.call_url(call_id, workspace_id=other),
            "channel not found": server.call_url(call_id, channel_id=other),
        }
        for message, url in urls.items():
            async with session.get(url) as response:
                assert response.status == 404
                assert await response.json() == {"code": "NotFound", "message": message}


async def test_other_methods_get_405_and_other_paths_404(
    dataset: Dataset, session: aiohttp.ClientSession
) -> None:
    async with EmbeddedServer(dataset=dataset) as server:
        async with session.post(server.call_url(dataset.call_ids[0])) as response:
            assert response.status == 405
            assert response.headers["Allow"] == "GET"
            assert (await response.json())["code"] == "MethodNotAllowed"
        async with session.get(f"{server.base_url}/v1/calls") as response:
            assert response.status == 404
            assert "X-Request-Id" in response.headers


async def test_request_ids_are_unique_and_repeat_with_the_seed(dataset: Dataset) -> None:
    async def request_ids() -> list[str]:
        async with (
            EmbeddedServer(ServerConfig(seed=4), dataset=dataset) as server,
            aiohttp.ClientSession(headers=ACCESS_KEY_AUTH) as session,
        ):
            ids = []
            for call_id in dataset.call_ids[:5]:
                async with session.get(server.call_url(call_id)) as response:
                    ids.append(response.headers["X-Request-Id"])
            return ids

    first = await request_ids()
    assert len(set(first)) == 5
    assert await request_ids() == first


async def test_rate_limit_answers_429_once_the_burst_is_spent(
    dataset: Dataset, session: aiohttp.ClientSession
) -> None:
    # A refill of one token per 1000 s: nothing refills during the test.
    config = ServerConfig(rate_limit=0.001, burst=3)
    async with EmbeddedServer(config, dataset=dataset) as server:
        url = server.call_url(dataset.call_ids[0])
        remaining = []
        for _ in range(3):
            async with session.get(url) as response:
                assert response.status == 200
                assert response.headers["X-RateLimit-Limit"] == "0.001"
                remaining.append(response.headers["X-RateLimit-Remaining"])
        async with session.get(url) as response:
            assert response.status == 429
            problem = await response.json()
            headers = response.headers
    assert remaining == ["2", "1", "0"]
    assert problem == {"code": "TooManyRequests", "message": "rate limit exceeded"}
    assert int(headers["Retry-After"]) >= 999
    assert headers["X-RateLimit-Remaining"] == "0"
    reset = headers["X-RateLimit-Reset"]
    assert len(reset.split(".")[1]) == 3
    assert float(reset) > 999
    assert server.stats.throttled == 1
    assert server.stats.by_status == {200: 3, 429: 1}
    assert len(server.stats.admitted_times) == 3


async def test_rate_limit_applies_after_auth(dataset: Dataset) -> None:
    config = ServerConfig(rate_limit=0.001, burst=1)
    async with EmbeddedServer(config, dataset=dataset) as server, aiohttp.ClientSession() as s:
        url = server.call_url(dataset.call_ids[0])
        for _ in range(3):  # refused credentials take no token
            async with s.get(url) as response:
                assert response.status == 401
        async with s.get(url, headers=ACCESS_KEY_AUTH) as response:
            assert response.status == 200


async def test_latency_delays_every_response(
    dataset: Dataset, session: aiohttp.ClientSession
) -> None:
    config = ServerConfig(latency=0.05, latency_jitter=0.01)
    async with EmbeddedServer(config, dataset=dataset) as server:
        loop = asyncio.get_running_loop()
        for url in (server.call_url(dataset.call_ids[0]), server.call_url("nope")):
            started = loop.time()
            async with session.get(url) as response:
                await response.read()
            assert loop.time() - started >= 0.05


async def test_requests_are_recorded_in_order(
    dataset: Dataset, session: aiohttp.ClientSession
) -> None:
    async with EmbeddedServer(dataset=dataset) as server:
        for call_id in dataset.call_ids[:3]:
            async with session.get(server.call_url(call_id), params={"x": "1"}) as response:
                await response.read()
    records = server.requests
    assert [r.call_id for r in records] == [str(i) for i in dataset.call_ids[:3]]
    assert all(r.method == "GET" for r in records)
    assert records[0].path.endswith(f"/calls/{dataset.call_ids[0]}")
    assert records[0].headers["Authorization"] == "AccessKey test-access-key"
    assert records[0].time <= records[1].time <= records[2].time


async def test_recording_can_be_turned_off_and_stats_reset(
    dataset: Dataset, session: aiohttp.ClientSession
) -> None:
    config = ServerConfig(record_requests=False)
    async with EmbeddedServer(config, dataset=dataset) as server:
        async with session.get(server.call_url(dataset.call_ids[0])) as response:
            await response.read()
        assert server.requests == []
        assert server.stats.requests == 1
        server.stats.reset()
        assert server.stats.requests == 0
        assert server.stats.by_status == {}
        assert server.stats.admitted_times == []
        assert server.stats.faults["reset"] == 0


async def test_stop_does_not_hang_on_an_idle_keep_alive_connection(dataset: Dataset) -> None:
    # The session outlives the server, holding its keep-alive connection open.
    async with (
        aiohttp.ClientSession(headers=ACCESS_KEY_AUTH) as session,
        EmbeddedServer(dataset=dataset) as server,
        session.get(server.call_url(dataset.call_ids[0])) as response,
    ):
        assert json.loads(await response.read())["id"] == str(dataset.call_ids[0])


@pytest.mark.parametrize(("rate", "policy"), [(200.0, "200;w=1"), (12.5, "12.5;w=1")])
async def test_rate_limit_states_its_policy_on_200_and_429(
    dataset: Dataset, session: aiohttp.ClientSession, rate: float, policy: str
) -> None:
    """With a rate limit, both admitted and throttled answers carry ``RateLimit-Policy``."""
    # A neighbour of the same account takes every token as it comes: once the first
    # request has taken the burst, the bucket is empty for the others however slowly a
    # loaded machine sends them (alone, ten sent at once could still land 5 ms apart,
    # and each find a token).
    config = ServerConfig(rate_limit=rate, burst=1, neighbour_rate=rate)
    async with EmbeddedServer(config, dataset=dataset) as server:
        url = server.call_url(dataset.call_ids[0])

        async def one() -> tuple[int, str | None]:
            async with session.get(url) as response:
                return response.status, response.headers.get("RateLimit-Policy")

        statuses = dict([await one(), *await asyncio.gather(*(one() for _ in range(10)))])
    assert statuses == {200: policy, 429: policy}


async def test_policy_header_can_be_turned_off(
    dataset: Dataset, session: aiohttp.ClientSession
) -> None:
    """``policy_header=False`` keeps the limit and the X-RateLimit headers, drops the policy."""
    config = ServerConfig(rate_limit=0.001, burst=1, policy_header=False)
    async with EmbeddedServer(config, dataset=dataset) as server:
        url = server.call_url(dataset.call_ids[0])
        for status in (200, 429):
            async with session.get(url) as response:
                assert response.status == status
                assert "X-RateLimit-Limit" in response.headers
                assert "RateLimit-Policy" not in response.headers


async def test_no_policy_header_without_a_rate_limit(
    dataset: Dataset, session: aiohttp.ClientSession
) -> None:
    server = EmbeddedServer(dataset=dataset)
    async with server, session.get(server.call_url(dataset.call_ids[0])) as response:
        assert response.status == 200
        assert "RateLimit-Policy" not in response.headers


async def test_stats_repr_is_short_however_many_requests(
    dataset: Dataset, session: aiohttp.ClientSession
) -> None:
    """The arrival times are counted, not listed: assertion messages stay readable."""
    async with EmbeddedServer(dataset=dataset) as server:
        for call_id in dataset.call_ids[:50]:
            async with session.get(server.call_url(call_id)) as response:
                assert response.status == 200
    text = repr(server.stats)
    assert "requests=50" in text and "admitted_times=<50 times>" in text
    assert len(text) < 200
