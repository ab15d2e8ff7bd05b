"""The pure decisions of the adaptive rate's phases, each on its own.

`tests/test_throttling.py` drives `RateController` through events; these are the
arithmetic its phases apply (`_cuts`, `_regrowth`, `_startup`), checked directly.
"""

from __future__ import annotations

import pytest

from asyncsdk.ratelimit._throttling._cuts import (
    CUT_GAIN,
    DEEPEST_CUT,
    MAX_CUT_RATIO,
    _ok_upper,
    cut_to,
    judge_cut,
)
from asyncsdk.ratelimit._throttling._regrowth import (
    CUBIC_MAX_UNIT,
    CUBIC_MIN_UNIT,
    STARTUP_DOUBLING,
    cubic_k,
    cubic_rate,
    cubic_unit,
    doubled,
)
from asyncsdk.ratelimit._throttling._startup import EXIT_DEEPEST, exit_rate, first_rate
from asyncsdk.ratelimit._throttling._state import MIN_RATE


def test_a_cut_estimates_the_limit_from_what_got_through() -> None:
    limit, target = cut_to(sent=200.0, rate=200.0, ambient=0.0, throttled=25, total=100)
    assert limit == pytest.approx(150.0)
    assert target == pytest.approx(CUT_GAIN * 150.0)


def test_a_cut_counts_ambient_429s_as_accepted() -> None:
    limit, _ = cut_to(sent=200.0, rate=200.0, ambient=0.1, throttled=28, total=100)
    assert limit == pytest.approx(200.0 * 0.72 / 0.9)


@pytest.mark.parametrize(("throttled", "total"), [(99, 100), (60, 100), (6, 10)])
def test_a_cut_goes_no_deeper_than_the_evidence_nor_shallower_than_five_percent(
    throttled: int, total: int
) -> None:
    """At most half, or what got through at the most (95 % upper bound) if that is less."""
    _, target = cut_to(sent=300.0, rate=300.0, ambient=0.0, throttled=throttled, total=total)
    deepest = min(DEEPEST_CUT, _ok_upper(total - throttled, total))
    assert deepest * 300.0 <= target <= MAX_CUT_RATIO * 300.0


def test_a_cut_stays_below_the_rate_sent_when_less_is_sent() -> None:
    _, target = cut_to(sent=100.0, rate=300.0, ambient=0.0, throttled=1, total=100)
    assert target <= MAX_CUT_RATIO * 100.0


def test_a_share_back_within_the_noise_confirms_a_cut() -> None:
    fell, rose = judge_cut(throttled=1, total=100, before=0.25, n_before=100, ambient=0.0)
    assert fell and not rose


def test_a_share_still_correlated_confirms_a_cut() -> None:
    fell, rose = judge_cut(throttled=60, total=100, before=0.55, n_before=100, ambient=0.0)
    assert rose and not fell


def test_the_same_share_after_a_cut_is_no_verdict_yet() -> None:
    assert judge_cut(throttled=12, total=100, before=0.125, n_before=100, ambient=0.0) == (
        False,
        False,
    )


def test_startup_doubles_every_doubling_period() -> None:
    assert doubled(10.0, 0.0) == 10.0
    assert doubled(10.0, STARTUP_DOUBLING) == pytest.approx(20.0)
    assert doubled(10.0, 3 * STARTUP_DOUBLING) == pytest.approx(80.0)


@pytest.mark.parametrize(("w_max", "rtt"), [(1.0, 0.0), (50.0, 0.01), (1000.0, 2.0)])
def test_cubic_unit_stays_within_its_bounds(w_max: float, rtt: float) -> None:
    assert CUBIC_MIN_UNIT <= cubic_unit(w_max, rtt) <= CUBIC_MAX_UNIT


@pytest.mark.parametrize("rate", [50.0, 90.0, 100.0])
def test_cubic_starts_at_the_rate_and_reaches_w_max_at_k(rate: float) -> None:
    unit, w_max = 2.0, 100.0
    k = cubic_k(unit, rate, w_max)
    assert cubic_rate(w_max, -k / unit) == pytest.approx(rate)
    assert cubic_rate(w_max, 0.0) == w_max
    assert cubic_rate(w_max, 1.0) > w_max  # probing above it after K


def test_startup_begins_at_a_few_requests_per_round_trip() -> None:
    assert first_rate(0.1) == pytest.approx(40.0)
    assert first_rate(0.0) > first_rate(0.1)  # no division by zero
    assert first_rate(1e6) == MIN_RATE


def test_startup_leaves_at_what_was_accepted_since_the_first_429() -> None:
    """A bucket startup has emptied accepts its refill rate: 3 answers in 60 ms, 50/s."""
    limit, rate = exit_rate(sent=200.0, accepted=3, seconds=0.06, share=0.9)
    assert limit == pytest.approx(50.0)
    assert rate == pytest.approx(CUT_GAIN * 50.0)


def test_startup_leaves_at_the_share_accepted_when_counting_gives_less() -> None:
    """Answers late by a busy event loop look like fewer accepted: the share still counts."""
    limit, _ = exit_rate(sent=600.0, accepted=3, seconds=0.06, share=0.6)
    assert limit == pytest.approx(0.4 * 600.0)


def test_startup_leaves_no_deeper_than_its_deepest_step_nor_above_the_rate_sent() -> None:
    limit, _ = exit_rate(sent=400.0, accepted=0, seconds=0.1, share=1.0)  # none yet: noise
    assert limit == pytest.approx(EXIT_DEEPEST * 400.0)
    _, rate = exit_rate(sent=40.0, accepted=10, seconds=0.05, share=0.5)  # 200/s counted
    assert rate == pytest.approx(MAX_CUT_RATIO * 40.0)
    assert exit_rate(sent=400.0, accepted=1, seconds=0.0, share=0.9)[0] < float("inf")
