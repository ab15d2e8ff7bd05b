"""Types of the embedded server's command-line options: each parses one option's text.

Each raises `argparse.ArgumentTypeError` with the form it expected, so that argparse
names the option; the values are then checked by the configuration they build.

Imports: the server's `_mediaconfig` and the standard library.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re

from asyncsdk.server._mediaconfig import MEDIA_FAULT_KINDS

__all__ = [
    "aware_datetime",
    "byte_size",
    "byte_sizes",
    "int_list",
    "media_faults",
    "outage",
    "schedule",
    "workspace_quota",
]

_UNITS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "ki": 1024, "mi": 1024**2, "gi": 1024**3}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmg]i?)?b?", re.IGNORECASE).fullmatch


def aware_datetime(text: str) -> dt.datetime:
    """Parse an RFC 3339 date-time that has a time zone."""
    value = dt.datetime.fromisoformat(text)
    if value.utcoffset() is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone; add Z or +00:00")
    return value


def int_list(text: str) -> tuple[int, ...]:
    """Parse ``0,1`` into ``(0, 1)``."""
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole seconds like 0,1; got {text!r}") from None


def _pairs(text: str, what: str) -> list[tuple[float, float]]:
    """Parse ``A:B,C:D`` into ``[(A, B), (C, D)]`` (floats)."""
    pairs = []
    for part in text.split(","):
        first, sep, second = part.partition(":")
        try:
            if not sep:
                raise ValueError(part)
            pairs.append((float(first), float(second)))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}; got {text!r}") from None
    return pairs


def schedule(text: str) -> tuple[tuple[float, float], ...]:
    """Parse ``10:100,20:300`` into ``((10.0, 100.0), (20.0, 300.0))``."""
    return tuple(_pairs(text, "T:RPS pairs like 10:100,20:300"))


def outage(text: str) -> tuple[float, float]:
    """Parse ``5:10`` (start 5 s, for 10 s) into ``(5.0, 10.0)``."""
    pairs = _pairs(text, "START:SECONDS like 5:10")
    if len(pairs) != 1:
        raise argparse.ArgumentTypeError(f"expected one START:SECONDS like 5:10; got {text!r}")
    return pairs[0]


def workspace_quota(text: str) -> tuple[str, float, int | None]:
    """Parse ``WORKSPACE:RPS[:BURST]`` (checked by `ServerConfig`)."""
    parts = text.split(":")
    try:
        if len(parts) not in (2, 3):
            raise ValueError
        rate = float(parts[1])
        burst = int(parts[2]) if len(parts) == 3 else None
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected WORKSPACE:RPS[:BURST] like <uuid>:200:50; got {text!r}"
        ) from None
    return parts[0], rate, burst


def byte_size(text: str) -> int:
    """Parse a number of bytes: ``1500``, ``200M`` (10**6), ``1G``, ``64Ki`` (2**10)."""
    match = _SIZE(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"expected bytes like 1500, 200M or 1G; got {text!r}")
    number, unit = match.group(1), (match.group(2) or "").lower()
    return int(float(number) * _UNITS[unit])


def media_faults(text: str) -> dict[str, float]:
    """Parse ``expired=0.1,reset=0.05`` into ``{"expired": 0.1, "reset": 0.05}``."""
    found: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.strip().partition("=")
        try:
            if not sep or name not in MEDIA_FAULT_KINDS:
                raise ValueError(part)
            found[name] = float(value)
        except ValueError:
            kinds = ", ".join(MEDIA_FAULT_KINDS)
            raise argparse.ArgumentTypeError(
                f"expected KIND=P[,KIND=P...] with KIND one of {kinds}; got {text!r}"
            ) from None
    return found


def byte_sizes(text: str) -> tuple[int, ...]:
    """Parse ``10M`` or ``10M,1G`` (sizes cycled over recordings) into byte counts."""
    return tuple(byte_size(part) for part in text.split(","))
