"""``asyncsdk serve --webhook-url`` and ``asyncsdk listen``, as processes a user runs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from asyncsdk import Client
from asyncsdk.cli import main
from asyncsdk.cli._listen import Listener, ListenOptions
from asyncsdk.server import Dataset, EmbeddedServer

from ._support import free_port, wait_until_blocking
from ._webhooks import event_body, signed_headers

ACCESS_KEY = "listen-test-key"
SIGNING_KEY = "listen-signing-key"
CALLS = 30


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
        wait_until_blocking(
            lambda: events.exists() and len(events.read_bytes().splitlines()) >= expected,
            process=listener,
            what=f"{expected} events written",
        )
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


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_listen_refuses_a_port_out_of_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], port: str
) -> None:
    code = main(["listen", "--signing-key", "k", "--out", str(tmp_path / "e"), "--port", port])
    assert code == 2
    assert f"--port must be 0 to 65535, got {port}" in capsys.readouterr().err


def test_listen_on_a_port_in_use_fails_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The file and the pipeline started before the port are closed again."""
    import gc

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        code = main(["listen", "--signing-key", "k", "--out", str(tmp_path / "e"), "--port", port])
        gc.collect()  # an unclosed file would warn here, and fail the test
    assert code == 2  # a --port in use is a choice of option, as for serve
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("asyncsdk: error: cannot listen: ") and "pick another --port" in line


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


# --- a stage that fails stops the listener; nothing hangs ---


@contextlib.contextmanager
def locked(db: Path) -> Iterator[None]:
    """Hold the database's write lock from another connection, as another process would."""
    other = sqlite3.connect(db, isolation_level=None)
    try:
        other.execute("CREATE TABLE IF NOT EXISTS held (x)")
        other.execute("BEGIN EXCLUSIVE")
        yield
        other.execute("ROLLBACK")
    finally:
        other.close()


async def post_events(url: str, count: int, key: str = SIGNING_KEY) -> list[int]:
    """Post ``count`` signed events (calls that are ringing: nothing to fetch)."""
    statuses = []
    async with aiohttp.ClientSession() as session:
        for _ in range(count):
            body = event_body(uuid.uuid4(), status="ringing")
            headers = signed_headers(url, body, key=key)
            async with session.post(url, data=body, headers=headers) as resp:
                statuses.append(resp.status)
    return statuses


#: How long the listener's writer waits for a locked database here, in ms: the default
#: 30 s would be spent waiting, with the same outcome.
SHORT_BUSY_TIMEOUT_MS = 1000
#: ``python -m asyncsdk`` with that wait, for a listener in a process of its own.
ASYNCSDK_WAITING_LESS = (
    "import runpy, asyncsdk.webhooks._store as store; "
    f"store.BUSY_TIMEOUT_MS = {SHORT_BUSY_TIMEOUT_MS}; "
    "runpy.run_module('asyncsdk', run_name='__main__', alter_sys=True)"
)


