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
"""

from __future__ import annotations

import asyncio
import functools
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks._harness import Json, make_result, scenario_main, table, target
from benchmarks._lab import ACCESS_KEY, Workload, against, ids, outcomes, tally, until
from benchmarks._serverproc import ServerProcess
from benchmarks._situations import BIN, WARMUP, per_second, rate_chart, share_429

NAME = "workspaces"
TITLE = "Throttling lab: one client, two workspaces"
CONTENDERS = ("sdk", "one_limiter")
LABELS = {"sdk": "SDK, default (a limiter per workspace)", "one_limiter": "one limiter for both"}
RUNS = 3


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


async def _fetch(server: ServerProcess, spaces: Sequence[Space], contender: str) -> Json:
    """Fetch every space's IDs at once through one client; outcomes and times per space."""
    import asyncsdk

    call_ids = ids(sum(s.calls for s in spaces))
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
        stream = asyncsdk.iter_calls(
            client, space.workspace, server.channel_id, until(chunk, None), concurrency=64
        )
        done = tally(await outcomes(stream))
        found[space.name] = {"wall_s": time.perf_counter() - start, **done, "ids": len(chunk)}

    chunks, at = [], 0
    for space in spaces:
        chunks.append(call_ids[at : at + space.calls])
        at += space.calls
    async with client:
        await asyncio.gather(*(one(s, c) for s, c in zip(spaces, chunks, strict=True)))
    found["limiter"] = repr(client.limiter)
    return found


def _one_run(variant: Variant, spaces: Sequence[Space], contender: str) -> Json:
    quotas = [f"--workspace-quota={s.workspace}:{s.rate:g}:{BURST}" for s in spaces]
    options = ("--latency", "0.03", *quotas, *variant.options)
    fetch = functools.partial(_fetch, spaces=spaces, contender=contender)
    return _measure(spaces, *against(options, sum(s.calls for s in spaces), fetch))


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
        per[space.name] = {
            **r,
            "lost": r["ids"] - r["ok"],
            "requests": sum(b[0] for b in timeline),
            "share_429_pct": share_429(timeline),
            "achieved_over_available": got / avail if avail else 0.0,
            "sent_per_s": per_second(timeline, 0),
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
    return make_result(
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
        },
        results=results,
        ratios={
            v.name: {c: results[v.name][c]["achieved_over_available"] for c in CONTENDERS}
            for v in variants
        },
        targets=_targets(variants, results, runs_of["sdk"]),
        tables=[_table(variants, spaces, results)],
        notes=[
            "Rates come from the server's per-workspace timelines. Available = each "
            "workspace's quota while it still had IDs, without the first 2 s (warm-up) and "
            "its last second (draining); the total ratio sums both workspaces.",
            f"The SDK's row is the median of {runs_of['sdk']} runs (by total ratio); the "
            "ratios of every run are in the JSON (`ratios_of_runs`).",
        ],
        line_charts=[_chart(v, spaces, results[v.name]) for v in variants],
    )


def _targets(variants: Sequence[Variant], results: Json, runs: int) -> list[Json]:
    found = []
    basis = f"median of {runs} runs, fresh server each"
    for v in variants:
        r = results[v.name]["sdk"]
        found += [
            target(
                f"{v.name}: total accepted / available >= 0.90",
                r["achieved_over_available"],
                ">=",
                0.9,
                basis,
            ),
            target(
                f"{v.name}: 429 share on every workspace <= 5 % (not 429 >= 95 %)",
                100.0 - r["max_share_429_pct"],
                ">=",
                95.0,
                basis,
            ),
            # No ID lost, stated as the share that ended as calls, so that it is positive.
            target(
                f"{v.name}: no ID lost in any run (IDs ending as calls >= 100 %)",
                100.0 * min(r["ok_share_of_runs"]),
                ">=",
                100.0,
                f"every one of {runs} runs",
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
    return table(
        "Per variant, contender and workspace",
        [
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
        rows,
    )


def _chart(variant: Variant, spaces: Sequence[Space], runs: Json) -> Json:
    return rate_chart(
        f"One client, two workspaces (50/s and 200/s), {variant.title}",
        f"img/workspaces-{variant.name}.png",
        {
            f"{LABELS[c]}: {s.name}": runs[c]["spaces"][s.name]["sent_per_s"]
            for c in CONTENDERS
            for s in spaces
        },
        lambda bins: {f"quota {s.name}": [s.rate] * bins for s in spaces},
    )


if __name__ == "__main__":
    scenario_main(run)
