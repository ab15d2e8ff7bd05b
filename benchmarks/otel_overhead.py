"""Scenario ``otel_overhead``: client CPU per request with telemetry off, on, and the peer.

A canned HTTP/1.1 server (`benchmarks._canned`) runs in its own process; each variant
runs in a fresh worker process per round (rounds rotate the order), which sends
``--requests`` sequential ``client.get_call`` after a warm-up and reports its own CPU
time (``time.process_time``) per request:

* ``before`` -- the SDK as it was before telemetry (``--base``, extracted with
  ``git archive`` into a temporary directory put first on ``PYTHONPATH``);
* ``not-installed`` -- this tree with ``opentelemetry`` made unimportable;
* ``installed-off`` -- this tree, opentelemetry installed, ``Client()`` without telemetry;
* ``global-noop`` -- ``Client(telemetry=Telemetry())`` with no provider configured (the
  API's no-op providers);
* ``on`` -- ``Telemetry`` with the SDK's ``TracerProvider`` (``SimpleSpanProcessor`` into
  an ``InMemorySpanExporter``) and ``MeterProvider`` (``InMemoryMetricReader``);
* ``aiohttp-instrumentation`` -- this tree without telemetry, and
  opentelemetry-instrumentation-aiohttp-client on the same in-memory providers: the
  generic instrumentation alone, which knows nothing of retries or waits.

The machine is shared and its noise is larger than the 2 % the off path must stay
within, so each variant runs right after a run of ``before`` and the median of those
paired ratios is reported, with two counts over 100 requests each that the machine's
load hardly moves: Python function calls (profiler ``call`` events, coroutine
resumptions included) and bytecodes executed (trace ``opcode`` events,
``f_trace_opcodes``) per request. They are not exactly deterministic: how the event
loop's wake-ups and reads fall varies them by about 0.2% between runs (a variant's
bytecodes 4984-4993 per request in two runs), a tenth of the 2% target. The counts
leave out the C code (aiohttp's parser, msgspec), which the variants share, and other
threads (``sys.settrace`` traces the calling thread only).

Import time: ``python -X importtime -c "import asyncsdk"``, the cumulative microseconds
of ``asyncsdk``, for ``before`` and this tree (opentelemetry installed), ``--imports``
times each, alternating; the median is reported.

Each ``before`` tree is put first on ``PYTHONPATH`` and the child runs outside the
repository, which `benchmarks._procs.run_json` (this tree first) cannot do: hence its own
``subprocess.run``. ``--quick`` runs ``before``, ``installed-off`` and ``on`` only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import _harness as h
from benchmarks._canned import CannedServer
from benchmarks._harness import Json
from benchmarks._procs import ROOT

NAME = "otel_overhead"
VARIANTS = (
    "before",
    "not-installed",
    "installed-off",
    "global-noop",
    "on",
    "aiohttp-instrumentation",
)
#: The last commit without telemetry: what ``before`` measures.
DEFAULT_BASE = "bd09eab"
WORKSPACE = str(uuid.UUID(int=1))
CHANNEL = str(uuid.UUID(int=2))


class _BlockOtel:
    """A meta path finder that makes ``opentelemetry`` unimportable (not installed)."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ImportError(f"{name} is hidden: the not-installed variant")


def _providers() -> tuple[Any, Any]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    return tracer_provider, MeterProvider(metric_readers=[InMemoryMetricReader()])


async def _requests(variant: str, base_url: str, warmup: int, count: int) -> dict[str, Any]:
    if variant == "not-installed":
        sys.meta_path.insert(0, _BlockOtel())  # type: ignore[arg-type]
    import asyncsdk

    kwargs: dict[str, Any] = {}
    exporter_spans = None
    if variant == "global-noop":
        from asyncsdk.telemetry import Telemetry

        kwargs["telemetry"] = Telemetry()
    elif variant == "on":
        from asyncsdk.telemetry import Telemetry

        tracer_provider, meter_provider = _providers()
        kwargs["telemetry"] = Telemetry(
            tracer_provider=tracer_provider, meter_provider=meter_provider
        )
        exporter_spans = tracer_provider
    elif variant == "aiohttp-instrumentation":
        from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor

        tracer_provider, meter_provider = _providers()
        AioHttpClientInstrumentor().instrument(
            tracer_provider=tracer_provider, meter_provider=meter_provider
        )
    loaded = any(name.startswith("opentelemetry") for name in sys.modules)
    ids = [str(uuid.UUID(int=i + 10)) for i in range(warmup + count)]
    async with asyncsdk.Client(
        access_key="bench", base_url=base_url, rate_limit=1e6, **kwargs
    ) as client:
        for call_id in ids[:warmup]:
            await client.get_call(WORKSPACE, CHANNEL, call_id)
        calls = 0

        def tally(_frame: object, event: str, _arg: object) -> None:
            nonlocal calls
            if event == "call":
                calls += 1

        sys.setprofile(tally)
        for call_id in ids[warmup : warmup + 100]:
            await client.get_call(WORKSPACE, CHANNEL, call_id)
        sys.setprofile(None)
        opcodes = 0

        def count_opcodes(frame: Any, event: str, _arg: object) -> Any:
            nonlocal opcodes
            if event == "opcode":
                opcodes += 1
            elif event == "call":
                frame.f_trace_lines = False
                frame.f_trace_opcodes = True
            return count_opcodes

        sys.settrace(count_opcodes)
        for call_id in ids[warmup + 100 : warmup + 200]:
            await client.get_call(WORKSPACE, CHANNEL, call_id)
        sys.settrace(None)
        cpu, wall = time.process_time(), time.perf_counter()
        for call_id in ids[warmup:]:
            await client.get_call(WORKSPACE, CHANNEL, call_id)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    del exporter_spans
    return {
        "variant": variant,
        "cpu_us": cpu / count * 1e6,
        "wall_us": wall / count * 1e6,
        "otel_imported": loaded,
        "python_calls": calls / 100,
        "python_opcodes": opcodes / 100,
        "asyncsdk_file": asyncsdk.__file__,
    }


