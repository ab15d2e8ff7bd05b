"""Decode contests: the contenders of ``decode``, ``page_decode`` and ``memory``, timed.

`decoders` imports only the library it is asked for, so that each worker process measures
one library in an interpreter that has not loaded the others. `serve` is a worker's side
(`benchmarks._harness.serve_timings` over each case's input), `contest` the parent's: it
times every contender on every case and summarizes calls and MB per second, and the
speed ratios of the SDK to each baseline, per round; `tables` and `chart` show them.

Imports: the standard library, the harness, and (in a worker) the contender's library.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from benchmarks import _harness as h
from benchmarks._harness import Json

#: key -> label of each contender.
LABELS: dict[str, str] = {
    "sdk": "asyncsdk (msgspec -> Call)",
    "orjson": "orjson.loads -> dict",
    "json": "json.loads -> dict",
    "msgspec": "msgspec.json.decode -> dict",
    "pydantic": "pydantic v2 -> model",
}

Decode = Callable[[bytes], Any]


def decoders(key: str) -> tuple[Decode, Decode]:
    """Return the contender's decoders of one call and of a page (built once, here)."""
    if key == "sdk":  # JSON straight to frozen Call Structs
        import msgspec

        from asyncsdk.models import CALL_DECODER, Call

        return CALL_DECODER.decode, msgspec.json.Decoder(list[Call]).decode
    if key == "orjson":  # fast, untyped, unvalidated dicts
        import orjson

        return orjson.loads, orjson.loads
    if key == "json":
        import json

        return json.loads, json.loads
    if key == "msgspec":  # msgspec without a type: dicts, like orjson
        import msgspec

        return msgspec.json.decode, msgspec.json.decode
    if key == "pydantic":  # validated into an equivalent model (TypeAdapter.validate_json)
        from benchmarks._pydantic_models import CALL_ADAPTER, PAGE_ADAPTER

        return CALL_ADAPTER.validate_json, PAGE_ADAPTER.validate_json
    raise ValueError(f"unknown contender {key!r}")


def serve(inputs: Mapping[str, bytes], decode: Callable[[str], Decode]) -> None:
    """A worker: time ``decode(case)`` of each case's input; say its sizes and digests."""
    calls = {case: functools.partial(decode(case), data) for case, data in inputs.items()}
    sizes = {case: len(data) for case, data in inputs.items()}
    digests = {case: hashlib.sha256(data).hexdigest() for case, data in inputs.items()}
    h.serve_timings(calls, {"sizes": sizes, "inputs": digests})


def contest(
    module: str,
    labels: Mapping[str, str],
    cases: Mapping[str, tuple[str, int]],
    baselines: tuple[str, ...],
    params: Json,
) -> tuple[Json, Json, Json]:
    """Time every contender of ``module`` on every case (label, calls per document).

    Returns the results by case (sizes; calls and MB per second by contender), the
    per-round ratios ``sdk/<baseline>`` by case, and the input digests.
    """
    keys = list(labels)
    rounds, seconds = int(params["rounds"]), float(params["seconds_per_sample"])
    timings = h.time_workers(module, keys, list(cases), rounds=rounds, seconds=seconds)
    sizes: dict[str, int] = timings.hello[keys[0]]["sizes"]
    rates = {  # calls per second, one sample per round
        case: {k: [per_doc / s for s in timings.seconds[case][k]] for k in keys}
        for case, (_, per_doc) in cases.items()
    }
    results: Json = {
        case: {
            "label": label,
            "bytes": sizes[case],
            "calls_per_document": per_doc,
            "contenders": {
                key: {
                    "name": labels[key],
                    "loops_per_sample": timings.loops[key][case],
                    "calls_per_s": h.summarize(rates[case][key]),
                    "mb_per_s": h.summarize(
                        [x * sizes[case] / per_doc / 1e6 for x in rates[case][key]]
                    ),
                }
                for key in keys
            },
        }
        for case, (label, per_doc) in cases.items()
    }
    ratios: Json = {
        case: {f"sdk/{b}": h.paired_ratio(rates[case]["sdk"], rates[case][b]) for b in baselines}
        for case in cases
    }
    return results, ratios, timings.hello[keys[0]]["inputs"]


def tables(
    results: Json, ratios: Json, labels: Mapping[str, str], metrics: Mapping[str, str]
) -> list[Json]:
    """Each metric (``calls_per_s``: its title) by contender and case, the ratios, the sizes."""
    cases = {case: r["label"] for case, r in results.items()}

    def cell(metric: str) -> Callable[[str, str], str]:
        return lambda key, case: h.fmt_range(results[case]["contenders"][key][metric])

    first = next(iter(ratios.values()))
    return [
        *(h.grid(title, "contender", labels, cases, cell(m)) for m, title in metrics.items()),
        h.grid(
            "SDK speed ratios (per-round ratio: median (min-max))",
            "ratio",
            {name: name for name in first},
            cases,
            lambda name, case: h.fmt_ratio(ratios[case][name]),
        ),
        h.grid(
            "Input sizes", "", {"bytes": "bytes"}, cases, lambda _, c: f"{results[c]['bytes']:,}"
        ),
    ]


def chart(title: str, results: Json) -> Json:
    """Calls per second by case (a group) and contender (a bar)."""
    return {
        "title": title,
        "xlabel": "calls per second",
        "groups": {
            r["label"]: {c["name"]: c["calls_per_s"] for c in r["contenders"].values()}
            for r in results.values()
        },
    }
