"""A canned HTTP/1.1 server in its own process, for scenarios that time the client alone.

The server is a raw `asyncio.Protocol`: on each keep-alive connection it answers every
complete request head at once with the same response, ``200 OK`` with
``tests/fixtures/call_realistic.json`` as an ``application/json`` body. It parses nothing
but the blank line ending each head (GET requests carry no body), so it costs little and
pipelined requests are answered in order.

Parent side: `CannedServer` starts ``python -m benchmarks._canned [--cpu N]``, reads the
port (and the CPUs the server runs on) from the child's first line, and stops the child
by closing its stdin. `pin` pins the calling process to one CPU, when the machine allows.

Run alone (serves until stdin closes): ``python -m benchmarks._canned [--cpu N]``.

Imports: the standard library and `benchmarks._harness`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Sequence

from benchmarks._harness import ROOT, Json, _child_env

FIXTURE = ROOT / "tests" / "fixtures" / "call_realistic.json"
#: Seconds to wait for the server to exit after its stdin closes.
STOP_TIMEOUT = 10.0


def pin(cpu: int | None) -> list[int] | None:
    """Pin this process to ``cpu``; return the CPUs it may run on, or None if unknown.

    Pinning is skipped (silently: the caller records the returned set) when ``cpu`` is
    None, the platform has no ``sched_setaffinity``, or the CPU is not available.
    """
    if not hasattr(os, "sched_getaffinity"):
        return None
    if cpu is not None:
        with contextlib.suppress(OSError, ValueError):
            os.sched_setaffinity(0, {cpu})
    return sorted(os.sched_getaffinity(0))


def response_bytes() -> bytes:
    """Return the one response the server sends: status line, headers and the fixture."""
    body = FIXTURE.read_bytes()
    head = (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


class _Canned(asyncio.Protocol):
    """Answer every complete request head on the connection with the same response."""

    def __init__(self, response: bytes) -> None:
        self._response = response
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        count = self._buffer.count(b"\r\n\r\n")  # GET requests carry no body
        if count:
            self._buffer = self._buffer.rpartition(b"\r\n\r\n")[2]
            assert self._transport is not None
            self._transport.write(self._response * count)


async def _serve(cpus: list[int] | None) -> None:
    response = response_bytes()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Canned(response), "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print(json.dumps({"port": port, "cpus": cpus}), flush=True)
    async with server:
        await loop.run_in_executor(None, sys.stdin.read)  # serve until the parent closes stdin


class CannedServer:
    """The canned server as a child process; use as a context manager.

    Args:
        cpu: Pin the server to this CPU (skipped if the machine does not allow it), or
            None to leave it unpinned.
    """

    def __init__(self, *, cpu: int | None = None) -> None:
        args = [] if cpu is None else ["--cpu", str(cpu)]
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._canned", *args],
            cwd=ROOT,
            env=_child_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert self._proc.stdout is not None
            line = self._proc.stdout.readline()
            if not line:
                raise RuntimeError(f"canned server exited (code {self._proc.wait()})")
            hello: Json = json.loads(line)
        except BaseException:
            self._kill()
            raise
        self.port: int = hello["port"]
        #: The CPUs the server may run on (None if the platform does not say).
        self.cpus: list[int] | None = hello["cpus"]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _kill(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    def close(self) -> None:
        """Stop the server: close its stdin, wait for it, kill it if it hangs."""
        try:
            if self._proc.poll() is None and self._proc.stdin is not None:
                self._proc.stdin.close()
                self._proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
        finally:
            self._kill()
            if self._proc.stdout is not None:
                self._proc.stdout.close()

    def __enter__(self) -> CannedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._canned")
    parser.add_argument("--cpu", type=int, default=None, help="pin the server to this CPU")
    ns = parser.parse_args(argv)
    asyncio.run(_serve(pin(ns.cpu)))


if __name__ == "__main__":
    _main(sys.argv[1:])
