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

from ._support import ACCESS_KEY, wait_until


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
        # 5 % of attempts fail: with the default 4 attempts an ID fails all of them with
        # probability 0.05**4, one of 9,900 in 6 % of runs; with 7 attempts, never in practice.
        policy = RetryPolicy(max_retries=6, initial_backoff=0.01, max_backoff=0.05)
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
    # Far slower than the others: 0.3 s was not, on a loaded machine that stalled the
    # test that long before it read the fast answers.
    server.script(ds.call_ids[2], ScriptedResponse(delay=30))
    stream = iter_calls(client, ds.workspace_id, ds.channel_id, ds.call_ids[:5])
    async with stream:
        results = [await anext(stream) for _ in range(4)]  # the slow one is not waited for
    assert sorted(r.index for r in results) == [0, 1, 3, 4]
    for r in results:
        assert r.ok and r.unwrap().id == r.call_id == ds.call_ids[r.index]
    assert stream.leftovers.unfinished == ((2, ds.call_ids[2]),)  # closed before it came


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
        assert client._engine.session is not None and client._engine.session.connector is not None
        assert len(client._engine.session.connector._acquired) == 0


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
        await wait_until(lambda: len(server.requests) >= 8, what="8 calls in flight")
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


# --- pipelines: queues, drain, leftovers, single strings ---


async def test_a_queue_is_a_source_and_none_ends_it(client: Client, server: EmbeddedServer) -> None:
    ds = server.dataset
    queue: asyncio.Queue[uuid.UUID | None] = asyncio.Queue()
    for call_id in ds.call_ids[:10]:
        queue.put_nowait(call_id)
    queue.put_nowait(None)
    got = [
        r async for r in iter_calls(client, ds.workspace_id, ds.channel_id, queue, concurrency=3)
    ]
    assert sorted(r.index for r in got) == list(range(10))
    assert all(r.ok for r in got)
    await asyncio.wait_for(queue.join(), 30)  # every item taken was marked done


async def test_a_queue_filled_while_iterating(client: Client, server: EmbeddedServer) -> None:
    ds = server.dataset
    queue: asyncio.Queue[uuid.UUID | None] = asyncio.Queue(maxsize=2)

    async def produce() -> None:
        for call_id in ds.call_ids[:20]:
            await queue.put(call_id)
        await queue.put(None)

    producer = asyncio.create_task(produce())
    got = [r async for r in iter_calls(client, ds.workspace_id, ds.channel_id, queue)]
    await producer
    assert sorted(r.index for r in got) == list(range(20))


async def test_drain_finishes_what_was_taken_and_leaves_the_rest_in_the_queue(
    client: Client, server: EmbeddedServer
) -> None:
    ds = server.dataset
    queue: asyncio.Queue[uuid.UUID | None] = asyncio.Queue()
    for call_id in ds.call_ids[:4]:
        queue.put_nowait(call_id)
    stream = iter_calls(client, ds.workspace_id, ds.channel_id, queue, concurrency=2)
    first = await anext(stream)  # taken alone; once it was answered, two more were taken
    stream.drain()
    assert stream.draining
    rest = [r async for r in stream]
    assert len([first, *rest]) == 3  # the three taken when drain() was called
    assert queue.qsize() == 1  # the fourth was never read
    assert not stream.leftovers


async def test_drain_wakes_a_stream_waiting_on_an_empty_queue(
    client: Client, server: EmbeddedServer
) -> None:
    ds = server.dataset
    queue: asyncio.Queue[uuid.UUID | None] = asyncio.Queue()
    queue.put_nowait(ds.call_ids[0])
    stream = iter_calls(client, ds.workspace_id, ds.channel_id, queue)
    assert (await anext(stream)).ok
    waiting = asyncio.create_task(anext(stream, None))
    await asyncio.sleep(0.01)
    assert not waiting.done()  # waiting for the next ID
    stream.drain()
    assert await asyncio.wait_for(waiting, 30) is None  # ended, nothing lost
    queue.put_nowait(ds.call_ids[1])
    assert queue.qsize() == 1


async def test_cancelling_reports_unconsumed_results_and_unfinished_ids(
    server: EmbeddedServer,
) -> None:
    """Every ID taken is yielded, or in the leftovers: the client's count adds up."""
    ds = server.dataset
    slow = list(ds.call_ids[5:8])
    for call_id in slow:
        server.script(call_id, ScriptedResponse(action="slow", delay=30))
    ids = list(ds.call_ids[:8])
    consumed: list[CallResult] = []
    gate = asyncio.Event()
    async with Client(access_key=ACCESS_KEY, base_url=server.base_url) as client:
        stream = iter_calls(client, ds.workspace_id, ds.channel_id, ids, concurrency=8)

        async def consume() -> None:
            async with stream:
                async for result in stream:
                    consumed.append(result)
                    await gate.wait()  # a slow consumer: the others finish meanwhile

        task = asyncio.create_task(consume())
        await wait_until(lambda: client.stats.succeeded >= 5, what="the fast five")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        left = stream.leftovers
        assert len(consumed) == 1
        assert len(left.results) == 4 and all(r.ok for r in left.results)
        assert sorted(call_id for _, call_id in left.unfinished) == sorted(slow)
        assert client.stats.succeeded == len(consumed) + len(left.results)
        indexes = [r.index for r in consumed + list(left.results)]
        assert sorted(indexes + [i for i, _ in left.unfinished]) == list(range(8))
        await settle()
        assert not other_tasks()


