"""What every rule of the discovered rate reads and writes (`SharedRateController`'s state).

The discovered rate is the rate a client with no configured rate finds for itself, on a
quota it may share with processes it does not know of. Its rules, one module each,
stacked so that each uses only the ones below it:

- here: the state, how a rate changes, and the constants most rules name (the burst
  rules' own are in ``_bursts``, ``_shared_start`` and ``_shared_rate``);
- ``_bursts``: which answers are a burst's (the bookkeeping of a burst test);
- ``_shared_start``: start tests (doubling while the share of 429s does not rise, or
  while bursts find the limiter unsaturated) and the results of bursts;
- ``_shared_rate``: `SharedRateController`, fed each grant, answer and failure: the
  per-answer regrowth, the heavy cut, and once per tally bucket the re-entry and floor
  tests.

The evidence the rules share:

- the *segment*: answers to requests granted since the last rate change (those in
  flight at the change are skipped, so an old rate's answers never judge a new one);
- the *run*: answers since cruise began or since the last excess of 429s over the
  ambient share (the quiet window a re-entry needs);
- the *flat* answers: those of a start test's segments that did not raise the share;
- the *ambient* share: 429s that do not depend on the rate, learnt from flat segments.

Every constant below was set in the throttling research rounds, in virtual time over
30 seeds of four processes sharing a quota, the sporadic-429 guard over 16 seeds and
the single-client guards, then in the lab; ``docs/throttling-research.md`` has the
evidence and the values that did worse.

Imports: the standard library and the tally of this package.
"""

from __future__ import annotations

import math
from typing import Final

from ._bursts import BurstLedger
from ._state import MIN_RATE, Phase
from ._verdicts import BUCKET_SECONDS, Tally

__all__ = ["MIN_RATE", "Phase"]

#: Bird's documented rate (50 GET/s per workspace): the start's floor.
PRIOR_RATE: Final = 50.0
#: Requests per second a 429 takes off the rate (Kelly's primal algorithm).
DECREASE: Final = 4.0
#: Requests per second the rate gains per second while answers come back.
INCREASE: Final = 6.0
#: Answers a start test's segment is judged on (or 8, after `SEGMENT_SECONDS`).
SEGMENT_ANSWERS: Final = 24
#: Seconds a segment lasts at most once it has 8 answers.
SEGMENT_SECONDS: Final = 1.0
#: A segment's share rose: this many standard errors and `RISE_POINTS` over the flat share.
RISE_Z: Final = 2.0
#: ... and at least this much (four points).
RISE_POINTS: Final = 0.04
#: A first segment with this share of 429s and nothing flat to compare it with has risen.
UNEXPLAINED_SHARE: Final = 0.25
#: Seconds with no excess of 429s over the ambient share before a start test (x `_qmult`).
QUIET: Final = 2.0
#: ... and the first re-entry's, from the start.
FIRST_QUIET: Final = 2.0
#: The quiet window grows at most to this many seconds (it doubles after a refused re-entry).
MAX_QUIET: Final = 16.0
#: Answers a quiet window needs before a start test.
REENTRY_ANSWERS: Final = 24
#: Flat segments before their pooled share is learnt as ambient.
AMBIENT_FLATS: Final = 3
#: Burst answers a start test needs before its 429s are learnt as ambient.
AMBIENT_BURST_ANSWERS: Final = 8
#: With nothing learnt, a start test doubles to at most this multiple of its base.
NO_AMBIENT_CAP: Final = 4.0
#: A 429 with this share of the last `HEAVY_ANSWERS` answers refused cuts at once.
HEAVY_SHARE: Final = 0.5
#: Answers the heavy cut is judged on.
HEAVY_ANSWERS: Final = 20
#: Seconds of accepted answers the heavy cut keeps at least.
HEAVY_SPAN: Final = 0.5
#: The floor test: a rate at or below this share of the start's rate ...
FLOOR_SHARE: Final = 0.5
#: ... with this share of 429s over the ambient share ...
FLOOR_EXCESS: Final = 0.075
#: ... over at least this many answers ...
FLOOR_ANSWERS: Final = 40
#: ... since `FLOOR_AFTER` seconds of cruise, over `FLOOR_WINDOW` seconds ...
FLOOR_AFTER: Final = 1.5
FLOOR_WINDOW: Final = 3.0
#: ... at most every this many seconds, begins a start test.
FLOOR_EVERY: Final = 2.0
#: The regrowth reads the ambient share plus this many standard errors, at most half.
AMBIENT_Z: Final = 2.0


