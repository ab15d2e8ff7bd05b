"""The embedded server's request handling: auth, scripts, rate limit, faults, lookup.

The list endpoints (`asyncsdk.server._listing`) go through the same decision; only
the answer of step 7 differs.

`BirdApi` holds one server's state (token bucket, fault RNG, scripts, counters) and
builds the aiohttp application. Each request is decided synchronously on arrival, in
this order, so a seed and a request sequence always give the same answers:

1. method (405 unless GET), 2. credentials (401), 3. a queued script for the call id
(bypasses everything below), 4. an outage window (503), 5. rate limit (429; the
account's `Quota`: a bucket whose rate may follow a schedule, shared with a simulated
neighbour; a workspace of ``ServerConfig.workspace_quotas`` has a `Quota` of its own,
as Bird's quota is per workspace), 6. injected faults (`_faults`), 7. path ids (422), 8. workspace,
channel and call (404), else 200 with the call.

Then the reply waits its delay plus the configured latency, and is sent. With a rate
limit, every answer past step 4 carries ``X-RateLimit-Limit``, ``-Remaining`` and
``-Reset`` and, unless ``ServerConfig.policy_header`` is off, ``RateLimit-Policy``
(the rate in force). Times of the schedule and the outage count from the first
request the server receives.

Imports: aiohttp, `asyncsdk.models` (through the dataset) and the standard library.
"""

from __future__ import annotations

import asyncio
import functools
import random
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus

from aiohttp import web

from asyncsdk.server._config import ScriptedResponse, ServerConfig
from asyncsdk.server._dataset import Dataset
from asyncsdk.server._faults import FaultInjector
from asyncsdk.server._limiter import Quota, policy_header, workspace_key
from asyncsdk.server._listing import CALL_LOG_ROUTE, CHANNEL_CALLS_ROUTE, Listing
from asyncsdk.server._recordings import script_id
from asyncsdk.server._replies import (
    JSON_TYPE,
    Reply,
    error_body,
    error_reply,
    path_id_refusal,
    send,
)
from asyncsdk.server._stats import RecordedRequest, ServerStats

__all__ = ["CALL_ROUTE", "BirdApi", "policy_header", "script_key"]

#: The one route the server implements ("Get a call").
CALL_ROUTE = "/workspaces/{workspaceId}/channels/{channelId}/calls/{callId}"
_PATH_IDS = ("workspaceId", "channelId", "callId")
#: Bits of a request id that hold the request counter.
_COUNTER_BITS = 48
#: Builds the success answer of a list endpoint.
_Answer = Callable[[], Reply]


def script_key(call_id: uuid.UUID | str) -> str:
    """Return the key scripts are filed under: the canonical UUID text, else as given."""
    if isinstance(call_id, uuid.UUID):
        return str(call_id)
    try:
        return str(uuid.UUID(call_id))
    except ValueError:
        return call_id


