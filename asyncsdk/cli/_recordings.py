"""``asyncsdk recordings``: a time window's recordings archived to a directory, exactly once.

The window ``[--since, --until)`` is listed (sharded, `asyncsdk.iter_recordings`) and
each recording downloaded into ``--out`` by `Client.download_recording` (``.part``,
fsync, rename) as ``<id>.<format>``, with a metadata sidecar ``<id>.meta.json`` (the
API's camelCase JSON, its presigned ``url`` left out: it expires, and is a credential
while it lives; ``roomInfoUrl`` without its query, as `sidecar` says) and the
transcripts ``--transcripts`` asks for (``<id>.transcript.<fmt>``). ``--concurrency``
recordings are in flight at once, and as many object-store transfers (``max_media_transfers``);
the requests to Bird are paced by the client's rate limiter.

Exactly once, across Ctrl-C, SIGKILL and ``--resume``: ``manifest.jsonl`` gets one line
per recording (``id``, ``path``, ``bytes``, ``sha256``, ``etag``, ``transcripts``) only
after its files are at their final names and fsynced; the line is then written,
flushed and fsynced. ``--resume`` lists the window again, skips the IDs the manifest
holds (dropping a last line cut short, as ``fetch`` does), and downloads the rest: a
``.part`` file left by the interrupted run is resumed from its last byte if the object
is the same version (its ETag), restarted otherwise. A recording that was renamed into
place but not yet in the manifest is downloaded again, and its line written once.
Recordings whose status says they have no media (``failed``, ``absent``) are skipped
and counted, as is one of another status but ``available`` whose media answers 404
(the API may add statuses); an ``available`` recording's 404 is a failure. Failures go
to ``failures.jsonl``, rewritten by each run that gets past its first request.

Exit codes as ``fetch``: 0 every recording archived, 1 some failed (listed in the
failures file) or the listing failed, 2 bad usage (an ID that is not a UUID included,
before anything is created), 130 interrupted. As ``export``, one listing request goes
alone first: a run that cannot succeed (nothing answers, the credential refused) stops
in seconds with ``stopped: <why>`` and archives nothing.

Imports: the SDK's public API, the command line's helpers (the archive's files are
`asyncsdk.cli._archivefiles`) and the standard library.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from pathlib import Path
from typing import TextIO

import asyncsdk

from . import _telemetry
from ._archivefiles import Manifest, sidecar, write_atomic
from ._common import (
    UsageError,
    add_api_arguments,
    add_shards_argument,
    add_window_arguments,
    client_from_args,
    name_key_source,
    require_uuid,
)
from ._export import ExportProgress
from ._export import _failure_line as _stop_line
from ._fetch import _failure_line, _load_done
from ._progress import _clock as clock

#: Transcript formats ``--transcripts`` takes.
TRANSCRIPT_FORMATS = ("txt", "srt", "vtt", "json")
#: Recording statuses that have no media: skipped without a request.
NO_MEDIA = frozenset(("failed", "absent"))
#: Recordings per page of the listing: the API's most.
MAX_PAGE_SIZE = 99
MANIFEST = "manifest.jsonl"
FAILURES = "failures.jsonl"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``asyncsdk recordings``."""
    parser.add_argument("workspace", help="workspace UUID")
    add_window_arguments(parser)
    parser.add_argument("--out", required=True, type=Path, help="directory of the archive")
    parser.add_argument("--channel", default=None, help="only this channel's recordings")
    parser.add_argument(
        "--transcripts",
        type=_formats,
        default=(),
        metavar="FORMATS",
        help="also the transcripts in these formats, comma-separated: txt,srt,vtt,json",
    )
    add_shards_argument(parser)
    parser.add_argument(
        "--resume", action="store_true", help="continue an interrupted archive in OUT"
    )
    parser.add_argument("--no-progress", action="store_true", help="do not report progress")
    add_api_arguments(parser)
    _telemetry.add_options(parser)
    parser.set_defaults(concurrency=8)


def _formats(text: str) -> tuple[str, ...]:
    formats = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [f for f in formats if f not in TRANSCRIPT_FORMATS]
    if unknown or not formats:
        raise argparse.ArgumentTypeError(
            f"transcript formats are {','.join(TRANSCRIPT_FORMATS)}; got {text!r}"
        )
    return formats


