"""Scenario ``media_throughput``: one large recording over loopback, the SDK vs hand-written.

One recording (200 MB; ``--quick``: 5 MB) is served by the embedded server in its own
process (`benchmarks._mediaserver`): Bird's 307, then the object store's body. Three
contenders download it to a file in this process, in interleaved rounds:

* ``sdk``: `Client.download_recording` (``.part``, SHA-256 while writing, length check,
  fsync, rename), as a caller gets it by default;
* ``sdk-no-checksum``: the same with ``checksum=None`` (no SHA-256; the rest the same);
* ``aiohttp``: a hand-written loop: GET the media endpoint with the credential, read its
  ``Location``, GET that without it, ``iter_chunked(256 KiB)`` straight to a file;
* ``aiohttp+sha256+fsync``: the same loop doing what the SDK does for its guarantees
  (hash while writing, fsync at the end).

Rounds are `benchmarks._harness.interleaved`; each round measures bytes per second (wall
clock) and the client's CPU seconds per MB (`time.process_time`: this process only; the
server runs in its own). Before each download the page cache's dirty pages are written
out (`os.sync`, untimed): a contender that does not fsync would otherwise leave its
writeback to the next one. The ratio of
interest is ``sdk`` against ``aiohttp`` per round; the target is at least 0.9x, for the
default (with SHA-256); ``sdk-no-checksum`` against ``aiohttp`` is reported beside it.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

import asyncsdk
from benchmarks import _harness as h
from benchmarks._harness import Json
from benchmarks._mediaserver import MediaServer

NAME = "media_throughput"
TITLE = "Recording download: one large file"
CHUNK = 256 * 1024


async def _sdk(info: dict[str, Any], rid: str, dest: Path) -> None:
    async with asyncsdk.Client(access_key=info["access_key"], base_url=info["base_url"]) as client:
        await client.download_recording(info["workspace"], rid, dest)


async def _sdk_no_checksum(info: dict[str, Any], rid: str, dest: Path) -> None:
    async with asyncsdk.Client(access_key=info["access_key"], base_url=info["base_url"]) as client:
        await client.download_recording(info["workspace"], rid, dest, checksum=None)


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
    "sdk-no-checksum": _sdk_no_checksum,
    "aiohttp": _hand_written(hash_and_fsync=False),
    "aiohttp+sha256+fsync": _hand_written(hash_and_fsync=True),
}


LABELS = {
    "sdk": "SDK `download_recording`",
    "sdk-no-checksum": "SDK `download_recording(checksum=None)`",
    "aiohttp": "aiohttp loop",
    "aiohttp+sha256+fsync": "aiohttp loop + SHA-256 + fsync",
}
FULL = {"size_bytes": 200_000_000, "rounds": 7}
QUICK = {"size_bytes": 5_000_000, "rounds": 2}


def _download(name: str, info: dict[str, Any], dest: Path, size: int) -> tuple[float, float]:
    """One download by ``name``; return (MB/s, client CPU seconds per MB)."""
    os.sync()  # each starts with no dirty pages left by the one before
    cpu, wall = time.process_time(), time.perf_counter()
    asyncio.run(CONTENDERS[name](info, info["recordings"][0][0], dest))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return size / 1e6 / wall, cpu / (size / 1e6)


def _sha256_cpu_per_mb(megabytes: int = 64) -> float:
    """Client CPU seconds per MB of `hashlib.sha256` alone, on 1 MiB blocks."""
    block = os.urandom(1 << 20)
    digest = hashlib.sha256()
    cpu = time.process_time()
    for _ in range(megabytes):
        digest.update(block)
    return (time.process_time() - cpu) / (megabytes * (1 << 20) / 1e6)


def run(*, quick: bool = False) -> Json:
    """Measure the contenders in interleaved rounds; MB/s, CPU/MB, per-round ratios."""
    params = dict(QUICK if quick else FULL)
    load = os.getloadavg()
    sha_cpu = _sha256_cpu_per_mb(8 if quick else 64)
    size = params["size_bytes"]
    rate: dict[str, list[float]] = {name: [] for name in LABELS}
    cpu: dict[str, list[float]] = {name: [] for name in LABELS}
    with (
        MediaServer("--count", "1", "--size", str(size)) as server,
        tempfile.TemporaryDirectory(dir=os.environ.get("MEDIA_BENCH_DIR")) as folder,
    ):
        sha = server.info["recordings"][0][1]
        for round_, order in enumerate(h.interleaved(LABELS, params["rounds"] + 1)):
            for name in order:  # round 0 warms up (connections, page cache)
                dest = Path(folder) / f"{name}.mp3"
                mb_s, cpu_mb = _download(name, server.info, dest, size)
                if name.startswith("sdk") and hashlib.sha256(dest.read_bytes()).hexdigest() != sha:
                    raise RuntimeError("the SDK's download differs from the server's object")
                dest.unlink()
                if round_:
                    rate[name].append(mb_s)
                    cpu[name].append(cpu_mb)
    results = h.by_contender(LABELS, {"mb_per_s": rate, "cpu_s_per_mb": cpu})
    ratios = {f"sdk/{k}": h.paired_ratio(rate["sdk"], rate[k]) for k in LABELS if k != "sdk"}
    ratios["sdk-no-checksum/aiohttp"] = h.paired_ratio(rate["sdk-no-checksum"], rate["aiohttp"])
    bare_cpu = results["aiohttp"]["cpu_s_per_mb"]["median"]
    return h.make_result(
        scenario=NAME,
        title=TITLE,
        description=(
            f"One {size / 1e6:,.0f} MB recording over loopback (Bird's 307, then the object "
            "store's body) to a file, the embedded server in its own process; the SDK "
            "(`.part`, SHA-256 while writing, length check, fsync, rename), and the SDK "
            "with `checksum=None`, against a hand-written aiohttp loop, bare and with the "
            "same hash and fsync."
        ),
        parameters=params,
        results=results,
        ratios=ratios,
        targets=[
            h.target(
                "sdk/aiohttp >= 0.9",
                ratios["sdk/aiohttp"]["median"],
                ">=",
                0.9,
                "median of per-round ratios, MB/s",
            ),
        ],
        tables=[
            h.grid(
                "Per contender, median (min-max)",
                "contender",
                LABELS,
                {"mb_per_s": "MB/s", "cpu_s_per_mb": "client CPU s per MB"},
                lambda k, m: h.fmt_range(results[k][m]),
            ),
            h.ratio_table("SDK against each peer (MB/s, per round)", ratios),
        ],
        chart={
            "title": "One large recording (MB/s, median; bars show min-max)",
            "xlabel": "MB per second",
            "groups": {"download": {LABELS[k]: results[k]["mb_per_s"] for k in LABELS}},
        },
        notes=[
            "Dirty pages are written out (`os.sync`, untimed) before each download, so a "
            "contender that does not fsync leaves no writeback to the next one.",
            "The target is the default's (with SHA-256); `sdk-no-checksum/aiohttp` is the "
            "`checksum=None` option's ratio, reported beside it.",
            f"SHA-256 alone costs {sha_cpu * 1e3:.2f} ms of client CPU per MB here "
            f"(`hashlib`, OpenSSL; {1 / sha_cpu:,.0f} MB/s of CPU time), against "
            f"{bare_cpu * 1e3:.2f} ms per MB for the whole bare loop. When the machine's "
            "cores are busy, MB/s follows CPU per MB, so the hash alone bounds "
            f"sdk/aiohttp near {bare_cpu / (bare_cpu + sha_cpu):.2f}; only idle cores "
            "(the hash on one, the network on another) let it approach 1.",
            f"Load average (1 min) at the start and the end of the run: {load[0]:.2f}, "
            f"{os.getloadavg()[0]:.2f}; the machine is shared, so MB/s varies from round "
            "to round: the ratios pair each round's contenders.",
        ],
    )


if __name__ == "__main__":
    h.scenario_main(run)
