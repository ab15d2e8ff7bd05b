"""Which tests belong to the fast loop (`make check`), decided and enforced here.

A test is ``integration`` when it needs a real server, a socket, a subprocess or real
waiting; the rest are unit tests, and ``make check`` runs only those. Nobody has to
mark a test by hand for the common cases:

- **Found before it runs** (`classify`): the test's code, the code of every fixture it
  uses (however indirectly) and of the functions it calls in `FOLLOWED` (the tests'
  helpers, the command line, the examples, the benchmarks) are read for the names of
  what starts a server, a process or a Redis, or opens a socket (`TRIGGERS`). A match
  marks the test ``integration``, with the reason.
- **Caught while it runs** (`FastLoopGuard`): a unit test, or its fixtures, that binds
  or connects a TCP/IP socket (loopback included), resolves a host name, starts a
  process (but `ALLOWED_COMMANDS`), or waits in real time (a ``time.sleep`` or an
  asyncio timer of `REAL_WAIT` seconds or more that fires on a real event loop) fails,
  saying what it did and how to mark it. So a test that the names missed is never
  run silently in the fast loop, in ``make check`` or in ``make test``.

The names are read from code objects (``co_names``), not from text: cheap (a few
hundred milliseconds for the whole suite) and blind to what a test reaches only
dynamically, which the guard then catches. No library decides this from what a test
does, so it is written here.

``@pytest.mark.integration`` marks what the names cannot see; ``@pytest.mark.slow``
marks a test that needs none of these but costs seconds of CPU. ``make check`` leaves
out both. Imports stdlib, pytest and ``tests._vtime`` (whose virtual clock waits are
free).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import ipaddress
import os
import socket
import subprocess
import sys
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ._vtime import VirtualTimeLoop

#: Names whose use means a server, a process, a Redis or a socket.
TRIGGERS = frozenset(
    {
        # the embedded Bird API server and other servers
        "EmbeddedServer",
        "serve",
        "TCPSite",
        "UnixSite",
        "SockSite",
        "TestServer",
        "create_server",
        "start_server",
        "uvicorn",
        # processes
        "subprocess",
        "create_subprocess_exec",
        "create_subprocess_shell",
        "Popen",
        "multiprocessing",
        "ProcessPoolExecutor",
        "fork",
        # Redis (tests._redis)
        "run_redis",
        "RedisServer",
        "run_workers",
        # sockets
        "socket",
        "open_connection",
        "create_connection",
        "refused_port",
        "free_port",
    }
)
#: Seconds of real waiting, in one ``time.sleep`` or one asyncio timer, that only an
#: ``integration`` or ``slow`` test may spend.
REAL_WAIT = 0.05
FAST_LOOP_MARKERS = ("integration", "slow")
#: Commands a unit test may run: griffe (the API reference's reader, which
#: tests/test_public_api.py uses) asks ``git`` where the package's repository is.
ALLOWED_COMMANDS = frozenset({"git"})

_HOW_TO_MARK = (
    "mark it @pytest.mark.integration (or @pytest.mark.slow for CPU), or make it fast "
    "(tests/_vtime.py runs asyncio waits on a virtual clock); see CONTRIBUTING.md"
)


# --- classification, before anything runs ------------------------------------------------


def _code_names(code: types.CodeType) -> Iterator[str]:
    """Every global and attribute name a code object and its nested code use."""
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_names(const)


ROOT = Path(__file__).resolve().parent.parent
#: Whose code is read through, besides the test's own: the tests' helpers, and the parts
#: of the project that start servers and processes for their callers (the command line,
#: the examples, the benchmarks). The core and the libraries are not read: their names
#: would mark every test that makes a client.
FOLLOWED = tuple(ROOT / part for part in ("tests", "asyncsdk/cli", "examples", "benchmarks"))


@functools.cache
def _is_followed_module(name: str) -> bool:
    """Whether module ``name`` is a file whose code `triggers_in` reads through."""
    file = getattr(sys.modules.get(name), "__file__", None)
    if file is None:
        return False
    path = Path(file).resolve()
    return any(path.is_relative_to(part) for part in FOLLOWED)


def _is_followed(obj: object) -> bool:
    module = getattr(obj, "__module__", None)
    return isinstance(module, str) and _is_followed_module(module)


def _functions_of(obj: object) -> Iterator[types.FunctionType]:
    """The Python functions behind a function, method, property or class."""
    obj = inspect.unwrap(obj) if callable(obj) else obj  # type: ignore[arg-type]
    if isinstance(obj, types.FunctionType):
        yield obj
    elif isinstance(obj, (staticmethod, classmethod)):
        yield from _functions_of(obj.__func__)
    elif isinstance(obj, property):
        for accessor in (obj.fget, obj.fset, obj.fdel):
            if accessor is not None:
                yield from _functions_of(accessor)
    elif isinstance(obj, type):
        for attr in vars(obj).values():
            yield from _functions_of(attr)


def triggers_in(roots: list[Any]) -> set[str]:
    """The `TRIGGERS` that ``roots`` use, following the functions they call in `FOLLOWED`.

    Each root is read, then every function or class of `FOLLOWED` it names (a helper, a
    fixture's helper, a command, a module-level scenario), once each; other code (the
    core, the libraries) is not read: only the names used to reach it count.
    """
    found: set[str] = set()
    seen: set[int] = set()
    todo = [fn for root in roots for fn in _functions_of(root)]
    while todo:
        fn = todo.pop()
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        for name in _code_names(fn.__code__):
            if name in TRIGGERS:
                found.add(name)
            target = fn.__globals__.get(name)
            if target is not None and _is_followed(target):
                todo.extend(_functions_of(target))
    return found


def _fixture_functions(item: pytest.Item) -> list[Any]:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return []
    return [
        fixturedef.func
        for name in item.fixturenames  # type: ignore[attr-defined]
        for fixturedef in info.name2fixturedefs.get(name, ())
    ]


def classify(item: pytest.Item) -> str | None:
    """Why ``item`` is an integration test, or ``None`` for a unit test."""
    if item.get_closest_marker("integration") is not None:
        return "marked"
    roots = [getattr(item, "function", None), *_fixture_functions(item)]
    found = triggers_in([root for root in roots if root is not None])
    return f"uses {', '.join(sorted(found))}" if found else None


def mark_items(items: list[pytest.Item]) -> None:
    """Add ``integration`` to each item `classify` finds needing the real world."""
    for item in items:
        reason = classify(item)
        if reason is not None and reason != "marked":
            item.add_marker(pytest.mark.integration(reason=reason))


# --- enforcement, while a unit test runs -------------------------------------------------


def _is_local(host: Any) -> bool:
    """Whether resolving ``host`` needs no name server: an IP literal or localhost."""
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if host is None or host == "localhost":
        return True
    try:
        ipaddress.ip_address(str(host).partition("%")[0])
    except ValueError:
        return False
    return True


class FastLoopGuard:
    """While a unit test runs, refuses sockets, processes and real waits, and records them.

    An exception raised inside an event loop's callback could be swallowed by the loop,
    so every refusal is also recorded, and the test fails on it afterwards.
    """

    def __init__(self) -> None:
        self.violations: list[str] = []
        self._undo: list[Callable[[], None]] = []

    def _refuse(self, what: str) -> None:
        self.violations.append(what)
        raise FastLoopError(f"a unit test {what}: {_HOW_TO_MARK}")

    def _patch(self, owner: Any, name: str, make: Callable[[Any], Any]) -> None:
        original = getattr(owner, name)
        setattr(owner, name, make(original))
        self._undo.append(lambda: setattr(owner, name, original))

    def install(self) -> None:
        """Patch the refusals in."""
        guard = self

        def socket_op(op: str) -> Callable[[Any], Any]:
            def make(original: Any) -> Any:
                def guarded(sock: socket.socket, address: Any, *args: Any) -> Any:
                    if sock.family in (socket.AF_INET, socket.AF_INET6):
                        guard._refuse(f"called socket.{op}({address!r})")
                    return original(sock, address, *args)

                return guarded

            return make

        for op in ("bind", "connect", "connect_ex"):
            self._patch(socket.socket, op, socket_op(op))

        def no_process(original: Any) -> Any:
            def guarded(*args: Any, **kwargs: Any) -> Any:
                guard._refuse("started a process")

            return guarded

        def no_child(original: Any) -> Any:
            def guarded(popen: Any, args: Any, *rest: Any, **kwargs: Any) -> Any:
                argv = [args] if isinstance(args, str | bytes | os.PathLike) else list(args)
                if os.path.basename(os.fsdecode(argv[0])) not in ALLOWED_COMMANDS:
                    guard._refuse(f"started the process {argv!r}")
                return original(popen, args, *rest, **kwargs)

            return guarded

        self._patch(subprocess.Popen, "_execute_child", no_child)
        self._patch(os, "fork", no_process)
        self._patch(os, "posix_spawn", no_process)

        def no_sleep(original: Any) -> Any:
            def guarded(seconds: float) -> None:
                if seconds >= REAL_WAIT:
                    guard._refuse(f"called time.sleep({seconds:g})")
                original(seconds)

            return guarded

        self._patch(time, "sleep", no_sleep)

        def local_names_only(original: Any) -> Any:
            def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
                if not _is_local(host):
                    guard._refuse(f"resolved the host name {host!r}")
                return original(host, *args, **kwargs)

            return guarded

        self._patch(socket, "getaddrinfo", local_names_only)

        def watched_timer(original: Any) -> Any:
            def call_at(
                loop: asyncio.BaseEventLoop, when: float, callback: Any, *args: Any, **kw: Any
            ) -> asyncio.TimerHandle:
                delay = when - loop.time()
                if delay < REAL_WAIT or isinstance(loop, VirtualTimeLoop):
                    return original(loop, when, callback, *args, **kw)  # type: ignore[no-any-return]

                def fired(*cb_args: Any) -> None:
                    guard.violations.append(f"waited {delay:.3g} s in real time on {loop!r}")
                    callback(*cb_args)

                return original(loop, when, fired, *args, **kw)  # type: ignore[no-any-return]

            return call_at

        self._patch(asyncio.BaseEventLoop, "call_at", watched_timer)

    def uninstall(self) -> None:
        """Undo every patch, last first."""
        while self._undo:
            self._undo.pop()()


class FastLoopError(Exception):
    """A unit test did what only an integration test may do."""


@contextlib.contextmanager
def guarded(item: pytest.Item) -> Iterator[None]:
    """Run one phase of ``item`` under `FastLoopGuard` if it is a unit test."""
    if any(item.get_closest_marker(name) for name in FAST_LOOP_MARKERS):
        yield
        return
    guard = FastLoopGuard()
    guard.install()
    try:
        yield
    finally:
        guard.uninstall()
    if guard.violations:
        raise FastLoopError(
            f"{item.nodeid} is not marked integration, yet it "
            + "; ".join(dict.fromkeys(guard.violations))
            + f". {_HOW_TO_MARK}"
        )
