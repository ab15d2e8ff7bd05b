"""The fleet limiter's settings checked before anything connects, and its keys named.

Every worker of a fleet must derive the same Redis key for the same limit: the limit's
name is the ``key`` given or a hash of the credential (`derive_key`, never the
credential itself), and a workspace's limit adds its canonical lower-case UUID. A bad
setting is a `ConfigurationError` raised by the constructor, before any request.

Imports: the standard library and the package's `errors`.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Mapping
from typing import Final

from ..errors import ConfigurationError

__all__ = [
    "KEY_PREFIX",
    "canonical_workspace",
    "check_settings",
    "check_workspace_rates",
    "derive_key",
    "limit_name",
]

#: Prefix of every Redis key the limiter writes.
KEY_PREFIX: Final = "asyncsdk:ratelimit:"
#: Hex digits of the sha256 of a credential kept in a derived key (128 bits).
_KEY_HASH_DIGITS: Final = 32


def derive_key(credential: str) -> str:
    """Return the default limit name for a credential: a hash of it, never the credential.

    The same credential gives the same name in every process, so workers that share an
    account share its limit without naming it.
    """
    digest = hashlib.sha256(b"asyncsdk-ratelimit\0" + credential.encode()).hexdigest()
    return digest[:_KEY_HASH_DIGITS]


def limit_name(key: str | None, credential: str | None) -> str:
    """Return the limit's name: ``key``, or one derived from ``credential``.

    Raises:
        ConfigurationError: Neither was given, or ``key`` is not a non-empty string.
    """
    if key is None:
        if not credential:
            raise ConfigurationError(
                "pass key='<name of the shared limit>' or credential=<the access key> "
                "(a hash of it names the limit)"
            )
        return derive_key(credential)
    if not isinstance(key, str) or not key:
        raise ConfigurationError(f"key must be a non-empty string, got {key!r}")
    return key


def _is_rate(value: object) -> bool:
    """Whether ``value`` is requests per second: a finite number above 0, not a bool."""
    return not isinstance(value, bool) and isinstance(value, int | float) and 0 < value < math.inf


def check_settings(
    *,
    rate: float,
    burst: int,
    fallback_share: float,
    timeout: float,
    probe_interval: float,
    max_pause: float,
) -> None:
    """Refuse a setting of `RedisRateLimiter` out of its range.

    Raises:
        ConfigurationError: Which setting, and what it got.
    """
    if not _is_rate(rate):
        raise ConfigurationError(f"rate must be requests per second above 0, got {rate!r}")
    if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
        raise ConfigurationError(f"burst must be an int >= 1, got {burst!r}")
    if not isinstance(fallback_share, int | float) or not 0 < fallback_share <= 1:
        raise ConfigurationError(
            f"fallback_share must be in (0, 1], e.g. 1 / workers; got {fallback_share!r}"
        )
    for name, value in (
        ("timeout", timeout),
        ("probe_interval", probe_interval),
        ("max_pause", max_pause),
    ):
        if not isinstance(value, int | float) or not 0 < value < math.inf:
            raise ConfigurationError(f"{name} must be seconds above 0, got {value!r}")


def canonical_workspace(workspace_id: object) -> str:
    """Return a workspace id as a canonical lower-case UUID, for a key every worker agrees on.

    Raises:
        ConfigurationError: ``workspace_id`` is not a UUID.
    """
    try:
        return str(uuid.UUID(str(workspace_id)))
    except ValueError:
        raise ConfigurationError(f"a workspace id must be a UUID, got {workspace_id!r}") from None


def check_workspace_rates(rates: Mapping[str, float] | None) -> dict[str, float]:
    """Validate ``workspace_rates``; key them by canonical workspace id.

    Raises:
        ConfigurationError: Not a mapping, a rate out of range, or a key not a UUID.
    """
    if rates is None:
        return {}
    if not isinstance(rates, Mapping):
        raise ConfigurationError(
            f"workspace_rates must map workspace ids to requests per second, got {rates!r}"
        )
    found: dict[str, float] = {}
    for workspace, rate in rates.items():
        if not _is_rate(rate):
            raise ConfigurationError(
                f"workspace_rates[{workspace!r}] must be requests per second above 0, got {rate!r}"
            )
        found[canonical_workspace(workspace)] = float(rate)
    return found
