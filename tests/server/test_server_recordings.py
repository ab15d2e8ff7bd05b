"""The server's recordings and transcriptions endpoints over loopback HTTP, with plain aiohttp."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from yarl import URL

from asyncsdk.server import (
    Dataset,
    EmbeddedServer,
    RecordingsConfig,
    ServerConfig,
)
from asyncsdk.server._recordings import (
    CALL_RECORDING_ROUTE,
    CALL_RECORDINGS_ROUTE,
    MAX_RECORDINGS_PAGE_SIZE,
    RECORDING_ROUTE,
    RECORDINGS_ROUTE,
    TRANSCRIPTION_ROUTE,
    TRANSCRIPTIONS_ROUTE,
    redirects,
)

Params = list[tuple[str, str]]
ZERO = "0001-01-01T00:00:00Z"


@pytest.fixture
async def server(dataset: Dataset) -> AsyncIterator[EmbeddedServer]:
    async with EmbeddedServer(dataset=dataset) as srv:
        yield srv


def ws_url(server: EmbeddedServer, tail: str) -> str:
    return f"{server.base_url}/workspaces/{server.dataset.workspace_id}/{tail}"


async def get_json(
    session: aiohttp.ClientSession, url: str, params: Params | None = None, status: int = 200
) -> Any:
    async with session.get(url, params=params or [], allow_redirects=False) as response:
        body = await response.read()
        assert response.status == status, body
        return await response.json()


async def all_results(
    session: aiohttp.ClientSession, url: str, params: Params | None = None
) -> list[dict[str, Any]]:
    page = await get_json(session, url, params)
    results = list(page["results"])
    pages = 1
    while (token := page.get("nextPageToken")) is not None:
        page = await get_json(session, url, [*(params or []), ("pageToken", token)])
        results += page["results"]
        pages += 1
        assert pages < 1000
    return results


def listed_indices(server: EmbeddedServer) -> list[int]:
    """The recordings the workspace lists, newest first: those of calls not ongoing."""
    recordings = server.recordings
    return [i for i in reversed(range(server.dataset.size)) if not recordings.active(i)]


async def test_recordings_are_listed_newest_first_each_once(
    server: EmbeddedServer, session: aiohttp.ClientSession
) -> None:
    results = await all_results(session, ws_url(server, "recordings"), [("limit", "99")])
    expected = [str(server.recordings.recording_id(i)) for i in listed_indices(server)]
    assert [r["id"] for r in results] == expected
    assert len(expected) < server.dataset.size  # some calls are ongoing: not listed
    stamps = [(r["createdAt"], r["id"]) for r in results]
    assert stamps == sorted(stamps, reverse=True)
    first = results[0]
    index = server.recordings.index(first["id"])
    assert index is not None
    assert server.recordings.media_key(first["id"]) == server.recordings.media_key(index)
    assert first["sourceId"] == str(server.dataset.call_ids[index])
    assert first["source"] == "call" and first["format"] == "mp3"
    assert first["status"] == "available" and "X-Amz-Signature=" in first["url"]


async def test_page_size_is_1_to_99_default_10(
    server: EmbeddedServer, session: aiohttp.ClientSession
) -> None:
    assert len((await get_json(session, ws_url(server, "recordings")))["results"]) == 10
    assert len((await get_json(session, ws_url(server, "transcriptions")))["results"]) == 10
    for tail in ("recordings", "transcriptions"):
        for limit in ("0", "100", "x"):
            problem = await get_json(session, ws_url(server, tail), [("limit", limit)], 422)
            assert "limit" in problem["details"]


async def test_a_time_window_is_half_open_on_created_at(session: aiohttp.ClientSession) -> None:
    ds = Dataset(300, seed=4, span=dt.timedelta(milliseconds=60))  # 5 per millisecond
    start, end = ds.timeline.created_at(52), ds.timeline.created_at(203)
    async with EmbeddedServer(dataset=ds) as server:
        params = [("startAt", start.isoformat()), ("endAt", end.isoformat()), ("limit", "7")]
        results = await all_results(session, ws_url(server, "recordings"), params)
        recordings = server.recordings
        expected = [
            str(recordings.recording_id(i))
            for i in reversed(range(ds.size))
            if start <= ds.timeline.created_at(i) < end and not recordings.active(i)
        ]
    assert [r["id"] for r in results] == expected
    assert len(expected) > 100
    assert list(reversed(recordings.listed(start, end))) == [uuid.UUID(i) for i in expected]


@pytest.mark.parametrize(
    ("inclusive", "precision"), [((False, True), "second"), ((True, False), "millisecond")]
)
async def test_the_window_follows_the_configured_reading(
    session: aiohttp.ClientSession, inclusive: tuple[bool, bool], precision: Any
) -> None:
    ds = Dataset(100, seed=5, span=dt.timedelta(seconds=10))
    config = ServerConfig(
        start_inclusive=inclusive[0], end_inclusive=inclusive[1], time_precision=precision
    )
    start, end = ds.timeline.created_at(20), ds.timeline.created_at(60)
    async with EmbeddedServer(config, dataset=ds) as server:
        params = [("startAt", start.isoformat()), ("endAt", end.isoformat()), ("limit", "99")]
        results = await all_results(session, ws_url(server, "recordings"), params)
        calls = await all_results(session, ws_url(server, "channels/calls"), params)
    listed = {server.recordings.index(r["id"]) for r in results}
    called = {server.dataset.index(c["id"]) for c in calls}
    assert listed == {i for i in called if i is not None and not server.recordings.active(i)}


@pytest.mark.parametrize("name", ["status", "direction", "from", "to"])
async def test_filters_keep_only_matching_recordings(
    server: EmbeddedServer, session: aiohttp.ClientSession, name: str
) -> None:
    everything = await all_results(session, ws_url(server, "recordings"), [("limit", "99")])
    field = {"from": "originator", "to": "receiver"}.get(name, name)
    sample = next(r for r in everything if r.get(field))
    value = sample[field]["number"]["number"] if name in ("from", "to") else sample[field]
    found = await all_results(session, ws_url(server, "recordings"), [(name, value)])
    expected = [r["id"] for r in everything if r.get(field) == sample[field]]
    assert [r["id"] for r in found] == expected
    assert expected


async def test_id_filters_find_one_recording(
    server: EmbeddedServer, session: aiohttp.ClientSession
) -> None:
    index = listed_indices(server)[5]
    recording_id = str(server.recordings.recording_id(index))
    call_id = str(server.dataset.call_ids[index])
    url = ws_url(server, "recordings")
    # "id" is "the ID for the call" in the reference: the call's or the recording's id.
    for params in ([("sourceId", call_id)], [("id", call_id)], [("id", recording_id)]):
        assert [r["id"] for r in await all_results(session, url, params)] == [recording_id]
    channel = [("channelId", str(server.dataset.channel_id)), ("limit", "99")]
    assert len(await all_results(session, url, channel)) == len(listed_indices(server))
    other = [("channelId", str(uuid.uuid4()))]
    assert await all_results(session, url, other) == []
    problem = await get_json(session, url, [("sourceId", "nope")], 422)
    assert problem["details"] == {"sourceId": ["must be a valid UUID"]}


async def test_a_token_is_bound_to_its_query(
    server: EmbeddedServer, session: aiohttp.ClientSession
) -> None:
    url = ws_url(server, "recordings")
    token = (await get_json(session, url, [("limit", "5")]))["nextPageToken"]
    await get_json(
        session, url, [("limit", "5"), ("direction", "incoming"), ("pageToken", token)], 422
    )
    await get_json(session, ws_url(server, "transcriptions"), [("pageToken", token)], 422)
    await get_json(session, url, [("pageToken", token[:-2] + "xx")], 422)


async def test_get_a_recording_answers_metadata_or_a_redirect(
    server: EmbeddedServer, session: aiohttp.ClientSession
) -> None:
    index = listed_indices(server)[0]
    recording_id = server.recordings.recording_id(index)
    url = ws_url(server, f"recordings/{recording_id}")
    metadata = await get_json(session, url)
    assert metadata["id"] == str(recording_id)
    for accept in ("application/json", "*/*", "application/json, audio/mpeg"):
        async with session.get(url, headers={"Accept": accept}, allow_redirects=False) as r:
            assert r.status == 200
    for target, accept in ((url, "audio/mpeg"), (url + ".mp3", "application/json")):
        async with session.get(target, headers={"Accept": accept}, allow_redirects=False) as r:
            assert r.status == 307
            location = URL(r.headers["Location"])
    assert location.origin() == URL(server.objects.base_url).origin()
    assert location.path == f"/recordings/{recording_id}.mp3"
    assert location.query["X-Amz-Expires"] == "600"
    assert location.query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"


@pytest.mark.parametrize("mode", ["never", "always"])
async def test_the_metadata_redirect_is_configurable(
    dataset: Dataset, session: aiohttp.ClientSession, mode: Any
) -> None:
    config = ServerConfig(recordings=RecordingsConfig(metadata_redirect=mode))
    async with EmbeddedServer(config, dataset=dataset) as server:
        index = listed_indices(server)[0]
        for url in (
            ws_url(server, f"recordings/{server.recordings.recording_id(index)}"),
            ws_url(server, f"transcriptions/{server.recordings.transcription_id(index)}"),
        ):
            async with session.get(
                url, headers={"Accept": "audio/mpeg"}, allow_redirects=False
            ) as r:
                assert r.status == (307 if mode == "always" else 200)


def test_which_accept_headers_redirect() -> None:
    assert not redirects("accept", None)
    assert not redirects("accept", "application/json")
    assert not redirects("accept", "text/html, */*;q=0.1")
    assert redirects("accept", "audio/mpeg")
    assert redirects("accept", "application/json;q=0, audio/*")
    assert redirects("always", "application/json")
    assert not redirects("never", "audio/mpeg")


async def test_unknown_and_malformed_ids(
    server: EmbeddedServer, session: aiohttp.ClientSession
) -> None:
    missing = server.dataset.missing_call_id()
    for tail in (f"recordings/{missing}", f"recordings/{missing}.mp3", f"transcriptions/{missing}"):
        problem = await get_json(session, ws_url(server, tail), status=404)
        assert problem["code"] == "NotFound"
    await get_json(session, ws_url(server, "recordings/not-a-uuid"), status=422)
    await get_json(session, ws_url(server, "recordings/not-a-uuid.mp3"), status=422)
    recording_id = server.recordings.recording_id(listed_indices(server)[0])
    await get_json(session, ws_url(server, f"recordings/{recording_id}.wav"), status=404)
    other = f"{server.base_url}/workspaces/{uuid.uuid4()}/recordings"
    assert (await get_json(session, other, status=404))["message"] == "workspace not found"


async def test_unavailable_recordings_have_no_media(session: aiohttp.ClientSession) -> None:
    config = ServerConfig(recordings=RecordingsConfig(unavailable_every=3))
    async with EmbeddedServer(config, dataset=Dataset(60, seed=2)) as server:
        results = await all_results(session, ws_url(server, "recordings"), [("limit", "99")])
        statuses = {r["status"] for r in results}
        missing = [r for r in results if r["status"] != "available"]
        assert statuses - {"available"} and all("url" not in r for r in missing)
        tail = f"recordings/{missing[0]['id']}.mp3"
        assert (
            "not available"
            in (await get_json(session, ws_url(server, tail), status=404))["message"]
        )


async def test_transcriptions_list_and_files(
    session: aiohttp.ClientSession,
) -> None:
    config = ServerConfig(recordings=RecordingsConfig(transcribed_every=3))
    async with EmbeddedServer(config, dataset=Dataset(100, seed=6)) as server:
        recordings = server.recordings
        results = await all_results(session, ws_url(server, "transcriptions"), [("limit", "7")])
        expected = [
            str(recordings.transcription_id(i))
            for i in reversed(range(100))
            if i % 3 == 0 and not recordings.active(i)
        ]
        assert [t["id"] for t in results] == expected
        first = results[0]
        index = recordings.transcription_index(first["id"])
        assert index is not None
        assert first["recordingId"] == str(recordings.recording_id(index))
        for fmt, start in (
            ("txt", b"agent: "),
            ("srt", b"1\n00:00:00,000 --> "),
            ("vtt", b"WEBVTT"),
            ("json", b"{"),
        ):
            url = ws_url(server, f"transcriptions/{first['id']}.{fmt}")
            async with session.get(url, allow_redirects=False) as redirect:
                assert redirect.status == 307
                location = redirect.headers["Location"]
            async with aiohttp.ClientSession() as anonymous, anonymous.get(location) as media:
                assert media.status == 200
                assert (await media.read()).startswith(start)
        await get_json(session, ws_url(server, f"transcriptions/{first['id']}.doc"), status=404)
        untranscribed = recordings.transcription_id(1)
        await get_json(session, ws_url(server, f"transcriptions/{untranscribed}"), status=404)


def call_recordings_url(server: EmbeddedServer, index: int) -> str:
    ds = server.dataset
    return ws_url(server, f"channels/{ds.channel_id}/calls/{ds.call_ids[index]}/recordings")


@pytest.mark.parametrize("ended", ["empty", "not_found"])
async def test_call_recordings_are_those_of_ongoing_calls(
    dataset: Dataset, session: aiohttp.ClientSession, ended: Any
) -> None:
    config = ServerConfig(recordings=RecordingsConfig(ended_call_recordings=ended))
    async with EmbeddedServer(config, dataset=dataset) as server:
        recordings = server.recordings
        active = next(i for i in range(dataset.size) if recordings.active(i))
        page = await get_json(session, call_recordings_url(server, active))
        (recording,) = page["results"]
        assert recording["callId"] == str(dataset.call_ids[active])
        assert recording["status"] == "ongoing" and recording["endedAt"] == ZERO
        assert "nextPageToken" not in page
        one = f"{call_recordings_url(server, active)}/{recording['id']}"
        assert (await get_json(session, one))["id"] == recording["id"]
        # Not yet the workspace's.
        await get_json(session, ws_url(server, f"recordings/{recording['id']}"), status=404)
        done = listed_indices(server)[0]
        if ended == "empty":
            assert (await get_json(session, call_recordings_url(server, done)))["results"] == []
        else:
            await get_json(session, call_recordings_url(server, done), status=404)
        done_one = f"{call_recordings_url(server, done)}/{recordings.recording_id(done)}"
        await get_json(session, done_one, status=404)
        await get_json(session, call_recordings_url(server, active), [("limit", "1001")], 422)
        bad = ws_url(server, f"channels/{dataset.channel_id}/calls/nope/recordings")
        assert (await get_json(session, bad, status=422))["details"] == {
            "callId": ["must be a valid UUID"]
        }
        missing = dataset.missing_call_id()
        gone = ws_url(server, f"channels/{dataset.channel_id}/calls/{missing}/recordings")
        await get_json(session, gone, status=404)


async def test_same_auth_and_rate_limit_as_the_calls(dataset: Dataset) -> None:
    config = ServerConfig(rate_limit=0.001, burst=2)
    async with EmbeddedServer(config, dataset=dataset) as server:
        async with (
            aiohttp.ClientSession() as anonymous,
            anonymous.get(ws_url(server, "recordings")) as response,
        ):
            assert response.status == 401
        headers = {"Authorization": "AccessKey test-access-key"}
        async with aiohttp.ClientSession(headers=headers) as session:
            statuses = []
            for tail in ("recordings", "transcriptions", "channels/calls"):
                async with session.get(ws_url(server, tail)) as response:
                    statuses.append(response.status)
                    assert "RateLimit-Policy" in response.headers
        # One bucket of 2 for every GET of the workspace: the third is refused.
        assert statuses == [200, 200, 429]


async def test_recordings_can_be_turned_off(
    dataset: Dataset, session: aiohttp.ClientSession
) -> None:
    async with EmbeddedServer(ServerConfig(recordings=None), dataset=dataset) as server:
        await get_json(session, ws_url(server, "recordings"), status=404)
        with pytest.raises(RuntimeError, match="recordings are off"):
            server.objects  # noqa: B018


FIXTURES = Path(__file__).parent.parent / "fixtures"


@pytest.mark.parametrize(
    ("fixture", "tail"),
    [
        ("recording_realistic.json", "recordings"),
        ("transcription_realistic.json", "transcriptions"),
    ],
)
async def test_the_server_speaks_the_references_shape(
    server: EmbeddedServer, session: aiohttp.ClientSession, fixture: str, tail: str
) -> None:
    reference = json.loads((FIXTURES / fixture).read_text())
    minimal = json.loads((FIXTURES / "recording_minimal.json").read_text())
    results = await all_results(session, ws_url(server, tail), [("limit", "99")])
    for result in results:
        assert set(result) <= set(reference)
        if tail == "recordings":
            assert set(minimal) <= set(result)  # the required fields


async def test_a_call_recording_has_the_references_fields(
    server: EmbeddedServer, session: aiohttp.ClientSession
) -> None:
    reference = json.loads((FIXTURES / "call_recording.json").read_text())
    active = next(i for i in range(server.dataset.size) if server.recordings.active(i))
    (recording,) = (await get_json(session, call_recordings_url(server, active)))["results"]
    assert set(recording) == set(reference)


def test_every_recordings_route_is_in_the_contract() -> None:
    spec = yaml.safe_load((Path(__file__).parents[2] / "docs/spec/openapi.yaml").read_text())
    paths = {p.replace("{format}", "json") for p in spec["paths"]}
    for route in (
        RECORDINGS_ROUTE,
        RECORDING_ROUTE,
        RECORDING_ROUTE + ".mp3",
        TRANSCRIPTIONS_ROUTE,
        TRANSCRIPTION_ROUTE,
        TRANSCRIPTION_ROUTE + ".json",
        CALL_RECORDINGS_ROUTE,
        CALL_RECORDING_ROUTE,
    ):
        assert route in paths
    limit = spec["components"]["parameters"]["limitRecordings"]["schema"]
    assert (limit["minimum"], limit["maximum"]) == (1, MAX_RECORDINGS_PAGE_SIZE)


async def test_shards_of_a_window_list_each_recording_once(
    session: aiohttp.ClientSession,
) -> None:
    """Whole-second shards, as the SDK's sharded listings send them, cover the window."""
    ds = Dataset(400, seed=8, span=dt.timedelta(seconds=40))  # ten per second
    start = ds.timeline.start
    bounds = [start + dt.timedelta(seconds=s) for s in (0, 7, 8, 21, 40)]
    async with EmbeddedServer(dataset=ds) as server:
        found: list[str] = []
        for low, high in itertools.pairwise(bounds):
            params = [("startAt", low.isoformat()), ("endAt", high.isoformat()), ("limit", "9")]
            found += [
                r["id"] for r in await all_results(session, ws_url(server, "recordings"), params)
            ]
        expected = server.recordings.listed(bounds[0], bounds[-1])
    assert sorted(found) == sorted(map(str, expected))
    assert len(found) == len(set(found)) > 300
