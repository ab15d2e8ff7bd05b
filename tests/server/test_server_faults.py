"""Injected faults and scripted answers, over loopback HTTP."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import pytest

from asyncsdk.server import Dataset, EmbeddedServer, Faults, ScriptedResponse, ServerConfig

ACCESS_KEY_AUTH = {"Authorization": "AccessKey test-access-key"}


async def _get(session: aiohttp.ClientSession, url: str) -> bytes:
    async with session.get(url) as response:
        return await response.read()


def _server(dataset: Dataset, **faults: float) -> EmbeddedServer:
    return EmbeddedServer(ServerConfig(faults=Faults(**faults)), dataset=dataset)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fault", "status", "kind", "content_type"),
    [
        ("error_500", 500, "500", "application/json"),
        ("error_502_html", 502, "502", "text/html"),
        ("error_503", 503, "503", "application/json"),
        ("burst_429", 429, "429_burst", "application/json"),
    ],
)
async def test_error_faults_answer_their_status(
    dataset: Dataset,
    session: aiohttp.ClientSession,
    fault: str,
    status: int,
    kind: str,
    content_type: str,
) -> None:
    server = _server(dataset, **{fault: 1.0})
    async with server, session.get(server.call_url(dataset.call_ids[0])) as response:
        assert response.status == status
        assert response.content_type == content_type
        body = await response.read()
    assert server.stats.faults[kind] == 1
    assert server.stats.admitted_times == []
    if content_type == "text/html":
        assert body.startswith(b"<html>")
        assert b"502 Bad Gateway" in body
    if status == 429:
        assert response.headers["Retry-After"] == "1"
        assert server.stats.throttled == 1
    if status == 503:
        assert "Retry-After" not in response.headers


async def test_503_carries_retry_after_when_configured(
    dataset: Dataset, session: aiohttp.ClientSession
) -> None:
    config = ServerConfig(faults=Faults(error_503=1.0, retry_after_503=7))
    server = EmbeddedServer(config, dataset=dataset)
    async with server, session.get(server.call_url(dataset.call_ids[0])) as response:
        assert response.status == 503
        assert response.headers["Retry-After"] == "7"
        assert (await response.json())["code"] == "ServiceUnavailable"


async def test_a_429_burst_spans_consecutive_requests(
    dataset: Dataset, session: aiohttp.ClientSession
) -> None:
    # The first request starts a burst; the next three are inside it.
    config = ServerConfig(faults=Faults(burst_429=1.0, burst_429_length=4, retry_after_429=2))
    async with EmbeddedServer(config, dataset=dataset) as server:
        for _ in range(4):
            async with session.get(server.call_url(dataset.call_ids[0])) as response:
                assert response.status == 429
                assert response.headers["Retry-After"] == "2"
    assert server.stats.faults["429_burst"] == 4
    assert server.stats.throttled == 4


async def test_reset_closes_the_connection_without_a_response(
    dataset: Dataset, session: aiohttp.ClientSession
) -> None:
    async with _server(dataset, reset=1.0) as server:
        with pytest.raises(aiohttp.ClientConnectionError):
            await _get(session, server.call_url(dataset.call_ids[0]))
    # aiohttp's client silently sends an idempotent request once more after a disconnect.
    assert server.stats.faults["reset"] >= 1
    assert server.stats.by_status == {}


async def test_truncate_sends_half_the_body_then_closes(
    dataset: Dataset, session: aiohttp.ClientSession
) -> None:
    full = dataset.body(dataset.call_ids[0])
    assert full is not None
    server = _server(dataset, truncate=1.0)
    async with server, session.get(server.call_url(dataset.call_ids[0])) as response:
        assert response.status == 200
        assert response.content_length == len(full)
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
    assert server.stats.faults["truncate"] == 1
    assert server.stats.admitted_times == []


async def test_slow_answers_outlast_a_client_timeout(
    dataset: Dataset, session: aiohttp.ClientSession
) -> None:
    config = ServerConfig(faults=Faults(slow=1.0, slow_seconds=600.0))
    async with EmbeddedServer(config, dataset=dataset) as server:
        timeout = aiohttp.ClientTimeout(total=0.2)
        with pytest.raises(TimeoutError):
            await session.get(server.call_url(dataset.call_ids[0]), timeout=timeout)
        assert server.stats.faults["slow"] == 1
    # leaving the block stopped the server without waiting for the slow answer


async def test_faults_spare_refused_credentials(dataset: Dataset) -> None:
    server = _server(dataset, error_500=1.0)
    async with (
        server,
        aiohttp.ClientSession() as session,
        session.get(server.call_url(dataset.call_ids[0])) as response,
    ):
        assert response.status == 401
    assert server.stats.faults["500"] == 0


async def _outcomes(dataset: Dataset, seed: int) -> list[str]:
    faults = Faults(
        error_500=0.1,
        error_502_html=0.1,
        error_503=0.1,
        burst_429=0.05,
        reset=0.05,
        truncate=0.05,
    )
    config = ServerConfig(faults=faults, seed=seed)
    outcomes = []
    async with (
        EmbeddedServer(config, dataset=dataset) as server,
        aiohttp.ClientSession(headers=ACCESS_KEY_AUTH) as session,
    ):
        for call_id in dataset.call_ids[:50]:
            try:
                async with session.get(server.call_url(call_id)) as response:
                    await response.read()
                    outcomes.append(str(response.status))
            except aiohttp.ClientError as exc:
                outcomes.append(type(exc).__name__)
    return outcomes


async def test_same_seed_gives_the_same_fault_sequence(dataset: Dataset) -> None:
    first = await _outcomes(dataset, seed=11)
    assert await _outcomes(dataset, seed=11) == first
    assert len(set(first)) >= 4  # a real mix, not all 200s
    assert await _outcomes(dataset, seed=12) != first


async def test_scripts_play_in_order_then_normal_behaviour_resumes(
    dataset: Dataset, session: aiohttp.ClientSession
) -> None:
    call_id = dataset.call_ids[2]
    other = dataset.call_ids[3]
    async with EmbeddedServer(dataset=dataset) as server:
        server.script(
            call_id,
            ScriptedResponse(status=503, headers={"Retry-After": "3"}),
            ScriptedResponse(status=429, body=b'{"code":"slow down"}'),
            ScriptedResponse(),
        )
        url = server.call_url(call_id)
        async with session.get(server.call_url(other)) as response:
            assert response.status == 200  # another id is not affected
        seen = []
        for _ in range(4):
            async with session.get(url) as response:
                seen.append(
                    (response.status, response.headers.get("Retry-After"), await response.read())
                )
    assert seen[0][:2] == (503, "3")
    assert seen[1] == (429, None, b'{"code":"slow down"}')
    assert seen[2] == (200, None, dataset.body(call_id))
    assert seen[3] == (200, None, dataset.body(call_id))
    assert server.stats.scripted == 3


async def test_scripts_bypass_rate_limit_and_faults(
    dataset: Dataset, session: aiohttp.ClientSession
) -> None:
    config = ServerConfig(rate_limit=0.001, burst=1, faults=Faults(error_500=1.0))
    call_id = dataset.call_ids[0]
    async with EmbeddedServer(config, dataset=dataset) as server:
        server.script(str(call_id).upper(), ScriptedResponse(), ScriptedResponse())
        for _ in range(2):
            async with session.get(server.call_url(call_id)) as response:
                assert response.status == 200
        async with session.get(server.call_url(call_id)) as response:
            assert response.status == 500  # the bucket was not touched: its token is left
        async with session.get(server.call_url(call_id)) as response:
            assert response.status == 429


async def test_scripted_connection_actions(
    dataset: Dataset, session: aiohttp.ClientSession
) -> None:
    call_id = dataset.call_ids[0]
    config = ServerConfig(faults=Faults(slow_seconds=600.0))
    async with EmbeddedServer(config, dataset=dataset) as server:
        server.script(call_id, ScriptedResponse(action="truncate"))
        async with session.get(server.call_url(call_id)) as response:
            with pytest.raises(aiohttp.ClientPayloadError):
                await response.read()
        # two resets: aiohttp's client sends a GET once more after a disconnect
        server.script(call_id, ScriptedResponse(action="reset"), ScriptedResponse(action="reset"))
        with pytest.raises(aiohttp.ClientConnectionError):
            await _get(session, server.call_url(call_id))
        server.script(call_id, ScriptedResponse(action="slow"))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(_get(session, server.call_url(call_id)), timeout=0.2)


async def test_scripted_delay_is_waited(dataset: Dataset, session: aiohttp.ClientSession) -> None:
    call_id = dataset.call_ids[0]
    async with EmbeddedServer(dataset=dataset) as server:
        server.script(call_id, ScriptedResponse(delay=0.05))
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with session.get(server.call_url(call_id)) as response:
            assert response.status == 200
        assert loop.time() - started >= 0.05


async def test_script_for_a_missing_call_with_no_body_answers_normally(
    dataset: Dataset, session: aiohttp.ClientSession
) -> None:
    missing: uuid.UUID = dataset.missing_call_id()
    async with EmbeddedServer(dataset=dataset) as server:
        server.script(missing, ScriptedResponse())
        async with session.get(server.call_url(missing)) as response:
            assert response.status == 404
