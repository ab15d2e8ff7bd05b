"""``asyncsdk listen``: the command around `Listener` (options, signals, summary).

The pipeline itself, how it keeps every event and catches up on start, is described
in `asyncsdk.cli._listener`. With ``--redis URL`` the command runs a receiver replica
instead (`asyncsdk.cli._replica`): events go to a Redis stream, for ``asyncsdk enrich``.

Imports: the SDK's public API, the listener's modules (`_listener`, `_catchup`),
`_replica`, `_common` and the standard library.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from pathlib import Path
from typing import TextIO

from asyncsdk.webhooks import RECEIVER_WARNING

from . import _telemetry
from ._catchup import load_seen
from ._common import (
    UsageError,
    add_api_arguments,
    client_from_args,
    name_key_source,
    refusals,
    require_uuid,
)
from ._listener import (
    DEFAULT_LISTEN_PORT,
    DEFAULT_QUEUE_SIZE,
    Listener,
    ListenOptions,
    StageFailure,
)
from ._replica import (
    add_replica_arguments,
    on_stop_signals,
    report_lines,
    run_replica,
    warnings_on_stderr,
)

__all__ = [
    "ListenOptions",
    "Listener",
    "StageFailure",
    "add_arguments",
    "load_seen",
    "options_from_args",
    "run",
    "summary",
]

ENV_SIGNING_KEY = "BIRD_WEBHOOK_SIGNING_KEY"
#: The SQLite file of ``--enrich`` when ``--db`` is not given.
DEFAULT_DB = Path("calls.sqlite")
#: Seconds between progress lines.
PROGRESS_INTERVAL = 2.0
#: The exit code after a second Ctrl-C (what was left is in the file): interrupted.
EXIT_HURRIED = 130
STOPPING = "listen: stopping: finishing the events acknowledged (Ctrl-C again to stop now)"
HURRYING = "listen: stopping now: what is left is in {out}, and the next start applies it"


async def report_progress(listener: Listener, stream: TextIO, interval: float) -> None:
    """Write ``listener``'s progress line every ``interval`` seconds until cancelled."""
    await report_lines("listen", listener.progress_line, stream, interval)


# --- the command --------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``asyncsdk listen``."""
    parser.add_argument("--host", default="127.0.0.1", help="interface (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_LISTEN_PORT, help="port (default: %(default)s)"
    )
    parser.add_argument("--path", default="/", help="the path Bird posts to (default: /)")
    parser.add_argument(
        "--signing-key",
        action="append",
        dest="signing_keys",
        metavar="KEY",
        help=f"the subscription's signing key, repeatable during a rotation (default: "
        f"${ENV_SIGNING_KEY}); prefer the variable, command lines are visible to others",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON Lines file of events (without --redis)"
    )
    parser.add_argument(
        "--enrich",
        metavar="WORKSPACE",
        default=None,
        help="fetch the details of terminal calls in this workspace into --db",
    )
    parser.add_argument(
        "--channel",
        default=None,
        help="with --enrich, the channel of events whose payload has no channelId",
    )
    parser.add_argument(
        "--db", type=Path, default=None, help=f"with --enrich, the SQLite file ({DEFAULT_DB})"
    )
    parser.add_argument(
        "--public-url",
        default=None,
        help="scheme, host and path prefix Bird calls, when behind a proxy",
    )
    parser.add_argument(
        "--trust-forwarded",
        action="store_true",
        help="take scheme and host from X-Forwarded-Proto/-Host (behind your own proxy only)",
    )
    parser.add_argument(
        "--queue-size",
        type=int,
        default=DEFAULT_QUEUE_SIZE,
        help="events accepted ahead of processing; beyond, 503 (%(default)s)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress lines")
    add_replica_arguments(parser)
    add_api_arguments(parser)
    _telemetry.add_options(parser)


def signing_keys(args: argparse.Namespace) -> tuple[str, ...]:
    """Return the signing keys (``--signing-key``, else the variable).

    Raises:
        UsageError: None given.
    """
    keys = tuple(args.signing_keys or ())
    if not keys and os.environ.get(ENV_SIGNING_KEY):
        keys = (os.environ[ENV_SIGNING_KEY],)
    if not keys or not all(keys):
        raise UsageError(f"no signing key: set {ENV_SIGNING_KEY} or pass --signing-key")
    return keys


