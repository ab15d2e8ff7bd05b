"""The request engine: session, auth, limiter, retries, deadline and one attempt.

Every endpoint of every resource (`asyncsdk.resources`) sends its GETs through
`Engine.request`: it takes the URL, the decode function and the body cap, and returns
the decoded body or raises a typed error. Data flows one way through it: the attempt
waits on its workspace's rate limiter (`asyncsdk.ratelimit`), goes through the
transport (`asyncsdk._transport`) and comes back decoded or as a typed error
(`asyncsdk._protocol`); the retrier (`asyncsdk.retry`) decides whether to try again.
The engine owns the lifecycle (an explicit state: unopened, open, closed) and the
objects every task shares: the connection pool, the limiters, the retry budget and
the counters.

Which limiter an attempt waits on: its workspace's (`asyncsdk.ratelimit._workspaces`).
Bird's quota is per workspace, so each workspace a client calls gets a limiter of its
own, created on first use and bounded in number; a custom limiter is asked for a child
per workspace if it can give one (``for_workspace``), else shared by all.

Telemetry hooks in here and only here: with ``Client(telemetry=...)`` set,
``Engine.telemetry`` holds the client's hooks (`asyncsdk.telemetry._attempts.ClientHooks`):
each call gets a `CallTrace` (``None`` otherwise): its INTERNAL span (the operation,
named from the URL template) is the parent of its attempts' and waits' spans, its
attempts report to it around the limiter's wait and the wire request, and the retrier
reports its sleeps; with telemetry off, each of those points is one ``is None`` test.

A call with a deadline, or an attempt with a bounded limiter wait, takes the paths
of `asyncsdk._deadline`; the common path never enters it.

Imports: aiohttp, yarl, the standard library, and the package's `_deadline`, `_protocol`,
`_settings`, `_transport`, `errors`, `ratelimit`, `retry`, `stats` and `telemetry`
(its types; the ``_attempts`` hooks are built by `Telemetry`).
"""

from __future__ import annotations

import asyncio
import enum
import functools
import logging
import time
import warnings
from typing import TYPE_CHECKING, Final, Protocol, TypeVar

import aiohttp
from yarl import URL

from . import _protocol, _transport
from ._deadline import Queued, acquire_bounded, run_with_deadline
from ._settings import Settings
from .errors import (
    APIConnectionError,
    ClientClosedError,
    ConfigurationError,
    RequestError,
)
from .ratelimit import RateLimiter
from .ratelimit._workspaces import Lane, Lanes, lane_factory
from .retry import Retrier, RetryBudget
from .stats import ClientStats, Counters, WorkspaceStats

if TYPE_CHECKING:
    from .telemetry import Telemetry
    from .telemetry._attempts import CallTrace, ClientHooks

__all__ = ["Decode", "Engine", "State"]

logger: Final = logging.getLogger("asyncsdk")

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Decode(Protocol[T_co]):
    """Turn a 2xx body into a model, or raise `DecodeError` naming ``url``.

    A decode with a ``redirect(status, headers, *, url)`` method (the media endpoints',
    `asyncsdk.resources.media`) is handed their 3xx answer instead: it returns where
    the redirect points, or raises; no other endpoint's redirect is ever followed.
    """

    def __call__(self, body: bytes, *, url: object) -> T_co: ...


class State(enum.Enum):
    """Where an engine is in its life."""

    UNOPENED = "unopened"
    OPEN = "open"
    CLOSED = "closed"


