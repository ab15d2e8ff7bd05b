"""Every example under examples/ runs against the embedded server, exactly as the docs show it.

The convention (CONTRIBUTING.md): an example is a script. It takes everything it needs
from the environment, where a reader sets it too: ``BIRD_ACCESS_KEY`` and
``BIRD_BASE_URL`` (read by the SDK itself), and ``BIRD_WORKSPACE_ID``,
``BIRD_CHANNEL_ID``, ``BIRD_CALL_ID``, ``BIRD_CALL_IDS`` (whitespace-separated),
``BIRD_SINCE`` and ``BIRD_UNTIL`` (a time window, RFC 3339) and ``BIRD_BEARER_TOKEN``
(read by the example). It defines ``async def main() -> None``,
run under ``if __name__ == "__main__"``; a web-app example defines ``create_app()``
instead, and an example that starts its own embedded server needs no environment.

Here each example is imported from its file, the environment points at an embedded
server on loopback, and ``main()`` is awaited; the test then checks what it printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import re
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import pytest

from asyncsdk.server import Dataset, EmbeddedServer, ServerConfig

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DOCS = ROOT / "docs"
ACCESS_KEY = "example-access-key"
BEARER_TOKEN = "example-jwt"
SIGNING_KEY = "example-signing-key"
GOOD_CALLS = 10
# pymdownx.snippets' block form: ruff formats ```python fences in Markdown, and would
# rewrite the one-line form `--8<-- "file"` as a Python expression.
INCLUDE = re.compile(r"^--8<--\n(examples/\S+)\n--8<--$", re.MULTILINE)


def load(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` as a fresh module."""
    path = EXAMPLES / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"asyncsdk_example_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
async def server() -> AsyncIterator[EmbeddedServer]:
    config = ServerConfig(access_keys=(ACCESS_KEY,), bearer_tokens=(BEARER_TOKEN,))
    async with EmbeddedServer(config, dataset=Dataset(size=GOOD_CALLS * 2, seed=5)) as srv:
        yield srv


@pytest.fixture
def call_ids(server: EmbeddedServer) -> list[uuid.UUID]:
    """Ten calls the server has, then one it does not."""
    ds = server.dataset
    return [*ds.call_ids[:GOOD_CALLS], ds.missing_call_id()]


