"""Progress for long exports: a live bar on a terminal, periodic plain lines elsewhere.

Imports: the standard library only.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

#: Seconds between redraws of the bar, and between plain lines when not a terminal.
BAR_INTERVAL = 0.2
LINE_INTERVAL = 5.0
_BAR_WIDTH = 24


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def show(stream: TextIO, text: str, *, tty: bool, final: bool) -> None:
    """Write a progress line: redrawn in place on a terminal, ``progress: ...`` elsewhere."""
    if tty:
        stream.write(f"\r{text}\033[K" + ("\n" if final else ""))
    else:
        stream.write(f"progress: {text}\n")
    stream.flush()


class Progress:
    """Counts outcomes and reports rate and ETA on ``stream`` (stderr by default)."""

    def __init__(
        self, total: int | None, *, stream: TextIO | None = None, enabled: bool = True
    ) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty()
        self._enabled = enabled
        self._started = time.monotonic()
        self._last_report = self._started

    @property
    def elapsed(self) -> float:
        """Seconds since the progress started."""
        return time.monotonic() - self._started

    def advance(self, *, failed: bool) -> None:
        """Count one outcome and report if it is time to."""
        self.done += 1
        self.failed += failed
        now = time.monotonic()
        if self._enabled and now - self._last_report >= (
            BAR_INTERVAL if self._tty else LINE_INTERVAL
        ):
            self._last_report = now
            self._report(final=False)

    def finish(self) -> None:
        """Report the final state (ends the bar's line on a terminal)."""
        if self._enabled:
            self._report(final=True)

    def line(self, *, final: bool = False) -> str:
        """The current state as text: count, percentage, rate, ETA, failures.

        Args:
            final: The run is over (finished or stopped): no ETA, which would promise
                an end that is not coming.
        """
        elapsed = max(self.elapsed, 1e-9)
        rate = self.done / elapsed
        parts = [f"{self.done}" + (f"/{self.total}" if self.total is not None else "")]
        if self.total:
            parts.append(f"{100 * self.done / self.total:5.1f}%")
        parts.append(f"{rate:.1f}/s")
        if self.total and rate > 0 and not final:
            parts.append(f"ETA {_clock((self.total - self.done) / rate)}")
        parts.append(f"failed {self.failed}")
        return "  ".join(parts)

    def _report(self, *, final: bool) -> None:
        text = self.line(final=final)
        if self._tty:
            bar = ""
            if self.total:
                filled = int(_BAR_WIDTH * self.done / self.total)
                bar = "[" + "#" * filled + "." * (_BAR_WIDTH - filled) + "] "
            self._stream.write(f"\r{bar}{text}\033[K" + ("\n" if final else ""))
        else:
            self._stream.write(f"progress: {text}\n")
        self._stream.flush()