def _base_tree(ref: str) -> Path:
    target = Path(tempfile.mkdtemp(prefix="otel-base-"))
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "asyncsdk"],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True, timeout=60)
    return target


def _env(base: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(base)] if base is not None else []
    paths.append(str(ROOT))
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def _worker(variant: str, url: str, warmup: int, count: int, base: Path) -> dict[str, Any]:
    env = _env(base if variant == "before" else None)
    worker_variant = "installed-off" if variant == "before" else variant
    out = subprocess.run(
        [
            *(sys.executable, "-m", "benchmarks.otel_overhead", "--worker", worker_variant),
            *("--url", url, "--warmup", str(warmup), "--requests", str(count)),
        ],
        env=env,
        # not ROOT: ``-m`` puts the working directory first on sys.path, before the
        # PYTHONPATH that brings ``before``'s tree
        cwd=tempfile.gettempdir(),
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["variant"] = variant
    return result


def _import_us(base: Path | None) -> float:
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import asyncsdk"],
        env=_env(base),
        cwd=tempfile.gettempdir(),
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stderr
    for line in err.splitlines():
        fields = [f.strip() for f in line.split("|")]
        if len(fields) == 3 and fields[2] == "asyncsdk":
            return float(fields[1])
    raise RuntimeError("asyncsdk not in the import-time report")


FULL = {"rounds": 7, "requests": 2000, "warmup": 300, "imports": 9, "variants": VARIANTS}
QUICK = {"rounds": 1, "requests": 200, "warmup": 50, "imports": 1}
QUICK["variants"] = ("before", "installed-off", "on")
LABELS = {
    "before": "before telemetry",
    "not-installed": "opentelemetry not installed",
    "installed-off": "installed, telemetry off",
    "global-noop": "`Telemetry()`, no provider",
    "on": "on, in-memory exporter and reader",
    "aiohttp-instrumentation": "off, aiohttp client instrumentation alone",
}


def _measure(
    *, rounds: int, warmup: int, requests: int, imports: int, variants: Sequence[str]
) -> dict[str, Any]:
    """Measure ``variants`` for ``rounds`` rounds against ``before``, and the import time."""
    base = _base_tree(DEFAULT_BASE)
    try:
        return _run(base, rounds, warmup, requests, imports, variants)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _run(
    base: Path, rounds: int, warmup: int, count: int, imports: int, variants: Sequence[str]
) -> dict[str, Any]:
    others = [v for v in variants if v != "before"]
    samples: dict[str, list[float]] = {v: [] for v in ("before", *others)}
    paired: dict[str, list[float]] = {v: [] for v in others}
    checks: dict[str, bool] = {}
    calls: dict[str, float] = {}
    opcodes: dict[str, float] = {}
    with CannedServer() as server:
        for order in h.interleaved(others, rounds):
            for variant in order:
                # each variant right after a run of `before`: a ratio from one moment
                ref = _worker("before", server.base_url, warmup, count, base)
                result = _worker(variant, server.base_url, warmup, count, base)
                if not ref["asyncsdk_file"].startswith(str(base)) or result[
                    "asyncsdk_file"
                ].startswith(str(base)):
                    raise RuntimeError(f"wrong tree: {ref['asyncsdk_file']}")
                samples["before"].append(ref["cpu_us"])
                samples[variant].append(result["cpu_us"])
                paired[variant].append(result["cpu_us"] / ref["cpu_us"])
                checks[variant] = result["otel_imported"]
                checks["before"] = ref["otel_imported"]
                calls[variant] = result["python_calls"]
                calls["before"] = ref["python_calls"]
                opcodes[variant] = result["python_opcodes"]
                opcodes["before"] = ref["python_opcodes"]
    before_imports = [_import_us(base) for _ in range(imports)]
    now_imports = [_import_us(None) for _ in range(imports)]
    return {
        "cpu_us_per_request": {v: h.summarize(s) for v, s in samples.items()},
        "paired_ratio_to_before": {v: h.summarize(r, digits=3) for v, r in paired.items()},
        "python_calls_per_request": calls,
        "python_opcodes_per_request": opcodes,
        "opentelemetry_imported": checks,
        "import_asyncsdk_us": {
            "before": h.summarize(before_imports),
            "now": h.summarize(now_imports),
        },
    }


def _targets(found: dict[str, Any]) -> list[Json]:
    paired = found["paired_ratio_to_before"]
    counts = (  # each variant's count over before's: steady to about 0.2 % run to run
        (
            "Python calls",
            "python_calls_per_request",
            1.01,
            "profiler call events over 100 requests: nearly deterministic",
        ),
        (
            "Python bytecodes",
            "python_opcodes_per_request",
            1.02,
            "trace opcode events over 100 requests: the interpreted work (±0.2% run to run)",
        ),
    )
    targets = [
        h.target(
            f"{what} per request, {v} / before <= {most}",
            found[key][v] / found[key]["before"],
            "<=",
            most,
            basis,
        )
        for what, key, most, basis in counts
        for v in ("not-installed", "installed-off")
        if v in found[key]
    ]
    targets += [
        h.target(
            f"CPU per request, {v} / before <= 1.02",
            paired[v]["median"],
            "<=",
            1.02,
            "median of paired ratios; the machine's noise is larger than 2 %",
        )
        for v in ("not-installed", "installed-off")
        if v in paired
    ]
    if "on" in paired and "aiohttp-instrumentation" in paired:
        targets.append(
            h.target(
                "CPU per request, on / aiohttp instrumentation alone <= 1.1",
                paired["on"]["median"] / paired["aiohttp-instrumentation"]["median"],
                "<=",
                1.1,
                "ratio of the two variants' paired ratios to before",
            )
        )
    return targets


def run(*, quick: bool = False) -> Json:
    """Measure the variants (``QUICK``: three of them, one round); return the result."""
    params = dict(QUICK if quick else FULL)
    found = _measure(
        rounds=params["rounds"],
        warmup=params["warmup"],
        requests=params["requests"],
        imports=params["imports"],
        variants=params["variants"],
    )
    cpu, paired = found["cpu_us_per_request"], found["paired_ratio_to_before"]
    calls = found["python_calls_per_request"]
    opcodes = found["python_opcodes_per_request"]
    variants = {v: LABELS[v] for v in params["variants"]}
    imports = found["import_asyncsdk_us"]
    return h.make_result(
        scenario=NAME,
        title="Telemetry overhead: client CPU per request",
        description=(
            "Client CPU per sequential `get_call` against a canned local server, each "
            "variant in a fresh process right after a run of the SDK as it was before "
            f"telemetry (commit `{DEFAULT_BASE}`), and the Python calls and bytecodes each "
            "request executes."
        ),
        parameters={**params, "variants": ", ".join(params["variants"]), "base": DEFAULT_BASE},
        results=found,
        ratios=paired,
        targets=_targets(found),
        tables=[
            h.grid(
                "Per variant",
                "variant",
                variants,
                {
                    "cpu": "CPU µs per request, median (min-max)",
                    "paired": "paired ratio to before",
                    "calls": "Python calls per request",
                    "opcodes": "Python bytecodes per request",
                },
                lambda v, c: (
                    h.fmt_range(cpu[v])
                    if c == "cpu"
                    else f"{calls[v]:.2f}"
                    if c == "calls"
                    else f"{opcodes[v]:.0f}"
                    if c == "opcodes"
                    else h.fmt_ratio(paired[v])
                    if v in paired
                    else "1"
                ),
            ),
            h.table(
                "`import asyncsdk`, cumulative µs (`-X importtime`), median (min-max)",
                ["tree", "µs"],
                [[k, h.fmt_range(s)] for k, s in imports.items()],
            ),
        ],
        chart={
            "title": "Telemetry: client CPU per request (µs, median; bars show min-max)",
            "xlabel": "CPU µs per request",
            "groups": {"get_call": {label: cpu[v] for v, label in variants.items()}},
        },
    )


def _child(argv: list[str]) -> None:
    """A variant's run (``--worker VARIANT --url URL --warmup N --requests N``): one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.otel_overhead --worker")
    parser.add_argument("variant", choices=VARIANTS)
    parser.add_argument("--url", required=True)
    parser.add_argument("--warmup", type=int, required=True)
    parser.add_argument("--requests", type=int, required=True)
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(_requests(args.variant, args.url, args.warmup, args.requests))))


if __name__ == "__main__":
    h.scenario_main(run, _child)
