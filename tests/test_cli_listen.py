"""``asyncsdk serve --webhook-url`` and ``asyncsdk listen``, as processes a user runs."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from asyncsdk.cli import main
from asyncsdk.server import Dataset

ACCESS_KEY = "listen-test-key"
SIGNING_KEY = "listen-signing-key"
CALLS = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for(predicate: object, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def test_serve_delivers_to_listen_which_enriches_into_sqlite(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "BIRD_ACCESS_KEY": ACCESS_KEY, "BIRD_WEBHOOK_SIGNING_KEY": SIGNING_KEY}
    server = subprocess.Popen(
        [
            sys.executable, "-m", "asyncsdk", "serve", "--port", "0", "--size", "100",
            "--access-key", ACCESS_KEY, "--fault-503", "0.05",
            "--webhook-url", f"http://127.0.0.1:{port}/bird",
            "--webhook-calls", str(CALLS), "--calls-per-second", "200",
        ],
        stdout=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert server.stdout is not None
    first = server.stdout.readline().split()
    base_url = first[1]
    workspace = first[2].split("=")[1]
    listener = subprocess.Popen(
        [
            sys.executable, "-m", "asyncsdk", "listen", "--port", str(port), "--path", "/bird",
            "--out", "events.jsonl", "--enrich", workspace, "--db", "calls.sqlite",
            "--channel", first[3].split("=")[1], "--base-url", base_url,
        ],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    events = tmp_path / "events.jsonl"
    try:
        ds = Dataset(size=100)
        expected = 0
        from asyncsdk.server._lifecycle import lifecycle

        for call in map(ds.call, ds.call_ids[:CALLS]):
            assert call is not None
            expected += len(lifecycle(call.status, call.direction)[1])
        wait_for(lambda: events.exists() and len(events.read_bytes().splitlines()) >= expected)
    finally:
        listener.send_signal(signal.SIGTERM)
        out, err = listener.communicate(timeout=30)
        server.send_signal(signal.SIGINT)
        server_out, _ = server.communicate(timeout=30)
    assert listener.returncode == 0, err
    assert out.startswith("listening on http://127.0.0.1:")
    assert f"{expected} events written" in out
    assert SIGNING_KEY not in out + err + server_out
    assert "webhooks: 30 calls" in server_out
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    assert len({line["requestId"] for line in lines}) == len(lines) == expected
    db = sqlite3.connect(tmp_path / "calls.sqlite")
    try:
        rows = dict(db.execute("SELECT id, status FROM calls").fetchall())
    finally:
        db.close()
    assert rows == {str(c.id): c.status for c in map(ds.call, ds.call_ids[:CALLS]) if c}


def test_listen_without_a_signing_key_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("BIRD_WEBHOOK_SIGNING_KEY", raising=False)
    assert main(["listen", "--out", str(tmp_path / "e.jsonl")]) == 2
    assert "no signing key" in capsys.readouterr().err


def test_listen_refuses_a_bad_workspace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["listen", "--signing-key", "k", "--out", str(tmp_path / "e"), "--enrich", "x"])
    assert code == 2
    assert "--enrich must be a UUID" in capsys.readouterr().err


def test_serve_needs_a_key_with_a_webhook_url(capsys: pytest.CaptureFixture[str]) -> None:
    env_key = os.environ.pop("BIRD_WEBHOOK_SIGNING_KEY", None)
    try:
        assert main(["serve", "--webhook-url", "http://127.0.0.1:9/"]) == 2
    finally:
        if env_key is not None:
            os.environ["BIRD_WEBHOOK_SIGNING_KEY"] = env_key
    assert "--signing-key" in capsys.readouterr().err


def test_a_restart_remembers_the_deliveries_already_written(tmp_path: Path) -> None:
    from asyncsdk.cli._listen import load_seen
    from asyncsdk.webhooks import SeenDeliveries

    out = tmp_path / "events.jsonl"
    out.write_bytes(b'{"requestId":"a"}\n{"requestId":"b"}\n{"requestId":"c"')  # cut short
    seen = SeenDeliveries()
    assert load_seen(out, seen) == 2
    assert "a" in seen and "b" in seen and "c" not in seen
    assert out.read_bytes() == b'{"requestId":"a"}\n{"requestId":"b"}\n'
