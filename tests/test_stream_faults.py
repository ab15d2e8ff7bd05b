"""The pipeline across processes under faults: real redis-server, real processes, SIGKILL.

- replicas and workers killed mid-stream: every event once in the store;
- a worker killed between the fetch and the commit, and between the commit and XACK
  (a locked SQLite file and ``CLIENT PAUSE WRITE`` hold it exactly there);
- Redis killed and restarted, with the append-only file and without.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import random
import signal
import sqlite3
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer

from asyncsdk.server import (
    Dataset,
    EmbeddedServer,
    ServerConfig,
    WebhookConfig,
    WebhookSender,
)
from asyncsdk.server._lifecycle import lifecycle
from asyncsdk.webhooks import (
    TERMINAL_STATUSES,
    RedisStreamSink,
    SQLiteCallStore,
    decode_entry,
    webhook_app,
)

from ._redis import RedisServer, redis_executable, run_redis
from ._streams import until
from ._support import free_port
from ._webhooks import SIGNING_KEY, deliver, event_body
from .test_webhooks_enrich import event_for

ROOT = Path(__file__).resolve().parent.parent
ACCESS_KEY = "stream-faults-access-key"
ENV = {**os.environ, "BIRD_ACCESS_KEY": ACCESS_KEY, "BIRD_WEBHOOK_SIGNING_KEY": SIGNING_KEY}
SEED = 20261207


def _balancer_module() -> ModuleType:
    """The example's balancer: the guide's pipeline and these tests use the same one."""
    path = ROOT / "examples" / "streams_pipeline.py"
    spec = importlib.util.spec_from_file_location("asyncsdk_example_streams_pipeline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    yield from run_redis()


@pytest.fixture
async def api() -> AsyncIterator[EmbeddedServer]:
    config = ServerConfig(access_keys=(ACCESS_KEY,))
    async with EmbeddedServer(config, dataset=Dataset(size=400, seed=3)) as server:
        yield server


async def _start(*argv: str, expect: str) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "asyncsdk", *argv, "--no-progress",
        env=ENV, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
    assert line.startswith(expect), line
    return proc


def _replica(redis_url: str, port: int, public: str) -> list[str]:
    return ["listen", "--redis", redis_url, "--port", str(port), "--path", "/bird",
            "--public-url", public]  # fmt: skip


def _worker(redis_url: str, api: EmbeddedServer, db: Path, name: str) -> list[str]:
    return ["enrich", "--redis", redis_url, "--group", "g", "--consumer", name,
            "--workspace", str(api.dataset.workspace_id), "--db", str(db),
            "--base-url", api.base_url, "--min-idle", "1", "--rate-limit", "200"]  # fmt: skip


async def _stop(proc: asyncio.subprocess.Process) -> tuple[int, str]:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def _kill(proc: asyncio.subprocess.Process) -> None:
    proc.send_signal(signal.SIGKILL)
    await proc.wait()


def _committed(db: Path) -> tuple[int, int]:
    """Entries committed, and distinct request ids among them."""
    if not db.exists():
        return 0, 0
    with sqlite3.connect(db, timeout=30) as conn:
        query = "SELECT count(*), count(DISTINCT request_id) FROM stream_entries"
        total, distinct = conn.execute(query).fetchone()
    return int(total), int(distinct)


async def _pending(redis_url: str, stream: str) -> int:
    async with aioredis.Redis.from_url(redis_url) as r:
        return int((await r.xpending(stream, "g"))["pending"])


async def test_a_replica_and_a_worker_killed_mid_stream_lose_and_double_nothing(
    redis_server: RedisServer, api: EmbeddedServer, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    calls = 120
    ds = api.dataset
    expected = 0
    for call_id in ds.call_ids[:calls]:
        call = ds.call(call_id)
        assert call is not None
        expected += len(lifecycle(call.status, call.direction)[1])
    db = tmp_path / "calls.sqlite"
    balancer = _balancer_module().Balancer([f"http://127.0.0.1:{free_port()}" for _ in range(2)])
    front = aiohttp.web.Application()
    front.router.add_post("/bird", balancer.handle)
    server = TestServer(front, port=free_port())
    await server.start_server()
    public = str(server.make_url("")).rstrip("/")
    procs: list[asyncio.subprocess.Process] = []
    try:
        for backend in balancer.backends:
            port = int(backend.rsplit(":", 1)[1])
            procs.append(await _start(*_replica(redis_server.url, port, public), expect="listen"))
        for n in range(3):
            argv = _worker(redis_server.url, api, db, f"w{n}")
            procs.append(await _start(*argv, expect="enriching"))
        config = WebhookConfig(
            url=f"{public}/bird", signing_key=SIGNING_KEY, calls_per_second=60.0, calls=calls,
            step=0.05, first_retry=0.05, max_retry_delay=0.5, retry_for=300.0,
        )  # fmt: skip
        async with WebhookSender(config, ds) as sender:
            kill_at = rng.randint(expected // 4, expected // 2)
            await until(lambda: sender.stats.delivered >= kill_at, "a third of the events")
            await _kill(procs[0])  # a replica: Bird's retries reach the other one
            await _kill(procs[2])  # a worker: its pending entries are claimed by the others
            stats = await asyncio.wait_for(sender.wait_done(), 300)
        assert (stats.delivered, stats.gave_up) == (expected, 0)
        await until(lambda: _committed(db)[1] == expected, "every event committed")
        assert await _pending(redis_server.url, "asyncsdk:call-events") == 0
        for proc in (procs[1], *procs[3:]):
            code, _ = await _stop(proc)
            assert code == 0
    finally:
        for proc in procs:
            if proc.returncode is None:
                await _kill(proc)
        await server.close()
        await balancer.aclose()
    total, distinct = _committed(db)
    assert (total, distinct) == (expected, expected)  # each event once, none twice
    with sqlite3.connect(db) as conn:
        found = conn.execute("SELECT id, status, source FROM calls").fetchall()
    rows = {call_id: (status, source) for call_id, status, source in found}
    wrong = []
    for call_id in ds.call_ids[:calls]:
        call = ds.call(call_id)
        assert call is not None
        source = "api" if call.status in TERMINAL_STATUSES else "event"
        if rows.get(str(call_id)) != (call.status, source):
            wrong.append((str(call_id), rows.get(str(call_id)), call.status))
    assert not wrong, wrong[:5]


async def test_workers_killed_between_fetch_and_commit_and_between_commit_and_xack(
    redis_server: RedisServer, api: EmbeddedServer, tmp_path: Path
) -> None:
    ds = api.dataset
    db = tmp_path / "calls.sqlite"
    async with SQLiteCallStore(db):
        pass  # the tables exist before the lock below
    first, second = (
        next(c for c in ds.call_ids[n:] if (ds.call(c) or c).status in TERMINAL_STATUSES)  # type: ignore[union-attr]
        for n in (0, 50)
    )

    def gets(call_id: uuid.UUID) -> int:
        return sum(1 for r in api.requests if r.call_id == str(call_id))

    sink = RedisStreamSink(redis_server.url)
    lock = sqlite3.connect(db, isolation_level=None, timeout=30)
    a = await _start(*_worker(redis_server.url, api, db, "a"), expect="enriching")
    b: asyncio.subprocess.Process | None = None
    try:
        # 1. Killed between the fetch and the commit: the commit waits on a locked file.
        lock.execute("BEGIN EXCLUSIVE")
        call = ds.call(first)
        assert call is not None
        await sink(event_for(api, first, call.status or "completed"))
        await until(lambda: gets(first) == 1, "worker a fetching the call")
        await _kill(a)
        lock.execute("ROLLBACK")
        b = await _start(*_worker(redis_server.url, api, db, "b"), expect="enriching")
        await until(lambda: _committed(db)[0] == 1, "worker b committing the claimed entry")
        assert gets(first) == 2  # fetched again: nothing had been committed
        # 2. Killed between the commit and XACK: Redis refuses writes, the file does not.
        lock.execute("BEGIN EXCLUSIVE")
        call = ds.call(second)
        assert call is not None
        await sink(event_for(api, second, call.status or "completed"))
        await until(lambda: gets(second) == 1, "worker b fetching the second call")
        async with aioredis.Redis.from_url(redis_server.url) as r:
            await r.execute_command("CLIENT", "PAUSE", "60000", "WRITE")
            try:
                lock.execute("ROLLBACK")
                await until(lambda: _committed(db)[0] == 2, "worker b committing")
                await _kill(b)
            finally:
                await r.execute_command("CLIENT", "UNPAUSE")
        assert await _pending(redis_server.url, "asyncsdk:call-events") == 1
        c = await _start(*_worker(redis_server.url, api, db, "c"), expect="enriching")
        for _ in range(6000):  # bounded: the claim comes after --min-idle 1
            if await _pending(redis_server.url, "asyncsdk:call-events") == 0:
                break
            await asyncio.sleep(0.02)
        code, out = await _stop(c)
    finally:
        lock.close()
        for proc in (a, *([b] if b is not None else [])):
            if proc.returncode is None:
                await _kill(proc)
        await sink.aclose()
    assert code == 0
    assert "replayed 1" in out and "enriched 0" in out, out
    assert gets(second) == 1  # acknowledged without a second fetch
    assert _committed(db) == (2, 2)


@pytest.mark.parametrize("aof", [True, False], ids=["appendonly", "no-persistence"])
async def test_redis_killed_and_restarted(aof: bool) -> None:
    """With the AOF nothing acknowledged is lost; without it, the stream starts empty.

    Either way, while Redis is down every delivery gets 503, never 2xx.
    """
    server = RedisServer(redis_executable(), aof=aof)
    server.start()
    sink = RedisStreamSink(server.url, timeout=1.0)
    test_server = TestServer(webhook_app(SIGNING_KEY, sink, path="/bird", dedupe=False))
    await test_server.start_server()
    url = str(test_server.make_url("/bird"))
    bodies = [event_body(uuid.uuid4()) for _ in range(30)]
    try:
        async with aiohttp.ClientSession() as session:
            for n, body in enumerate(bodies):
                assert (await deliver(session, url, body, request_id=f"r{n}"))[0] == 200
            server.stop(signal.SIGKILL)  # a crash: no shutdown save
            late = event_body(uuid.uuid4())
            assert (await deliver(session, url, late, request_id="late"))[0] == 503
            server.start()
            async with aioredis.Redis.from_url(server.url) as r:
                kept = [decode_entry(f).request_id for _, f in await r.xrange(sink.stream)]
            if aof:
                assert kept == [f"r{n}" for n in range(30)]
            else:
                assert kept == []  # the loss window: everything not yet consumed
            # A retry of an acknowledged delivery: a duplicate only if Redis kept it.
            assert (await deliver(session, url, bodies[0], request_id="r0"))[0] == 200
            assert (await deliver(session, url, late, request_id="late"))[0] == 200
            async with aioredis.Redis.from_url(server.url) as r:
                length = await r.xlen(sink.stream)
            assert length == (31 if aof else 2)
    finally:
        await test_server.close()
        await sink.aclose()
        server.cleanup()
