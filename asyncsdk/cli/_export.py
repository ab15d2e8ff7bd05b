"""``asyncsdk export``: every call of a time window to JSON Lines, exactly once, resumable.

The calls log of ``[--since, --until)`` is listed by `asyncsdk.iter_call_log` with
``--shards`` concurrent shards, and each call written as one line of ``--out`` (the
API's camelCase JSON), page by page as pages arrive.

Exactly once, across crashes. Beside the output is a checkpoint file (``OUT`` with
``.checkpoint.json``): the listing's checkpoint (each shard's window and the last call
it handed over) and the output's length in bytes when it was taken. After each page, its
lines are written, flushed and fsynced, and only then is the checkpoint rewritten (a
temporary file, fsynced, renamed over the old one). So the checkpoint never counts a
line that is not on disk, and what the output holds beyond the checkpointed length (a
page written but not checkpointed when the process died, a line cut short) is exactly
what the checkpoint has not yet handed over: ``--resume`` cuts the output back to that
length and continues the listing from the checkpoint, so nothing is lost and nothing is
written twice. A run writes its checkpoint before its first line: an output without a
checkpoint is not an export this command made, and is never cut. The checkpoint file and
the fsyncs are in `asyncsdk.cli._checkpoint`: they run on a worker thread, in order, so
the event loop keeps receiving pages while the disk catches up.

A fresh run that fails or is interrupted before its first page leaves no checkpoint and
no empty output behind: nothing was handed over, and they would only block the
corrected rerun. If it could never have succeeded (nothing answers at the API's address,
the credential is refused) it says so in one line, ``stopped: <why>``.

Imports: msgspec, the SDK's public API, `asyncsdk._giveup` and the standard library.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

import msgspec

import asyncsdk
from asyncsdk._giveup import give_up_reason

from . import _telemetry
from ._checkpoint import Checkpointer, ExportState, cut_back, prepare, write_state
from ._common import (
    UsageError,
    add_api_arguments,
    add_shards_argument,
    add_window_arguments,
    client_from_args,
    name_key_source,
)
from ._progress import BAR_INTERVAL, LINE_INTERVAL, show
from ._progress import _clock as clock

#: Writes a page's calls as JSON Lines (each as `asyncsdk.Call.to_json` would).
_LINES = msgspec.json.Encoder()


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``asyncsdk export``."""
    parser.add_argument("workspace", help="workspace UUID")
    add_window_arguments(parser)
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
    add_shards_argument(parser)
    parser.add_argument(
        "--page-size", type=int, default=None, help="calls per page, 1 to 1000 (default: 1000)"
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue an interrupted export from its checkpoint"
    )
    parser.add_argument("--no-progress", action="store_true", help="do not report progress")
    add_api_arguments(parser)
    _telemetry.add_options(parser)


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
        self.fraction = 0.0

    @property
    def elapsed(self) -> float:
        """Seconds since the export started."""
        return time.monotonic() - self._started

    def update(self, calls: int, fraction: float, *, final: bool = False) -> None:
        """Count a page of ``calls``; report if it is time to (or ``final``)."""
        self.calls += calls
        self.pages += 0 if final else 1
        self.fraction = fraction
        self.report(final=final)

    def line(self, *, final: bool = False) -> str:
        """The state as text: calls, rate, pages, the window done, and an ETA."""
        fraction = self.fraction
        rate = self.calls / max(self.elapsed, 1e-9)
        parts = [f"{self.calls} calls", f"{rate:.0f}/s", f"{self.pages} pages"]
        parts.append(f"{100 * fraction:5.1f}% of the window")
        if 0 < fraction < 1:
            parts.append(f"ETA {clock(self.elapsed * (1 - fraction) / fraction)}")
        return "  ".join(parts)

    def report(self, *, final: bool = False) -> None:
        """Report if it is time to (or ``final``)."""
        now = time.monotonic()
        interval = BAR_INTERVAL if self._tty else LINE_INTERVAL
        if not self._enabled or not (final or now - self._last >= interval):
            return
        self._last = now
        show(self._stream, self.line(final=final), tty=self._tty, final=final)


#: Collector thresholds while exporting (the defaults are 700, 10, 10).
EXPORT_GC_THRESHOLDS = (100_000, 50, 100)


