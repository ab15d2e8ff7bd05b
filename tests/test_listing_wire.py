"""Exact wire form of the list endpoints, asserted with aioresponses (no network)."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from typing import Any

import pytest

from asyncsdk import (
    CallStatus,
    Client,
    ConfigurationError,
    DecodeError,
    InvalidIDError,
    ResponseTooLargeError,
    RetryPolicy,
)

from ._aioresponses_compat import MockAPI
from ._support import ACCESS_KEY, CALL, CHANNEL, MOCK_BASE, WORKSPACE, fixture_bytes

LOG = f"{MOCK_BASE}/workspaces/{WORKSPACE}/channels/calls"
CHANNEL_CALLS = f"{MOCK_BASE}/workspaces/{WORKSPACE}/channels/{CHANNEL}/calls"
ANY_LIST = re.compile(r"^https://api\.bird\.test/workspaces/.*/calls(\?.*)?$")
OTHER_CHANNEL = uuid.UUID("0c0ffee0-1234-4abc-8def-0123456789ab")
WHEN = dt.datetime(2026, 10, 2, 9, 14, 3, 120000, tzinfo=dt.UTC)
LAST_PAGE = fixture_bytes("calls_page_last.json")


def page(token: str | None, *ids: uuid.UUID) -> bytes:
    body: dict[str, Any] = {"results": [{"id": str(i)} for i in ids]}
    if token is not None:
        body["nextPageToken"] = token
    return json.dumps(body).encode()


async def drain(pager: Any) -> list[Any]:
    return [page async for page in pager.pages()]


@pytest.mark.parametrize(
    ("kwargs", "query"),
    [
        ({}, ""),
        ({"status": "completed"}, "status=completed"),
        ({"status": ["completed", CallStatus.BUSY]}, "status=completed&status=busy"),
        ({"status": ("transferred",)}, "status=transferred"),  # a value the API added later
        ({"direction": "incoming"}, "direction=incoming"),
        ({"direction": ["incoming", "outgoing"]}, "direction=incoming&direction=outgoing"),
        ({"type": "pstn"}, "type=pstn"),
        ({"from_": "+31201234567"}, "from=%2B31201234567"),
        ({"to": "+31 6 1234"}, "to=%2B31%206%201234"),
        ({"duration": 0}, "duration=0"),
        ({"start_at": WHEN}, "startAt=2026-10-02T09%3A14%3A03.120Z"),
        ({"end_at": WHEN.replace(microsecond=0)}, "endAt=2026-10-02T09%3A14%3A03Z"),
        (
            {"start_at": dt.datetime(2026, 10, 2, 11, tzinfo=dt.timezone(dt.timedelta(hours=2)))},
            "startAt=2026-10-02T09%3A00%3A00Z",  # sent in UTC
        ),
        ({"end_at": WHEN.replace(microsecond=5)}, "endAt=2026-10-02T09%3A14%3A03.000005Z"),
        # Four-digit years, as RFC 3339 wants (and as Bird writes its zero time).
        ({"start_at": dt.datetime.min.replace(tzinfo=dt.UTC)}, "startAt=0001-01-01T00%3A00%3A00Z"),
        (
            {"start_at": dt.datetime(999, 12, 31, 23, 59, 59, 5000, tzinfo=dt.UTC)},
            "startAt=0999-12-31T23%3A59%3A59.005Z",
        ),
        ({"page_size": 1000}, "limit=1000"),
        ({"page_token": "a+b/c=="}, "pageToken=a%2Bb%2Fc%3D%3D"),
        (
            {"status": "busy", "page_size": 5, "from_": "+1", "start_at": WHEN, "page_token": "t"},
            "limit=5&pageToken=t&startAt=2026-10-02T09%3A14%3A03.120Z&status=busy&from=%2B1",
        ),
    ],
)
@pytest.mark.parametrize("endpoint", ["log", "channel"])
async def test_each_filter_has_its_wire_form(
    mock_api: MockAPI, mock_client: Client, kwargs: dict[str, Any], query: str, endpoint: str
) -> None:
    mock_api.get(ANY_LIST, body=LAST_PAGE)
    if endpoint == "log":
        pager, url = mock_client.list_call_log(WORKSPACE, **kwargs), LOG
    else:
        pager, url = mock_client.list_calls(WORKSPACE, CHANNEL, **kwargs), CHANNEL_CALLS
    await drain(pager)
    assert mock_api.sent == [url + ("?" + query if query else "")]


@pytest.mark.parametrize(
    ("kwargs", "query"),
    [
        ({"channel_ids": CHANNEL}, f"channelId={CHANNEL}"),
        (
            {"channel_ids": [str(CHANNEL).upper(), OTHER_CHANNEL, CHANNEL]},
            f"channelId={CHANNEL}&channelId={OTHER_CHANNEL}",  # canonical, repeats dropped
        ),
        ({"call_id": CALL.hex}, f"id={CALL}"),
        ({"tags": "vip"}, "tag=vip"),
        ({"tags": ["vip", "campaign q3"]}, "tag=vip&tag=campaign%20q3"),
        (
            {"tags": "vip", "channel_ids": CHANNEL, "call_id": CALL, "status": "busy"},
            f"status=busy&channelId={CHANNEL}&id={CALL}&tag=vip",
        ),
    ],
)
async def test_call_log_filters_have_their_wire_form(
    mock_api: MockAPI, mock_client: Client, kwargs: dict[str, Any], query: str
) -> None:
    mock_api.get(ANY_LIST, body=LAST_PAGE)
    await drain(mock_client.list_call_log(WORKSPACE, **kwargs))
    assert mock_api.sent == [f"{LOG}?{query}"]


async def test_the_pager_follows_each_token_until_the_last_page(
    mock_api: MockAPI, mock_client: Client
) -> None:
    ids = [uuid.UUID(int=i, version=4) for i in range(1, 6)]
    mock_api.get(f"{LOG}?limit=2", body=page("t/1=", *ids[:2]))
    mock_api.get(f"{LOG}?limit=2&pageToken=t%2F1%3D", body=page("t2", *ids[2:4]))
    mock_api.get(f"{LOG}?limit=2&pageToken=t2", body=page("", ids[4]))
    calls = [call async for call in mock_client.list_call_log(WORKSPACE, page_size=2)]
    assert [c.id for c in calls] == ids
    assert mock_api.sent == [
        f"{LOG}?limit=2",
        f"{LOG}?limit=2&pageToken=t%2F1%3D",
        f"{LOG}?limit=2&pageToken=t2",
    ]


async def test_a_retried_page_is_the_same_request(mock_api: MockAPI) -> None:
    url = f"{LOG}?status=busy&pageToken=abc"
    mock_api.get(re.compile(r".*"), status=503)
    mock_api.get(re.compile(r".*"), body=LAST_PAGE)
    policy = RetryPolicy(max_retries=2, initial_backoff=0.001, max_backoff=0.001)
    async with Client(access_key=ACCESS_KEY, base_url=MOCK_BASE, retry_policy=policy) as client:
        pages = await drain(client.list_call_log(WORKSPACE, status="busy", page_token="abc"))
        assert client.stats.retries == 1 and client.stats.calls == 1
    assert len(pages) == 1
    expected = url.replace("?status=busy&pageToken=abc", "?pageToken=abc&status=busy")
    assert mock_api.sent == [expected, expected]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"page_size": 0}, ConfigurationError, "page_size must be an int from 1 to 1000"),
        ({"page_size": 1001}, ConfigurationError, "page_size"),
        ({"page_size": True}, ConfigurationError, "page_size"),
        ({"page_size": "10"}, ConfigurationError, "page_size"),
        ({"page_token": ""}, ConfigurationError, "page_token is empty"),
        ({"page_token": "x" * 8001}, ConfigurationError, "8001 characters"),
        ({"page_token": 5}, ConfigurationError, "page_token must be a string"),
        ({"start_at": dt.datetime(2026, 10, 2)}, ConfigurationError, "timezone-aware"),
        ({"end_at": "2026-10-02T00:00:00Z"}, ConfigurationError, "end_at must be a timezone"),
        ({"start_at": WHEN, "end_at": WHEN}, ConfigurationError, "start_at must be before"),
        (  # no UTC time before year 1
            {"start_at": dt.datetime.min.replace(tzinfo=dt.timezone(dt.timedelta(hours=1)))},
            ConfigurationError,
            "start_at is out of range",
        ),
        ({"status": []}, ConfigurationError, "status is empty"),
        ({"status": 5}, ConfigurationError, "status must be a string"),
        ({"status": ["completed", ""]}, ConfigurationError, "status must be 1 to 100"),
        ({"direction": ["in\ncoming"]}, ConfigurationError, "non-printable"),
        ({"from_": ""}, ConfigurationError, "from_ must be 1 to 100"),
        ({"to": "1" * 101}, ConfigurationError, "to must be 1 to 100"),
        ({"duration": -1}, ConfigurationError, "duration must be an int 0 or more"),
        ({"duration": 1.5}, ConfigurationError, "duration"),
        ({"channel_ids": "nope"}, InvalidIDError, "channel_ids"),
        ({"channel_ids": [CHANNEL, "../x"]}, InvalidIDError, "channel_ids"),
        ({"channel_ids": []}, ConfigurationError, "channel_ids is empty"),
        ({"call_id": "12345"}, InvalidIDError, "call_id"),
        ({"tags": ["vip", 3]}, ConfigurationError, "tags must be a string"),
    ],
)
def test_bad_filters_are_refused_before_any_request(
    mock_api: MockAPI, mock_client: Client, kwargs: dict[str, Any], error: type, message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)):
        mock_client.list_call_log(WORKSPACE, **kwargs)
    assert mock_api.sent == []


def test_bad_ids_are_refused_before_any_request(mock_api: MockAPI, mock_client: Client) -> None:
    with pytest.raises(InvalidIDError, match="workspace_id"):
        mock_client.list_call_log("../admin")
    with pytest.raises(InvalidIDError, match="channel_id"):
        mock_client.list_calls(WORKSPACE, "calls")
    assert mock_api.sent == []


async def test_pages_have_their_own_body_cap(mock_api: MockAPI) -> None:
    """A page may be far bigger than a call: its cap is max_page_bytes, not the call's."""
    big = page(None, *(uuid.UUID(int=i, version=4) for i in range(1, 200)))
    mock_api.get(re.compile(r".*/channels/calls.*"), body=big, repeat=True)
    async with Client(
        access_key=ACCESS_KEY, base_url=MOCK_BASE, max_retries=0, max_response_bytes=100
    ) as client:
        assert len((await drain(client.list_call_log(WORKSPACE)))[0].results) == 199
    async with Client(
        access_key=ACCESS_KEY, base_url=MOCK_BASE, max_retries=0, max_page_bytes=len(big) - 1
    ) as client:
        with pytest.raises(ResponseTooLargeError, match="max_response_bytes"):
            await drain(client.list_call_log(WORKSPACE))


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_max_page_bytes_must_be_a_positive_int(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="max_page_bytes"):
        Client(access_key=ACCESS_KEY, max_page_bytes=bad)  # type: ignore[arg-type]


async def test_a_body_that_is_not_a_page_is_a_decode_error(
    mock_api: MockAPI, mock_client: Client
) -> None:
    mock_api.get(LOG, body=b'{"results": [{"id": "x"}]}')
    with pytest.raises(DecodeError) as caught:
        await drain(mock_client.list_call_log(WORKSPACE))
    assert caught.value.path == "$.results[0].id"
    assert caught.value.url == LOG


async def test_a_page_naming_itself_as_next_stops_the_listing(
    mock_api: MockAPI, mock_client: Client
) -> None:
    """A server bug that would page forever is an error, not a hang."""
    mock_api.get(f"{LOG}?pageToken=same", body=page("same", CALL), repeat=True)
    with pytest.raises(DecodeError, match="its own next page"):
        await drain(mock_client.list_call_log(WORKSPACE, page_token="same"))
    assert len(mock_api.sent) == 1
