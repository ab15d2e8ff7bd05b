"""The discovered rate's burst tests, rule by rule, event by event on a fake clock.

`SharedRateController` (``asyncsdk/ratelimit/_throttling/_shared_rate.py``) is fed the
events `TokenBucketLimiter` feeds it; `_Driver` plays the bucket: it grants, asks for
bursts, and answers requests in the order they were sent.
"""

from __future__ import annotations

import asyncio
from collections import deque

import pytest

from asyncsdk.ratelimit import TokenBucketLimiter
from asyncsdk.ratelimit._throttling import Phase, SharedRateController
from asyncsdk.ratelimit._throttling._bursts import (
    BURST_SIZE,
    BurstLedger,
    BurstResult,
    binomial_tail,
)
from asyncsdk.ratelimit._throttling._shared_state import DECREASE, PRIOR_RATE

from . import _vtime
from ._throttle_sim import SimServer, simulate


class _Driver:
    """The bucket's side: grants (with bursts when asked), answers in order."""

    def __init__(self, waiting: int = 20) -> None:
        self.waiting = waiting
        self.control = SharedRateController(waiting=lambda: self.waiting)
        self.now = 0.0
        self.out: deque[bool] = deque()  # requests in flight: whether each is a burst's
        self.bursts = 0

    def begin(self, rtt: float = 0.03) -> None:
        """The probe goes out and is answered after ``rtt``."""
        self.control.grant(self.now)
        self.now += rtt
        self.control.response(self.now, False)
        self.control.start(self.now, rtt)

    def send(self, n: int = 1) -> None:
        """Grant ``n`` queued requests one by one, each maybe with a burst behind it."""
        for _ in range(n):
            self.control.grant(self.now)
            self.out.append(False)
            extra = self.control.want_burst(self.now)
            if extra:
                sent = min(extra, self.waiting)
                for _ in range(sent):
                    self.control.grant(self.now)
                    self.out.append(True)
                self.control.burst_sent(sent)
                self.bursts += 1

    def answer(self, *throttled: bool) -> None:
        """Answer the oldest requests in flight, in order."""
        for refused in throttled:
            self.out.popleft()
            self.control.response(self.now, refused)

    def step(self, seconds: float) -> None:
        self.now += seconds


def _early_burst(driver: _Driver) -> None:
    """In cruise just after the start: one paced 429 asks for an early burst; send it."""
    driver.send(1)
    driver.step(0.01)
    driver.answer(True)
    driver.send(1)  # the grant that takes the burst
    assert driver.bursts == 1


# --- the ledger -------------------------------------------------------------------------


def test_a_burst_owns_the_answers_after_everything_sent_before_it() -> None:
    ledger = BurstLedger()
    ledger.ask("early")
    assert ledger.take(0.0, due_before=3) == BURST_SIZE - 1
    ledger.sent(BURST_SIZE - 1)
    # three answers due before the burst's are not its own
    assert [ledger.answer(True) for _ in range(3)] == [(False, None)] * 3
    marks = [ledger.answer(refused) for refused in (False, True, False, True, True)]
    assert all(mine for mine, _ in marks) and all(r is None for _, r in marks)
    assert ledger.answer(False) == (True, BurstResult("early", 3, BURST_SIZE, 0))
    assert ledger.answer(True) == (False, None)  # the next paced answer
    assert not ledger.open


def test_a_burst_with_too_few_callers_queued_is_void() -> None:
    """Two extra requests of five: their answers are set apart and tell nothing."""
    ledger = BurstLedger()
    ledger.ask("gate")
    ledger.take(0.0, due_before=0)
    ledger.sent(2)
    assert [ledger.answer(True) for _ in range(3)][-1] == (True, BurstResult("gate", 0, 0, 0))


def test_no_second_burst_while_one_is_out() -> None:
    """An ask while a burst is out waits for it; each result names its own purpose."""
    ledger = BurstLedger()
    ledger.ask("test")
    ledger.take(0.0, due_before=0)
    ledger.sent(BURST_SIZE - 1)
    ledger.ask("gate")
    assert ledger.take(0.1, due_before=10) == 0
    for _ in range(BURST_SIZE):
        _, result = ledger.answer(False)
    assert result == BurstResult("test", 0, BURST_SIZE, 0)
    assert ledger.take(0.2, due_before=BURST_SIZE) == BURST_SIZE - 1  # still wanted
    ledger.sent(BURST_SIZE - 1)
    for _ in range(BURST_SIZE):
        _, result = ledger.answer(False)
    assert result is not None and result.purpose == "gate"


