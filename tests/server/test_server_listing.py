"""The server's list endpoints over loopback HTTP: order, pages, filters, tokens, errors."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgspec
import pytest
from multidict import MultiDict

from asyncsdk.models import Call, CallPage
from asyncsdk.server import Dataset, EmbeddedServer, Faults, ServerConfig
from asyncsdk.server._listing import Listing

Params = list[tuple[str, str]]


@pytest.fixture
async def server(dataset: Dataset) -> AsyncIterator[EmbeddedServer]:
    async with EmbeddedServer(dataset=dataset) as srv:
        yield srv


def log_url(server: EmbeddedServer, workspace: object = None) -> str:
    ws = server.dataset.workspace_id if workspace is None else workspace
    return f"{server.base_url}/workspaces/{ws}/channels/calls"


def channel_url(server: EmbeddedServer, channel: object = None) -> str:
    ds = server.dataset
    ch = ds.channel_id if channel is None else channel
    return f"{server.base_url}/workspaces/{ds.workspace_id}/channels/{ch}/calls"


async def get_page(
    session: aiohttp.ClientSession, url: str, params: Params | None = None
) -> CallPage:
    async with session.get(url, params=params or []) as response:
        body = await response.read()
        assert response.status == 200, body
    return CallPage.from_json(body)


async def get_problem(
    session: aiohttp.ClientSession, url: str, params: Params, status: int = 422
) -> dict[str, Any]:
    async with session.get(url, params=params) as response:
        assert response.status == status
        problem: dict[str, Any] = await response.json()
    return problem


async def all_pages(
    session: aiohttp.ClientSession, url: str, params: Params | None = None
) -> list[CallPage]:
    pages = [await get_page(session, url, params)]
    while (token := pages[-1].next_page_token) is not None:
        pages.append(await get_page(session, url, [*(params or []), ("pageToken", token)]))
    return pages


def key(call: Call) -> tuple[dt.datetime, uuid.UUID]:
    assert call.created_at is not None
    return (call.created_at, call.id)


async def test_default_page_sizes_are_the_references(
    server: EmbeddedServer, session: aiohttp.ClientSession
) -> None:
    assert len((await get_page(session, channel_url(server))).results) == 25
    assert len((await get_page(session, log_url(server))).results) == 10


@pytest.mark.parametrize("route", ["log", "channel"])
async def test_pages_list_every_call_once_newest_first(
    server: EmbeddedServer, session: aiohttp.ClientSession, route: str
) -> None:
    url = log_url(server) if route == "log" else channel_url(server)
    pages = await all_pages(session, url, [("limit", "30")])
    calls = [call for page in pages for call in page.results]
    assert [c.id for c in calls] == list(reversed(server.dataset.call_ids))
    assert [key(c) for c in calls] == sorted(map(key, calls), reverse=True)
    assert [len(p.results) for p in pages] == [30] * 6 + [20]
    assert pages[-1].next_page_token is None
    assert calls[0] == server.dataset.call(calls[0].id)  # the same body as Get a call


async def test_the_window_is_half_open_on_created_at(session: aiohttp.ClientSession) -> None:
    """startAt is inclusive, endAt exclusive, to the millisecond, ties included."""
    ds = Dataset(500, seed=4, span=dt.timedelta(milliseconds=100))  # 5 calls per ms
    timeline = ds.timeline
    start, end = timeline.created_at(101), timeline.created_at(302)
    expected = {c for i, c in enumerate(ds.call_ids) if start <= timeline.created_at(i) < end}
    assert 190 < len(expected) < 210
    async with EmbeddedServer(dataset=ds) as server:
        params = [("startAt", start.isoformat()), ("endAt", end.isoformat()), ("limit", "7")]
        pages = await all_pages(session, log_url(server), params)
    assert {c.id for p in pages for c in p.results} == expected
    assert sum(len(p.results) for p in pages) == len(expected)


@pytest.mark.parametrize(
    ("params", "check"),
    [
        ([("status", "completed")], lambda c: c.status == "completed"),
        ([("status", "busy"), ("status", "failed")], lambda c: c.status in ("busy", "failed")),
        ([("direction", "incoming")], lambda c: c.direction == "incoming"),
        ([("type", "pstn")], lambda c: c.type == "pstn"),
        ([("tag", "vip")], lambda c: "vip" in (c.tags or ())),
        (
            [("tag", "vip"), ("status", "completed")],
            lambda c: "vip" in (c.tags or ()) and c.status == "completed",
        ),
    ],
)
async def test_filters_keep_only_matching_calls(
    server: EmbeddedServer, session: aiohttp.ClientSession, params: Params, check: Any
) -> None:
    pages = await all_pages(session, log_url(server), [*params, ("limit", "1000")])
    found = [c for p in pages for c in p.results]
    everything = [server.dataset.call(i) for i in server.dataset.call_ids]
    expected = [c.id for c in reversed(everything) if c is not None and check(c)]
    assert [c.id for c in found] == expected
    assert expected  # the filter matched something


async def test_number_duration_and_id_filters(
    server: EmbeddedServer, session: aiohttp.ClientSession
) -> None:
    ds = server.dataset
    sample = next(
        c for c in map(ds.call, ds.call_ids) if c is not None and c.duration and c.from_ and c.to
    )
    assert sample.from_ is not None and sample.to is not None
    for name, value in (("from", sample.from_), ("to", sample.to)):
        found = [
            c for p in await all_pages(session, log_url(server), [(name, value)]) for c in p.results
        ]
        assert sample.id in {c.id for c in found}
        assert all(getattr(c, "from_" if name == "from" else "to") == value for c in found)
    found = [
        c
        for p in await all_pages(session, log_url(server), [("duration", str(sample.duration))])
        for c in p.results
    ]
    assert sample.id in {c.id for c in found} and {c.duration for c in found} == {sample.duration}
    page = await get_page(session, log_url(server), [("id", str(sample.id))])
    assert [c.id for c in page.results] == [sample.id] and page.next_page_token is None


async def test_channel_filter_of_the_log(
    server: EmbeddedServer, session: aiohttp.ClientSession
) -> None:
    ds = server.dataset
    other = str(uuid.uuid4())
    mine = await get_page(
        session, log_url(server), [("channelId", other), ("channelId", str(ds.channel_id))]
    )
    assert len(mine.results) == 10
    none = await get_page(session, log_url(server), [("channelId", other)])
    assert none.results == [] and none.next_page_token is None


async def test_a_filtered_scan_may_answer_a_short_page_with_a_token(
    session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page holds fewer calls than the limit while more follow, as the spec allows."""
    monkeypatch.setattr("asyncsdk.server._listing.SCAN_PER_PAGE", 50)
    async with EmbeddedServer(dataset=Dataset(400, seed=1)) as server:
        pages = await all_pages(
            session, log_url(server), [("status", "completed"), ("limit", "100")]
        )
    assert len(pages) >= 8
    assert any(len(p.results) < 100 and p.next_page_token for p in pages)
    completed = [c.id for p in pages for c in p.results]
    assert len(completed) == len(set(completed)) > 0


