"""Run the benchmark scenarios, write their JSON results, and render the results page.

Usage::

    python -m benchmarks.run [--quick] [--only NAME ...] [--out DIR] [--docs DIR | --no-docs]
    python -m benchmarks.run NAME ...    # the same as --only NAME ...

Each scenario writes ``<out>/<NAME>.json``. The page ``<docs>/benchmarks.md`` and its
charts are then rendered from every registered scenario's JSON found in ``<out>``, so
``--only`` refreshes one scenario and keeps the others on the page. The combined results
are printed to stdout as JSON; progress goes to stderr. Adding a scenario: see
``benchmarks/__init__.py``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks._harness import RESULTS_DIR, ROOT, Json, write_json
from benchmarks._render import render_chart, render_line_charts, render_markdown

#: The registry: ``benchmarks.<name>`` modules, in the order of the page.
SCENARIOS = (
    *("decode", "memory", "decode_variants", "ratelimit", "overhead", "redis_limiter"),
    *("client_cost", "bulk_memory", "throttling", "workspaces", "webhook_verify"),
    *("webhook_receiver", "webhook_pipeline", "page_decode", "export", "prefetch"),
    *("streams", "recordings_decode", "media_throughput", "media_memory", "media_archive"),
    "otel_overhead",
)
DOCS_DIR = ROOT / "docs"
PAGE = "benchmarks.md"
IMAGE = "img/benchmarks.png"


def run_scenario(name: str, *, quick: bool) -> Json:
    """Import ``benchmarks.<name>`` and run it."""
    module = importlib.import_module(f"benchmarks.{name}")
    if name != module.NAME:
        raise RuntimeError(f"benchmarks.{name}.NAME is {module.NAME!r}")
    result: Json = module.run(quick=quick)
    return result


def render(out: Path, docs: Path) -> None:
    """Render the page and its charts into ``docs`` from the results in ``out``."""
    paths = [out / f"{name}.json" for name in SCENARIOS]
    results = [json.loads(path.read_text()) for path in paths if path.exists()]
    has_chart = render_chart(results, docs / IMAGE)
    render_line_charts(results, docs)
    (docs / PAGE).write_text(render_markdown(results, image=IMAGE if has_chart else None))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few, short rounds (a smoke run)")
    parser.add_argument(
        "--only", nargs="+", choices=SCENARIOS, metavar="NAME", help="run only these scenarios"
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="the same as --only NAME")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="for <scenario>.json")
    docs = parser.add_mutually_exclusive_group()
    docs.add_argument("--docs", type=Path, default=DOCS_DIR, help="for benchmarks.md, img/")
    docs.add_argument("--no-docs", action="store_true", help="write the JSON results only")
    ns = parser.parse_args(argv)
    unknown = [name for name in ns.names if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {unknown[0]!r} (choose from {', '.join(SCENARIOS)})")
    ns.only = [*(ns.only or ()), *ns.names] or None

    combined: Json = {}
    for name in ns.only or SCENARIOS:
        start = time.perf_counter()
        print(f"running {name}{' (quick)' if ns.quick else ''} ...", file=sys.stderr, flush=True)
        combined[name] = run_scenario(name, quick=ns.quick)
        write_json(ns.out / f"{name}.json", combined[name])
        print(f"  done in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    if not ns.no_docs:
        render(ns.out, ns.docs)
    print(json.dumps(combined, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
