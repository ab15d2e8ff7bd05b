"""A client's settings, resolved once: the credential, the API root, limits and limiters.

`Client` takes its keyword arguments as callers pass them (seconds or a `Timeout`, a
rate or a `RateLimit`, environment variables for what is not given) and hands them here;
what comes back is frozen and checked, and the request engine (`asyncsdk._engine`) reads
only that. A setting that cannot work raises `ConfigurationError` before any request,
with what to pass.

Imports: aiohttp (its timeout type), yarl, the standard library, and the package's
`_protocol`, `config`, `errors`, `ratelimit`, `retry` and `telemetry` (its check, which
imports no opentelemetry).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import platform
from importlib.metadata import PackageNotFoundError, version
from typing import Final

import aiohttp
from yarl import URL

from . import _protocol
from .config import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_MEDIA_TRANSFERS,
    DEFAULT_MEDIA_READ_TIMEOUT,
    RateLimit,
    RetryPolicy,
    Timeout,
)
from .errors import ConfigurationError
from .ratelimit import RateLimiter, TokenBucketLimiter
from .telemetry import check_telemetry

__all__ = [
    "ENV_ACCESS_KEY",
    "ENV_BASE_URL",
    "Settings",
    "check_limiter",
    "check_telemetry",
    "resolve_settings",
]

#: Environment variables read when the matching argument is not given.
ENV_ACCESS_KEY: Final = "BIRD_ACCESS_KEY"
ENV_BASE_URL: Final = "BIRD_BASE_URL"


@dataclasses.dataclass(frozen=True, slots=True, repr=False)
class Settings:
    """What the engine needs, resolved: never shown whole (it holds the credential)."""

    scheme: str
    base_url: str
    base: URL
    base_path: str
    timeout: Timeout
    client_timeout: aiohttp.ClientTimeout
    retry_policy: RetryPolicy
    rate_limit: RateLimit
    max_connections: int
    max_response_bytes: int
    max_page_bytes: int
    headers: dict[str, str]
    max_media_transfers: int = DEFAULT_MAX_MEDIA_TRANSFERS

    def __repr__(self) -> str:
        return f"<Settings base_url={self.base_url!r} auth={self.scheme}>"

    def build_limiter(self) -> RateLimiter:
        """Make a local limiter from the rate-limit settings (one per workspace)."""
        return TokenBucketLimiter(
            self.rate_limit.rate,
            burst=self.rate_limit.burst,
            adaptive=self.rate_limit.adaptive,
            max_pause=self.retry_policy.max_retry_after,
        )

    @property
    def media_timeout(self) -> aiohttp.ClientTimeout:
        """Per object-store request: connect and read as set, no total (bodies are large)."""
        read = self.timeout.read
        return aiohttp.ClientTimeout(
            total=None,
            sock_connect=self.timeout.connect,
            sock_read=read if read is not None else DEFAULT_MEDIA_READ_TIMEOUT,
        )


def resolve_settings(
    *,
    access_key: str | None,
    bearer_token: str | None,
    base_url: str | None,
    timeout: float | Timeout | None,
    max_retries: int | None,
    rate_limit: float | RateLimit | None,
    retry_policy: RetryPolicy | None,
    max_connections: int,
    max_response_bytes: int,
    max_page_bytes: int,
    allow_insecure_http: bool,
    max_media_transfers: int = DEFAULT_MAX_MEDIA_TRANSFERS,
) -> Settings:
    """Check and resolve `Client`'s arguments; see `Client` for each.

    Raises:
        ConfigurationError: A setting is invalid; the message says what to pass.
    """
    if access_key is None and bearer_token is None:
        access_key = os.environ.get(ENV_ACCESS_KEY)
    authorization = _protocol.authorization(access_key, bearer_token)
    root = _protocol.base_url(
        base_url if base_url is not None else os.environ.get(ENV_BASE_URL, DEFAULT_BASE_URL),
        allow_insecure_http=allow_insecure_http,
    )
    resolved_timeout = _resolve_timeout(timeout)
    policy = retry_policy if retry_policy is not None else RetryPolicy()
    if max_retries is not None:
        policy = dataclasses.replace(policy, max_retries=max_retries)
    for name, value in (
        ("max_connections", max_connections),
        ("max_response_bytes", max_response_bytes),
        ("max_page_bytes", max_page_bytes),
        ("max_media_transfers", max_media_transfers),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigurationError(f"{name} must be a positive int, got {value!r}")
    # Each request's URL is the base with its path replaced: cheaper than parsing the
    # whole URL again, and the same URL (the path holds only validated parts).
    base = URL(root, encoded=True)
    return Settings(
        scheme=authorization.partition(" ")[0],
        base_url=root,
        base=base,
        base_path=base.raw_path.rstrip("/"),
        timeout=resolved_timeout,
        client_timeout=aiohttp.ClientTimeout(
            total=resolved_timeout.total,
            sock_connect=resolved_timeout.connect,
            sock_read=resolved_timeout.read,
        ),
        retry_policy=policy,
        rate_limit=_resolve_rate_limit(rate_limit),
        max_connections=max_connections,
        max_response_bytes=max_response_bytes,
        max_page_bytes=max_page_bytes,
        headers={
            "Authorization": authorization,
            "Accept": "application/json",
            "User-Agent": _user_agent(),
        },
        max_media_transfers=max_media_transfers,
    )


def check_limiter(limiter: object, rate_limit: object) -> RateLimiter | None:
    """Return a caller's custom limiter, checked, or ``None`` when none was given.

    Raises:
        ConfigurationError: It is not a `RateLimiter`, or ``rate_limit`` was given too.
    """
    if limiter is None:
        return None
    if not isinstance(limiter, RateLimiter):
        raise ConfigurationError(
            "limiter must implement asyncsdk.RateLimiter "
            "(acquire, on_success, on_throttle, on_failure)"
        )
    if rate_limit is not None:
        raise ConfigurationError(
            "pass rate_limit or limiter, not both: a custom limiter sets its own rate"
        )
    return limiter


@functools.cache
def _user_agent() -> str:
    try:
        own = version("asyncsdk")
    except PackageNotFoundError:  # running from a source tree
        own = "0+unknown"
    return f"asyncsdk/{own} aiohttp/{aiohttp.__version__} python/{platform.python_version()}"


def _resolve_timeout(timeout: float | Timeout | None) -> Timeout:
    if timeout is None:
        return Timeout()
    if isinstance(timeout, Timeout):
        return timeout
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        return Timeout.from_seconds(float(timeout))
    raise ConfigurationError(f"timeout must be seconds or a Timeout, got {timeout!r}")


def _resolve_rate_limit(rate_limit: float | RateLimit | None) -> RateLimit:
    if rate_limit is None:
        return RateLimit()
    if isinstance(rate_limit, RateLimit):
        return rate_limit
    if isinstance(rate_limit, (int, float)) and not isinstance(rate_limit, bool):
        return RateLimit(rate=float(rate_limit))
    raise ConfigurationError(
        f"rate_limit must be requests per second, a RateLimit, or None, got {rate_limit!r}"
    )