@contextlib.contextmanager
def _collector_for_pages() -> Iterator[None]:
    """Collect garbage less often while pages of calls are alive; restore afterwards.

    An export holds a few pages of decoded calls at any time, about 17 GC-tracked
    objects per call (UUIDs, lists), none of which can form a cycle. With the default
    threshold of 700 allocations the collector walks them dozens of times per page:
    measured at a third of the client's CPU for 100,000 calls. The command is an
    application, so it may tune its collector (the SDK itself never does): it freezes
    what start-up built and raises the thresholds, restoring both when it is done.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*EXPORT_GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


@_telemetry.with_telemetry
async def run_export(args: argparse.Namespace) -> int:
    """Export the window to JSON Lines; return 0 once every call is written, else 1."""
    with _collector_for_pages():
        return await _run(args)


async def _run(args: argparse.Namespace) -> int:
    out: Path = args.out
    checkpoint_path: Path = args.checkpoint or out.with_name(out.stem + ".checkpoint.json")
    if not args.since < args.until:
        raise UsageError("--since must be before --until")
    _clear_unstarted(out, checkpoint_path)
    state = prepare(args, out, checkpoint_path)
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
    if state is not None:  # the listing accepted the checkpoint: now trim the output
        cut_back(out, state)
    before = 0 if state is None else state.calls
    progress = ExportProgress(enabled=not args.no_progress)
    fresh, created = state is None, not _exists(out)
    try:
        with out.open("ab") as output:
            if state is None:
                state = ExportState(output_bytes=0, calls=0, pages=0, listing=listing.checkpoint())
                write_state(checkpoint_path, state)  # before the first line: see the docstring
            checkpointer = Checkpointer(output, checkpoint_path)
            try:
                async with client, listing:
                    if not state.listing.complete:
                        await _first_request_alone(client, args)
                    await _export(listing, output, checkpointer, state, progress)
            except asyncsdk.RequestError as exc:
                progress.update(0, listing.done_fraction, final=True)
                line = name_key_source(_failure_line(exc, pages=state.pages), args)
                print(f"asyncsdk: {line}", file=sys.stderr)
                if fresh and _never_started(state):  # nothing to resume: see _forget
                    print("stopped before the first page; nothing was written", file=sys.stderr)
                else:
                    _summary(progress, out, before, ending="stopped by the error above")
                return 1
            except BaseException:  # Ctrl-C (cancelled), or anything unexpected
                progress.update(0, listing.done_fraction, final=True)
                _summary(progress, out, before, ending="interrupted")
                raise
            finally:
                # Everything written so far is counted by the last checkpoint, whatever ended.
                checkpointer.close(state)
    finally:
        if fresh and _never_started(state):
            _forget(out, checkpoint_path, created=created)
    progress.update(0, 1.0, final=True)
    _summary(progress, out, before, ending=None)
    return 0


async def _first_request_alone(client: asyncsdk.Client, args: argparse.Namespace) -> None:
    """Ask for one call of the window, alone, before the shards start.

    A run that cannot succeed (nothing answers at the API's address, a refused
    credential) learns it from one request and its retries, in seconds: the shards'
    first pages, all failing at once, would put the client in its outage mode, where
    they wait their turn to probe. One request per run is what it costs.
    """
    pager = client.list_call_log(
        args.workspace,
        start_at=args.since,
        end_at=args.until,
        page_size=1,
        channel_ids=args.channel,
        status=args.status,
        direction=args.direction,
        tags=args.tag,
    )
    async with pager:
        async for _ in pager.pages():
            return


def _failure_line(exc: asyncsdk.RequestError, *, pages: int) -> str:
    """The one line that says why the export ended: ``stopped: <why>`` if it never could run."""
    reason = give_up_reason(exc) if pages == 0 else None
    if reason is not None:
        return f"stopped: {reason}"
    return f"error: {type(exc).__name__}: {exc}"


def _clear_unstarted(out: Path, checkpoint: Path) -> None:
    """Remove the checkpoint of an export that was killed before its first page.

    Such a run (``kill -9`` before anything was listed) could not clean up after
    itself: its checkpoint counts no page and no byte, so resuming it is starting
    afresh, and it must not refuse a fresh run (or one with other filters). A checkpoint
    that cannot be read is left for `prepare` to report.
    """
    if not checkpoint.exists() or (out.exists() and out.stat().st_size > 0):
        return
    try:
        state = msgspec.json.decode(checkpoint.read_bytes(), type=ExportState)
    except (OSError, msgspec.MsgspecError):
        return
    if state.pages == 0 and state.output_bytes == 0 and state.calls == 0:
        checkpoint.unlink(missing_ok=True)


def _exists(path: Path) -> bool:
    """Whether ``path`` exists (one stat: fine on the event loop's thread)."""
    return path.exists()


def _never_started(state: ExportState | None) -> bool:
    """Whether a run handed nothing over: no page listed, so nothing to resume from."""
    return state is None or state.pages == 0


def _forget(out: Path, checkpoint: Path, *, created: bool) -> None:
    """Remove what a fresh run that never started left: its checkpoint, its empty output.

    They would only block the corrected rerun ("checkpoint exists; pass --resume", and
    with --resume "belongs to another listing" when the rerun fixes the filters).
    """
    checkpoint.unlink(missing_ok=True)
    if created and out.exists() and out.stat().st_size == 0:
        out.unlink()


async def _export(
    listing: asyncsdk.ShardedListing,
    output: BinaryIO,
    checkpointer: Checkpointer,
    state: ExportState,
    progress: ExportProgress,
) -> None:
    if state.listing.complete:
        return
    async for page in listing.pages():
        if page.results:
            output.write(_LINES.encode_lines(page.results))
            output.flush()  # in the file; the checkpointer fsyncs before it counts them
        # Between the page and this line there is no await: a Ctrl-C lands before the
        # page or after its state is taken, never between.
        state.output_bytes = output.tell()
        state.calls += len(page.results)
        state.pages += 1
        state.listing = listing.checkpoint()
        checkpointer.submit(state)
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
