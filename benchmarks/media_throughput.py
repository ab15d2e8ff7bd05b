"""Scenario ``media_throughput``: one large recording over loopback, the SDK vs hand-written.

One recording (200 MB; ``--quick``: 50 MB) is served by the embedded server in its own
process (`benchmarks._mediaserver`): Bird's 307, then the object store's body. Three
contenders download it to a file in this process, in interleaved rounds:

* ``sdk``: `Client.download_recording` (``.part``, SHA-256 while writing, length check,
  fsync, rename);
* ``aiohttp``: a hand-written loop: GET the media endpoint with the credential, read its
  ``Location``, GET that without it, ``iter_chunked(256 KiB)`` straight to a file;
* ``aiohttp+sha256+fsync``: the same loop doing what the SDK does for its guarantees
  (hash while writing, fsync at the end).

Each round measures bytes per second (wall clock) and the client's CPU seconds per MB
(`time.process_time`: this process only; the server runs in its own). Before each
download the page cache's dirty pages are written out (`os.sync`, untimed): a contender
that does not fsync would otherwise leave its writeback to the next one. The ratio of
interest is ``sdk`` against ``aiohttp`` per round; the target is at least 0.9x.

Run alone: ``python -m benchmarks.media_throughput [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

import asyncsdk
from benchmarks._mediaserver import MediaServer

NAME = "media_throughput"
CHUNK = 256 * 1024


async def _sdk(info: dict[str, Any], rid: str, dest: Path) -> None:
    async with asyncsdk.Client(access_key=info["access_key"], base_url=info["base_url"]) as client:
        await client.download_recording(info["workspace"], rid, dest)


def _hand_written(
    *, hash_and_fsync: bool
) -> Callable[[dict[str, Any], str, Path], Awaitable[None]]:
    async def download(info: dict[str, Any], rid: str, dest: Path) -> None:
        url = f"{info['base_url']}/workspaces/{info['workspace']}/recordings/{rid}.mp3"
        auth = {"Authorization": f"AccessKey {info['access_key']}"}
        async with aiohttp.ClientSession() as session:
            async with session.get(url, headers=auth, allow_redirects=False) as resp:
                location = resp.headers["Location"]
            digest = hashlib.sha256()
            async with session.get(location) as resp:
                resp.raise_for_status()
                with dest.open("wb") as file:
                    async for chunk in resp.content.iter_chunked(CHUNK):
                        file.write(chunk)
                        if hash_and_fsync:
                            digest.update(chunk)
                    if hash_and_fsync:
                        file.flush()
                        os.fsync(file.fileno())

    return download


CONTENDERS = {
    "sdk": _sdk,
    "aiohttp": _hand_written(hash_and_fsync=False),
    "aiohttp+sha256+fsync": _hand_written(hash_and_fsync=True),
}


def run(*, quick: bool = False) -> dict[str, Any]:
    """Measure the contenders; return every sample and the per-round ratios."""
    size = 50_000_000 if quick else 200_000_000
    rounds = 2 if quick else 5
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in CONTENDERS}
    names = list(CONTENDERS)
    with (
        MediaServer("--count", "1", "--size", str(size)) as server,
        tempfile.TemporaryDirectory(dir=os.environ.get("MEDIA_BENCH_DIR")) as folder,
    ):
        rid, sha = server.info["recordings"][0]
        for round_ in range(rounds + 1):  # round 0 warms up (connections, page cache)
            order = names[round_ % len(names) :] + names[: round_ % len(names)]
            for name in order:
                dest = Path(folder) / f"{name}.mp3"
                os.sync()  # each starts with no dirty pages left by the one before
                cpu, wall = time.process_time(), time.perf_counter()
                asyncio.run(CONTENDERS[name](server.info, rid, dest))
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                if round_ and name == "sdk":
                    assert hashlib.sha256(dest.read_bytes()).hexdigest() == sha
                dest.unlink()
                if round_:
                    samples[name].append(
                        {"mb_per_s": size / 1e6 / wall, "cpu_s_per_mb": cpu / (size / 1e6)}
                    )
    ratios = [
        s["mb_per_s"] / p["mb_per_s"]
        for s, p in zip(samples["sdk"], samples["aiohttp"], strict=True)
    ]
    fair = [
        s["mb_per_s"] / p["mb_per_s"]
        for s, p in zip(samples["sdk"], samples["aiohttp+sha256+fsync"], strict=True)
    ]
    return {
        "scenario": NAME,
        "size_bytes": size,
        "rounds": rounds,
        "samples": samples,
        "median": {
            name: {key: statistics.median(s[key] for s in rows) for key in rows[0]}
            for name, rows in samples.items()
        },
        "sdk_vs_aiohttp": {
            "median": statistics.median(ratios),
            "min": min(ratios),
            "max": max(ratios),
        },
        "sdk_vs_aiohttp_sha256_fsync": {
            "median": statistics.median(fair),
            "min": min(fair),
            "max": max(fair),
        },
        "target": "sdk >= 0.9x aiohttp bytes/s",
    }


def main(argv: list[str] | None = None) -> None:
    """Run the scenario and print its result as JSON."""
    parser = argparse.ArgumentParser(description=NAME)
    parser.add_argument("--quick", action="store_true", help="a 50 MB file, 2 rounds")
    print(json.dumps(run(quick=parser.parse_args(argv).quick), indent=2))


if __name__ == "__main__":
    main()
