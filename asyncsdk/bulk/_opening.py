"""How wide a bulk run is, and when it may stop: no I/O, decisions on counts.

A run sends one request alone until its first outcome (`width`), and opens after
`OPEN_AFTER` anyway unless a connection failure was retried meanwhile
(`open_early`). A client that has fetched before (`warm`) starts open and never stops;
otherwise a failure that every later request would repeat (`stop_reason`, after
`asyncsdk._giveup`) may stop it.

Imports: the standard library and the core modules `client` (its type and counters),
`_giveup`, and this package's ``_results``.
"""

from __future__ import annotations

from typing import Final

from .._giveup import give_up_reason
from ..client import Client
from ._results import CallResult

__all__ = [
    "OPENED",
    "OPEN_AFTER",
    "connection_retries",
    "open_early",
    "stop_reason",
    "warm",
    "width",
]

OPEN_AFTER: Final = 1.0
"""Seconds a run waits for its first outcome before it opens to ``concurrency`` anyway.

Unless the client retried a connection failure meanwhile: then the first ID may be
failing in a way that stops the run, and its verdict (after its retries) decides
whether the run stops or opens. A 429, a 5xx or a timeout never stops a run, so
retrying one (a ``Retry-After`` of many seconds) does not hold the run back.
"""

OPENED: Final = object()
"""Put on a run's completion queue when `OPEN_AFTER` has passed."""


def width(concurrency: int, *, answered: bool) -> int:
    """Requests allowed in flight: one until the run's first outcome, then ``concurrency``.

    Like the limiter's first probe: a run that cannot succeed (nothing listens, a wrong
    key) learns it from one ID's retries instead of spending ``concurrency`` of them, and
    a healthy run loses one round trip (at most `OPEN_AFTER` seconds).
    """
    return concurrency if answered else 1


def open_early(*, retries_then: int, retries_now: int) -> bool:
    """Whether a run still waiting for its first outcome opens at `OPEN_AFTER`.

    Args:
        retries_then: The client's connection retries when the run started.
        retries_now: The same count now.

    Returns:
        True unless a connection failure was retried: only those may end in a stop.
    """
    return retries_now == retries_then


def connection_retries(client: Client) -> int:
    """The client's retries of connection failures so far (see `retry.retry_reason`)."""
    return client.stats.retries_by_reason.get("connection", 0)


def stop_reason(result: CallResult, *, proven: bool) -> str | None:
    """Why the run may stop at ``result``, or None: a hopeless failure before any access."""
    if proven or result.error is None:
        return None
    return give_up_reason(result.error)


def warm(client: Client) -> bool:
    """Whether the client has already fetched something: access is proven, no probe needed.

    A web app shares one client: its ``gather_calls`` of 10 IDs must not pay a lone
    first round trip, nor stop on a connection refused during a rolling restart.
    """
    return client.stats.succeeded > 0
