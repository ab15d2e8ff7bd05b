"""Scenario ``workspaces``: one client, two workspaces at once, each with its own quota.

Bird's quota is per workspace and one access key may serve several. The embedded
server runs in its own process (`benchmarks._lab`) with a quota per workspace
(``--workspace-quota``): workspace A at 50/s with 1,000 IDs to fetch, workspace B at
200/s with 4,000, burst 50 each, 30 ms per answer. Ideally both finish in 20 s. One
client at default settings fetches both at once (two ``iter_calls`` streams, 64 in
flight each). Two server variants, as Bird may or may not state its limits:

* ``stated`` -- the server's default headers (``RateLimit-Policy``, ``X-RateLimit-*``);
* ``silent`` -- no rate-limit headers: the client learns each limit from 429s alone.

Contenders, measured in the same run, each against a fresh server process:

* ``sdk`` -- ``Client()`` at default settings: a limiter per workspace;
* ``one_limiter`` -- the same client given one adaptive limiter for every workspace
  (``limiter=TokenBucketLimiter(None)``, which has no per-workspace children): how the
  client paced several workspaces before it kept a limiter per workspace.

Measured from the server's per-workspace timelines (requests, 200s and 429s per 0.1 s):
accepted over available (each workspace's quota while it had IDs left, after a 2 s
warm-up and without its last, draining second; the total is the sum of both), the share
of 429s per workspace, each workspace's completion time, and that every ID got exactly
one outcome (none lost). The SDK's headline run is the median of ``RUNS`` runs.

Run alone: ``python -m benchmarks.workspaces [--quick]``.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks._harness import Json, make_result, scenario_main, sources_sha256, target
from benchmarks._lab import ACCESS_KEY, Workload, _ids, lab_server
from benchmarks._serverproc import ServerProcess

NAME = "workspaces"
TITLE = "Throttling lab: one client, two workspaces"
CONTENDERS = ("sdk", "one_limiter")
LABELS = {"sdk": "SDK, default (a limiter per workspace)", "one_limiter": "one limiter for both"}
BIN = 0.1
WARMUP = 2.0
RUNS = 3
MEASURED_SOURCES = ("_workspaces.py", "client.py", "ratelimit.py", "_throttling/_rate.py")


@dataclass(frozen=True)
class Space:
    """One workspace of the scenario: its id, quota and IDs to fetch."""

    name: str
    workspace: str
    rate: float
    calls: int


@dataclass(frozen=True)
class Variant:
    """A server variant: its name, title and extra options."""

    name: str
    title: str
    options: tuple[str, ...]


def _spaces(scale: float) -> tuple[Space, ...]:
    return (
        Space("A (50/s)", str(uuid.UUID(int=0xA, version=4)), 50.0, int(1000 * scale)),
        Space("B (200/s)", str(uuid.UUID(int=0xB, version=4)), 200.0, int(4000 * scale)),
    )


VARIANTS = (
    Variant("stated", "limits stated in headers", ()),
    Variant("silent", "no rate-limit headers", ("--no-policy-header", "--no-limit-headers")),
)
BURST = 50
WORK = Workload(calls=0, concurrency=64, max_retries=4, timeout=2.0)


def _server(variant: Variant, spaces: Sequence[Space]) -> ServerProcess:
    quotas = [f"--workspace-quota={s.workspace}:{s.rate:g}:{BURST}" for s in spaces]
    size = sum(s.calls for s in spaces)
    return lab_server(("--latency", "0.03", *quotas, *variant.options), size=size)


async def _fetch(server: ServerProcess, spaces: Sequence[Space], contender: str) -> Json:
    """Fetch every space's IDs at once through one client; outcomes and times per space."""
    import asyncsdk
    from asyncsdk.server import Dataset

    ids = list(Dataset(size=sum(s.calls for s in spaces)).call_ids)
    limiter = asyncsdk.TokenBucketLimiter(None) if contender == "one_limiter" else None
    client = asyncsdk.Client(
        access_key=ACCESS_KEY,
        base_url=server.base_url,
        max_retries=WORK.max_retries,
        timeout=asyncsdk.Timeout(connect=WORK.timeout, total=WORK.timeout),
        limiter=limiter,
    )
    start = time.perf_counter()
    found: Json = {}

    async def one(space: Space, chunk: list[uuid.UUID]) -> None:
        outcomes: dict[int, str] = {}
        async for result in asyncsdk.iter_calls(
            client, space.workspace, server.channel_id, _ids(chunk, None), concurrency=64
        ):
            if result.index in outcomes:
                raise RuntimeError(f"ID {result.index} got two outcomes")
            outcomes[result.index] = "ok" if result.ok else type(result.error).__name__
        found[space.name] = {
            "wall_s": time.perf_counter() - start,
            "ids": len(chunk),
            "exactly_once": sorted(outcomes) == list(range(len(chunk))),
            "ok": sum(1 for v in outcomes.values() if v == "ok"),
            "errors": dict(Counter(v for v in outcomes.values() if v != "ok")),
        }

    chunks, at = [], 0
    for space in spaces:
        chunks.append(ids[at : at + space.calls])
        at += space.calls
    async with client:
        await asyncio.gather(*(one(s, c) for s, c in zip(spaces, chunks, strict=True)))
    found["limiter"] = repr(client.limiter)
    return found


