"""A canned HTTP/1.1 server in its own process, for scenarios that time the client alone.

The server is a raw `asyncio.Protocol`: on each keep-alive connection it answers every
complete request head at once with the same response, ``200 OK`` with
``tests/fixtures/call_realistic.json`` as an ``application/json`` body, whatever the path
(so any IDs do: `WORKSPACE_ID`, `CHANNEL_ID`). It parses nothing but the blank line ending
each head (GET requests carry no body), so it costs little and pipelined requests are
answered in order.

`CannedServer` is a `benchmarks._procs.Worker` whose hello is the port (and the CPUs the
server runs on), stopped by closing its stdin. `pin` pins the calling process to one CPU,
when the machine allows.

Imports: the standard library and the benchmarks' harness.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import uuid

from benchmarks._harness import FIXTURES
from benchmarks._procs import Worker

FIXTURE = FIXTURES / "call_realistic.json"
ACCESS_KEY = "benchmark-key"
WORKSPACE_ID = uuid.UUID("11111111-1111-4111-8111-111111111111")
CHANNEL_ID = uuid.UUID("22222222-2222-4222-8222-222222222222")
CALL_ID = uuid.UUID("33333333-3333-4333-8333-333333333333")


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
    body = FIXTURE.read_bytes()
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
    response = (head + "\r\n\r\n").encode() + body
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Canned(response), "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print(json.dumps({"port": port, "cpus": cpus}), flush=True)
    async with server:
        await loop.run_in_executor(None, sys.stdin.read)  # serve until the parent closes stdin


class CannedServer(Worker):
    """The canned server as a child process; use as a context manager.

    Args:
        cpu: Pin the server to this CPU (skipped if the machine does not allow it), or
            None to leave it unpinned.
    """

    def __init__(self, *, cpu: int | None = None) -> None:
        super().__init__("benchmarks._canned", [] if cpu is None else [str(cpu)])
        try:
            hello = self.read()
        except BaseException:
            self.close()
            raise
        self.port: int = hello["port"]
        #: The CPUs the server may run on (None if the platform does not say).
        self.cpus: list[int] | None = hello["cpus"]
        self.base_url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> CannedServer:
        return self


if __name__ == "__main__":  # python -m benchmarks._canned --worker [CPU]: until stdin closes
    asyncio.run(_serve(pin(int(sys.argv[2]) if sys.argv[2:] else None)))
