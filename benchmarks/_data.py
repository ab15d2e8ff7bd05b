"""Benchmark inputs: the realistic call fixture, and deterministic pages of varied calls.

Everything is derived from ``tests/fixtures/call_realistic.json`` so the inputs stay in step
with the fixtures the tests use. Nothing here reads outside the repository.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import random
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "call_realistic.json"

PAGE_SIZE = 1_000
#: Seed of the page generator; changing it changes every generated input.
SEED = 20261002

_STATUSES = ["completed", "completed", "completed", "no-answer", "busy", "failed", "ongoing"]
_REASONS = ["normal-clearing", "no-answer", "user-busy", "call-rejected", None]
_COMMANDS = ["answer", "say", "gather", "playback", "record", "bridge", "pause", "hangup"]
_REGIONS = ["eu-west-1", "eu-central-1", "us-east-1", "ap-southeast-1"]
_TAGS = ["support", "sales", "nl", "de", "vip", "callback", "survey"]
_LOCALES = ["en-GB", "nl-NL", "de-DE", "en-US"]


def fixture_bytes() -> bytes:
    """Return the realistic call exactly as the fixture file holds it (indented)."""
    return FIXTURE.read_bytes()


def compact(data: bytes) -> bytes:
    """Re-encode a JSON document without whitespace, as an API sends it on the wire."""
    return json.dumps(json.loads(data), separators=(",", ":"), ensure_ascii=False).encode()


def _uuid4(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _msisdn(rng: random.Random, prefix: str) -> str:
    return prefix + "".join(rng.choice("0123456789") for _ in range(8))


def _stamp(t: dt.datetime, rng: random.Random) -> str:
    text = t.isoformat(timespec="milliseconds")
    # Mostly "Z", sometimes an explicit offset, like the fixture.
    return text.replace("+00:00", "Z") if rng.random() < 0.8 else text


def varied_call(template: dict[str, Any], index: int) -> dict[str, Any]:
    """Return call number ``index``: the template with ids, numbers, times and values varied."""
    rng = random.Random(SEED * 1_000_003 + index)
    call = copy.deepcopy(template)
    call_id = _uuid4(rng)
    flow_id = _uuid4(rng)
    call["id"] = call_id
    call["channelId"] = _uuid4(rng)
    call["parentId"] = _uuid4(rng) if rng.random() < 0.1 else None
    call["from"] = _msisdn(rng, "+3120")
    call["to"] = _msisdn(rng, "+316")
    for side, number in (("originator", call["from"]), ("receiver", call["to"])):
        party = call[side]
        party["contact"]["id"] = f"c-{rng.randrange(1, 999_999)}"
        party["contact"]["identifierValue"] = number
        party["number"]["number"] = number
        party["number"]["identity"] = number
    call["direction"] = rng.choice(["outgoing", "incoming"])
    call["status"] = rng.choice(_STATUSES)
    call["reason"] = rng.choice(_REASONS)
    call["duration"] = rng.randrange(0, 3_600)
    call["hangupCauseCode"] = rng.choice([16, 17, 19, 21, 31])
    created = dt.datetime(2026, 10, 2, tzinfo=dt.UTC) + dt.timedelta(
        seconds=index * 37, milliseconds=rng.randrange(1_000)
    )
    ringing = created + dt.timedelta(milliseconds=rng.randrange(300, 4_000))
    answered = ringing + dt.timedelta(milliseconds=rng.randrange(1_000, 20_000))
    ended = answered + dt.timedelta(seconds=call["duration"])
    call["createdAt"] = _stamp(created, rng)
    call["ringingAt"] = _stamp(ringing, rng)
    call["answeredAt"] = _stamp(answered, rng)
    call["endedAt"] = _stamp(ended, rng)
    call["updatedAt"] = _stamp(ended + dt.timedelta(seconds=12), rng)
    commands = []
    for _ in range(rng.randrange(1, 6)):
        name = rng.choice(_COMMANDS)
        conditions = []
        if name == "gather" or rng.random() < 0.2:
            conditions = [{"variable": "keys", "operator": "eq", "value": str(rng.randrange(10))}]
        commands.append(
            {
                "id": _uuid4(rng),
                "callId": call_id,
                "callFlowId": flow_id,
                "status": "executed",
                "command": name,
                "conditions": conditions,
            }
        )
    call["callFlow"] = {"id": flow_id, "commands": commands}
    call["notification"]["url"] = f"https://hooks.example.com/bird/calls/{rng.randrange(100)}"
    call["qualityInsights"] = {
        "mos": f"{rng.uniform(1, 5):.2f}",
        "pdd": f"{rng.uniform(0.5, 4):.2f}",
    }
    sip = call["sipInsights"]
    sip["edgeRegion"] = rng.choice(_REGIONS)
    sip["remoteSignallingIp"] = f"198.51.100.{rng.randrange(1, 255)}"
    sip["remoteMediaIp"] = f"198.51.100.{rng.randrange(1, 255)}"
    call["amdResult"]["locale"] = rng.choice(_LOCALES)
    call["tags"] = rng.sample(_TAGS, rng.randrange(0, 4))
    return call


def page_calls(count: int = PAGE_SIZE, *, start: int = 0) -> list[dict[str, Any]]:
    """Return calls ``start`` .. ``start + count - 1`` as dicts (deterministic)."""
    template = json.loads(fixture_bytes())
    return [varied_call(template, i) for i in range(start, start + count)]


def page_bytes(count: int = PAGE_SIZE, *, start: int = 0, indent: int | None = None) -> bytes:
    """Return a JSON array of varied calls: compact by default, or indented like the fixture."""
    calls = page_calls(count, start=start)
    if indent is None:
        return json.dumps(calls, separators=(",", ":"), ensure_ascii=False).encode()
    return json.dumps(calls, indent=indent, ensure_ascii=False).encode()