class _SharedState:
    """The discovered rate's state; the rules are the subclasses' methods (module doc).

    Args:
        configured: A ceiling, requests per second, or ``None``.
    """

    __slots__ = (
        "_amb_n",
        "_base",
        "_bs_n",
        "_bs_t",
        "_bursts",
        "_confirming",
        "_cruise_since",
        "_early_back",
        "_exit_at",
        "_flat_n",
        "_flat_t",
        "_flats",
        "_gated",
        "_inflight",
        "_last_excess",
        "_last_flat",
        "_last_floor",
        "_paused_until",
        "_probing",
        "_qmult",
        "_r0",
        "_rollover",
        "_rtt",
        "_run_n",
        "_run_t",
        "_seen_429",
        "_seg_n",
        "_seg_pn",
        "_seg_pt",
        "_seg_start",
        "_seg_t",
        "_skip",
        "_start_quiet",
        "_t0",
        "_updated",
        "ambient",
        "ceiling",
        "cuts",
        "phase",
        "rate",
        "stated",
        "tally",
        "undos",
        "w_max",
    )

    def __init__(self, configured: float | None = None) -> None:
        self.phase = Phase.PROBE
        self.rate: float | None = None
        self.tally = Tally()
        self.ambient = 0.0  # the learnt share of 429s that do not depend on the rate
        self._amb_n = 1  # answers it was learnt from
        self.cuts = 0
        self.undos = 0  # start tests refused at their first doubling
        self.ceiling: float | None = configured
        self.w_max = 0.0  # the rate the last start test ended at
        self.stated: float | None = None
        self._inflight = 0
        self._skip = 0  # answers of an older rate still to come
        self._rtt = 0.1
        self._paused_until = -math.inf
        self._rollover = 0.0
        self._updated = 0.0
        self._t0 = 0.0
        self._r0 = 0.0  # the start's rate
        # the segment, and its paced answers (a burst's are not)
        self._seg_n = self._seg_t = 0
        self._seg_pn = self._seg_pt = 0
        self._seg_start = 0.0
        # a start test
        self._base = 0.0  # the rate it began from
        self._flat_n = self._flat_t = self._flats = 0
        self._last_flat = 0.0
        self._bs_n = self._bs_t = 0  # its burst answers
        self._probing = False  # begun by the floor test or an early burst
        self._gated = False  # doubling on bursts (begun by an early burst)
        self._confirming = False  # a gate's saturated burst awaits a second
        self._exit_at = -math.inf
        self._qmult = 1.0
        # the run
        self._run_n = self._run_t = 0
        self._cruise_since = 0.0
        self._last_excess = 0.0
        self._start_quiet = False
        self._last_floor = -math.inf
        # bursts
        self._bursts = BurstLedger()
        self._seen_429 = False  # since the last burst
        self._early_back = 1.0  # the wait between early bursts, x 0.25 s

    def _set(self, rate: float, now: float) -> None:
        """A new rate: a new segment, judged on answers to requests granted from now."""
        self.rate = rate
        self._skip = self._inflight
        self._seg_n = self._seg_t = self._seg_pn = self._seg_pt = 0
        self._seg_start = now

    def _enter_run(self, now: float) -> None:
        """Cruise (re)begins: a new run and quiet window."""
        self._cruise_since = now
        self._run_n = self._run_t = 0
        self._last_excess = now

    def _ambient_bound(self) -> float:
        """The ambient share plus `AMBIENT_Z` standard errors, at most a half."""
        a = self.ambient
        if a > 0.0:
            a += AMBIENT_Z * math.sqrt(max(a * (1 - a), 0.01) / self._amb_n)
        return min(a, 0.5)

    def _sending(self, now: float) -> float:
        """Requests per second granted over the last four tally buckets."""
        grants, _, _, span = self.tally.counts(now, 4 * BUCKET_SECONDS)
        return grants / span

    def _capped(self, new: float, now: float, *, cap: bool = True) -> float:
        """A doubled rate, at most twice what is being sent and at most the ceiling."""
        assert self.rate is not None
        sending = self._sending(now)
        if cap and sending > 0:
            new = min(new, max(2.0 * sending, self.rate))
        if self.ceiling is not None:
            new = min(new, self.ceiling)
        return new
