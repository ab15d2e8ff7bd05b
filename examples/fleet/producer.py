"""The producer: split an ID list into chunks and enqueue one arq job per chunk.

Run::

    python -m examples.fleet.producer WORKSPACE CHANNEL --ids ids.txt [--chunk-size 500]

IDs are checked and deduplicated first (so each is in exactly one chunk). A job's ID
is ``fleet-<digest of the list>-<chunk>``: running the producer again with the same
list enqueues nothing while arq still knows the jobs, and once it has forgotten them
the jobs run again and find their chunk files complete (nothing is fetched twice).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import uuid
from collections.abc import Iterable
from pathlib import Path

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings

from .settings import QUEUE_NAME, FleetSettings

DEFAULT_CHUNK_SIZE = 500


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


async def _main(ns: argparse.Namespace, ids: list[str]) -> None:
    settings = FleetSettings.from_env()
    pool = await create_pool(RedisSettings.from_dsn(settings.redis_url))
    try:
        chunks, enqueued = await enqueue_chunks(
            pool, ns.workspace, ns.channel, ids, chunk_size=ns.chunk_size
        )
    finally:
        await pool.aclose()
    print(f"{chunks} chunks, {enqueued} jobs enqueued ({chunks - enqueued} already known)")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m examples.fleet.producer")
    parser.add_argument("workspace", help="workspace UUID")
    parser.add_argument("channel", help="channel UUID")
    parser.add_argument("--ids", required=True, help="file of call UUIDs, one per line")
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE)
    ns = parser.parse_args()
    asyncio.run(_main(ns, Path(ns.ids).read_text().splitlines()))


if __name__ == "__main__":
    main()
