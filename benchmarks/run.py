"""Run the benchmark scenarios, write their JSON results, and render the results page.

Usage::

    python -m benchmarks.run [--quick] [--only NAME ...] [--out DIR] [--docs DIR | --no-docs]

Each scenario writes ``<out>/<NAME>.json``. The page ``<docs>/benchmarks.md`` and the chart
``<docs>/img/benchmarks.png`` are then rendered from every registered scenario's JSON found
in ``<out>``, so ``--only`` refreshes one scenario and keeps the others on the page. The
combined results are printed to stdout as JSON; progress goes to stderr.

Adding a scenario: write ``benchmarks/<name>.py`` with ``NAME``, ``TITLE`` and
``run(*, quick: bool) -> dict`` (see ``benchmarks/_harness.py``) and add it to `SCENARIOS`.
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

#: The registry: scenario name -> module. Order is the order on the page.
SCENARIOS: dict[str, str] = {
    "decode": "benchmarks.decode",
    "memory": "benchmarks.memory",
    "decode_variants": "benchmarks.decode_variants",
    "ratelimit": "benchmarks.ratelimit",
    "overhead": "benchmarks.overhead",
    "redis_limiter": "benchmarks.redis_limiter",
    "client_cost": "benchmarks.client_cost",
    "bulk_memory": "benchmarks.bulk_memory",
    "throttling": "benchmarks.throttling",
    "workspaces": "benchmarks.workspaces",
    "webhook_verify": "benchmarks.webhook_verify",
    "webhook_receiver": "benchmarks.webhook_receiver",
    "webhook_pipeline": "benchmarks.webhook_pipeline",
    "page_decode": "benchmarks.page_decode",
    "export": "benchmarks.export",
    "prefetch": "benchmarks.prefetch",
}

DOCS_DIR = ROOT / "docs"
PAGE = "benchmarks.md"
IMAGE = "img/benchmarks.png"


def run_scenario(name: str, *, quick: bool) -> Json:
    module = importlib.import_module(SCENARIOS[name])
    registered_as = module.NAME
    if registered_as != name:
        raise RuntimeError(f"{SCENARIOS[name]}.NAME is {registered_as!r}, registered as {name!r}")
    result: Json = module.run(quick=quick)
    return result


def render(out: Path, docs: Path) -> None:
    results = [
        json.loads((out / f"{name}.json").read_text())
        for name in SCENARIOS
        if (out / f"{name}.json").exists()
    ]
    has_chart = render_chart(results, docs / IMAGE)
    render_line_charts(results, docs)
    (docs / PAGE).write_text(render_markdown(results, image=IMAGE if has_chart else None))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few, short rounds (a smoke run)")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=list(SCENARIOS),
        metavar="NAME",
        help=f"run only these scenarios (of: {', '.join(SCENARIOS)})",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS_DIR,
        help="directory for <scenario>.json (default: benchmarks/results)",
    )
    docs = parser.add_mutually_exclusive_group()
    docs.add_argument(
        "--docs",
        type=Path,
        default=DOCS_DIR,
        help="directory for benchmarks.md and img/benchmarks.png (default: docs)",
    )
    docs.add_argument("--no-docs", action="store_true", help="write the JSON results only")
    ns = parser.parse_args(argv)

    combined: Json = {}
    for name in ns.only or list(SCENARIOS):
        start = time.perf_counter()
        print(f"running {name}{' (quick)' if ns.quick else ''} ...", file=sys.stderr, flush=True)
        result = run_scenario(name, quick=ns.quick)
        write_json(ns.out / f"{name}.json", result)
        print(f"  done in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
        combined[name] = result
    if not ns.no_docs:
        render(ns.out, ns.docs)
    print(json.dumps(combined, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