# --- tokens ------------------------------------------------------------------------


async def test_tokens_are_opaque_and_signed(
    server: EmbeddedServer, session: aiohttp.ClientSession
) -> None:
    page = await get_page(session, log_url(server))
    token = page.next_page_token
    assert token is not None and "." in token
    payload, signature = token.split(".")
    assert len(base64.urlsafe_b64decode(signature + "==")) == 16
    flipped = ("A" if payload[5] != "A" else "B").join((payload[:5], payload[6:]))
    for bad in (
        f"{flipped}.{signature}",
        f"{payload}.{signature[:-2]}AA",
        "not-a-token",
        "x" * 9000,
    ):
        problem = await get_problem(session, log_url(server), [("pageToken", bad)])
        assert problem["code"] == "InvalidParameter"
        assert "pageToken" in problem["details"]


async def test_a_token_is_bound_to_its_query(
    server: EmbeddedServer, session: aiohttp.ClientSession
) -> None:
    """Another filter, window or endpoint with the token: 422; another limit is fine."""
    page = await get_page(session, log_url(server), [("status", "completed")])
    token = page.next_page_token
    assert token is not None
    for params in (
        [("status", "busy")],
        [],
        [("status", "completed"), ("startAt", "2026-01-01T00:00:00Z")],
    ):
        problem = await get_problem(session, log_url(server), [*params, ("pageToken", token)])
        assert "another query" in problem["message"]
    await get_problem(session, channel_url(server), [("status", "completed"), ("pageToken", token)])
    same = await get_page(
        session, log_url(server), [("status", "completed"), ("pageToken", token), ("limit", "3")]
    )
    assert len(same.results) == 3


