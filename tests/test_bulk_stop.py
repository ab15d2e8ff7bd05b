"""A bulk run that cannot succeed stops after one ID's verdict, and says what it left.

Nothing listening (a closed loopback port) and a wrong key (the embedded server refuses
it) must not spend the batch; after a success the same failures are per-ID outcomes.
"""

from __future__ import annotations

import asyncio
import pickle
import uuid

import pytest

from asyncsdk import (
    APIConnectionError,
    AuthenticationError,
    Call,
    CallResult,
    Client,
    RunStoppedError,
    gather_calls,
    iter_calls,
)
from asyncsdk.server import EmbeddedServer, ScriptedResponse

from ._support import ACCESS_KEY, refused_port

#: A hang guard only: the runs below stop after one ID's retries (seconds).
HANG_GUARD = 60


async def _stopped_gather(
    server: EmbeddedServer, base_url: str
) -> tuple[RunStoppedError, list[uuid.UUID], int]:
    """Gather 200 of the server's IDs through ``base_url``, which must stop the run.

    Returns the stop, the IDs asked for and how many calls the client made.
    """
    ds = server.dataset
    ids = list(ds.call_ids[:200])
    async with Client(access_key=ACCESS_KEY, base_url=base_url) as c:
        async with asyncio.timeout(HANG_GUARD):
            with pytest.raises(RunStoppedError) as info:
                await gather_calls(c, ds.workspace_id, ds.channel_id, ids, concurrency=32)
        return info.value, ids, c.stats.calls


async def test_gather_stops_when_nothing_listens(server: EmbeddedServer) -> None:
    with refused_port() as port:
        stop, ids, calls = await _stopped_gather(server, f"http://127.0.0.1:{port}")
    assert isinstance(stop.cause, APIConnectionError)
    assert "nothing answers at 127.0.0.1:" in stop.reason and "refused" in stop.reason
    assert len(stop.results) == len(ids)
    tried = [r for r in stop.results if r is not None]
    assert tried and all(isinstance(r, APIConnectionError) for r in tried)
    assert len(tried) + len(stop.not_tried) == len(ids)
    assert len(stop.not_tried) >= len(ids) - 32  # at most one concurrency's worth tried
    assert set(stop.not_tried) == {i for i, r in zip(ids, stop.results, strict=True) if r is None}
    assert calls <= 32


async def test_gather_stops_when_the_server_does_not_speak_tls(server: EmbeddedServer) -> None:
    """An ``https://`` address for a plain-http server fails every handshake alike."""
    https = server.base_url.replace("http://", "https://", 1)
    stop, ids, calls = await _stopped_gather(server, https)
    assert isinstance(stop.cause, APIConnectionError)
    assert "did not answer in TLS" in stop.reason and "plain http" in stop.reason
    assert "Operation not permitted" not in str(stop.cause)
    assert len(stop.not_tried) >= len(ids) - 32
    assert calls <= 32


async def test_gather_stops_on_a_refused_key_after_few_requests(server: EmbeddedServer) -> None:
    ds = server.dataset
    ids = list(ds.call_ids[:300])
    async with Client(access_key="not-the-key", base_url=server.base_url) as c:
        async with asyncio.timeout(HANG_GUARD):
            with pytest.raises(RunStoppedError) as info:
                await gather_calls(c, ds.workspace_id, ds.channel_id, ids)
    assert isinstance(info.value.cause, AuthenticationError)
    assert "401" in info.value.reason
    assert len(server.requests) <= 32  # not 300 unauthenticated requests
    assert len(info.value.not_tried) >= len(ids) - 32
    back = pickle.loads(pickle.dumps(info.value))
    assert back.not_tried == info.value.not_tried and back.reason == info.value.reason


async def test_gather_fail_fast_raises_the_deciding_error(server: EmbeddedServer) -> None:
    ds = server.dataset
    async with Client(access_key="not-the-key", base_url=server.base_url) as c:
        with pytest.raises(AuthenticationError):
            await gather_calls(c, ds.workspace_id, ds.channel_id, ds.call_ids[:50], fail_fast=True)


async def test_iter_stops_and_leaves_the_source_where_it_was(server: EmbeddedServer) -> None:
    ds = server.dataset
    ids = list(ds.call_ids[:100])
    source = iter(ids)
    got: list[CallResult] = []
    async with Client(access_key="not-the-key", base_url=server.base_url) as c:
        stream = iter_calls(c, ds.workspace_id, ds.channel_id, source, concurrency=8)

        async def consume() -> None:
            async with stream:
                async for result in stream:
                    got.append(result)  # pragma: no cover - nothing succeeds

        async with asyncio.timeout(HANG_GUARD):
            with pytest.raises(RunStoppedError) as info:
                await consume()
    assert not got
    left = stream.leftovers
    assert left.results and all(isinstance(r.error, AuthenticationError) for r in left.results)
    assert info.value.results == list(left.results)
    assert info.value.not_tried == tuple(call_id for _, call_id in left.unfinished)
    read = len(left.results) + len(left.unfinished)
    assert next(source) == ids[read]  # the rest is still in the source, unread


async def test_a_refused_key_after_a_success_is_one_failure(server: EmbeddedServer) -> None:
    """After access was proven, a 401 is that ID's outcome: the run goes on."""
    ds = server.dataset
    ids = list(ds.call_ids[:6])
    server.script(ids[2], ScriptedResponse(status=401))
    server.script(ids[3], ScriptedResponse(status=403))
    async with Client(access_key=ACCESS_KEY, base_url=server.base_url) as c:
        results = await gather_calls(c, ds.workspace_id, ds.channel_id, ids, concurrency=1)
    assert [type(r).__name__ for r in results] == [
        "Call",
        "Call",
        "AuthenticationError",
        "PermissionDeniedError",
        "Call",
        "Call",
    ]
    assert all(isinstance(results[i], Call) for i in (0, 1, 4, 5))


async def test_a_healthy_run_opens_up_after_its_first_outcome(server: EmbeddedServer) -> None:
    ds = server.dataset
    ids = list(ds.call_ids[:64])
    async with Client(access_key=ACCESS_KEY, base_url=server.base_url) as c:
        results = await gather_calls(c, ds.workspace_id, ds.channel_id, ids, concurrency=16)
    assert all(isinstance(r, Call) for r in results)


async def test_a_refused_connection_names_the_address_not_tls(server: EmbeddedServer) -> None:
    ds = server.dataset
    with refused_port() as port:
        async with Client(
            access_key=ACCESS_KEY, base_url=f"http://127.0.0.1:{port}", max_retries=0
        ) as c:
            with pytest.raises(APIConnectionError) as info:
                await c.get_call(ds.workspace_id, ds.channel_id, ds.call_ids[0])
    text = str(info.value)
    assert f"cannot connect to 127.0.0.1:{port}: Connection refused" in text
    assert "ssl" not in text.lower()