def options_from_args(args: argparse.Namespace) -> ListenOptions:
    """Resolve the command's options.

    Raises:
        UsageError: No signing key, or an option out of range.
    """
    keys = signing_keys(args)
    if args.out is None:
        raise UsageError("--out FILE is needed (or --redis URL, to run a replica)")
    if args.queue_size < 1:
        raise UsageError(f"--queue-size must be at least 1, got {args.queue_size}")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be 0 to 65535, got {args.port}")
    if args.enrich is None:
        for option, value in (("--channel", args.channel), ("--db", args.db)):
            if value is not None:  # not ignored: the user meant calls to be fetched
                raise UsageError(f"{option} needs --enrich WORKSPACE (the calls to fetch)")
    for option, value in (("--enrich", args.enrich), ("--channel", args.channel)):
        require_uuid(option, value)
    return ListenOptions(
        signing_keys=keys,
        out=args.out,
        host=args.host,
        port=args.port,
        path=args.path,
        public_url=args.public_url,
        trust_forwarded=args.trust_forwarded,
        queue_size=args.queue_size,
        workspace=args.enrich,
        channel=args.channel,
        db=args.db if args.db is not None else DEFAULT_DB,
        concurrency=args.concurrency,
    )


@_telemetry.with_telemetry
async def run(args: argparse.Namespace) -> int:
    """Listen until SIGINT or SIGTERM; finish what was accepted; print a summary."""
    if args.redis is not None:
        with warnings_on_stderr("listen", enabled=not getattr(args, "debug", False)):
            return await run_replica(args, signing_keys(args))
    options = options_from_args(args)
    client = client_from_args(args) if options.workspace is not None else None
    try:
        listener = Listener(options, client, telemetry=args.telemetry)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    stop = listener.stopping

    def on_signal() -> None:
        if not stop.is_set():
            print(STOPPING, file=sys.stderr, flush=True)
            stop.set()
        else:  # a second Ctrl-C: do not wait for the pipeline
            print(HURRYING.format(out=options.out), file=sys.stderr, flush=True)
            listener.hurry()

    uninstall = on_stop_signals(on_signal)
    progress: asyncio.Task[None] | None = None
    try:
        async with contextlib.AsyncExitStack() as stack:
            # The receiver's warnings (a delivery refused for its signature: a wrong
            # signing key; the first of each kind, then one a minute) show as they come.
            # Only those: a stage that fails is reported once, by the lines below.
            stack.enter_context(
                warnings_on_stderr(
                    "listen",
                    enabled=not getattr(args, "debug", False),
                    only=lambda record: hasattr(record, RECEIVER_WARNING),
                )
            )
            if client is not None:
                await stack.enter_async_context(client)
            await listener.start()
            print(f"listening on {listener.url}", flush=True)
            if listener.preloaded:
                print(f"{listener.preloaded} deliveries already in {options.out}", flush=True)
            if listener.replayed:
                print(
                    f"caught up: {listener.replayed} events of {options.out} applied to "
                    f"{options.db}",
                    flush=True,
                )
            if not args.no_progress:
                progress = asyncio.create_task(
                    report_progress(listener, sys.stderr, PROGRESS_INTERVAL)
                )
            await stop.wait()
            await listener.stop()
    finally:
        if progress is not None:
            progress.cancel()
        uninstall()
    print(summary(listener), flush=True)
    if listener.failure is not None:
        kept = f"every event acknowledged is in {options.out}"
        if listener.store is not None:
            kept += f"; the next start applies and enriches what {options.db} lacks"
        failure = name_key_source(str(listener.failure), args)
        print(f"asyncsdk: error: listen stopped: {failure} ({kept})", file=sys.stderr)
        return 1
    return EXIT_HURRIED if listener.hurried else 0


def summary(listener: Listener) -> str:
    """One line: events written, enriched, and what the receiver refused."""
    stats, receiver = listener.stats, listener.receiver.stats
    text = (
        f"{stats.written} events written to {listener.options.out}; "
        f"{receiver.duplicates} duplicates acknowledged, {receiver.busy} deferred (503), "
        f"{refusals(receiver.refused)}"
    )
    if listener.store is not None:
        text += (
            f"; {stats.enriched} calls fetched, {stats.fetch_failed} failed, "
            f"into {listener.options.db}"
        )
        if stats.last_failure is not None:
            text += (
                f" (each failure is in the row's error column, and fetched again at the "
                f"next start; the last: {stats.last_failure})"
            )
        if listener.replayed or listener.backlog:
            text += (
                f" (caught up on start: {listener.replayed} events applied, "
                f"{listener.backlog} calls sent to be fetched)"
            )
    return text
