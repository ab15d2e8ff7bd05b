"""Scenario ``page_decode``: a page of 1,000 calls from the list endpoints' bytes to objects.

The input is the list endpoints' envelope, ``{"results": [...], "nextPageToken": "..."}``,
holding 1,000 varied calls built from ``tests/fixtures/call_realistic.json``
(`benchmarks._data`), in the wire form (compact) and indented. Contenders, each in its own
persistent worker process, rounds interleaved (as in ``decode``):

* ``sdk`` -- `asyncsdk.CallPage.from_json`: typed, validated `Call` Structs, the collector
  paused during the decode;
* ``sdk_gc`` -- the same decoder without the pause (``asyncsdk.models.PAGE_DECODER``), to
  show what the pause is worth;
* ``orjson`` -- ``orjson.loads`` to dicts (no types, no validation);
* ``msgspec`` -- ``msgspec.json.decode`` to dicts;
* ``pydantic`` -- pydantic v2 validating into an equivalent model (``TypeAdapter``).

Timed as ``decode`` is (`benchmarks._decoders.contest`).

The garbage collector is enabled during timing, as in an application. Each page decoded
is dropped before the next, as a listing does once a page is handled.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from benchmarks import _data, _decoders
from benchmarks import _harness as h
from benchmarks._harness import Json

NAME = "page_decode"
TITLE = "Page decode: 1,000 calls of a list endpoint"

#: key -> label
CONTENDERS: dict[str, str] = {
    "sdk": "asyncsdk CallPage.from_json",
    "sdk_gc": "asyncsdk decoder, collector not paused",
    "orjson": "orjson.loads -> dict",
    "msgspec": "msgspec.json.decode -> dict",
    "pydantic": "pydantic v2 -> model",
}
#: case -> (label, calls per document)
CASES: dict[str, tuple[str, int]] = {
    "wire": ("page of 1,000 calls, compact (wire form)", _data.PAGE_SIZE),
    "indented": ("page of 1,000 calls, indented", _data.PAGE_SIZE),
}
BASELINES = ("orjson", "pydantic", "sdk_gc")
TARGETS = (("orjson", 1.5), ("pydantic", 4.0))

FULL = {"rounds": 15, "seconds_per_sample": 0.2}
QUICK = {"rounds": 2, "seconds_per_sample": 0.01}

TOKEN = "WyIyMDI2LTEwLTAyVDA5OjE0OjAzLjEyM1oiLCJiN2E0YjJlNiJd"


def _decoder(key: str) -> Callable[[bytes], Any]:
    """Import only the contender's own library (each worker measures one)."""
    if key == "sdk":
        from asyncsdk import CallPage

        return CallPage.from_json
    if key == "sdk_gc":
        from asyncsdk.models import PAGE_DECODER

        return PAGE_DECODER.decode
    if key == "pydantic":
        from benchmarks._pydantic_models import CALL_PAGE_ADAPTER

        return CALL_PAGE_ADAPTER.validate_json
    return _decoders.decoders(key)[1]


def _worker(argv: list[str]) -> None:
    decode = _decoder(argv[0])
    page = {"results": _data.page_calls(_data.PAGE_SIZE), "nextPageToken": TOKEN}
    inputs = {
        "wire": json.dumps(page, separators=(",", ":"), ensure_ascii=False).encode(),
        "indented": json.dumps(page, indent=2, ensure_ascii=False).encode(),
    }
    for case, data in inputs.items():  # every contender reads the whole page
        result = decode(data)
        results = result["results"] if isinstance(result, dict) else result.results
        assert len(results) == _data.PAGE_SIZE, (argv[0], case)
    _decoders.serve(inputs, lambda case: decode)


def run(*, quick: bool = False) -> Json:
    params = dict(QUICK if quick else FULL)
    module = "benchmarks.page_decode"
    results, ratios, digests = _decoders.contest(module, CONTENDERS, CASES, BASELINES, params)
    targets = [
        h.target(
            f"sdk/{b} >= {t} ({case})",
            ratios[case][f"sdk/{b}"]["median"],
            ">=",
            t,
            f"median of per-round speed ratios, {label}",
        )
        for case, (label, _) in CASES.items()
        for b, t in TARGETS
    ]
    return h.make_result(
        scenario=NAME,
        title=TITLE,
        description=(
            "A list endpoint's page of 1,000 calls, bytes to objects. The SDK decodes into a "
            "typed CallPage of validated Call Structs (UUIDs, aware datetimes) in one pass; "
            "orjson and untyped msgspec only build dicts; pydantic validates into an "
            "equivalent model. Each contender runs in its own process, rounds interleaved."
        ),
        parameters={
            **params,
            "cases": {c: {"label": r["label"], "bytes": r["bytes"]} for c, r in results.items()},
            "gc": "enabled during timing, as in an application",
            "page_seed": _data.SEED,
            "input_sha256": digests,
        },
        results=results,
        ratios=ratios,
        targets=targets,
        tables=_decoders.tables(
            results, ratios, CONTENDERS, {"calls_per_s": "Calls per second, median (min-max)"}
        ),
        chart=_decoders.chart(
            "Page decode throughput (calls/s, median; bars show min-max)", results
        ),
        notes=[
            "sdk pauses the garbage collector while msgspec builds the page (about 17 "
            "GC-tracked objects per call: UUIDs and lists, none of which can form a cycle) "
            "and restores it; sdk_gc is the same decoder without the pause. orjson builds "
            "dicts whose collection cost barely shows; the SDK's typed objects are what the "
            "collector would otherwise walk, dozens of times per page.",
            "orjson and msgspec-to-dict do less work than the SDK: no types, no validation, "
            "no UUID or datetime objects. pydantic does the same work as the SDK.",
        ],
    )


if __name__ == "__main__":
    h.scenario_main(run, _worker)
