"""One worker process of the throttling lab's shared-quota scenario.

``python -m benchmarks._labworker URL WS CH --first I --count N --start-at T`` waits until
the Unix time ``T`` (so that every worker starts together, each in its own interpreter),
then fetches the dataset's IDs ``I .. I+N-1`` with `asyncsdk.iter_calls` on its own
`Client` at default settings (``max_retries`` 3, no rate limit, adaptive), and prints one
JSON line: its completion time, its outcomes by kind, attempts, 429s and the limiter's
state. Several of them against one server are processes that share a quota without
coordinating: the common deployment of web-app replicas or workers, each with its own
client.

Imports: the standard library and asyncsdk (its server only for the dataset's IDs).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence

from benchmarks._harness import ROOT, Json, _child_env
from benchmarks._lab import ACCESS_KEY
from benchmarks._serverproc import ServerProcess

#: Seconds a worker may run at most before it stops taking IDs (a bound, never reached).
MAX_SECONDS = 300.0
#: Seconds the workers are given to start their interpreters before they start together.
STARTUP_SECONDS = 3.0


async def fetch(url: str, ws: str, ch: str, ids: Sequence[uuid.UUID], concurrency: int) -> Json:
    """Fetch ``ids`` with a default client; return what the worker prints."""
    import asyncsdk

    client = asyncsdk.Client(access_key=ACCESS_KEY, base_url=url)
    outcomes: Counter[str] = Counter()
    start = time.perf_counter()
    end = time.monotonic() + MAX_SECONDS

    async def source() -> object:
        for call_id in ids:
            if time.monotonic() >= end:
                return
            yield call_id

    async with client:
        async for result in asyncsdk.iter_calls(client, ws, ch, source(), concurrency=concurrency):
            outcomes["ok" if result.ok else type(result.error).__name__] += 1
        wall = time.perf_counter() - start
    stats = client.stats
    return {
        "wall_s": wall,
        "outcomes": dict(outcomes),
        "attempts": stats.attempts,
        "throttled": stats.throttled,
        "limiter": repr(client.limiter),
    }


def run_fleet(server: ServerProcess, workers: int, per_worker: int, *, size: int) -> Json:
    """Run ``workers`` worker processes against ``server``; return each one's result.

    Each fetches its own ``per_worker`` IDs; they start together (a common start time,
    once every interpreter has had time to import the SDK).
    """
    start_at = time.time() + STARTUP_SECONDS
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks._labworker",
                server.base_url,
                str(server.workspace_id),
                str(server.channel_id),
                f"--first={i * per_worker}",
                f"--count={per_worker}",
                f"--size={size}",
                f"--start-at={start_at}",
            ],
            cwd=ROOT,
            env=_child_env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(workers)
    ]
    found = []
    try:
        for proc in procs:
            out, _ = proc.communicate(timeout=MAX_SECONDS + 60.0)
            if proc.returncode != 0:
                raise RuntimeError(f"a lab worker exited with {proc.returncode}")
            found.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return {"workers": found, "start_at": start_at}


def main(argv: Sequence[str]) -> None:
    """Parse the arguments, wait for the common start, fetch, print one JSON line."""
    from asyncsdk.server import Dataset

    parser = argparse.ArgumentParser(prog="python -m benchmarks._labworker")
    parser.add_argument("url")
    parser.add_argument("ws")
    parser.add_argument("ch")
    parser.add_argument("--first", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--start-at", type=float, required=True)
    args = parser.parse_args(argv)
    ids = list(Dataset(size=args.size).call_ids[args.first : args.first + args.count])
    time.sleep(max(0.0, min(args.start_at - time.time(), 30.0)))
    result = asyncio.run(fetch(args.url, args.ws, args.ch, ids, args.concurrency))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