async def test_a_token_of_another_server_is_refused(
    dataset: Dataset, session: aiohttp.ClientSession
) -> None:
    async with EmbeddedServer(ServerConfig(seed=1), dataset=dataset) as first:
        token = (await get_page(session, log_url(first))).next_page_token
    assert token is not None
    async with EmbeddedServer(ServerConfig(seed=2), dataset=dataset) as second:
        problem = await get_problem(session, log_url(second), [("pageToken", token)])
    assert "signature" in problem["message"]


# --- errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ([("limit", "0")], "limit"),
        ([("limit", "1001")], "limit"),
        ([("limit", "ten")], "limit"),
        ([("limit", "1_0")], "limit"),
        ([("startAt", "yesterday")], "startAt"),
        ([("startAt", "2026-10-02")], "startAt"),
        ([("endAt", "2026-10-02T00:00:00")], "endAt"),
        ([("startAt", "2026-10-02T00:00:00Z"), ("endAt", "2026-10-01T00:00:00Z")], "endAt"),
        ([("duration", "-1")], "duration"),
        ([("from", "x" * 101)], "from"),
        ([("channelId", "not-a-uuid")], "channelId"),
        ([("id", "42")], "id"),
    ],
)
async def test_bad_parameters_are_422_like_the_api(
    server: EmbeddedServer, session: aiohttp.ClientSession, params: Params, name: str
) -> None:
    problem = await get_problem(session, log_url(server), params)
    assert problem["code"] == "InvalidParameter"
    assert list(problem["details"]) == [name]


async def test_unknown_workspace_and_channel_are_404(
    server: EmbeddedServer, session: aiohttp.ClientSession
) -> None:
    await get_problem(session, log_url(server, uuid.uuid4()), [], status=404)
    await get_problem(session, channel_url(server, uuid.uuid4()), [], status=404)
    await get_problem(session, channel_url(server, "nope"), [], status=422)


async def test_rate_limit_and_faults_apply_to_list_requests(
    dataset: Dataset, session: aiohttp.ClientSession
) -> None:
    async with EmbeddedServer(ServerConfig(rate_limit=0.001, burst=1), dataset=dataset) as server:
        await get_page(session, log_url(server))
        async with session.get(log_url(server)) as response:
            assert response.status == 429
            assert response.headers["Retry-After"]
    async with EmbeddedServer(
        ServerConfig(faults=Faults(error_503=1.0)), dataset=dataset
    ) as server:
        await get_problem(session, log_url(server), [], status=503)
        assert server.stats.faults["503"] == 1


def test_page_latency_grows_with_the_page_size(dataset: Dataset) -> None:
    listing = Listing(ServerConfig(page_latency=0.1), dataset)
    ids = {"workspaceId": str(dataset.workspace_id)}
    full = listing.answer(ids, MultiDict(limit="1000"), log=True)
    small = listing.answer(ids, MultiDict(limit="20"), log=True)
    assert full.status == small.status == 200
    assert full.delay == pytest.approx(0.1 * dataset.size / 1000)
    assert small.delay == pytest.approx(0.1 * 20 / 1000)
    assert len(msgspec.json.decode(full.body)["results"]) == dataset.size


async def test_requests_record_their_query(
    server: EmbeddedServer, session: aiohttp.ClientSession
) -> None:
    await get_page(session, log_url(server), [("status", "no-answer"), ("limit", "2")])
    [request] = server.requests
    assert request.query == "status=no-answer&limit=2"
    assert request.call_id == ""


# --- how the window is read: precision, bound conventions, unlisted calls ------------------

PRECISIONS = {"second": 1_000_000, "millisecond": 1000, "microsecond": 1}


