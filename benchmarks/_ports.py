"""Loopback ports for processes that must be told their port before they start.

`free_port` is shared by the scenarios and the tests. A port found free by binding port 0
and released is taken from the kernel's ephemeral range, which every outgoing connection
on the machine also draws from: between the release and the child's own bind, a
connection (the load generator's, another test worker's) can be given it, and the child
then fails to start. So ports are drawn below that range, never handed out twice by one
process, and under pytest-xdist from the worker's own slice. The standard library has no
such helper (``socket.bind(0)`` is the race itself). Imports: the standard library only.
"""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path

_handed_out: set[int] = set()
#: Its own generator: a test that seeds the module-level one must not repeat ports.
_random = random.Random()


def port_slice(low: int, high: int) -> tuple[int, int]:
    """This pytest-xdist worker's share of the ports ``[low, high)`` (all of it alone)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    try:
        index = int(worker.removeprefix("gw"))
        count = int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    except (KeyError, ValueError):
        return low, high
    size = (high - low) // max(count, 1)
    if not 0 <= index < count or size < 1:
        return low, high
    return low + index * size, low + (index + 1) * size


def free_port() -> int:
    """A loopback port for a process that must be told its port before it starts.

    Taken below the kernel's ephemeral range, so no socket bound to port 0 and no
    outgoing connection on this machine can be given it before that process binds it;
    never one this process handed out before; under pytest-xdist from the worker's own
    slice, so two workers never pick the same port between finding it free and binding it.
    """
    try:
        first = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        first = 32768
    floor = 10000 if first > 20000 else 1024  # a kernel with a wide ephemeral range
    low, high = port_slice(floor, max(first, floor + 1))
    for _ in range(200):
        port = _random.randrange(low, high)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free loopback port below the ephemeral range")
