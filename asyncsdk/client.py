"""`Client`: the session manager behind ``get_call`` and the list endpoints.

Data flows one way: the caller's IDs are validated (`asyncsdk._protocol`); each
attempt waits on the rate limiter (`asyncsdk.ratelimit`), goes through the transport
(`asyncsdk._transport`) and comes back as a `Call` or a typed error
(`asyncsdk._protocol`); the retrier (`asyncsdk.retry`) decides whether to try again.
The client owns the lifecycle (an explicit state: unopened, open, closed), the
resolved frozen settings, and the objects every task shares: the connection pool,
the limiters, the retry budget and the counters.

Which limiter an attempt waits on: its workspace's (`asyncsdk.ratelimit._workspaces`). Bird's
quota is per workspace, so each workspace a client calls gets a limiter of its own,
created on first use and bounded in number; a custom limiter is asked for a child per
workspace if it can give one (``for_workspace``), else shared by all.

One request path serves every endpoint: `Client._request` takes the URL, the decode
function and the body cap. ``list_calls`` and ``list_call_log`` only check their
filters (`asyncsdk.listing._query`) and hand a `CallPager` (`asyncsdk.listing`) the client's
page fetcher; paging and prefetch live there.

Imports: aiohttp and every core module of the package; nothing imports this but the
package root and the bulk and sharding helpers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import functools
import logging
import os
import platform
import time
import uuid
import warnings
from importlib.metadata import PackageNotFoundError, version
from types import TracebackType
from typing import Final, Protocol, Self, TypeVar

import aiohttp
from yarl import URL

from . import _protocol, _transport
from .config import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_PAGE_BYTES,
    DEFAULT_MAX_RESPONSE_BYTES,
    RateLimit,
    RetryPolicy,
    Timeout,
)
from .errors import (
    APIConnectionError,
    APITimeoutError,
    ClientClosedError,
    ConfigurationError,
    LimiterTimeoutError,
    RequestError,
)
from .listing import ListQuery
from .listing._pager import _ListEndpoints
from .models import Call, CallPage
from .ratelimit import RateLimiter, TokenBucketLimiter
from .ratelimit._workspaces import DEFAULT_MAX_WORKSPACES, Lane, Lanes, lane_factory, workspace_of
from .retry import Retrier, RetryBudget
from .stats import ClientStats, Counters, WorkspaceStats

__all__ = ["Client"]

logger: Final = logging.getLogger("asyncsdk")

#: Environment variables read when the matching argument is not given.
ENV_ACCESS_KEY: Final = "BIRD_ACCESS_KEY"
ENV_BASE_URL: Final = "BIRD_BASE_URL"

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class _Decode(Protocol[T_co]):
    def __call__(self, body: bytes, *, url: object) -> T_co: ...


@functools.cache
def _user_agent() -> str:
    try:
        own = version("asyncsdk")
    except PackageNotFoundError:  # running from a source tree
        own = "0+unknown"
    return f"asyncsdk/{own} aiohttp/{aiohttp.__version__} python/{platform.python_version()}"


#: Matches no caller's IDs (a fresh object is identical to nothing), so the first call
#: always validates.
_NO_PREFIX: Final[tuple[object, object, str, str]] = (object(), object(), "", "")


class _State(enum.Enum):
    UNOPENED = "unopened"
    OPEN = "open"
    CLOSED = "closed"


class Client(_ListEndpoints):
    """Async client for Bird's Voice API; one per application, shared by every task.

    Use it as an async context manager, or create it at start-up and ``await
    client.aclose()`` at shutdown. Its connection pool opens on first use, inside the
    running event loop, and belongs to that loop.

    Example:
        ```python
        async with Client(access_key="...") as client:
            call = await client.get_call(workspace_id, channel_id, call_id)
            print(call.status, call.duration)
        ```

    Args:
        access_key: Bird access key, sent as ``Authorization: AccessKey <key>``.
            Defaults to the ``BIRD_ACCESS_KEY`` environment variable.
        bearer_token: A JWT, sent as ``Authorization: Bearer <token>``, instead of
            an access key.
        base_url: The API root. Defaults to ``BIRD_BASE_URL`` or
            ``https://api.bird.com``. Must be ``https`` unless the host is loopback
            or ``allow_insecure_http`` is set.
        timeout: Seconds for each attempt (connect, read and total alike), or a
            `Timeout` for each phase and the per-call deadline.
        max_retries: Retries after the first attempt; 0 disables retrying.
        rate_limit: Requests per second this client may send, a `RateLimit` for the
            burst and adaptive settings, or ``None`` to adapt to the server's throttling.
        retry_policy: Backoff and retry-budget settings; ``max_retries`` overrides its
            field of the same name when both are given.
        session: An `aiohttp.ClientSession` to send through instead of the client's
            own. The caller keeps ownership: the client never closes it.
        max_connections: Size of the client's own connection pool (ignored with
            ``session``).
        max_response_bytes: Largest response body accepted from *Get a call*; larger
            ones raise `ResponseTooLargeError` unread.
        max_page_bytes: Largest page of a list endpoint accepted, in bytes (up to
            1,000 calls a page); larger ones raise `ResponseTooLargeError` unread.
        allow_insecure_http: Permit ``http://`` to a non-loopback host.
        limiter: A `RateLimiter` to use instead of the local token buckets built from
            ``rate_limit`` (for example one shared by a fleet of workers). If it has
            ``for_workspace`` (`PerWorkspaceLimiter`, as `RedisRateLimiter` does), each
            workspace waits on the child it returns; otherwise every workspace shares it.
        max_workspaces: Workspaces whose limiters the client keeps (each workspace has
            its own, as Bird's quota is per workspace); beyond it the least recently
            used idle one is dropped, and starts afresh when called again.

    Raises:
        ConfigurationError: A setting is invalid; the message says what to pass.
    """

    __slots__ = (
        "__weakref__",
        "_base",
        "_base_path",
        "_base_url",
        "_client_timeout",
        "_counters",
        "_custom",
        "_headers",
        "_lanes",
        "_limiter",
        "_max_connections",
        "_max_page_bytes",
        "_max_response_bytes",
        "_owns_session",
        "_prefix",
        "_rate_limit",
        "_retrier",
        "_retry_policy",
        "_scheme",
        "_session",
        "_shared",
        "_state",
        "_timeout",
    )

    def __init__(
        self,
        *,
        access_key: str | None = None,
        bearer_token: str | None = None,
        base_url: str | None = None,
        timeout: float | Timeout | None = None,
        max_retries: int | None = None,
        rate_limit: float | RateLimit | None = None,
        retry_policy: RetryPolicy | None = None,
        session: aiohttp.ClientSession | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_page_bytes: int = DEFAULT_MAX_PAGE_BYTES,
        allow_insecure_http: bool = False,
        limiter: RateLimiter | None = None,
        max_workspaces: int = DEFAULT_MAX_WORKSPACES,
    ) -> None:
        if access_key is None and bearer_token is None:
            access_key = os.environ.get(ENV_ACCESS_KEY)
        authorization = _protocol.authorization(access_key, bearer_token)
        self._scheme = authorization.partition(" ")[0]
        self._base_url = _protocol.base_url(
            base_url if base_url is not None else os.environ.get(ENV_BASE_URL, DEFAULT_BASE_URL),
            allow_insecure_http=allow_insecure_http,
        )
        # Each request's URL is the base with its path replaced: cheaper than parsing
        # the whole URL again, and the same URL (the path holds only validated parts).
        self._base = URL(self._base_url, encoded=True)
        self._base_path = self._base.raw_path.rstrip("/")
        self._timeout = _resolve_timeout(timeout)
        self._client_timeout = aiohttp.ClientTimeout(
            total=self._timeout.total,
            sock_connect=self._timeout.connect,
            sock_read=self._timeout.read,
        )
        policy = retry_policy if retry_policy is not None else RetryPolicy()
        if max_retries is not None:
            policy = dataclasses.replace(policy, max_retries=max_retries)
        self._retry_policy = policy
        self._rate_limit = _resolve_rate_limit(rate_limit)
        settings = self._rate_limit

        def build() -> RateLimiter:
            return TokenBucketLimiter(
                settings.rate,
                burst=settings.burst,
                adaptive=settings.adaptive,
                max_pause=policy.max_retry_after,
            )

        custom = limiter
        self._custom = custom is not None
        if limiter is None:
            limiter = build()
        elif not isinstance(limiter, RateLimiter):
            raise ConfigurationError(
                "limiter must implement asyncsdk.RateLimiter "
                "(acquire, on_success, on_throttle, on_failure)"
            )
        elif rate_limit is not None:
            raise ConfigurationError(
                "pass rate_limit or limiter, not both: a custom limiter sets its own rate"
            )
        self._limiter: RateLimiter = limiter
        factory = lane_factory(custom, build)
        # The workspaces' lanes; or, for a custom limiter without children, one lane all share.
        self._lanes = Lanes(
            factory or (lambda _ws: limiter),
            max_workspaces,
            first=limiter if custom is None else None,
        )
        self._shared: Lane | None = Lane("", limiter) if factory is None else None
        self._counters = Counters()
        self._retrier = Retrier(
            policy, RetryBudget(policy.budget), on_retry=self._counters.count_retry
        )
        for name, value in (
            ("max_connections", max_connections),
            ("max_response_bytes", max_response_bytes),
            ("max_page_bytes", max_page_bytes),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"{name} must be a positive int, got {value!r}")
        self._max_connections = max_connections
        self._max_response_bytes = max_response_bytes
        self._max_page_bytes = max_page_bytes
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise ConfigurationError(
                f"session must be an aiohttp.ClientSession, got {type(session).__name__}"
            )
        self._session = session
        self._owns_session = session is None
        self._state = _State.UNOPENED
        self._prefix: tuple[object, object, str, str] = _NO_PREFIX
        self._headers = {
            "Authorization": authorization,
            "Accept": "application/json",
            "User-Agent": _user_agent(),
        }

    # --- settings, read-only ---

    @property
    def base_url(self) -> str:
        """The API root requests go to, without a trailing slash."""
        return self._base_url

    @property
    def timeout(self) -> Timeout:
        """The resolved time limits."""
        return self._timeout

    @property
    def retry_policy(self) -> RetryPolicy:
        """The resolved retry settings."""
        return self._retry_policy

    @property
    def rate_limit(self) -> RateLimit:
        """The resolved rate-limit settings."""
        return self._rate_limit

    @property
    def limiter(self) -> RateLimiter:
        """The rate limiter passed as ``limiter=``; else the last workspace's.

        Each workspace has a limiter of its own (see `limiter_for`). Without a custom
        limiter this is the one of the workspace called most recently: with one
        workspace, always the same object, created with the client.
        """
        last = self._lanes.last
        if self._custom or last is None:
            return self._limiter
        return last.limiter

    def limiter_for(self, workspace_id: str | uuid.UUID) -> RateLimiter | None:
        """Return the limiter ``workspace_id``'s attempts wait on, if the client holds one.

        ``None`` before the workspace's first call (or after its limiter was evicted,
        see ``max_workspaces``). With a custom limiter that has no ``for_workspace``,
        that limiter, for every workspace.

        Raises:
            InvalidIDError: ``workspace_id`` is not a UUID.
        """
        workspace = _protocol.canonical_id("workspace_id", workspace_id)
        if self._shared is not None:
            return self._shared.limiter
        lane = self._lanes.get(workspace)
        return None if lane is None else lane.limiter

    def workspace_stats(self, workspace_id: str | uuid.UUID) -> WorkspaceStats | None:
        """Return one workspace's counters, or ``None`` if the client holds no limiter for it.

        Per workspace on request only: `stats` holds no workspace IDs, so that a report
        of it stays small whatever the number of workspaces.

        Raises:
            InvalidIDError: ``workspace_id`` is not a UUID.
        """
        workspace = _protocol.canonical_id("workspace_id", workspace_id)
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

    @property
    def stats(self) -> ClientStats:
        """A snapshot of this client's counters (calls, attempts, retries, throttling)."""
        return self._counters.snapshot(
            workspaces=len(self._lanes), workspaces_evicted=self._lanes.evicted
        )

    @property
    def closed(self) -> bool:
        """Whether `aclose` has been called."""
        return self._state is _State.CLOSED

    def __repr__(self) -> str:
        # The credential is never shown; only which scheme is in use.
        return (
            f"<asyncsdk.Client base_url={self._base_url!r} auth={self._scheme} "
            f"state={self._state.value}>"
        )

    # --- lifecycle ---

    async def __aenter__(self) -> Self:
        self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _open(self) -> aiohttp.ClientSession:
        """Move to OPEN, creating the owned session; must run inside the event loop."""
        if self._state is _State.CLOSED:
            raise ClientClosedError("this Client is closed; create a new one")
        if self._session is None:
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections, ttl_dns_cache=300),
                cookie_jar=aiohttp.DummyCookieJar(),  # the API sets no cookies worth keeping
                timeout=self._client_timeout,
            )
            # aiohttp silently resends an idempotent request once when a pooled
            # connection turns out closed. The SDK's retrier decides, counts, budgets
            # and logs every attempt, so that hidden extra attempt is switched off on
            # the session the client owns (a caller's session is left as it is).
            if hasattr(session, "_retry_connection"):
                session._retry_connection = False
            self._session = session
        elif self._session.closed:
            raise ClientClosedError("the aiohttp session passed to Client is closed")
        self._state = _State.OPEN
        return self._session

    async def aclose(self) -> None:
        """Close the client and, if the client created it, its connection pool.

        Idempotent. A session passed in by the caller is left open. In-flight calls
        finish or fail; new calls raise `ClientClosedError`.
        """
        if self._state is _State.CLOSED:
            return
        self._state = _State.CLOSED
        session, self._session = self._session, None
        if self._owns_session and session is not None:
            await session.close()

    def __del__(self) -> None:
        session = getattr(self, "_session", None)
        if getattr(self, "_owns_session", False) and session is not None and not session.closed:
            warnings.warn(
                f"Unclosed {self!r}: use 'async with Client(...)' or 'await client.aclose()'",
                ResourceWarning,
                source=self,
                stacklevel=1,
            )

    # --- the API ---

    async def get_call(
        self, workspace_id: str | uuid.UUID, channel_id: str | uuid.UUID, call_id: str | uuid.UUID
    ) -> Call:
        """Fetch one call.

        Args:
            workspace_id: The workspace's UUID, as `uuid.UUID` or string.
            channel_id: The voice channel's UUID.
            call_id: The call's UUID.

        Returns:
            The decoded call.

        Raises:
            InvalidIDError: An ID is not a UUID; nothing was sent.
            ClientClosedError: The client is closed.
            NotFoundError: No such call (404); `APIError` subclasses for other statuses.
            APIConnectionError: The connection failed; `APITimeoutError` if it timed out.
            ResponseTooLargeError: The body exceeded ``max_response_bytes``.
            DecodeError: The API answered 2xx with a body that is not a call.
        """
        # Bulk fetches repeat the same workspace and channel objects: their validated
        # prefix is kept, keyed by identity (str and UUID are immutable).
        prefix = self._prefix
        if workspace_id is not prefix[0] or channel_id is not prefix[1]:
            path = _protocol.calls_prefix(workspace_id, channel_id)
            prefix = self._prefix = (
                workspace_id,
                channel_id,
                self._base_path + path,
                workspace_of(path),
            )
        url = self._base.with_path(
            prefix[2] + _protocol.canonical_id("call_id", call_id), encoded=True
        )
        # The steps of `_request`, inlined: one coroutine frame less per call (~150 ns).
        session = self._session if self._state is _State.OPEN else self._open()
        assert session is not None
        counters = self._counters
        counters.calls += 1
        decode = _protocol.decode_call
        max_bytes = self._max_response_bytes
        lane = self._shared or self._lanes.checkout(prefix[3])
        try:
            if self._timeout.deadline is not None:
                call = await self._run_with_deadline(
                    session, url, self._timeout.deadline, decode, max_bytes, lane
                )
            else:
                # The first attempt is made here, not through the retrier, so that a
                # success pays for no extra layer; only a failure goes to the retrier.
                try:
                    call = await self._attempt(session, url, decode, max_bytes, lane)
                except RequestError as exc:
                    call = await self._retrier.after_failure(
                        functools.partial(self._attempt, session, url, decode, max_bytes, lane),
                        exc,
                        deadline=None,
                    )
                else:
                    self._retrier.budget.refill()
        except RequestError:
            counters.failed += 1
            raise
        finally:
            lane.users -= 1
        counters.succeeded += 1
        return call

    # --- the request path, one for every endpoint ---

    async def _fetch_page(self, query: ListQuery, page_token: str | None) -> CallPage:
        """Fetch one page of a list query (the fetcher every `CallPager` is given)."""
        base = self._base
        url = URL.build(
            scheme=base.scheme,
            authority=base.raw_authority,
            path=self._base_path + query.path,
            query_string=query.query_string(page_token),
            encoded=True,
        )
        return await self._request(
            url, _protocol.decode_page, self._max_page_bytes, workspace_of(query.path)
        )

    async def _request(self, url: URL, decode: _Decode[T], max_bytes: int, workspace: str) -> T:
        """Make one API call: every attempt, retry and count, decoded by ``decode``.

        ``workspace`` (its canonical id) chooses the limiter its attempts wait on.
        `get_call` inlines these same steps; a change here belongs there too.
        """
        session = self._session if self._state is _State.OPEN else self._open()
        assert session is not None
        counters = self._counters
        counters.calls += 1
        lane = self._shared or self._lanes.checkout(workspace)
        try:
            if self._timeout.deadline is not None:
                result = await self._run_with_deadline(
                    session, url, self._timeout.deadline, decode, max_bytes, lane
                )
            else:
                # The first attempt is made here, not through the retrier, so that a
                # success pays for no extra layer; only a failure goes to the retrier.
                try:
                    result = await self._attempt(session, url, decode, max_bytes, lane)
                except RequestError as exc:
                    result = await self._retrier.after_failure(
                        functools.partial(self._attempt, session, url, decode, max_bytes, lane),
                        exc,
                        deadline=None,
                    )
                else:
                    self._retrier.budget.refill()
        except RequestError:
            counters.failed += 1
            raise
        finally:
            lane.users -= 1
        counters.succeeded += 1
        return result

    async def _run_with_deadline(
        self,
        session: aiohttp.ClientSession,
        url: URL,
        seconds: float,
        decode: _Decode[T],
        max_bytes: int,
        lane: Lane,
    ) -> T:
        deadline = asyncio.get_running_loop().time() + seconds
        attempts = 0
        queued = _Queued()

        async def attempt() -> T:
            nonlocal attempts
            attempts += 1
            return await self._attempt(session, url, decode, max_bytes, lane, deadline, queued)

        try:
            async with asyncio.timeout_at(deadline):
                return await self._retrier.run(attempt, deadline=deadline)
        except TimeoutError as exc:
            if isinstance(exc, APITimeoutError | LimiterTimeoutError):
                raise
            if queued.since is not None:  # the deadline struck in the limiter's queue
                self._counters.limiter_timeouts += 1
                waited = asyncio.get_running_loop().time() - queued.since
                raise LimiterTimeoutError(
                    f"waited {waited:.3g}s for the client's rate limiter until the call's "
                    f"deadline of {seconds}s: not sent",
                    method=_protocol.METHOD,
                    url=str(url),
                    waited=waited,
                    attempts=attempts,
                ) from exc
            raise APITimeoutError(
                f"deadline of {seconds}s for the call exceeded",
                method=_protocol.METHOD,
                url=str(url),
                attempts=attempts,
            ) from exc

    async def _attempt(
        self,
        session: aiohttp.ClientSession,
        url: URL,
        decode: _Decode[T],
        max_bytes: int,
        lane: Lane,
        deadline: float | None = None,
        queued: _Queued | None = None,
    ) -> T:
        """Wait for the workspace's limiter, send one request, return its decoded body or raise.

        Every limiter grant is answered by exactly one of ``on_success``,
        ``on_throttle`` or ``on_failure``.
        """
        if self._state is not _State.OPEN:
            raise ClientClosedError("this Client was closed while the call was retrying")
        counters = self._counters
        limiter = lane.limiter
        waited = time.perf_counter()
        if deadline is None and self._timeout.limiter_wait is None:
            await limiter.acquire()
        else:
            await self._acquire_bounded(url, lane, deadline, queued)
        started = time.perf_counter()
        counters.limiter_wait.record(started - waited)
        counters.attempts += 1
        lane.attempts += 1
        try:
            resp = await _transport.get(
                session,
                url,
                headers=self._headers,
                client_timeout=self._client_timeout,
                max_bytes=max_bytes,
            )
        except APIConnectionError:  # reset, refused, cut off, timed out: the server's
            limiter.on_failure()
            raise
        except BaseException:  # cancelled, a body refused as too large: this client's
            limiter.on_failure(server=False)
            raise
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
        if 200 <= status < 300:
            return decode(resp.body, url=url)
        raise _protocol.api_error(status, resp.headers, resp.body, url=str(url), reason=resp.reason)

    async def _acquire_bounded(
        self, url: URL, lane: Lane, deadline: float | None, queued: _Queued | None = None
    ) -> None:
        """Acquire within ``Timeout.limiter_wait`` and the deadline, or shed the attempt.

        The bound applies to the workspace's own limiter: a busy workspace sheds its
        own calls, not another's.

        Raises:
            LimiterTimeoutError: The limiter expects a longer wait than allowed (raised
                at once), or the wait ran out.
        """
        loop = asyncio.get_running_loop()
        bound = self._timeout.limiter_wait
        if deadline is not None:
            left = deadline - loop.time()
            bound = left if bound is None else min(bound, left)
        assert bound is not None
        expected = lane.expected_wait() if lane.expected_wait is not None else 0.0
        if expected > bound:
            self._counters.limiter_timeouts += 1
            raise LimiterTimeoutError(
                f"the rate limiter expects a wait of {expected:.3g}s, more than the "
                f"{max(bound, 0.0):.3g}s allowed: refused at once, not sent",
                method=_protocol.METHOD,
                url=str(url),
                waited=0.0,
                expected=expected,
            )
        started = loop.time()
        if queued is not None:
            queued.since = started  # until granted: a deadline now is the queue's doing
        try:
            async with asyncio.timeout(bound):
                await lane.limiter.acquire()
            if queued is not None:
                queued.since = None
        except TimeoutError as exc:
            self._counters.limiter_timeouts += 1
            waited = loop.time() - started
            raise LimiterTimeoutError(
                f"waited {waited:.3g}s for the client's rate limiter, the most allowed: not sent",
                method=_protocol.METHOD,
                url=str(url),
                waited=waited,
            ) from exc


class _Queued:
    """Set while one call's attempt waits in the limiter's queue: when it began."""

    __slots__ = ("since",)

    def __init__(self) -> None:
        self.since: float | None = None


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
