"""Burst tests: which answers belong to a burst, and what a burst's 429s say.

A *burst* is a few requests let through at once: the request the bucket grants next
and the `BURST_SIZE` - 1 callers queued behind it, paid for by the tokens that follow
(the bucket's tokens go negative), so the average rate does not change. A limiter at
its limit (a token bucket, a window, an in-flight cap) that refuses one request refuses
the ones right behind it; 429s that do not depend on the rate refuse each request
alone. So a burst's count of 429s tells a quota held at its limit from sporadic 429s
where the *share* of 429s over time cannot (``docs/throttling-research.md``, "Burst
tests", has the distributions: a burst of 8 had at most two refused in 99 % of
bursts under 10 % sporadic 429s, and three or more in about four of five at a shared
limit).

`BurstLedger` is the bookkeeping only: it numbers answers in the order they come back
and attributes to the burst those that come back after everything granted before it.
The decisions (when to ask, what a count means) are the controller's
(``_shared_start``). The count relies on answers coming back roughly in the order the
requests were sent; the lab's reordered-answers runs (up to 20 ms) are the evidence
that a modest reordering does not break it.

No library counts answers against a burst; this module is the SDK's own.

Imports: the standard library only.
"""

from __future__ import annotations

import math
from typing import Final

__all__ = ["BURST_SIZE", "BurstLedger", "binomial_tail", "lower_tail"]

#: Requests a burst sends at once. Six rather than eight: as telling in virtual time,
#: and fewer 429s for each test (research page, "Burst tests").
BURST_SIZE: Final = 6


def binomial_tail(n: int, k: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p): how surprising ``k`` 429s of ``n`` are at share ``p``."""
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))


def lower_tail(n: int, k: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


class BurstLedger:
    """Which answers are a burst's, and the burst's count of 429s.

    The controller calls `ask` when it wants a burst (with a purpose it reads back with
    the result), the bucket calls `take` when it grants a request with waiters behind it
    and `sent` once it has granted the burst's extra requests, and the controller feeds
    every answer to `answer`, which returns whether the answer was a burst's.
    """

    __slots__ = (
        "_answered",
        "_hi",
        "_lo",
        "_refused",
        "_void",
        "answers",
        "last",
        "purpose",
        "wanted",
    )

    def __init__(self) -> None:
        self.answers = 0  # answers (responses and failures) so far, in order
        self.wanted = False  # a burst is asked for and not sent yet
        self.purpose = ""  # what the asked-for burst is to decide ("early", "gate", "")
        self.last = -math.inf  # when the last burst was sent
        self._lo = self._hi = -1  # the burst's answers are those numbered lo+1 .. hi
        self._answered = self._refused = 0
        self._void = False

    @property
    def open(self) -> bool:
        """A burst was sent and not all its answers are in."""
        return self._lo >= 0

    def ask(self, purpose: str) -> None:
        """Ask for a burst with the next grant that has callers queued behind it.

        Args:
            purpose: What its result decides: ``"early"`` (the first seconds' test),
                ``"gate"`` (a gated start test's doubling) or ``"test"`` (a start test's
                check of its flat segments).
        """
        self.wanted = True
        self.purpose = purpose

    def take(self, now: float, due_before: int) -> int:
        """The bucket grants a request: return how many more to grant with it (0: none).

        Args:
            now: The time of the grant.
            due_before: Answers due before the burst's: those so far plus those in flight
                before this grant.
        """
        if not self.wanted or self.open:
            return 0
        self.wanted = False
        self.last = now
        self._lo = due_before
        return BURST_SIZE - 1

    def sent(self, extra: int) -> None:
        """The bucket granted ``extra`` requests with the one that took the burst.

        Fewer than asked (too few callers queued) makes the burst *void*: its answers
        are still set apart, but they tell nothing of the server.
        """
        self._void = extra < BURST_SIZE - 1
        self._hi = self._lo + 1 + extra
        self._answered = self._refused = 0

    def answer(self, throttled: bool) -> tuple[bool, tuple[str, int, int] | None]:
        """Count one answer, in the order it came back.

        Returns:
            Whether it was a burst's answer, and, with the burst's last answer, its
            ``(purpose, refused, answers)`` (``answers == 0`` for a void burst). The
            purpose is the last one asked for: an ask while a burst is out replaces it.
        """
        self.answers += 1
        if not (self._lo >= 0 and self._lo < self.answers <= self._hi):
            return False, None
        self._answered += 1
        self._refused += int(throttled)
        if self._answered < self._hi - self._lo:
            return True, None
        self._lo = self._hi = -1
        purpose, self.purpose = self.purpose, ""
        if self._void:
            return True, (purpose, 0, 0)
        return True, (purpose, self._refused, self._answered)
