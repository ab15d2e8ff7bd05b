"""The split between ``make check`` and the full suite (`tests._fastloop`).

The classification is read from code, so it is checked here without running anything;
the guard is checked doing each thing it refuses, so those tests are integration tests.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Callable

import pytest

from asyncsdk.server import EmbeddedServer

from . import _fastloop, _vtime


def _starts_a_server() -> object:
    return EmbeddedServer


def _sorts() -> list[int]:
    return sorted([3, 1, 2])


def test_a_server_named_through_a_helper_makes_an_integration_test() -> None:
    def body() -> None:
        _starts_a_server()

    assert _fastloop.triggers_in([body]) == {"EmbeddedServer"}


def test_code_that_names_nothing_real_makes_a_unit_test() -> None:
    def body() -> None:
        _sorts()
        asyncio.run(asyncio.sleep(0))

    assert _fastloop.triggers_in([body]) == set()


def test_the_server_fixture_makes_an_integration_test(request: pytest.FixtureRequest) -> None:
    server_fixture = request._fixturemanager.getfixturedefs("client", request.node)
    assert server_fixture is not None
    funcs = [d.func for d in server_fixture]
    # `client` names no server itself: its `server` fixture does, and the item's fixture
    # closure holds both.
    assert _fastloop.triggers_in(funcs) == set()
    defs = request._fixturemanager.getfixturedefs("server", request.node)
    assert defs is not None and _fastloop.triggers_in([d.func for d in defs])


def _bind() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))


def _resolve() -> None:
    socket.getaddrinfo("api.bird.test", 443)


def _process() -> None:
    subprocess.run([sys.executable, "-c", "pass"], check=True)


def _sleep() -> None:
    time.sleep(_fastloop.REAL_WAIT)


@pytest.mark.integration
@pytest.mark.parametrize("act", [_bind, _resolve, _process, _sleep])
def test_the_guard_refuses_what_a_unit_test_may_not_do(act: Callable[[], None]) -> None:
    guard = _fastloop.FastLoopGuard()
    guard.install()
    try:
        with pytest.raises(_fastloop.FastLoopError, match=r"@pytest\.mark\.integration"):
            act()
    finally:
        guard.uninstall()
    assert len(guard.violations) == 1


@pytest.mark.integration
def test_the_guard_records_a_real_wait_on_an_event_loop() -> None:
    guard = _fastloop.FastLoopGuard()
    guard.install()
    try:
        asyncio.run(asyncio.sleep(2 * _fastloop.REAL_WAIT))
    finally:
        guard.uninstall()
    assert len(guard.violations) == 1 and "waited" in guard.violations[0]


@pytest.mark.integration
def test_the_guard_lets_through_what_costs_nothing() -> None:
    guard = _fastloop.FastLoopGuard()
    guard.install()
    try:
        asyncio.run(asyncio.sleep(0.001))
        _vtime.run(asyncio.sleep(3600))  # virtual seconds
        time.sleep(0)
        socket.getaddrinfo("127.0.0.1", 80)
        subprocess.run(["git", "--version"], check=True, capture_output=True)
    finally:
        guard.uninstall()
    assert guard.violations == []
