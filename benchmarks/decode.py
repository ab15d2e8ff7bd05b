"""Scenario ``decode``: how many calls per second each library turns from JSON into objects.

Inputs (all built from ``tests/fixtures/call_realistic.json``):

* ``one`` -- the fixture exactly as the file holds it (indented). The headline ratios and the
  targets use this case.
* ``one_compact`` -- the same call re-encoded without whitespace, as an API sends it. Reported
  because msgspec and orjson differ in how much whitespace costs them.
* ``page`` -- a JSON array of 1,000 varied calls, compact; ``page_indented`` -- the same page
  indented like the fixture.

Each contender (`benchmarks._decoders`) runs in its own persistent worker process, timed by
`benchmarks._harness.time_workers` (rounds interleaved, ratios taken per round).
"""

from __future__ import annotations

from benchmarks import _data, _decoders
from benchmarks import _harness as h
from benchmarks._decoders import LABELS, decoders
from benchmarks._harness import Json

NAME = "decode"
TITLE = "Decode throughput"

#: case -> (label, calls per document)
CASES: dict[str, tuple[str, int]] = {
    "one": ("one call, fixture file as given (indented)", 1),
    "one_compact": ("one call, re-encoded compact (wire form)", 1),
    "page": (f"page of {_data.PAGE_SIZE:,} calls, compact", _data.PAGE_SIZE),
    "page_indented": (f"page of {_data.PAGE_SIZE:,} calls, indented", _data.PAGE_SIZE),
}
HEADLINE_CASE = "one"
BASELINES = ("orjson", "json", "pydantic")
TARGETS = (("orjson", 1.15), ("pydantic", 3.5))

FULL = {"rounds": 15, "seconds_per_sample": 0.15}
QUICK = {"rounds": 3, "seconds_per_sample": 0.01}


def _worker(argv: list[str]) -> None:
    one, page = decoders(argv[0])
    one_call = _data.fixture_bytes()
    inputs = {
        "one": one_call,
        "one_compact": _data.compact(one_call),
        "page": _data.page_bytes(),
        "page_indented": _data.page_bytes(indent=2),
    }
    _decoders.serve(inputs, lambda case: page if CASES[case][1] > 1 else one)


def run(*, quick: bool = False) -> Json:
    params = dict(QUICK if quick else FULL)
    results, ratios, digests = _decoders.contest(
        "benchmarks.decode", LABELS, CASES, BASELINES, params
    )
    headline = f"case '{HEADLINE_CASE}' ({CASES[HEADLINE_CASE][0]})"
    targets = [
        h.target(
            f"sdk/{b} >= {t}",
            ratios[HEADLINE_CASE][f"sdk/{b}"]["median"],
            ">=",
            t,
            f"median of per-round ratios, {headline}",
        )
        for b, t in TARGETS
    ]
    return h.make_result(
        scenario=NAME,
        title=TITLE,
        description=(
            "JSON bytes to Python objects, one call and a page of "
            f"{_data.PAGE_SIZE:,}. The SDK decodes into typed, validated `Call` Structs; "
            "orjson, json and untyped msgspec only build dicts; pydantic validates into an "
            "equivalent model. Each contender runs in its own process, rounds interleaved."
        ),
        parameters={
            **params,
            "cases": {c: {"label": r["label"], "bytes": r["bytes"]} for c, r in results.items()},
            "headline_case": HEADLINE_CASE,
            "gc": "enabled during timing, as in an application",
            "page_seed": _data.SEED,
            "input_sha256": digests,
        },
        results=results,
        ratios=ratios,
        targets=targets,
        tables=_decoders.tables(
            results,
            ratios,
            LABELS,
            {
                "calls_per_s": "Calls per second, median (min-max)",
                "mb_per_s": "MB per second, median (min-max)",
            },
        ),
        chart=_decoders.chart("Decode throughput (calls/s, median; bars show min-max)", results),
        notes=[
            "The headline ratios and the targets use the fixture file as given (indented). "
            "The compact rows show the wire form; the page rows show the per-call cost "
            "once the per-document overhead is spread over 1,000 calls.",
            "orjson, json and untyped msgspec do less work than the SDK: they neither validate "
            "types nor build UUID and datetime objects. pydantic does the same work as the SDK.",
        ],
    )


if __name__ == "__main__":
    h.scenario_main(run, _worker)
