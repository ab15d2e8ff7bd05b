"""Constants and helpers shared by the tests (no fixtures, no server imports)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from benchmarks._ports import free_port as free_port  # the tests' ports come from here too

FIXTURES = Path(__file__).parent / "fixtures"
ACCESS_KEY = "test-access-key"
WORKSPACE = uuid.UUID("0f1e2d3c-4b5a-4697-8877-665544332211")
CHANNEL = uuid.UUID("8d2e4f60-7a1b-4c3d-8e9f-0a1b2c3d4e5f")
CALL = uuid.UUID("5f0c7a9e-3b1d-4c8e-9a52-1d7e0b6f2a41")
MOCK_BASE = "https://api.bird.test"
CALL_URL = f"{MOCK_BASE}/workspaces/{WORKSPACE}/channels/{CHANNEL}/calls/{CALL}"


def fixture_bytes(name: str) -> bytes:
    """Read one of the project's copies of the API fixtures."""
    return (FIXTURES / name).read_bytes()


async def wait_until(
    condition: Callable[[], bool | Awaitable[bool]], *, within: float = 30.0, what: str = ""
) -> None:
    """Poll ``condition`` every 10 ms until it holds; fail after ``within`` seconds.

    For waiting on something another task or process does, instead of a fixed sleep
    that assumes how fast it runs: the bound is generous (a loaded machine is slow,
    not stuck), and a condition that never holds fails the test instead of hanging it.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        held = condition()
        if not isinstance(held, bool):
            held = await held
        if held:
            return
        if loop.time() > deadline:
            raise AssertionError(f"not within {within:g}s: {what or condition}")
        await asyncio.sleep(0.01)


def wait_until_blocking(
    condition: Callable[[], bool],
    *,
    within: float = 30.0,
    what: str = "",
    process: subprocess.Popen[str] | subprocess.Popen[bytes] | None = None,
) -> None:
    """`wait_until` for a test with no event loop, waiting on another process.

    Polls every 10 ms; fails after ``within`` seconds, or at once when ``process``
    (the one expected to make ``condition`` hold) has ended without making it hold.
    Failing after ``within`` seconds, it kills ``process``: no process outlives the test.
    """
    deadline = time.monotonic() + within
    while not condition():
        if process is not None and process.poll() is not None and not condition():
            raise AssertionError(f"the process ended ({process.returncode}) before: {what}")
        if time.monotonic() > deadline:
            if process is not None:
                process.kill()
                process.wait()
            raise AssertionError(f"not within {within:g}s: {what or condition}")
        time.sleep(0.01)


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A loopback port that refuses connections for as long as the block runs.

    A socket bound but not listening holds it: a connection is refused, and no other
    process can start listening there meanwhile (a port merely found free and closed
    again can be taken by anyone before the test connects).
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@contextlib.contextmanager
def served(*args: str) -> Iterator[list[str]]:
    """Run ``python -m asyncsdk.server --port 0 ARGS`` as a user would; yield its announcement.

    The announcement is its first line, as words (``serving URL workspace=...
    channel=...``); the server is stopped with SIGINT, as by Ctrl-C, when the block ends.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "asyncsdk.server", "--port", "0", *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    try:
        yield proc.stdout.readline().split()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
        proc.stdout.close()
