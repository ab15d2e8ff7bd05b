"""Telemetry spans: the tree of a call that waits, is throttled, fails, then succeeds.

The tree is checked on a virtual clock (`tests._vtime`) with the wire mocked, so that
every wait's duration is exact; the rest talks to the embedded server over loopback.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import random
import subprocess
import sys
from unittest.mock import AsyncMock, create_autospec

import pytest
from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind, StatusCode

import asyncsdk
from asyncsdk import RateLimit, RetryPolicy
from asyncsdk.server import EmbeddedServer, ScriptedResponse

from ._aioresponses_compat import MockAPI
from ._otel import recorded
from ._support import (
    ACCESS_KEY,
    CALL,
    CALL_URL,
    CHANNEL,
    MOCK_BASE,
    WORKSPACE,
    fixture_bytes,
    wait_until,
)
from ._vtime import VirtualTimeLoop

TEMPLATE = "/workspaces/{workspaceId}/channels/{channelId}/calls/{callId}"
SECOND = 1_000_000_000


def test_span_tree_of_a_call_that_waits_is_throttled_fails_and_succeeds() -> None:
    loop = VirtualTimeLoop()
    rec = recorded(clock=lambda: round(loop.time() * SECOND))
    body = fixture_bytes("call_realistic.json")
    other = CALL_URL[: -len(str(CALL))] + "00000000-0000-4000-8000-000000000001"

    async def scenario() -> None:
        with MockAPI() as mock:
            mock.get(other, status=200, body=body)
            mock.get(CALL_URL, status=429, headers={"Retry-After": "2", "x-request-id": "r-1"})
            mock.get(CALL_URL, status=503, headers={"x-request-id": "r-2"})
            mock.get(CALL_URL, status=200, body=body, headers={"x-request-id": "r-3"})
            async with asyncsdk.Client(
                access_key=ACCESS_KEY,
                base_url=MOCK_BASE,
                rate_limit=RateLimit(rate=1.0, adaptive=False),
                retry_policy=RetryPolicy(initial_backoff=0.5),
                telemetry=rec.telemetry,
            ) as client:
                await client.get_call(WORKSPACE, CHANNEL, other.rsplit("/", 1)[1])
                rec.exporter.clear()  # the first call only took the limiter's token
                await client.get_call(WORKSPACE, CHANNEL, CALL)

    random.seed(5)
    try:
        loop.run_until_complete(scenario())
    finally:
        loop.close()

    roots = [s for s in rec.spans() if s.parent is None]
    assert [(s.name, s.kind) for s in roots] == [("get_call", SpanKind.INTERNAL)]
    root = roots[0]
    assert root.attributes is not None
    assert root.attributes["bird.call.id"] == str(CALL)
    assert root.attributes["bird.workspace.id"] == str(WORKSPACE)
    kids = rec.children(root)
    shape = [(s.name, (s.attributes or {}).get("asyncsdk.wait.cause")) for s in kids]
    attempt = f"GET {TEMPLATE}"
    expected = [
        ("asyncsdk.wait", "rate_limit"),
        (attempt, None),
        ("asyncsdk.wait", "retry_after"),
        (attempt, None),
        ("asyncsdk.wait", "backoff"),
    ]
    # After the backoff, the limiter's next token may still be due: a wait of its own.
    assert shape[:5] == expected
    assert shape[5:] in ([(attempt, None)], [("asyncsdk.wait", "rate_limit"), (attempt, None)])
    waits = {s.attributes["asyncsdk.wait.cause"]: s for s in kids if s.name == "asyncsdk.wait"}  # type: ignore[index]
    duration = {k: (s.end_time - s.start_time) for k, s in waits.items()}  # type: ignore[operator]
    assert duration["retry_after"] == 2 * SECOND
    assert waits["backoff"].attributes["asyncsdk.wait.planned"] * SECOND == pytest.approx(  # type: ignore[index]
        duration["backoff"]
    )
    first_wait = kids[0]
    assert first_wait.end_time - first_wait.start_time == SECOND  # type: ignore[operator]

    attempts = [s for s in kids if s.kind is SpanKind.CLIENT]
    statuses = [(s.attributes or {}).get("http.response.status_code") for s in attempts]
    assert statuses == [429, 503, 200]
    resends = [(s.attributes or {}).get("http.request.resend_count") for s in attempts]
    assert resends == [None, 1, 2]
    assert [(s.attributes or {}).get("error.type") for s in attempts] == ["429", "503", None]
    assert [s.status.status_code for s in attempts] == [
        StatusCode.ERROR,
        StatusCode.ERROR,
        StatusCode.UNSET,
    ]
    assert [(s.attributes or {}).get("http.response.header.x-request-id") for s in attempts] == [
        ("r-1",),
        ("r-2",),
        ("r-3",),
    ]
    for span in attempts:
        attrs = span.attributes or {}
        assert attrs["http.request.method"] == "GET"
        assert attrs["server.address"] == "api.bird.test"
        assert attrs["server.port"] == 443
        assert attrs["url.full"] == CALL_URL
        assert attrs["url.template"] == TEMPLATE
    # The children tile the operation: each starts where the one before ended.
    assert kids[0].start_time == root.start_time
    for before, after in itertools.pairwise(kids):
        assert after.start_time == before.end_time
    assert kids[-1].end_time == root.end_time


async def test_cancelled_mid_attempt_ends_every_span(
    server: EmbeddedServer, caplog: pytest.LogCaptureFixture
) -> None:
    rec = recorded()
    dataset = server.dataset
    call_id = dataset.call_ids[0]
    server.script(call_id, ScriptedResponse(delay=30.0))
    caplog.set_level(logging.WARNING)
    before = otel_context.get_current()
    async with asyncsdk.Client(
        access_key=ACCESS_KEY, base_url=server.base_url, telemetry=rec.telemetry
    ) as client:
        task = asyncio.create_task(
            client.get_call(dataset.workspace_id, dataset.channel_id, call_id)
        )
        await wait_until(lambda: server.stats.requests >= 1, what="the request to arrive")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    spans = {s.name.split(" ")[0]: s for s in rec.spans()}
    assert set(spans) == {"get_call", "GET"}
    for span in spans.values():
        assert span.end_time is not None
        assert (span.attributes or {})["error.type"] == "asyncio.exceptions.CancelledError"
        assert span.status.status_code is StatusCode.ERROR
    assert otel_context.get_current() == before
    assert not [r for r in caplog.records if "detach" in r.getMessage().lower()]


async def test_each_attempt_carries_its_trace_context_to_the_server(
    server: EmbeddedServer,
) -> None:
    rec = recorded()
    dataset = server.dataset
    call_id = dataset.call_ids[0]
    server.script(call_id, ScriptedResponse(503, headers={"Retry-After": "0"}))
    async with asyncsdk.Client(
        access_key=ACCESS_KEY, base_url=server.base_url, telemetry=rec.telemetry
    ) as client:
        await client.get_call(dataset.workspace_id, dataset.channel_id, call_id)
    attempts = [s for s in rec.spans() if s.kind is SpanKind.CLIENT]
    sent = [r.headers["traceparent"].split("-")[1:3] for r in server.requests]
    expected = []
    for span in attempts:
        assert span.context is not None
        expected.append([f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}"])
    assert len(sent) == 2
    assert sent == expected  # one per attempt, each naming its own span


async def test_no_telemetry_records_nothing_and_imports_nothing_new(
    server: EmbeddedServer,
) -> None:
    dataset = server.dataset
    async with asyncsdk.Client(access_key=ACCESS_KEY, base_url=server.base_url) as client:
        assert client._engine.telemetry is None
        await client.get_call(dataset.workspace_id, dataset.channel_id, dataset.call_ids[0])
    assert "traceparent" not in server.requests[-1].headers


def test_telemetry_must_be_a_telemetry() -> None:
    with pytest.raises(asyncsdk.ConfigurationError, match="Telemetry"):
        asyncsdk.Client(access_key=ACCESS_KEY, telemetry=object())  # type: ignore[arg-type]


async def test_gather_and_pages_get_operation_spans(
    server: EmbeddedServer,
) -> None:
    rec = recorded()
    dataset = server.dataset
    ids = [str(i) for i in dataset.call_ids[:3]]
    async with asyncsdk.Client(
        access_key=ACCESS_KEY, base_url=server.base_url, telemetry=rec.telemetry
    ) as client:
        results = await asyncsdk.gather_calls(client, dataset.workspace_id, dataset.channel_id, ids)
        assert all(isinstance(r, asyncsdk.Call) for r in results)
        pager = client.list_call_log(dataset.workspace_id, page_size=2)
        async for _page in pager.pages():
            break
    roots = {s.name: s for s in rec.spans() if s.parent is None}
    gather = roots["gather_calls"]
    assert (gather.attributes or {})["asyncsdk.items"] == 3
    assert [s.name for s in rec.children(gather)] == ["get_call"] * 3
    page = roots["list_call_log.page"]
    assert (page.attributes or {})["bird.workspace.id"] == str(dataset.workspace_id)
    (attempt,) = [s for s in rec.children(page) if s.kind is SpanKind.CLIENT]
    assert attempt.name == "GET /workspaces/{workspaceId}/channels/calls"
    items = rec.metrics()["asyncsdk.items"]
    counted = {
        (p.attributes["asyncsdk.operation"], p.attributes["asyncsdk.outcome"]): p.value
        for p in items.data.data_points
    }
    assert counted[("gather_calls", "done")] == 3
    assert counted[("list_call_log.page", "done")] == 2


async def test_limiter_timeout_ends_its_wait_span_with_the_error(server: EmbeddedServer) -> None:
    rec = recorded()
    dataset = server.dataset
    async with asyncsdk.Client(
        access_key=ACCESS_KEY,
        base_url=server.base_url,
        rate_limit=RateLimit(rate=0.01, adaptive=False),
        timeout=asyncsdk.Timeout(deadline=30.0, limiter_wait=0.05),
        telemetry=rec.telemetry,
    ) as client:
        await client.get_call(dataset.workspace_id, dataset.channel_id, dataset.call_ids[0])
        # The next token is 100 s away: still there however slowly a loaded machine ran
        # the first call (at 2 s away, a first call that slow would find it free).
        with pytest.raises(asyncsdk.LimiterTimeoutError):
            await client.get_call(dataset.workspace_id, dataset.channel_id, dataset.call_ids[1])
    roots = [s for s in rec.spans() if s.parent is None]
    assert [s.name for s in roots] == ["get_call", "get_call"]
    failed = roots[1]
    assert (failed.attributes or {})["error.type"] == "asyncsdk.errors.LimiterTimeoutError"
    (wait,) = rec.children(failed)  # refused at once: no attempt went out
    assert wait.name == "asyncsdk.wait"
    assert (wait.attributes or {})["error.type"] == "asyncsdk.errors.LimiterTimeoutError"
    # The deadline path: one attempt. A wait span may come before it: a wait of 1 ms or
    # more is drawn, and a loaded machine can take that long to grant even a free token.
    first = rec.children(roots[0])
    assert [s.kind for s in first if s.name != "asyncsdk.wait"] == [SpanKind.CLIENT]


def test_telemetry_without_providers_or_globals_records_nothing() -> None:
    """Telemetry() uses the global providers; none configured: the client pays nothing."""
    client = asyncsdk.Client(access_key=ACCESS_KEY, telemetry=asyncsdk.Telemetry())
    assert client._engine.telemetry is None


def test_traced_methods_are_still_coroutine_functions() -> None:
    """Autospec mocks and frameworks that inspect handlers see ``async def`` as before."""
    assert inspect.iscoroutinefunction(asyncsdk.Client.get_call)
    assert inspect.iscoroutinefunction(asyncsdk.gather_calls)
    mock = create_autospec(asyncsdk.Client, instance=True)
    assert isinstance(mock.get_call, AsyncMock)


_HIDE_OTEL = """
import sys
class Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "opentelemetry":
            raise ImportError(name)
sys.meta_path.insert(0, Hide())
"""


@pytest.mark.parametrize("hidden", [False, True])
def test_import_loads_no_opentelemetry_and_without_it_telemetry_says_what_to_install(
    hidden: bool,
) -> None:
    code = (_HIDE_OTEL if hidden else "") + (
        "import sys, asyncsdk\n"
        "assert not [m for m in sys.modules if m.startswith('opentelemetry')]\n"
        "client = asyncsdk.Client(access_key='k')\n"  # works without the extra
        "try:\n"
        "    asyncsdk.Telemetry()\n"
        "except asyncsdk.ConfigurationError as exc:\n"
        "    print('refused:', exc)\n"
        "else:\n"
        "    print('created')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    if hidden:
        assert proc.stdout.strip() == (
            "refused: telemetry needs opentelemetry-api: pip install 'asyncsdk[otel]'"
        )
    else:
        assert proc.stdout.strip() == "created"
