"""Scenario ``memory``: bytes held per decoded call, with 100,000 calls kept in a list.

The parent writes one compact JSON array of distinct, varied calls (built from the realistic
fixture) to a temporary file. Each contender then runs in a fresh interpreter: it reads the
file, starts ``tracemalloc``, decodes the array with its ``decode_page`` (the same decoder
modules as the ``decode`` scenario), collects garbage and reports the traced memory still
held. The input bytes are read before tracing starts, so only the decoded objects (and the
list that holds them) count.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from benchmarks import _data
from benchmarks import _harness as h
from benchmarks._decoders import LABELS, decoders
from benchmarks._harness import Json
from benchmarks._procs import run_json

NAME = "memory"
TITLE = "Memory per decoded call"

MEMORY_CONTENDERS = ("sdk", "orjson", "pydantic")
FULL = {"calls": 100_000}
QUICK = {"calls": 5_000}
TARGET = 0.5  # SDK bytes per call / dict bytes per call


def _write_input(path: Path, count: int) -> None:
    """Write ``count`` distinct calls as one compact JSON array, generated a page at a time."""
    with path.open("wb") as f:
        f.write(b"[")
        for start in range(0, count, _data.PAGE_SIZE):
            page = _data.page_bytes(min(_data.PAGE_SIZE, count - start), start=start)
            if start:
                f.write(b",")
            f.write(page[1:-1])
        f.write(b"]")


def _worker(argv: list[str]) -> None:
    key, path, count = argv[0], argv[1], int(argv[2])
    decode_page = decoders(key)[1]
    data = Path(path).read_bytes()
    calls, held, peak = h.held_bytes(lambda: decode_page(data))
    if len(calls) != count:
        raise RuntimeError(f"decoded {len(calls)} calls, expected {count}")
    print(
        json.dumps(
            {
                "name": LABELS[key],
                "calls": count,
                "held_bytes": held,
                "peak_bytes": peak,
                "bytes_per_call": held / count,
                "peak_bytes_per_call": peak / count,
            }
        )
    )


def run(*, quick: bool = False) -> Json:
    params = dict(QUICK if quick else FULL)
    count = int(params["calls"])
    with tempfile.TemporaryDirectory(prefix="asyncsdk-bench-") as tmp:
        path = Path(tmp) / "calls.json"
        _write_input(path, count)
        input_bytes = path.stat().st_size
        results: Json = {
            key: run_json("benchmarks.memory", [key, str(path), str(count)])
            for key in MEMORY_CONTENDERS
        }
    per_call = {key: r["bytes_per_call"] for key, r in results.items()}
    ratios = {
        "sdk/orjson": round(per_call["sdk"] / per_call["orjson"], 3),
        "sdk/pydantic": round(per_call["sdk"] / per_call["pydantic"], 3),
    }
    json_per_call = input_bytes / count
    rows = [
        [
            r["name"],
            h.fmt(r["bytes_per_call"], digits=4),
            f"{r['bytes_per_call'] / json_per_call:.2f}x",
            f"{r['held_bytes'] / 2**20:,.1f}",
            h.fmt(r["peak_bytes_per_call"], digits=4),
        ]
        for r in results.values()
    ]
    return h.make_result(
        scenario=NAME,
        title=TITLE,
        description=(
            f"{count:,} distinct decoded calls held in a list, measured with tracemalloc, "
            "each contender in a fresh interpreter. Bytes per call include the list slot."
        ),
        parameters={
            **params,
            "input_bytes": input_bytes,
            "json_bytes_per_call": round(json_per_call, 1),
            "method": "tracemalloc: memory still held after decode and gc.collect()",
            "page_seed": _data.SEED,
        },
        results=results,
        ratios=ratios,
        targets=[
            h.target(
                f"sdk/dict <= {TARGET}",
                ratios["sdk/orjson"],
                "<=",
                TARGET,
                "bytes per call, SDK Call Structs / orjson dicts",
            )
        ],
        tables=[
            h.table(
                "Memory held per decoded call",
                ["contender", "bytes per call", "vs JSON size", "MiB total", "peak bytes per call"],
                rows,
            ),
            h.table(
                "Ratios (bytes per call)",
                ["ratio", "value"],
                ([name, f"{value:.2f}"] for name, value in ratios.items()),
            ),
        ],
        chart={
            "title": f"Memory per decoded call ({count:,} calls held; lower is better)",
            "xlabel": "bytes per call",
            "groups": {
                "held": {r["name"]: {"median": r["bytes_per_call"]} for r in results.values()}
            },
        },
        notes=[
            f"The compact JSON is {json_per_call:,.0f} bytes per call on average.",
            "Peak is the high-water mark during decoding, including transient allocations "
            "the library frees before returning.",
            "Python objects only: tracemalloc sees what CPython's allocators hand out, which "
            "is every object the three libraries return. The numbers are deterministic to a "
            "few bytes, so one run per contender is enough.",
        ],
    )


if __name__ == "__main__":
    h.scenario_main(run, _worker)
