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
* ``shared-4`` -- four OS processes (`benchmarks._labworker`), each with its own
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

Run alone: ``python -m benchmarks.throttling [--quick]``.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from benchmarks._harness import Json, make_result, scenario_main, sources_sha256, target
from benchmarks._lab import Workload, lab_server, run_peer, run_sdk
from benchmarks._labworker import run_fleet
from benchmarks._serverproc import ServerProcess

NAME = "throttling"
TITLE = "Throttling lab"
CONTENDERS = ("sdk", "sdk_r", "peer")
LABELS = {"sdk": "SDK, default", "sdk_r": "SDK, rate_limit=R", "peer": "per-request loop"}
BIN = 0.1  # seconds per bin of the server's timeline
WARMUP = 2.0
MEASURED_SOURCES = (
    "_throttling/_rate.py",
    "_throttling/_verdicts.py",
    "ratelimit.py",
    "retry.py",
    "client.py",
)


@dataclass(frozen=True)
class Scenario:
    """One situation: server options, workload, what is available when, and R."""

    name: str
    title: str
    server: tuple[str, ...]
    work: Workload
    r: float
    limit: float | None = None
    burst: int = 0
    schedule: tuple[tuple[float, float], ...] = ()
    neighbour: float = 0.0
    outage: tuple[float, float] | None = None
    changes: tuple[float, ...] = field(default=())
    #: Processes sharing the quota, each with its own default client (0: one, in here).
    workers: int = 0
    #: Seconds after which the 429 share is also measured as the steady state.
    steady_after: float | None = None
    #: Who runs it (processes sharing a quota: each its own default client only).
    contenders: tuple[str, ...] = CONTENDERS

    def available(self, t: float) -> float | None:
        """Requests per second the server would accept from us at time ``t``."""
        if self.limit is None:
            return None
        rate = self.limit
        for at, new in self.schedule:
            if t >= at:
                rate = new
        return rate - self.neighbour


NO_HEADERS = "--no-policy-header --no-limit-headers"
MS30 = "--latency 0.03"


