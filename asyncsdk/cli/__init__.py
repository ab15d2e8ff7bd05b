"""The ``asyncsdk`` command line.

Outside the SDK core: it uses the public API, the bulk helpers, `asyncsdk.webhooks`,
the embedded server and argparse.

Exit codes:
    0: success (for ``fetch``: every ID fetched; for ``export``: every call written; for
       ``recordings``: every recording with media archived).
    1: the API refused or failed some calls or recordings (``fetch`` and ``recordings``
       list them in their failures file; ``export`` stops at a page that failed,
       ``--resume`` continues); for ``listen``,
       a stage of its pipeline failed (the line before says which). Also a run that
       stopped before anything succeeded because nothing could (``stopped: <why>``:
       nothing answers at the API's address, or the credential is refused): the IDs not
       tried are not failures, and the rerun (``--resume`` for ``fetch``) takes them.
    2: bad usage or input: options, credentials, an unreadable or empty ID file, a line
       that is not a UUID, an output file (``--out``, ``--failures``, ``--checkpoint``,
       ``--db``) in a directory that does not exist. Nothing, or nothing more, was
       fetched.
    130: interrupted (Ctrl-C, or SIGTERM for the commands that do not handle it
       themselves); what was fetched is on disk, ``--resume`` continues.

Imports: the public API (`asyncsdk`), the embedded server, the commands' modules of
this package and the standard library.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType

import asyncsdk
from asyncsdk.server import (
    EmbeddedServer,
    add_server_arguments,
    add_webhook_arguments,
    config_from_args,
    dataset_from_args,
    serve,
    webhook_config_from_args,
)

from . import _demo, _enrich, _export, _fetch, _listen, _recordings
from ._common import UsageError

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


async def _run_serve(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be 0 to 65535, got {args.port}")
    try:
        server = EmbeddedServer(
            config_from_args(args), dataset=dataset_from_args(args), host=args.host, port=args.port
        )
        webhooks = webhook_config_from_args(args)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    await serve(server, announce=lambda line: print(line, flush=True), webhooks=webhooks)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="asyncsdk",
        description="Bird Voice API client: fetch calls, export them, serve a local API.",
        epilog="Exit codes: 0 all fetched, 1 some calls failed (or the run stopped because "
        "none could succeed), 2 bad usage or input, 130 interrupted.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("--version", action="version", version=f"asyncsdk {asyncsdk.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    get = commands.add_parser("get", help="print one call as JSON")
    _fetch.add_get_arguments(get)
    get.set_defaults(handler=_fetch.run_get)

    fetch = commands.add_parser("fetch", help="export many calls to JSON Lines (resumable)")
    _fetch.add_fetch_arguments(fetch)
    fetch.set_defaults(handler=_fetch.run_fetch)

    export = commands.add_parser(
        "export", help="list a time window's calls to JSON Lines (sharded, resumable)"
    )
    _export.add_export_arguments(export)
    export.set_defaults(handler=_export.run_export)

    recordings = commands.add_parser(
        "recordings",
        help="archive a time window's recordings and transcripts to a directory (resumable)",
    )
    _recordings.add_arguments(recordings)
    recordings.set_defaults(handler=_recordings.run)

    serve_cmd = commands.add_parser("serve", help="run the embedded Bird API server")
    add_server_arguments(serve_cmd)
    add_webhook_arguments(serve_cmd)
    serve_cmd.set_defaults(handler=_run_serve)

    listen = commands.add_parser(
        "listen", help="receive call webhooks into JSON Lines, and their calls into SQLite"
    )
    _listen.add_arguments(listen)
    listen.set_defaults(handler=_listen.run)

    enrich = commands.add_parser(
        "enrich", help="enrich a Redis stream's call events into SQLite (one worker of a group)"
    )
    _enrich.add_arguments(enrich)
    enrich.set_defaults(handler=_enrich.run)

    demo = commands.add_parser("demo", help="bulk-fetch from a local rate-limited server")
    _demo.add_arguments(demo)
    demo.set_defaults(handler=_demo.run)
    return parser


#: Options that name a file a command writes: its directory must exist.
_OUTPUT_OPTIONS = ("out", "failures", "checkpoint", "db")


def _missing_directory(option: str, value: object) -> str | None:
    """Say why a file option cannot be written (its directory does not exist), or None.

    Args:
        option: The option's destination name (``"out"``).
        value: Its value: a path, ``None`` when not given, or ``"-"`` for a stream.

    Returns:
        One line for the error message, or ``None`` when the directory exists.
    """
    if value is None or str(value) == "-":
        return None
    directory = Path(str(value)).parent
    if directory.is_dir():
        return None
    flag = "--" + option.replace("_", "-")
    return f"{flag} {value}: the directory {directory} does not exist"


def _check_outputs(args: argparse.Namespace) -> None:
    """Refuse, before any request, a file option whose directory does not exist.

    Raises:
        UsageError: The first such option, naming the directory.
    """
    for option in _OUTPUT_OPTIONS:
        problem = _missing_directory(option, getattr(args, option, None))
        if problem is not None:
            raise UsageError(problem)


def _terminate_as_interrupt(signum: int, frame: FrameType | None) -> None:
    """Handle SIGTERM as Ctrl-C: asyncio's SIGINT handler if installed, else interrupt."""
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)
        return
    raise KeyboardInterrupt


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Make SIGTERM stop a command as Ctrl-C does, with its summary and exit code 130.

    Under a service manager (systemd, Kubernetes) SIGTERM is the usual stop; left to its
    default it would end the process with no summary and exit code 143. Commands that
    handle SIGTERM themselves (``listen``, ``enrich``, ``serve``) replace this handler
    with their loop's while they run.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    if args.debug:
        logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(name)s %(message)s")
    try:
        _check_outputs(args)
        with _sigterm_interrupts():
            code: int = asyncio.run(args.handler(args))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except (UsageError, asyncsdk.ConfigurationError, asyncsdk.InvalidIDError) as exc:
        if args.debug:
            raise
        print(f"asyncsdk: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except asyncsdk.BirdError as exc:  # first: some are OSErrors too (timeouts)
        if args.debug:
            raise
        print(f"asyncsdk: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:
        if args.debug:
            raise
        if exc.errno == errno.EADDRINUSE:  # serve, listen: the --port chosen is taken
            why = exc.strerror or "address already in use"
            print(f"asyncsdk: error: cannot listen: {why}; pick another --port", file=sys.stderr)
            return EXIT_USAGE
        print(f"asyncsdk: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    return code
