"""Scenario ``decode``: how many calls per second each library turns from JSON into objects.

Inputs (all built from ``tests/fixtures/call_realistic.json``):

* ``one`` -- the fixture exactly as the file holds it (indented). The headline ratios and the
  targets use this case.
* ``one_compact`` -- the same call re-encoded without whitespace, as an API sends it. Reported
  because msgspec and orjson differ in how much whitespace costs them.
* ``page`` -- a JSON array of 1,000 varied calls, compact; ``page_indented`` -- the same page
  indented like the fixture.

Each contender (``benchmarks/decoders/``) runs in its own persistent worker process. The
parent interleaves rounds (A B C D E, then B C D E A, ...) so that a slow spell on the shared
machine hits every contender alike; ratios are taken per round, then summarized.

Run alone: ``python -m benchmarks.decode [--quick]``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import sys
from collections.abc import Callable
from typing import Any

from benchmarks import _data
from benchmarks._harness import (
    Json,
    Worker,
    calibrate,
    fmt_range,
    fmt_ratio,
    make_result,
    paired_ratio,
    scenario_main,
    serve,
    summarize,
    target,
    time_loops,
)
from benchmarks.decoders import CONTENDERS

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


# --- the worker (child process) ------------------------------------------------------------


def _inputs() -> dict[str, bytes]:
    one = _data.fixture_bytes()
    return {
        "one": one,
        "one_compact": _data.compact(one),
        "page": _data.page_bytes(),
        "page_indented": _data.page_bytes(indent=2),
    }


def _worker(key: str) -> None:
    module: Any = importlib.import_module(CONTENDERS[key])
    inputs = _inputs()
    calls: dict[str, Callable[[], object]] = {}
    for case, data in inputs.items():
        decode = module.decode_page if CASES[case][1] > 1 else module.decode_one
        calls[case] = functools.partial(decode, data)

    def handle(msg: Json) -> Json:
        if msg["op"] == "hello":
            return {
                "name": module.name,
                "sizes": {c: len(d) for c, d in inputs.items()},
                "sha256": {c: hashlib.sha256(d).hexdigest() for c, d in inputs.items()},
            }
        if msg["op"] == "calibrate":
            return {"loops": calibrate(calls[msg["case"]], msg["seconds"])}
        if msg["op"] == "time":
            return {"seconds": time_loops(calls[msg["case"]], msg["loops"])}
        raise ValueError(f"unknown op {msg['op']!r}")

    serve(handle)


# --- the scenario (parent process) ---------------------------------------------------------


def run(*, quick: bool = False) -> Json:
    params = dict(QUICK if quick else FULL)
    rounds, seconds = int(params["rounds"]), float(params["seconds_per_sample"])
    keys = list(CONTENDERS)
    workers = {key: Worker("benchmarks.decode", ["--worker", key]) for key in keys}
    try:
        hello = {key: w.request({"op": "hello"}) for key, w in workers.items()}
        digests = {key: h["sha256"] for key, h in hello.items()}
        if len({str(sorted(d.items())) for d in digests.values()}) != 1:
            raise RuntimeError("workers built different inputs; the generator is not deterministic")
        sizes: dict[str, int] = hello[keys[0]]["sizes"]
        loops = {
            key: {
                case: w.request({"op": "calibrate", "case": case, "seconds": seconds})["loops"]
                for case in CASES
            }
            for key, w in workers.items()
        }
        # calls/s samples, one per round
        samples: dict[str, dict[str, list[float]]] = {c: {k: [] for k in keys} for c in CASES}
        for r in range(rounds):
            order = keys[r % len(keys) :] + keys[: r % len(keys)]
            for case, (_, per_doc) in CASES.items():
                for key in order:
                    n = loops[key][case]
                    elapsed = workers[key].request({"op": "time", "case": case, "loops": n})
                    samples[case][key].append(n * per_doc / elapsed["seconds"])
    finally:
        for w in workers.values():
            w.close()

    results: Json = {}
    for case, (label, per_doc) in CASES.items():
        bytes_per_call = sizes[case] / per_doc
        results[case] = {
            "label": label,
            "bytes": sizes[case],
            "calls_per_document": per_doc,
            "contenders": {
                key: {
                    "name": hello[key]["name"],
                    "loops_per_sample": loops[key][case],
                    "calls_per_s": summarize(samples[case][key]),
                    "mb_per_s": summarize([x * bytes_per_call / 1e6 for x in samples[case][key]]),
                }
                for key in keys
            },
        }
    ratios: Json = {
        case: {f"sdk/{b}": paired_ratio(samples[case]["sdk"], samples[case][b]) for b in BASELINES}
        for case in CASES
    }
    targets = [
        target(
            name=f"sdk/{b} >= {t}",
            value=ratios[HEADLINE_CASE][f"sdk/{b}"]["median"],
            op=">=",
            threshold=t,
            basis=f"median of per-round ratios, case '{HEADLINE_CASE}' ({CASES[HEADLINE_CASE][0]})",
        )
        for b, t in TARGETS
    ]
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
            "cases": {c: {"label": label, "bytes": sizes[c]} for c, (label, _) in CASES.items()},
            "headline_case": HEADLINE_CASE,
            "gc": "enabled during timing, as in an application",
            "page_seed": _data.SEED,
            "input_sha256": digests[keys[0]],
        },
        results=results,
        ratios=ratios,
        targets=targets,
        tables=_tables(results, ratios, keys),
        chart={
            "title": "Decode throughput (calls/s, median; bars show min-max)",
            "xlabel": "calls per second",
            "groups": {
                results[c]["label"]: {
                    results[c]["contenders"][k]["name"]: results[c]["contenders"][k]["calls_per_s"]
                    for k in keys
                }
                for c in CASES
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


def _tables(results: Json, ratios: Json, keys: list[str]) -> list[Json]:
    cases = list(CASES)
    header = ["contender", *(results[c]["label"] for c in cases)]
    calls = [
        [results[cases[0]]["contenders"][k]["name"]]
        + [fmt_range(results[c]["contenders"][k]["calls_per_s"]) for c in cases]
        for k in keys
    ]
    mbs = [
        [results[cases[0]]["contenders"][k]["name"]]
        + [fmt_range(results[c]["contenders"][k]["mb_per_s"]) for c in cases]
        for k in keys
    ]
    ratio_rows = [[name] + [fmt_ratio(ratios[c][name]) for c in cases] for name in ratios[cases[0]]]
    sizes = [["bytes", *(f"{results[c]['bytes']:,}" for c in cases)]]
    return [
        {"title": "Calls per second, median (min-max)", "columns": header, "rows": calls},
        {"title": "MB per second, median (min-max)", "columns": header, "rows": mbs},
        {
            "title": "SDK speed ratios (per-round ratio: median (min-max))",
            "columns": ["ratio", *header[1:]],
            "rows": ratio_rows,
        },
        {"title": "Input sizes", "columns": ["", *header[1:]], "rows": sizes},
    ]


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        _worker(sys.argv[2])
    else:
        scenario_main(run)
