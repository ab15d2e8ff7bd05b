"""Telemetry metrics, secrets kept out, and the aiohttp instrumentation suppressed."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import asyncsdk
from asyncsdk import TokenBucketLimiter
from asyncsdk.server import EmbeddedServer, ScriptedResponse
from asyncsdk.telemetry._attempts import limiter_wait_cause
from asyncsdk.telemetry._semconv import DURATION_BUCKETS, redact_url, url_template

from ._otel import exported_text, recorded
from ._support import ACCESS_KEY
from ._vtime import run

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


async def test_metrics_names_units_buckets_and_no_ids(server: EmbeddedServer) -> None:
    rec = recorded()
    dataset = server.dataset
    throttled = dataset.call_ids[1]
    server.script(throttled, ScriptedResponse(429, headers={"Retry-After": "0"}))
    async with asyncsdk.Client(
        access_key=ACCESS_KEY, base_url=server.base_url, rate_limit=50, telemetry=rec.telemetry
    ) as client:
        ws, channel = dataset.workspace_id, dataset.channel_id
        await client.get_call(ws, channel, dataset.call_ids[0])  # alone: its token is free
        # The other three at once: at most one finds a token, the others wait their turn
        # at 50/s. (One after another, each answer slower than 20 ms on a loaded machine
        # would leave the next token free: no wait to record.)
        await asyncio.gather(*(client.get_call(ws, channel, c) for c in dataset.call_ids[1:4]))
        metrics = rec.metrics()
    duration = metrics["http.client.request.duration"]
    assert duration.unit == "s"
    points = duration.data.data_points
    assert tuple(points[0].explicit_bounds) == DURATION_BUCKETS
    by_status = {p.attributes["http.response.status_code"]: p.count for p in points}
    assert by_status == {200: 4, 429: 1}
    assert metrics["asyncsdk.client.rate_limit.wait"].unit == "s"
    waits = metrics["asyncsdk.client.rate_limit.wait"].data.data_points
    # the two queued behind a third waited, and perhaps the third and the retry
    assert [p.attributes["asyncsdk.wait.cause"] for p in waits] == ["rate_limit"]
    assert 2 <= sum(p.count for p in waits) <= 5
    retry_waits = metrics["asyncsdk.client.retry.wait"].data.data_points
    assert [p.attributes["asyncsdk.wait.cause"] for p in retry_waits] == ["retry_after"]

    def gauge(name: str) -> float:
        (point,) = metrics[name].data.data_points
        return float(point.value)

    assert gauge("asyncsdk.client.rate_limit.rate") == 50.0
    assert gauge("asyncsdk.client.rate_limit.limit") == 50.0
    assert gauge("asyncsdk.client.rate_limit.throttled_share") == pytest.approx(1 / 5)
    assert gauge("asyncsdk.client.retry_budget.tokens") == 500
    assert gauge("http.client.active_requests") == 0
    for metric in metrics.values():
        for point in metric.data.data_points:
            for value in (point.attributes or {}).values():
                assert not UUID.search(str(value)), (metric.name, point.attributes)


async def test_no_secret_in_spans_events_or_metrics(server: EmbeddedServer, tmp_path: Path) -> None:
    rec = recorded()
    dataset = server.dataset
    secret = "sk-test-do-not-leak-42"
    async with asyncsdk.Client(
        access_key=secret, base_url=server.base_url, max_retries=0, telemetry=rec.telemetry
    ) as client:
        with pytest.raises(asyncsdk.AuthenticationError):  # the server knows another key
            await client.get_call(dataset.workspace_id, dataset.channel_id, dataset.call_ids[0])
    async with asyncsdk.Client(
        access_key=ACCESS_KEY, base_url=server.base_url, telemetry=rec.telemetry
    ) as client:
        await client.get_call(dataset.workspace_id, dataset.channel_id, dataset.call_ids[0])
        # a recording: its presigned URL in a body, then the object store's requests
        recording_id = server.recordings.recording_id(0)
        recording = await client.get_recording(dataset.workspace_id, recording_id)
        await client.download_recording(dataset.workspace_id, recording_id, tmp_path)
    assert recording.url is not None
    presigned = dict(parse_qsl(urlsplit(recording.url).query))
    text = "\n".join(exported_text(rec))
    assert "GET /workspaces/{workspaceId}" in text  # the scan saw the spans
    assert "X-Amz-Signature=REDACTED" in text  # ... and the object store's
    for secret_text in (
        secret,
        ACCESS_KEY,
        "AccessKey",
        presigned["X-Amz-Signature"],
        presigned["X-Amz-Credential"],
    ):
        assert secret_text not in text


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://media.test/r.wav?X-Amz-Signature=abc123&X-Amz-Credential=AKIA%2F1&x=1",
            "https://media.test/r.wav?X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED&x=1",
        ),
        ("https://u:p@h.test/a?sig=s3cr3t", "https://REDACTED:REDACTED@h.test/a?sig=REDACTED"),
        ("https://h.test/a?AWSAccessKeyId=K&Signature=S", None),
        ("https://h.test/a?page=2", "https://h.test/a?page=2"),
        (
            "https://api.test/workspaces/w/channels/calls?from=%2B3161234&to=%2B3162&limit=5",
            "https://api.test/workspaces/w/channels/calls?from=REDACTED&to=REDACTED&limit=5",
        ),
    ],
)
def test_redact_url(url: str, expected: str | None) -> None:
    redacted = redact_url(url)
    if expected is not None:
        assert redacted == expected
    for secret in ("abc123", "AKIA", "p@", "s3cr3t", "=K&", "=S", "3161"):
        assert secret not in redacted


def test_url_template() -> None:
    ws = "46582261-7583-41f6-87c5-3d92a1403d43"
    assert url_template(f"/workspaces/{ws}/channels/{ws}/calls/{ws}") == (
        "/workspaces/{workspaceId}/channels/{channelId}/calls/{callId}"
    )
    assert url_template(f"/api/workspaces/{ws}/channels/calls", "/api") == (
        "/api/workspaces/{workspaceId}/channels/calls"
    )
    assert url_template(f"/workspaces/{ws}/recordings/{ws}") == (
        "/workspaces/{workspaceId}/recordings/{recordingId}"
    )
    assert url_template(f"/workspaces/{ws}/transcriptions/{ws}.vtt") == (
        "/workspaces/{workspaceId}/transcriptions/{transcriptionId}.vtt"
    )
    assert url_template(f"/workspaces/{ws}/recordings/{ws}.mp3/../x") == (
        f"/workspaces/{{workspaceId}}/recordings/{ws}.mp3/../x"
    )
    assert url_template(f"/elsewhere/{ws}", "") is None
    assert url_template(f"/workspaces/{ws}", "/api") is None


@pytest.mark.parametrize("ours", [True, False])
async def test_aiohttp_instrumentation_is_suppressed_inside_attempts(
    server: EmbeddedServer, ours: bool
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    rec = recorded()
    instrumentor = AioHttpClientInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        dataset = server.dataset
        async with asyncsdk.Client(
            access_key=ACCESS_KEY,
            base_url=server.base_url,
            telemetry=rec.telemetry if ours else None,
        ) as client:
            await client.get_call(dataset.workspace_id, dataset.channel_id, dataset.call_ids[0])
    finally:
        instrumentor.uninstrument()
    generic = exporter.get_finished_spans()
    if ours:
        assert generic == ()  # suppressed: our CLIENT span is the only one
        assert [s.name.split(" ")[0] for s in rec.spans()] == ["GET", "get_call"]
    else:
        assert len(generic) == 1  # the control: the instrumentation is live


def test_wait_causes_from_the_limiter_state() -> None:
    """The cause a limiter wait is given: the pace, a quota pause, an outage, a probe."""

    async def scenario() -> list[str]:
        loop = asyncio.get_running_loop()
        causes = []
        paced = TokenBucketLimiter(10.0, adaptive=False)
        await paced.acquire()
        causes.append(limiter_wait_cause(paced, loop.time()))
        paced.on_success({"RateLimit-Remaining": "0", "RateLimit-Reset": "5"})
        causes.append(limiter_wait_cause(paced, loop.time()))
        assert paced.limit_estimate == 10.0
        probing = TokenBucketLimiter(None)  # adaptive with no known rate: the first probes
        await probing.acquire()
        causes.append(limiter_wait_cause(probing, loop.time()))
        assert probing.limit_estimate is None
        down = TokenBucketLimiter(100.0, adaptive=False)
        for _ in range(40):  # nearly every attempt of the last second failed: an outage
            await down.acquire()
            down.on_failure()
        causes.append(limiter_wait_cause(down, loop.time()))
        causes.append(limiter_wait_cause(object(), loop.time()))  # a limiter that says nothing
        return causes

    assert run(scenario()) == ["rate_limit", "quota_pause", "probe", "outage_probe", "rate_limit"]
