"""How a rate nobody gave is found: ``probe``, then ``startup``, until the first limit.

Without a configured or stated rate the controller starts in ``probe``: one request at a
time until one is answered. The first answer (`_Startup.start`) gives the round trip,
and ``startup`` begins at `STARTUP_PER_RTT` requests per round trip, doubling every
`STARTUP_DOUBLING` seconds (``_regrowth``).

The first startup ends at its first correlated excess of 429s (`_Startup._first_excess`:
half or more of the episode's answers, `MIN_RESPONSES` at least), once `EXIT_ACCEPTED`
answers were accepted since the episode's first 429 (or `EXIT_WAIT` passed), to
`CUT_GAIN` of the limit `exit_rate` estimates: a server's bucket that startup has
emptied accepts exactly its refill rate (the limit, or this process's part of a shared
one), so the estimate is what was accepted since the episode's first 429, per second,
or the rate sent times the share accepted, whichever is larger. Both are noisy over a
few tens of milliseconds, and an estimate too low costs most: a 200/s workspace whose
event loop also served another left startup at 60 to 70/s by the first alone, spent
seconds there, then doubled again past a bucket that had refilled into a volley of
429s. Halving from the rate sent instead (the cuts' deepest step), as before, took
three or four steps down from a startup that had doubled far past a deep bucket's
limit, each drawing its own 429s: against 50/s with a burst of 50, 1,000 IDs at 30 ms
drew a median 5.8 % of 429s over ten seeds in virtual time, now 4.5 %. The exit is kept
at once, as any cut for a correlated share. A share below half in startup may be
sporadic 429s: startup then ends only on a plateau (below).

A later startup (the limit rose, ``_regrowth``) ends at its first excess by the
probing rule of ``_cuts``. Any startup also ends as BBR's does, on a plateau
(`_Startup._startup_round`): after `PLATEAU_ROUNDS` rounds of `STARTUP_ROUND` seconds
with 429s above the ambient share whose accepted answers grew less than
`PLATEAU_GROWTH` times the best round (BBR: 25 % over three rounds), a tentative cut to
`CUT_GAIN` of the best round's accepted rate, undone by sporadic 429s, whose share does
not fall with the rate (startup goes on, their share now ambient).

Imports: the standard library and the cuts, state and verdicts of this package.
"""

from __future__ import annotations

from typing import Final

from ._cuts import CUT_GAIN, MAX_CUT_RATIO, MIN_THROTTLES, _Cuts
from ._state import MIN_RATE, MIN_RESPONSES, Phase
from ._verdicts import CORRELATED_SHARE, excess_threshold

__all__ = ["exit_rate", "first_rate"]

#: Startup: requests per round trip of the first answer.
STARTUP_PER_RTT: Final = 4.0
#: Startup ends (tentatively) after `PLATEAU_ROUNDS` rounds of `STARTUP_ROUND` seconds
#: with 429s above the ambient share, whose accepted answers grew less than
#: `PLATEAU_GROWTH` times the best round.
STARTUP_ROUND: Final = 0.2
PLATEAU_ROUNDS: Final = 2
PLATEAU_GROWTH: Final = 1.25
#: Startup's first exit never goes below this share of the rate being sent (an
#: estimate from a couple of accepted answers may be too low by as much).
EXIT_DEEPEST: Final = 0.125
#: The shortest span an exit's accepted rate is measured over, seconds.
EXIT_MIN_SECONDS: Final = 0.01
#: Accepted answers the exit waits for (its count is right give or take one), or
#: seconds at most since the episode's first 429.
EXIT_ACCEPTED: Final = 3
EXIT_WAIT: Final = 0.2


def first_rate(rtt: float) -> float:
    """Startup's first rate, requests per second, after a first answer in ``rtt`` seconds."""
    return max(MIN_RATE, STARTUP_PER_RTT / max(rtt, 1e-3))