class Engine:
    """One client's request path and everything its requests share.

    Args:
        settings: The resolved settings.
        limiter: A caller's custom limiter, or ``None`` for local token buckets.
        session: A caller's session (left open), or ``None`` for the engine's own.
        max_workspaces: Workspaces whose limiters are kept (an LRU of idle ones).
        telemetry: Where spans and metrics go, or ``None`` for none.
    """

    __slots__ = (
        "__weakref__",
        "_custom",
        "_lanes",
        "_limiter",
        "_owns_session",
        "_retrier",
        "_shared",
        "counters",
        "session",
        "settings",
        "state",
        "telemetry",
        "transfers",
    )

    def __init__(
        self,
        settings: Settings,
        limiter: RateLimiter | None,
        session: aiohttp.ClientSession | None,
        max_workspaces: int,
        telemetry: Telemetry | None = None,
    ) -> None:
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise ConfigurationError(
                f"session must be an aiohttp.ClientSession, got {type(session).__name__}"
            )
        self.settings = settings
        custom = limiter
        self._custom = custom is not None
        self._limiter: RateLimiter = limiter if limiter is not None else settings.build_limiter()
        own = self._limiter
        factory = lane_factory(custom, settings.build_limiter)
        # The workspaces' lanes; or, for a custom limiter without children, one lane all share.
        self._lanes = Lanes(
            factory or (lambda _ws: own),
            max_workspaces,
            first=own if custom is None else None,
        )
        self._shared: Lane | None = Lane("", own) if factory is None else None
        self.counters = Counters()
        policy = settings.retry_policy
        budget = RetryBudget(policy.budget)
        self.telemetry: ClientHooks | None = None
        if telemetry is not None:
            self.telemetry = telemetry._instruments.bind(
                settings.base_url,
                settings.base_path,
                lambda: self.limiter,
                lambda: budget.available,
            )
        self._retrier = Retrier(policy, budget, on_retry=self.counters.count_retry)
        self.session = session
        self._owns_session = session is None
        self.state = State.UNOPENED
        # Object-store transfers (asyncsdk._media): bounded by their own slots, not paced.
        self.transfers = asyncio.Semaphore(settings.max_media_transfers)

    # --- limiters and counters, as the client shows them ---

    @property
    def limiter(self) -> RateLimiter:
        """The custom limiter; else the limiter of the workspace called last."""
        last = self._lanes.last
        if self._custom or last is None:
            return self._limiter
        return last.limiter

    def limiter_for(self, workspace: str) -> RateLimiter | None:
        """Return the limiter a canonical workspace id waits on, if one is held."""
        if self._shared is not None:
            return self._shared.limiter
        lane = self._lanes.get(workspace)
        return None if lane is None else lane.limiter

    def workspace_stats(self, workspace: str) -> WorkspaceStats | None:
        """Return a canonical workspace id's counters, if a limiter is held for it."""
        lane = self._lanes.get(workspace) if self._shared is None else None
        if lane is None:
            return None
        return WorkspaceStats(
            workspace_id=workspace,
            attempts=lane.attempts,
            throttled=lane.throttled,
            in_flight=lane.users,
            rate=getattr(lane.limiter, "rate", None),
        )

    def stats(self) -> ClientStats:
        """A snapshot of the counters."""
        return self.counters.snapshot(
            workspaces=len(self._lanes), workspaces_evicted=self._lanes.evicted
        )

    # --- lifecycle ---

    def open(self) -> aiohttp.ClientSession:
        """Move to OPEN, creating the owned session; must run inside the event loop."""
        if self.state is State.CLOSED:
            raise ClientClosedError("this Client is closed; create a new one")
        if self.session is None:
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self.settings.max_connections, ttl_dns_cache=300
                ),
                cookie_jar=aiohttp.DummyCookieJar(),  # the API sets no cookies worth keeping
                timeout=self.settings.client_timeout,
            )
            # aiohttp silently resends an idempotent request once when a pooled
            # connection turns out closed. The SDK's retrier decides, counts, budgets
            # and logs every attempt, so that hidden extra attempt is switched off on
            # the session the engine owns (a caller's session is left as it is).
            if hasattr(session, "_retry_connection"):
                session._retry_connection = False
            self.session = session
        elif self.session.closed:
            raise ClientClosedError("the aiohttp session passed to Client is closed")
        self.state = State.OPEN
        return self.session

    async def aclose(self) -> None:
        """Close; and close the session if the engine created it. Idempotent."""
        if self.state is State.CLOSED:
            return
        self.state = State.CLOSED
        session, self.session = self.session, None
        if self._owns_session and session is not None:
            await session.close()

    def warn_unclosed(self, owner: object) -> None:
        """Warn (`ResourceWarning`) when an owned session is left open by ``owner``."""
        session = self.session
        if self._owns_session and session is not None and not session.closed:
            warnings.warn(
                f"Unclosed {owner!r}: use 'async with Client(...)' or 'await client.aclose()'",
                ResourceWarning,
                source=owner,
                stacklevel=2,
            )

    # --- the request path, one for every endpoint ---

    def url(self, path: str, query_string: str = "") -> URL:
        """Return the URL of ``path`` (already validated and encoded) under the API root."""
        base = self.settings.base
        if not query_string:
            return base.with_path(self.settings.base_path + path, encoded=True)
        return URL.build(
            scheme=base.scheme,
            authority=base.raw_authority,
            path=self.settings.base_path + path,
            query_string=query_string,
            encoded=True,
        )

    async def request(self, url: URL, decode: Decode[T], max_bytes: int, workspace: str) -> T:
        """Make one API call: every attempt, retry and count, decoded by ``decode``.

        ``workspace`` (its canonical id) chooses the limiter its attempts wait on.
        """
        session = self.session if self.state is State.OPEN else self.open()
        assert session is not None
        counters = self.counters
        counters.calls += 1
        lane = self._shared or self._lanes.checkout(workspace)
        deadline = self.settings.timeout.deadline
        trace = None if self.telemetry is None else self.telemetry.call(url)
        try:
            if deadline is not None:
                result = await run_with_deadline(
                    functools.partial(
                        self._attempt, session, url, decode, max_bytes, lane, trace=trace
                    ),
                    self._retrier,
                    counters,
                    url,
                    deadline,
                    None if trace is None else trace.retry_wait,
                )
            else:
                # The first attempt is made here, not through the retrier, so that a
                # success pays for no extra layer; only a failure goes to the retrier.
                try:
                    result = await self._attempt(
                        session, url, decode, max_bytes, lane, None, None, trace
                    )
                except RequestError as exc:
                    result = await self._retrier.after_failure(
                        functools.partial(
                            self._attempt, session, url, decode, max_bytes, lane, None, None, trace
                        ),
                        exc,
                        deadline=None,
                        on_wait=None if trace is None else trace.retry_wait,
                    )
                else:
                    self._retrier.budget.refill()
        except BaseException as exc:
            if isinstance(exc, RequestError):
                counters.failed += 1
            if trace is not None:
                trace.close(exc)
            raise
        finally:
            lane.users -= 1
        counters.succeeded += 1
        if trace is not None:
            trace.close(None, result)
        return result

    async def _attempt(
        self,
        session: aiohttp.ClientSession,
        url: URL,
        decode: Decode[T],
        max_bytes: int,
        lane: Lane,
        deadline: float | None = None,
        queued: Queued | None = None,
        trace: CallTrace | None = None,
    ) -> T:
        """Wait for the workspace's limiter, send one request, return its decoded body or raise.

        Every limiter grant is answered by exactly one of ``on_success``,
        ``on_throttle`` or ``on_failure``; with telemetry, every `CallTrace.begin` by
        one `CallTrace.end`.
        """
        if self.state is not State.OPEN:
            raise ClientClosedError("this Client was closed while the call was retrying")
        counters = self.counters
        limiter = lane.limiter
        if trace is not None:
            trace.before_wait(limiter)
        waited = time.perf_counter()
        try:
            if deadline is None and self.settings.timeout.limiter_wait is None:
                await limiter.acquire()
            else:
                await acquire_bounded(
                    lane, counters, url, self.settings.timeout.limiter_wait, deadline, queued
                )
        except BaseException as exc:
            if trace is not None:
                trace.after_wait(exc)
            raise
        started = time.perf_counter()
        counters.limiter_wait.record(started - waited)
        counters.attempts += 1
        lane.attempts += 1
        headers = self.settings.headers
        if trace is not None:
            trace.after_wait()
            headers = trace.begin(headers)
        try:
            resp = await _transport.get(
                session,
                url,
                headers=headers,
                client_timeout=self.settings.client_timeout,
                max_bytes=max_bytes,
            )
        except APIConnectionError as exc:  # reset, refused, cut off, timed out: the server's
            limiter.on_failure()
            if trace is not None:
                trace.end(None, None, exc)
            raise
        except BaseException as exc:  # cancelled, a body refused as too large: this client's
            limiter.on_failure(server=False)
            if trace is not None:
                trace.end(getattr(exc, "status", None), None, exc)
            raise
        if trace is not None:
            trace.end(resp.status, resp.headers)
        status = resp.status
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "GET %s -> %d in %.1f ms", url, status, (time.perf_counter() - started) * 1e3
            )
        if status == 429 or (status == 503 and "Retry-After" in resp.headers):
            error = _protocol.api_error(
                status, resp.headers, resp.body, url=str(url), reason=resp.reason
            )
            counters.throttled += 1
            lane.throttled += 1
            await limiter.on_throttle(error.retry_after, resp.headers)
            raise error
        if status >= 500:
            limiter.on_failure()
        else:
            limiter.on_success(resp.headers)
        follow = getattr(decode, "redirect", None)  # a media endpoint's decode takes its 3xx
        if follow is not None and 300 <= status < 400:
            return follow(status, resp.headers, url=url)  # type: ignore[no-any-return]
        if 200 <= status < 300:
            return decode(resp.body, url=url)
        raise _protocol.api_error(status, resp.headers, resp.body, url=str(url), reason=resp.reason)
