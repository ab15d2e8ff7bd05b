"""A ``redis-server`` of a scenario's own, on a free loopback port.

`RedisServer` starts one (append-only file optional), waits for its ``PONG`` and stops
it, on a port from `benchmarks._ports.free_port`. redis-py's own test helpers
are not installed with it, and testcontainers would need Docker. Imports: the standard
library only.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks._ports import free_port

#: Seconds redis-server may take to answer its first PING.
STARTUP_TIMEOUT = 60.0


class RedisServer:
    """A redis-server child on 127.0.0.1; a context manager that stops it.

    Args:
        appendonly: Keep an append-only file, fsynced every second (as in production),
            rather than nothing on disk.
        directory: Its working directory; a temporary one (removed on stop) if None.
    """

    def __init__(self, *, appendonly: bool = False, directory: Path | None = None) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not on PATH (apt-get install redis-server)")
        self.port = free_port()
        self._own_dir = directory is None
        self._dir = str(directory) if directory else tempfile.mkdtemp(prefix="asyncsdk-redis-")
        aof = ("yes", "--appendfsync", "everysec") if appendonly else ("no",)
        self._proc = subprocess.Popen(
            [
                *(exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
                *("--dir", self._dir, "--loglevel", "warning", "--appendonly", *aof),
            ],
            stdout=subprocess.DEVNULL,
        )
        self.pid = self._proc.pid
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or self._proc.poll() is not None:
                self.stop()
                raise RuntimeError("redis-server did not start")
            time.sleep(0.02)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s) and remove its own directory."""
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._own_dir:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> RedisServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop()
