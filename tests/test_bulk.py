"""gather_calls and iter_calls: one outcome per ID, bounded, cancel-clean, over real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from asyncsdk import (
    APIConnectionError,
    BirdError,
    Call,
    CallResult,
    Client,
    InvalidIDError,
    NotFoundError,
    RetryPolicy,
    ServerError,
    gather_calls,
    iter_calls,
)
from asyncsdk.server import Dataset, EmbeddedServer, Faults, ScriptedResponse, ServerConfig

from ._support import ACCESS_KEY


def other_tasks() -> set[asyncio.Task[object]]:
    """Unfinished tasks started by the bulk helpers (the server's own are not counted)."""
    return {
        t
        for t in asyncio.all_tasks()
        if not t.done()
        and getattr(t.get_coro(), "__qualname__", "").startswith(("_stream", "Source.take"))
    }


async def settle() -> None:
    """Let asyncio finalize a generator the test let go of (it closes it in a task)."""
    for _ in range(5):
        await asyncio.sleep(0)


# --- gather_calls ---


async def test_gather_is_aligned_deduplicated_and_keeps_bad_ids_in_place(
    client: Client, server: EmbeddedServer
) -> None:
    ds = server.dataset
    a, b = ds.call_ids[1], ds.call_ids[2]
    missing = ds.missing_call_id()
    ids: list[object] = [a, "not-a-uuid", str(b).upper(), missing, a, b]
    seen: list[tuple[int, int]] = []
    results = await gather_calls(
        client, ds.workspace_id, ds.channel_id, ids, progress=lambda d, t: seen.append((d, t))
    )
    assert [type(r) for r in results] == [Call, InvalidIDError, Call, NotFoundError, Call, Call]
    assert results[0] is results[4]  # fetched once, shared
    assert isinstance(results[2], Call) and results[2].id == b and results[2] is results[5]
    assert len(server.requests) == 3  # a, b, missing: once each
    assert seen[-1] == (6, 6)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


async def test_gather_fail_fast_raises_the_first_error_and_cancels_the_rest(
    client: Client, server: EmbeddedServer
) -> None:
    ds = server.dataset
    for call_id in ds.call_ids[1:10]:
        server.script(call_id, ScriptedResponse(action="slow", delay=30))
    ids = [ds.missing_call_id(), *ds.call_ids[1:10]]
    with pytest.raises(NotFoundError):
        await gather_calls(client, ds.workspace_id, ds.channel_id, ids, fail_fast=True)
    await settle()
    assert not other_tasks()


async def test_gather_fail_fast_rejects_a_bad_id_before_any_request(
    client: Client, server: EmbeddedServer
) -> None:
    ds = server.dataset
    with pytest.raises(InvalidIDError):
        await gather_calls(
            client, ds.workspace_id, ds.channel_id, [ds.call_ids[0], "../x"], fail_fast=True
        )
    assert server.requests == []


async def test_bad_workspace_fails_before_any_request(
    client: Client, server: EmbeddedServer
) -> None:
    with pytest.raises(InvalidIDError, match="workspace_id"):
        await gather_calls(client, "nope", server.dataset.channel_id, server.dataset.call_ids[:3])
    assert server.requests == []


async def test_ten_thousand_ids_with_faults_and_a_rate_limit_get_one_outcome_each() -> None:
    config = ServerConfig(
        access_keys=(ACCESS_KEY,),
        rate_limit=4000,
        burst=100,
        faults=Faults(
            error_500=0.01, error_502_html=0.01, error_503=0.01, reset=0.01, truncate=0.01
        ),
        seed=99,
        record_requests=False,
    )
    async with EmbeddedServer(config, dataset=Dataset(size=9900, seed=5)) as server:
        ds = server.dataset
        ids: list[object] = [*ds.call_ids, *(ds.missing_call_id(i) for i in range(100))]
        policy = RetryPolicy(initial_backoff=0.01, max_backoff=0.05)
        async with Client(
            access_key=ACCESS_KEY, base_url=server.base_url, rate_limit=3000, retry_policy=policy
        ) as client:
            results = await gather_calls(
                client, ds.workspace_id, ds.channel_id, ids, concurrency=64
            )
    assert len(results) == len(ids) == 10_000
    for call_id, outcome in zip(ids, results, strict=True):
        assert isinstance(outcome, (Call, BirdError))
        if isinstance(outcome, Call):
            assert outcome.id == call_id
    fetched = {r.id for r in results if isinstance(r, Call)}
    assert fetched == set(ds.call_ids)
    tail = results[9900:]
    assert all(isinstance(r, (NotFoundError, ServerError, APIConnectionError)) for r in tail)
    assert client.stats.retries > 0


# --- iter_calls ---


async def test_iter_yields_in_completion_order_with_indexes(
    client: Client, server: EmbeddedServer
) -> None:
    ds = server.dataset
    server.script(ds.call_ids[2], ScriptedResponse(delay=0.3))
    results = [r async for r in iter_calls(client, ds.workspace_id, ds.channel_id, ds.call_ids[:5])]
    assert results[-1].index == 2  # the slow one finishes last
    assert sorted(r.index for r in results) == [0, 1, 2, 3, 4]
    for r in results:
        assert r.ok and r.unwrap().id == r.call_id == ds.call_ids[r.index]


async def test_iter_takes_an_async_source_like_a_queue(
    client: Client, server: EmbeddedServer
) -> None:
    ds = server.dataset
    queue: asyncio.Queue[uuid.UUID | None] = asyncio.Queue()

    async def consume() -> AsyncIterator[uuid.UUID]:
        while (item := await queue.get()) is not None:
            yield item

    async def produce() -> None:
        for call_id in ds.call_ids[:20]:
            await queue.put(call_id)
            await asyncio.sleep(0.001)
        await queue.put(None)

    producer = asyncio.create_task(produce())
    got = [
        r
        async for r in iter_calls(client, ds.workspace_id, ds.channel_id, consume(), concurrency=3)
    ]
    await producer
    assert sorted(r.index for r in got) == list(range(20))
    assert all(r.ok for r in got)


async def test_a_slow_source_does_not_hold_back_finished_results(
    client: Client, server: EmbeddedServer
) -> None:
    ds = server.dataset
    release = asyncio.Event()

    async def source() -> AsyncIterator[uuid.UUID]:
        yield ds.call_ids[0]
        await release.wait()  # the next ID is a long time coming
        yield ds.call_ids[1]

    stream = iter_calls(client, ds.workspace_id, ds.channel_id, source())
    first = await anext(stream)  # arrives although the source is blocked
    assert first.index == 0 and first.ok
    release.set()
    rest = [r async for r in stream]
    assert [r.index for r in rest] == [1]


async def test_backpressure_reads_ids_only_as_slots_free(
    client: Client, server: EmbeddedServer
) -> None:
    ds = server.dataset
    reads = 0

    def source() -> object:
        nonlocal reads
        for call_id in ds.call_ids:
            reads += 1
            yield call_id

    stream = iter_calls(client, ds.workspace_id, ds.channel_id, source(), concurrency=4)
    async with contextlib.aclosing(stream):
        taken = 0
        async for _ in stream:
            taken += 1
            assert reads <= taken + 4  # never more than in flight plus consumed
            if taken == 50:
                break
    assert reads <= 54


async def test_break_cancels_in_flight_requests_and_leaves_no_tasks(server: EmbeddedServer) -> None:
    ds = server.dataset
    for call_id in ds.call_ids[1:8]:
        server.script(call_id, ScriptedResponse(action="slow", delay=30))
    async with Client(access_key=ACCESS_KEY, base_url=server.base_url) as client:
        async for result in iter_calls(client, ds.workspace_id, ds.channel_id, ds.call_ids[:8]):
            assert result.index == 0
            break
        await settle()
        assert not other_tasks()
        assert client._session is not None and client._session.connector is not None
        assert len(client._session.connector._acquired) == 0


async def test_cancelling_the_consumer_cancels_everything(server: EmbeddedServer) -> None:
    ds = server.dataset
    for call_id in ds.call_ids[:8]:
        server.script(call_id, ScriptedResponse(action="slow", delay=30))
    async with Client(access_key=ACCESS_KEY, base_url=server.base_url) as client:

        async def consume() -> list[CallResult]:
            return [
                r async for r in iter_calls(client, ds.workspace_id, ds.channel_id, ds.call_ids[:8])
            ]

        task = asyncio.create_task(consume())
        while len(server.requests) < 8:  # noqa: ASYNC110 - polling the server's request log
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await settle()
        assert not other_tasks()


async def test_a_failing_source_propagates_after_cleaning_up(server: EmbeddedServer) -> None:
    ds = server.dataset
    server.script(ds.call_ids[0], ScriptedResponse(action="slow", delay=30))

    async def source() -> AsyncIterator[uuid.UUID]:
        yield ds.call_ids[0]
        raise OSError("the ID file went away")

    async with Client(access_key=ACCESS_KEY, base_url=server.base_url) as client:
        with pytest.raises(OSError, match="went away"):
            async for _ in iter_calls(client, ds.workspace_id, ds.channel_id, source()):
                pass
        assert not other_tasks()


async def test_each_id_once_even_with_duplicates_in_a_stream(
    client: Client, server: EmbeddedServer
) -> None:
    ds = server.dataset
    ids = [ds.call_ids[0], ds.call_ids[0], "bad"]
    results = [r async for r in iter_calls(client, ds.workspace_id, ds.channel_id, ids)]
    assert Counter(r.index for r in results) == Counter({0: 1, 1: 1, 2: 1})
    bad = next(r for r in results if r.index == 2)
    assert isinstance(bad.error, InvalidIDError)
    with pytest.raises(InvalidIDError):
        bad.unwrap()


async def test_concurrency_must_be_positive(client: Client, server: EmbeddedServer) -> None:
    from asyncsdk import ConfigurationError

    ds = server.dataset
    with pytest.raises(ConfigurationError):
        await gather_calls(client, ds.workspace_id, ds.channel_id, [], concurrency=0)
