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

Run alone: ``python -m benchmarks.decode [--quick]``.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable

from benchmarks import _data
from benchmarks._decoders import LABELS, decoders
from benchmarks._harness import (
    Json,
    fmt_range,
    fmt_ratio,
    grid,
    make_result,
    paired_ratio,
    scenario_main,
    serve_timings,
    summarize,
    target,
    time_workers,
)

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


def _inputs() -> dict[str, bytes]:
    one = _data.fixture_bytes()
    return {
        "one": one,
        "one_compact": _data.compact(one),
        "page": _data.page_bytes(),
        "page_indented": _data.page_bytes(indent=2),
    }


def _worker(argv: list[str]) -> None:
    one, page = decoders(argv[0])
    inputs = _inputs()
    calls = {
        case: functools.partial(page if CASES[case][1] > 1 else one, data)
        for case, data in inputs.items()
    }
    sizes = {c: len(d) for c, d in inputs.items()}
    digests = {c: hashlib.sha256(d).hexdigest() for c, d in inputs.items()}
    serve_timings(calls, {"sizes": sizes, "inputs": digests})


def run(*, quick: bool = False) -> Json:
    params = dict(QUICK if quick else FULL)
    keys = list(LABELS)
    timings = time_workers(
        "benchmarks.decode",
        keys,
        list(CASES),
        rounds=int(params["rounds"]),
        seconds=float(params["seconds_per_sample"]),
    )
    sizes: dict[str, int] = timings.hello[keys[0]]["sizes"]
    rates = {  # calls per second, one sample per round
        case: {k: [per_doc / s for s in timings.seconds[case][k]] for k in keys}
        for case, (_, per_doc) in CASES.items()
    }
    results: Json = {
        case: {
            "label": label,
            "bytes": sizes[case],
            "calls_per_document": per_doc,
            "contenders": {
                key: {
                    "name": LABELS[key],
                    "loops_per_sample": timings.loops[key][case],
                    "calls_per_s": summarize(rates[case][key]),
                    "mb_per_s": summarize(
                        [x * sizes[case] / per_doc / 1e6 for x in rates[case][key]]
                    ),
                }
                for key in keys
            },
        }
        for case, (label, per_doc) in CASES.items()
    }
    ratios: Json = {
        case: {f"sdk/{b}": paired_ratio(rates[case]["sdk"], rates[case][b]) for b in BASELINES}
        for case in CASES
    }
    headline = f"case '{HEADLINE_CASE}' ({CASES[HEADLINE_CASE][0]})"
    targets = [
        target(
            f"sdk/{b} >= {t}",
            ratios[HEADLINE_CASE][f"sdk/{b}"]["median"],
            ">=",
            t,
            f"median of per-round ratios, {headline}",
        )
        for b, t in TARGETS
    ]
    cases = {case: label for case, (label, _) in CASES.items()}

    def rate(metric: str) -> Callable[[str, str], str]:
        return lambda k, c: fmt_range(results[c]["contenders"][k][metric])

    return make_result(
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
            "cases": {c: {"label": label, "bytes": sizes[c]} for c, label in cases.items()},
            "headline_case": HEADLINE_CASE,
            "gc": "enabled during timing, as in an application",
            "page_seed": _data.SEED,
            "input_sha256": timings.hello[keys[0]]["inputs"],
        },
        results=results,
        ratios=ratios,
        targets=targets,
        tables=[
            grid(
                "Calls per second, median (min-max)",
                "contender",
                LABELS,
                cases,
                rate("calls_per_s"),
            ),
            grid("MB per second, median (min-max)", "contender", LABELS, cases, rate("mb_per_s")),
            grid(
                "SDK speed ratios (per-round ratio: median (min-max))",
                "ratio",
                {name: name for name in ratios[HEADLINE_CASE]},
                cases,
                lambda name, c: fmt_ratio(ratios[c][name]),
            ),
            grid("Input sizes", "", {"bytes": "bytes"}, cases, lambda _, c: f"{sizes[c]:,}"),
        ],
        chart={
            "title": "Decode throughput (calls/s, median; bars show min-max)",
            "xlabel": "calls per second",
            "groups": {
                label: {LABELS[k]: results[c]["contenders"][k]["calls_per_s"] for k in keys}
                for c, label in cases.items()
            },
        },
        notes=[
            "The headline ratios and the targets use the fixture file as given (indented). "
            "The compact rows show the wire form; the page rows show the per-call cost "
            "once the per-document overhead is spread over 1,000 calls.",
            "orjson, json and untyped msgspec do less work than the SDK: they neither validate "
            "types nor build UUID and datetime objects. pydantic does the same work as the SDK.",
        ],
    )


if __name__ == "__main__":
    scenario_main(run, _worker)
