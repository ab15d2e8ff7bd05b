"""``asyncsdk export``: every call of a time window to JSON Lines, exactly once, resumable.

The calls log of ``[--since, --until)`` is listed by `asyncsdk.iter_call_log` with
``--shards`` concurrent shards, and each call written as one line of ``--out`` (the
API's camelCase JSON), page by page as pages arrive.

Exactly once, across crashes. Beside the output is a checkpoint file (``OUT`` with
``.checkpoint.json``): the listing's checkpoint (each shard's window and token) and the
output's length in bytes when it was taken. After each page, its lines are written,
flushed and fsynced, and only then is the checkpoint rewritten (a temporary file,
fsynced, renamed over the old one). So the checkpoint never counts a line that is not
on disk, and what the output holds beyond the checkpointed length (a page written but
not checkpointed when the process died, a line cut short) is exactly what the
checkpoint has not yet handed over: ``--resume`` cuts the output back to that length
and continues the listing from the checkpoint, so nothing is lost and nothing is
written twice. A run writes its checkpoint before its first line: an output without a
checkpoint is not an export this command made, and is never cut.

Imports: msgspec, the SDK's public API and the standard library.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import BinaryIO, TextIO

import msgspec

import asyncsdk

from ._common import UsageError, add_api_arguments, client_from_args
from ._progress import BAR_INTERVAL, LINE_INTERVAL
from ._progress import _clock as clock

#: Format version of the checkpoint file.
CHECKPOINT_VERSION = 1


class ExportState(msgspec.Struct, kw_only=True, rename="camel"):
    """The checkpoint file: the listing's checkpoint and the output it covers."""

    version: int = CHECKPOINT_VERSION
    output_bytes: int
    calls: int
    pages: int
    listing: asyncsdk.ListingCheckpoint


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``asyncsdk export``."""
    parser.add_argument("workspace", help="workspace UUID")
    parser.add_argument(
        "--since", required=True, type=_when, metavar="WHEN", help="start, RFC 3339, inclusive"
    )
    parser.add_argument(
        "--until", required=True, type=_when, metavar="WHEN", help="end, RFC 3339, exclusive"
    )
    parser.add_argument(
        "--channel", action="append", metavar="CHANNEL", help="only this channel (repeatable)"
    )
    parser.add_argument(
        "--status", action="append", help="only calls with this status (repeatable)"
    )
    parser.add_argument("--direction", action="append", help="incoming or outgoing (repeatable)")
    parser.add_argument("--tag", action="append", help="only calls with this tag (repeatable)")
    parser.add_argument("--out", required=True, type=Path, help="JSON Lines file of calls")
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="checkpoint file (default: OUT with .checkpoint.json)",
    )
    parser.add_argument(
        "--shards",
        type=int,
        default=asyncsdk.DEFAULT_SHARDS,
        help="sub-windows listed at once (default: %(default)s)",
    )
    parser.add_argument(
        "--page-size", type=int, default=None, help="calls per page, 1 to 1000 (default: 1000)"
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue an interrupted export from its checkpoint"
    )
    parser.add_argument("--no-progress", action="store_true", help="do not report progress")
    add_api_arguments(parser)


def _when(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an RFC 3339 date-time: {text!r}") from None
    if value.utcoffset() is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone; add Z or +00:00")
    return value


# --- the checkpoint file ------------------------------------------------------------------


def _write_state(path: Path, state: ExportState) -> None:
    """Replace the checkpoint file atomically and durably."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        f.write(msgspec.json.encode(state))
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _read_state(path: Path) -> ExportState:
    try:
        state = msgspec.json.decode(path.read_bytes(), type=ExportState)
    except (OSError, msgspec.MsgspecError) as exc:
        raise UsageError(f"cannot read the checkpoint {path}: {exc}") from exc
    if state.version != CHECKPOINT_VERSION:
        raise UsageError(f"{path} is a checkpoint of version {state.version}; not supported")
    return state


def _prepare(args: argparse.Namespace, out: Path, checkpoint: Path) -> ExportState | None:
    """Check the files before any request; cut the output back to the checkpoint."""
    has_output = out.exists() and out.stat().st_size > 0
    if not args.resume:
        if has_output:
            raise UsageError(f"{out} exists; pass --resume to continue it, or remove it")
        if checkpoint.exists():
            raise UsageError(f"{checkpoint} exists; pass --resume to continue, or remove it")
        return None
    if not checkpoint.exists():
        if has_output:
            raise UsageError(
                f"{out} exists but its checkpoint {checkpoint} does not: not an export "
                "to resume (pass --checkpoint if it is elsewhere)"
            )
        return None
    state = _read_state(checkpoint)
    size = out.stat().st_size if out.exists() else 0
    if size < state.output_bytes:
        raise UsageError(
            f"{out} holds {size} bytes but its checkpoint counts {state.output_bytes}: "
            "the output was changed; not resuming into it"
        )
    if size > state.output_bytes:  # lines the checkpoint does not cover: listed again
        with out.open("r+b") as f:
            f.truncate(state.output_bytes)
            f.flush()
            os.fsync(f.fileno())
    return state


