"""What the server states about the quota: ``RateLimit-Policy``, exhausted quotas.

Imports: the standard library only.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Final

__all__ = ["exhausted_for", "parse_policy"]

#: A ``-Reset`` header larger than this is a Unix time, not a delay (GitHub style).
_EPOCH_THRESHOLD: Final = 1e9


def parse_policy(value: str) -> float | None:
    """Read a ``RateLimit-Policy`` header as requests per second, or ``None``.

    Accepts the IETF draft forms ``100;w=60`` and ``"name";q=100;w=60`` (the first
    policy when several are listed). A missing window means one second.
    """
    first = value.split(",", 1)[0]
    quota: float | None = None
    window = 1.0
    for index, part in enumerate(first.split(";")):
        key, _, raw = part.strip().partition("=")
        try:
            if index == 0 and not raw:
                if key.startswith('"'):  # a policy name, not a quota
                    continue
                quota = float(key)
            elif key == "q":
                quota = float(raw)
            elif key == "w":
                window = float(raw)
        except ValueError:
            return None
    if quota is None or not (quota > 0 and window > 0) or not math.isfinite(quota / window):
        return None
    return quota / window


def exhausted_for(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds until the quota resets when the server states it is used up, else ``None``.

    Reads ``X-RateLimit-Remaining: 0`` / ``RateLimit-Remaining: 0`` with a ``-Reset``
    (seconds, or a Unix time), and the IETF draft's ``RateLimit: "name";r=0;t=30``
    (also the older ``remaining=0, reset=30``). Remaining 0 without a reset says nothing
    about how long to wait, and is not read.

    Args:
        headers: The response headers.
        now: The current Unix time, for a reset given as a Unix time.
    """
    remaining = headers.get("X-RateLimit-Remaining") or headers.get("RateLimit-Remaining")
    if remaining is not None:
        if remaining.strip() != "0":
            return None
        reset = headers.get("X-RateLimit-Reset") or headers.get("RateLimit-Reset")
        return _seconds(reset, now)
    combined = headers.get("RateLimit")
    if combined is None:
        return None
    params: dict[str, str] = {}
    for part in combined.replace(",", ";").split(";"):
        key, _, raw = part.strip().partition("=")
        params[key.strip().lower()] = raw.strip()
    left = params.get("r", params.get("remaining"))
    if left is None or left != "0":
        return None
    return _seconds(params.get("t", params.get("reset")), now)


def _seconds(reset: str | None, now: float | None) -> float | None:
    try:
        seconds = float(reset) if reset is not None else math.nan
    except ValueError:
        return None
    if not math.isfinite(seconds):
        return None
    if seconds > _EPOCH_THRESHOLD:  # a Unix time, not a delay
        seconds -= time.time() if now is None else now
    return max(seconds, 0.0)
