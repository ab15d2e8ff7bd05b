"""The throttling lab's situations (`matrix`), and what is measured from a server's timeline.

The server's timeline counts, per `BIN` seconds, the requests it received, answered 200
and answered 429. A `Scenario` says what the server does and what it would accept when
(`Scenario.available`); `measure`, `after` and `fleet_measure` turn a run's timeline
into accepted / available (after a `WARMUP`, without the last, draining second), 429
shares, and the time back to 90 % after a change; `rate_chart` draws the rates sent.
No I/O here. Imports: the standard library and `benchmarks._lab`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from benchmarks._lab import Json, Workload, tally

#: Seconds per bin of the server's timeline, and the warm-up left out of rates.
BIN = 0.1
WARMUP = 2.0

Timeline = list[list[int]]
NO_HEADERS = "--no-policy-header --no-limit-headers"
#: 200/s with a bucket of 20: the rate and burst most situations use.
AT_200 = (200.0, 20)
MS30 = "--latency 0.03"


@dataclass(frozen=True)
class Scenario:
    """One situation: server options, workload, what is available when, and R."""

    name: str
    title: str
    options: str
    work: Workload
    r: float
    limit: float | None = None
    burst: int = 0
    schedule: tuple[tuple[float, float], ...] = ()
    neighbour: float = 0.0
    outage: tuple[float, float] | None = None
    changes: tuple[float, ...] = ()
    #: Processes sharing the quota, each with its own default client (0: one, in here).
    workers: int = 0
    #: Seconds after which the 429 share is also measured as the steady state.
    steady_after: float | None = None
    #: Who runs it (processes sharing a quota: each its own default client only).
    contenders: tuple[str, ...] = ("sdk", "sdk_r", "peer")

    @property
    def server(self) -> tuple[str, ...]:
        """The server's options, split."""
        return tuple(self.options.split())

    def available(self, t: float) -> float | None:
        """Requests per second the server would accept from us at time ``t``."""
        if self.limit is None:
            return None
        rate = self.limit
        for at, new in self.schedule:
            if t >= at:
                rate = new
        return rate - self.neighbour


def _limited(
    name: str, title: str, rate: float, burst: int, extra: str, work: Workload, **kw: Any
) -> Scenario:
    """A scenario behind a token bucket of ``rate`` (R) and ``burst``."""
    options = f"--rate-limit {rate:g} --burst {burst} {extra}"
    return Scenario(name, title, options, work, r=rate, limit=rate, burst=burst, **kw)