def test_a_failure_spoils_a_burst() -> None:
    """A timeout or a 5xx among a burst's answers: its count says nothing of the limiter."""
    ledger = BurstLedger()
    ledger.ask("gate")
    ledger.take(0.0, due_before=0)
    ledger.sent(BURST_SIZE - 1)
    for _ in range(BURST_SIZE - 1):
        ledger.answer(False)
    assert ledger.answer(False, failed=True) == (True, BurstResult("gate", 0, BURST_SIZE, 1))


def test_binomial_tails() -> None:
    assert binomial_tail(6, 0, 0.3) == pytest.approx(1.0)
    assert binomial_tail(6, 6, 0.5) == pytest.approx(1 / 64)
    assert binomial_tail(6, 1, 0.5) == pytest.approx(1 - 1 / 64)


# --- the start and early bursts ---------------------------------------------------------


def test_the_start_is_in_cruise_at_the_documented_rate_or_one_per_round_trip() -> None:
    slow = _Driver()
    slow.begin(rtt=0.15)
    assert (slow.control.phase, slow.control.rate) == (Phase.CRUISE, PRIOR_RATE)
    fast = _Driver()
    fast.begin(rtt=0.005)
    assert fast.control.rate == pytest.approx(200.0)


def test_a_429_in_the_first_seconds_asks_a_burst_that_finds_the_server_clear() -> None:
    """None of six refused: a gated start test doubles the rate and asks the next burst."""
    driver = _Driver()
    driver.begin()
    _early_burst(driver)
    rate = driver.control.rate
    assert rate == PRIOR_RATE - DECREASE
    driver.step(0.03)
    driver.answer(*[False] * BURST_SIZE)  # the request that took the burst, and five
    assert driver.control.phase is Phase.STARTUP
    assert driver.control.rate == pytest.approx(2 * rate, rel=0.02)  # rate: and its regrowth
    driver.send(1)
    assert driver.bursts == 2  # the gate's first burst


def test_an_early_burst_mostly_refused_begins_no_start_test() -> None:
    """Six of six refused at a low early share: a limiter at its limit; no doubling."""
    driver = _Driver()
    driver.begin()
    driver.send(30)
    driver.step(0.03)
    driver.answer(*[False] * 30)  # a low early share of 429s
    _early_burst(driver)
    driver.step(0.03)
    driver.answer(*[True] * BURST_SIZE)
    assert driver.control.phase is Phase.CRUISE
    # a 429 half a second later (past the 0.25 s between early bursts) asks none: 2 s hold
    driver.step(0.5)
    driver.send(1)
    driver.step(0.03)
    driver.answer(True)
    driver.send(1)
    assert driver.bursts == 1


@pytest.mark.parametrize(("rate", "bursts"), [(23.0, 0), (25.0, 1)])
def test_no_burst_below_twenty_requests_per_second(rate: float, bursts: int) -> None:
    """The 429 that asks for the burst takes 4/s off first: 19/s sends none, 21/s one."""
    driver = _Driver()
    driver.begin()
    driver.control.rate = rate
    driver.send(1)
    driver.step(0.01)
    driver.answer(True)
    driver.send(3)
    assert driver.bursts == bursts


# --- gated start tests ------------------------------------------------------------------


def _gated(driver: _Driver) -> float:
    """Begin a gated start test; return the rate it doubled from."""
    driver.begin()
    _early_burst(driver)
    base = driver.control.rate
    assert base is not None
    driver.step(0.03)
    driver.answer(*[False] * BURST_SIZE)
    driver.send(1)  # the gate's burst
    driver.step(0.03)
    return base