def exit_rate(sent: float, accepted: int, seconds: float, share: float) -> tuple[float, float]:
    """Startup's first exit: the estimated limit and the rate to send at (module doc).

    Args:
        sent: The rate being sent, requests per second.
        accepted: Answers accepted since the episode's first 429...
        seconds: ...over this long.
        share: The episode's share of 429s.

    Returns:
        ``(limit, rate)``: the larger of what the emptied bucket accepted per second and
        of ``sent`` times the share accepted, at least `EXIT_DEEPEST` of ``sent``; and
        `CUT_GAIN` of it, at least 5 % below ``sent``.
    """
    counted = accepted / max(seconds, EXIT_MIN_SECONDS)
    limit = max(counted, sent * max(EXIT_DEEPEST, 1.0 - share), MIN_RATE)
    return limit, min(limit * CUT_GAIN, sent * MAX_CUT_RATIO)


class _Startup(_Cuts):
    """The startup rules on the cuts, the growth rules and the state (module doc)."""

    __slots__ = ()

    def start(self, now: float, rtt: float) -> None:
        """Leave ``probe``: the first answer came after ``rtt`` seconds and stated no rate."""
        if self.phase is not Phase.PROBE:
            return
        self._rtt = rtt
        self.phase = Phase.STARTUP
        self.rate = first_rate(rtt)
        self._updated = now

    def _consider_cut(self, now: float) -> None:
        """The first startup leaves at its first excess (`_first_excess`), else cuts' rules."""
        if self.phase is Phase.STARTUP and self.w_max == 0.0 and self._first_excess(now):
            return
        super()._consider_cut(now)

    def _first_excess(self, now: float) -> bool:
        """Leave the first startup at its first correlated excess; tell whether it did.

        Correlated: `CORRELATED_SHARE` or more of the episode's answers (`MIN_RESPONSES`
        at least) are 429s. The rate goes to `CUT_GAIN` of what was accepted since the
        episode's first 429 (`exit_rate`), once `EXIT_ACCEPTED` answers were accepted
        meanwhile (or `EXIT_WAIT` passed): until then nothing else cuts the rate.
        """
        throttled, total = self._ep_throttled, self._ep_ok + self._ep_throttled
        if self._ep_start is None or throttled + 1 < MIN_THROTTLES or total < MIN_RESPONSES:
            return False
        if throttled / total < CORRELATED_SHARE:
            return False  # sporadic 429s, maybe: startup ends on a plateau
        seconds = now - self._ep_start
        if self._ep_ok < EXIT_ACCEPTED and seconds < EXIT_WAIT:
            return True
        rate = self.rate
        assert rate is not None
        sent = min(rate, self._sending(now))
        accepted, target = exit_rate(sent, self._ep_ok, seconds, throttled / total)
        self.cuts += 1
        self._set(target, now)
        self.w_max = accepted
        self._begin_cruise(now)
        self._clean.clear()  # the burst that startup drained is not a clean rate
        return True

    def _startup_round(self, now: float) -> None:
        """End startup when accepted answers stop growing while 429s show (module doc)."""
        rate = self.rate
        assert rate is not None
        self._round_end = now + STARTUP_ROUND
        _, ok, throttled, span = self.tally.counts(now, STARTUP_ROUND, since=self._seg_start)
        total = ok + throttled
        if total < MIN_RESPONSES:
            return
        accepted = ok / span
        share = throttled / total
        if share > excess_threshold(self.ambient, total) and accepted < (
            PLATEAU_GROWTH * self._best_round
        ):
            self._plateaus += 1
        else:
            self._plateaus = 0
        self._best_round = max(self._best_round, accepted)
        if self._plateaus >= PLATEAU_ROUNDS:
            self._plateaus = 0
            target = min(rate, self._sending(now)) * MAX_CUT_RATIO
            self._tentative_cut(
                now, min(self._best_round * CUT_GAIN, target), self._best_round, throttled, total
            )