def _opts(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _scenarios(quick: bool) -> list[Scenario]:
    scale = 0.25 if quick else 1.0
    seconds = 4.0 if quick else 20.0
    found: list[Scenario] = [
        Scenario(
            "sporadic",
            "Sporadic 429s (10 %, Retry-After 0-1 s), no rate limit, 100 ms answers",
            _opts(
                "--fault-429 0.1 --fault-429-retry-after 0,1 --latency 0.09 --latency-jitter 0.02"
            ),
            Workload(calls=int(2000 * scale)),
            r=400.0,
        ),
        Scenario(
            "brownout",
            "Brownout: a third of attempts fail (429, 5xx, resets, cut bodies, too slow)",
            _opts(
                "--fault-429 0.10 --fault-500 0.05 --fault-502 0.03 --fault-503 0.05 "
                "--fault-reset 0.04 --fault-truncate 0.03 --fault-slow 0.03 --slow-seconds 3 "
                "--latency 0.03"
            ),
            Workload(calls=int(2000 * scale), timeout=1.0),
            r=400.0,
        ),
        Scenario(
            "outage",
            "Outage: 10 s of 503s from the 5th second, 200/s stated",
            _opts("--rate-limit 200 --burst 20 --latency 0.03 --outage 5:10"),
            Workload(calls=20000, duration=25.0),
            r=200.0,
            limit=200.0,
            burst=20,
            outage=(5.0, 10.0),
            changes=(15.0,),
        ),
    ]
    combos = (
        [(200.0, 20, 0.03)]
        if quick
        else [
            (50.0, 250, 0.005),
            (50.0, 250, 0.03),
            (200.0, 20, 0.005),
            (200.0, 20, 0.03),
            (1000.0, 1, 0.005),
            (1000.0, 1, 0.03),
        ]
    )
    for rate, burst, latency in combos:
        found.append(
            Scenario(
                f"discover-{rate:g}-{burst}-{latency * 1000:g}ms",
                f"Discovery, no headers: {rate:g}/s, burst {burst}, {latency * 1000:g} ms",
                _opts(f"--rate-limit {rate:g} --burst {burst} --latency {latency} {NO_HEADERS}"),
                Workload(calls=100_000, duration=seconds),
                r=rate,
                limit=rate,
                burst=burst,
            )
        )
    found += [
        Scenario(
            "stated",
            "Stated limit: 200/s, burst 20, RateLimit-Policy on every answer",
            _opts("--rate-limit 200 --burst 20 --latency 0.03"),
            Workload(calls=100_000, duration=seconds * 0.75),
            r=200.0,
            limit=200.0,
            burst=20,
        ),
        Scenario(
            "change",
            "Limit changes: 200/s, 100/s from 10 s, 300/s from 20 s (no headers)",
            _opts(f"--rate-limit 200 --burst 20 --rate-schedule 10:100,20:300 {NO_HEADERS} {MS30}"),
            Workload(calls=100_000, duration=30.0),
            r=200.0,
            limit=200.0,
            burst=20,
            schedule=((10.0, 100.0), (20.0, 300.0)),
            changes=(10.0, 20.0),
        ),
        Scenario(
            "neighbour",
            "A neighbour takes 100/s of the account's 200/s (no headers)",
            _opts(f"--rate-limit 200 --burst 20 --neighbour-rate 100 {NO_HEADERS} {MS30}"),
            Workload(calls=100_000, duration=seconds),
            r=200.0,
            limit=200.0,
            burst=20,
            neighbour=100.0,
        ),
    ]
    per_worker = int(1000 * scale)
    found.append(
        Scenario(
            "shared-4",
            "Four processes, each with its own default client, share 200/s, burst 20, 30 ms",
            _opts(f"--rate-limit 200 --burst 20 {NO_HEADERS} {MS30}"),
            Workload(calls=4 * per_worker, max_retries=3),
            r=200.0,
            limit=200.0,
            burst=20,
            workers=4,
            contenders=("sdk",),
        )
    )
    for latency in (0.005, 0.03, 0.08, 0.15):
        found.append(
            Scenario(
                f"documented-50-{latency * 1000:g}ms",
                f"Bird's documented 50/s (burst 50), no headers, {latency * 1000:g} ms",
                _opts(f"--rate-limit 50 --burst 50 --latency {latency} {NO_HEADERS}"),
                Workload(calls=100_000, duration=seconds),
                r=50.0,
                limit=50.0,
                burst=50,
                steady_after=5.0,
            )
        )
    if quick:  # a smoke run: one scenario without a limit, one with
        found = [s for s in found if s.name in ("sporadic", "discover-200-20-30ms")]
    return found


# --- one run ---------------------------------------------------------------------------------


def _one_run(scenario: Scenario, contender: str) -> Json:
    server = lab_server(scenario.server, size=max(scenario.work.calls, 1000))
    if scenario.workers:
        return _fleet_run(scenario, server)
    try:
        from asyncsdk.server import Dataset

        ids = list(Dataset(size=max(scenario.work.calls, 1000)).call_ids[: scenario.work.calls])
        if contender == "peer":
            run = asyncio.run(run_peer(server, scenario.work, ids))
        else:
            rate = scenario.r if contender == "sdk_r" else None
            run = asyncio.run(run_sdk(server, scenario.work, ids, rate))
        seen = server.stop()
    finally:
        server.kill()
    return _measure(scenario, run, seen)


def _fleet_run(scenario: Scenario, server: ServerProcess) -> Json:
    """Processes sharing the quota: aggregate share, 429s, slowest / fastest, errors."""
    per_worker = scenario.work.calls // scenario.workers
    size = max(scenario.work.calls, 1000)
    try:
        fleet = run_fleet(server, scenario.workers, per_worker, size=size)
        seen = server.stop()
    finally:
        server.kill()
    workers = fleet["workers"]
    timeline: list[list[int]] = seen["timeline"]
    walls = [w["wall_s"] for w in workers]
    errors: Counter[str] = Counter()
    for w in workers:
        errors.update({k: v for k, v in w["outcomes"].items() if k != "ok"})
    requests = sum(b[0] for b in timeline)
    throttled = sum(b[2] for b in timeline)
    # Accepted over available while all of them ran: from the warm-up to the first done.
    lo, hi = int(WARMUP / BIN), int(min(walls) / BIN)
    got = sum(b[1] for b in timeline[lo:hi])
    avail = (scenario.limit or 0.0) * max(hi - lo, 1) * BIN
    ids = sum(sum(w["outcomes"].values()) for w in workers)
    return {
        "wall_s": max(walls),
        "walls_s": walls,
        "slowest_over_fastest": max(walls) / min(walls),
        "ids": ids,
        "exactly_once": ids == per_worker * scenario.workers,
        "ok_share": sum(w["outcomes"].get("ok", 0) for w in workers) / max(ids, 1),
        "errors": dict(errors),
        "requests": requests,
        "share_429_pct": 100.0 * throttled / requests if requests else 0.0,
        "achieved_over_available": got / avail if avail else 0.0,
        "after_change": [],
        "sent_per_s": [round(b[0] / BIN) for b in timeline],
        "accepted_per_s": [round(b[1] / BIN) for b in timeline],
        "limiters": [w["limiter"] for w in workers],
    }


def _measure(scenario: Scenario, run: Json, seen: Json) -> Json:
    outcomes: dict[int, str] = run.pop("outcomes")
    timeline: list[list[int]] = seen["timeline"]
    taken = len(outcomes)
    exactly_once = sorted(outcomes) == list(range(taken))
    ok = sum(1 for v in outcomes.values() if v == "ok")
    sent = [b[0] / BIN for b in timeline]
    accepted = [b[1] / BIN for b in timeline]
    requests = sum(b[0] for b in timeline)
    throttled = sum(b[2] for b in timeline)
    measure: Json = {
        **run,
        "ids": taken,
        "exactly_once": exactly_once,
        "ok_share": ok / taken if taken else 0.0,
        "errors": dict(Counter(v for v in outcomes.values() if v != "ok")),
        "requests": requests,
        "share_429_pct": 100.0 * throttled / requests if requests else 0.0,
        "sent_per_s": [round(x) for x in sent],
        "accepted_per_s": [round(x) for x in accepted],
    }
    if scenario.limit is not None:
        end = len(timeline) - int(1.0 / BIN)  # the last second drains in-flight calls
        lo = int(WARMUP / BIN)
        avail = sum(scenario.available(i * BIN) or 0.0 for i in range(lo, end)) * BIN
        got = sum(b[1] for b in timeline[lo:end])
        measure["achieved_over_available"] = got / avail if avail else 0.0
        measure["after_change"] = [_after(scenario, timeline, t) for t in scenario.changes]
    if scenario.steady_after is not None:
        rest = timeline[int(scenario.steady_after / BIN) :]
        sent_after = sum(b[0] for b in rest)
        measure["steady_429_pct"] = 100.0 * sum(b[2] for b in rest) / max(sent_after, 1)
    if scenario.outage is not None:
        start, length = scenario.outage
        window = timeline[int(start / BIN) : int((start + length) / BIN)]
        measure["outage_requests"] = sum(b[0] for b in window)
    return measure


def _after(scenario: Scenario, timeline: list[list[int]], t: float) -> Json:
    """The 10 s after a change at ``t``: accepted / available, 429s, time back to 90 %."""
    lo, hi = int(t / BIN), min(int((t + 10.0) / BIN), len(timeline))
    window = timeline[lo:hi]
    avail = sum(scenario.available(i * BIN) or 0.0 for i in range(lo, hi)) * BIN
    requests = sum(b[0] for b in window)
    back = None
    second = int(1.0 / BIN)
    for i in range(lo, hi - second):
        got = sum(b[1] for b in timeline[i : i + second])
        if got >= 0.9 * (scenario.available(i * BIN) or 0.0):
            back = round(i * BIN - t + BIN, 2)  # by the end of the first second's first bin
            break
    return {
        "at_s": t,
        "ratio": sum(b[1] for b in window) / avail if avail else 0.0,
        "share_429_pct": 100.0 * sum(b[2] for b in window) / requests if requests else 0.0,
        "back_to_90pct_s": back,
    }


# --- the scenario ----------------------------------------------------------------------------


def run(*, quick: bool = False) -> Json:
    sources = sources_sha256(MEASURED_SOURCES)
    scenarios = _scenarios(quick)
    results: Json = {}
    for scenario in scenarios:
        runs = {}
        for contender in scenario.contenders:
            print(f"  {scenario.name}: {contender}", file=sys.stderr, flush=True)
            runs[contender] = _one_run(scenario, contender)
        results[scenario.name] = runs
    sweep = [] if quick else _pace_sweep()
    result = make_result(
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
            "sources_sha256": sources,
        },
        results=results,
        ratios={
            s.name: {c: _headline(s, results[s.name][c]) for c in s.contenders} for s in scenarios
        },
        targets=_targets(scenarios, results),
        tables=[_table(scenarios, results), *([_sweep_table(sweep)] if sweep else [])],
        chart=None,
        notes=[
            "Rates come from the server's own timeline: what it received (sent), what it "
            "answered 200 (accepted), per 0.1 s. Available = the bucket's rate less the "
            "neighbour's; the first 2 s (warm-up) and the last second (draining) are left out "
            "of 'accepted / available'.",
            "The peer has no rate limiter: against a limit it is throttled as hard as it "
            "sends, and its ratio is shown for context only.",
            "The charts below show the rate each contender sent (0.5 s moving mean) against "
            "the rate available to it.",
        ],
    )
    result["line_charts"] = [_chart(s, results[s.name]) for s in scenarios]
    result["pace_sweep"] = sweep
    if sweep:
        result["notes"].append(
            "A bucket of one at 1,000/s refuses any request that arrives less than 1 ms "
            "after the last one it admitted, so a pace's precision decides, not its rate. "
            "The sweep table paces a client *exactly* (fixed, no adaptation, no retries) "
            "at a share of the limit: the 429s it gets come from timing alone (the client's "
            "timers, loopback, the server's event loop on a shared 2-core machine). No "
            "client here can keep 429s under 3 % much above the lowest of these paces."
        )
    return result


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
        scenario = Scenario(
            f"pace-{share:g}",
            "",
            _opts(f"--rate-limit 1000 --burst 1 --latency {latency} {NO_HEADERS}"),
            Workload(calls=int(rate * 6), max_retries=0),
            r=rate,
        )
        server = lab_server(scenario.server, size=scenario.work.calls)
        try:
            from asyncsdk.server import Dataset

            ids = list(Dataset(size=scenario.work.calls).call_ids)
            run = asyncio.run(run_sdk(server, scenario.work, ids, rate, adaptive=False))
            seen = server.stop()
        finally:
            server.kill()
        requests = sum(b[0] for b in seen["timeline"])
        throttled = sum(b[2] for b in seen["timeline"])
        found.append(
            {
                "pace_share": share,
                "latency_s": latency,
                "sent_per_s": requests / run["wall_s"],
                "share_429_pct": 100.0 * throttled / requests if requests else 0.0,
            }
        )
    return found


