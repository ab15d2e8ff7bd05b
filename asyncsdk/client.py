"""`Client`: the facade users hold, one per application, shared by every task.

It reads in a minute because it only composes: its settings are resolved once
(`asyncsdk._settings`), its requests go through the engine (`asyncsdk._engine`:
session, auth, limiter, retries, deadline, one attempt), and its endpoints are
inherited from the resources (`asyncsdk.resources`), thin modules over the engine.
What is left here is the lifecycle users see and the settings and counters they read.

Imports: aiohttp (the session type), the standard library, and the package's
`_closing`, `_engine`, `_protocol`, `_settings`, `config`, `ratelimit`, `resources`, `stats` and
`telemetry` (its `Telemetry` type);
nothing imports this but the package root and the helpers built on the public client
API (bulk, sharded listings, webhooks).
"""

from __future__ import annotations

import uuid
from typing import Self

import aiohttp

from . import _protocol
from ._closing import Closing
from ._engine import Engine, State
from ._settings import (
    ENV_ACCESS_KEY,
    ENV_BASE_URL,
    check_limiter,
    check_telemetry,
    resolve_settings,
)
from .config import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_MEDIA_TRANSFERS,
    DEFAULT_MAX_PAGE_BYTES,
    DEFAULT_MAX_RESPONSE_BYTES,
    RateLimit,
    RetryPolicy,
    Timeout,
)
from .ratelimit import RateLimiter
from .ratelimit._workspaces import DEFAULT_MAX_WORKSPACES
from .resources import (
    CallsResource,
    MediaResource,
    RecordingsResource,
    TranscriptionsResource,
)
from .stats import ClientStats, WorkspaceStats
from .telemetry import Telemetry

__all__ = ["ENV_ACCESS_KEY", "ENV_BASE_URL", "Client"]


class Client(CallsResource, RecordingsResource, TranscriptionsResource, MediaResource, Closing):
    """Async client for Bird's Voice API; one per application, shared by every task.

    Use it as an async context manager, or create it at start-up and ``await
    client.aclose()`` at shutdown. Its connection pool opens on first use, inside the
    running event loop, and belongs to that loop.

    Example:
        ```python
        async with Client(access_key="...") as client:
            call = await client.get_call(workspace_id, channel_id, call_id)
            print(call.status, call.duration)
            async for recording in client.list_recordings(workspace_id, source_id=call.id):
                print(recording.id, recording.status)
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
        max_media_transfers: Object-store transfers (recordings, transcripts) the
            client runs at once. They are not paced by Bird's rate limiter (another
            host): the request to Bird's media endpoint before each is.
        max_workspaces: Workspaces whose limiters the client keeps (each workspace has
            its own, as Bird's quota is per workspace); beyond it the least recently
            used idle one is dropped, and starts afresh when called again.
        telemetry: A `Telemetry` to record OpenTelemetry spans and metrics through
            (an INTERNAL span per call, a CLIENT span per attempt, its waits); ``None``
            (the default) records nothing and imports nothing.

    Raises:
        ConfigurationError: A setting is invalid; the message says what to pass.
    """

    __slots__ = ("__weakref__", "_engine")

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
        max_media_transfers: int = DEFAULT_MAX_MEDIA_TRANSFERS,
        telemetry: Telemetry | None = None,
    ) -> None:
        settings = resolve_settings(
            access_key=access_key,
            bearer_token=bearer_token,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            rate_limit=rate_limit,
            retry_policy=retry_policy,
            max_connections=max_connections,
            max_response_bytes=max_response_bytes,
            max_page_bytes=max_page_bytes,
            allow_insecure_http=allow_insecure_http,
            max_media_transfers=max_media_transfers,
        )
        custom = check_limiter(limiter, rate_limit)
        self._engine = Engine(settings, custom, session, max_workspaces, check_telemetry(telemetry))
        super().__init__()

    # --- settings, read-only ---

    @property
    def base_url(self) -> str:
        """The API root requests go to, without a trailing slash."""
        return self._engine.settings.base_url

    @property
    def timeout(self) -> Timeout:
        """The resolved time limits."""
        return self._engine.settings.timeout

    @property
    def retry_policy(self) -> RetryPolicy:
        """The resolved retry settings."""
        return self._engine.settings.retry_policy

    @property
    def rate_limit(self) -> RateLimit:
        """The resolved rate-limit settings."""
        return self._engine.settings.rate_limit

    @property
    def limiter(self) -> RateLimiter:
        """The rate limiter passed as ``limiter=``; else the last workspace's.

        Each workspace has a limiter of its own (see `limiter_for`). Without a custom
        limiter this is the one of the workspace called most recently: with one
        workspace, always the same object, created with the client.
        """
        return self._engine.limiter

    def limiter_for(self, workspace_id: str | uuid.UUID) -> RateLimiter | None:
        """Return the limiter ``workspace_id``'s attempts wait on, if the client holds one.

        ``None`` before the workspace's first call (or after its limiter was evicted,
        see ``max_workspaces``). With a custom limiter that has no ``for_workspace``,
        that limiter, for every workspace.

        Raises:
            InvalidIDError: ``workspace_id`` is not a UUID.
        """
        return self._engine.limiter_for(_protocol.canonical_id("workspace_id", workspace_id))

    def workspace_stats(self, workspace_id: str | uuid.UUID) -> WorkspaceStats | None:
        """Return one workspace's counters, or ``None`` if the client holds no limiter for it.

        Per workspace on request only: `stats` holds no workspace IDs, so that a report
        of it stays small whatever the number of workspaces.

        Raises:
            InvalidIDError: ``workspace_id`` is not a UUID.
        """
        return self._engine.workspace_stats(_protocol.canonical_id("workspace_id", workspace_id))

    @property
    def stats(self) -> ClientStats:
        """A snapshot of this client's counters (calls, attempts, retries, throttling)."""
        return self._engine.stats()

    @property
    def closed(self) -> bool:
        """Whether `aclose` has been called."""
        return self._engine.state is State.CLOSED

    def __repr__(self) -> str:
        # The credential is never shown; only which scheme is in use.
        engine = self._engine
        return (
            f"<asyncsdk.Client base_url={engine.settings.base_url!r} "
            f"auth={engine.settings.scheme} state={engine.state.value}>"
        )

    # --- lifecycle ---

    async def __aenter__(self) -> Self:  # its exit is Closing's: it awaits aclose
        self._engine.open()
        return self

    async def aclose(self) -> None:
        """Close the client and, if the client created it, its connection pool.

        Idempotent. A session passed in by the caller is left open. In-flight calls
        finish or fail; new calls raise `ClientClosedError`.
        """
        await self._engine.aclose()

    def __del__(self) -> None:
        engine = getattr(self, "_engine", None)
        if engine is not None:
            engine.warn_unclosed(self)
