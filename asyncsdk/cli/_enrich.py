"""``asyncsdk enrich``: a worker that enriches a Redis stream's call events into SQLite.

The stream is the one ``asyncsdk listen --redis`` replicas fill; the worker is
`asyncsdk.webhooks.enrich_stream` with an `asyncsdk.webhooks.SQLiteCallStore` (each
entry committed, then acknowledged; pending entries of a crashed worker claimed;
dead letters after ``--max-deliveries``). Its client takes its grants from an
`asyncsdk.ratelimit.fleet.RedisRateLimiter` on the same Redis, so all workers share the workspace's
GET budget (``--rate-limit``, default `DEFAULT_SHARED_RATE`). Stopping (SIGINT,
SIGTERM) stops reading and finishes the entries read; a second signal stops at once
(what was read stays pending, and is claimed by another worker or by this one's next
start under the same ``--consumer``).

Imports: the SDK's public API (`asyncsdk.ratelimit.fleet` when it runs),
`asyncsdk.webhooks`, `_common`, `_replica`, `_telemetry` and the standard library.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import socket
import sqlite3
import sys
from pathlib import Path
from typing import Final

import asyncsdk
from asyncsdk.webhooks import (
    DEFAULT_FORGET_AFTER,
    DEFAULT_MAX_DELIVERIES,
    DEFAULT_MIN_IDLE,
    DEFAULT_STREAM,
    SQLiteCallStore,
    StreamError,
    StreamWorker,
    enrich_stream,
)

from . import _telemetry
from ._common import (
    UsageError,
    access_key_from,
    add_api_arguments,
    client_from_args,
    name_key_source,
    require_uuid,
)
from ._replica import PROGRESS_INTERVAL, on_stop_signals, report_lines, warnings_on_stderr

__all__ = ["DEFAULT_SHARED_RATE", "add_arguments", "progress_line", "run"]

DEFAULT_SHARED_RATE: Final = 50.0
"""GET requests per second the workers share: Bird documents 50 per workspace."""


def _forget_after(text: str) -> float | None:
    """``--forget-after``: seconds (> 0), or ``never`` (``None``).

    Raises:
        UsageError: Neither.
    """
    if text == "never":
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < float("inf"):
        raise UsageError(f"--forget-after: seconds > 0 or 'never', got {text!r}")
    return seconds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``asyncsdk enrich``."""
    parser.add_argument("--redis", metavar="URL", required=True, help="redis://host:port/db")
    parser.add_argument("--group", required=True, help="the consumer group the workers share")
    parser.add_argument("--workspace", required=True, help="the subscription's workspace (a UUID)")
    parser.add_argument("--db", type=Path, required=True, help="the SQLite file of calls")
    parser.add_argument(
        "--consumer",
        default=None,
        help="this worker's name in the group, the same across its restarts "
        "(default: HOSTNAME-PID)",
    )
    parser.add_argument("--stream", default=DEFAULT_STREAM, help="the stream (%(default)s)")
    parser.add_argument(
        "--channel", default=None, help="the channel of events whose payload has no channelId"
    )
    parser.add_argument(
        "--min-idle",
        type=float,
        default=DEFAULT_MIN_IDLE,
        help="seconds before another worker's pending entry is claimed (%(default)s)",
    )
    parser.add_argument(
        "--max-deliveries",
        type=int,
        default=DEFAULT_MAX_DELIVERIES,
        help="deliveries of a failing entry before it is dead-lettered (%(default)s)",
    )
    parser.add_argument(
        "--forget-after",
        default=f"{DEFAULT_FORGET_AFTER:g}",
        metavar="SECONDS",
        help="keep a committed entry's row in stream_entries this long once every group "
        "acknowledged it (%(default)s; 'never' keeps every row)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress lines")
    # Not the adaptive default of the other commands: the workers share one fixed budget.
    shared = (
        "GET/s all the workers sharing --redis and the key take together "
        f"(default: {DEFAULT_SHARED_RATE:g}, Bird's documented budget)"
    )
    add_api_arguments(parser, rate_help=shared)
    _telemetry.add_options(parser)


