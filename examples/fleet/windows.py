"""One time window of the calls log to one JSON Lines file, exactly once, resumable.

The window job of the fleet: the producer splits a day into windows (``plan_windows``),
each job lists one window with `asyncsdk.iter_call_log` (sharded, through the worker's
client and so the fleet's Redis limiter) into ``window-<start>.jsonl``. The rules are
those of ``asyncsdk export``, per window:

* after each page, its lines are written and fsynced, and only then is the checkpoint
  (``window-<start>.checkpoint.json``: the listing's checkpoint and the output's length)
  replaced, atomically;
* a job that finds a checkpoint cuts the output back to the length it counts (a page
  written but not checkpointed when a worker died) and resumes the listing from it, so
  no call is lost or written twice; a finished window is not listed again;
* an exclusive ``flock`` keeps two workers from writing the same window at once.

Windows are half-open, ``[start, end)``, on ``createdAt``: a call at a boundary belongs
to the later window only.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import itertools
import os
from dataclasses import dataclass
from pathlib import Path

import msgspec

import asyncsdk


class WindowBusyError(RuntimeError):
    """Another process is writing this window right now."""


class _State(msgspec.Struct, rename="camel"):
    output_bytes: int
    listing: asyncsdk.ListingCheckpoint


_LINES = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class WindowReport:
    calls: int
    pages: int
    resumed: bool


def plan_windows(day: dt.date, windows: int) -> list[tuple[dt.datetime, dt.datetime]]:
    """Split ``day`` (UTC) into ``windows`` half-open windows that cover it exactly."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    step = dt.timedelta(days=1) / windows
    cuts = [start + step * i for i in range(windows)] + [start + dt.timedelta(days=1)]
    return list(itertools.pairwise(cuts))


def window_path(out_dir: Path, start: dt.datetime) -> Path:
    """The output file of the window starting at ``start``."""
    return out_dir / f"window-{start.astimezone(dt.UTC):%Y%m%dT%H%M%S%fZ}.jsonl"


def _save(path: Path, state: _State) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(msgspec.json.encode(state))
    with tmp.open("rb+") as f:
        os.fsync(f.fileno())
    tmp.replace(path)


async def export_window(
    client: asyncsdk.Client,
    workspace_id: str,
    start: dt.datetime,
    end: dt.datetime,
    out_dir: Path,
    *,
    shards: int,
) -> WindowReport:
    """List ``[start, end)`` into its window file, continuing from its checkpoint if any."""
    path = window_path(out_dir, start)
    checkpoint = path.with_name(path.stem + ".checkpoint.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as out:
        try:
            fcntl.flock(out.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WindowBusyError(f"{path} is being written by another process") from None
        state = None
        if checkpoint.exists():
            state = msgspec.json.decode(checkpoint.read_bytes(), type=_State)
        resumed = state is not None
        out.truncate(0 if state is None else state.output_bytes)  # what no checkpoint counts
        out.seek(0, os.SEEK_END)
        listing = asyncsdk.iter_call_log(
            client,
            workspace_id,
            start_at=start,
            end_at=end,
            shards=shards,
            resume=state.listing if state is not None else None,
        )
        if state is None:
            state = _State(output_bytes=0, listing=listing.checkpoint())
            _save(checkpoint, state)
        calls = pages = 0
        if not state.listing.complete:
            async with listing:
                async for page in listing.pages():
                    out.write(_LINES.encode_lines(page.results))
                    out.flush()
                    os.fsync(out.fileno())
                    state.output_bytes = out.tell()
                    state.listing = listing.checkpoint()
                    _save(checkpoint, state)
                    calls += len(page.results)
                    pages += 1
    return WindowReport(calls=calls, pages=pages, resumed=resumed)
