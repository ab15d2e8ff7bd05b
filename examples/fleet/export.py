"""One chunk of IDs to one JSON Lines file, exactly once, resumable after a crash.

The same rules as ``asyncsdk fetch --resume`` (``asyncsdk/cli/_fetch.py``), per chunk:

* each fetched call is one line of ``chunk-<n>.jsonl`` (the API's camelCase JSON),
  written and flushed as soon as it arrives, so a killed worker loses at most the
  requests in flight;
* a run first reads the IDs already in the file, drops a last line cut short by a
  crash, and fetches only the rest: nothing written is ever fetched again;
* failures go to ``chunk-<n>.failures.jsonl``, rewritten by each run, so it lists
  what the latest run could not fetch; the next run retries them;
* an exclusive ``flock`` on the chunk file keeps two workers (a slow one and the one
  arq handed the job to after a timeout) from writing the same file at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import msgspec

import asyncsdk


class ChunkBusyError(RuntimeError):
    """Another process is writing this chunk right now."""


class _IdOnly(msgspec.Struct):
    id: uuid.UUID


_ID_DECODER = msgspec.json.Decoder(_IdOnly)


@dataclass(frozen=True, slots=True)
class ChunkReport:
    fetched: int
    skipped: int
    failed: int


def chunk_path(out_dir: Path, name: str) -> Path:
    """The output file of chunk ``name`` (``<export digest>-<index>``, from the producer)."""
    return out_dir / f"chunk-{name}.jsonl"


@contextlib.contextmanager
def open_chunk(path: Path) -> Iterator[tuple[BinaryIO, set[int]]]:
    """Lock ``path``, cut a torn last line, and yield it (for appending) with the IDs in it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ChunkBusyError(f"{path} is being written by another process") from None
        f.seek(0)
        done: set[int] = set()
        good_end = 0
        for number, line in enumerate(f, 1):
            if not line.endswith(b"\n"):
                break  # cut short by a crash: fetch it again
            try:
                done.add(_ID_DECODER.decode(line).id.int)
            except msgspec.MsgspecError as exc:
                raise ValueError(f"{path}:{number} is not a call ({exc})") from exc
            good_end += len(line)
        f.truncate(good_end)
        yield f, done


def _failure_line(call_id: object, error: asyncsdk.BirdError) -> bytes:
    record: dict[str, object] = {"id": str(call_id), "error": type(error).__name__}
    record["message"] = str(error)
    if isinstance(error, asyncsdk.APIError):
        record["status"] = error.status
    return msgspec.json.encode(record) + b"\n"


async def export_chunk(
    client: asyncsdk.Client,
    workspace_id: str,
    channel_id: str,
    ids: Sequence[str],
    path: Path,
    *,
    concurrency: int,
) -> ChunkReport:
    """Fetch the IDs of ``ids`` not yet in ``path`` and append each call as it arrives."""
    with open_chunk(path) as (out, done):
        todo: list[str] = []
        for call_id in ids:
            key = uuid.UUID(call_id).int
            if key not in done:
                done.add(key)  # also drops an ID repeated within the chunk
                todo.append(call_id)
        fetched = failed = 0
        failures_path = path.with_name(path.stem + ".failures.jsonl")
        with failures_path.open("wb") as failures:
            stream = asyncsdk.iter_calls(
                client, workspace_id, channel_id, todo, concurrency=concurrency
            )
            async with contextlib.aclosing(stream):
                async for result in stream:
                    if result.call is not None:
                        out.write(result.call.to_json() + b"\n")
                        out.flush()  # a killed process loses no line it wrote
                        fetched += 1
                    else:
                        assert result.error is not None
                        failures.write(_failure_line(result.call_id, result.error))
                        failed += 1
        os.fsync(out.fileno())  # and a crashed machine none of a finished chunk
    if not failed:
        failures_path.unlink(missing_ok=True)
    return ChunkReport(fetched=fetched, skipped=len(ids) - len(todo), failed=failed)
