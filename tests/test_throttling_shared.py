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
def _run(seed: int, starts: tuple[float, ...], jitter: float = 0.002) -> SharedResult:
    return simulate_shared(
        SimServer(rate=200.0, burst=20, latency=0.03, jitter=jitter, seed=seed),
        lambda: TokenBucketLimiter(None),
        clients=4,
        calls=1000,
        starts=starts,
    )


def _runs(starts: tuple[float, ...], jitter: float = 0.002) -> list[SharedResult]:
    return [_run(seed, starts, jitter) for seed in SEEDS]


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


def _met(run: SharedResult) -> bool:
    return run.share_429 <= 0.05 and run.slowest_over_fastest <= 1.3


@pytest.mark.slow
def test_clients_sharing_a_quota_get_fair_shares_with_few_429s() -> None:
    """The median over ten seeds meets both targets, and nine seeds of ten meet both.

    Under the rules before burst tests: a median of 6.7 % and 2.87x (worst 13.3 %,
    3.68x); the start-up race decided the shares (docs/throttling-research.md).
    """
    runs = _runs(())
    assert statistics.median(r.share_429 for r in runs) <= 0.05
    assert statistics.median(r.slowest_over_fastest for r in runs) <= 1.3
    assert sum(map(_met, runs)) >= 9


@pytest.mark.slow
@pytest.mark.parametrize("jitter", [0.002, 0.01])
def test_clients_started_apart_get_fair_shares_with_few_429s(jitter: float) -> None:
    """The same targets, the clients started 0.1 s after one another (`APART`).

    With 10 ms of jitter in the answers, the median still meets both (six seeds of ten
    within 1.3x). Before burst tests: a median of 9.9 % and 1.99x at 2 ms.
    """
    runs = _runs(APART, jitter)
    assert statistics.median(r.share_429 for r in runs) <= 0.05
    assert statistics.median(r.slowest_over_fastest for r in runs) <= 1.3
    if jitter == 0.002:
        assert sum(map(_met, runs)) >= 9