@pytest.mark.parametrize("precision", list(PRECISIONS))
@pytest.mark.parametrize("start_inclusive", [True, False], ids=["start-in", "start-ex"])
@pytest.mark.parametrize("end_inclusive", [True, False], ids=["end-in", "end-ex"])
async def test_the_window_is_read_as_configured(
    session: aiohttp.ClientSession, precision: str, start_inclusive: bool, end_inclusive: bool
) -> None:
    """Bounds cut to the precision, then compared inclusively or not, ties included."""
    ds = Dataset(3000, seed=5, span=dt.timedelta(seconds=3))  # 1 call per ms
    timeline = ds.timeline
    sent_start = timeline.created_at(700) + dt.timedelta(microseconds=250)
    sent_end = timeline.created_at(2300) + dt.timedelta(microseconds=250)
    keep = PRECISIONS[precision]
    start = sent_start.replace(microsecond=sent_start.microsecond // keep * keep)
    end = sent_end.replace(microsecond=sent_end.microsecond // keep * keep)

    def inside(when: dt.datetime) -> bool:
        after = when >= start if start_inclusive else when > start
        before = when <= end if end_inclusive else when < end
        return after and before

    expected = {c for i, c in enumerate(ds.call_ids) if inside(timeline.created_at(i))}
    config = ServerConfig(
        time_precision=precision,  # type: ignore[arg-type]  # checked: one of the three
        start_inclusive=start_inclusive,
        end_inclusive=end_inclusive,
    )
    async with EmbeddedServer(config, dataset=ds) as server:
        params = [
            ("startAt", sent_start.isoformat()),
            ("endAt", sent_end.isoformat()),
            ("limit", "1000"),
        ]
        pages = await all_pages(session, log_url(server), params)
    found = [c.id for p in pages for c in p.results]
    assert len(found) == len(set(found))
    assert set(found) == expected


async def test_unlisted_calls_are_left_out_of_every_listing(
    session: aiohttp.ClientSession,
) -> None:
    ds = Dataset(300, seed=6, span=dt.timedelta(seconds=1))
    hidden = {ds.call_ids[i] for i in (0, 5, 150, 299)}
    async with EmbeddedServer(ServerConfig(unlisted=frozenset(hidden)), dataset=ds) as server:
        plain = await all_pages(session, log_url(server), [("limit", "40")])
        filtered = await all_pages(session, channel_url(server), [("direction", "incoming")])
        async with session.get(server.call_url(ds.call_ids[5])) as response:
            assert response.status == 200  # Get a call still finds it
    assert {c.id for p in plain for c in p.results} == set(ds.call_ids) - hidden
    incoming = {c.id for p in filtered for c in p.results}
    assert incoming and not incoming & hidden


def test_the_listing_options_are_checked() -> None:
    with pytest.raises(ValueError, match="time_precision"):
        ServerConfig(time_precision="minute")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="end_inclusive"):
        ServerConfig(end_inclusive=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unlisted"):
        ServerConfig(unlisted=frozenset({"not-a-uuid"}))  # type: ignore[arg-type]


async def test_offset_tokens_list_each_call_once_when_nothing_changes(
    dataset: Dataset, session: aiohttp.ClientSession
) -> None:
    async with EmbeddedServer(ServerConfig(offset_tokens=True), dataset=dataset) as server:
        pages = await all_pages(session, log_url(server), [("limit", "30")])
    assert [c.id for p in pages for c in p.results] == list(reversed(dataset.call_ids))


@pytest.mark.parametrize("offset_tokens", [True, False], ids=["offset", "key"])
async def test_calls_created_during_a_listing_shift_offset_tokens_only(
    session: aiohttp.ClientSession, offset_tokens: bool
) -> None:
    """Three calls appear at the top from the second request on."""
    ds = Dataset(100, seed=7, span=dt.timedelta(seconds=1))
    newest = frozenset(ds.call_ids[-3:])
    config = ServerConfig(unlisted=newest, unlisted_until=2, offset_tokens=offset_tokens)
    async with EmbeddedServer(config, dataset=ds) as server:
        pages = await all_pages(session, log_url(server), [("limit", "10")])
        again = await get_page(session, log_url(server), [("limit", "10")])
    ids = [c.id for p in pages for c in p.results]
    assert not newest & set(ids)  # created above where the listing was
    assert set(ids) == set(ds.call_ids) - newest
    repeated = len(ids) - len(set(ids))
    assert repeated == (3 if offset_tokens else 0)
    assert newest <= {c.id for c in again.results}  # listed from the second request on