def matrix(quick: bool) -> list[Scenario]:
    """The lab's situations (a smoke run's two with ``quick``)."""
    # A smoke run: 200 IDs without a limit; 3.5 s against one, enough to leave a second
    # and a half past the warm-up and the draining second.
    scale = 0.1 if quick else 1.0
    seconds = 3.5 if quick else 20.0
    found = [
        Scenario(
            "sporadic",
            "Sporadic 429s (10 %, Retry-After 0-1 s), no rate limit, 100 ms answers",
            "--fault-429 0.1 --fault-429-retry-after 0,1 --latency 0.09 --latency-jitter 0.02",
            Workload(calls=int(2000 * scale)),
            r=400.0,
        ),
        Scenario(
            "brownout",
            "Brownout: a third of attempts fail (429, 5xx, resets, cut bodies, too slow)",
            "--fault-429 0.10 --fault-500 0.05 --fault-502 0.03 --fault-503 0.05 "
            "--fault-reset 0.04 --fault-truncate 0.03 --fault-slow 0.03 --slow-seconds 3 "
            "--latency 0.03",
            Workload(calls=int(2000 * scale), timeout=1.0),
            r=400.0,
        ),
        _limited(
            "outage",
            "Outage: 10 s of 503s from the 5th second, 200/s stated",
            *AT_200,
            "--latency 0.03 --outage 5:10",
            Workload(calls=20000, duration=25.0),
            outage=(5.0, 10.0),
            changes=(15.0,),
        ),
    ]
    combos = (
        [(200.0, 20, 0.03)]
        if quick
        else [
            (rate, burst, latency)
            for rate, burst in ((50.0, 250), (200.0, 20), (1000.0, 1))
            for latency in (0.005, 0.03)
        ]
    )
    for rate, burst, latency in combos:
        found.append(
            _limited(
                f"discover-{rate:g}-{burst}-{latency * 1000:g}ms",
                f"Discovery, no headers: {rate:g}/s, burst {burst}, {latency * 1000:g} ms",
                rate,
                burst,
                f"--latency {latency} {NO_HEADERS}",
                Workload(calls=100_000, duration=seconds),
            )
        )
    found += [
        _limited(
            "stated",
            "Stated limit: 200/s, burst 20, RateLimit-Policy on every answer",
            *AT_200,
            "--latency 0.03",
            Workload(calls=100_000, duration=seconds * 0.75),
        ),
        _limited(
            "change",
            "Limit changes: 200/s, 100/s from 10 s, 300/s from 20 s (no headers)",
            *AT_200,
            f"--rate-schedule 10:100,20:300 {NO_HEADERS} {MS30}",
            Workload(calls=100_000, duration=30.0),
            schedule=((10.0, 100.0), (20.0, 300.0)),
            changes=(10.0, 20.0),
        ),
        _limited(
            "neighbour",
            "A neighbour takes 100/s of the account's 200/s (no headers)",
            *AT_200,
            f"--neighbour-rate 100 {NO_HEADERS} {MS30}",
            Workload(calls=100_000, duration=seconds),
            neighbour=100.0,
        ),
        _limited(
            "shared-4",
            "Four processes, each with its own default client, share 200/s, burst 20, 30 ms",
            *AT_200,
            f"{NO_HEADERS} {MS30}",
            Workload(calls=4 * int(1000 * scale), max_retries=3),
            workers=4,
            contenders=("sdk",),
        ),
    ]
    for latency in (0.005, 0.03, 0.08, 0.15):
        found.append(
            _limited(
                f"documented-50-{latency * 1000:g}ms",
                f"Bird's documented 50/s (burst 50), no headers, {latency * 1000:g} ms",
                50.0,
                50,
                f"--latency {latency} {NO_HEADERS}",
                Workload(calls=100_000, duration=seconds),
                steady_after=5.0,
            )
        )
    if quick:  # a smoke run: one scenario without a limit (every contender), one with
        found = [s for s in found if s.name in ("sporadic", "discover-200-20-30ms")]
        # Discovery's targets are the default SDK's; sporadic runs the other two.
        found[1] = replace(found[1], contenders=("sdk",))
    return found


def share_429(bins: Timeline) -> float:
    """Percent of the requests in ``bins`` answered 429."""
    requests = sum(b[0] for b in bins)
    return 100.0 * sum(b[2] for b in bins) / requests if requests else 0.0


def per_second(bins: Timeline, column: int) -> list[int]:
    """A timeline column (0 sent, 1 accepted) as a rate per second, bin by bin."""
    return [round(b[column] / BIN) for b in bins]


def smooth(xs: list[int], width: int = 5) -> list[float]:
    """Moving mean over the last ``width`` bins (0.5 s)."""
    return [sum(xs[max(0, i - width + 1) : i + 1]) / min(i + 1, width) for i in range(len(xs))]


def rate_chart(
    title: str, file: str, sent: dict[str, list[int]], reference: Callable[[int], Json]
) -> Json:
    """A line chart of the rates sent (0.5 s mean) against ``reference(bins)`` (rendered later)."""
    series = {label: [round(x, 1) for x in smooth(ys)] for label, ys in sent.items()}
    return {
        "title": title,
        "file": file,
        "dt": BIN,
        "ylabel": "requests sent / s (0.5 s mean)",
        "series": series,
        "reference": reference(max(len(ys) for ys in series.values())),
        "spans": [],
    }


