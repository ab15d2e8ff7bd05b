"""Shared fixtures (the API fixtures on disk, a wire-level mock, the embedded server) and
the split between the fast loop and the full suite (`tests._fastloop`)."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Callable, Generator, Iterator

import pytest

from asyncsdk import Client
from asyncsdk.server import Dataset, EmbeddedServer, ServerConfig

from . import _fastloop
from ._aioresponses_compat import MockAPI
from ._support import ACCESS_KEY, MOCK_BASE, fixture_bytes

#: The test files that take longest, longest first (measured on a shared 2-core machine).
#: They are collected first, so that under ``make pytest`` (``--dist loadfile
#: --no-loadscope-reorder``: a worker takes the next file in collection order) the
#: workers start with them and end on short files, instead of one worker finishing a
#: long file while the other has nothing left. A file missing here only runs later.
LONG_FILES = (
    "test_benchmarks_lab.py",
    "test_benchmarks.py",
    "test_examples.py",
    "test_client_workspaces.py",
    "test_throttling_shared.py",
    "test_redis_limiter.py",
    "test_stream_faults.py",
    "test_fleet.py",
    "test_listen_kills.py",
    "test_bulk.py",
    "test_cli_recordings.py",
    "test_cli_listen.py",
)
#: Workers for ``pytest -n auto``: one per CPU this process may use, at least two (most
#: integration tests wait more than they compute, so two overlap even on one core) and
#: at most four (each worker runs servers, Redis and process fleets of its own).
AUTO_WORKERS = (2, 4)


def pytest_configure(config: pytest.Config) -> None:
    """Let the commands these tests start see Ctrl-C, whatever started the suite.

    A shell starts a background job (``make test &``, ``nohup``) with SIGINT ignored, and
    an ignored signal stays ignored across ``exec``: every process the tests start would
    then ignore the SIGINT a test sends for Ctrl-C, and finish its work instead of
    stopping with 130 (as the command is right to, run in the background). A handler set
    here is reset to the default in each child, which is a terminal's Ctrl-C.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``integration`` every test that needs a server, a socket, a process or Redis;
    collect the longest files first (`LONG_FILES`)."""
    _fastloop.mark_items(items)
    items.sort(key=lambda item: long_first(item.path.name))


def long_first(file_name: str) -> int:
    """A file's place in the run: its rank in `LONG_FILES`, after them all if absent."""
    return LONG_FILES.index(file_name) if file_name in LONG_FILES else len(LONG_FILES)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto``: the CPUs this process may use, within `AUTO_WORKERS`.

    ``PYTEST_XDIST_AUTO_NUM_WORKERS`` still decides when set (pytest-xdist reads it).
    """
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    low, high = AUTO_WORKERS
    usable = getattr(os, "sched_getaffinity", None)
    cpus = len(usable(0)) if usable is not None else os.cpu_count() or 1
    return min(max(cpus, low), high)


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
