"""The CLI's telemetry: --metrics-port scraped during a run, --otlp-endpoint receiving spans."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from asyncsdk.cli import main
from asyncsdk.cli._listen import Listener, ListenOptions
from asyncsdk.cli._telemetry import shut_down_traces
from asyncsdk.server import EmbeddedServer, ScriptedResponse

from . import test_cli_recordings
from ._otel import recorded
from ._support import ACCESS_KEY, refused_port, wait_until
from ._webhooks import SIGNING_KEY

TIMEOUT = 60.0


def _argv(server: EmbeddedServer, ids: Path, out: Path, *extra: str) -> list[str]:
    dataset = server.dataset
    return [
        *("fetch", str(dataset.workspace_id), str(dataset.channel_id)),
        *("--ids", str(ids), "--out", str(out), "--base-url", server.base_url),
        *("--no-progress", "--rate-limit", "200"),
        *extra,
    ]


async def test_metrics_port_is_scraped_during_a_fetch(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    dataset = server.dataset
    ids = [str(c) for c in dataset.call_ids[:6]]
    server.script(ids[-1], ScriptedResponse(delay=TIMEOUT * 2))  # keeps the run going
    id_file = tmp_path / "ids.txt"
    id_file.write_text("\n".join(ids) + "\n")
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "asyncsdk"),
        *_argv(server, id_file, tmp_path / "calls.jsonl", "--metrics-port", "0"),
        stderr=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        env={**os.environ, "BIRD_ACCESS_KEY": ACCESS_KEY},
    )
    assert proc.stderr is not None
    try:
        line = (await asyncio.wait_for(proc.stderr.readline(), TIMEOUT)).decode()
        assert line.startswith("metrics: http://127.0.0.1:"), line
        url = line.split()[1]
        page = ""
        async with aiohttp.ClientSession() as session:

            async def five_done() -> bool:
                nonlocal page
                async with session.get(url) as resp:
                    page = await resp.text()
                return 'http_response_status_code="200"' in page and any(
                    row.startswith("http_client_request_duration_seconds_count")
                    and row.endswith(" 5.0")
                    for row in page.splitlines()
                )

            await wait_until(five_done, within=TIMEOUT, what="five attempts in the metrics")
        assert "# TYPE http_client_request_duration_seconds histogram" in page
        assert "http_client_request_duration_seconds_bucket{" in page
        assert "asyncsdk_client_rate_limit_wait_seconds" in page
        assert "http_client_active_requests" in page
        assert str(dataset.call_ids[0]) not in page  # no IDs in metrics
        assert ACCESS_KEY not in page
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), TIMEOUT)
        await proc.stderr.read()
    assert proc.returncode == 130


def _span_names(received: list[bytes]) -> list[str]:
    names: list[str] = []
    for body in received:
        request = ExportTraceServiceRequest.FromString(body)
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                names += [span.name for span in scope.spans]
    return names


@contextlib.asynccontextmanager
async def collecting() -> AsyncIterator[tuple[str, list[bytes]]]:
    """An OTLP/HTTP collector on loopback: its traces endpoint, and the bodies it got."""
    received: list[bytes] = []

    async def collect(request: web.Request) -> web.Response:
        assert request.content_type == "application/x-protobuf"
        received.append(await request.read())
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/v1/traces", collect)
    async with TestServer(app, host="127.0.0.1") as collector:
        yield str(collector.make_url("/v1/traces")), received


async def test_recordings_sends_its_media_spans_to_the_otlp_endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BIRD_ACCESS_KEY", test_cli_recordings.ACCESS_KEY)
    async with test_cli_recordings._server() as api, collecting() as (endpoint, received):
        argv = test_cli_recordings.argv(api, tmp_path / "out", "--otlp-endpoint", endpoint)
        code = await asyncio.to_thread(main, argv)
    assert code == 0
    names = set(_span_names(received))
    media = "GET /workspaces/{workspaceId}/recordings/{recordingId}.mp3"
    assert {"list_recordings.page", "download_recording", media, "GET"} <= names
    assert not any(name.startswith("GET /") and "-" in name for name in names)  # no IDs


def test_enrich_takes_the_telemetry_options(tmp_path: Path) -> None:
    argv = ["enrich", "--redis", "redis://127.0.0.1:1/0", "--workspace", str(uuid.uuid4())]
    argv += ["--group", "g", "--db", str(tmp_path / "calls.sqlite")]
    assert main([*argv, "--metrics-port", "70000"]) == 2  # checked before anything starts


async def test_listener_reports_its_intake_queue_depth(tmp_path: Path) -> None:
    rec = recorded()
    options = ListenOptions(signing_keys=(SIGNING_KEY,), out=tmp_path / "events.jsonl", port=0)
    listener = Listener(options, telemetry=rec.telemetry)
    listener.intake.put_nowait(None)
    listener.intake.put_nowait(None)
    (point,) = rec.metrics()["asyncsdk.webhook.queue.depth"].data.data_points
    assert point.value == 2
    assert not point.attributes


async def _fetch_sending_spans(
    server: EmbeddedServer, tmp_path: Path, endpoint: str, calls: int
) -> tuple[int, Path]:
    """Run ``fetch`` of ``calls`` calls with ``--otlp-endpoint``; its exit code and output."""
    id_file = tmp_path / "ids.txt"
    id_file.write_text("".join(f"{c}\n" for c in server.dataset.call_ids[:calls]))
    out = tmp_path / "calls.jsonl"
    argv = _argv(server, id_file, out, "--otlp-endpoint", endpoint)
    return await asyncio.wait_for(asyncio.to_thread(main, argv), TIMEOUT), out


async def test_otlp_endpoint_receives_the_spans(
    server: EmbeddedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BIRD_ACCESS_KEY", ACCESS_KEY)
    async with collecting() as (endpoint, received):
        code, _ = await _fetch_sending_spans(server, tmp_path, endpoint, 3)
    assert code == 0
    names = _span_names(received)
    attempt = "GET /workspaces/{workspaceId}/channels/{channelId}/calls/{callId}"
    # The limiter's waits at 200/s are spans of their own when they last a millisecond.
    assert {attempt, "get_call"} <= set(names) <= {attempt, "get_call", "asyncsdk.wait"}
    assert names.count("get_call") == 3


def test_bad_metrics_port_is_a_usage_error(server: EmbeddedServer, tmp_path: Path) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text(f"{server.dataset.call_ids[0]}\n")
    assert main(_argv(server, ids, tmp_path / "o.jsonl", "--metrics-port", "70000")) == 2


async def test_an_otlp_endpoint_where_nothing_listens_changes_nothing_in_the_run(
    server: EmbeddedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spans are lost, the calls are not: same output, same exit code, and it ends."""
    monkeypatch.setenv("BIRD_ACCESS_KEY", ACCESS_KEY)
    with refused_port() as port:
        endpoint = f"http://127.0.0.1:{port}/v1/traces"
        code, out = await _fetch_sending_spans(server, tmp_path, endpoint, 20)
    assert code == 0
    assert len(out.read_text().splitlines()) == 20