def _one_run(variant: Variant, spaces: Sequence[Space], contender: str) -> Json:
    server = _server(variant, spaces)
    try:
        run = asyncio.run(_fetch(server, spaces, contender))
        seen = server.stop()
    finally:
        server.kill()
    return _measure(spaces, run, seen)


def _measure(spaces: Sequence[Space], run: Json, seen: Json) -> Json:
    timelines: dict[str, list[list[int]]] = seen["workspace_timelines"]
    per: Json = {}
    got_all = avail_all = 0.0
    for space in spaces:
        timeline = timelines.get(space.workspace, [])
        r = run[space.name]
        done = min(len(timeline), int(r["wall_s"] / BIN) + 1)
        lo, hi = int(WARMUP / BIN), max(int(WARMUP / BIN), done - int(1.0 / BIN))
        got = sum(b[1] for b in timeline[lo:hi])
        avail = space.rate * (hi - lo) * BIN
        got_all += got
        avail_all += avail
        requests = sum(b[0] for b in timeline)
        throttled = sum(b[2] for b in timeline)
        per[space.name] = {
            **r,
            "lost": r["ids"] - r["ok"],
            "requests": requests,
            "share_429_pct": 100.0 * throttled / requests if requests else 0.0,
            "achieved_over_available": got / avail if avail else 0.0,
            "sent_per_s": [round(b[0] / BIN) for b in timeline],
        }
    return {
        "spaces": per,
        "achieved_over_available": got_all / avail_all if avail_all else 0.0,
        "max_share_429_pct": max(p["share_429_pct"] for p in per.values()),
        "lost": sum(p["lost"] for p in per.values()),
        "exactly_once": all(p["exactly_once"] for p in per.values()),
        "wall_s": max(p["wall_s"] for p in per.values()),
        "limiter": run["limiter"],
    }


