"""Test your own code against the embedded server with pytest and pytest-asyncio."""

from collections.abc import AsyncIterator
from uuid import UUID

import pytest
import pytest_asyncio

import asyncsdk
from asyncsdk.server import Dataset, EmbeddedServer, ScriptedResponse, ServerConfig

ACCESS_KEY = "test-key"
pytestmark = pytest.mark.asyncio


# --- the code under test: yours -------------------------------------------------------


async def billable_minutes(
    client: asyncsdk.Client, workspace_id: UUID, channel_id: UUID, call_id: UUID
) -> int:
    """Whole minutes started, 0 for a call that does not exist."""
    try:
        call = await client.get_call(workspace_id, channel_id, call_id)
    except asyncsdk.NotFoundError:
        return 0
    return -(-(call.duration or 0) // 60)


# --- fixtures -------------------------------------------------------------------------


@pytest_asyncio.fixture
async def server() -> AsyncIterator[EmbeddedServer]:
    config = ServerConfig(access_keys=(ACCESS_KEY,))
    async with EmbeddedServer(config, dataset=Dataset(size=10, seed=3)) as srv:
        yield srv


@pytest_asyncio.fixture
async def client(server: EmbeddedServer) -> AsyncIterator[asyncsdk.Client]:
    retry = asyncsdk.RetryPolicy(initial_backoff=0.001, max_backoff=0.01)
    async with asyncsdk.Client(
        access_key=ACCESS_KEY, base_url=server.base_url, retry_policy=retry
    ) as c:
        yield c


# --- tests ----------------------------------------------------------------------------


async def test_minutes_round_up(server: EmbeddedServer, client: asyncsdk.Client) -> None:
    ds = server.dataset
    call_id = ds.call_ids[0]
    expected = ds.call(call_id)  # the same call the server sends, decoded
    assert expected is not None
    minutes = await billable_minutes(client, ds.workspace_id, ds.channel_id, call_id)
    assert minutes == -(-(expected.duration or 0) // 60)


async def test_missing_call_is_zero(server: EmbeddedServer, client: asyncsdk.Client) -> None:
    ds = server.dataset
    assert await billable_minutes(client, ds.workspace_id, ds.channel_id, ds.missing_call_id()) == 0


async def test_survives_one_server_error(server: EmbeddedServer, client: asyncsdk.Client) -> None:
    ds = server.dataset
    server.script(ds.call_ids[1], ScriptedResponse(status=503))
    await billable_minutes(client, ds.workspace_id, ds.channel_id, ds.call_ids[1])
    assert server.stats.scripted == 1
    assert client.stats.retries_by_reason == {"503": 1}