class _StuckProvider:
    """A tracer provider whose shutdown sends batches until its exporter is shut down."""

    def __init__(self) -> None:
        self.exporter_down = threading.Event()

    def shutdown(self) -> None:
        self.exporter_down.wait(TIMEOUT)


class _Exporter:
    def __init__(self, provider: _StuckProvider) -> None:
        self.provider = provider
        self.shut = 0

    def shutdown(self) -> None:
        self.shut += 1
        self.provider.exporter_down.set()


def test_the_last_spans_get_a_bounded_time_then_one_line_says_where_they_could_not_go(
    capsys: pytest.CaptureFixture[str],
) -> None:
    stuck = _StuckProvider()
    exporter = _Exporter(stuck)
    assert not shut_down_traces(stuck, exporter, "http://127.0.0.1:9/v1/traces", within=0.01)
    assert exporter.shut == 1  # its retries stop at once
    err = capsys.readouterr().err
    assert "not sent to --otlp-endpoint http://127.0.0.1:9/v1/traces" in err
    assert "is a collector listening there?" in err


def test_spans_sent_in_time_end_quietly(capsys: pytest.CaptureFixture[str]) -> None:
    done = _StuckProvider()
    done.exporter_down.set()
    exporter = _Exporter(done)
    assert shut_down_traces(done, exporter, "http://127.0.0.1:9/v1/traces", within=TIMEOUT)
    assert exporter.shut == 0
    assert capsys.readouterr().err == ""
