"""``asyncsdk listen --redis URL``: one receiver replica whose sink is a Redis stream.

Run several behind a load balancer: each verifies deliveries and appends them to the
stream through `asyncsdk.webhooks.RedisStreamSink` (deduplicated across replicas,
2xx only once Redis stored the entry, 503 with ``Retry-After`` while Redis cannot);
``asyncsdk enrich`` workers read the stream. Stopping (SIGINT, SIGTERM) closes the
port first, then lets the deliveries in flight get their answers (up to
`SHUTDOWN_TIMEOUT` seconds; a second signal stops at once: an unanswered delivery is
retried by Bird). Also the signal, progress and warning helpers the commands share.

Imports: aiohttp, `asyncsdk.webhooks`, `_common` and the standard library.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Final, TextIO

from aiohttp import web

from asyncsdk.webhooks import (
    DEFAULT_MAX_BODY,
    DEFAULT_STREAM,
    DEFAULT_STREAM_MAXLEN,
    RedisStreamSink,
    WebhookReceiver,
)

from ._common import UsageError, refusals

__all__ = [
    "HEARTBEAT",
    "SHUTDOWN_TIMEOUT",
    "add_replica_arguments",
    "on_stop_signals",
    "replica_summary",
    "report_lines",
    "run_replica",
    "warnings_on_stderr",
    "worth_reporting",
]

#: Seconds the deliveries in flight get to finish once the port is closed.
SHUTDOWN_TIMEOUT: Final = 30.0
#: Seconds between progress lines.
PROGRESS_INTERVAL: Final = 2.0
#: Seconds after which an unchanged progress line is written again.
HEARTBEAT: Final = 60.0


class _Lines(logging.Formatter):
    """``command: warning: message``, each line passed through ``rewrite``."""

    def __init__(self, command: str, rewrite: Callable[[str], str]) -> None:
        super().__init__(f"{command}: warning: %(message)s")
        self._rewrite = rewrite

    def format(self, record: logging.LogRecord) -> str:
        return self._rewrite(super().format(record))


@contextlib.contextmanager
def warnings_on_stderr(
    command: str,
    *,
    enabled: bool = True,
    rewrite: Callable[[str], str] = str,
    only: Callable[[logging.LogRecord], bool] | None = None,
) -> Iterator[None]:
    """Show the SDK's warnings on standard error, as ``command: warning: ...``, meanwhile.

    The package logs to a `logging.NullHandler`, so without this a worker whose Redis
    does not answer went on retrying with only its ``redis-errors`` count rising, and
    a dead-lettered entry or a lost group said nothing. The warnings are already
    throttled where they could flood (the receiver's refusals). ``enabled=False``
    (``--debug``, whose root handler shows them) adds nothing; ``rewrite`` adapts a
    line to the command (`_common.name_key_source`); ``only`` keeps the records it
    accepts (a command that reports a failure itself shows only the others).
    """
    if not enabled:
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(_Lines(command, rewrite))
    if only is not None:
        handler.addFilter(only)
    sdk_logger = logging.getLogger("asyncsdk")
    sdk_logger.addHandler(handler)
    try:
        yield
    finally:
        sdk_logger.removeHandler(handler)


def on_stop_signals(handler: Callable[[], None]) -> Callable[[], None]:
    """Call ``handler`` on SIGINT and SIGTERM (where the loop can); return the undo."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, handler)
            installed.append(signum)

    def uninstall() -> None:
        for signum in installed:
            loop.remove_signal_handler(signum)

    return uninstall


def worth_reporting(text: str, last: str | None, quiet: float, heartbeat: float) -> bool:
    """Say whether a progress line is written: it changed, or none was for ``heartbeat`` s.

    An idle worker or replica repeated the same line every 2 s, 43,200 lines a day in
    its service's log; a line a minute still shows that it is alive.
    """
    return text != last or quiet >= heartbeat


async def report_lines(
    command: str,
    line: Callable[[], str],
    stream: TextIO,
    interval: float,
    *,
    heartbeat: float = HEARTBEAT,
) -> None:
    """Write ``command: line()`` every ``interval`` seconds while it changes, until cancelled.

    An unchanged line is written again only after ``heartbeat`` seconds (`worth_reporting`).
    """
    last: str | None = None
    quiet = 0.0
    while True:
        await asyncio.sleep(interval)
        text = line()
        quiet += interval
        if not worth_reporting(text, last, quiet, heartbeat):
            continue
        stream.write(f"{command}: {text}\n")
        stream.flush()
        last, quiet = text, 0.0


def add_replica_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``asyncsdk listen`` for a replica (``--redis``)."""
    group = parser.add_argument_group("replica (Redis Streams)")
    group.add_argument(
        "--redis",
        metavar="URL",
        default=None,
        help="run a receiver replica: append events to a Redis stream (redis://host:port/db) "
        "for `asyncsdk enrich`, instead of --out",
    )
    group.add_argument(
        "--stream", default=DEFAULT_STREAM, help="with --redis, the stream (%(default)s)"
    )
    group.add_argument(
        "--maxlen",
        type=int,
        default=DEFAULT_STREAM_MAXLEN,
        help="with --redis, entries the stream may hold before deliveries get 503 (%(default)s)",
    )


def _check(args: argparse.Namespace) -> None:
    for option, value in (
        ("--out", args.out),
        ("--enrich", args.enrich),
        ("--db", args.db),
        ("--channel", args.channel),
    ):
        if value is not None:
            raise UsageError(
                f"{option} is not for a replica (--redis): run `asyncsdk enrich` to fetch calls"
            )
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be 0 to 65535, got {args.port}")
    if args.maxlen < 0:
        raise UsageError(f"--maxlen must be 0 (no limit) or more, got {args.maxlen}")


def replica_summary(receiver: WebhookReceiver, sink: RedisStreamSink) -> str:
    """One line: what the replica appended, deduplicated and refused."""
    stats, appended = receiver.stats, sink.stats
    return (
        f"{appended.appended} events appended to stream {sink.stream}; "
        f"{receiver.stats.duplicates + appended.duplicates} duplicates acknowledged, "
        f"{stats.busy} deferred (503: Redis unavailable {appended.unavailable}, "
        f"stream full {appended.full}), {refusals(stats.refused)}"
    )


async def run_replica(args: argparse.Namespace, signing_keys: tuple[str, ...]) -> int:
    """Receive into the Redis stream until SIGINT or SIGTERM; print a summary.

    Raises:
        UsageError: An option that does not fit a replica, or a bad ``--redis`` URL.
    """
    _check(args)
    try:
        sink = RedisStreamSink(
            args.redis, stream=args.stream, maxlen=args.maxlen, telemetry=args.telemetry
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    receiver = WebhookReceiver(
        list(signing_keys),
        sink,
        public_url=args.public_url,
        trust_forwarded=args.trust_forwarded,
        max_body=DEFAULT_MAX_BODY,
        telemetry=args.telemetry,
    )
    app = web.Application(client_max_size=DEFAULT_MAX_BODY)
    app.router.add_route("*", args.path, receiver.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
    stop, hurry = asyncio.Event(), asyncio.Event()

    def on_signal() -> None:
        if not stop.is_set():
            print("listen: stopping: closing the port, answering deliveries in flight",
                  file=sys.stderr, flush=True)  # fmt: skip
            stop.set()
        else:
            hurry.set()

    uninstall = on_stop_signals(on_signal)
    progress: asyncio.Task[None] | None = None
    try:
        await runner.setup()
        site = web.TCPSite(runner, args.host, args.port)
        await site.start()
        host, port = runner.addresses[0][:2]
        try:
            await sink.redis.ping()
        except Exception as exc:  # still serve: deliveries get 503 until Redis answers
            print(f"listen: warning: Redis does not answer yet ({type(exc).__name__}); "
                  "deliveries get 503 until it does", file=sys.stderr, flush=True)  # fmt: skip
        print(f"listening on http://{host}:{port}{args.path} (stream {args.stream})", flush=True)
        if not args.no_progress:
            line = lambda: replica_summary(receiver, sink)  # noqa: E731
            progress = asyncio.create_task(
                report_lines("listen", line, sys.stderr, PROGRESS_INTERVAL)
            )
        await stop.wait()
    finally:
        if progress is not None:
            progress.cancel()
        closing = asyncio.ensure_future(runner.cleanup())  # the port first, then in flight
        hurried = asyncio.ensure_future(hurry.wait())
        await asyncio.wait((closing, hurried), return_when=asyncio.FIRST_COMPLETED)
        hurried.cancel()
        if not closing.done():
            closing.cancel()
        await asyncio.gather(closing, hurried, return_exceptions=True)
        await sink.aclose()
        uninstall()
    print(replica_summary(receiver, sink), flush=True)
    return 130 if hurry.is_set() else 0
