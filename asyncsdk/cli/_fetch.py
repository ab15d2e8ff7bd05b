"""``asyncsdk get`` and ``asyncsdk fetch``: one call as JSON, or many to JSON Lines.

IDs come one per line, as UUIDs or as JSON objects with an ``id`` (the output of
``asyncsdk export``, so listing then fetching is two commands). An export is resumable
and exactly-once: each fetched call is one line of the output
(the API's camelCase JSON); ``--resume`` reads the IDs already there (dropping a line
cut short by a crash) and skips them, and an ID repeated in the input is fetched once.
Failures go to a separate JSON Lines file, rewritten by each run, so it always lists
what the latest run could not fetch; a rerun with ``--resume`` retries them.

Imports: msgspec, the SDK's public API, the bulk helpers and the standard library.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import BinaryIO

import msgspec

import asyncsdk

from . import _telemetry
from ._common import UsageError, add_api_arguments, client_from_args, name_key_source
from ._progress import Progress

#: Seconds between flushes of the output files (a crash loses at most this much).
FLUSH_INTERVAL = 1.0
#: Lines of standard input handed from the reader thread to the loop at a time.
STDIN_BATCH = 1000


class _IdOnly(msgspec.Struct):
    id: uuid.UUID


_ID_DECODER = msgspec.json.Decoder(_IdOnly)


def add_get_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``asyncsdk get``."""
    parser.add_argument("workspace", help="workspace UUID")
    parser.add_argument("channel", help="channel UUID")
    parser.add_argument("call", help="call UUID")
    add_api_arguments(parser)