def test_a_gate_burst_half_refused_is_confirmed_before_the_test_ends() -> None:
    """Three of six: maybe a run of 429s; a second burst at the same rate decides."""
    driver = _Driver()
    base = _gated(driver)
    doubled = driver.control.rate
    driver.answer(*[True] * 3, *[False] * 3)
    assert (driver.control.phase, driver.control.rate) == (Phase.STARTUP, doubled)
    driver.send(1)
    assert driver.bursts == 3  # the confirming burst
    driver.step(0.03)
    driver.answer(*[True] * 4, *[False] * 2)  # saturated again: a limit
    assert driver.control.phase is Phase.CRUISE
    assert driver.control.rate is not None and driver.control.rate <= base  # no higher
    assert driver.control.undos == 1


def test_a_gate_burst_refused_by_a_run_of_429s_then_clear_doubles_again() -> None:
    driver = _Driver()
    _gated(driver)
    doubled = driver.control.rate
    assert doubled is not None
    driver.answer(*[True] * 3, *[False] * 3)
    driver.send(1)
    driver.step(0.03)
    driver.answer(*[False] * BURST_SIZE)
    assert driver.control.phase is Phase.STARTUP
    assert driver.control.rate == pytest.approx(2 * doubled)


def test_a_gate_burst_mostly_refused_ends_the_test_without_confirmation() -> None:
    driver = _Driver()
    base = _gated(driver)
    driver.answer(*[True] * 5, False)
    assert driver.control.phase is Phase.CRUISE
    assert driver.control.rate is not None and driver.control.rate <= base


def test_a_gate_with_few_callers_waiting_stays_at_its_rate() -> None:
    """The callers, not the rate, hold the pace: doubling would tell nothing."""
    driver = _Driver()
    _gated(driver)
    rate = driver.control.rate
    driver.waiting = 2
    driver.answer(*[False] * BURST_SIZE)
    assert (driver.control.phase, driver.control.rate) == (Phase.CRUISE, rate)


# --- the regrowth -----------------------------------------------------------------------


def test_a_bursts_answers_do_not_move_the_regrowth() -> None:
    """Six 429s of a burst would take 24/s off; they take none."""
    driver = _Driver()
    driver.begin()
    driver.send(30)
    driver.step(0.03)
    driver.answer(*[False] * 30)
    _early_burst(driver)
    rate = driver.control.rate
    assert rate is not None
    driver.step(0.03)
    driver.answer(*[True] * BURST_SIZE)
    assert driver.control.rate is not None
    assert abs(driver.control.rate - rate) < DECREASE  # one 429's step would be 4/s


def test_a_429_takes_a_fixed_step_off_whatever_the_rate() -> None:
    """Kelly's step: 4/s per 429, not a share of the rate (shares converge)."""
    driver = _Driver()
    driver.begin()
    driver.control.rate = 300.0
    driver.control.ambient = 0.1  # learnt: no early bursts
    driver.send(2)
    driver.step(0.01)
    driver.answer(True, True)
    assert driver.control.rate == pytest.approx(300.0 - 2 * DECREASE)


def test_half_the_last_twenty_answers_refused_cuts_to_the_accepted_rate() -> None:
    driver = _Driver()
    driver.begin()
    driver.control.ambient = 0.01  # learnt: no early bursts
    driver.control.rate = 400.0
    driver.send(20)
    driver.step(0.01)
    driver.answer(*[False] * 8)
    driver.answer(*[True] * 12)  # 12 of the last 21 answers (the probe's among them)
    assert driver.control.cuts == 1
    assert driver.control.rate is not None and driver.control.rate < 200.0


# --- the bucket -------------------------------------------------------------------------


def test_the_bucket_grants_a_burst_at_once_and_pays_it_with_the_tokens_to_come() -> None:
    """Six callers let through at the same instant; the ones after wait out the debt."""

    async def scenario() -> tuple[list[float], int]:
        limiter = TokenBucketLimiter(None)
        loop = asyncio.get_running_loop()
        await limiter.acquire()
        await asyncio.sleep(0.05)
        limiter.on_success({})  # the probe, answered in 50 ms: 50/s from here
        times: list[float] = []

        async def caller() -> None:
            await limiter.acquire()
            times.append(loop.time())

        tasks = [asyncio.create_task(caller()) for _ in range(20)]
        await asyncio.sleep(0.1)
        await limiter.on_throttle(None, {})  # a 429 in the first seconds: a burst
        await asyncio.gather(*tasks)
        return times, limiter.waiting

    times, queued = _vtime.run(scenario())
    start = times.index(max(t for t in times if times.count(t) >= BURST_SIZE))
    burst = times[start : start + BURST_SIZE]
    assert len(set(burst)) == 1 and queued == 0
    after = times[start + BURST_SIZE]
    assert after - burst[0] >= (BURST_SIZE - 1) / 50.0  # paid by the tokens that follow


