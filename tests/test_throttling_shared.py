"""Processes that share a quota without coordinating, on the virtual clock.

The common deployment: N web-app replicas or workers, each with its own `Client` (its
own adaptive limiter), on one workspace's quota. The throttling lab's ``shared-4``
scenario measures four real OS processes over loopback HTTP; this is the same
situation in virtual time (`tests._throttle_sim.simulate_shared`): four independent
`TokenBucketLimiter` instances, 64 tasks and 1,000 IDs each, one server bucket of
200/s with burst 20, 30 ms per answer. Each seed is the same run every time.

The targets: at most 5 % of 429s in aggregate, and the slowest client done within
1.3 times the fastest one's time, whether the clients start together or 0.1 s apart
(`APART`; each client's time counts from its own start, as in the lab).
"""

from __future__ import annotations

import functools
import statistics

import pytest

from asyncsdk.ratelimit import TokenBucketLimiter

from ._throttle_sim import SharedResult, SimServer, simulate_shared

SEEDS = range(10)


#: Start times of the four clients 0.1 s apart: replicas start whenever they are deployed
#: or restarted, and a rule that needs them to start together is not one to rely on.
APART = (0.0, 0.1, 0.2, 0.3)


@functools.cache  # the same run every time: each seed is simulated once per module
def _run(seed: int, starts: tuple[float, ...]) -> SharedResult:
    return simulate_shared(
        SimServer(rate=200.0, burst=20, latency=0.03, jitter=0.002, seed=seed),
        lambda: TokenBucketLimiter(None),
        clients=4,
        calls=1000,
        starts=starts,
    )


def _runs(starts: tuple[float, ...]) -> list[SharedResult]:
    return [_run(seed, starts) for seed in SEEDS]


@pytest.mark.slow
@pytest.mark.parametrize("starts", [(), APART], ids=["together", "apart"])
def test_every_id_of_every_client_gets_exactly_one_outcome(starts: tuple[float, ...]) -> None:
    """The harness itself: 4 x 1,000 IDs, each answered once, none lost to throttling."""
    for run in (_run(seed, starts) for seed in SEEDS[:2]):
        assert len(run.outcomes) == 4 * 1000
        assert set(run.outcomes.values()) == {"ok"}
        assert all(t > 0.0 for t in run.finished)
        # Who sent what and got which 429s, per client: the counts add up to the run's.
        assert sum(b[0] for bins in run.by_client for b in bins) == run.sent
        assert sum(b[1] for bins in run.by_client for b in bins) == run.throttled


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason=(
        "not met by the current rules: over seeds 0-9 the median 429 share is 6.7 % "
        "(worst 13.3 %) and the median slowest/fastest 2.87x (worst 3.68x). The start-up "
        "race decides the shares (a client that sees a share of 429s just under half keeps "
        "doubling while the others leave start-up near their part of the limit) and the "
        "scale-free CUBIC regrowth and multiplicative cuts keep them; the rule changes tried "
        "(additive regrowth, a start-up below the limit, an exit at the last clean round "
        "among them; the closest met both here, 4.3 % and 1.13x, but not over seeds 30-59 "
        "(1.36x), with 10 ms of jitter (1.44x) nor in the lab; a start at Bird's documented "
        "50/s met both in the lab's median but crawls under sporadic 429s; with a regrowth "
        "whose shares converge (Kelly's), it met both over seeds 0-29 (2.8 %, 1.04x) and in "
        "all five lab runs (2.7-2.8 %, 1.02-1.10x), but it spirals under sporadic 429s and "
        "climbs a risen limit in half a minute; a climb after 2 s without a 429 fixed the "
        "second (0.89 of a risen limit used, 3.1 %, 1.07x), and a doubling test for "
        "sporadic 429s met that guard at 100 ms but, judged on 24 answers, handed lucky "
        "processes the quota: 8.1 %, 1.34x over seeds 0-29; the last form measured met "
        "both over seeds 0-29, 3.3 %, 1.08x, and in five lab runs of seven; with re-entries "
        "that back off after a refused one, 3.0 %, 1.08x and 17 lab runs of 18, "
        "not adopted) are in docs/throttling-research.md"
    ),
)
def test_clients_sharing_a_quota_get_fair_shares_with_few_429s() -> None:
    """The median over ten seeds meets both targets."""
    runs = _runs(())
    assert statistics.median(r.share_429 for r in runs) <= 0.05
    assert statistics.median(r.slowest_over_fastest for r in runs) <= 1.3


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason=(
        "not met by the current rules: started 0.1 s apart, over seeds 0-9 the median 429 "
        "share is 9.9 % and the median slowest/fastest 1.99x (2 seeds of 10 within 1.3x). "
        "The last clean round's exit gave 6.1 % and 2.23x so started (seeds 0-29): it met "
        "both with starts 50 ms apart (seeds 0-9), not 0.1 s apart. A start at Bird's "
        "documented 50/s gave 3.3 % and 1.11x (seeds 0-9), with Kelly's regrowth 2.7 % and "
        "1.07x (seeds 0-29); neither is adopted: the first crawls under sporadic 429s and "
        "the second spirals down, and climbs a risen limit in half a minute; with a climb "
        "after 2 s without a 429, 3.4 % and 1.11x, and with a doubling test for sporadic "
        "429s, 8.4 % and 1.42x; the last form measured met both, 3.3 % and 1.10x over "
        "seeds 0-29, and so did it with re-entries that back off (3.1 %, 1.08x); neither "
        "is adopted (docs/throttling-research.md)"
    ),
)
def test_clients_started_apart_get_fair_shares_with_few_429s() -> None:
    """The same targets, the clients started 0.1 s after one another (`APART`)."""
    runs = _runs(APART)
    assert statistics.median(r.share_429 for r in runs) <= 0.05
    assert statistics.median(r.slowest_over_fastest for r in runs) <= 1.3
