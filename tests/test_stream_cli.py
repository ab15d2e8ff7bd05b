"""``asyncsdk listen --redis`` and ``asyncsdk enrich``: usage, and stopping in order."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis

from asyncsdk.cli import main
from asyncsdk.server import Dataset, EmbeddedServer, ServerConfig
from asyncsdk.webhooks import TERMINAL_STATUSES, RedisStreamSink, decode_entry

from ._redis import RedisServer, run_redis
from ._streams import until
from ._support import free_port, refused_port
from ._webhooks import SIGNING_KEY, deliver, event_body
from .test_webhooks_enrich import event_for

ROOT = Path(__file__).resolve().parent.parent
ACCESS_KEY = "stream-cli-access-key"
ENV = {**os.environ, "BIRD_ACCESS_KEY": ACCESS_KEY, "BIRD_WEBHOOK_SIGNING_KEY": SIGNING_KEY}


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    yield from run_redis()


@pytest.fixture
async def slow_api() -> AsyncIterator[EmbeddedServer]:
    config = ServerConfig(access_keys=(ACCESS_KEY,), latency=0.3)
    async with EmbeddedServer(config, dataset=Dataset(size=50, seed=4)) as server:
        yield server


def _enrich(workspace: str, *extra: str) -> list[str]:
    """``asyncsdk enrich`` with its required options, nothing listening at ``--redis``."""
    return [
        "enrich",
        *("--redis", "redis://127.0.0.1:1/0", "--group", "g", "--db", "c.sqlite"),
        *("--workspace", workspace, *extra),
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["listen", "--redis", "redis://127.0.0.1:1/0", "--out", "x.jsonl"], "--out is not for"),
        (["listen", "--redis", "redis://127.0.0.1:1/0", "--enrich", str(uuid.uuid4())], "enrich"),
        (["listen", "--redis", "127.0.0.1:6379"], "URL"),
        (["listen"], "--out FILE is needed"),
        (_enrich("not-a-uuid"), "--workspace must be a UUID"),
        (_enrich(str(uuid.uuid4()), "--min-idle", "0"), "--min-idle"),
        *(
            (_enrich(str(uuid.uuid4()), "--forget-after", bad), "--forget-after: seconds")
            for bad in ("0", "-1", "soon", "inf")
        ),
    ],
)
def test_bad_usage_is_refused_before_anything_runs(
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BIRD_WEBHOOK_SIGNING_KEY", "k")
    monkeypatch.setenv("BIRD_ACCESS_KEY", "a")
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("command", ["enrich", "fetch"])
def test_the_help_of_rate_limit_says_what_the_command_does_without_it(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """enrich shares a fixed budget through Redis; the others adapt to the server."""
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    if command == "enrich":
        assert "(default: 50, Bird's documented budget)" in text
        assert "adapt to the server's throttling" not in text
    else:
        assert "requests per second (default: adapt to the server's throttling)" in text


async def _start(*argv: str) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "asyncsdk", *argv, env=ENV, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    return proc, (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()


async def test_a_replica_appends_and_stops_on_sigterm_with_a_summary(
    redis_server: RedisServer,
) -> None:
    stream = f"cli:{uuid.uuid4().hex[:8]}"
    port = free_port()
    proc, first = await _start(
        "listen", "--redis", redis_server.url, "--stream", stream, "--port", str(port),
        "--path", "/bird",
    )  # fmt: skip
    assert first.startswith(f"listening on http://127.0.0.1:{port}/bird (stream {stream})")
    url = f"http://127.0.0.1:{port}/bird"
    async with aiohttp.ClientSession() as session:
        body = event_body(uuid.uuid4())
        assert (await deliver(session, url, body, request_id="one"))[0] == 200
        assert (await deliver(session, url, body, request_id="one"))[0] == 200
    proc.send_signal(signal.SIGTERM)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err
    assert "1 events appended" in out.decode()
    assert "1 duplicates acknowledged" in out.decode()
    assert "closing the port" in err.decode()
    async with aioredis.Redis.from_url(redis_server.url) as r:
        entries = await r.xrange(stream)
    assert [decode_entry(f).request_id for _, f in entries] == ["one"]
    with pytest.raises(ConnectionRefusedError):  # the port is closed
        await asyncio.open_connection("127.0.0.1", port)
    assert "redis://" not in out.decode() + err.decode()


async def test_a_worker_on_sigterm_finishes_the_entries_it_read(
    redis_server: RedisServer, slow_api: EmbeddedServer, tmp_path: Path
) -> None:
    stream = f"cli:{uuid.uuid4().hex[:8]}"
    ds = slow_api.dataset
    terminal = [c for c in ds.call_ids if (ds.call(c) or c).status in TERMINAL_STATUSES][:5]  # type: ignore[union-attr]
    db = tmp_path / "calls.sqlite"
    proc, first = await _start(
        "enrich", "--redis", redis_server.url, "--stream", stream, "--group", "g",
        "--consumer", "w", "--workspace", str(ds.workspace_id), "--db", str(db),
        "--base-url", slow_api.base_url, "--no-progress",
    )  # fmt: skip
    assert first.startswith(f"enriching stream {stream} as w in group g")
    sink = RedisStreamSink(redis_server.url, stream=stream)
    for call_id in terminal:
        call = ds.call(call_id)
        assert call is not None
        await sink(event_for(slow_api, call_id, call.status or "completed"))
    await sink.aclose()
    await until(lambda: len(slow_api.requests) >= 1, "the first fetch (each takes 0.3 s)")
    async with aioredis.Redis.from_url(redis_server.url) as r:
        # The fetch took its grant from the limit the workers share in Redis (whose key
        # expires about a second after its last grant).
        limit_keys = await r.keys("asyncsdk:ratelimit:*")
        assert limit_keys or (await r.info("stats"))["expired_keys"] > 0
    proc.send_signal(signal.SIGTERM)  # while fetches are in flight
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err
    assert "finishing the entries read" in err.decode()
    summary = out.decode().strip().splitlines()[-1]
    read = int(summary.split()[1])
    assert read >= 1
    assert f"acknowledged {read} held 0" in summary
    async with aioredis.Redis.from_url(redis_server.url) as r:
        assert (await r.xpending(stream, "g"))["pending"] == 0


def test_webhooks_and_the_command_line_import_without_redis_py() -> None:
    """Redis is an optional extra: only building a stream sink or worker needs it."""
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "import asyncsdk.webhooks, asyncsdk.cli\n"
        "try:\n"
        "    asyncsdk.webhooks.RedisStreamSink('redis://127.0.0.1:1/0')\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "pip install 'asyncsdk[redis]'" in done.stdout


async def test_a_second_sigterm_stops_a_worker_at_once_leaving_its_entries_pending(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    config = ServerConfig(access_keys=(ACCESS_KEY,), latency=30.0)  # fetches never finish
    async with EmbeddedServer(config, dataset=Dataset(size=20, seed=4)) as api:
        stream = f"cli:{uuid.uuid4().hex[:8]}"
        ds = api.dataset
        proc, first = await _start(
            "enrich", "--redis", redis_server.url, "--stream", stream, "--group", "g",
            "--consumer", "w", "--workspace", str(ds.workspace_id),
            "--db", str(tmp_path / "calls.sqlite"), "--base-url", api.base_url, "--no-progress",
        )  # fmt: skip
        assert first.startswith("enriching stream")
        sink = RedisStreamSink(redis_server.url, stream=stream)
        call_id = next(c for c in ds.call_ids if (ds.call(c) or c).status in TERMINAL_STATUSES)  # type: ignore[union-attr]
        await sink(event_for(api, call_id, "completed"))
        await sink.aclose()
        await until(lambda: len(api.requests) >= 1, "the fetch to start")
        proc.send_signal(signal.SIGTERM)
        # The second signal only once the first was handled: sent while the first is
        # still pending (a loaded machine may not run the worker for a while), the two
        # would be one, and the worker would wait for the 30 s fetch.
        assert proc.stderr is not None
        async with asyncio.timeout(60):
            while not (line := await proc.stderr.readline()).startswith(b"enrich: stopping"):
                assert line, "the worker ended before it began to stop"
        proc.send_signal(signal.SIGTERM)  # do not wait for the fetch
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 130, err
    async with aioredis.Redis.from_url(redis_server.url) as r:
        assert (await r.xpending(stream, "g"))["pending"] == 1  # for another worker


async def test_a_worker_whose_redis_does_not_answer_says_so_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    """Not a rising counter alone: the failure, and that it is tried again, on stderr."""
    with refused_port() as port:
        proc, first = await _start(
            "enrich", "--redis", f"redis://127.0.0.1:{port}/0", "--group", "g",
            "--consumer", "w", "--workspace", str(uuid.uuid4()),
            "--db", str(tmp_path / "calls.sqlite"), "--no-progress",
        )  # fmt: skip
        assert first.startswith("enriching stream")
        assert proc.stderr is not None
        line = (await asyncio.wait_for(proc.stderr.readline(), 60)).decode()
        assert line.startswith("enrich: warning: stream asyncsdk:call-events: Redis failed ")
        assert "ConnectionError" in line and "trying again in" in line
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1
    assert "enrich stopped: Redis failed while the worker was stopping" in err.decode()
    assert "stay pending" in err.decode()


def test_the_sdk_warnings_show_only_while_the_command_runs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import logging

    from asyncsdk.cli._replica import warnings_on_stderr

    sdk = logging.getLogger("asyncsdk")
    with warnings_on_stderr("enrich"):
        sdk.warning("stream s: Redis failed (%s); trying again in %.1fs", "ConnectionError", 0.2)
        sdk.info("not shown")
    sdk.warning("after the command")
    with warnings_on_stderr("enrich", enabled=False):
        sdk.warning("under --debug, the root handler shows it")
    err = capsys.readouterr().err
    assert (
        err == "enrich: warning: stream s: Redis failed (ConnectionError); trying again in 0.2s\n"
    )


def test_a_warning_about_a_refused_key_names_the_option_that_gave_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import argparse
    import functools
    import logging

    from asyncsdk._giveup import KEY_HINT
    from asyncsdk.cli._common import name_key_source
    from asyncsdk.cli._replica import warnings_on_stderr

    args = argparse.Namespace(access_key="k")
    with warnings_on_stderr("enrich", rewrite=functools.partial(name_key_source, args=args)):
        logging.getLogger("asyncsdk").warning(
            "call enrichment stopped: the API refused the credential (401 Unauthorized): %s",
            KEY_HINT,
        )
    err = capsys.readouterr().err
    assert err.endswith("check the key given with --access-key\n")
    assert "BIRD_ACCESS_KEY" not in err


def test_an_idle_progress_line_is_written_again_only_once_a_minute() -> None:
    import io

    from asyncsdk.cli._replica import report_lines

    from ._vtime import run

    counts = iter([1, 2, 2, 2, *[2] * 60, 3])  # moves, then idle for two minutes, then moves
    out = io.StringIO()

    async def watch() -> None:
        line = lambda: f"read {next(counts)}"  # noqa: E731
        task = asyncio.create_task(report_lines("enrich", line, out, 2.0, heartbeat=60.0))
        await asyncio.sleep(2.0 * 65 + 1)  # virtual seconds: 65 lines made
        task.cancel()

    run(watch())
    assert out.getvalue().splitlines() == [
        "enrich: read 1",
        "enrich: read 2",  # then the same for 60 s
        "enrich: read 2",  # a minute later: still alive
        "enrich: read 2",
        "enrich: read 3",
    ]
