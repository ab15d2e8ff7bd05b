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
* ``pydantic`` -- pydantic v2 validating the same recordings page into its twin
  (`benchmarks._pydantic_models.twin`, as the calls' scenarios do), zero time read as
  ``None`` by a validator on every timestamp (`ZeroTimeAware`).

Each contender runs in its own worker process, timed by `benchmarks._harness.time_workers`
(rounds interleaved, ratios per round, the garbage collector on).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any

import msgspec

from benchmarks import _harness as h
from benchmarks._harness import FIXTURES, Json

NAME = "recordings_decode"
TITLE = "Recordings page decode: 99 recordings"
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
    from benchmarks._pydantic_models import RECORDING_PAGE_ADAPTER

    return RECORDING_PAGE_ADAPTER.validate_json


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


LABELS = {
    "sdk": "SDK `RecordingPage`",
    "sdk_no_zero": "SDK struct, no zero-time step",
    "calls": "SDK `CallPage` (99 calls)",
    "pydantic": "pydantic v2",
}
FULL = {"rounds": 9, "seconds_per_sample": 0.1}
QUICK = {"rounds": 2, "seconds_per_sample": 0.01}


def _worker(argv: list[str]) -> None:
    decode, body = contenders()[argv[0]]
    digest = hashlib.sha256(recordings_page() + calls_page()).hexdigest()[:12]
    h.serve_timings({"page": lambda: decode(body)}, {"inputs": digest})


def run(*, quick: bool = False) -> Json:
    """Time each contender's page decode in its own process; items/s and ratios to ``sdk``."""
    params = dict(QUICK if quick else FULL)
    timed = h.time_workers(
        "benchmarks.recordings_decode",
        list(LABELS),
        ["page"],
        rounds=params["rounds"],
        seconds=params["seconds_per_sample"],
    )
    per_s = {k: [PAGE_SIZE / s for s in v] for k, v in timed.seconds["page"].items()}
    results = h.by_contender(LABELS, {"items_per_s": per_s})
    ratios = {f"sdk/{k}": h.paired_ratio(per_s["sdk"], per_s[k]) for k in LABELS if k != "sdk"}
    return h.make_result(
        scenario=NAME,
        title=TITLE,
        description=(
            "A page of 99 recordings (the API's largest), every other one with a zero "
            "`endedAt`, decoded into typed `Recording` Structs; against the same struct "
            "without the zero-time step, the calls' page decoder on 99 calls, and pydantic."
        ),
        parameters={**params, "page_size": PAGE_SIZE, "gc": "enabled during timing"},
        results=results,
        ratios=ratios,
        targets=[
            h.target(
                "sdk/pydantic >= 3.5",
                ratios["sdk/pydantic"]["median"],
                ">=",
                3.5,
                "median of per-round ratios, items/s; the calls' decode target",
            ),
        ],
        tables=[
            h.table(
                "Items per second, median (min-max)",
                ["contender", "items/s"],
                [[label, h.fmt_range(results[k]["items_per_s"])] for k, label in LABELS.items()],
            ),
            h.ratio_table("SDK recordings page against each peer (items/s)", ratios),
        ],
        chart={
            "title": "Recordings page decode (items/s, median; bars show min-max)",
            "xlabel": "items per second",
            "groups": {"99 items": {LABELS[k]: results[k]["items_per_s"] for k in LABELS}},
        },
    )


if __name__ == "__main__":
    h.scenario_main(run, _worker)
