"""The guide's multi-process pipeline (examples/streams_pipeline.py) runs and checks out."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ._redis import redis_executable

ROOT = Path(__file__).resolve().parent.parent


def test_the_pipeline_example_commits_every_delivered_event_once() -> None:
    redis_executable()  # skips (or fails under ASYNCSDK_REQUIRE_REDIS) without redis-server
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "streams_pipeline.py")],
        env={**os.environ, "PIPELINE_CALLS": "60"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    delivered = next(line for line in lines if line.startswith("Bird delivered"))
    events = int(delivered.split()[2])
    assert delivered.endswith("gave up on 0")
    assert f"{events} events committed, {events} distinct: each once" in lines
    assert "60 of 60 calls in the store at their final status" in lines
    assert "exit codes [0, 0, 0, 0, 0]" in done.stdout
    assert "pipeline-access-key" not in done.stdout + done.stderr