# --- the export ---------------------------------------------------------------------------


class ExportProgress:
    """Calls, rate, pages and how much of the window is done, on standard error."""

    def __init__(self, *, enabled: bool, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty()
        self._enabled = enabled
        self._started = time.monotonic()
        self._last = self._started
        self.calls = 0
        self.pages = 0

    @property
    def elapsed(self) -> float:
        """Seconds since the export started."""
        return time.monotonic() - self._started

    def update(self, calls: int, fraction: float, *, final: bool = False) -> None:
        """Count a page of ``calls``; report if it is time to (or ``final``)."""
        self.calls += calls
        self.pages += 0 if final else 1
        now = time.monotonic()
        interval = BAR_INTERVAL if self._tty else LINE_INTERVAL
        if not self._enabled or not (final or now - self._last >= interval):
            return
        self._last = now
        rate = self.calls / max(self.elapsed, 1e-9)
        parts = [f"{self.calls} calls", f"{rate:.0f}/s", f"{self.pages} pages"]
        parts.append(f"{100 * fraction:5.1f}% of the window")
        if 0 < fraction < 1:
            parts.append(f"ETA {clock(self.elapsed * (1 - fraction) / fraction)}")
        text = "  ".join(parts)
        if self._tty:
            self._stream.write(f"\r{text}\033[K" + ("\n" if final else ""))
        else:
            self._stream.write(f"progress: {text}\n")
        self._stream.flush()


async def run_export(args: argparse.Namespace) -> int:
    """Export the window to JSON Lines; return 0 once every call is written, else 1."""
    out: Path = args.out
    checkpoint_path: Path = args.checkpoint or out.with_name(out.stem + ".checkpoint.json")
    if not args.since < args.until:
        raise UsageError("--since must be before --until")
    state = _prepare(args, out, checkpoint_path)
    client = client_from_args(args)
    listing = asyncsdk.iter_call_log(
        client,
        args.workspace,
        start_at=args.since,
        end_at=args.until,
        shards=args.shards,
        page_size=args.page_size,
        resume=None if state is None else state.listing,
        channel_ids=args.channel,
        status=args.status,
        direction=args.direction,
        tags=args.tag,
    )
    before = 0 if state is None else state.calls
    progress = ExportProgress(enabled=not args.no_progress)
    with out.open("ab") as output:
        if state is None:
            state = ExportState(output_bytes=0, calls=0, pages=0, listing=listing.checkpoint())
            _write_state(checkpoint_path, state)  # before the first line: see the docstring
        try:
            async with client, listing:
                await _export(listing, output, checkpoint_path, state, progress)
        except asyncsdk.RequestError as exc:
            progress.update(0, listing.done_fraction, final=True)
            print(f"asyncsdk: error: {type(exc).__name__}: {exc}", file=sys.stderr)
            _summary(progress, out, before, ending="stopped by the error above")
            return 1
        except BaseException:  # Ctrl-C (cancelled), or anything unexpected
            progress.update(0, listing.done_fraction, final=True)
            _summary(progress, out, before, ending="interrupted")
            raise
    progress.update(0, 1.0, final=True)
    _summary(progress, out, before, ending=None)
    return 0


async def _export(
    listing: asyncsdk.ShardedListing,
    output: BinaryIO,
    checkpoint_path: Path,
    state: ExportState,
    progress: ExportProgress,
) -> None:
    if state.listing.complete:
        return
    async for page in listing.pages():
        if page.results:
            output.write(b"".join(call.to_json() + b"\n" for call in page.results))
            output.flush()
            os.fsync(output.fileno())
        # Between the page and this line there is no await: a Ctrl-C lands before the
        # page or after its checkpoint, never between.
        state.output_bytes = output.tell()
        state.calls += len(page.results)
        state.pages += 1
        state.listing = listing.checkpoint()
        _write_state(checkpoint_path, state)
        progress.update(len(page.results), listing.done_fraction)


def _summary(progress: ExportProgress, out: Path, before: int, *, ending: str | None) -> None:
    parts = [f"{progress.calls} calls written to {out}"]
    if before:
        parts.append(f"{before} already there")
    parts.append(f"{progress.pages} pages in {progress.elapsed:.1f}s")
    text = ", ".join(parts)
    if ending is not None:
        text = f"{ending}: {text}; run again with --resume to continue"
    print(text, file=sys.stderr)
