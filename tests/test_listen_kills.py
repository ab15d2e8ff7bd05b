"""``asyncsdk listen`` killed with SIGKILL at random moments under a backlog, restarted.

Real processes, as a user runs them: ``asyncsdk serve`` plays calls and delivers their
webhooks (retrying while nothing listens), its API slow enough that the listener's
enrichment falls behind; ``asyncsdk listen --enrich`` (without ``--channel``: some
payloads have no channelId) is killed at seeded random moments and started again.
After the last start, the database must hold every call at its final state, every
finished call with its fetched details, and the events file every event once.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from asyncsdk.cli._calldb import read_calls
from asyncsdk.server import Dataset
from asyncsdk.server._lifecycle import lifecycle
from asyncsdk.webhooks import TERMINAL_STATUSES

from .test_cli_listen import free_port

ACCESS_KEY = "kill-test-access-key"
SIGNING_KEY = "kill-test-signing-key"
SIZE = 400
CALLS = 160
KILLS = 4
SEED = 20261207


def readline(proc: subprocess.Popen[str], seconds: float = 60.0) -> str:
    """Read one line of ``proc``'s stdout, or fail after ``seconds``."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], seconds)
    if not ready:
        raise AssertionError(f"no output within {seconds}s")
    return proc.stdout.readline()


def lines_of(path: Path) -> list[bytes]:
    if not path.exists():
        return []
    return [line for line in path.read_bytes().split(b"\n")[:-1]]


def test_sigkill_at_any_moment_leaves_the_database_complete_after_the_next_start(
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    port = free_port()
    env = {**os.environ, "BIRD_ACCESS_KEY": ACCESS_KEY, "BIRD_WEBHOOK_SIGNING_KEY": SIGNING_KEY}
    server = subprocess.Popen(
        [
            sys.executable, "-m", "asyncsdk", "serve", "--port", "0", "--size", str(SIZE),
            "--access-key", ACCESS_KEY, "--latency", "0.15",
            "--webhook-url", f"http://127.0.0.1:{port}/bird",
            "--webhook-calls", str(CALLS), "--calls-per-second", "30",
            "--first-retry", "0.05", "--retry-for", "300",
        ],
        stdout=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    ds = Dataset(size=SIZE)
    calls = [ds.call(c) for c in ds.call_ids[:CALLS]]
    expected = sum(len(lifecycle(c.status, c.direction)[1]) for c in calls if c is not None)
    events = tmp_path / "events.jsonl"
    try:
        first = readline(server).split()
        base_url, workspace = first[1], first[2].split("=")[1]
        command = [
            sys.executable, "-m", "asyncsdk", "listen", "--port", str(port), "--path", "/bird",
            "--out", "events.jsonl", "--enrich", workspace, "--db", "calls.sqlite",
            "--base-url", base_url, "--concurrency", "2", "--queue-size", "100", "--no-progress",
        ]  # fmt: skip

        def start(run: int) -> subprocess.Popen[str]:
            with (tmp_path / f"listen-{run}.err").open("w") as err:
                listener = subprocess.Popen(
                    command, stdout=subprocess.PIPE, stderr=err, text=True, env=env, cwd=tmp_path
                )
            assert readline(listener).startswith("listening on"), f"run {run} did not start"
            return listener

        for run in range(KILLS):
            listener = start(run)
            time.sleep(rng.uniform(0.2, 2.0))  # a random moment, the backlog growing
            listener.send_signal(signal.SIGKILL)
            listener.communicate(timeout=30)
        listener = start(KILLS)
        deadline = time.monotonic() + 120
        while len(lines_of(events)) < expected:  # every event delivered and written
            assert listener.poll() is None, "the listener ended by itself"
            assert time.monotonic() < deadline, f"{len(lines_of(events))}/{expected} events"
            time.sleep(0.1)
        listener.send_signal(signal.SIGTERM)  # finishes what it acknowledged
        out, _ = listener.communicate(timeout=120)
        assert listener.returncode == 0, (tmp_path / f"listen-{KILLS}.err").read_text()
    finally:
        for proc in (server, *([listener] if "listener" in locals() else [])):
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT if proc is server else signal.SIGKILL)
                proc.communicate(timeout=30)

    written = Counter(json.loads(line)["requestId"] for line in lines_of(events))
    assert len(written) == expected and set(written.values()) == {1}
    rows = read_calls(tmp_path / "calls.sqlite")
    wrong = []
    for call in calls:
        assert call is not None
        got = rows.get(str(call.id))
        if got is None:
            wrong.append(f"{call.id}: no row")
            continue
        status, source, stored = got
        want_source = "api" if call.status in TERMINAL_STATUSES else "event"
        if (status, source) != (call.status, want_source) or stored != call:
            wrong.append(f"{call.id}: {status}/{source}, expected {call.status}/{want_source}")
    assert not wrong, wrong[:10]
    assert len(rows) == CALLS
    assert "caught up on start" in out
    assert sum(1 for c in calls if c and c.channel_id is None) > 0  # found through the log
