"""Scenario ``decode_variants`` (diagnostic): what limits the SDK's decoder, measured.

It rebuilds ``asyncsdk.models.Call`` with one change at a time (UUIDs as ``str``, timestamps
as ``str``, the redundant per-command ids dropped, ...) using ``msgspec.defstruct``, so the
variants follow the real models as they change. It then times each variant against
``orjson.loads`` on the headline input (the fixture as given) and measures memory per call.
No targets: the numbers inform a model change; the models themselves are not touched.

Everything runs in one worker process (variants of one library, interleaved per round).
"""

from __future__ import annotations

import datetime as dt
import functools
import sys
import uuid
from collections.abc import Callable
from typing import Any

import msgspec

from benchmarks import _data
from benchmarks import _harness as h
from benchmarks._harness import Json
from benchmarks._procs import run_json
from benchmarks._rebuild import variant

NAME = "decode_variants"
TITLE = "Diagnostic: what limits the SDK decoder"

FULL = {"rounds": 11, "seconds_per_sample": 0.1, "memory_calls": 10_000}
QUICK = {"rounds": 2, "seconds_per_sample": 0.01, "memory_calls": 1_000}

#: The redundant copies of the parent's ids in every call-flow command.
_COMMAND_ID_COPIES = {("CallFlowCommand", "call_id"), ("CallFlowCommand", "call_flow_id")}


def _variants() -> dict[str, type]:
    from asyncsdk.models import Call

    return {
        "as shipped": variant(Call),
        "UUIDs as str": variant(Call, replace={uuid.UUID: str}),
        "timestamps as str": variant(Call, replace={dt.datetime: str}),
        "UUIDs and timestamps as str": variant(Call, replace={uuid.UUID: str, dt.datetime: str}),
        "per-command id copies dropped": variant(Call, drop=frozenset(_COMMAND_ID_COPIES)),
        "UUIDs as str, id copies dropped": variant(
            Call, replace={uuid.UUID: str}, drop=frozenset(_COMMAND_ID_COPIES)
        ),
    }


def _memory_per_call(decode: Callable[[bytes], list[Any]], data: bytes, count: int) -> float:
    calls, held, _ = h.held_bytes(lambda: decode(data))
    assert len(calls) == count
    return held / count


def _worker(argv: list[str]) -> None:
    import orjson

    params = QUICK if "--quick" in argv else FULL
    count = int(params["memory_calls"])
    one = _data.fixture_bytes()
    page = _data.page_bytes(count)
    one_fns: dict[str, Callable[[], object]] = {"orjson": functools.partial(orjson.loads, one)}
    decoders: dict[str, Callable[[bytes], Any]] = {"orjson": orjson.loads}
    for name, struct in _variants().items():
        decoders[name] = msgspec.json.Decoder(list[struct]).decode  # type: ignore[valid-type]
        one_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(struct)
        one_fns[name] = functools.partial(one_decoder.decode, one)
    seconds = float(params["seconds_per_sample"])
    loops = {name: h.calibrate(fn, seconds) for name, fn in one_fns.items()}
    samples: dict[str, list[float]] = {name: [] for name in one_fns}
    for order in h.interleaved(one_fns, int(params["rounds"])):
        for name in order:
            samples[name].append(loops[name] / h.time_loops(one_fns[name], loops[name]))
    print(
        msgspec.json.encode(
            {
                "samples": samples,
                "memory_bytes_per_call": {
                    n: _memory_per_call(d, page, count) for n, d in decoders.items()
                },
                "breakdown": _breakdown(decoders["as shipped"](page)),
                "input_bytes": len(one),
            }
        ).decode()
    )


def _breakdown(calls: list[Any]) -> dict[str, dict[str, float]]:
    """Return bytes and objects per call by kind (``sys.getsizeof``, shared objects once)."""
    totals: dict[str, list[float]] = {}
    seen: set[int] = set()

    def add(kind: str, size: int) -> None:
        entry = totals.setdefault(kind, [0, 0])
        entry[0] += size
        entry[1] += 1

    def walk(obj: Any) -> None:
        if obj is None or isinstance(obj, bool) or id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, msgspec.Struct):
            add("Struct", sys.getsizeof(obj))
            for name in obj.__struct_fields__:
                walk(getattr(obj, name))
        elif isinstance(obj, list):
            add("list", sys.getsizeof(obj))
            for item in obj:
                walk(item)
        elif isinstance(obj, uuid.UUID):
            add("uuid.UUID (with its int)", sys.getsizeof(obj) + sys.getsizeof(obj.int))
        else:
            add(type(obj).__name__, sys.getsizeof(obj))

    for call in calls:
        walk(call)
    n = len(calls)
    return {
        kind: {"bytes": round(b / n, 1), "objects": round(c / n, 2)}
        for kind, (b, c) in sorted(totals.items(), key=lambda kv: -kv[1][0])
    }