def fleet_measure(scenario: Scenario, workers: list[Json], timeline: Timeline) -> Json:
    """Processes sharing the quota: share, 429s, slowest / fastest, start spread, errors."""
    walls = [w["wall_s"] for w in workers]
    errors: Counter[str] = Counter()
    for w in workers:
        errors.update({k: v for k, v in w["outcomes"].items() if k != "ok"})
    # Accepted over available while all of them ran: from the warm-up to the first done.
    lo, hi = int(WARMUP / BIN), int(min(walls) / BIN)
    got = sum(b[1] for b in timeline[lo:hi])
    avail = (scenario.limit or 0.0) * max(hi - lo, 1) * BIN
    taken = sum(sum(w["outcomes"].values()) for w in workers)
    starts = [w["started_at"] for w in workers]
    return {
        "wall_s": max(walls),
        "walls_s": walls,
        "slowest_over_fastest": max(walls) / min(walls),
        # How far apart the processes released together began (each wall counts from
        # its own start): rules that need them to start in lockstep show here.
        "start_spread_ms": 1000.0 * (max(starts) - min(starts)),
        "ids": taken,
        "exactly_once": taken == scenario.work.calls // scenario.workers * scenario.workers,
        "ok_share": sum(w["outcomes"].get("ok", 0) for w in workers) / max(taken, 1),
        "errors": dict(errors),
        "requests": sum(b[0] for b in timeline),
        "share_429_pct": share_429(timeline),
        "achieved_over_available": got / avail if avail else 0.0,
        "after_change": [],
        "sent_per_s": per_second(timeline, 0),
        "accepted_per_s": per_second(timeline, 1),
        "limiters": [w["limiter"] for w in workers],
    }


def measure(scenario: Scenario, run: Json, timeline: Timeline) -> Json:
    """One contender's run: its outcomes, 429s, rates, accepted / available, changes."""
    outcomes = run.pop("outcomes")
    measure: Json = {
        **run,
        **tally(outcomes),
        "requests": sum(b[0] for b in timeline),
        "share_429_pct": share_429(timeline),
        "sent_per_s": per_second(timeline, 0),
        "accepted_per_s": per_second(timeline, 1),
    }
    if scenario.limit is not None:
        end = len(timeline) - int(1.0 / BIN)  # the last second drains in-flight calls
        lo = int(WARMUP / BIN)
        avail = sum(scenario.available(i * BIN) or 0.0 for i in range(lo, end)) * BIN
        got = sum(b[1] for b in timeline[lo:end])
        measure["achieved_over_available"] = got / avail if avail else 0.0
        measure["after_change"] = [after(scenario, timeline, t) for t in scenario.changes]
    if scenario.steady_after is not None:
        rest = timeline[int(scenario.steady_after / BIN) :]
        measure["steady_429_pct"] = share_429(rest)
    if scenario.outage is not None:
        start, length = scenario.outage
        window = timeline[int(start / BIN) : int((start + length) / BIN)]
        measure["outage_requests"] = sum(b[0] for b in window)
    return measure


def after(scenario: Scenario, timeline: Timeline, t: float) -> Json:
    """The 10 s after a change at ``t``: accepted / available, 429s, time back to 90 %."""
    lo, hi = int(t / BIN), min(int((t + 10.0) / BIN), len(timeline))
    avail = sum(scenario.available(i * BIN) or 0.0 for i in range(lo, hi)) * BIN
    back = None
    second = int(1.0 / BIN)
    for i in range(lo, hi - second):
        got = sum(b[1] for b in timeline[i : i + second])
        if got >= 0.9 * (scenario.available(i * BIN) or 0.0):
            back = round(i * BIN - t + BIN, 2)  # by the end of the first second's first bin
            break
    return {
        "at_s": t,
        "ratio": sum(b[1] for b in timeline[lo:hi]) / avail if avail else 0.0,
        "share_429_pct": share_429(timeline[lo:hi]),
        "back_to_90pct_s": back,
    }