@pytest.fixture
def example_env(
    server: EmbeddedServer, call_ids: list[uuid.UUID], monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The environment the examples read, pointing at the embedded server."""
    env = {
        "BIRD_ACCESS_KEY": ACCESS_KEY,
        "BIRD_BASE_URL": server.base_url,
        "BIRD_BEARER_TOKEN": BEARER_TOKEN,
        "BIRD_WORKSPACE_ID": str(server.dataset.workspace_id),
        "BIRD_CHANNEL_ID": str(server.dataset.channel_id),
        "BIRD_CALL_ID": str(call_ids[0]),
        "BIRD_CALL_IDS": " ".join(str(c) for c in call_ids),
        "BIRD_SINCE": server.dataset.timeline.start.isoformat(),
        "BIRD_UNTIL": server.dataset.timeline.end.isoformat(),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


async def run_main(name: str, capsys: pytest.CaptureFixture[str]) -> str:
    await load(name).main()
    out = capsys.readouterr().out
    assert ACCESS_KEY not in out and BEARER_TOKEN not in out, "an example printed a credential"
    return out


# --- the examples, one test each --------------------------------------------------------


async def test_quickstart(example_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    out = await run_main("quickstart", capsys)
    assert out.startswith(example_env["BIRD_CALL_ID"])


async def test_configuration(
    example_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    out = await run_main("configuration", capsys)
    assert "auth=AccessKey" in out
    assert "attempts: 1 retries: 0" in out
    assert "Timeout(connect=5, read=10, total=2.0, deadline=5.0, limiter_wait=None)" in out


async def test_bearer_token(
    example_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    out = await run_main("bearer_token", capsys)
    assert "auth=Bearer" in out
    assert example_env["BIRD_CALL_ID"] in out


async def test_own_session(example_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    out = await run_main("own_session", capsys)
    assert "session still open: True" in out


async def test_call_model(example_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    out = await run_main("call_model", capsys)
    assert "id version: 4" in out
    assert "created:" in out


async def test_unknown_values(capsys: pytest.CaptureFixture[str]) -> None:
    out = await run_main("unknown_values", capsys)
    assert "'transferred' False" in out
    assert "'internal'" in out
    assert "'fax'" in out
    assert "recording" not in out  # unknown fields are dropped, not kept


async def test_errors(example_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    out = await run_main("errors", capsys)
    lines = out.splitlines()
    assert lines[0] == "None"
    assert lines[1].startswith("NotFoundError 404 NotFound ")
    assert "GET http://127.0.0.1" in lines[2]
    assert "InvalidIDError call_id '12345'" in out
    assert lines[-1] == "fetched"


async def test_bulk_gather(example_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    out = await run_main("bulk_gather", capsys)
    total = GOOD_CALLS + 1
    assert f"progress: {total}/{total}" in out
    assert f"{GOOD_CALLS} fetched, 1 failed" in out
    assert "NotFoundError" in out


async def test_bulk_iter(example_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    out = await run_main("bulk_iter", capsys)
    assert f"{GOOD_CALLS} calls fetched" in out
    assert f"#{GOOD_CALLS} " in out and "NotFoundError" in out


async def test_bulk_cancel(example_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    out = await run_main("bulk_cancel", capsys)
    assert f"{GOOD_CALLS + 1} outcomes" in out
    assert "stopped at the first failure: NotFoundError" in out


@pytest.mark.integration
async def test_testing_faults(capsys: pytest.CaptureFixture[str]) -> None:
    out = await run_main("testing_faults", capsys)
    assert "faults injected: {" in out


@pytest.mark.integration
async def test_testing_recordings(capsys: pytest.CaptureFixture[str]) -> None:
    out = await run_main("testing_recordings", capsys)
    assert "cut after 500000 bytes" in out and "resumed: 206 bytes 500000-1999999/2000000" in out
    assert "complete: 2000000 bytes, sha256 checked" in out and "auth refused 0" in out


@pytest.mark.integration
async def test_testing_scripted(capsys: pytest.CaptureFixture[str]) -> None:
    out = await run_main("testing_scripted", capsys)
    assert "retries: {'503': 1, 'connection': 1, '429': 1}" in out
    assert "404: NotFound 1" in out
    assert "decode error at $.duration" in out
    assert "GET AccessKey True" in out
    assert "scripted answers: 5" in out


async def test_otel_console(
    example_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    *spans, last = (await run_main("otel_console", capsys)).rstrip().splitlines()
    wanted = {
        '"name": "get_call"',
        '"name": "GET /workspaces/{workspaceId}/channels/{channelId}/calls/{callId}"',
        '"http.response.status_code": 200',
    }
    assert wanted - {line.strip().rstrip(",") for line in spans} == set()
    assert last.startswith(f"fetched {example_env['BIRD_CALL_ID']}")


@pytest.mark.integration
async def test_otel_trace(capsys: pytest.CaptureFixture[str]) -> None:
    out = await run_main("otel_trace", capsys)
    rows = [line.split() for line in out.splitlines()]
    # The pace (2/s) holds the call if the call before it took less than 0.5 s (not so
    # on a loaded machine), and again after a short backoff: those waits may or may not
    # be there; the throttle's and the backoff's always are.
    if rows[1][-1] == "asyncsdk.wait.cause=rate_limit":
        del rows[1]
    if rows[5][-1] == "asyncsdk.wait.cause=rate_limit":
        del rows[5]
    assert [row[0] for row in rows[:-1]] == [
        "get_call",
        "GET",
        "asyncsdk.wait",
        "GET",
        "asyncsdk.wait",
        "GET",
    ]
    assert rows[1][-1] == "status=429"
    assert rows[2][-1] == "asyncsdk.wait.cause=retry_after"
    assert rows[3][-2:] == ["status=503", "resend=1"]
    assert rows[4][-1] == "asyncsdk.wait.cause=backoff"
    assert rows[5][-2:] == ["status=200", "resend=2"]
    assert out.splitlines()[-1].startswith("metrics: ")
    assert "http.client.request.duration" in out.splitlines()[-1]


async def test_testing_pytest() -> None:
    """The pytest example passes when pytest runs it, as a reader would."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        str(EXAMPLES / "testing_pytest.py"),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await proc.communicate()
    text = output.decode()
    assert proc.returncode == 0, text
    assert "3 passed" in text


async def test_aiohttp_app(example_env: dict[str, str], call_ids: list[uuid.UUID]) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    app = load("aiohttp_app").create_app()
    async with TestClient(TestServer(app)) as http:
        resp = await http.get(f"/calls/{call_ids[0]}")
        assert resp.status == 200
        assert (await resp.json())["id"] == str(call_ids[0])
        assert (await http.get(f"/calls/{call_ids[-1]}")).status == 404
        assert (await http.get("/calls/not-a-uuid")).status == 400


@contextlib.asynccontextmanager
async def uvicorn_serving(app: object) -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn on a free loopback port, lifespan included."""
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    started = asyncio.Event()
    startup = server.startup

    async def announced_startup(sockets: object = None) -> None:
        await startup(sockets)  # type: ignore[arg-type]
        started.set()

    server.startup = announced_startup  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    await asyncio.wait(
        {task, asyncio.create_task(started.wait())}, timeout=30, return_when=asyncio.FIRST_COMPLETED
    )
    assert started.is_set(), "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def test_fastapi_app(example_env: dict[str, str], call_ids: list[uuid.UUID]) -> None:
    """Served as a reader would serve it: by uvicorn, over loopback."""
    import aiohttp

    app = load("fastapi_app").create_app()
    async with uvicorn_serving(app) as base, aiohttp.ClientSession(base) as http:
        async with http.get(f"/calls/{call_ids[0]}") as resp:
            assert resp.status == 200
            assert (await resp.json())["id"] == str(call_ids[0])
        async with http.get(f"/calls/{call_ids[-1]}") as resp:
            assert resp.status == 404
        async with http.get("/calls/not-a-uuid") as resp:
            assert resp.status == 400


async def test_fastapi_app_sheds_load_with_503(
    example_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Demand far over the API's limit: refused at once with 503 and Retry-After, not 502."""
    import aiohttp

    config = ServerConfig(access_keys=(ACCESS_KEY,), rate_limit=5, burst=1)
    async with EmbeddedServer(config, dataset=Dataset(size=50)) as limited:
        ds = limited.dataset
        monkeypatch.setenv("BIRD_BASE_URL", limited.base_url)
        monkeypatch.setenv("BIRD_WORKSPACE_ID", str(ds.workspace_id))
        monkeypatch.setenv("BIRD_CHANNEL_ID", str(ds.channel_id))
        app = load("fastapi_app").create_app()
        async with uvicorn_serving(app) as base, aiohttp.ClientSession(base) as http:
            async with http.get(f"/calls/{ds.call_ids[0]}") as resp:  # learns the policy
                assert resp.status == 200

            async def ask(call_id: uuid.UUID) -> tuple[int, str | None]:
                async with http.get(f"/calls/{call_id}") as resp:
                    return resp.status, resp.headers.get("Retry-After")

            answers = await asyncio.gather(*(ask(c) for c in ds.call_ids[:60]))
    statuses = {status for status, _ in answers}
    assert statuses <= {200, 503}
    assert 503 in statuses  # 60 at 5/s is 12 s of queue: far past limiter_wait=0.5
    assert all(after == "1" for status, after in answers if status == 503)


async def test_webhooks_aiohttp(
    example_env: dict[str, str],
    server: EmbeddedServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Bird (the embedded server's sender) delivers ten calls' lifecycles to the example."""
    from aiohttp.test_utils import TestServer

    from asyncsdk.server import WebhookConfig, WebhookSender
    from asyncsdk.webhooks import TERMINAL_STATUSES

    monkeypatch.setenv("BIRD_WEBHOOK_SIGNING_KEY", SIGNING_KEY)
    app = load("webhooks_aiohttp").create_app()
    web_server = TestServer(app)
    await web_server.start_server()
    try:
        config = WebhookConfig(
            url=str(web_server.make_url("/bird/voice")),
            signing_key=SIGNING_KEY,
            calls=GOOD_CALLS,
            calls_per_second=1000,
            step=0.001,
        )
        async with WebhookSender(config, server.dataset) as sender:
            await asyncio.wait_for(sender.wait_done(), 30)
    finally:
        await web_server.close()  # the worker finishes what was acknowledged
    out = capsys.readouterr().out
    assert SIGNING_KEY not in out and ACCESS_KEY not in out
    finished = {
        str(c.id): c
        for c in map(server.dataset.call, server.dataset.call_ids[:GOOD_CALLS])
        if c is not None and c.status in TERMINAL_STATUSES
    }
    lines = out.splitlines()
    assert len(lines) == len(finished)
    for line in lines:
        call_id, status = line.split()[:2]
        assert finished[call_id].status == status


async def test_webhooks_aiohttp_shuts_down_when_its_worker_failed_with_a_full_queue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The end of the queue cannot be put on a full queue nobody reads: no waiting for it."""
    from aiohttp.test_utils import TestServer

    from asyncsdk import ConfigurationError
    from asyncsdk.webhooks import parse_event

    monkeypatch.setenv("BIRD_WEBHOOK_SIGNING_KEY", SIGNING_KEY)
    monkeypatch.delenv("BIRD_ACCESS_KEY", raising=False)  # the worker fails at once
    example = load("webhooks_aiohttp")
    app = example.create_app()
    web_server = TestServer(app)
    await web_server.start_server()
    events = app[example.EVENTS]
    event = parse_event((ROOT / "tests" / "fixtures" / "webhook_voice_outbound.json").read_bytes())
    while not events.full():  # acknowledged, never processed: the worker is gone
        events.put_nowait(event)
    with pytest.raises(ConfigurationError):  # the worker's error, reported at shutdown
        await asyncio.wait_for(web_server.close(), 30)


async def test_webhooks_fastapi(monkeypatch: pytest.MonkeyPatch) -> None:
    """Served by uvicorn; every bad input gets its 4xx, a repeat is acknowledged once."""
    import aiohttp

    from asyncsdk.webhooks import REQUEST_ID_HEADER, SIGNATURE_HEADER, compute_signature

    monkeypatch.setenv("BIRD_WEBHOOK_SIGNING_KEY", SIGNING_KEY)
    monkeypatch.setenv("BIRD_WEBHOOK_PUBLIC_URL", "https://hooks.example.com")
    body = (ROOT / "tests" / "fixtures" / "webhook_voice_outbound.json").read_bytes()
    public = "https://hooks.example.com/bird/voice?tenant=7"
    app = load("webhooks_fastapi").create_app()

    def headers(
        key: str = SIGNING_KEY, url: str = public, request_id: str = "d-1"
    ) -> dict[str, str]:
        stamp = str(int(time.time()))
        return {
            SIGNATURE_HEADER: compute_signature(key, timestamp=stamp, url=url, body=body),
            "messagebird-request-timestamp": stamp,
            REQUEST_ID_HEADER: request_id,
        }

    async with uvicorn_serving(app) as base, aiohttp.ClientSession(base) as http:
        target = "/bird/voice?tenant=7"

        async def post(data: bytes, sent: dict[str, str]) -> tuple[int, str]:
            async with http.post(target, data=data, headers=sent) as resp:
                return resp.status, await resp.text()

        captured = headers()
        assert await post(body, captured) == (200, "ok")
        assert await post(body, headers()) == (200, "duplicate")
        replayed = {**captured, REQUEST_ID_HEADER: "a-fresh-id"}  # the id is not signed
        assert await post(body, replayed) == (200, "duplicate")
        assert (await post(body, headers(key="wrong", request_id="d-2")))[0] == 401
        changed = body.replace(b'"duration":187', b'"duration":188')
        assert (await post(changed, headers(request_id="d-3")))[0] == 401
        assert (await post(body, headers(url=public.replace("7", "8"), request_id="d-4")))[0] == 401
        no_signature = headers(request_id="d-5")
        del no_signature[SIGNATURE_HEADER]
        assert (await post(body, no_signature))[0] == 400
        junk = b"not json"
        stamp = str(int(time.time()))
        junk_headers = {
            SIGNATURE_HEADER: compute_signature(
                SIGNING_KEY, timestamp=stamp, url=public, body=junk
            ),
            "messagebird-request-timestamp": stamp,
        }
        assert (await post(junk, junk_headers))[0] == 400
        assert (await post(b"x" * 300_000, headers(request_id="d-6")))[0] == 413
    assert app.state.events.qsize() == 1


@pytest.mark.parametrize("public_url", ["https://hooks.example.com", None])
async def test_webhooks_fastapi_verifies_a_percent_encoded_path_as_sent(
    monkeypatch: pytest.MonkeyPatch, public_url: str | None
) -> None:
    """Bird signs the URL it calls, escapes included; the routed path is decoded."""
    import aiohttp
    import yarl

    from asyncsdk.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, compute_signature

    monkeypatch.setenv("BIRD_WEBHOOK_SIGNING_KEY", SIGNING_KEY)
    if public_url is None:
        monkeypatch.delenv("BIRD_WEBHOOK_PUBLIC_URL", raising=False)
    else:
        monkeypatch.setenv("BIRD_WEBHOOK_PUBLIC_URL", public_url)
    body = (ROOT / "tests" / "fixtures" / "webhook_voice_outbound.json").read_bytes()
    app = load("webhooks_fastapi").create_app()
    target = "/bird/%76oice?tenant=a%2Fb"  # routed as /bird/voice
    async with uvicorn_serving(app) as base, aiohttp.ClientSession() as http:
        signed = f"{public_url or base}{target}"
        stamp = str(int(time.time()))
        headers = {
            SIGNATURE_HEADER: compute_signature(
                SIGNING_KEY, timestamp=stamp, url=signed, body=body
            ),
            TIMESTAMP_HEADER: stamp,
        }
        url = yarl.URL(base + target, encoded=True)  # sent as written, not normalized
        async with http.post(url, data=body, headers=headers) as resp:
            assert (resp.status, await resp.text()) == (200, "ok")
    assert app.state.events.qsize() == 1


@pytest.mark.parametrize("count", [GOOD_CALLS + 1, 250])
async def test_bulk_queue(
    example_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    count: int,
) -> None:
    """Every ID is fetched, still queued or never queued, with more IDs than the queue holds too.

    With more IDs than its ``maxsize``, the producer waits on a full queue when the stream
    drains: the example must stop it rather than wait for it.
    """
    ids = example_env["BIRD_CALL_IDS"].split()
    ids += [str(uuid.uuid4()) for _ in range(count - len(ids))]
    monkeypatch.setenv("BIRD_CALL_IDS", " ".join(ids))
    async with asyncio.timeout(60):  # a hang guard: the run takes well under a second
        out = await run_main("bulk_queue", capsys)
    lines = out.splitlines()
    results = [line for line in lines if line.startswith("#")]
    queued = int(lines[-2].rsplit(" ", 1)[1])
    never = int(lines[-1].rsplit(" ", 1)[1])
    assert lines[-3] == "left over: 0 results, 0 unfinished"
    ended = 1 if never == 0 else 0  # the producer's None is queued once every ID was
    assert len(results) + queued + never == count + ended
    if count > 100:
        assert never > 0


async def test_cli_script(example_env: dict[str, str], tmp_path: Path) -> None:
    """The command-line session on the CLI page runs, and --resume fetches only what failed."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = await asyncio.create_subprocess_exec(
        "bash",
        str(EXAMPLES / "cli.sh"),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    text = out.decode()
    assert proc.returncode == 0, err.decode()
    assert text.startswith("{") and example_env["BIRD_CALL_ID"] in text.splitlines()[0]
    assert f"exit code 1, {GOOD_CALLS} calls, 1 failed" in text
    assert text.rstrip().endswith("exit code 1")
    assert f"{GOOD_CALLS} already there" in err.decode()
    assert len((tmp_path / "calls.jsonl").read_text().splitlines()) == GOOD_CALLS


async def test_list_calls(example_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    out = await run_main("list_calls", capsys)
    lines = out.splitlines()
    newest = list(reversed(dataset_ids()))[:3]
    assert [line.split()[2] for line in lines[:3]] == [str(i) for i in newest]
    assert "page of 4, more: True" in out
    assert re.search(r"resumed: \d+ more calls", out)


async def test_list_then_fetch(
    example_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    out = await run_main("list_then_fetch", capsys)
    assert f"{GOOD_CALLS * 2} calls listed, {GOOD_CALLS * 2} fetched" in out


async def test_export_sharded(
    example_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    out = await run_main("export_sharded", capsys)
    assert out.rstrip().endswith(f"{GOOD_CALLS * 2} calls in all")
    assert "100% done" in out.splitlines()[-2]


async def test_export_script(example_env: dict[str, str], tmp_path: Path) -> None:
    """The export session on the CLI page runs: list, resume (nothing left), fetch."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = await asyncio.create_subprocess_exec(
        "bash",
        str(EXAMPLES / "export.sh"),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert out.decode().splitlines() == [
        f"{GOOD_CALLS * 2} calls listed",
        f"{GOOD_CALLS * 2} calls fetched",
    ]
    assert f"{GOOD_CALLS * 2} already there" in err.decode()


@pytest.mark.parametrize(
    ("heading", "command"),
    [
        ("`get` and `fetch`", "fetch"),
        ("`export`", "export"),
        ("`serve`", "serve"),
        ("`listen`", "listen"),
        ("`recordings`", "recordings"),
        ("`demo`", "demo"),
    ],
)
def test_cli_page_options_exist(
    heading: str, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every option a section of the CLI page names exists in that command's --help."""
    from asyncsdk.cli import main

    sections = re.split(r"^## ", (DOCS / "cli.md").read_text(), flags=re.MULTILINE)
    (section,) = [s for s in sections if s.startswith(heading + "\n")]
    named = set(re.findall(r"--[a-z][a-z0-9-]*", section))
    with pytest.raises(SystemExit):
        main([command, "--help"])
    help_text = capsys.readouterr().out
    assert named, f"the section {heading} names no option"
    assert {option for option in named if option not in help_text} == set()


# --- bookkeeping: every example is tested and shown ---------------------------------------

TESTED = {
    "aiohttp_app.py",
    "bearer_token.py",
    "bulk_cancel.py",
    "bulk_gather.py",
    "bulk_iter.py",
    "bulk_queue.py",
    "call_model.py",
    "cli.sh",
    "configuration.py",
    "errors.py",
    "export.sh",
    "export_sharded.py",
    "fastapi_app.py",
    "list_calls.py",
    "list_then_fetch.py",
    "otel_console.py",
    "otel_trace.py",
    "own_session.py",
    "quickstart.py",
    "recordings_archive.py",
    "recordings_stream.py",
    "recordings_transcripts.py",
    "streams_pipeline.py",
    "testing_faults.py",
    "testing_pytest.py",
    "testing_recordings.py",
    "testing_scripted.py",
    "unknown_values.py",
    "webhooks_aiohttp.py",
    "webhooks_fastapi.py",
}


def dataset_ids() -> list[uuid.UUID]:
    """The example server's call IDs, oldest first."""
    return list(Dataset(size=GOOD_CALLS * 2, seed=5).call_ids)


def example_files() -> set[str]:
    return {p.name for p in EXAMPLES.iterdir() if p.is_file() and p.suffix in (".py", ".sh")}


def test_every_example_has_a_test() -> None:
    assert example_files() == TESTED


def test_every_example_is_shown_in_the_docs() -> None:
    """Each example is included by a page, and each include names an existing file."""
    included = {match for page in DOCS.glob("*.md") for match in INCLUDE.findall(page.read_text())}
    for target in included:
        assert (ROOT / target).is_file(), f"a page includes {target}, which does not exist"
    assert {Path(t).name for t in included} >= example_files()
