"""Shared fixtures (the API fixtures on disk, a wire-level mock, the embedded server) and
the split between the fast loop and the full suite (`tests._fastloop`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Generator, Iterator

import pytest

from asyncsdk import Client
from asyncsdk.server import Dataset, EmbeddedServer, ServerConfig

from . import _fastloop
from ._aioresponses_compat import MockAPI
from ._support import ACCESS_KEY, MOCK_BASE, fixture_bytes


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``integration`` every test that needs a server, a socket, a process or Redis."""
    _fastloop.mark_items(items)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    """A unit test's fixtures may not open sockets, start processes or wait in real time."""
    with _fastloop.guarded(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Nor may the unit test itself."""
    with _fastloop.guarded(item):
        return (yield)


@pytest.fixture
def read_fixture() -> Callable[[str], bytes]:
    return fixture_bytes


@pytest.fixture
def mock_api() -> Iterator[MockAPI]:
    """aioresponses with the aiohttp 3.14 shim; loopback passes through untouched."""
    with MockAPI(passthrough=["http://127.0.0.1"]) as mocked:
        yield mocked


@pytest.fixture
async def mock_client() -> AsyncIterator[Client]:
    """A client pointed at the mocked host, no retries, for exact wire assertions."""
    async with Client(access_key=ACCESS_KEY, base_url=MOCK_BASE, max_retries=0) as client:
        yield client


@pytest.fixture
async def server() -> AsyncIterator[EmbeddedServer]:
    """The embedded Bird API server on a free loopback port, default dataset."""
    async with EmbeddedServer(ServerConfig(access_keys=(ACCESS_KEY,)), dataset=Dataset()) as srv:
        yield srv


@pytest.fixture
async def client(server: EmbeddedServer) -> AsyncIterator[Client]:
    """A real client talking to the embedded server over loopback HTTP."""
    async with Client(access_key=ACCESS_KEY, base_url=server.base_url) as c:
        yield c
