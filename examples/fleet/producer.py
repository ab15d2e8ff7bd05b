"""The producer: enqueue one arq job per chunk of IDs, or per window of a day.

Run::

    python -m examples.fleet.producer WORKSPACE CHANNEL --ids ids.txt [--chunk-size 500]
    python -m examples.fleet.producer WORKSPACE --day 2026-10-02 [--windows 24]

With ``--day``, the day (UTC) is split into half-open windows and each window becomes
one ``export_window`` job (see `examples.fleet.windows`): the listing of the whole day,
spread over the fleet. A window's job ID is ``fleet-window-<workspace>-<start>``.

IDs are checked and deduplicated first (so each is in exactly one chunk). A job's ID
is ``fleet-<digest of the list>-<chunk>``: running the producer again with the same
list enqueues nothing while arq still knows the jobs, and once it has forgotten them
the jobs run again and find their chunk files complete (nothing is fetched twice).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import uuid
from collections.abc import Iterable
from pathlib import Path

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings

from .settings import QUEUE_NAME, FleetSettings
from .windows import plan_windows

DEFAULT_CHUNK_SIZE = 500
DEFAULT_WINDOWS = 24


def plan_chunks(ids: Iterable[str], chunk_size: int) -> list[tuple[str, list[str]]]:
    """Return ``(name, ids)`` per chunk: unique canonical IDs, in input order."""
    unique = list(dict.fromkeys(str(uuid.UUID(i.strip())) for i in ids if i.strip()))
    digest = hashlib.sha256("\n".join(unique).encode()).hexdigest()[:12]
    return [
        (f"{digest}-{n:06d}", unique[start : start + chunk_size])
        for n, start in enumerate(range(0, len(unique), chunk_size))
    ]


async def enqueue_chunks(
    pool: ArqRedis, workspace_id: str, channel_id: str, ids: Iterable[str], *, chunk_size: int
) -> tuple[int, int]:
    """Enqueue a job per chunk; return (chunks, jobs newly enqueued)."""
    chunks = plan_chunks(ids, chunk_size)
    enqueued = 0
    for name, chunk in chunks:
        job = await pool.enqueue_job(
            "fetch_chunk",
            str(uuid.UUID(workspace_id)),
            str(uuid.UUID(channel_id)),
            name,
            chunk,
            _job_id=f"fleet-{name}",
            _queue_name=QUEUE_NAME,
        )
        enqueued += job is not None
    return len(chunks), enqueued


async def enqueue_windows(
    pool: ArqRedis, workspace_id: str, day: dt.date, *, windows: int
) -> tuple[int, int]:
    """Enqueue an ``export_window`` job per window of ``day``; return (windows, enqueued)."""
    workspace = str(uuid.UUID(workspace_id))
    enqueued = 0
    planned = plan_windows(day, windows)
    for start, end in planned:
        job = await pool.enqueue_job(
            "export_window",
            workspace,
            start.isoformat(),
            end.isoformat(),
            _job_id=f"fleet-window-{workspace}-{start.isoformat()}",
            _queue_name=QUEUE_NAME,
        )
        enqueued += job is not None
    return len(planned), enqueued


async def _main(ns: argparse.Namespace, ids: list[str]) -> None:
    settings = FleetSettings.from_env()
    pool = await create_pool(RedisSettings.from_dsn(settings.redis_url))
    try:
        if ns.day is not None:
            jobs, enqueued = await enqueue_windows(pool, ns.workspace, ns.day, windows=ns.windows)
            what = "windows"
        else:
            jobs, enqueued = await enqueue_chunks(
                pool, ns.workspace, ns.channel, ids, chunk_size=ns.chunk_size
            )
            what = "chunks"
    finally:
        await pool.aclose()
    print(f"{jobs} {what}, {enqueued} jobs enqueued ({jobs - enqueued} already known)")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m examples.fleet.producer")
    parser.add_argument("workspace", help="workspace UUID")
    parser.add_argument("channel", nargs="?", help="channel UUID (with --ids)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--ids", help="file of call UUIDs, one per line")
    source.add_argument("--day", type=dt.date.fromisoformat, help="export this day (UTC)")
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE)
    parser.add_argument("--windows", type=int, default=DEFAULT_WINDOWS)
    ns = parser.parse_args()
    if ns.ids is not None and ns.channel is None:
        parser.error("--ids needs the channel")
    asyncio.run(_main(ns, Path(ns.ids).read_text().splitlines() if ns.ids else []))


if __name__ == "__main__":
    main()