def _sweep_table(sweep: list[Json]) -> Json:
    return {
        "title": "A fixed pace against 1,000/s with a burst of one: 429s from timing alone",
        "columns": ["pace / limit", "latency ms", "sent/s", "429 share %"],
        "rows": [
            [
                f"{r['pace_share']:g}",
                f"{r['latency_s'] * 1000:g}",
                f"{r['sent_per_s']:.0f}",
                f"{r['share_429_pct']:.1f}",
            ]
            for r in sweep
        ],
    }


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
    return {
        "title": "Per scenario and contender (one run each)",
        "columns": [
            "scenario",
            "contender",
            "accepted / available",
            "429 share %",
            "completion s",
            "IDs ending as calls %",
            "one outcome per ID",
            "requests",
            "after each change (10 s): ratio, 429s, time back to 90 %",
        ],
        "rows": rows,
    }


def _targets(scenarios: Sequence[Scenario], results: Json) -> list[Json]:
    found: list[Json] = []
    by = {s.name: s for s in scenarios}
    basis = "one run per contender, fresh server each"
    if "sporadic" in results:
        peer = results["sporadic"]["peer"]["wall_s"]
        for c in ("sdk", "sdk_r"):
            found.append(
                target(
                    name=f"sporadic: {LABELS[c]} completion / peer's <= 1.5",
                    value=results["sporadic"][c]["wall_s"] / peer,
                    op="<=",
                    threshold=1.5,
                    basis=basis,
                )
            )
    if "brownout" in results:
        for c in CONTENDERS:
            found.append(
                target(
                    name=f"brownout: {LABELS[c]} IDs ending as calls >= 99 %",
                    value=100 * results["brownout"][c]["ok_share"],
                    op=">=",
                    threshold=99.0,
                    basis=basis,
                )
            )
    for name, r in results.items():
        s = by[name]
        found += _new_targets(s, r, basis)
        if name.startswith("discover") or name in ("neighbour", "stated"):
            ratio, share = {"stated": (0.97, 0.5), "neighbour": (0.85, 5.0)}.get(name, (0.9, 3.0))
            contenders = ("sdk", "sdk_r") if name == "stated" else ("sdk",)
            for c in contenders:
                found.append(
                    target(
                        name=f"{name}: {LABELS[c]} accepted / available >= {ratio}",
                        value=r[c]["achieved_over_available"],
                        op=">=",
                        threshold=ratio,
                        basis=basis,
                    )
                )
                # Stated as the share of answers that were not 429, so that it is positive.
                found.append(
                    target(
                        name=f"{name}: {LABELS[c]} 429 share <= {share} % (not 429 >= "
                        f"{100 - share:g} %)",
                        value=100.0 - r[c]["share_429_pct"],
                        op=">=",
                        threshold=100.0 - share,
                        basis=basis,
                    )
                )
        if name == "change":
            for a in r["sdk"]["after_change"]:
                found.append(
                    target(
                        name=f"change: SDK, default, 10 s after {a['at_s']:g}s >= 0.85",
                        value=a["ratio"],
                        op=">=",
                        threshold=0.85,
                        basis=basis,
                    )
                )
                found.append(
                    target(
                        name=f"change: SDK, default, 429s after {a['at_s']:g}s <= 5 % "
                        "(not 429 >= 95 %)",
                        value=100.0 - a["share_429_pct"],
                        op=">=",
                        threshold=95.0,
                        basis=basis,
                    )
                )
        if name == "outage" and s.outage is not None:
            back = r["sdk"]["after_change"][0]["back_to_90pct_s"]
            found.append(
                target(
                    name="outage: SDK, default, back to 90 % of the limit within 3 s",
                    value=back if back is not None else 99.0,
                    op="<=",
                    threshold=3.0,
                    basis=basis,
                )
            )
    return found


