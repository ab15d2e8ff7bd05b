"""The embedded API server's injected faults: which one a request draws, and its reply.

`BirdApi` (`_app`) asks for a fault at step 6 of its decision, after the rate limit:
`FaultInjector.draw` draws every fault's chance in a fixed order from the server's
seeded RNGs (so a seed and a request sequence always draw the same faults), and
`FaultInjector.apply` turns the fault drawn into the reply: a 429 (one of a burst, or
the random throttle with its ``Retry-After``), a 500, an HTML 502, a 503, or the
normal answer reset, truncated or slowed.

Imports: the standard library and the server's `_config`, `_replies` and `_stats`.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from asyncsdk.server._config import Faults
from asyncsdk.server._replies import BAD_GATEWAY_HTML, Reply, error_reply
from asyncsdk.server._stats import ServerStats

__all__ = ["FaultInjector"]


class FaultInjector:
    """One server's fault draws and the replies they give.

    Args:
        faults: The configured chances and their parameters.
        seed: The server's seed.
        stats: Counters to update (``throttled``).
    """

    __slots__ = ("_burst_left", "_fault_rng", "_faults", "_stats", "_throttle_rng")

    def __init__(self, faults: Faults, seed: int, stats: ServerStats) -> None:
        self._faults = faults
        self._stats = stats
        self._burst_left = 0
        self._fault_rng = random.Random(f"asyncsdk.server.faults:{seed}")
        self._throttle_rng = random.Random(f"asyncsdk.server.throttle:{seed}")

    def draw(self) -> str | None:
        """Draw every fault, in a fixed order; return the first one drawn, if any."""
        faults = self._faults
        throttled = faults.throttle > 0 and self._throttle_rng.random() < faults.throttle
        chances = (
            ("429_burst", faults.burst_429),
            ("reset", faults.reset),
            ("truncate", faults.truncate),
            ("slow", faults.slow),
            ("500", faults.error_500),
            ("502", faults.error_502_html),
            ("503", faults.error_503),
        )
        draws = [(kind, self._fault_rng.random() < p) for kind, p in chances]
        if throttled:  # after the other draws, so that their sequence stays as it was
            return "429_throttle"
        if self._burst_left > 0:
            self._burst_left -= 1
            return "429_burst"
        for kind, drawn in draws:
            if drawn:
                if kind == "429_burst":
                    self._burst_left = faults.burst_429_length - 1
                return kind
        return None

    def apply(self, fault: str | None, answer: Callable[[], Reply]) -> Reply:
        """Return the reply ``fault`` gives; ``answer`` gives the normal one it may alter."""
        faults = self._faults
        if fault == "429_burst":
            self._stats.throttled += 1
            reply = error_reply(429, "rate limit exceeded")
            reply.headers["Retry-After"] = str(faults.retry_after_429)
        elif fault == "429_throttle":
            self._stats.throttled += 1
            reply = error_reply(429, "too many requests")
            retry_after = self._throttle_rng.choice(faults.throttle_retry_after)
            reply.headers["Retry-After"] = str(retry_after)
        elif fault == "500":
            reply = error_reply(500, "unexpected error")
        elif fault == "502":
            reply = Reply(502, BAD_GATEWAY_HTML, {"Content-Type": "text/html"})
        elif fault == "503":
            reply = error_reply(503, "service unavailable, try again later")
            if faults.retry_after_503 is not None:
                reply.headers["Retry-After"] = str(faults.retry_after_503)
        else:
            reply = answer()
            if fault in ("reset", "truncate"):
                reply.action = "reset" if fault == "reset" else "truncate"
            elif fault == "slow":
                reply.delay += faults.slow_seconds
        reply.fault = fault
        return reply
