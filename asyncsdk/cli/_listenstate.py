"""What a `Listener` is given and what it reports: options, counters, a stage's failure.

Plain data, apart from the listener's mechanics in `asyncsdk.cli._listener`.

Imports: the SDK's public API, `asyncsdk.webhooks` and the standard library.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncsdk
from asyncsdk.webhooks import DEFAULT_MAX_BODY

__all__ = [
    "DEFAULT_LISTEN_PORT",
    "DEFAULT_QUEUE_SIZE",
    "ListenOptions",
    "ListenerStats",
    "StageFailure",
    "rate_since",
]

DEFAULT_LISTEN_PORT = 8090
DEFAULT_QUEUE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class StageFailure:
    """A stage of the pipeline that ended with an error, which stopped the listener.

    Attributes:
        stage: What the stage does (``"writing rows to calls.sqlite"``).
        error: The exception it ended with.
    """

    stage: str
    error: BaseException

    def __str__(self) -> str:
        if isinstance(self.error, asyncsdk.RunStoppedError):
            return f"{self.stage}: {self.error.reason}"
        return f"{self.stage} failed: {type(self.error).__name__}: {self.error}"


@dataclass(slots=True)
class ListenerStats:
    """What a listener did (live counters)."""

    written: int = 0
    enriched: int = 0
    fetch_failed: int = 0
    #: The last fetch failure, ``"ErrorName: message"`` (it may say what to do).
    last_failure: str | None = None
    rows: int = 0
    started: float = field(default_factory=time.monotonic)
    #: ``(time.monotonic(), written)`` when the last progress line was made.
    shown: tuple[float, int] | None = None

    def rate_now(self, now: float) -> float:
        """Events per second since the last progress line (`rate_since`); note this one."""
        rate = rate_since(self.shown or (self.started, 0), now, self.written)
        self.shown = (now, self.written)
        return rate


def rate_since(previous: tuple[float, int], now: float, written: int) -> float:
    """Events per second since ``previous`` (a time and the events written then).

    The progress line shows the rate since the line before, not since the start: a
    listener that has gone quiet after a burst shows 0/s, not an average that decays.
    """
    then, before = previous
    return (written - before) / max(now - then, 1e-9)


@dataclass(frozen=True, slots=True)
class ListenOptions:
    """Everything a listener needs, resolved from the command line or given directly.

    Its repr leaves out the signing keys.
    """

    signing_keys: tuple[str, ...] = field(repr=False)
    out: Path
    host: str = "127.0.0.1"
    port: int = DEFAULT_LISTEN_PORT
    path: str = "/"
    public_url: str | None = None
    trust_forwarded: bool = False
    max_body: int = DEFAULT_MAX_BODY
    queue_size: int = DEFAULT_QUEUE_SIZE
    workspace: str | None = None
    channel: str | None = None
    db: Path = Path("calls.sqlite")
    concurrency: int = asyncsdk.DEFAULT_CONCURRENCY
