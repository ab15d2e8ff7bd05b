"""A real ``redis-server`` for the tests: started from PATH on a free loopback port.

Persistence is off (``--save ''``, ``--appendonly no``), so nothing is written to disk
and a restart starts empty, like a crashed cache; ``aof=True`` turns the append-only
file on (``appendfsync always``), kept across `stop` and `start`. When
``redis-server`` is missing the Redis tests are skipped with a reason in the summary,
unless ``ASYNCSDK_REQUIRE_REDIS=1`` (set by ``.ci/run``), which makes the missing
server a failure. ``make test`` installs Debian's ``redis-server`` first when it runs
as root.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ._support import free_port

#: Set to 1 to fail, instead of skip, when ``redis-server`` is not on PATH.
REQUIRE_ENV = "ASYNCSDK_REQUIRE_REDIS"
#: Seconds to wait for a started server to answer PING.
START_TIMEOUT = 10.0


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One ``redis-server`` on ``127.0.0.1:port``; `stop` then `start` keeps the port."""

    def __init__(self, executable: str, port: int | None = None, *, aof: bool = False) -> None:
        self.executable = executable
        #: With the append-only file on, fsynced at every write (``appendfsync always``).
        self.aof = aof
        self.port = port or free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir = tempfile.mkdtemp(prefix="asyncsdk-redis-")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        assert not self.running
        self._proc = subprocess.Popen(
            [
                self.executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                *(("yes", "--appendfsync", "always") if self.aof else ("no",)),
                "--dir",
                self._dir,
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not _ping(self.port):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Stop the server (``SIGKILL`` to simulate a crash) and wait for it to exit."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def pause(self) -> None:
        """Freeze the server (``SIGSTOP``): it accepts connections and answers nothing."""
        assert self._proc is not None and self.running
        self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused server run again (``SIGCONT``)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGCONT)

    def cleanup(self) -> None:
        self.resume()  # a paused server would not end on SIGTERM
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)


def redis_executable() -> str:
    """Return the path of ``redis-server``, or skip (fail when required) if it is missing."""
    found = shutil.which("redis-server")
    if found is None:
        reason = (
            "redis-server is not on PATH: the Redis tests need a real server "
            "(`make test` installs Debian's redis-server when run as root)"
        )
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{reason}; {REQUIRE_ENV}=1 makes this a failure")
        pytest.skip(reason)
    return found


def run_redis() -> Iterator[RedisServer]:
    """Body of a fixture: a started `RedisServer`, stopped and removed afterwards."""
    server = RedisServer(redis_executable())
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: Seconds a worker process may take to start and print ``ready``.
READY_TIMEOUT = 60.0


async def run_workers(argvs: list[list[str]], *, limit: float = 120.0) -> tuple[float, list[Any]]:
    """Start ``python -m tests._redis_worker`` once per argv, release them together.

    Returns the wall-clock time they were released and each one's JSON result.
    """
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests._redis_worker",
            *argv,
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for argv in argvs
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), READY_TIMEOUT)
            assert line.strip() == b"ready", line
        go = time.time()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            await proc.stdin.drain()
        outputs = [await asyncio.wait_for(p.communicate(), limit) for p in procs]
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    results = []
    for proc, (out, _) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, f"worker exited with {proc.returncode}"
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    return go, results
