"""Exact wire form of the recordings and transcriptions endpoints, with aioresponses."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import msgspec
import pytest

from asyncsdk import APIError, Client, DecodeError, RecordingStatus

from ._aioresponses_compat import MockAPI
from ._support import CALL, CHANNEL, MOCK_BASE, WORKSPACE, fixture_bytes

RECORDINGS = f"{MOCK_BASE}/workspaces/{WORKSPACE}/recordings"
TRANSCRIPTIONS = f"{MOCK_BASE}/workspaces/{WORKSPACE}/transcriptions"
CALL_RECORDINGS = f"{MOCK_BASE}/workspaces/{WORKSPACE}/channels/{CHANNEL}/calls/{CALL}/recordings"
ANY = re.compile(r"^https://api\.bird\.test/workspaces/.*$")
WHEN = dt.datetime(2026, 10, 2, 9, 14, 3, tzinfo=dt.UTC)
SOURCE = uuid.UUID("0b1c2d3e-4f5a-4b6c-9d7e-8f9a0b1c2d3e")
RECORDING = uuid.UUID("3c1e9d2a-7b4f-4e8a-9c6d-2f1a0b9e8d7c")


@pytest.mark.parametrize(
    ("kwargs", "query"),
    [
        ({}, ""),
        ({"page_size": 99}, "limit=99"),
        ({"status": RecordingStatus.AVAILABLE}, "status=available"),
        ({"status": ["available", "archived"]}, "status=available&status=archived"),
        ({"direction": "incoming"}, "direction=incoming"),
        ({"channel_id": str(CHANNEL).upper()}, f"channelId={CHANNEL}"),
        ({"source_id": SOURCE}, f"sourceId={SOURCE}"),
        ({"call_id": CALL.hex}, f"id={CALL}"),
        ({"from_": "+31 20"}, "from=%2B31%2020"),
        ({"to": "+316"}, "to=%2B316"),
        (
            {"start_at": WHEN, "end_at": WHEN + dt.timedelta(hours=1), "page_token": "a+b"},
            "pageToken=a%2Bb&startAt=2026-10-02T09%3A14%3A03Z&endAt=2026-10-02T10%3A14%3A03Z",
        ),
    ],
)
async def test_list_recordings_wire_form(
    mock_api: MockAPI, mock_client: Client, kwargs: dict[str, Any], query: str
) -> None:
    mock_api.get(ANY, body=fixture_bytes("recordings_page_last.json"))
    pages = [p async for p in mock_client.list_recordings(WORKSPACE, **kwargs).pages()]
    assert len(pages) == 1 and pages[0].next_page_token is None
    assert mock_api.sent == [RECORDINGS + ("?" + query if query else "")]


async def test_other_endpoints_wire_form(mock_api: MockAPI, mock_client: Client) -> None:
    mock_api.get(ANY, body=fixture_bytes("transcriptions_page.json"))
    mock_api.get(ANY, body=fixture_bytes("recordings_page_empty.json"))
    mock_api.get(ANY, body=fixture_bytes("call_recordings_page.json"))
    mock_api.get(ANY, body=fixture_bytes("recording_realistic.json"))
    mock_api.get(ANY, body=fixture_bytes("transcription_realistic.json"))
    mock_api.get(ANY, body=fixture_bytes("call_recording.json"))
    found = [t async for t in mock_client.list_transcriptions(WORKSPACE, page_size=2)]
    assert len(found) == 2
    recs = [
        r async for r in mock_client.list_call_recordings(WORKSPACE, CHANNEL, CALL, page_size=1000)
    ]
    assert len(recs) == 1
    await mock_client.get_recording(WORKSPACE, RECORDING)
    await mock_client.get_transcription(WORKSPACE, found[0].id)
    await mock_client.get_call_recording(WORKSPACE, CHANNEL, CALL, RECORDING)
    assert mock_api.sent == [
        TRANSCRIPTIONS + "?limit=2",
        TRANSCRIPTIONS + "?limit=2&pageToken=AZ3k8sQ1dHJhbnMtMg.Qm9n7y2x1Lk0pW3e",
        CALL_RECORDINGS + "?limit=1000",
        f"{RECORDINGS}/{RECORDING}",
        f"{TRANSCRIPTIONS}/{found[0].id}",
        f"{CALL_RECORDINGS}/{RECORDING}",
    ]


async def test_a_page_that_is_not_recordings_is_a_decode_error(
    mock_api: MockAPI, mock_client: Client
) -> None:
    mock_api.get(ANY, body=b'{"results": [{"id": "x"}]}')
    with pytest.raises(DecodeError, match="a valid page of recordings") as info:
        [r async for r in mock_client.list_recordings(WORKSPACE)]
    assert info.value.path == "$.results[0].id"


async def test_a_307_names_the_redirect_without_its_signature(
    mock_api: MockAPI, mock_client: Client
) -> None:
    location = "https://s3.example/r.mp3?X-Amz-Credential=AKIA&X-Amz-Signature=0f3a"
    mock_api.get(ANY, status=307, headers={"Location": location})
    with pytest.raises(APIError, match=r"unexpected redirect 307") as info:
        await mock_client.get_recording(WORKSPACE, RECORDING)
    assert info.value.status == 307
    assert "s3.example/r.mp3" in str(info.value)
    assert "X-Amz" not in str(info.value) and "AKIA" not in str(info.value)
    assert len(mock_api.sent) == 1  # not followed


async def test_a_recording_served_again_on_the_next_page_is_listed_once(
    mock_api: MockAPI, mock_client: Client
) -> None:
    """The pager's repeat rule (a counting page token) holds for every item type."""
    ids = [uuid.UUID(int=i, version=4) for i in range(1, 5)]
    first = {"results": [{"id": str(i)} for i in ids[:2]], "nextPageToken": "p2"}
    second = {"results": [{"id": str(i)} for i in ids[1:]]}  # ids[1] again
    mock_api.get(ANY, body=msgspec.json.encode(first))
    mock_api.get(ANY, body=msgspec.json.encode(second))
    found = [r.id async for r in mock_client.list_recordings(WORKSPACE, page_size=2)]
    assert found == ids
    assert mock_api.sent == [RECORDINGS + "?limit=2", RECORDINGS + "?limit=2&pageToken=p2"]


@pytest.mark.parametrize("slash", ["/", "\\/"], ids=["plain", "escaped"])
async def test_a_decode_error_keeps_the_body_without_presigned_queries(
    mock_api: MockAPI, mock_client: Client, slash: str
) -> None:
    """The body a DecodeError keeps (for logs) holds no presigned signature."""
    url = f"https:{slash}{slash}s3.example{slash}r.mp3?X-Amz-Credential=AKIA&X-Amz-Signature=0f3a"
    body = f'{{"results": [{{"id": "{RECORDING}", "url": "{url}", "duration": "long"}}]}}'
    mock_api.get(ANY, body=body.encode())
    mock_api.get(ANY, body=body.encode()[len('{"results": [') : -2])
    with pytest.raises(DecodeError) as info:
        [r async for r in mock_client.list_recordings(WORKSPACE)]
    with pytest.raises(DecodeError) as single:
        await mock_client.get_recording(WORKSPACE, RECORDING)
    for err in (info.value, single.value):
        assert b"X-Amz" not in err.body and b"AKIA" not in err.body
        assert b"r.mp3?[redacted]" in err.body
        assert "X-Amz" not in str(err)
