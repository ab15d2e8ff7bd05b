"""Scenario ``recordings_decode``: a page of 99 recordings from bytes to objects.

A page of *List recordings* at its largest (99, the API's ``limit`` bound), built from
``tests/fixtures/recording_realistic.json`` with varied ids, times and a zero
``endedAt`` on every other recording, decoded by:

* ``sdk`` -- `asyncsdk.RecordingPage.from_json`: typed `Recording` Structs, zero times
  read as ``None`` in ``__post_init__``, the collector paused;
* ``sdk_no_zero`` -- the same struct without the zero-time step (built with
  ``msgspec.defstruct``), to show what reading ``0001-01-01T00:00:00Z`` as ``None`` costs;
* ``calls`` -- `asyncsdk.CallPage.from_json` on a page of 99 calls (the calls' decoder,
  the peer within the SDK);
* ``pydantic`` -- pydantic v2 validating the same recordings page into an equivalent
  model, zero time read as ``None`` by a validator.

Standalone (no harness): one process, the contenders' rounds interleaved, the garbage
collector on; each round decodes the page repeatedly for about ``--seconds`` / rounds.
Reported: items per second, median of the rounds, and the spread (min..max) as the noise.

Run: ``python -m benchmarks.recordings_decode [--rounds 7] [--seconds 0.2]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

NAME = "recordings_decode"
TITLE = "Recordings page decode: 99 recordings"
FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
PAGE_SIZE = 99


def _varied(base: dict[str, Any], i: int, times: tuple[str, ...]) -> dict[str, Any]:
    item = dict(base)
    item["id"] = str(uuid.UUID(int=(0x3C1E9D2A << 96) + i, version=4))
    stamp = dt.datetime(2026, 10, 2, 9, tzinfo=dt.UTC) - dt.timedelta(seconds=7 * i)
    for name in times:
        if name in item:
            item[name] = stamp.isoformat().replace("+00:00", "Z")
    return item


def recordings_page() -> bytes:
    """99 varied recordings; every other one with ``endedAt`` the zero time."""
    base = json.loads((FIXTURES / "recording_realistic.json").read_bytes())
    results = []
    for i in range(PAGE_SIZE):
        item = _varied(base, i, ("createdAt", "updatedAt", "startedAt", "endedAt"))
        if i % 2 == 0:
            item["endedAt"] = "0001-01-01T00:00:00Z"
        results.append(item)
    return json.dumps({"results": results, "nextPageToken": "t" * 40}).encode()


def calls_page() -> bytes:
    """99 varied calls from the calls' realistic fixture."""
    base = json.loads((FIXTURES / "call_realistic.json").read_bytes())
    times = ("createdAt", "updatedAt", "ringingAt", "answeredAt", "endedAt")
    results = [_varied(base, i, times) for i in range(PAGE_SIZE)]
    return json.dumps({"results": results, "nextPageToken": "t" * 40}).encode()


def _no_zero_decoder() -> Callable[[bytes], Any]:
    """`RecordingPage`'s twin without ``__post_init__``: the zero-time step's cost."""
    from asyncsdk import Recording

    options = {"kw_only": True, "rename": "camel", "frozen": True, "gc": False}
    fields = [
        (f.name, f.type, f.default) if f.required is False else (f.name, f.type)
        for f in msgspec.structs.fields(Recording)
    ]
    plain = msgspec.defstruct("Recording", fields, **options)  # type: ignore[arg-type]
    page = msgspec.defstruct(
        "RecordingPage",
        [("results", list[plain]), ("next_page_token", str | None, None)],  # type: ignore[valid-type]
        **options,  # type: ignore[arg-type]
    )
    return msgspec.json.Decoder(page).decode


def _pydantic_decoder() -> Callable[[bytes], Any]:
    from pydantic import BaseModel, ConfigDict, field_validator
    from pydantic.alias_generators import to_camel

    zero = dt.datetime(1, 1, 1, tzinfo=dt.UTC)

    class Base(BaseModel):
        model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    class Contact(Base):
        id: str | None = None
        identifier_key: str | None = None
        identifier_value: str | None = None

    class Number(Base):
        type: str | None = None
        number: str | None = None
        anonymous: bool | None = None
        caller_id_name: str | None = None
        identity: str | None = None
        country_iso_code: str | None = None

    class Party(Base):
        contact: Contact | None = None
        number: Number | None = None

    class Recording(Base):
        id: uuid.UUID
        source_id: uuid.UUID | None = None
        channel_id: uuid.UUID | None = None
        source: str | None = None
        status: str | None = None
        origin: str | None = None
        direction: str | None = None
        originator: Party | None = None
        receiver: Party | None = None
        duration: int | None = None
        stereo: bool | None = None
        transcription: bool | None = None
        format: str | None = None
        conference_id: uuid.UUID | None = None
        url: str | None = None
        room_info_url: str | None = None
        created_at: dt.datetime | None = None
        updated_at: dt.datetime | None = None
        started_at: dt.datetime | None = None
        ended_at: dt.datetime | None = None

        @field_validator("created_at", "updated_at", "started_at", "ended_at")
        @classmethod
        def _zero(cls, value: dt.datetime | None) -> dt.datetime | None:
            return None if value == zero else value

    class RecordingPage(Base):
        results: list[Recording]
        next_page_token: str | None = None

    return RecordingPage.model_validate_json


def contenders() -> dict[str, tuple[Callable[[bytes], Any], bytes]]:
    """Each contender's decode function and the page it decodes."""
    from asyncsdk import CallPage, RecordingPage

    recordings, calls = recordings_page(), calls_page()
    return {
        "sdk": (RecordingPage.from_json, recordings),
        "sdk_no_zero": (_no_zero_decoder(), recordings),
        "calls": (CallPage.from_json, calls),
        "pydantic": (_pydantic_decoder(), recordings),
    }


def _round(decode: Callable[[bytes], Any], body: bytes, seconds: float) -> float:
    """Decode ``body`` for about ``seconds``; return items per second."""
    loops, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(20):
            decode(body)
        loops += 20
        now = time.perf_counter()
        if now >= deadline or loops >= 1_000_000:
            return loops * PAGE_SIZE / (now - start)


def measure(rounds: int, seconds: float) -> dict[str, list[float]]:
    """Items per second of each contender, ``rounds`` interleaved rounds each."""
    table = contenders()
    samples: dict[str, list[float]] = {key: [] for key in table}
    for decode, body in table.values():  # warm up; and each decodes its page the same
        decode(body)
    for _ in range(rounds):
        for key, (decode, body) in table.items():
            samples[key].append(_round(decode, body, seconds / rounds))
    return samples


def report(samples: dict[str, list[float]]) -> str:
    """A small table: median items/s, spread, and the ratio to ``sdk``."""
    sdk = statistics.median(samples["sdk"])
    lines = [f"{TITLE} (median of {len(samples['sdk'])} rounds, items/s)"]
    for key, values in samples.items():
        median = statistics.median(values)
        lines.append(
            f"  {key:12s} {median:12,.0f}  (min {min(values):,.0f}, max {max(values):,.0f})"
            f"  x{median / sdk:.2f} of sdk"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Run the scenario and print its table."""
    parser = argparse.ArgumentParser(description=TITLE)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.2, help="per contender, all rounds")
    args = parser.parse_args(argv)
    print(report(measure(args.rounds, args.seconds)))


if __name__ == "__main__":
    main()
