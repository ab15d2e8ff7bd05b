"""The worker-fleet example (examples/fleet): arq workers, one shared Redis limit, exactly once.

Workers run as real processes (``python -m examples.fleet.worker --burst``) against a
real redis-server and the embedded Bird API server in this process.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

pytest.importorskip("arq")

import itertools

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings

from asyncsdk import Client
from asyncsdk.server import Dataset, EmbeddedServer, ServerConfig
from examples.fleet.collect import iter_lines
from examples.fleet.export import chunk_path, export_chunk
from examples.fleet.producer import enqueue_chunks, enqueue_windows, plan_chunks
from examples.fleet.windows import export_window, plan_windows, window_path

from ._redis import ROOT, RedisServer, run_redis

ACCESS_KEY = "fleet-test-key"
CHUNK_SIZE = 250
MAX_JOBS = 2
CONCURRENCY = 16


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    yield from run_redis()


@pytest.fixture
async def pool(redis_server: RedisServer) -> AsyncIterator[ArqRedis]:
    arq_pool = await create_pool(RedisSettings.from_dsn(redis_server.url))
    yield arq_pool
    await arq_pool.aclose()


async def start_worker(
    redis: RedisServer, server: EmbeddedServer, out_dir: Path, *, rate: float
) -> asyncio.subprocess.Process:
    env = dict(os.environ)
    env.update(
        FLEET_REDIS_URL=redis.url,
        FLEET_OUT_DIR=str(out_dir),
        FLEET_RATE=str(rate),
        FLEET_BURST="20",
        FLEET_MAX_JOBS=str(MAX_JOBS),
        FLEET_CONCURRENCY=str(CONCURRENCY),
        BIRD_ACCESS_KEY=ACCESS_KEY,
        BIRD_BASE_URL=server.base_url,
    )
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "examples.fleet.worker",
        "--burst",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(proc: asyncio.subprocess.Process, limit: float = 120.0) -> None:
    _, err = await asyncio.wait_for(proc.communicate(), limit)
    assert proc.returncode == 0, err.decode()[-2000:]


def output_ids(out_dir: Path) -> list[str]:
    import msgspec

    return [msgspec.json.decode(line)["id"] for line in iter_lines(out_dir)]


async def test_two_workers_fetch_each_id_exactly_once(
    redis_server: RedisServer, pool: ArqRedis, tmp_path: Path
) -> None:
    dataset = Dataset(5000)
    ids = [str(i) for i in dataset.call_ids]
    config = ServerConfig(access_keys=(ACCESS_KEY,))
    async with EmbeddedServer(config, dataset=dataset) as server:
        chunks, enqueued = await enqueue_chunks(
            pool, str(dataset.workspace_id), str(dataset.channel_id), ids, chunk_size=CHUNK_SIZE
        )
        assert chunks == enqueued == 20
        workers = [await start_worker(redis_server, server, tmp_path, rate=800) for _ in range(2)]
        for worker in workers:
            await finish(worker)
        requested = Counter(r.call_id for r in server.requests)
    written = output_ids(tmp_path)
    assert len(written) == len(ids)
    assert set(written) == set(ids)
    assert set(requested.values()) == {1}  # and nothing was fetched twice
    results = [r for r in await pool.all_job_results() if r.function == "fetch_chunk"]
    assert len(results) == 20
    assert len({r.result["worker"] for r in results}) == 2  # both workers took jobs


async def test_rerun_after_a_crash_fetches_nothing_twice(
    redis_server: RedisServer, pool: ArqRedis, tmp_path: Path
) -> None:
    """A worker killed mid-run; the jobs run again: each ID once in the output, and only
    the requests in flight at the kill are sent twice."""
    dataset = Dataset(3000)
    ids = [str(i) for i in dataset.call_ids]
    config = ServerConfig(access_keys=(ACCESS_KEY,))
    async with EmbeddedServer(config, dataset=dataset) as server:
        await enqueue_chunks(
            pool, str(dataset.workspace_id), str(dataset.channel_id), ids, chunk_size=CHUNK_SIZE
        )
        doomed = await start_worker(redis_server, server, tmp_path, rate=500)
        async with asyncio.timeout(60):
            while sum(1 for _ in iter_lines(tmp_path)) < 700:  # noqa: ASYNC110 (another process)
                await asyncio.sleep(0.05)
        doomed.kill()
        await doomed.wait()
        # arq hands a crashed worker's jobs out again once their in-progress marker
        # expires (job_timeout + 10 s); expire it now instead of waiting.
        for key in await pool.keys("arq:in-progress:*"):
            await pool.delete(key)
        workers = [await start_worker(redis_server, server, tmp_path, rate=1000) for _ in range(2)]
        for worker in workers:
            await finish(worker)
        requested = Counter(r.call_id for r in server.requests)
    written = output_ids(tmp_path)
    assert len(written) == len(ids)
    assert set(written) == set(ids)
    twice = [call_id for call_id, n in requested.items() if n > 1]
    assert max(requested.values()) <= 2
    assert len(twice) <= MAX_JOBS * CONCURRENCY, len(twice)  # only those in flight
    print(f"requested twice after the crash: {len(twice)} of {len(ids)}")


async def test_chunk_resumes_after_a_torn_line(tmp_path: Path) -> None:
    """Lines already written are skipped, a line cut short is dropped and fetched again."""
    dataset = Dataset(10)
    ids = [str(i) for i in dataset.call_ids[:6]]
    path = chunk_path(tmp_path, "test-000000")
    async with (
        EmbeddedServer(ServerConfig(access_keys=(ACCESS_KEY,)), dataset=dataset) as server,
        Client(access_key=ACCESS_KEY, base_url=server.base_url) as client,
    ):
        calls = [
            await client.get_call(dataset.workspace_id, dataset.channel_id, i) for i in ids[:3]
        ]
        torn = calls[2].to_json()[:40]
        path.write_bytes(calls[0].to_json() + b"\n" + calls[1].to_json() + b"\n" + torn)
        server.stats.reset()
        report = await export_chunk(
            client,
            str(dataset.workspace_id),
            str(dataset.channel_id),
            [*ids, ids[4]],  # a repeated ID is fetched once
            path,
            concurrency=4,
        )
        assert server.stats.requests == 4
    assert (report.fetched, report.skipped, report.failed) == (4, 3, 0)
    written = output_ids(tmp_path)
    assert written[:2] == ids[:2]  # kept; the torn third line was cut and refetched
    assert sorted(written) == sorted(ids)


async def test_producer_enqueues_each_chunk_once(pool: ArqRedis) -> None:
    ids = [str(uuid.UUID(int=i, version=4)) for i in range(1, 8)]
    chunks = plan_chunks([*ids, ids[0].upper(), ""], chunk_size=3)
    assert [len(c) for _, c in chunks] == [3, 3, 1]  # canonical, deduplicated, in order
    assert [i for _, c in chunks for i in c] == ids
    ws, ch = str(uuid.uuid4()), str(uuid.uuid4())
    assert await enqueue_chunks(pool, ws, ch, ids, chunk_size=3) == (3, 3)
    assert await enqueue_chunks(pool, ws, ch, ids, chunk_size=3) == (3, 0)


# --- the export of a day, one job per window ------------------------------------------------

DAY = dt.date(2026, 1, 1)


def window_ids(out_dir: Path) -> list[str]:
    import msgspec

    return [
        msgspec.json.decode(line)["id"]
        for path in sorted(out_dir.glob("window-*.jsonl"))
        for line in path.read_bytes().splitlines()
    ]


def test_windows_cover_the_day_half_open() -> None:
    windows = plan_windows(DAY, 7)
    assert windows[0][0] == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert windows[-1][1] == dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(windows))


async def test_two_workers_export_a_day_window_by_window_exactly_once(
    redis_server: RedisServer, pool: ArqRedis, tmp_path: Path
) -> None:
    """A busy day (half its calls in one hour) in 24 windows over two workers."""
    dataset = Dataset(6000, seed=9, span=dt.timedelta(days=1), busy_share=0.5)
    config = ServerConfig(access_keys=(ACCESS_KEY,))
    async with EmbeddedServer(config, dataset=dataset) as server:
        windows, enqueued = await enqueue_windows(pool, str(dataset.workspace_id), DAY, windows=24)
        assert windows == enqueued == 24
        assert await enqueue_windows(pool, str(dataset.workspace_id), DAY, windows=24) == (24, 0)
        workers = [await start_worker(redis_server, server, tmp_path, rate=300) for _ in range(2)]
        for worker in workers:
            await finish(worker)
        listed_pages = sum(1 for r in server.requests if r.path.endswith("/channels/calls"))
    written = window_ids(tmp_path)
    assert len(written) == len(set(written)) == dataset.size
    assert set(written) == {str(i) for i in dataset.call_ids}
    results = [r for r in await pool.all_job_results() if r.function == "export_window"]
    assert len(results) == 24 and sum(r.result["calls"] for r in results) == dataset.size
    assert len({r.result["worker"] for r in results}) == 2  # both workers took windows
    assert listed_pages >= 24


async def test_a_window_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    """A page written but not checkpointed is cut; a finished window lists nothing again."""
    dataset = Dataset(2000, seed=10, span=dt.timedelta(days=1))
    start, end = plan_windows(DAY, 1)[0]
    async with (
        EmbeddedServer(ServerConfig(access_keys=(ACCESS_KEY,)), dataset=dataset) as server,
        Client(access_key=ACCESS_KEY, base_url=server.base_url) as client,
    ):
        ws = str(dataset.workspace_id)
        first = await export_window(client, ws, start, end, tmp_path, shards=3)
        assert (first.calls, first.resumed) == (2000, False)
        path = window_path(tmp_path, start)
        with path.open("ab") as f:
            f.write(path.read_bytes()[:500])  # as if a page had been written, not counted
        server.stats.reset()
        again = await export_window(client, ws, start, end, tmp_path, shards=3)
        assert (again.calls, again.resumed) == (0, True)
        assert server.stats.requests == 0
    written = window_ids(tmp_path)
    assert len(written) == len(set(written)) == 2000
