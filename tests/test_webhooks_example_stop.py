"""The aiohttp webhooks example when no fetch can succeed: it says why and stops."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from .test_examples import ROOT, SIGNING_KEY, load


async def test_the_example_stops_its_worker_when_the_api_is_unreachable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from aiohttp.test_utils import TestServer

    from asyncsdk import RunStoppedError
    from asyncsdk.webhooks import parse_event

    monkeypatch.setenv("BIRD_WEBHOOK_SIGNING_KEY", SIGNING_KEY)
    monkeypatch.setenv("BIRD_ACCESS_KEY", "example-access-key")
    monkeypatch.setenv("BIRD_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("BIRD_WORKSPACE_ID", str(uuid.uuid4()))
    example = load("webhooks_aiohttp")
    app = example.create_app()
    web_server = TestServer(app)
    await web_server.start_server()
    events = app[example.EVENTS]
    event = parse_event((ROOT / "tests" / "fixtures" / "webhook_voice_outbound.json").read_bytes())
    assert event.status == "completed"
    for _ in range(3):
        events.put_nowait(event)
    with pytest.raises(RunStoppedError):  # the worker's error, reported at shutdown
        await asyncio.wait_for(web_server.close(), 60)
    out = capsys.readouterr().out
    assert out.startswith("enrichment stopped: nothing answers at 127.0.0.1:9 (")
    assert "events taken)" in out and out.count("\n") == 1