def add_fetch_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``asyncsdk fetch``."""
    parser.add_argument("workspace", help="workspace UUID")
    parser.add_argument("channel", help="channel UUID")
    parser.add_argument(
        "--ids",
        required=True,
        help="file of call UUIDs, one per line (or the JSON Lines of `asyncsdk export`), "
        "or - for stdin",
    )
    parser.add_argument("--out", required=True, type=Path, help="JSON Lines file of calls")
    parser.add_argument(
        "--failures",
        type=Path,
        default=None,
        help="JSON Lines file of failed IDs (default: OUT with .failures.jsonl)",
    )
    parser.add_argument(
        "--resume", action="store_true", help="skip IDs already in OUT and append to it"
    )
    parser.add_argument("--no-progress", action="store_true", help="do not report progress")
    add_api_arguments(parser)
    _telemetry.add_options(parser)


async def run_get(args: argparse.Namespace) -> int:
    """Fetch one call and print it as JSON."""
    async with client_from_args(args) as client:
        call = await client.get_call(args.workspace, args.channel, args.call)
    sys.stdout.write(call.to_json().decode() + "\n")
    return 0


# --- ID sources -----------------------------------------------------------------------


def _parse_line(line: str, where: str) -> str | None:
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    if text.startswith("{"):  # a line of `asyncsdk export` (or of fetch itself): its id
        try:
            return str(_ID_DECODER.decode(text).id)
        except msgspec.MsgspecError:
            raise UsageError(f"{where}: a JSON line without a call id: {text[:80]!r}") from None
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise UsageError(f"{where}: not a call UUID: {text[:80]!r}") from None


def _scan_file(path: Path) -> set[int]:
    """Check every line of an ID file before any request; return its distinct IDs.

    A repeated ID is fetched once, so the progress and a stop's "not tried" count it once.
    """
    count = 0
    distinct: set[int] = set()
    try:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                call_id = _parse_line(line, f"{path}:{number}")
                if call_id is not None:
                    count += 1
                    distinct.add(uuid.UUID(call_id).int)
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from exc
    if count == 0:
        raise UsageError(f"{path} holds no call IDs")
    return distinct


def _file_ids(path: Path) -> Generator[str]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            call_id = _parse_line(line, f"{path}:{number}")
            if call_id is not None:
                yield call_id


async def _stdin_ids() -> AsyncGenerator[str]:
    """Read standard input in a thread, in batches, with backpressure."""
    loop = asyncio.get_running_loop()
    batches: asyncio.Queue[list[str] | BaseException | None] = asyncio.Queue(maxsize=4)
    stop = threading.Event()

    def reader() -> None:
        def put(item: list[str] | BaseException | None) -> None:
            if not stop.is_set():
                asyncio.run_coroutine_threadsafe(batches.put(item), loop).result()

        try:
            batch: list[str] = []
            for line in sys.stdin:
                if stop.is_set():
                    return
                batch.append(line)
                if len(batch) >= STDIN_BATCH:
                    put(batch)
                    batch = []
            put(batch)
            put(None)
        except BaseException as exc:
            put(exc)

    thread = threading.Thread(target=reader, name="asyncsdk-stdin", daemon=True)
    thread.start()
    number = 0
    try:
        while (item := await batches.get()) is not None:
            if isinstance(item, BaseException):
                raise UsageError(f"cannot read standard input: {item}") from item
            for line in item:
                number += 1
                call_id = _parse_line(line, f"stdin:{number}")
                if call_id is not None:
                    yield call_id
    finally:
        stop.set()
        with contextlib.suppress(asyncio.QueueEmpty):
            batches.get_nowait()  # unblock a reader waiting on a full queue


def _first_time(call_id: str, seen: set[int]) -> bool:
    """Whether ``call_id`` is neither exported already nor seen in this run; note it."""
    key = uuid.UUID(call_id).int
    if key in seen:
        return False
    seen.add(key)
    return True


def _unique(ids: Iterator[str], seen: set[int]) -> Iterator[str]:
    """Drop IDs already exported or already seen in this run (exactly once)."""
    return (call_id for call_id in ids if _first_time(call_id, seen))


async def _unique_async(ids: AsyncIterator[str], seen: set[int]) -> AsyncIterator[str]:
    """`_unique` for an asynchronous source."""
    async for call_id in ids:
        if _first_time(call_id, seen):
            yield call_id


# --- resume ---------------------------------------------------------------------------


def _load_done(out: Path) -> set[int]:
    """IDs already in ``out``; a last line cut short by a crash is removed from the file."""
    done: set[int] = set()
    if not out.exists():
        return done
    with out.open("rb+") as f:
        good_end = 0
        for number, line in enumerate(f, 1):
            if not line.endswith(b"\n"):
                break  # cut short by a crash: refetch it
            try:
                done.add(_ID_DECODER.decode(line).id.int)
            except msgspec.MsgspecError as exc:
                raise UsageError(
                    f"{out}:{number} is not a call ({exc}); not resuming into this file"
                ) from exc
            good_end += len(line)
        f.truncate(good_end)
    return done


# --- the export -----------------------------------------------------------------------


def _failure_line(call_id: str, error: asyncsdk.BirdError) -> bytes:
    record: dict[str, object] = {
        "id": call_id,
        "error": type(error).__name__,
        "message": str(error),
    }
    if isinstance(error, asyncsdk.APIError):
        record["status"] = error.status
        record["requestId"] = error.request_id
    if isinstance(error, asyncsdk.RequestError):
        record["attempts"] = error.attempts
    return msgspec.json.encode(record) + b"\n"


def _prepare(args: argparse.Namespace) -> tuple[Path, Path, int | None, set[int]]:
    """Check the input and output files before any request (blocking is fine here)."""
    out: Path = args.out
    failures_path: Path = args.failures or out.with_name(out.stem + ".failures.jsonl")
    distinct = _scan_file(Path(args.ids)) if args.ids != "-" else None
    if not args.resume and out.exists() and out.stat().st_size > 0:
        raise UsageError(f"{out} exists; pass --resume to continue it, or remove it")
    done = _load_done(out) if args.resume else set()
    total = None if distinct is None else len(distinct - done)  # what this run will fetch
    return out, failures_path, total, done


@_telemetry.with_telemetry
async def run_fetch(args: argparse.Namespace) -> int:
    """Export calls to JSON Lines; return 0 if every ID was fetched, else 1."""
    out, failures_path, total, done = _prepare(args)
    skipped = len(done)
    # The sources are closed when the run ends: one that stopped early (RunStoppedError,
    # Ctrl-C) leaves them part-read, and a part-read file would stay open until collected.
    file_ids = stdin_ids = None
    ids: Iterator[str] | AsyncIterator[str]
    if args.ids != "-":
        file_ids = _file_ids(Path(args.ids))
        ids = _unique(file_ids, done)
    else:
        stdin_ids = _stdin_ids()
        ids = _unique_async(stdin_ids, done)
    client = client_from_args(args)
    progress = Progress(total, enabled=not args.no_progress)
    reasons: Counter[str] = Counter()
    with out.open("ab") as out_file, failures_path.open("wb") as failures_file:
        try:
            async with client:
                await _export(args, client, ids, out_file, failures_file, progress, reasons)
        except asyncio.CancelledError:
            _summary(progress, out, failures_path, skipped, reasons, ending="interrupted")
            raise
        except asyncsdk.RunStoppedError as stop:
            progress.finish()
            line = name_key_source(str(stop), args)  # one line: "stopped: <why>"
            print(f"asyncsdk: {line}", file=sys.stderr)
            _summary(progress, out, failures_path, skipped, reasons, ending="stopped")
            return 1
        finally:
            if file_ids is not None:
                file_ids.close()
            if stdin_ids is not None:
                await stdin_ids.aclose()
    progress.finish()
    _summary(progress, out, failures_path, skipped, reasons, ending=None)
    return 1 if progress.failed else 0


async def _export(
    args: argparse.Namespace,
    client: asyncsdk.Client,
    ids: Iterator[str] | AsyncIterator[str],
    out_file: BinaryIO,
    failures_file: BinaryIO,
    progress: Progress,
    reasons: Counter[str],
) -> None:
    stream = asyncsdk.iter_calls(
        client, args.workspace, args.channel, ids, concurrency=args.concurrency
    )
    last_flush = time.monotonic()

    def record(result: asyncsdk.CallResult) -> None:
        if result.call is not None:
            out_file.write(result.call.to_json() + b"\n")
        else:
            assert result.error is not None
            failures_file.write(_failure_line(str(result.call_id), result.error))
            reasons[_reason(result.error)] += 1
        progress.advance(failed=result.call is None)

    try:
        async with contextlib.aclosing(stream):
            async for result in stream:
                record(result)
                now = time.monotonic()
                if now - last_flush >= FLUSH_INTERVAL:
                    out_file.flush()
                    failures_file.flush()
                    last_flush = now
    except asyncsdk.RunStoppedError as stop:
        # What was answered is recorded; the IDs not answered are not failures: they
        # are in neither file, so a rerun with --resume takes them.
        for result in stop.results:
            record(result)
        raise
    finally:
        out_file.flush()
        failures_file.flush()


def _reason(error: asyncsdk.BirdError) -> str:
    """A failure's kind and message without its URL, so that failures alike count as one."""
    message = error.message if isinstance(error, asyncsdk.RequestError) else str(error)
    return f"{type(error).__name__}: {message}"


def _summary(
    progress: Progress,
    out: Path,
    failures: Path,
    skipped: int,
    reasons: Counter[str],
    *,
    ending: str | None,
) -> None:
    fetched = progress.done - progress.failed
    parts = [f"{fetched} calls written to {out}"]
    if skipped:
        parts.append(f"{skipped} already there")
    if progress.failed:
        parts.append(f"{progress.failed} failed (see {failures})")
    if ending == "stopped":
        left = "" if progress.total is None else f"{progress.total - progress.done} "
        parts.append(f"{left or 'the rest '}not tried")
    parts.append(f"in {progress.elapsed:.1f}s")
    text = ", ".join(parts)
    if ending == "stopped":
        text = f"{text}; fix the cause, then run again with --resume"
    elif ending is not None:
        text = f"{ending}: {text}; run again with --resume to continue"
    print(text, file=sys.stderr)
    if reasons and ending != "stopped":  # a stopped run has said why, in one line
        # A run whose IDs all failed alike (an unknown workspace, a wrong --base-url
        # path) says so here rather than only in the failures file.
        reason, count = reasons.most_common(1)[0]
        print(f"most failures: {reason} ({count} of {progress.failed})", file=sys.stderr)