def run(*, quick: bool = False) -> Json:
    spaces = _spaces(0.25 if quick else 1.0)
    variants = VARIANTS[:1] if quick else VARIANTS
    runs_of = {"sdk": 1 if quick else RUNS, "one_limiter": 1}
    results: Json = {}
    for variant in variants:
        by: Json = {}
        for contender in CONTENDERS:
            samples = []
            for i in range(runs_of[contender]):
                print(f"  {variant.name}: {contender} #{i + 1}", file=sys.stderr, flush=True)
                samples.append(_one_run(variant, spaces, contender))
            ordered = sorted(samples, key=lambda s: s["achieved_over_available"])
            median = ordered[len(ordered) // 2]
            by[contender] = {
                **median,
                "runs": len(samples),
                "ratios_of_runs": [round(s["achieved_over_available"], 3) for s in samples],
                "max_429_pct_of_runs": [round(s["max_share_429_pct"], 2) for s in samples],
                "lost_of_runs": [s["lost"] for s in samples],
                "ok_share_of_runs": [
                    sum(p["ok"] for p in s["spaces"].values())
                    / sum(p["ids"] for p in s["spaces"].values())
                    for s in samples
                ],
            }
        results[variant.name] = by
    result = make_result(
        scenario=NAME,
        title=TITLE,
        description=(
            "One client at default settings fetches from two workspaces at once: A at 50/s "
            "(1,000 IDs) and B at 200/s (4,000 IDs), burst 50, 30 ms answers; ideally both "
            "finish in 20 s. Against a limiter per workspace (the SDK) and one limiter for "
            "both (the previous design), each against a fresh server process."
        ),
        parameters={
            "quick": quick,
            "spaces": {s.name: {"rate": s.rate, "calls": s.calls} for s in spaces},
            "burst": BURST,
            "variants": {v.name: v.title for v in variants},
            "runs": runs_of,
            "sources_sha256": sources_sha256(MEASURED_SOURCES),
        },
        results=results,
        ratios={
            v.name: {c: results[v.name][c]["achieved_over_available"] for c in CONTENDERS}
            for v in variants
        },
        targets=_targets(variants, results, runs_of["sdk"]),
        tables=[_table(variants, spaces, results)],
        chart=None,
        notes=[
            "Rates come from the server's per-workspace timelines. Available = each "
            "workspace's quota while it still had IDs, without the first 2 s (warm-up) and "
            "its last second (draining); the total ratio sums both workspaces.",
            f"The SDK's row is the median of {runs_of['sdk']} runs (by total ratio); the "
            "ratios of every run are in the JSON (`ratios_of_runs`).",
        ],
    )
    result["line_charts"] = [_chart(v, spaces, results[v.name]) for v in variants]
    return result


def _targets(variants: Sequence[Variant], results: Json, runs: int) -> list[Json]:
    found = []
    basis = f"median of {runs} runs, fresh server each"
    for v in variants:
        r = results[v.name]["sdk"]
        found += [
            target(
                name=f"{v.name}: total accepted / available >= 0.90",
                value=r["achieved_over_available"],
                op=">=",
                threshold=0.9,
                basis=basis,
            ),
            target(
                name=f"{v.name}: 429 share on every workspace <= 5 % (not 429 >= 95 %)",
                value=100.0 - r["max_share_429_pct"],
                op=">=",
                threshold=95.0,
                basis=basis,
            ),
            # No ID lost, stated as the share that ended as calls, so that it is positive.
            target(
                name=f"{v.name}: no ID lost in any run (IDs ending as calls >= 100 %)",
                value=100.0 * min(r["ok_share_of_runs"]),
                op=">=",
                threshold=100.0,
                basis=f"every one of {runs} runs",
            ),
        ]
    return found


def _table(variants: Sequence[Variant], spaces: Sequence[Space], results: Json) -> Json:
    rows = []
    for v in variants:
        for c in CONTENDERS:
            r = results[v.name][c]
            for s in spaces:
                p = r["spaces"][s.name]
                rows.append(
                    [
                        v.name,
                        LABELS[c],
                        s.name,
                        f"{p['achieved_over_available']:.3f}",
                        f"{r['achieved_over_available']:.3f}",
                        f"{p['share_429_pct']:.2f}",
                        f"{p['wall_s']:.1f}",
                        str(p["lost"]),
                        "yes" if p["exactly_once"] else "NO",
                        f"{p['requests']:,}",
                    ]
                )
    return {
        "title": "Per variant, contender and workspace",
        "columns": [
            "variant",
            "contender",
            "workspace",
            "accepted / available",
            "total accepted / available",
            "429 share %",
            "completion s",
            "IDs lost",
            "one outcome per ID",
            "requests",
        ],
        "rows": rows,
    }


def _smooth(xs: list[int], width: int = 5) -> list[float]:
    return [sum(xs[max(0, i - width + 1) : i + 1]) / min(i + 1, width) for i in range(len(xs))]


def _chart(variant: Variant, spaces: Sequence[Space], runs: Json) -> Json:
    series = {
        f"{LABELS[c]}: {s.name}": [
            round(x, 1) for x in _smooth(runs[c]["spaces"][s.name]["sent_per_s"])
        ]
        for c in CONTENDERS
        for s in spaces
    }
    longest = max(len(ys) for ys in series.values())
    return {
        "title": f"One client, two workspaces (50/s and 200/s), {variant.title}",
        "file": f"img/workspaces-{variant.name}.png",
        "dt": BIN,
        "ylabel": "requests sent / s (0.5 s mean)",
        "series": series,
        "reference": {f"quota {s.name}": [s.rate] * longest for s in spaces},
        "spans": [],
    }


if __name__ == "__main__":
    scenario_main(run)
