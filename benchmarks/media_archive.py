"""Scenario ``media_archive``: many small recordings under Bird's rate limit, with faults.

The embedded server (`benchmarks._mediaserver`, its own process) serves 2,000
recordings of 0.5 MB (``--quick``: 300), Bird's endpoints limited to 50 requests/s, the
object store answering after 30 ms. Contenders, each downloading every recording into
a fresh directory:

* ``sdk``: `Client.download_recording` for every ID, 64 tasks at once,
  ``rate_limit=50``, ``max_media_transfers=32``;
* ``aiohttp``: the best hand-written peer: one session, 64 tasks, a token bucket at 50/s
  in front of Bird's endpoint (a 429 waits its ``Retry-After``), the 307 read by hand,
  the object store's body streamed to the file (no hash, no fsync);
* ``sdk+faults``: the SDK again, against a server whose presigned URLs are expired 10 %
  of the time and whose bodies are cut 5 % of the time: every file must come out whole
  (its SHA-256 checked against the server's), and the bytes the object store sent beyond
  the files' total must be at most one chunk (256 KiB) per resume.

Throughput is recordings per second (wall clock). The target: ``sdk`` at least 0.9x
``aiohttp``.

Run alone: ``python -m benchmarks.media_archive [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

import asyncsdk
from asyncsdk._media import CHUNK_SIZE
from benchmarks._mediaserver import MediaServer

NAME = "media_archive"
SIZE = 500_000
RATE = 50.0
TASKS = 64


async def _sdk(info: dict[str, Any], folder: Path) -> dict[str, Any]:
    gate = asyncio.Semaphore(TASKS)
    resumes = 0
    async with asyncsdk.Client(
        access_key=info["access_key"],
        base_url=info["base_url"],
        rate_limit=RATE,
        max_media_transfers=TASKS // 2,
    ) as client:

        async def one(rid: str) -> asyncsdk.DownloadResult:
            async with gate:
                return await client.download_recording(info["workspace"], rid, folder)

        results = await asyncio.gather(*(one(rid) for rid, _ in info["recordings"]))
        stats = client.stats
    resumes = sum(r.resumes for r in results)
    ok = all(r.sha256 == sha for r, (_, sha) in zip(results, info["recordings"], strict=True))
    return {"resumes": resumes, "sha256_ok": ok, "bird_requests": stats.attempts}


class _Bucket:
    """A token bucket: ``rate`` per second, one at a time (the peer's pacing)."""

    def __init__(self, rate: float) -> None:
        self._interval = 1 / rate
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def take(self) -> None:
        async with self._lock:
            now = time.monotonic()
            wait = self._next - now
            self._next = max(now, self._next) + self._interval
        if wait > 0:
            await asyncio.sleep(wait)


async def _hand_written(info: dict[str, Any], folder: Path) -> dict[str, Any]:
    bucket = _Bucket(RATE)
    gate = asyncio.Semaphore(TASKS)
    auth = {"Authorization": f"AccessKey {info['access_key']}"}
    base = f"{info['base_url']}/workspaces/{info['workspace']}/recordings"
    connector = aiohttp.TCPConnector(limit=TASKS * 2)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(rid: str) -> None:
            async with gate:
                while True:
                    await bucket.take()
                    async with session.get(
                        f"{base}/{rid}.mp3", headers=auth, allow_redirects=False
                    ) as resp:
                        if resp.status == 429:
                            await asyncio.sleep(float(resp.headers.get("Retry-After", "1")))
                            continue
                        location = resp.headers["Location"]
                        break
                async with session.get(location) as resp:
                    resp.raise_for_status()
                    with (folder / f"{rid}.mp3").open("wb") as file:
                        async for chunk in resp.content.iter_chunked(CHUNK_SIZE):
                            file.write(chunk)

        await asyncio.gather(*(one(rid) for rid, _ in info["recordings"]))
    return {}


def _timed(contender: Any, info: dict[str, Any], folder: Path) -> dict[str, Any]:
    os.sync()
    started = time.perf_counter()
    extra = asyncio.run(contender(info, folder))
    seconds = time.perf_counter() - started
    count = len(info["recordings"])
    return {"recordings": count, "seconds": seconds, "per_second": count / seconds, **extra}


def run(*, quick: bool = False) -> dict[str, Any]:
    """Run the three contenders; return their throughput and the faults' checks."""
    count = 300 if quick else 2000
    common = ("--count", str(count), "--size", str(SIZE), "--store-latency", "0.03")
    common += ("--rate-limit", str(RATE))
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(dir=os.environ.get("MEDIA_BENCH_DIR")) as root:
        for name, contender, faults in (
            ("aiohttp", _hand_written, ()),
            ("sdk", _sdk, ()),
            ("sdk+faults", _sdk, ("--expired", "0.1", "--reset", "0.05")),
        ):
            folder = Path(root) / name
            folder.mkdir()
            with MediaServer(*common, *faults) as server:
                results[name] = _timed(contender, server.info, folder)
                files = len(server.info["recordings"])
                store = server.stop()
            results[name]["store"] = {
                k: store.get(k) for k in ("requests", "bytes_sent", "expired_refused", "cut")
            }
            extra = store["bytes_sent"] - files * SIZE
            results[name]["bytes_sent_twice"] = extra
            if name == "sdk+faults":
                digests = {
                    p.stem: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.glob("*.mp3")
                }
                results[name]["files_checked"] = sum(
                    digests.get(rid) == sha for rid, sha in server.info["recordings"]
                )
                resumes = results[name]["resumes"]
                results[name]["bytes_twice_per_resume"] = extra / max(resumes, 1)
                results[name]["within_one_chunk_per_resume"] = extra <= CHUNK_SIZE * resumes
    ratio = results["sdk"]["per_second"] / results["aiohttp"]["per_second"]
    return {
        "scenario": NAME,
        "count": count,
        "results": results,
        "sdk_vs_aiohttp": ratio,
        "target": "sdk >= 0.9x aiohttp recordings/s; with faults every file whole",
    }


def main(argv: list[str] | None = None) -> None:
    """Run the scenario and print its result as JSON."""
    parser = argparse.ArgumentParser(description=NAME)
    parser.add_argument("--quick", action="store_true", help="300 recordings instead of 2,000")
    print(json.dumps(run(quick=parser.parse_args(argv).quick), indent=2))


if __name__ == "__main__":
    main()