async def test_a_failing_database_stops_the_listener_and_stop_does_not_hang(
    tmp_path: Path,
    server: EmbeddedServer,
    client: Client,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("asyncsdk.webhooks._store.BUSY_TIMEOUT_MS", SHORT_BUSY_TIMEOUT_MS)
    db = tmp_path / "calls.sqlite"
    options = ListenOptions(
        signing_keys=(SIGNING_KEY,),
        out=tmp_path / "events.jsonl",
        port=0,
        queue_size=1,
        workspace=str(server.dataset.workspace_id),
        db=db,
    )
    listener = Listener(options, client)
    await listener.start()
    try:
        with locked(db), caplog.at_level(logging.ERROR, logger="asyncsdk.cli"):
            # The first events are acknowledged; the writer waits on the lock, then
            # fails, and the queues in front of it fill up.
            statuses = await post_events(listener.url, 6)
            await asyncio.wait_for(listener.stopping.wait(), 60)
        assert statuses[0] == 200 and 503 in statuses
        assert (await post_events(listener.url, 1)) == [503]  # refused from then on
    finally:
        await asyncio.wait_for(listener.stop(), 30)  # used to block on the full intake
    failure = listener.failure
    assert failure is not None
    assert isinstance(failure.error, sqlite3.OperationalError)
    assert str(failure) == (f"writing rows to {db} failed: OperationalError: database is locked")
    assert f"writing rows to {db} failed, stopping" in caplog.text
    written = (tmp_path / "events.jsonl").read_bytes().splitlines()
    assert len(written) == listener.stats.written == statuses.count(200)


def test_listen_exits_1_saying_which_stage_failed(tmp_path: Path) -> None:
    env = {**os.environ, "BIRD_ACCESS_KEY": ACCESS_KEY, "BIRD_WEBHOOK_SIGNING_KEY": SIGNING_KEY}
    db = tmp_path / "calls.sqlite"
    listener = subprocess.Popen(
        [
            sys.executable, "-c", ASYNCSDK_WAITING_LESS, "listen", "--port", "0",
            "--out", "events.jsonl", "--enrich", str(uuid.uuid4()), "--db", str(db),
            "--base-url", "http://127.0.0.1:9", "--no-progress",
        ],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        assert listener.stdout is not None
        url = listener.stdout.readline().split()[-1]
        with locked(db):
            assert asyncio.run(post_events(url, 1)) == [200]
            out, err = listener.communicate(timeout=60)  # it stops by itself
    finally:
        if listener.poll() is None:
            listener.kill()
            listener.communicate()
    assert listener.returncode == 1, err
    assert "1 events written" in out
    assert (
        f"asyncsdk: error: listen stopped: writing rows to {db} failed: OperationalError: "
        f"database is locked (every event acknowledged is in events.jsonl; the next start "
        f"applies and enriches what {db} lacks)"
    ) in err
    assert "Traceback" not in err


# --- enrichment that no request can get through stops listen; the next start catches up ---


@pytest.mark.parametrize("failure", ["unreachable", "wrong-key"])
async def test_enrichment_that_cannot_succeed_stops_listen_and_the_next_start_enriches(
    tmp_path: Path, server: EmbeddedServer, client: Client, failure: str
) -> None:
    from asyncsdk.cli._calldb import read_calls
    from asyncsdk.server._lifecycle import lifecycle, stage_body

    from ._support import ACCESS_KEY as SERVER_KEY

    ds = server.dataset
    call = next(
        c for c in map(ds.call, ds.call_ids) if c and c.status == "completed" and c.channel_id
    )
    body = ds.body(call.id)
    assert body is not None
    delivery = stage_body(lifecycle(call.status, call.direction)[0], body, call.status, last=True)
    unreachable = failure == "unreachable"
    env = {
        **os.environ,
        "BIRD_ACCESS_KEY": SERVER_KEY if unreachable else "a-wrong-key",
        "BIRD_WEBHOOK_SIGNING_KEY": SIGNING_KEY,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "asyncsdk", "listen", "--port", str(free_port()),
        "--out", "events.jsonl", "--enrich", str(ds.workspace_id), "--db", "calls.sqlite",
        "--base-url", "http://127.0.0.1:9" if unreachable else server.base_url,
        "--no-progress",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stderr is not None
        url = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().split()[-1]
        async with aiohttp.ClientSession() as session:
            headers = signed_headers(url, delivery, key=SIGNING_KEY)
            async with session.post(url, data=delivery, headers=headers) as resp:
                assert resp.status == 200
        code = await asyncio.wait_for(proc.wait(), 60)  # it stops by itself
        err = (await proc.stderr.read()).decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert code == 1, err
    reason = (
        "nothing answers at 127.0.0.1:9 ("
        if unreachable
        else "the API refused the credential (401 Unauthorized): check BIRD_ACCESS_KEY"
    )
    assert "asyncsdk: error: listen stopped: fetching calls from http://127.0.0.1:" in err
    assert reason in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if "error" in line]) == 1
    # Said once: not again as a warning (the SDK's log records of it are not shown).
    assert not [line for line in err.splitlines() if line.startswith("listen: warning:")]
    assert len((tmp_path / "events.jsonl").read_bytes().splitlines()) == 1  # kept
    # Started again with what works: the event kept in the file is applied and enriched.
    options = ListenOptions(
        signing_keys=(SIGNING_KEY,),
        out=tmp_path / "events.jsonl",
        port=0,
        workspace=str(ds.workspace_id),
        db=tmp_path / "calls.sqlite",
    )
    listener = Listener(options, client)
    await listener.start()
    await listener.stop()
    assert read_calls(tmp_path / "calls.sqlite")[str(call.id)] == ("completed", "api", call)


# --- a second Ctrl-C stops at once; what is left is in the file for the next start ---


async def test_hurry_makes_stop_cancel_the_fetches_left_instead_of_waiting(
    tmp_path: Path, server: EmbeddedServer, client: Client
) -> None:
    from asyncsdk.server import ScriptedResponse
    from asyncsdk.server._lifecycle import lifecycle, stage_body

    ds = server.dataset
    call = next(c for c in map(ds.call, ds.call_ids) if c and c.status == "completed")
    body = ds.body(call.id)
    assert body is not None
    server.script(str(call.id), ScriptedResponse(action="slow", delay=600))  # an API crawling
    delivery = stage_body(lifecycle(call.status, call.direction)[0], body, call.status, last=True)
    options = ListenOptions(
        signing_keys=(SIGNING_KEY,),
        out=tmp_path / "events.jsonl",
        port=0,
        workspace=str(ds.workspace_id),
        channel=str(ds.channel_id),
        db=tmp_path / "calls.sqlite",
    )
    listener = Listener(options, client)
    await listener.start()
    try:
        async with aiohttp.ClientSession() as session:
            headers = signed_headers(listener.url, delivery, key=SIGNING_KEY)
            async with session.post(listener.url, data=delivery, headers=headers) as resp:
                assert resp.status == 200
        for _ in range(6000):  # until the fetch reaches the API (and stays there)
            if any(r.call_id == str(call.id) for r in server.requests):
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the fetch never reached the API")
        stopping = asyncio.create_task(listener.stop())  # would wait for the fetch
        await asyncio.sleep(0.1)
        assert not stopping.done() and not listener.hurried
        listener.hurry()
        await asyncio.wait_for(stopping, 60)  # far less than the API's 600 s
    finally:
        await asyncio.wait_for(listener.stop(), 60)
    assert listener.hurried and listener.failure is None
    assert len((tmp_path / "events.jsonl").read_bytes().splitlines()) == 1  # for the next start


def test_the_listen_options_never_show_the_signing_keys(tmp_path: Path) -> None:
    options = ListenOptions(signing_keys=("whsec-do-not-show",), out=tmp_path / "e.jsonl")
    assert "whsec-do-not-show" not in repr(options) and "whsec" not in str(options)
    assert repr(Listener(options)).count("whsec") == 0


async def test_the_summary_says_to_pass_the_channel_when_the_log_lacks_a_call(
    tmp_path: Path, server: EmbeddedServer, client: Client
) -> None:
    """The advice in the error reaches the user, not only the database's error column."""
    from asyncsdk.cli._listen import summary

    from ._webhooks import BODY

    envelope = json.loads(BODY)
    envelope["payload"].pop("channelId", None)
    envelope["payload"]["id"] = str(uuid.uuid4())  # a call the calls log does not have
    envelope["payload"]["status"] = "completed"
    delivery = json.dumps(envelope).encode()
    options = ListenOptions(
        signing_keys=(SIGNING_KEY,),
        out=tmp_path / "events.jsonl",
        port=0,
        workspace=str(server.dataset.workspace_id),
        db=tmp_path / "calls.sqlite",
    )
    listener = Listener(options, client)
    await listener.start()
    try:
        async with aiohttp.ClientSession() as session:
            headers = signed_headers(listener.url, delivery, key=SIGNING_KEY)
            async with session.post(listener.url, data=delivery, headers=headers) as resp:
                assert resp.status == 200
    finally:
        await asyncio.wait_for(listener.stop(), 60)
    assert listener.stats.fetch_failed == 1
    text = summary(listener)
    assert "1 failed" in text
    assert "ChannelUnknownError" in text and "--channel to asyncsdk listen" in text


@pytest.mark.parametrize("option", ["--channel", "--db"])
def test_an_enrichment_option_without_enrich_is_a_usage_error(tmp_path: Path, option: str) -> None:
    """Not silently ignored: the user meant the calls to be fetched."""
    from asyncsdk.cli import build_parser
    from asyncsdk.cli._common import UsageError
    from asyncsdk.cli._listen import options_from_args

    value = str(uuid.uuid4()) if option == "--channel" else str(tmp_path / "calls.sqlite")
    argv = ["listen", "--signing-key", "k", "--out", str(tmp_path / "e"), option, value]
    with pytest.raises(UsageError, match=f"{option} needs --enrich WORKSPACE"):
        options_from_args(build_parser().parse_args(argv))


async def test_a_wrong_signing_key_shows_as_a_warning_when_it_happens(tmp_path: Path) -> None:
    """Not only in the progress line: the first refusal of each kind is a warning line."""
    port = free_port()
    env = {**os.environ, "BIRD_WEBHOOK_SIGNING_KEY": SIGNING_KEY}
    env.pop("BIRD_ACCESS_KEY", None)
    argv = ["listen", "--port", str(port), "--out", str(tmp_path / "e.jsonl"), "--no-progress"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "asyncsdk",
        *argv,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        first = await asyncio.wait_for(proc.stdout.readline(), 30)
        url = first.decode().split("listening on ", 1)[1].strip()
        assert await post_events(url, 3, key="another-key") == [401, 401, 401]
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    lines = err.decode().splitlines()
    warned = [line for line in lines if line.startswith("listen: warning: ")]
    assert len(warned) == 1, lines  # the first of its kind; the rest are counted
    assert "refused" in warned[0] and "signature" in warned[0].lower()
    assert SIGNING_KEY not in err.decode() and "another-key" not in err.decode()


async def test_the_summary_says_why_deliveries_were_refused(tmp_path: Path, client: Client) -> None:
    """A wrong signing key or --public-url refuses everything: the lines say it is that."""
    from asyncsdk.cli._common import refusals
    from asyncsdk.cli._listen import summary

    options = ListenOptions(signing_keys=(SIGNING_KEY,), out=tmp_path / "events.jsonl", port=0)
    listener = Listener(options, client)
    await listener.start()
    try:
        assert await post_events(listener.url, 2, key="another-key") == [401, 401]
    finally:
        await asyncio.wait_for(listener.stop(), 30)
    reasons = listener.receiver.stats.refused
    assert sum(reasons.values()) == 2 and len(reasons) == 1
    (reason,) = reasons
    assert summary(listener).endswith(f"2 refused ({reason} 2)")
    assert listener.progress_line().endswith(f"2 refused ({reason} 2)")
    assert refusals({}) == "0 refused"
    assert refusals({"stale": 1, "signature": 3}) == "4 refused (signature 3, stale 1)"
