"""Start tests of the discovered rate, and what a burst's result decides.

A *start test* doubles the rate while doubling does not raise the share of 429s. It
begins after a quiet window in cruise (a *re-entry*: the window is its first flat
segment), after the floor test, or after an early burst that found the server clear
(then it is *gated*: it doubles on each burst, not on segments). It ends when:

- a segment's share rose by 4 points and 2 standard errors over the pooled flat share,
  or is at least 50 %, or at least 25 % with nothing flat to compare it with (a segment
  whose flat segments had no 429 at all is judged as soon as half of ten paced answers
  are refused: a bucket as deep as a second of the rate hid the limit, and 24 answers
  past it drew 26 429s at once against Bird's 50/s with a burst of 50);
- the bursts asked during it were saturated (their 429s improbable at the flat share,
  one-sided binomial at 1 %): the 429s were a limiter's, so the ambient share is
  forgotten;
- a gate's burst was saturated (at least half refused; one with fewer than 80 % refused
  is confirmed by a second at the same rate first, as a run of 429s that does not
  depend on the rate refuses only one);
- the callers, not the rate, hold the pace (fewer than four callers wait when a gate's
  burst comes back, or its burst was void, or no queued caller took the gate's ask for
  a whole segment): it stays, and learns the 429s it saw as ambient.

It exits at the accepted rate, and at most at its base when its first doubling did not
hold (a *refused* re-entry: the next quiet window doubles, up to 16 s); a test begun by
the floor test or an early burst exits no higher than its last flat segment's rate.
Three flat segments with enough burst answers teach the ambient share; with nothing
learnt, a segment-judged test stops doubling at four times its base (a gated test
doubles on each clear burst, up to the ceiling).

*Early bursts* replace a start-up share test: in the first 3 s, with nothing learnt and
no start test ended, a 429 since the last burst asks a burst of 6 (every 0.25 s at most,
not below 20/s). None or one refused (and not improbable at the early share) begins a
gated start test; a burst improbable at the early share (one-sided binomial at 0.1 %)
holds the next for 2 s (in a 3 s window, at most one more).

Imports: the standard library and the state of this package.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

from ._bursts import BurstResult, binomial_tail
from ._shared_state import (
    AMBIENT_BURST_ANSWERS,
    AMBIENT_FLATS,
    MAX_QUIET,
    MIN_RATE,
    NO_AMBIENT_CAP,
    QUIET,
    RISE_POINTS,
    RISE_Z,
    UNEXPLAINED_SHARE,
    Phase,
    _SharedState,
)

#: Burst answers a start test needs before its bursts can show it saturated.
TEST_BURST_ANSWERS: Final = 4
#: Bursts whose 429s are this improbable at the flat share are a limiter's.
TEST_ALPHA: Final = 0.01
#: A gate's burst with this share refused is saturated ...
GATE_SATURATED: Final = 0.5
#: ... and is confirmed by a second unless it had this share or more.
GATE_CONFIRM_BELOW: Final = 0.8
#: Callers waiting that show the rate, not the callers, holds the pace.
GATE_WAITING: Final = 4
#: An early burst with at most this share refused is clear.
EARLY_CLEAR: Final = 0.17
#: An early burst this improbable at the early share holds the next early burst ...
EARLY_ALPHA: Final = 0.001
#: ... for this many times `EARLY_EVERY` (2 s).
EARLY_BACKOFF: Final = 8.0
#: Seconds between early bursts.
EARLY_EVERY: Final = 0.25
#: Seconds of answers, since the start, an early burst's share is judged against.
EARLY_WINDOW: Final = 3.0
#: The share of 429s a burst is judged against (early, or a start test's flat share) is
#: at least this.
MIN_BASE_SHARE: Final = 0.03


class _StartTests(_SharedState):
    """Start tests and burst results (module docstring).

    Args:
        configured: A ceiling, requests per second, or ``None``.
        waiting: How many callers wait in the bucket.
    """

    __slots__ = ("_waiting",)

    def __init__(self, configured: float | None, waiting: Callable[[], int]) -> None:
        super().__init__(configured)
        self._waiting = waiting

    def _restart(self, now: float, *, cap: bool = True) -> bool:
        """Begin a start test from the current rate; the run so far is its first flat segment.

        Returns whether it began (a rate that cannot double stays in cruise).
        """
        assert self.rate is not None
        self._bs_t = self._bs_n = 0
        self.phase = Phase.STARTUP
        self._base = self._last_flat = self.rate
        self._flats = 1
        self._flat_n, self._flat_t = self._run_n, self._run_t
        new = self._capped(self.rate * 2.0, now, cap=cap)
        if new <= self.rate * 1.01:
            self.phase = Phase.CRUISE
            self._enter_run(now)
            return False
        self._set(new, now)
        return True

    def _judge_segment(self, now: float) -> None:
        """A segment is complete: double, or end the test (module docstring)."""
        assert self.rate is not None
        n, t = self._seg_n, self._seg_t
        p = t / n
        rose = False
        if self._flat_n:
            pn, pt = self._flat_n, self._flat_t
            pooled = (pt + t) / (pn + n)
            flat = pt / pn
            se = math.sqrt(max(pooled * (1 - pooled), 1e-4) * (1 / pn + 1 / n))
            rose = p - flat >= RISE_POINTS and (p - flat) / se >= RISE_Z
        unexplained = p >= UNEXPLAINED_SHARE and not self._flat_n
        ended = p >= 0.5 or rose or unexplained
        if not ended and self._bs_n >= TEST_BURST_ANSWERS:
            base = max((self._flat_t + t) / (self._flat_n + n), MIN_BASE_SHARE)
            if binomial_tail(self._bs_n, self._bs_t, base) < TEST_ALPHA:
                self.ambient = 0.0  # the 429s were those of a limiter at its limit
                ended = True
        if ended:
            self._exit_startup(now, p)
            return
        if self._gated:  # the bursts decide the doublings
            if self._bursts.wanted:  # a whole segment and no caller queued to take it
                self._gate_free(now)
                return
            self._flat_n += n
            self._flat_t += t
            self._seg_n = self._seg_t = self._seg_pn = self._seg_pt = 0
            self._seg_start = now
            return
        self._flat_n += n
        self._flat_t += t
        if t >= 1:
            self._bursts.ask("test")
        self._flats += 1
        if self._flats >= AMBIENT_FLATS and (
            self._bs_n >= AMBIENT_BURST_ANSWERS or self._flat_t == 0
        ):
            self.ambient = self._flat_t / self._flat_n
            self._amb_n = self._flat_n
        self._last_flat = self.rate
        new = self.rate * 2.0
        cap = NO_AMBIENT_CAP * self._base
        if self.ambient <= 0.0 and new > cap and self._base > 0:
            if self.rate >= cap * 0.999:  # at the cap with nothing learnt: cruise from here
                self.phase = Phase.CRUISE
                self._probing = False
                self._enter_run(now)
                return
            new = cap
        self._set(self._capped(new, now), now)

    def _exit_startup(self, now: float, p: float) -> None:
        """End a start test whose last segment had share ``p`` of 429s (module docstring)."""
        assert self.rate is not None
        self._gated = self._confirming = False
        self._bursts.cancel()
        accepted = self.rate * (1 - p)
        target = accepted if self._flats > 1 else min(self._base, accepted)
        if self._probing:
            target = min(accepted, self._last_flat if self._flats > 1 else self._base)
            self._probing = False
        if self._flats <= 1:
            self.undos += 1
            self._qmult = min(self._qmult * 2.0, MAX_QUIET / QUIET)
        else:
            self._qmult = 1.0
        self.cuts += 1
        self.w_max = target
        self.phase = Phase.CRUISE
        self._exit_at = now
        self._set(max(MIN_RATE, target), now)
        self._enter_run(now)

    def _gate_free(self, now: float) -> None:
        """The callers, not the rate, hold the pace: stay, and learn the 429s seen as ambient."""
        fn, ft = self._flat_n + self._seg_n, self._flat_t + self._seg_t
        if fn >= 24:
            a = ft / fn
            if self._bs_n:
                pb = self._bs_t / self._bs_n
                a = min(a, pb + 2 * math.sqrt(max(pb * (1 - pb), 0.01) / self._bs_n))
            self.ambient = a
            self._amb_n = fn
        self._gated = self._confirming = self._probing = False
        self._bursts.cancel()
        self.phase = Phase.CRUISE
        self._enter_run(now)

    def _burst_result(self, now: float, result: BurstResult) -> None:
        """A burst's answers are all in: act on its count of 429s (module docstring)."""
        purpose, refused, n, failed = result
        gate = purpose == "gate" and self.phase is Phase.STARTUP and self._gated
        if n == 0:
            if gate:
                self._gate_free(now)  # too few callers for a burst: they hold the pace
            return
        if failed:  # a failure in the burst: its count says nothing of the limiter
            if gate:
                self._bursts.ask("gate")
            return
        if gate:
            self._gate_result(now, refused, n)
        elif self.phase is Phase.STARTUP:
            self._bs_t += refused
            self._bs_n += n
        elif purpose == "early" and self.phase is Phase.CRUISE:
            self._early_result(now, refused, n)

    def _gate_result(self, now: float, refused: int, n: int) -> None:
        """A gated start test's burst: double, confirm, end, or stay."""
        assert self.rate is not None
        self._bs_t += refused
        self._bs_n += n
        saturated = refused >= GATE_SATURATED * n
        if saturated and not self._confirming and refused < GATE_CONFIRM_BELOW * n:
            # a run of 429s that does not depend on the rate refuses one burst, not two
            self._confirming = True
            self._bursts.ask("gate")
            return
        self._confirming = False
        if saturated:
            p = self._seg_t / self._seg_n if self._seg_n else refused / n
            self._flats = 0  # untrusted: back to the rate the test began from
            self._exit_startup(now, p)
            return
        self._flats += 1
        self._last_flat = self.rate
        new = self.rate * 2.0 if self._waiting() >= GATE_WAITING else self.rate
        if self.ceiling is not None:
            new = min(new, self.ceiling)
        if new <= self.rate * 1.01:
            self._gate_free(now)
            return
        self._set(new, now)
        self._bursts.ask("gate")

    def _early_result(self, now: float, refused: int, n: int) -> None:
        """An early burst: begin a gated start test if clear; stop early bursts if saturated."""
        _, ok, thr, _ = self.tally.counts(now, EARLY_WINDOW, since=self._t0)
        base = max(thr / max(ok + thr, 1), MIN_BASE_SHARE)
        saturated = binomial_tail(n, refused, base) < EARLY_ALPHA
        if saturated:
            self._early_back = EARLY_BACKOFF
            return
        if refused > EARLY_CLEAR * n:
            return
        self._last_floor = now
        self._run_n, self._run_t = ok + thr, thr
        if self._restart(now, cap=False):
            self._bs_t, self._bs_n = refused, n
            self._probing = self._gated = True
            self._bursts.ask("gate")
