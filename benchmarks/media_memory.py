"""Scenario ``media_memory``: peak RSS of a download, 1 GB against 10 MB.

Each download runs in a fresh child process (so its peak resident set is its own,
`resource.getrusage` ``ru_maxrss``), against the embedded server in another process
(`benchmarks._mediaserver`). The target: the 1 GB download's peak within 30 MB of the
10 MB download's, i.e. memory flat whatever the size (chunks streamed to disk, hashed
as written). ``--quick``: 200 MB against 10 MB.

Run alone: ``python -m benchmarks.media_memory [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from typing import Any

from benchmarks._mediaserver import MediaServer

NAME = "media_memory"

CHILD = """
import asyncio, json, resource, sys
import asyncsdk

async def main(info, rid, dest):
    async with asyncsdk.Client(access_key=info["access_key"], base_url=info["base_url"]) as c:
        result = await c.download_recording(info["workspace"], rid, dest)
    return result

info = json.loads(sys.argv[1])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = asyncio.run(main(info, info["recordings"][0][0], sys.argv[2]))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
ok = result.sha256 == info["recordings"][0][1]
print(json.dumps({"size": result.size, "peak_kib": peak, "start_kib": before, "sha256_ok": ok}))
"""


def _measure(size: int, folder: str) -> dict[str, Any]:
    with MediaServer("--count", "1", "--size", str(size)) as server:
        dest = os.path.join(folder, f"{size}.mp3")
        done = subprocess.run(
            [sys.executable, "-c", CHILD, json.dumps(server.info), dest],
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
        os.unlink(dest)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(*, quick: bool = False) -> dict[str, Any]:
    """Measure both sizes; return their peaks and the difference."""
    large = 200_000_000 if quick else 1_000_000_000
    with tempfile.TemporaryDirectory(dir=os.environ.get("MEDIA_BENCH_DIR")) as folder:
        small_run = _measure(10_000_000, folder)
        large_run = _measure(large, folder)
    difference = (large_run["peak_kib"] - small_run["peak_kib"]) / 1024
    return {
        "scenario": NAME,
        "small": small_run,
        "large": large_run,
        "peak_difference_mib": difference,
        "target": "peak RSS of the large download within 30 MB of the 10 MB one",
        "met": difference <= 30 and small_run["sha256_ok"] and large_run["sha256_ok"],
    }


def main(argv: list[str] | None = None) -> None:
    """Run the scenario and print its result as JSON."""
    parser = argparse.ArgumentParser(description=NAME)
    parser.add_argument("--quick", action="store_true", help="200 MB instead of 1 GB")
    print(json.dumps(run(quick=parser.parse_args(argv).quick), indent=2))


if __name__ == "__main__":
    main()
