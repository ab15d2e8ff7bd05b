"""Scenario ``media_memory``: peak RSS of a download, 1 GB against 10 MB.

Each download runs in a fresh child process (`benchmarks._procs.run_json`, so its peak
resident set is its own: `benchmarks._harness.maxrss_kb`), against the embedded server
in another process (`benchmarks._mediaserver`). The target: the 1 GB download's peak
within 30 MB of the 10 MB download's, i.e. memory flat whatever the size (chunks
streamed to disk, hashed as written). ``--quick``: 40 MB against 2 MB.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile

from benchmarks import _harness as h
from benchmarks._harness import Json
from benchmarks._mediaserver import MediaServer
from benchmarks._procs import run_json

NAME = "media_memory"
TITLE = "Recording download: peak memory"
FULL = {"small_bytes": 10_000_000, "large_bytes": 1_000_000_000}
QUICK = {"small_bytes": 2_000_000, "large_bytes": 40_000_000}


def _worker(argv: list[str]) -> None:
    import asyncsdk

    info, dest = json.loads(argv[0]), argv[1]
    rid, sha = info["recordings"][0]

    async def download() -> asyncsdk.DownloadResult:
        async with asyncsdk.Client(
            access_key=info["access_key"], base_url=info["base_url"]
        ) as client:
            return await client.download_recording(info["workspace"], rid, dest)

    start = h.maxrss_kb()
    result = asyncio.run(download())
    print(
        json.dumps(
            {
                "size": result.size,
                "peak_kib": h.maxrss_kb(),
                "start_kib": start,
                "sha256_ok": result.sha256 == sha,
            }
        )
    )


def _measure(size: int, folder: str) -> Json:
    with MediaServer("--count", "1", "--size", str(size)) as server:
        dest = os.path.join(folder, f"{size}.mp3")
        found = run_json("benchmarks.media_memory", [json.dumps(server.info), dest])
        os.unlink(dest)
    return found


def run(*, quick: bool = False) -> Json:
    """Measure both sizes, each in a fresh process; report their peaks and the difference."""
    params = dict(QUICK if quick else FULL)
    sizes = {"small": params["small_bytes"], "large": params["large_bytes"]}
    with tempfile.TemporaryDirectory(dir=os.environ.get("MEDIA_BENCH_DIR")) as folder:
        runs = {key: _measure(size, folder) for key, size in sizes.items()}
    difference = (runs["large"]["peak_kib"] - runs["small"]["peak_kib"]) / 1024
    whole = all(r["sha256_ok"] and r["size"] == sizes[k] for k, r in runs.items())
    if not whole:
        raise RuntimeError(f"a download came out wrong: {runs}")
    return h.make_result(
        scenario=NAME,
        title=TITLE,
        description=(
            f"Peak resident set of a process that downloads one {sizes['large'] / 1e6:,.0f} MB "
            f"recording, against one that downloads {sizes['small'] / 1e6:,.0f} MB: memory "
            "must stay flat whatever the size. Each download in a fresh process."
        ),
        parameters=params,
        results={**runs, "peak_difference_mib": round(max(difference, 0.0), 2)},
        targets=[
            h.target(
                "large - small peak RSS <= 30 MiB",
                max(difference, 0.001),
                "<=",
                30.0,
                "VmHWM of each process, one run each",
            )
        ],
        tables=[
            h.table(
                "Peak resident set (MiB)",
                ["download", "bytes", "RSS at start", "peak RSS"],
                [
                    [k, f"{sizes[k]:,}", h.fmt(r["start_kib"] / 1024), h.fmt(r["peak_kib"] / 1024)]
                    for k, r in runs.items()
                ],
            )
        ],
        notes=["Both files came out whole: size and SHA-256 match the server's object."],
    )


if __name__ == "__main__":
    h.scenario_main(run, _worker)
