"""Generate one realistic call, as the API's camelCase JSON object, from a seeded RNG.

`generate_call` is a pure function of its arguments: the same ``random.Random`` state
and ``created_at`` give the same object. Every call has a ``createdAt`` (the list
endpoints order and window by it); the other timestamps follow it. The mix is meant to
look like production traffic: mostly complete records, some with ``null`` or absent
fields, a few bare ones, and a few with enum values and fields the API may add later
(which clients must tolerate).

Imports: the standard library only.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Sequence
from typing import Any

__all__ = ["generate_call"]

#: A JSON object as the encoder takes it.
JsonObject = dict[str, Any]

#: (status, weight): the known values, then one the API may add later.
_STATUSES: Sequence[tuple[str, int]] = (
    ("completed", 45),
    ("no-answer", 12),
    ("busy", 8),
    ("failed", 7),
    ("ongoing", 6),
    ("ringing", 5),
    ("accepted", 3),
    ("starting", 2),
    ("transferred", 3),
)
#: (ISO country, country prefix, (national prefix, digits after it, pstnNumberType)...).
_COUNTRIES: Sequence[tuple[str, str, Sequence[tuple[str, int, str]]]] = (
    ("NL", "+31", (("6", 8, "mobile"), ("20", 7, "geographic"), ("85", 7, "national"))),
    ("GB", "+44", (("7", 9, "mobile"), ("20", 8, "geographic"))),
    ("DE", "+49", (("15", 9, "mobile"), ("30", 8, "geographic"))),
    ("US", "+1", (("415", 7, "geographic"), ("800", 7, "toll-free"))),
    ("BR", "+55", (("119", 8, "mobile"),)),
)
_CALLER_NAMES: Sequence[str] = ("Front Desk", "Support", "Sales", "", "Billing", "Dispatch")
_COMMANDS: Sequence[str] = (
    "answer",
    "say",
    "playback",
    "gather",
    "record",
    "bridge",
    "pause",
    "ringing",
    "hangup",
)
_COMMAND_STATUSES: Sequence[str] = ("executed", "executed", "executed", "pending", "failed")
_TAGS: Sequence[str] = ("support", "sales", "nl", "uk", "vip", "campaign-q3", "callback")
_REGIONS: Sequence[str] = ("eu-west-1", "eu-central-1", "us-east-1", "ap-southeast-1")
_PROVIDERS: Sequence[str] = ("carrier-a", "carrier-b", "carrier-c")
_LOCALES: Sequence[str] = ("en-GB", "en-US", "nl-NL", "de-DE", "pt-BR")
_SPEECH: Sequence[str] = ("hello, this is Sam", "hi", "", "good morning, Bird support")
#: Hang-up cause (Q.850) and SIP code for each terminal status.
_HANGUP: dict[str, tuple[int, str, str]] = {
    "completed": (16, "200", "normal-clearing"),
    "no-answer": (19, "480", "no-answer"),
    "busy": (17, "486", "user-busy"),
    "failed": (41, "503", "temporary-failure"),
    "transferred": (16, "200", "transferred"),
}
#: Statuses whose call has been answered, and those whose call has ended.
_ANSWERED = frozenset(("completed", "ongoing", "transferred"))
_ENDED = frozenset(("completed", "no-answer", "busy", "failed", "transferred"))
#: Probabilities of the rarer shapes of record.
_P_MINIMAL = 0.03
_P_ALL_NULL = 0.03
_P_FIELD_NULL = 0.08
_P_FUTURE = 0.04
_P_PLUS_OFFSET = 0.3


def _uuid4(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _timestamp(rng: random.Random, when: dt.datetime) -> str:
    text = when.isoformat(timespec="milliseconds")  # "...T09:14:03.120+00:00"
    return text if rng.random() < _P_PLUS_OFFSET else text[: -len("+00:00")] + "Z"


def _e164(rng: random.Random) -> tuple[str, str, str]:
    """Return an E.164 number, its ISO country code and its pstnNumberType."""
    iso, country, plans = rng.choice(_COUNTRIES)
    prefix, digits, kind = rng.choice(plans)
    subscriber = f"{rng.randrange(10**digits):0{digits}d}"
    return f"{country}{prefix}{subscriber}", iso, kind


def _party(rng: random.Random, number: str, iso: str, kind: str) -> JsonObject:
    anonymous = rng.random() < 0.05
    return {
        "contact": None
        if rng.random() < 0.2
        else {
            "id": f"c-{rng.randrange(10_000, 99_999)}",
            "identifierKey": "phonenumber",
            "identifierValue": number,
        },
        "number": {
            "type": "pstn",
            "number": number,
            "anonymous": anonymous,
            "callerIdName": rng.choice(_CALLER_NAMES),
            "identity": number,
            "countryIsoCode": iso,
            "pstnNumberType": kind,
        },
    }


def _call_flow(rng: random.Random, call_id: str) -> JsonObject:
    flow_id = _uuid4(rng)
    commands = []
    for _ in range(rng.randrange(5)):
        conditions = [
            {"variable": "keys", "operator": "eq", "value": str(rng.randrange(10))}
            for _ in range(rng.choice((0, 0, 1, 2)))
        ]
        commands.append(
            {
                "id": _uuid4(rng),
                "callId": call_id,
                "callFlowId": flow_id,
                "status": rng.choice(_COMMAND_STATUSES),
                "command": rng.choice(_COMMANDS),
                "conditions": conditions,
            }
        )
    return {"id": flow_id, "commands": commands}


def _times(rng: random.Random, status: str, created: dt.datetime) -> tuple[JsonObject, int | None]:
    """Return the timestamp fields for ``status`` and the duration in seconds."""
    ringing = created + dt.timedelta(milliseconds=rng.randrange(300, 4000))
    answered = ringing + dt.timedelta(milliseconds=rng.randrange(1000, 20_000))
    duration = rng.randrange(1, 1800) if status in _ANSWERED else 0
    if status in _ANSWERED:
        ended = answered + dt.timedelta(seconds=duration)
    else:
        ended = ringing + dt.timedelta(seconds=rng.randrange(1, 40))
    has_ringing = status not in ("accepted", "starting")
    fields: JsonObject = {
        "createdAt": _timestamp(rng, created),
        "updatedAt": _timestamp(rng, ended if status in _ENDED else ringing),
        "ringingAt": _timestamp(rng, ringing) if has_ringing else None,
        "answeredAt": _timestamp(rng, answered) if status in _ANSWERED else None,
        "endedAt": _timestamp(rng, ended) if status in _ENDED else None,
        "scheduledFor": None,
    }
    return fields, (duration if status in _ENDED else None)


def _full_call(
    rng: random.Random, call_id: str, channel_id: str, created: dt.datetime
) -> JsonObject:
    status = rng.choices([s for s, _ in _STATUSES], [w for _, w in _STATUSES])[0]
    direction = rng.choice(("incoming", "outgoing"))
    caller, caller_iso, caller_kind = _e164(rng)
    callee, callee_iso, callee_kind = _e164(rng)
    times, duration = _times(rng, status, created)
    cause, sip_code, reason = _HANGUP.get(status, (None, None, None))
    ended = status in _ENDED
    call: JsonObject = {
        "id": call_id,
        "channelId": channel_id,
        "from": caller,
        "to": callee,
        "originator": _party(rng, caller, caller_iso, caller_kind),
        "receiver": _party(rng, callee, callee_iso, callee_kind),
        "parentId": _uuid4(rng) if rng.random() < 0.1 else None,
        "direction": direction,
        "status": status,
        "reason": reason,
        "type": "pstn",
        "duration": duration,
        "hangupCauseCode": cause,
        "hangupSource": rng.choice(("callee", "caller")) if ended else None,
        "hangupSipCode": sip_code,
        **times,
        "callFlow": _call_flow(rng, call_id) if rng.random() < 0.7 else None,
        "notification": {"url": "https://hooks.example.com/bird/calls"}
        if rng.random() < 0.5
        else None,
        "qualityInsights": {
            "mos": f"{rng.uniform(2.5, 4.5):.2f}",
            "pdd": f"{rng.uniform(0.5, 4.0):.2f}",
        }
        if status in _ANSWERED
        else None,
        "sipInsights": {
            "hangupSipCode": sip_code,
            "edgeRegion": rng.choice(_REGIONS),
            "providerName": rng.choice(_PROVIDERS),
            "userAgent": "Bird-Edge/2.4",
            "remoteSignallingIp": f"198.51.100.{rng.randrange(1, 255)}",
            "remoteMediaIp": f"198.51.100.{rng.randrange(1, 255)}",
        },
        "amdResult": {
            "result": "human",
            "speech": rng.choice(_SPEECH),
            "locale": rng.choice(_LOCALES),
        }
        if direction == "outgoing" and status in _ANSWERED
        else None,
        "sipType": "elastic",
        "tags": rng.sample(_TAGS, rng.randrange(4)),
    }
    for key in list(call):
        if key not in ("id", "status", "createdAt") and rng.random() < _P_FIELD_NULL:
            if rng.random() < 0.5:
                call[key] = None
            else:
                del call[key]
    return call


def _add_future_values(rng: random.Random, call: JsonObject) -> None:
    """Mark a call with values and fields the API may add later."""
    call["status"] = "transferred"
    if rng.random() < 0.5:
        call["direction"] = "internal"
    if rng.random() < 0.5:
        call["type"] = "webrtc"
    call["recording"] = {"id": f"r-{rng.randrange(1000)}", "state": "available"}
    call["billing"] = {"amount": f"{rng.uniform(0.001, 0.2):.3f}", "currency": "EUR"}


def generate_call(
    rng: random.Random, call_id: uuid.UUID, channel_id: uuid.UUID, created_at: dt.datetime
) -> JsonObject:
    """Return one call's JSON object, every choice drawn from ``rng``.

    Args:
        rng: The call's own RNG.
        call_id: The call's id (``id``, and ``callId`` of its call-flow commands).
        channel_id: The channel the call belongs to (``channelId``).
        created_at: The call's ``createdAt`` (aware); its other times follow it.
    """
    cid = str(call_id)
    shape = rng.random()
    if shape < _P_MINIMAL:
        return {"id": cid, "createdAt": _timestamp(rng, created_at)}
    if shape < _P_MINIMAL + _P_ALL_NULL:
        created = _timestamp(rng, created_at)
        keys = ("channelId", "from", "to", "originator", "parentId", "direction", "reason")
        return {"id": cid, **dict.fromkeys(keys), "status": "ringing", "createdAt": created}
    call = _full_call(rng, cid, str(channel_id), created_at)
    if rng.random() < _P_FUTURE:
        _add_future_values(rng, call)
    return call