def run(*, quick: bool = False) -> Json:
    params = QUICK if quick else FULL
    raw = run_json("benchmarks.decode_variants", ["--quick"] if quick else [])
    samples: dict[str, list[float]] = raw["samples"]
    memory: dict[str, float] = raw["memory_bytes_per_call"]
    breakdown: dict[str, dict[str, float]] = raw["breakdown"]
    base = samples["orjson"]
    results: Json = {
        name: {
            "calls_per_s": h.summarize(s),
            "vs_orjson": h.paired_ratio(s, base),
            "memory_bytes_per_call": round(memory[name], 1),
            "memory_vs_orjson": round(memory[name] / memory["orjson"], 3),
        }
        for name, s in samples.items()
    }
    ratios = {
        name: {"speed/orjson": r["vs_orjson"]["median"], "memory/orjson": r["memory_vs_orjson"]}
        for name, r in results.items()
        if name != "orjson"
    }
    rows = [
        [
            name,
            h.fmt_range(r["calls_per_s"]),
            h.fmt_ratio(r["vs_orjson"]),
            h.fmt(r["memory_bytes_per_call"], digits=4),
            f"{r['memory_vs_orjson']:.2f}",
        ]
        for name, r in results.items()
    ]
    return h.make_result(
        scenario=NAME,
        title=TITLE,
        description=(
            "`asyncsdk.models.Call` rebuilt with one change at a time (`msgspec.defstruct`), "
            "timed against `orjson.loads` on the fixture as given, and its memory per call "
            f"measured over {params['memory_calls']:,} varied calls. Diagnostic only: no "
            "targets, and the shipped models are unchanged."
        ),
        parameters={**params, "input_bytes": raw["input_bytes"], "process": "one worker"},
        results={**results, "breakdown_as_shipped": breakdown},
        ratios=ratios,
        tables=[
            h.table(
                "Model variants vs orjson (one call, fixture as given)",
                (
                    *("variant", "calls/s median (min-max)", "speed / orjson"),
                    *("bytes per call held", "memory / orjson dicts"),
                ),
                rows,
            ),
            h.table(
                "Where a shipped Call's bytes go (sys.getsizeof, per call)",
                ["object kind", "bytes per call", "objects per call"],
                (
                    [kind, h.fmt(v["bytes"], digits=4), f"{v['objects']:g}"]
                    for kind, v in breakdown.items()
                ),
            ),
        ],
        notes=[
            *_findings(results, breakdown),
            "All variants run in one process with rounds interleaved, so compare rows with "
            "each other; the `decode` scenario is the measurement of record.",
        ],
    )


def _findings(results: Json, breakdown: dict[str, dict[str, float]]) -> list[str]:
    def speed(name: str) -> float:
        return float(results[name]["vs_orjson"]["median"])

    def mem(name: str) -> float:
        return float(results[name]["memory_vs_orjson"])

    uuids = breakdown.get("uuid.UUID (with its int)", {"objects": 0})["objects"]
    strs = breakdown.get("str", {"bytes": 0.0, "objects": 0})
    total = sum(v["bytes"] for v in breakdown.values())
    best_name = min((n for n in results if n != "orjson"), key=mem)
    best_mem = mem(best_name)
    return [
        f"Speed: as shipped the decoder runs at {speed('as shipped'):.2f}x orjson. Typing the "
        f"UUID fields `str` gives {speed('UUIDs as str'):.2f}x: building `uuid.UUID` objects "
        f"(about {uuids:.0f} per call) is the largest cost. Timestamps as `str` give only "
        f"{speed('timestamps as str'):.2f}x. Dropping the per-command `callId`/`callFlowId` "
        f"copies of the parent's ids gives {speed('per-command id copies dropped'):.2f}x.",
        f"Memory: as shipped {mem('as shipped'):.2f} of orjson's dicts; the best variant here "
        f"is {best_mem:.2f} ({best_name}). `str` objects are "
        f"{strs['bytes'] / total:.0%} of a Call's bytes ({strs['objects']:.0f} per call): "
        "msgspec does not intern values, so repeated numbers "
        "(`from` also in `identity`, `identifierValue`, `number`) and low-cardinality values "
        "(`pstn`, `executed`, `NL`, ...) are each a separate object.",
    ]


if __name__ == "__main__":
    h.scenario_main(run, _worker)
