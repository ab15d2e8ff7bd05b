"""What every phase of the adaptive rate reads and writes: its state, and how a rate changes.

`RateController` (``_rate``) is this state with its phases stacked on it, one module
each, every layer using only the ones below it: ``_regrowth`` (how the rate grows back),
``_cuts`` (cuts, their verification and undo), ``_startup`` (from the first answer to
the first limit), and ``_rate`` (the events the limiter feeds, once per bucket a tick).

The evidence the phases share:

- the *segment*: answers to requests granted since the last rate change (those in
  flight at the change are skipped, so an old rate's answers never judge a new one);
- the *episode*: answers since the first 429 of a segment (that one excluded, so that a
  share measured from it is not biased upwards);
- the *sending rate*, smoothed over unpaused buckets, and the round-trip time;
- the *clean memory*: the best accepted rate of recent seconds, for the floor.

A rate changes through `_State._set` (a new segment) and a cut through a `_Pending`
record of what to restore if it is undone.

Imports: the standard library and the tally of this package.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from dataclasses import dataclass
from typing import Final

from ._verdicts import Tally

__all__ = ["FLOOR_SHARE", "MIN_RATE", "MIN_RESPONSES", "Phase"]

#: Requests per second no adaptive rate goes below.
MIN_RATE: Final = 0.5
#: Fewest responses that can justify a cut, verify it, or count as a clean second.
MIN_RESPONSES: Final = 10
#: A sporadic episode's cut never goes below this share of the best clean rate
#: (of the clean one-second intervals of the last `_regrowth.FLOOR_MEMORY` seconds).
FLOOR_SHARE: Final = 0.5
#: Seconds of grants a cut measures the rate being sent over (a startup doubling every
#: 0.2 s must not make it look lower than it is).
SENT_SECONDS: Final = 0.1


class Phase(enum.Enum):
    """Where a rate controller is (``_rate`` and ``_shared_rate`` module docstrings)."""

    FIXED = "fixed"
    PROBE = "probe"
    STARTUP = "startup"
    CRUISE = "cruise"
    KNOWN = "known"


@dataclass(slots=True)
class _Pending:
    """A tentative cut and what to restore if it is undone."""

    rate: float | None
    phase: Phase
    w_max: float
    epoch: float
    k: float
    share: float  # of 429s before the cut, over `responses`
    responses: int
    limit: float


class _State:
    """The adaptive rate's state; the phases are the subclasses' methods (module doc).

    Args:
        configured: The user's rate, requests per second, or ``None`` to discover one.
        adaptive: ``False`` keeps ``configured`` as a fixed pace.
    """

    __slots__ = (
        "_best_round",
        "_clean",
        "_confirming",
        "_ep_ok",
        "_ep_start",
        "_ep_throttled",
        "_epoch",
        "_inflight",
        "_k",
        "_next_clean",
        "_paused_until",
        "_pending",
        "_plateaus",
        "_rollover",
        "_round_end",
        "_rtt",
        "_seg_ok",
        "_seg_start",
        "_seg_throttled",
        "_sent",
        "_skip",
        "_updated",
        "ambient",
        "configured",
        "cuts",
        "phase",
        "rate",
        "stated",
        "tally",
        "undos",
        "w_max",
    )

    def __init__(self, configured: float | None, *, adaptive: bool = True) -> None:
        self.configured = configured
        self.stated: float | None = None
        self.rate = configured
        if not adaptive:
            self.phase = Phase.FIXED
        else:
            self.phase = Phase.KNOWN if configured is not None else Phase.PROBE
        self.tally = Tally()
        self.ambient = 0.0
        self.w_max = configured or 0.0
        self.cuts = 0
        self.undos = 0
        self._epoch = 0.0
        self._k = 0.0
        self._pending: _Pending | None = None
        self._inflight = 0
        self._skip = 0  # responses still due to requests granted before the last change
        self._seg_start = -math.inf  # when responses started counting for verification
        self._seg_ok = 0
        self._seg_throttled = 0
        # The episode: responses after the first 429 of the segment (that one excluded,
        # so that a share measured from it is not biased upwards).
        self._ep_start: float | None = None
        self._ep_ok = 0
        self._ep_throttled = 0
        self._confirming = False  # a fresh sample must confirm the excess before a cut
        self._sent = 0.0  # smoothed sending rate over unpaused buckets
        self._rollover = -math.inf  # end of the current bucket
        self._updated = -math.inf
        self._paused_until = -math.inf
        self._clean: deque[tuple[float, float]] = deque()  # (time, accepted/s), max-queue
        self._round_end = -math.inf  # startup: the end of the current round
        self._best_round = 0.0  # startup: the most accepted per second in one round
        self._plateaus = 0  # startup: rounds in a row that accepted no more
        self._next_clean = -math.inf
        self._rtt = 0.0

    @property
    def ceiling(self) -> float | None:
        """The most the rate may be: the configured and stated rates, the lower one."""
        if self.stated is None:
            return self.configured
        if self.configured is None:
            return self.stated
        return min(self.stated, self.configured)

    @property
    def floor(self) -> float:
        """The lowest rate a cut for a share below `CORRELATED_SHARE` may set."""
        best = self._clean[0][1] if self._clean else 0.0
        return max(MIN_RATE, FLOOR_SHARE * best)

    @property
    def verifying(self) -> bool:
        """Whether a tentative cut awaits its verification."""
        return self._pending is not None

    def _sending(self, now: float) -> float:
        """The rate being sent just now: grants over the last `SENT_SECONDS` (unpaused)."""
        grants, _, _, span = self.tally.counts(now, SENT_SECONDS)
        if self._paused_until >= now - span or grants == 0:
            return self._sent if self._sent > 0.0 else (self.rate or MIN_RATE)
        return grants / span

    def _set(self, rate: float, now: float) -> None:
        """Change the rate; responses to requests already in flight stop counting."""
        self.rate = rate
        self._updated = now
        self._new_segment(now)

    def _new_segment(self, now: float) -> None:
        self._skip = self._inflight
        self._seg_start = now if self._skip == 0 else math.inf
        self._seg_ok = self._seg_throttled = 0
        self._ep_start = None
        self._ep_ok = self._ep_throttled = 0
        self._confirming = False
