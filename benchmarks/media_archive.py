"""Scenario ``media_archive``: many small recordings under Bird's rate limit, with faults.

The embedded server (`benchmarks._mediaserver`, its own process) serves 2,000
recordings of 0.5 MB (``--quick``: 40), Bird's endpoints limited to 50 requests/s, the
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
  the files' total must be at most one chunk (256 KiB) per resume. A download the SDK
  gives up on (a typed `asyncsdk.MediaError`) is started again, up to `GIVE_UPS` times.

Throughput is recordings per second (wall clock), and each contender's completions per
second over time are drawn against the limit. The target: ``sdk`` at least 0.9x
``aiohttp``. One run each (a run is long and paced by the limit, not by the CPU).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

import asyncsdk
from asyncsdk._media import CHUNK_SIZE
from benchmarks import _harness as h
from benchmarks._harness import Json
from benchmarks._mediaserver import MediaServer

NAME = "media_archive"
TITLE = "Recording archive: many small files under the rate limit"
FULL = {"count": 2000}
QUICK = {"count": 40}
SIZE = 500_000
RATE = 50.0
TASKS = 64
#: Downloads of one recording the caller starts before it gives up: the SDK gives up on a
#: file (a typed `asyncsdk.MediaError`) after its own resumes, as when every presigned URL
#: it gets has expired, and a caller archiving many files tries that one again.
GIVE_UPS = 3


async def _sdk(info: dict[str, Any], folder: Path, done: list[float]) -> dict[str, Any]:
    gate = asyncio.Semaphore(TASKS)
    gave_up: list[str] = []
    async with asyncsdk.Client(
        access_key=info["access_key"],
        base_url=info["base_url"],
        rate_limit=RATE,
        max_media_transfers=TASKS // 2,
    ) as client:

        async def one(rid: str) -> asyncsdk.DownloadResult:
            async with gate:
                for attempt in range(1, GIVE_UPS + 1):
                    try:
                        result = await client.download_recording(info["workspace"], rid, folder)
                        break
                    except asyncsdk.MediaError as exc:  # typed: the caller may try again
                        gave_up.append(type(exc).__name__)
                        if attempt == GIVE_UPS:
                            raise
            done.append(time.perf_counter())
            return result

        results = await asyncio.gather(*(one(rid) for rid, _ in info["recordings"]))
        stats = client.stats
    resumes = sum(r.resumes for r in results)
    ok = all(r.sha256 == sha for r, (_, sha) in zip(results, info["recordings"], strict=True))
    return {
        "resumes": resumes,
        "sha256_ok": ok,
        "bird_requests": stats.attempts,
        "downloads_given_up_then_retried": len(gave_up),
    }


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


async def _hand_written(info: dict[str, Any], folder: Path, done: list[float]) -> dict[str, Any]:
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
            done.append(time.perf_counter())

        await asyncio.gather(*(one(rid) for rid, _ in info["recordings"]))
    return {}


def _timed(contender: Any, info: dict[str, Any], folder: Path) -> dict[str, Any]:
    os.sync()
    done: list[float] = []
    started = time.perf_counter()
    extra = asyncio.run(contender(info, folder, done))
    seconds = time.perf_counter() - started
    count = len(info["recordings"])
    per_second = [0] * (int(seconds) + 1)
    for t in done:
        per_second[int(t - started)] += 1
    return {
        "recordings": count,
        "seconds": round(seconds, 3),
        "per_second": count / seconds,
        "completed_each_second": per_second,
        **extra,
    }


def _check_faults(found: dict[str, Any], folder: Path, recordings: list[list[str]]) -> None:
    """Every file whole, and the bytes sent twice at most one chunk per resume."""
    digests = {p.stem: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.glob("*.mp3")}
    found["files_checked"] = sum(digests.get(rid) == sha for rid, sha in recordings)
    extra, resumes = found["bytes_sent_twice"], found["resumes"]
    found["bytes_twice_per_resume"] = extra / max(resumes, 1)
    found["within_one_chunk_per_resume"] = extra <= CHUNK_SIZE * resumes


LABELS = {"aiohttp": "aiohttp, hand-written", "sdk": "SDK", "sdk+faults": "SDK, with faults"}


def run(*, quick: bool = False) -> Json:
    """Run the three contenders; return their throughput and the faults' checks."""
    count = (QUICK if quick else FULL)["count"]
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
                store = server.stop()
            results[name]["store"] = {
                k: store.get(k) for k in ("requests", "bytes_sent", "expired_refused", "cut")
            }
            files = len(server.info["recordings"])  # those neither missing nor ongoing
            results[name]["bytes_sent_twice"] = store["bytes_sent"] - files * SIZE
            if name == "sdk+faults":
                _check_faults(results[name], folder, server.info["recordings"])
    faulty = results["sdk+faults"]
    if not faulty["sha256_ok"] or faulty["files_checked"] != faulty["recordings"]:
        raise RuntimeError(f"a file came out wrong under faults: {faulty}")
    ratio = results["sdk"]["per_second"] / results["aiohttp"]["per_second"]
    seconds = max(len(r["completed_each_second"]) for r in results.values())
    return h.make_result(
        scenario=NAME,
        title=TITLE,
        description=(
            f"{count:,} recordings of {SIZE / 1e6} MB, Bird's endpoints limited to {RATE:.0f} "
            "requests/s, the object store answering after 30 ms; the SDK, 64 tasks, against a "
            "hand-written aiohttp peer pacing itself at the limit, and the SDK again with 10 % "
            "of presigned URLs expired and 5 % of bodies cut."
        ),
        parameters={"count": count, "size_bytes": SIZE, "rate_limit": RATE, "tasks": TASKS},
        results=results,
        ratios={"sdk/aiohttp": ratio},
        targets=[
            h.target("sdk/aiohttp >= 0.9", ratio, ">=", 0.9, "recordings/s, one run each"),
            h.target(
                "faults: KiB sent twice per resume <= 256 (one chunk)",
                max(faulty["bytes_twice_per_resume"] / 1024, 0.001),
                "<=",
                CHUNK_SIZE / 1024,
                "object store's bytes beyond the files' total, per resume",
            ),
        ],
        tables=[
            h.table(
                "Recordings per second (one run each)",
                ["contender", "recordings/s", "seconds", "object-store GETs", "resumes"],
                [
                    [
                        LABELS[k],
                        h.fmt(r["per_second"]),
                        h.fmt(r["seconds"]),
                        f"{r['store']['requests']:,}",
                        str(r.get("resumes", "-")),
                    ]
                    for k, r in results.items()
                ],
            )
        ],
        line_charts=[
            {
                "title": f"Recordings completed per second ({count:,} x {SIZE / 1e6} MB)",
                "file": "img/media-archive.png",
                "dt": 1.0,
                "ylabel": "recordings/s",
                "series": {LABELS[k]: r["completed_each_second"] for k, r in results.items()},
                "reference": {f"limit {RATE:.0f}/s": [RATE] * seconds},
            }
        ],
        notes=[
            f"With faults: {faulty['files_checked']:,} of {faulty['recordings']:,} files whole "
            "(SHA-256; the others are missing or ongoing recordings), "
            f"{faulty['resumes']} resumes, {faulty['bytes_sent_twice']:,} bytes sent twice; "
            f"{faulty['downloads_given_up_then_retried']} downloads given up by the SDK "
            "(a typed `MediaError`) and started again by the caller.",
        ],
    )


if __name__ == "__main__":
    h.scenario_main(run)
