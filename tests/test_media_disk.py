"""A disk that fills during a download: the ``.part`` removed, the file named, nothing kept.

The full disk is real: the download runs in a child process whose file-size limit
(``RLIMIT_FSIZE``) makes the write past it fail with ``EFBIG``, as a full disk fails
with ``ENOSPC``; both are an `OSError` from the same write.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

resource = pytest.importorskip("resource")

LIMIT = 2_000_000

CHILD = textwrap.dedent(
    """
    import asyncio, json, os, signal, sys
    import asyncsdk
    from asyncsdk.server import Dataset, EmbeddedServer, RecordingsConfig, ServerConfig

    async def main(dest):
        config = ServerConfig(access_keys=("k",), recordings=RecordingsConfig(size=5_000_000))
        async with EmbeddedServer(config, dataset=Dataset(size=10)) as server:
            ws = server.dataset.workspace_id
            rid = server.recordings.recording_id(0)
            async with asyncsdk.Client(access_key="k", base_url=server.base_url) as client:
                try:
                    await client.download_recording(ws, rid, dest)
                except asyncsdk.DestinationError as exc:
                    print(json.dumps({"error": str(exc), "filename": exc.filename,
                                      "errno": exc.errno, "left": sorted(os.listdir(dest))}))
                    return
        print(json.dumps({"error": None}))

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    asyncio.run(main(sys.argv[1]))
    """
)


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def test_a_full_disk_removes_the_part_file_and_names_the_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limit_file_size,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["error"] is not None, "the download did not fail"
    assert report["left"] == []  # no .part, no .part.json, no final file
    assert report["filename"].endswith(".mp3")
    assert report["filename"] in report["error"]
    assert "File too large" in report["error"] or "No space" in report["error"]
