"""Benchmark ``otel_overhead``: client CPU per request with telemetry off, on, and the peer.

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
paired ratios is reported, with a deterministic count: Python function calls (profiler
``call`` events, coroutine resumptions included) per request over 100 requests.

Import time: ``python -X importtime -c "import asyncsdk"``, the cumulative microseconds
of ``asyncsdk``, for ``before`` and this tree (opentelemetry installed), ``--imports``
times each, alternating; the median is reported.

Run alone: ``python -m benchmarks.otel_overhead [--quick]`` (prints JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks._canned import CannedServer

ROOT = Path(__file__).resolve().parent.parent
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


def run(
    *,
    rounds: int,
    warmup: int,
    count: int,
    imports: int,
    base_ref: str,
    variants: Sequence[str] = VARIANTS,
) -> dict[str, Any]:
    """Measure ``variants`` for ``rounds`` rounds, and the import time; return JSON."""
    base = _base_tree(base_ref)
    try:
        return _run(base, rounds, warmup, count, imports, variants)
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
    with CannedServer() as server:
        for index in range(rounds):
            shift = index % len(others)
            for variant in others[shift:] + others[:shift]:
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
    before_imports: list[float] = []
    now_imports: list[float] = []
    for _ in range(imports):
        before_imports.append(_import_us(base))
        now_imports.append(_import_us(None))
    medians = {v: statistics.median(s) for v, s in samples.items()}
    before = medians["before"]
    return {
        "requests_per_round": count,
        "rounds": rounds,
        "cpu_us_per_request": {
            v: {
                "median": round(medians[v], 1),
                "min": round(min(s), 1),
                "max": round(max(s), 1),
                "vs_before": round(medians[v] / before, 4),
            }
            for v, s in samples.items()
        },
        "paired_ratio_to_before": {
            v: {
                "median": round(statistics.median(r), 4),
                "min": round(min(r), 4),
                "max": round(max(r), 4),
            }
            for v, r in paired.items()
        },
        "python_calls_per_request": calls,
        "opentelemetry_imported": checks,
        "added_us_over_before": {
            v: round(medians[v] - before, 1)
            for v in ("on", "aiohttp-instrumentation")
            if v in medians
        },
        "import_asyncsdk_us": {
            "before_median": statistics.median(before_imports),
            "now_median": statistics.median(now_imports),
            "before": before_imports,
            "now": now_imports,
        },
    }


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark (or, with ``--worker``, one variant's round) and print JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.otel_overhead")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 500 requests")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--imports", type=int, default=9)
    parser.add_argument("--base", default=DEFAULT_BASE, help="the commit 'before' measures")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated")
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        result = asyncio.run(_requests(args.worker, args.url, args.warmup, args.requests))
        print(json.dumps(result))
        return
    if args.quick:
        args.rounds, args.requests, args.warmup, args.imports = 3, 500, 100, 3
    result = run(
        rounds=args.rounds,
        warmup=args.warmup,
        count=args.requests,
        imports=args.imports,
        base_ref=args.base,
        variants=[v for v in args.variants.split(",") if v in VARIANTS],
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