class ArchiveProgress(ExportProgress):
    """Files, bytes, MB/s and ETA on standard error: a bar on a terminal, lines elsewhere."""

    def __init__(self, *, enabled: bool, stream: TextIO | None = None) -> None:
        super().__init__(enabled=enabled, stream=stream)
        self.listed = 0
        self.listing_done = False
        self.skipped = 0
        self.already = 0
        self.archived = 0
        self.failed = 0
        self.bytes = 0

    def line(self, *, final: bool = False) -> str:
        """The state as text: files, bytes, MB/s, and an ETA once the listing is done."""
        done = self.archived + self.failed + self.skipped + self.already
        elapsed = max(self.elapsed, 1e-9)
        archived = self.archived + self.already
        parts = [f"{archived}/{self.listed}{'' if self.listing_done else '+'} files"]
        parts.append(f"{self.bytes / 1e6:.1f} MB")
        parts.append(f"{self.bytes / 1e6 / elapsed:.1f} MB/s")
        if self.listing_done and 0 < done < self.listed and not final:
            parts.append(f"ETA {clock(elapsed * (self.listed - done) / done)}")
        parts.append(f"failed {self.failed}")
        if self.skipped:
            parts.append(f"without media {self.skipped}")
        return "  ".join(parts)


class _Archive:
    """One run: the workers, the manifest, the failures, the counters."""

    def __init__(
        self, client: asyncsdk.Client, args: argparse.Namespace, manifest: Manifest
    ) -> None:
        self.client = client
        self.args = args
        self.out: Path = args.out
        self.manifest = manifest
        self.progress = ArchiveProgress(enabled=not args.no_progress)
        self.failures: list[bytes] = []
        self.transcriptions: dict[str, str] | None = None
        self._listing_transcriptions = asyncio.Lock()

    async def transcription_of(self, recording: asyncsdk.Recording) -> str | None:
        """The transcription id of a recording, from one listing of the transcriptions.

        The list has no filter by recording: it is read newest first, until the
        transcriptions are older than the window.
        """
        async with self._listing_transcriptions:  # once, whichever worker asks first
            if self.transcriptions is None:
                found: dict[str, str] = {}
                pager = self.client.list_transcriptions(self.args.workspace, page_size=99)
                async for item in pager:
                    created = item.created_at
                    if created is not None and created < self.args.since:
                        break
                    if item.recording_id is not None and item.status == "available":
                        found.setdefault(str(item.recording_id), str(item.id))
                self.transcriptions = found
        assert self.transcriptions is not None
        return self.transcriptions.get(str(recording.id))

    async def archive(self, recording: asyncsdk.Recording) -> None:
        """Download one recording, its sidecar and transcripts; then its manifest line."""
        rid = str(recording.id)
        status = recording.status
        if status in NO_MEDIA:
            self.progress.skipped += 1
            return
        fmt = (recording.format or "mp3").lower()
        held = 0

        def count(now: int, _size: int | None) -> None:
            nonlocal held
            self.progress.bytes += now - held
            held = now
            self.progress.report()

        try:
            try:
                result = await self.client.download_recording(
                    self.args.workspace, rid, self.out / f"{rid}.{fmt}", progress=count, format=fmt
                )
            except asyncsdk.NotFoundError:
                if status == "available":
                    raise
                self.progress.skipped += 1  # a status without media, maybe one not known yet
                return
            await asyncio.to_thread(write_atomic, self.out / f"{rid}.meta.json", sidecar(recording))
            transcripts = await self._transcripts(recording) if self.args.transcripts else {}
        except asyncsdk.BirdError as exc:
            self.progress.failed += 1
            self.failures.append(_failure_line(rid, exc))
            return
        await self.manifest.add(
            {
                "id": rid,
                "path": result.path.name,
                "bytes": result.size,
                "sha256": result.sha256,
                "etag": result.etag,
                "transcripts": transcripts,
            }
        )
        self.progress.archived += 1
        self.progress.report()

    async def _transcripts(self, recording: asyncsdk.Recording) -> dict[str, dict[str, object]]:
        tid = await self.transcription_of(recording)
        if tid is None:
            return {}
        written: dict[str, dict[str, object]] = {}
        for fmt in self.args.transcripts:
            body = await self.client.get_transcript(self.args.workspace, tid, fmt)
            data = body if isinstance(body, bytes) else body.encode()
            path = self.out / f"{recording.id}.transcript.{fmt}"
            digest = await asyncio.to_thread(write_atomic, path, data)
            written[fmt] = {"path": path.name, "bytes": len(data), "sha256": digest}
        return written


def _listing(client: asyncsdk.Client, args: argparse.Namespace) -> asyncsdk.RecordingListing:
    """The window's recordings, by ``--shards`` concurrent shards, each once."""
    return asyncsdk.iter_recordings(
        client,
        args.workspace,
        start_at=args.since,
        end_at=args.until,
        shards=args.shards,
        page_size=MAX_PAGE_SIZE,
        channel_id=args.channel,
    )


