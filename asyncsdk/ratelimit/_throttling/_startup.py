"""How a rate nobody gave is found: ``probe``, then ``startup``, until the first limit.

Without a configured or stated rate the controller starts in ``probe``: one request at a
time until one is answered. The first answer (`_Startup.start`) gives the round trip,
and ``startup`` begins at `STARTUP_PER_RTT` requests per round trip, doubling every
`STARTUP_DOUBLING` seconds (``_regrowth``).

Startup ends as BBR's does, on a plateau (`_Startup._startup_round`): after
`PLATEAU_ROUNDS` rounds of `STARTUP_ROUND` seconds with 429s above the ambient share
whose accepted answers grew less than `PLATEAU_GROWTH` times the best round (BBR: 25 %
over three rounds). The end is a tentative cut like any other (``_cuts``): to
`CUT_GAIN` of the best round's accepted rate, kept if the share of 429s falls (a
limit: startup is over), undone if it does not (sporadic 429s, whose share does not
depend on the rate and grows no plateau of its own; startup goes on, their share now
ambient).

Imports: the standard library and the cuts, state and verdicts of this package.
"""

from __future__ import annotations

from typing import Final

from ._cuts import CUT_GAIN, MAX_CUT_RATIO, _Cuts
from ._state import MIN_RATE, MIN_RESPONSES, Phase
from ._verdicts import excess_threshold

__all__ = ["first_rate"]

#: Startup: requests per round trip of the first answer.
STARTUP_PER_RTT: Final = 4.0
#: Startup ends (tentatively) after `PLATEAU_ROUNDS` rounds of `STARTUP_ROUND` seconds
#: with 429s above the ambient share, whose accepted answers grew less than
#: `PLATEAU_GROWTH` times the best round.
STARTUP_ROUND: Final = 0.2
PLATEAU_ROUNDS: Final = 2
PLATEAU_GROWTH: Final = 1.25


def first_rate(rtt: float) -> float:
    """Startup's first rate, requests per second, after a first answer in ``rtt`` seconds."""
    return max(MIN_RATE, STARTUP_PER_RTT / max(rtt, 1e-3))


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
