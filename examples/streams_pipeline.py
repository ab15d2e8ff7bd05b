"""Call events across processes: 2 receivers behind a balancer, 3 workers, one Redis.

Everything runs on loopback, started by this script: ``redis-server`` (append-only
file on), the embedded Bird API server, which plays calls and delivers their status
webhooks (retrying as Bird does), a small round-robin balancer, two receiver
replicas (``asyncsdk listen --redis``) and three workers (``asyncsdk enrich``) that
share the workspace's 50 GET/s through Redis. It waits until every delivered event is
in the SQLite store, stops the processes with SIGTERM, and checks the store (exit
status 1 unless every delivered event was committed exactly once).
Needs ``redis-server`` on PATH and ``pip install 'asyncsdk[redis]'``.
"""

import asyncio
import itertools
import os
import shutil
import signal
import socket
import sqlite3
import sys
import tempfile
from pathlib import Path

import aiohttp
from aiohttp import web

from asyncsdk.server import Dataset, EmbeddedServer, ServerConfig, WebhookConfig, WebhookSender

CALLS = int(os.environ.get("PIPELINE_CALLS", "150"))
ACCESS_KEY = "pipeline-access-key"
SIGNING_KEY = "pipeline-signing-key"


def free_port() -> int:
    """A port that was free a moment ago: for redis-server, which cannot report its own."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_redis(work: Path) -> tuple[asyncio.subprocess.Process, str]:
    """Start redis-server on a free port (another one if it was taken meanwhile)."""
    executable = shutil.which("redis-server")
    if executable is None:
        raise SystemExit("this example needs redis-server on PATH")
    for _ in range(5):
        port = free_port()
        redis = await asyncio.create_subprocess_exec(
            executable, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(work),
            "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(600):  # up to 30 s for its first answer
            if redis.returncode is not None:
                break  # the port was taken before it could bind it: another port
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(b"PING\r\n")
                answer = await asyncio.wait_for(reader.readline(), 5)
                writer.close()
                await writer.wait_closed()
            except (OSError, TimeoutError):
                answer = b""
            if answer.startswith(b"+PONG"):
                return redis, f"redis://127.0.0.1:{port}/0"
            await asyncio.sleep(0.05)
        if redis.returncode is None:
            redis.kill()
        await redis.wait()
    raise SystemExit("redis-server did not start")


class Balancer:
    """Round-robin over the replicas; one that refuses connections is skipped."""

    def __init__(self, backends: list[str]) -> None:
        self.backends = backends
        self._turn = itertools.count()
        self._session: aiohttp.ClientSession | None = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower().startswith("messagebird")}
        headers["Content-Type"] = request.headers.get("Content-Type", "application/json")
        if self._session is None:
            self._session = aiohttp.ClientSession()
        for _ in self.backends:
            backend = self.backends[next(self._turn) % len(self.backends)]
            try:
                async with self._session.post(
                    backend + request.path_qs, data=body, headers=headers
                ) as resp:
                    retry = {"Retry-After": resp.headers.get("Retry-After", "1")}
                    return web.Response(status=resp.status, body=await resp.read(), headers=retry)
            except aiohttp.ClientConnectorError:
                continue  # down: the next one
            except aiohttp.ClientError:
                break  # cut off mid-request: 502, and Bird retries
        return web.Response(status=502, text="no replica answered")

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


async def wait_for_line(proc: asyncio.subprocess.Process, prefix: str) -> str:
    """The process's first line, which must start with ``prefix``."""
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
    if not line.startswith(prefix):
        raise RuntimeError(f"expected {prefix!r}, got {line!r}")
    return line


async def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="asyncsdk-pipeline-"))
    redis, redis_url = await start_redis(work)
    print("redis-server: appendonly yes, appendfsync everysec")
    dataset = Dataset(size=CALLS, seed=7)
    procs: list[asyncio.subprocess.Process] = []
    env = {**os.environ, "BIRD_ACCESS_KEY": ACCESS_KEY, "BIRD_WEBHOOK_SIGNING_KEY": SIGNING_KEY}
    balancer = Balancer([])  # the replicas' addresses, once they listen
    app = web.Application()
    app.router.add_post("/bird", balancer.handle)
    runner = web.AppRunner(app, access_log=None)
    try:
        # Every listener takes a port of its own choosing (port 0) and says which: no
        # port is picked here that another process could take first.
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        public = f"http://127.0.0.1:{runner.addresses[0][1]}"
        async with EmbeddedServer(ServerConfig(access_keys=(ACCESS_KEY,)), dataset=dataset) as api:
            for _ in range(2):
                replica = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "asyncsdk", "listen", "--redis", redis_url,
                    "--port", "0", "--path", "/bird", "--public-url", public, "--no-progress",
                    env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
                )  # fmt: skip
                procs.append(replica)
                line = await wait_for_line(replica, "listening on ")
                url = line.split()[2]  # listening on http://127.0.0.1:PORT/bird (stream ...)
                balancer.backends.append(url.removesuffix("/bird"))
            for n in range(3):
                worker = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "asyncsdk", "enrich", "--redis", redis_url,
                    "--group", "enrich", "--consumer", f"worker-{n}", "--no-progress",
                    "--workspace", str(dataset.workspace_id), "--db", str(work / "calls.sqlite"),
                    "--base-url", api.base_url, "--min-idle", "5",
                    env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
                )  # fmt: skip
                procs.append(worker)
                await wait_for_line(worker, "enriching stream")
            print("2 receivers behind the balancer, 3 workers in group 'enrich'")
            config = WebhookConfig(
                url=f"{public}/bird", signing_key=SIGNING_KEY, calls_per_second=100.0,
                step=0.05, retry_for=120.0,
            )  # fmt: skip
            async with WebhookSender(config, dataset) as sender:
                stats = await sender.wait_done()
            print(f"Bird delivered {stats.delivered} events, gave up on {stats.gave_up}")
            committed = 0
            for _ in range(1200):  # at most a minute: every delivered event committed
                if work.joinpath("calls.sqlite").exists():
                    with sqlite3.connect(work / "calls.sqlite") as db:
                        query = "SELECT count(DISTINCT request_id) FROM stream_entries"
                        committed = db.execute(query).fetchone()[0]
                if committed >= stats.delivered:
                    break
                await asyncio.sleep(0.05)
            for proc in procs:
                proc.send_signal(signal.SIGTERM)  # ports close first, then work in hand ends
            codes = [await asyncio.wait_for(proc.wait(), 60) for proc in procs]
            print(f"stopped with SIGTERM, exit codes {codes}")
            with sqlite3.connect(work / "calls.sqlite") as db:
                entries = db.execute("SELECT count(*) FROM stream_entries").fetchone()[0]
                query = "SELECT count(DISTINCT request_id) FROM stream_entries"
                distinct = db.execute(query).fetchone()[0]
                rows = dict(db.execute("SELECT id, status FROM calls").fetchall())
            calls = [dataset.call(call_id) for call_id in dataset.call_ids]
            final = sum(1 for c in calls if c is not None and rows.get(str(c.id)) == c.status)
            once = entries == distinct == stats.delivered
            verdict = "each once" if once else f"NOT each of the {stats.delivered} once"
            print(f"{entries} events committed, {distinct} distinct: {verdict}")
            print(f"{final} of {CALLS} calls in the store at their final status")
            if not once or final != CALLS or any(codes):
                raise SystemExit(1)
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        await runner.cleanup()
        await balancer.aclose()
        if redis.returncode is None:
            redis.terminate()
        await redis.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
