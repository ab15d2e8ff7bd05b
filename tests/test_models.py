"""The call models decode every fixture as its README says, and round-trip losslessly."""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec
import pytest

import asyncsdk
from asyncsdk import Call, CallDirection, CallFlowCommandName, CallStatus

from ._support import fixture_bytes

CALL_FIXTURES = [
    "call_seed_example.json",
    "call_realistic.json",
    "call_minimal.json",
    "call_nulls.json",
    "call_future_values.json",
]


@pytest.mark.parametrize("name", CALL_FIXTURES)
def test_fixture_round_trips_losslessly(name: str) -> None:
    """decode -> encode -> decode gives an equal call, and the JSON stays camelCase."""
    call = Call.from_json(fixture_bytes(name))
    encoded = call.to_json()
    assert Call.from_json(encoded) == call
    assert all("_" not in key for key in msgspec.json.decode(encoded))


def test_realistic_call_has_typed_values() -> None:
    call = Call.from_json(fixture_bytes("call_realistic.json"))
    assert call.id == uuid.UUID("5f0c7a9e-3b1d-4c8e-9a52-1d7e0b6f2a41")
    assert isinstance(call.channel_id, uuid.UUID)
    assert call.from_ == "+31201234567"
    assert call.to == "+31612345678"
    assert call.status == CallStatus.COMPLETED
    assert call.direction == CallDirection.OUTGOING
    assert call.duration == 187
    assert call.parent_id is None
    assert call.scheduled_for is None
    assert call.tags == ["support", "nl"]
    assert call.originator is not None and call.originator.number is not None
    assert call.originator.number.caller_id_name == "Front Desk"
    assert call.receiver is not None and call.receiver.contact is not None
    assert call.receiver.contact.identifier_value == "+31612345678"
    assert call.quality_insights is not None and call.quality_insights.mos == "4.31"
    assert call.sip_insights is not None and call.sip_insights.edge_region == "eu-west-1"
    assert call.amd_result is not None and call.amd_result.result == "human"
    flow = call.call_flow
    assert flow is not None and flow.commands is not None
    assert [c.command for c in flow.commands] == ["say", "gather", "hangup"]
    assert flow.commands[0].conditions == []
    gather = flow.commands[1]
    assert gather.conditions is not None and gather.conditions[0].value == "1"
    assert gather.command == CallFlowCommandName.GATHER


def test_timestamps_are_timezone_aware_including_offsets() -> None:
    call = Call.from_json(fixture_bytes("call_realistic.json"))
    assert call.created_at == dt.datetime(2026, 10, 2, 9, 14, 3, 120000, tzinfo=dt.UTC)
    # "+00:00" rather than "Z"
    assert call.answered_at == dt.datetime(2026, 10, 2, 9, 14, 12, 400000, tzinfo=dt.UTC)
    for value in (call.created_at, call.updated_at, call.ringing_at, call.ended_at):
        assert value is not None and value.utcoffset() is not None


def test_naive_timestamp_is_rejected_with_its_path() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"\$\.createdAt"):
        Call.from_json(
            b'{"id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "createdAt": "2026-10-02T09:14:03"}'
        )


def test_minimal_call_has_only_an_id() -> None:
    call = Call.from_json(fixture_bytes("call_minimal.json"))
    assert call.id == uuid.UUID("9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d")
    other = [getattr(call, f) for f in call.__struct_fields__ if f != "id"]
    assert other and all(v is None for v in other)
    assert call.to_json() == b'{"id":"9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"}'


def test_nulls_read_as_none() -> None:
    call = Call.from_json(fixture_bytes("call_nulls.json"))
    assert call.status == "ringing"
    assert call.receiver == asyncsdk.Party(contact=None, number=None)
    assert call.originator is None and call.tags is None and call.call_flow is None


def test_future_values_decode_and_unknown_fields_are_ignored() -> None:
    call = Call.from_json(fixture_bytes("call_future_values.json"))
    assert call.status == "transferred"
    assert call.direction == "internal"
    assert call.type == "webrtc"
    assert call.hangup_source == "system"
    assert call.sip_type == "trunk"
    assert call.amd_result is not None and call.amd_result.result == "fax"
    assert call.status not in set(CallStatus)
    assert not hasattr(call, "recording") and not hasattr(call, "billing")


def test_wrong_type_names_the_field() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"\$\.duration"):
        Call.from_json(fixture_bytes("call_wrong_type.json"))


def test_id_is_required() -> None:
    with pytest.raises(msgspec.ValidationError, match="id"):
        Call.from_json(b'{"status": "completed"}')


def test_calls_are_immutable_and_hashable() -> None:
    call = Call.from_json(fixture_bytes("call_minimal.json"))
    with pytest.raises(AttributeError):
        call.status = "busy"  # type: ignore[misc]
    assert hash(call) == hash(Call.from_json(fixture_bytes("call_minimal.json")))


def test_enum_constants_are_plain_strings() -> None:
    assert asyncsdk.CallStatus.COMPLETED == "completed"
    assert asyncsdk.CallStatus.NO_ANSWER == "no-answer"
    assert isinstance(asyncsdk.CallDirection.INCOMING, str)
    known = {
        asyncsdk.CallStatus: {
            "accepted",
            "starting",
            "ringing",
            "ongoing",
            "completed",
            "no-answer",
            "busy",
            "failed",
        },
        asyncsdk.CallDirection: {"incoming", "outgoing"},
        asyncsdk.CallFlowCommandName: {
            "answer",
            "hangup",
            "playback",
            "say",
            "gather",
            "record",
            "bridge",
            "pause",
            "ringing",
        },
    }
    for enum, values in known.items():
        assert {m.value for m in enum} == values


def test_snake_case_attributes_map_to_camel_case_json() -> None:
    call = Call(id=uuid.UUID(int=1), from_="+1", hangup_cause_code=16, sip_type="elastic")
    assert msgspec.json.decode(call.to_json()) == {
        "id": "00000000-0000-0000-0000-000000000001",
        "from": "+1",
        "hangupCauseCode": 16,
        "sipType": "elastic",
    }


# --- pages of the list endpoints ---


def test_a_page_decodes_its_calls_and_token() -> None:
    page = asyncsdk.CallPage.from_json(fixture_bytes("calls_page.json"))
    assert [type(c) for c in page.results] == [Call, Call]
    assert page.results[0].id == uuid.UUID("5f0c7a9e-3b1d-4c8e-9a52-1d7e0b6f2a41")
    assert page.next_page_token is not None and page.next_page_token.startswith("WyIy")


@pytest.mark.parametrize("name", ["calls_page_last.json", "calls_page_empty.json"])
def test_a_missing_or_empty_token_reads_as_the_end(name: str) -> None:
    page = asyncsdk.CallPage.from_json(fixture_bytes(name))
    assert page.next_page_token is None


def test_a_page_without_results_is_refused() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"results"):
        asyncsdk.CallPage.from_json(b'{"nextPageToken": "x"}')


def test_page_decoding_restores_the_garbage_collector() -> None:
    """The collector is paused for the decode only, and restored after an error too."""
    import gc

    assert gc.isenabled()
    asyncsdk.CallPage.from_json(fixture_bytes("calls_page.json"))
    assert gc.isenabled()
    with pytest.raises(msgspec.ValidationError):
        asyncsdk.CallPage.from_json(b'{"results": [{"id": 1}]}')
    assert gc.isenabled()
    gc.disable()
    try:
        asyncsdk.CallPage.from_json(fixture_bytes("calls_page.json"))
        assert not gc.isenabled()  # a caller's choice is left alone
    finally:
        gc.enable()