def progress_line(worker: StreamWorker) -> str:
    """The worker's counters, on one line."""
    s = worker.stats
    return (
        f"read {s.read} claimed {s.claimed} enriched {s.enriched} passed {s.passed} "
        f"replayed {s.replayed} failed {s.failed} dead {s.dead_lettered} "
        f"acknowledged {s.acknowledged} held {worker.held} redis-errors {s.redis_errors}"
    )


def _check(args: argparse.Namespace) -> float | None:
    """Refuse bad options before anything runs; return ``--forget-after`` as seconds."""
    for option, value in (("--workspace", args.workspace), ("--channel", args.channel)):
        require_uuid(option, value)
    forget_after = _forget_after(args.forget_after)
    if not args.min_idle > 0:
        raise UsageError(f"--min-idle must be a number of seconds > 0, got {args.min_idle}")
    if args.max_deliveries < 1:
        raise UsageError(f"--max-deliveries must be at least 1, got {args.max_deliveries}")
    return forget_after


@_telemetry.with_telemetry
async def run(args: argparse.Namespace) -> int:
    """Enrich until SIGINT or SIGTERM; finish what was read; print a summary."""
    shown = functools.partial(name_key_source, args=args)
    with warnings_on_stderr("enrich", enabled=not getattr(args, "debug", False), rewrite=shown):
        return await _run(args)


async def _run(args: argparse.Namespace) -> int:
    forget_after = _check(args)
    consumer = args.consumer or f"{socket.gethostname()}-{os.getpid()}"
    access_key = access_key_from(args)
    from asyncsdk.ratelimit.fleet import RedisRateLimiter  # redis-py: an optional extra

    try:
        # Keyed by a hash of the credential: every worker using it shares one limit.
        limiter = RedisRateLimiter(
            args.redis, rate=args.rate_limit or DEFAULT_SHARED_RATE, credential=access_key
        )
    except asyncsdk.ConfigurationError as exc:
        raise UsageError(str(exc)) from exc
    client = client_from_args(args, limiter=limiter)
    store = SQLiteCallStore(args.db)
    worker = enrich_stream(
        client,
        args.redis,
        stream=args.stream,
        group=args.group,
        consumer=consumer,
        store=store,
        workspace_id=args.workspace,
        channel_id=args.channel,
        concurrency=args.concurrency,
        min_idle=args.min_idle,
        max_deliveries=args.max_deliveries,
        forget_after=forget_after,
    )
    running: asyncio.Task[object] | None = None
    signals = 0

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            print("enrich: stopping: finishing the entries read (again to stop now)",
                  file=sys.stderr, flush=True)  # fmt: skip
            worker.stop()
        elif running is not None:
            running.cancel()

    uninstall = on_stop_signals(on_signal)
    progress: asyncio.Task[None] | None = None
    code = 0
    try:
        async with client:
            await store.open()
            print(f"enriching stream {args.stream} as {consumer} in group {args.group}",
                  flush=True)  # fmt: skip
            if not args.no_progress:
                progress = asyncio.create_task(
                    report_lines(
                        "enrich", lambda: progress_line(worker), sys.stderr, PROGRESS_INTERVAL
                    )
                )
            running = asyncio.ensure_future(worker.run())
            try:
                await running
            except asyncio.CancelledError:
                code = 130
            except StreamError as exc:  # Redis failed while stopping: nothing lost
                print(f"asyncsdk: error: enrich stopped: {exc}", file=sys.stderr)
                code = 1
            except asyncsdk.RunStoppedError as exc:
                reason = name_key_source(exc.reason, args)
                print(f"asyncsdk: error: enrich stopped: {reason}", file=sys.stderr)
                code = 1
            except sqlite3.Error as exc:  # the entries read stay pending: nothing lost
                print(f"asyncsdk: error: enrich stopped: writing {args.db} failed: "
                      f"{type(exc).__name__}: {exc}", file=sys.stderr)  # fmt: skip
                code = 1
    finally:
        if progress is not None:
            progress.cancel()
        uninstall()
        await store.close()
        await limiter.aclose()
    print(progress_line(worker), flush=True)
    return code
