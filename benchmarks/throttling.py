"""Scenario ``throttling``: the throttling lab -- how the client paces itself against
the servers real clients meet, next to a hand-written per-request retry loop.

Every scenario runs the embedded server in its own process (fresh per run) with one of
the situations below, and three contenders in this process (see `benchmarks._lab`): the
SDK at default settings (``sdk``), the SDK with ``rate_limit=R`` (``sdk_r``, R the limit
the account is sold with), and the per-request ``Retry-After`` tenacity loop (``peer``).

* ``sporadic`` -- no rate limit; 10 % of requests answered 429 whatever the rate, with
  ``Retry-After`` 0 or 1 (a quota shared with others, a gateway); 100 ms per answer.
* ``brownout`` -- about a third of attempts fail transiently: 429s, 500/502/503,
  resets, truncated bodies, answers slower than the client's timeout.
* ``outage`` -- 200/s stated in ``RateLimit-Policy``; every request answered 503 for
  10 s from the 5th second.
* ``discover-<rate>-<burst>-<ms>`` -- a token bucket and no rate-limit headers at all,
  for 50/s (burst 250), 200/s (burst 20) and 1,000/s (burst 1), at 5 and 30 ms.
* ``stated`` -- 200/s, burst 20, stated in ``RateLimit-Policy``.
* ``change`` -- no headers; the limit goes 200/s, then 100/s at 10 s, then 300/s at 20 s.
* ``neighbour`` -- no headers; 200/s shared with a neighbour that takes 100/s.
* ``shared-4`` -- four OS processes (`benchmarks._lab.run_fleet`), each with its own
  default client, fetch 1,000 IDs each from one bucket of 200/s, burst 20, 30 ms, no
  headers: processes sharing a quota without coordinating. Measured: aggregate
  accepted / limit while all four run, the 429 share, slowest / fastest completion,
  IDs ending as errors.
* ``documented-50-<ms>`` -- Bird's documented 50 GET/s (burst 50), no headers, at 5,
  30, 80 and 150 ms; the 429 share is also measured after the first 5 s (steady
  state).

Measured from the server's own timeline (requests, 200s and 429s per 0.1 s): accepted
rate over the available rate (the bucket's rate less the neighbour's, after a 2 s
warm-up), the share of 429s, the time to get back to 90 % of a changed limit, the
accepted rate in the 10 s after each change, completion time, and that every ID got
exactly one outcome. A chart per scenario shows the rate each contender sent over time
against the server's limit.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from typing import Any

from benchmarks._harness import Json, make_result, scenario_main, table, target
from benchmarks._lab import Workload, against, ids, run_fleet, run_peer, run_sdk
from benchmarks._situations import (
    BIN,
    NO_HEADERS,
    Scenario,
    fleet_measure,
    matrix,
    measure,
    rate_chart,
    share_429,
)

NAME = "throttling"
TITLE = "Throttling lab"
CONTENDERS = ("sdk", "sdk_r", "peer")
LABELS = {"sdk": "SDK, default", "sdk_r": "SDK, rate_limit=R", "peer": "per-request loop"}


def _one_run(scenario: Scenario, contender: str) -> Json:
    size = max(scenario.work.calls, 1000)
    work, call_ids = scenario.work, ids(scenario.work.calls, size)
    if scenario.workers:
        per_worker = work.calls // scenario.workers
        run, seen = against(
            scenario.server, size, lambda s: _fleet(s, scenario.workers, per_worker, size)
        )
        return fleet_measure(scenario, run["workers"], seen["timeline"])
    if contender == "peer":
        run, seen = against(scenario.server, size, lambda s: run_peer(s, work, call_ids))
    else:
        rate = scenario.r if contender == "sdk_r" else None
        run, seen = against(scenario.server, size, lambda s: run_sdk(s, work, call_ids, rate))
    return measure(scenario, run, seen["timeline"])


async def _fleet(server: Any, workers: int, per_worker: int, size: int) -> Json:
    return {"workers": run_fleet(server, workers, per_worker, size=size)}


def run(*, quick: bool = False) -> Json:
    scenarios = matrix(quick)
    results: Json = {}
    for scenario in scenarios:
        runs = {}
        for contender in scenario.contenders:
            print(f"  {scenario.name}: {contender}", file=sys.stderr, flush=True)
            runs[contender] = _one_run(scenario, contender)
        results[scenario.name] = runs
    sweep = [] if quick else _pace_sweep()
    notes = [
        "Rates come from the server's own timeline: what it received (sent), what it "
        "answered 200 (accepted), per 0.1 s. Available = the bucket's rate less the "
        "neighbour's; the first 2 s (warm-up) and the last second (draining) are left out "
        "of 'accepted / available'.",
        "The peer has no rate limiter: against a limit it is throttled as hard as it "
        "sends, and its ratio is shown for context only.",
        "The charts below show the rate each contender sent (0.5 s moving mean) against "
        "the rate available to it.",
    ]
    if sweep:
        notes.append(
            "A bucket of one at 1,000/s refuses any request that arrives less than 1 ms "
            "after the last one it admitted, so a pace's precision decides, not its rate. "
            "The sweep table paces a client *exactly* (fixed, no adaptation, no retries) "
            "at a share of the limit: the 429s it gets come from timing alone (the client's "
            "timers, loopback, the server's event loop on a shared 2-core machine). No "
            "client here can keep 429s under 3 % much above the lowest of these paces."
        )
    return make_result(
        scenario=NAME,
        title=TITLE,
        description=(
            "One scenario matrix against the embedded server, each scenario run with the "
            "SDK at default settings, with `rate_limit=R`, and with a hand-written "
            "per-request `Retry-After` loop (aiohttp + tenacity), each against a fresh "
            "server process, at concurrency 64 with 4 retries."
        ),
        parameters={
            "quick": quick,
            "scenarios": {s.name: s.title for s in scenarios},
            "r": {s.name: s.r for s in scenarios},
            "server_options": {s.name: list(s.server) for s in scenarios},
        },
        results=results,
        ratios={
            s.name: {c: _headline(s, results[s.name][c]) for c in s.contenders} for s in scenarios
        },
        targets=_targets(scenarios, results),
        tables=[_table(scenarios, results), *([_sweep_table(sweep)] if sweep else [])],
        notes=notes,
        line_charts=[_chart(s, results[s.name]) for s in scenarios],
        pace_sweep=sweep,
    )


#: (fraction of the limit, latency s): a fixed pace against 1,000/s with a burst of one.
SWEEP = tuple((share, latency) for latency in (0.005, 0.03) for share in (0.5, 0.7, 0.9))


def _pace_sweep() -> list[Json]:
    """How many 429s a perfectly paced client gets from a bucket of one at 1,000/s.

    A bucket of one refuses any request that arrives less than 1 ms after the last one
    it admitted: the pace's precision, not its rate, decides. This measures what that
    precision is on the machine (the client's timers, the network, the server's loop).
    """
    found = []
    for share, latency in SWEEP:
        rate = 1000.0 * share
        work = Workload(calls=int(rate * 6), max_retries=0)
        options = f"--rate-limit 1000 --burst 1 --latency {latency} {NO_HEADERS}".split()
        fetch = functools.partial(
            run_sdk, work=work, call_ids=ids(work.calls), rate=rate, adaptive=False
        )
        run, seen = against(options, work.calls, fetch)
        requests = sum(b[0] for b in seen["timeline"])
        found.append(
            {
                "pace_share": share,
                "latency_s": latency,
                "sent_per_s": requests / run["wall_s"],
                "share_429_pct": share_429(seen["timeline"]),
            }
        )
    return found


def _sweep_table(sweep: list[Json]) -> Json:
    return table(
        "A fixed pace against 1,000/s with a burst of one: 429s from timing alone",
        ["pace / limit", "latency ms", "sent/s", "429 share %"],
        (
            [
                f"{r['pace_share']:g}",
                f"{r['latency_s'] * 1000:g}",
                f"{r['sent_per_s']:.0f}",
                f"{r['share_429_pct']:.1f}",
            ]
            for r in sweep
        ),
    )


def _headline(scenario: Scenario, r: Json) -> float:
    if scenario.limit is not None and scenario.outage is None:
        return float(r["achieved_over_available"])
    return float(r["wall_s"])


def _table(scenarios: Sequence[Scenario], results: Json) -> Json:
    rows = []
    for s in scenarios:
        for c in s.contenders:
            r = results[s.name][c]
            ratio = r.get("achieved_over_available")
            after = "; ".join(
                f"@{a['at_s']:g}s {a['ratio']:.2f}, 429 {a['share_429_pct']:.1f} %, "
                f"back {a['back_to_90pct_s'] if a['back_to_90pct_s'] is not None else '-'} s"
                for a in r.get("after_change", [])
            )
            rows.append(
                [
                    s.name,
                    LABELS[c],
                    "-" if ratio is None else f"{ratio:.3f}",
                    f"{r['share_429_pct']:.2f}",
                    f"{r['wall_s']:.1f}",
                    f"{100 * r['ok_share']:.1f}",
                    "yes" if r["exactly_once"] else "NO",
                    f"{r['requests']:,}",
                    after or "-",
                ]
            )
    columns = ("scenario", "contender", "accepted / available", "429 share %", "completion s")
    columns += ("IDs ending as calls %", "one outcome per ID", "requests")
    columns += ("after each change (10 s): ratio, 429s, time back to 90 %",)
    return table("Per scenario and contender (one run each)", columns, rows)


def _targets(scenarios: Sequence[Scenario], results: Json) -> list[Json]:
    found: list[Json] = []
    by = {s.name: s for s in scenarios}

    def add(name: str, value: float, op: str, threshold: float) -> None:
        found.append(target(name, value, op, threshold, "one run per contender, fresh server each"))

    def not_429(name: str, share: float, cap: float) -> None:
        # Stated as the share of answers that were not 429, so that it is positive.
        add(name, 100.0 - share, ">=", 100.0 - cap)

    if "sporadic" in results:
        peer = results["sporadic"]["peer"]["wall_s"]
        for c in ("sdk", "sdk_r"):
            ratio = results["sporadic"][c]["wall_s"] / peer
            add(f"sporadic: {LABELS[c]} completion / peer's <= 1.5", ratio, "<=", 1.5)
    if "brownout" in results:
        for c in CONTENDERS:
            ok = 100 * results["brownout"][c]["ok_share"]
            add(f"brownout: {LABELS[c]} IDs ending as calls >= 99 %", ok, ">=", 99.0)
    for name, r in results.items():
        s, sdk = by[name], r["sdk"]
        if s.workers:
            not_429(f"{name}: 429 share <= 5 % (not 429 >= 95 %)", sdk["share_429_pct"], 5.0)
            add(f"{name}: slowest worker / fastest <= 1.3", sdk["slowest_over_fastest"], "<=", 1.3)
            add(f"{name}: IDs ending as calls = 100 %", 100.0 * sdk["ok_share"], ">=", 100.0)
        elif s.steady_after is not None:
            default = f"{name}: SDK, default,"
            add(f"{default} accepted / available >= 0.9", sdk["achieved_over_available"], ">=", 0.9)
            steady = f"429s after {s.steady_after:g} s <= 3 % (not 429 >= 97 %)"
            not_429(f"{default} {steady}", sdk["steady_429_pct"], 3.0)
        if name.startswith("discover") or name in ("neighbour", "stated"):
            ratio, share = {"stated": (0.97, 0.5), "neighbour": (0.85, 5.0)}.get(name, (0.9, 3.0))
            for c in ("sdk", "sdk_r") if name == "stated" else ("sdk",):
                who, got = f"{name}: {LABELS[c]}", r[c]
                add(
                    f"{who} accepted / available >= {ratio}",
                    got["achieved_over_available"],
                    ">=",
                    ratio,
                )
                cap = f"429 share <= {share} % (not 429 >= {100 - share:g} %)"
                not_429(f"{who} {cap}", got["share_429_pct"], share)
        if name == "change":
            for a in sdk["after_change"]:
                at = f"change: SDK, default, 10 s after {a['at_s']:g}s"
                add(f"{at} >= 0.85", a["ratio"], ">=", 0.85)
                at = f"change: SDK, default, 429s after {a['at_s']:g}s"
                not_429(f"{at} <= 5 % (not 429 >= 95 %)", a["share_429_pct"], 5.0)
        if name == "outage" and s.outage is not None:
            back = sdk["after_change"][0]["back_to_90pct_s"]
            back = 99.0 if back is None else back
            add("outage: SDK, default, back to 90 % of the limit within 3 s", back, "<=", 3.0)
    return found


def _chart(scenario: Scenario, runs: Json) -> Json:
    """The rate each contender sent over time against the server's limit (rendered later)."""
    available = scenario.available

    def reference(bins: int) -> Json:
        if scenario.limit is None:
            return {}
        return {"available": [available(i * BIN) for i in range(bins)]}

    chart = rate_chart(
        scenario.title,
        f"img/throttling-{scenario.name}.png",
        {LABELS[c]: runs[c]["sent_per_s"] for c in scenario.contenders},
        reference,
    )
    if scenario.outage is not None:
        start, length = scenario.outage
        chart["spans"] = [[start, start + length, "outage"]]
    return chart


if __name__ == "__main__":
    scenario_main(run)