async def _produce(
    listing: asyncsdk.RecordingListing,
    queue: asyncio.Queue[asyncsdk.Recording | None],
    done: set[int],
    archive: _Archive,
) -> None:
    async with listing:
        async for recording in listing:
            archive.progress.listed += 1
            if recording.id.int in done:
                archive.progress.already += 1
                continue
            await queue.put(recording)
    archive.progress.listing_done = True


async def _work(queue: asyncio.Queue[asyncsdk.Recording | None], archive: _Archive) -> None:
    while (recording := await queue.get()) is not None:
        await archive.archive(recording)


def _prepare(args: argparse.Namespace) -> set[int]:
    """Check the options and the directory before any request; return the IDs archived."""
    require_uuid("workspace", args.workspace)
    require_uuid("--channel", args.channel)
    if not args.since < args.until:
        raise UsageError("--since must be before --until")
    if args.concurrency < 1 or args.shards < 1:
        raise UsageError("--concurrency and --shards must be at least 1")
    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: not a directory")
    out.mkdir(exist_ok=True)
    if not os.access(out, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: not writable")
    manifest = out / MANIFEST
    if not args.resume and manifest.exists() and manifest.stat().st_size > 0:
        raise UsageError(
            f"{manifest} exists; pass --resume to continue it, or choose another --out"
        )
    return _load_done(manifest) if args.resume else set()


async def _first_request_alone(client: asyncsdk.Client, args: argparse.Namespace) -> str | None:
    """Ask for one recording of the window, alone: ``None``, or why the run cannot work.

    As ``export``: a refused credential or nothing answering is learnt in seconds from
    one request, not from every shard's first page waiting on the outage probes.
    """
    pager = client.list_recordings(
        args.workspace,
        channel_id=args.channel,
        start_at=args.since,
        end_at=args.until,
        page_size=1,
    )
    try:
        async with pager:
            async for _ in pager.pages():
                break
    except asyncsdk.RequestError as exc:
        return _stop_line(exc, pages=0)
    return None


@_telemetry.with_telemetry
async def run(args: argparse.Namespace) -> int:
    """Archive the window; return 0 once every recording is archived, else 1."""
    created = not args.out.exists()
    done = _prepare(args)
    client = client_from_args(args, max_media_transfers=args.concurrency)
    async with client:
        stopped = await _first_request_alone(client, args)
        if stopped is not None:
            if created:  # as export: a run that never started leaves nothing behind
                with contextlib.suppress(OSError):
                    args.out.rmdir()
            print(f"asyncsdk: {name_key_source(stopped, args)}", file=sys.stderr)
            print("stopped before the first recording; nothing was archived", file=sys.stderr)
            return 1
        return await _archive_window(client, args, done)


async def _archive_window(client: asyncsdk.Client, args: argparse.Namespace, done: set[int]) -> int:
    """List and archive the window, with the manifest, the failures and the summary."""
    manifest = Manifest(args.out / MANIFEST)
    archive = _Archive(client, args, manifest)
    queue: asyncio.Queue[asyncsdk.Recording | None] = asyncio.Queue(maxsize=args.concurrency * 2)
    ending: str | None = None
    try:
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(args.concurrency):
                    group.create_task(_work(queue, archive))
                try:
                    await _produce(_listing(client, args), queue, done, archive)
                finally:
                    for _ in range(args.concurrency):
                        await queue.put(None)  # each worker ends once the queue is drained
        except* asyncsdk.BirdError as listing_failed:
            error = listing_failed.exceptions[0]
            ending = f"the listing stopped: {type(error).__name__}: {error}"
    except BaseException:  # Ctrl-C (cancelled), or anything unexpected
        ending = "interrupted"
        raise
    finally:
        manifest.close()
        with contextlib.suppress(OSError):
            (args.out / FAILURES).write_bytes(b"".join(archive.failures))
        archive.progress.report(final=True)
        _summary(archive, ending)
    return 0 if ending is None and not archive.failures else 1


def _summary(archive: _Archive, ending: str | None) -> None:
    progress = archive.progress
    text = (
        f"{progress.archived} recordings archived to {archive.out} "
        f"({progress.bytes / 1e6:.1f} MB received in {progress.elapsed:.1f}s), "
        f"{progress.already} already there, {progress.failed} failed, "
        f"{progress.skipped} without media"
    )
    if progress.failed:
        text += f"; see {archive.out / FAILURES}, then run again with --resume"
    if ending is not None:
        text = f"{ending}: {text}; run again with --resume to continue"
    print(text, file=sys.stderr)
