"""A worker of the fleet: an arq worker holding one `Client` with the shared Redis limiter.

Run one or more per machine, all pointed at the same Redis::

    arq examples.fleet.worker.WorkerSettings            # until stopped (SIGINT/SIGTERM)
    python -m examples.fleet.worker [--burst]           # --burst: exit when the queue is empty

Each worker process creates its `Client` once, at start-up (arq's ``on_startup``), and
closes it at shutdown, so every job of the process shares its connection pool, retry
budget and limiter; the limiter in turn shares one rate with every other worker.
A ``fetch_chunk`` job fetches one chunk of IDs into its own JSON Lines file (see
`export`); a job that leaves failures is retried later by arq and then fetches only what
is still missing. An ``export_window`` job lists one window of a day into its own file
(see `windows`); one that fails is retried later and resumes from its checkpoint.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
from typing import Any

from arq import Retry
from arq.connections import RedisSettings
from arq.worker import func, run_worker

from asyncsdk import Client, RequestError
from asyncsdk.ratelimit.fleet import RedisRateLimiter

from .export import ChunkBusyError, chunk_path, export_chunk
from .settings import QUEUE_NAME, FleetSettings
from .windows import WindowBusyError, export_window

#: Runs of one job at most (arq counts a run cut short by a crash too).
MAX_TRIES = 5
#: Seconds to wait before running a job again, per try so far.
RETRY_DELAY = 5.0

_SETTINGS = FleetSettings.from_env()


async def startup(ctx: dict[str, Any]) -> None:
    settings = FleetSettings.from_env()
    limiter = RedisRateLimiter(
        settings.redis_url,
        rate=settings.rate,
        burst=settings.burst,
        key=settings.limit_key,
        credential=os.environ.get("BIRD_ACCESS_KEY"),
        fallback_share=settings.fallback_share,
    )
    ctx["settings"] = settings
    ctx["limiter"] = limiter
    ctx["client"] = Client(limiter=limiter)  # BIRD_ACCESS_KEY, BIRD_BASE_URL


async def shutdown(ctx: dict[str, Any]) -> None:
    await ctx["client"].aclose()
    await ctx["limiter"].aclose()


async def fetch_chunk(
    ctx: dict[str, Any], workspace_id: str, channel_id: str, name: str, ids: list[str]
) -> dict[str, object]:
    """Fetch one chunk into ``chunk-<name>.jsonl``; return what was done."""
    settings: FleetSettings = ctx["settings"]
    try:
        report = await export_chunk(
            ctx["client"],
            workspace_id,
            channel_id,
            ids,
            chunk_path(settings.out_dir, name),
            concurrency=settings.concurrency,
        )
    except ChunkBusyError:
        raise Retry(defer=RETRY_DELAY) from None
    if report.failed and ctx["job_try"] < MAX_TRIES:
        raise Retry(defer=RETRY_DELAY * ctx["job_try"])  # only the failures are fetched again
    return {
        "chunk": name,
        "worker": os.getpid(),
        "fetched": report.fetched,
        "skipped": report.skipped,
        "failed": report.failed,
    }


async def export_window_job(
    ctx: dict[str, Any], workspace_id: str, start: str, end: str
) -> dict[str, object]:
    """List one window of the calls log into its ``window-<start>.jsonl``."""
    settings: FleetSettings = ctx["settings"]
    try:
        report = await export_window(
            ctx["client"],
            workspace_id,
            dt.datetime.fromisoformat(start),
            dt.datetime.fromisoformat(end),
            settings.out_dir,
            shards=settings.shards,
        )
    except WindowBusyError:
        raise Retry(defer=RETRY_DELAY) from None
    except RequestError:
        if ctx["job_try"] >= MAX_TRIES:
            raise
        raise Retry(defer=RETRY_DELAY * ctx["job_try"]) from None  # resumes from its checkpoint
    return {
        "window": start,
        "worker": os.getpid(),
        "calls": report.calls,
        "pages": report.pages,
        "resumed": report.resumed,
    }


class WorkerSettings:
    """What ``arq examples.fleet.worker.WorkerSettings`` runs."""

    functions = (
        func(fetch_chunk, name="fetch_chunk", max_tries=MAX_TRIES),
        func(export_window_job, name="export_window", max_tries=MAX_TRIES),
    )
    queue_name = QUEUE_NAME
    redis_settings = RedisSettings.from_dsn(_SETTINGS.redis_url)
    on_startup = startup
    on_shutdown = shutdown
    max_jobs = _SETTINGS.max_jobs
    job_timeout = _SETTINGS.job_timeout


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m examples.fleet.worker")
    parser.add_argument("--burst", action="store_true", help="exit once the queue is empty")
    ns = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    run_worker(WorkerSettings, burst=ns.burst)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