async def test_leaving_early_with_async_with_closes_now(
    client: Client, server: EmbeddedServer
) -> None:
    ds = server.dataset
    for call_id in ds.call_ids[1:4]:
        server.script(call_id, ScriptedResponse(action="slow", delay=30))
    stream = iter_calls(client, ds.workspace_id, ds.channel_id, ds.call_ids[:4])
    async with stream:
        async for _ in stream:
            break
    assert not other_tasks()
    assert len(stream.leftovers.unfinished) == 3


@pytest.mark.parametrize("ids", ["5f0c7a9e-3b1d-4c8e-9a52-1d7e0b6f2a41", b"abc"])
async def test_a_single_string_is_refused(client: Client, server: EmbeddedServer, ids: str) -> None:
    ds = server.dataset
    with pytest.raises(TypeError, match="single"):
        iter_calls(client, ds.workspace_id, ds.channel_id, ids)
    with pytest.raises(TypeError, match="single"):
        await gather_calls(client, ds.workspace_id, ds.channel_id, ids)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="iterable"):
        iter_calls(client, ds.workspace_id, ds.channel_id, 5)  # type: ignore[call-overload]
    assert server.requests == []


async def test_iter_fetches_a_repeated_id_each_time(client: Client, server: EmbeddedServer) -> None:
    """As the docs say: a stream may ask again for a call whose state changed."""
    ds = server.dataset
    ids = [ds.call_ids[0], ds.call_ids[0]]
    results = [r async for r in iter_calls(client, ds.workspace_id, ds.channel_id, ids)]
    assert len(results) == 2 and len(server.requests) == 2


# --- a queue's accounting: every item taken is marked done exactly once ---


def queue_of(ids: list[uuid.UUID]) -> asyncio.Queue[uuid.UUID | None]:
    queue: asyncio.Queue[uuid.UUID | None] = asyncio.Queue()
    for call_id in ids:
        queue.put_nowait(call_id)
    queue.put_nowait(None)
    return queue


@pytest.mark.parametrize("how", ["break", "exception in the loop body"])
async def test_leaving_the_loop_marks_the_result_in_hand_done(
    server: EmbeddedServer, how: str
) -> None:
    """The result being consumed when the loop is left was delivered: it is marked done."""
    ds = server.dataset
    for call_id in ds.call_ids[1:4]:
        server.script(call_id, ScriptedResponse(action="slow", delay=30))
    queue = queue_of(list(ds.call_ids[:4]))
    async with Client(access_key=ACCESS_KEY, base_url=server.base_url) as client:
        stream = iter_calls(client, ds.workspace_id, ds.channel_id, queue)
        consumed: list[CallResult] = []
        with contextlib.suppress(LookupError):
            async with stream:
                async for result in stream:
                    consumed.append(result)
                    if how == "break":
                        break
                    raise LookupError("the consumer failed")
        await asyncio.wait_for(queue.join(), 30)  # would hang with one item left unmarked
    left = stream.leftovers
    assert len(consumed) == 1 and not left.results
    assert sorted(i for i, _ in left.unfinished) == [1, 2, 3]


async def test_a_consumer_cancelled_in_its_loop_body_leaves_the_queue_joinable(
    server: EmbeddedServer,
) -> None:
    ds = server.dataset
    for call_id in ds.call_ids[2:5]:
        server.script(call_id, ScriptedResponse(action="slow", delay=30))
    queue = queue_of(list(ds.call_ids[:5]))
    gate = asyncio.Event()
    consumed: list[CallResult] = []
    async with Client(access_key=ACCESS_KEY, base_url=server.base_url) as client:
        stream = iter_calls(client, ds.workspace_id, ds.channel_id, queue)

        async def consume() -> None:
            async with stream:
                async for result in stream:
                    consumed.append(result)
                    await gate.wait()

        task = asyncio.create_task(consume())
        await wait_until(lambda: client.stats.succeeded >= 2, what="the fast two")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(queue.join(), 30)
    left = stream.leftovers
    assert len(consumed) == 1 and len(left.results) == 1
    # Every ID taken was consumed or is in the leftovers, once.
    indexes = [r.index for r in consumed + list(left.results)] + [i for i, _ in left.unfinished]
    assert sorted(indexes) == list(range(5))