class BirdApi:
    """One embedded server's state and handlers.

    Args:
        config: How to behave.
        dataset: The calls to serve.
        stats: Counters to update.
        requests: List to append a `RecordedRequest` to, per request (if the config
            records requests).
    """

    def __init__(
        self,
        config: ServerConfig,
        dataset: Dataset,
        stats: ServerStats,
        requests: list[RecordedRequest],
    ) -> None:
        self._config = config
        self._dataset = dataset
        self._stats = stats
        self._requests = requests
        self._scripts: dict[str, deque[ScriptedResponse]] = {}
        self._quota: Quota | None = None
        self._workspace_quotas: dict[str, Quota | None] = dict.fromkeys(
            ws for ws, _, _ in config.workspace_quotas
        )  # created on the first request, as the shared one
        self._aliases = frozenset(config.workspace_aliases)
        self._started: float | None = None  # clock value of the first request
        self._faults = FaultInjector(config.faults, config.seed, stats)
        self._jitter_rng = random.Random(f"asyncsdk.server.jitter:{config.seed}")
        prefix_rng = random.Random(f"asyncsdk.server.request-ids:{config.seed}")
        self._request_id_prefix = prefix_rng.getrandbits(128) & ~((1 << _COUNTER_BITS) - 1)
        self._request_count = 0
        self._policies: dict[float, str] = {}  # rate -> its RateLimit-Policy value
        self._listing = Listing(config, dataset)
        self._routes: list[tuple[str, Callable[[web.Request], Reply]]] = []

    def add_routes(self, routes: Sequence[tuple[str, Callable[[web.Request], Reply]]]) -> None:
        """Serve more routes (before `make_app`), each answered by its function.

        The function gives step 8's answer; steps 1-7 (method, credentials, rate limit,
        faults) are the same as for *Get a call*.
        """
        self._routes.extend(routes)

    def known_workspace(self, workspace: uuid.UUID) -> bool:
        """Whether ``workspace`` is served: the dataset's, one with a quota, or an alias."""
        text = str(workspace)
        return (
            workspace == self._dataset.workspace_id
            or text in self._workspace_quotas
            or text in self._aliases
        )

    def make_app(self) -> web.Application:
        """Return the aiohttp application serving this API."""
        app = web.Application()
        app.router.add_route("*", CALL_ROUTE, self._handle_call)
        lists: list[tuple[str, Callable[[web.Request], Reply]]] = [
            (CHANNEL_CALLS_ROUTE, functools.partial(self._answer_list, log=False)),
            (CALL_LOG_ROUTE, functools.partial(self._answer_list, log=True)),
        ]
        for route, answer in lists + self._routes:
            app.router.add_route("*", route, functools.partial(self._handle_answer, answer=answer))
        app.router.add_route("*", "/{tail:.*}", self._handle_other)
        return app

    def script(self, call_id: uuid.UUID | str, responses: tuple[ScriptedResponse, ...]) -> None:
        """Queue ``responses`` (first in, first out) for requests for ``call_id``."""
        self._scripts.setdefault(script_key(call_id), deque()).extend(responses)

    # --- handlers ---------------------------------------------------------------------

    async def _handle_call(self, request: web.Request) -> web.StreamResponse:
        now = asyncio.get_running_loop().time()
        call_id = request.match_info["callId"]
        request_id = self._arrive(request, now, call_id)
        return await self._answer(request, self._decide(request, now, call_id), request_id)

    def _answer_list(self, request: web.Request, *, log: bool) -> Reply:
        return self._listing.answer(request.match_info, request.query, log=log)

    async def _handle_answer(
        self, request: web.Request, *, answer: Callable[[web.Request], Reply]
    ) -> web.StreamResponse:
        now = asyncio.get_running_loop().time()
        request_id = self._arrive(request, now, "")
        item = script_id(request.match_info)  # a recording's, as a call's id
        decided = self._decide(request, now, item, functools.partial(answer, request))
        return await self._answer(request, decided, request_id)

    async def _handle_other(self, request: web.Request) -> web.StreamResponse:
        now = asyncio.get_running_loop().time()
        request_id = self._arrive(request, now, "")
        reply = error_reply(404, f"no route for {request.method} {request.path}")
        self._count(reply, now)
        return await self._answer(request, reply, request_id)

    def _arrive(self, request: web.Request, now: float, call_id: str) -> str:
        """Count and record one request; return its request id."""
        if self._started is None:
            self._started = now
        self._stats.requests += 1
        self._request_count += 1
        if self._config.record_requests:
            headers = dict(request.headers)
            self._requests.append(
                RecordedRequest(
                    now, request.method, request.path, headers, call_id, request.query_string
                )
            )
        return str(uuid.UUID(int=self._request_id_prefix | self._request_count, version=4))

    async def _answer(
        self, request: web.Request, reply: Reply, request_id: str
    ) -> web.StreamResponse:
        delay = reply.delay + self._config.latency
        if self._config.latency_jitter > 0:
            delay += self._jitter_rng.uniform(0.0, self._config.latency_jitter)
        if delay > 0:
            await asyncio.sleep(delay)
        return await send(request, reply, request_id)

    # --- decisions (synchronous: made in arrival order) -------------------------------

    def _decide(
        self, request: web.Request, now: float, call_id: str, answer: _Answer | None = None
    ) -> Reply:
        reply = self._decide_uncounted(request, now, call_id, answer)
        workspace = request.match_info.get("workspaceId", "")
        self._count(reply, now, workspace_key(workspace, self._workspace_quotas))
        return reply

    def _decide_uncounted(
        self, request: web.Request, now: float, call_id: str, answer: _Answer | None = None
    ) -> Reply:
        """Decide steps 1-8; ``answer`` gives a list endpoint's step 8 (else the lookup)."""
        if request.method != "GET":
            reply = error_reply(405, f"method {request.method} is not allowed; use GET")
            reply.headers["Allow"] = "GET"
            return reply
        refusal = self._authenticate(request.headers.get("Authorization"))
        if refusal is not None:
            return refusal
        queue = self._scripts.get(script_key(call_id))
        if queue:
            self._stats.scripted += 1
            return self._scripted(queue.popleft(), request.match_info, answer)
        config = self._config
        started = now if self._started is None else self._started
        outage = config.outage
        if outage is not None and outage[0] <= now - started < outage[0] + outage[1]:
            reply = error_reply(503, "service unavailable, try again later")
            if config.faults.retry_after_503 is not None:
                reply.headers["Retry-After"] = str(config.faults.retry_after_503)
            reply.fault = "outage"
            return reply
        limit_headers: dict[str, str] = {}
        quota = self._quota_for(request.match_info.get("workspaceId", ""), started)
        if quota is not None:
            admission = quota.acquire(now)
            rate = quota.rate
            if config.limit_headers:
                limit_headers = {
                    "X-RateLimit-Limit": f"{rate:g}",
                    "X-RateLimit-Remaining": str(admission.remaining),
                    "X-RateLimit-Reset": f"{admission.reset:.3f}",
                }
            if config.policy_header:
                policy = self._policies.get(rate)
                if policy is None:
                    policy = self._policies[rate] = policy_header(rate)
                limit_headers["RateLimit-Policy"] = policy
            if not admission.allowed:
                self._stats.throttled += 1
                reply = error_reply(429, "rate limit exceeded")
                reply.headers.update(limit_headers)
                reply.headers["Retry-After"] = str(admission.retry_after)
                return reply
        if answer is None:
            answer = functools.partial(self._lookup, request.match_info)
        reply = self._faults.apply(self._faults.draw(), answer)
        reply.headers.update(limit_headers)
        return reply

    def _quota_for(self, workspace: str, started: float) -> Quota | None:
        """Return the quota ``workspace`` draws on (its own, or the shared one), if any."""
        config = self._config
        own = workspace_key(workspace, self._workspace_quotas)
        if own is not None:
            quota = self._workspace_quotas[own]
            if quota is None:
                _, rate, burst = next(q for q in config.workspace_quotas if q[0] == own)
                quota = self._workspace_quotas[own] = Quota(rate, burst, started)
            return quota
        if config.rate_limit is None:
            return None
        if self._quota is None:
            self._quota = Quota(
                config.rate_limit,
                config.burst,
                started,
                schedule=config.rate_schedule,
                neighbour_rate=config.neighbour_rate,
            )
        return self._quota

    def _authenticate(self, authorization: str | None) -> Reply | None:
        """Return a 401 reply unless ``authorization`` holds an accepted credential."""
        if not authorization:
            reply = error_reply(401, "missing Authorization header")
        else:
            scheme, _, credential = authorization.partition(" ")
            scheme = scheme.lower()
            if (scheme == "accesskey" and credential in self._config.access_keys) or (
                scheme == "bearer" and credential in self._config.bearer_tokens
            ):
                return None
            reply = error_reply(401, "invalid or unknown credentials")
        reply.headers["WWW-Authenticate"] = "AccessKey, Bearer"
        return reply

    def _lookup(self, ids: Mapping[str, str]) -> Reply:
        """Answer from the dataset: 422 for a malformed id, 404 for an unknown one."""
        refusal = path_id_refusal(ids, _PATH_IDS)
        if refusal is not None:
            return refusal
        if not self.known_workspace(uuid.UUID(ids["workspaceId"])):
            return error_reply(404, "workspace not found")
        if uuid.UUID(ids["channelId"]) != self._dataset.channel_id:
            return error_reply(404, "channel not found")
        body = self._dataset.body(uuid.UUID(ids["callId"]))
        if body is None:
            return error_reply(404, "call not found")
        return Reply(200, body)

    def _scripted(
        self, script: ScriptedResponse, ids: Mapping[str, str], answer: _Answer | None
    ) -> Reply:
        if script.body is not None:
            reply = Reply(script.status, script.body)
        elif script.status == HTTPStatus.OK:
            reply = self._lookup(ids) if answer is None else answer()
        else:
            reply = Reply(script.status, error_body(script.status, _phrase(script.status)))
        reply.headers = {"Content-Type": JSON_TYPE, **script.headers}
        reply.delay = script.delay
        if script.action == "slow":
            reply.delay += self._config.faults.slow_seconds
        elif script.action != "respond":
            reply.action = script.action
        return reply

    def _count(self, reply: Reply, now: float, workspace: str | None = None) -> None:
        stats = self._stats
        started = now if self._started is None else self._started
        stats.record(now - started, None if reply.action == "reset" else reply.status, workspace)
        if reply.action != "reset":
            stats.by_status[reply.status] = stats.by_status.get(reply.status, 0) + 1
        if reply.fault is not None:
            stats.faults[reply.fault] = stats.faults.get(reply.fault, 0) + 1
        if reply.status == HTTPStatus.OK and reply.action == "respond":
            stats.admitted_times.append(now)


def _phrase(status: int) -> str:
    """Return a message for ``status``: its reason phrase in lower case."""
    try:
        return HTTPStatus(status).phrase.lower()
    except ValueError:
        return f"scripted status {status}"