def _new_targets(s: Scenario, r: Json, basis: str) -> list[Json]:
    """Targets of the shared-quota and documented-limit scenarios."""
    sdk = r["sdk"]
    if s.workers:
        return [
            target(
                name=f"{s.name}: 429 share <= 5 % (not 429 >= 95 %)",
                value=100.0 - sdk["share_429_pct"],
                op=">=",
                threshold=95.0,
                basis=basis,
            ),
            target(
                name=f"{s.name}: slowest worker / fastest <= 1.3",
                value=sdk["slowest_over_fastest"],
                op="<=",
                threshold=1.3,
                basis=basis,
            ),
            target(
                name=f"{s.name}: IDs ending as calls = 100 %",
                value=100.0 * sdk["ok_share"],
                op=">=",
                threshold=100.0,
                basis=basis,
            ),
        ]
    if s.steady_after is None:
        return []
    return [
        target(
            name=f"{s.name}: SDK, default, accepted / available >= 0.9",
            value=sdk["achieved_over_available"],
            op=">=",
            threshold=0.9,
            basis=basis,
        ),
        target(
            name=f"{s.name}: SDK, default, 429s after {s.steady_after:g} s <= 3 % "
            "(not 429 >= 97 %)",
            value=100.0 - sdk["steady_429_pct"],
            op=">=",
            threshold=97.0,
            basis=basis,
        ),
    ]


def _smooth(xs: list[int], width: int = 5) -> list[float]:
    """Moving mean over the last ``width`` bins (0.5 s)."""
    return [sum(xs[max(0, i - width + 1) : i + 1]) / min(i + 1, width) for i in range(len(xs))]


def _chart(scenario: Scenario, runs: Json) -> Json:
    """The rate each contender sent over time against the server's limit (rendered later)."""
    series = {
        LABELS[c]: [round(x, 1) for x in _smooth(runs[c]["sent_per_s"])]
        for c in scenario.contenders
    }
    longest = max(len(ys) for ys in series.values())
    chart: Json = {
        "title": scenario.title,
        "file": f"img/throttling-{scenario.name}.png",
        "dt": BIN,
        "ylabel": "requests sent / s (0.5 s mean)",
        "series": series,
        "reference": {},
        "spans": [],
    }
    if scenario.limit is not None:
        chart["reference"] = {"available": [scenario.available(i * BIN) for i in range(longest)]}
    if scenario.outage is not None:
        start, length = scenario.outage
        chart["spans"] = [[start, start + length, "outage"]]
    return chart


if __name__ == "__main__":
    scenario_main(run)