def test_a_correlated_verdict_pauses_no_one_under_the_discovered_rate() -> None:
    """Each 429 holds back its own request (Retry-After); the others keep the pace."""

    async def scenario() -> tuple[float, int]:
        limiter = TokenBucketLimiter(None)
        await limiter.acquire()
        limiter.on_success({})
        for _ in range(30):
            await limiter.acquire()
            await limiter.on_throttle(2.0, {})
        loop = asyncio.get_running_loop()
        before = loop.time()
        await limiter.acquire()
        return loop.time() - before, limiter.pauses

    waited, pauses = _vtime.run(scenario())
    assert waited < 1.0 and pauses == 0


def test_sporadic_429s_do_not_lower_a_stated_rate() -> None:
    """A stated 200/s with 10 % of 429s whatever the rate: the rate stays near 200/s.

    Kelly's step on every 429 took it down to 14/s (virtual time); at a stated rate a 429
    moves it only while 429s are 20 % or more of the last 50 answers.
    """
    server = SimServer(
        rate=200.0, burst=20, latency=0.03, policy=True, sporadic=0.1, retry_after=(0.0, 1.0)
    )
    result = simulate(server, lambda: TokenBucketLimiter(None), duration=20)
    assert result.accepted_rate(5, 19) >= 0.8 * 200.0


def _quiet_start(driver: _Driver) -> float:
    """Two clean seconds at the start: the first re-entry's start test doubles the rate."""
    driver.begin()
    while driver.control.phase is Phase.CRUISE:
        driver.send(1)
        driver.step(0.02)
        driver.answer(False)
    rate = driver.control.rate
    assert driver.control.phase is Phase.STARTUP and rate is not None
    return rate


def test_a_start_test_into_a_bucket_that_hid_the_limit_ends_on_ten_answers() -> None:
    """Clean flat segments, then half of ten paced answers refused: the test ends there.

    A bucket as deep as a second of the rate hides the limit until it is empty; judged
    on 24 answers, a doubling past it drew 26 429s at once (virtual time, Bird's 50/s
    with a burst of 50).
    """
    driver = _Driver()
    rate = _quiet_start(driver)
    driver.send(10)
    driver.step(0.03)
    driver.answer(*[True, False] * 5)
    assert driver.control.phase is Phase.CRUISE
    assert driver.control.rate is not None and driver.control.rate < rate


def test_a_stated_rate_ends_a_start_test_and_asks_no_more_bursts() -> None:
    """A policy stated in the middle of a gated start test: at the stated rate, at once."""
    driver = _Driver()
    _gated(driver)
    driver.answer(*[False] * BURST_SIZE)  # the gate's burst: clear, doubles, asks another
    driver.control.state(120.0, driver.now)
    assert (driver.control.phase, driver.control.rate) == (Phase.KNOWN, 120.0)
    driver.send(3)
    assert driver.bursts == 2  # the gate's next burst was not sent


def test_a_policy_first_stated_in_cruise_is_adopted() -> None:
    """The probe's answer was slow (no policy yet): a policy stated later sets the rate."""
    driver = _Driver()
    driver.begin()
    assert driver.control.phase is Phase.CRUISE
    driver.control.state(200.0, driver.now)
    assert (driver.control.phase, driver.control.rate) == (Phase.KNOWN, 200.0)


def test_a_stated_rate_is_adopted_at_once_up_and_down() -> None:
    """One limiter told two rates (one per workspace, say) follows the last, as stated."""
    control = SharedRateController(waiting=lambda: 0)
    control.state(50.0, 0.0)
    assert (control.phase, control.rate) == (Phase.KNOWN, 50.0)
    control.state(200.0, 0.1)
    assert control.rate == 200.0
    control.state(50.0, 0.2)
    assert control.rate == 50.0
