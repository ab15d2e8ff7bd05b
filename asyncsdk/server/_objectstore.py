"""`ObjectStore`: the in-process, S3-like host the media redirects point to.

It listens on a loopback port of its own (another origin than the Bird API) and serves
``GET`` and ``HEAD`` of ``/<key>`` for presigned URLs only (`asyncsdk.server._presign`):

1. a method other than GET or HEAD gets 405;
2. a request carrying ``Authorization`` gets 400 ``InvalidArgument`` ("only one auth
   mechanism allowed", as S3 answers a presigned URL sent with a header too), and is
   counted in `ObjectStoreStats.authorization_refused`;
3. a missing, altered or foreign signature gets 403 ``SignatureDoesNotMatch`` (or
   ``AccessDenied`` when unsigned); an expired URL gets 403 ``AccessDenied`` "Request
   has expired" (S3's XML bodies);
4. an unknown key gets 404 ``NoSuchKey``;
5. ``If-Match`` that does not name the ETag gets 412; ``If-None-Match`` that does, 304;
6. ``Range`` (one range) gets 206 with ``Content-Range`` unless an ``If-Range`` names
   another ETag (then 200 and the whole body); a range past the end gets 416;
7. the body is streamed in slices of a precomputed block (`asyncsdk.server._media`),
   with a strong ``ETag``, ``Content-Length``, ``Accept-Ranges: bytes``.

Every decision is made on arrival, in arrival order, from the server's seed, so a seed
and a request sequence give the same faults (`MediaFaults`, drawn by `_storefaults`):
cut mid-body, trickled, replaced mid-body. Then the answer waits
``RecordingsConfig.latency`` and is paced by ``RecordingsConfig.bandwidth`` (shared by
all answers). `fail_next` queues one fault
for the next answer (or presigned URL) of one key, for tests that need it exactly.

For tests: ``store.get(key)`` (size, ETag, version), ``store.sha256(key)``,
``store.content(key)``, ``store.replace(key, size=None)``, ``store.fail_next(key,
kind, after=N)``, ``store.advance_clock(seconds)`` (presigned URLs expire against this
clock), ``store.stats`` and ``store.requests``.

Imports: aiohttp, the server's own modules and the standard library.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass
from email.utils import format_datetime

from aiohttp import web

from asyncsdk.server._media import ObjectCatalog, Resolver, StoredObject
from asyncsdk.server._mediaconfig import RecordingsConfig
from asyncsdk.server._presign import (
    ByteRange,
    bandwidth_wait,
    check_presigned,
    etag_matches,
    hostile_range,
    parse_range,
    presign_query,
    s3_error,
)
from asyncsdk.server._sites import start_runner
from asyncsdk.server._stats import ObjectStoreStats, RecordedRequest
from asyncsdk.server._storefaults import StoreFault, StoreFaults

__all__ = ["STREAM_CHUNK", "ObjectStore", "StoreFault"]

#: Bytes per write of a body at full speed.
STREAM_CHUNK = 1 << 20
_XML = "application/xml"
#: Smallest write when a bandwidth cap paces the body, in bytes.
_PACED_CHUNK_MIN = 16 * 1024
#: Writes of a trickled body per second.
_TRICKLE_STEPS = 20
_LAST_MODIFIED = format_datetime(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), usegmt=True)


@dataclass(slots=True)
class _Plan:
    """What to answer one request with, decided on arrival."""

    status: int
    headers: dict[str, str]
    body: bytes = b""
    obj: StoredObject | None = None
    span: ByteRange | None = None
    cut: int | None = None  # body bytes sent before the connection is closed
    replace: bool = False
    trickle: bool = False


class ObjectStore:
    """An S3-like object store on a loopback port, serving presigned URLs only.

    Args:
        config: Latency, bandwidth, URL lifetime and faults.
        resolve: Returns what a key holds (`ObjectSource`), or ``None``.
        seed: Seed of the bodies, the signing secret and the faults.
        record_requests: Keep a `RecordedRequest` per request in `requests`.
    """

    def __init__(
        self,
        config: RecordingsConfig,
        resolve: Resolver,
        *,
        seed: int = 0,
        record_requests: bool = True,
    ) -> None:
        self._config = config
        self._catalog = ObjectCatalog(seed, resolve)
        self._secret = hashlib.sha256(f"asyncsdk.server.object-store:{seed}".encode()).digest()
        self._faults = StoreFaults(config.faults, seed)
        self._record = record_requests
        self._skew = dt.timedelta()
        self._next_free = 0.0  # loop time the bandwidth cap lets the next byte go
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self.stats = ObjectStoreStats()
        """Live counters (`ObjectStoreStats`); ``stats.reset()`` zeroes them."""
        self.requests: list[RecordedRequest] = []
        """Every request received, in arrival order (if recording requests)."""

    # --- for tests --------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://<host>:<port>`` of the running store.

        Raises:
            RuntimeError: The store is not running.
        """
        if self._base_url is None:
            raise RuntimeError("the object store is not running")
        return self._base_url

    def get(self, key: str) -> StoredObject | None:
        """Return the current version of ``key`` (size, ETag, type), or ``None``."""
        return self._catalog.get(key.lstrip("/"))

    def sha256(self, key: str) -> str:
        """Return the hex SHA-256 of ``key``'s current body (computed once, then cached).

        Raises:
            KeyError: There is no such object.
        """
        return self._catalog.sha256(self._existing(key))

    def content(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        """Return bytes ``start .. end - 1`` of ``key``'s current body (all by default).

        Raises:
            KeyError: There is no such object.
        """
        obj = self._existing(key)
        stop = obj.size if end is None else min(end, obj.size)
        return b"".join(self._catalog.chunks(obj, start, stop, STREAM_CHUNK))

    def replace(self, key: str, *, size: int | None = None) -> StoredObject:
        """Give ``key`` new bytes and a new ETag, and ``size`` bytes if given.

        Raises:
            KeyError: There is no such object.
        """
        return self._catalog.replace(key.lstrip("/"), size=size)

    def fail_next(self, key: str, kind: StoreFault, *, after: int | None = None) -> None:
        """Queue one fault for ``key``, before any drawn fault.

        ``"expired"`` applies to the next presigned URL made for ``key`` (the ``url`` of
        a listed recording or transcription counts: queue it after listing); the others to
        the next answer of ``key`` with a body: ``"reset"`` cuts it after ``after`` bytes
        (default: half the body), ``"replace"`` cuts it likewise and replaces the object,
        ``"trickle"`` sends it at the trickle rate. Two hostile answers apply to the
        next ranged request of ``key``: ``"ignore_range"`` answers 200 with the whole
        body (a server that ignores ``Range``), ``"wrong_range"`` a 206 of another range
        than the one asked (from half its start; from 0, one byte short), with its true
        ``Content-Range``.

        Raises:
            ValueError: ``kind`` is not a fault of the store, or ``after`` is negative.
        """
        self._faults.queue(key.lstrip("/"), kind, after)

    def advance_clock(self, seconds: float) -> None:
        """Move the store's clock (against which URLs expire) ``seconds`` ahead."""
        self._skew += dt.timedelta(seconds=seconds)

    def now(self) -> dt.datetime:
        """Return the store's current time (the wall clock plus `advance_clock`'s moves)."""
        return dt.datetime.now(dt.UTC) + self._skew

    def presign(self, key: str) -> str:
        """Return a presigned URL of ``key``, valid for ``RecordingsConfig.url_ttl`` seconds.

        The ``expired`` fault (drawn, or queued with `fail_next`) makes it expired already.
        """
        key = key.lstrip("/")
        path = "/" + key
        ttl = self._config.url_ttl
        signed_at = self.now()
        if self._faults.expired(key):
            signed_at -= dt.timedelta(seconds=ttl + 60)
            self.stats.expired_issued += 1
        self.stats.urls_issued += 1
        return f"{self.base_url}{path}?{presign_query(self._secret, path, signed_at, ttl)}"

    # --- lifecycle --------------------------------------------------------------------

    async def start(self, host: str, port: int, *, shutdown_timeout: float = 0.25) -> None:
        """Start listening on ``host``:``port`` (0: a free port).

        Args:
            host: Interface to listen on.
            port: Port to listen on; 0 picks a free one (read it from `base_url`).
            shutdown_timeout: Seconds `stop` lets answers in flight (a long download)
                finish before it cuts them.
        """
        app = web.Application()
        app.router.add_route("*", "/{key:.*}", self._handle)
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=shutdown_timeout
        )
        self._base_url = await start_runner(runner, host, port)
        self._runner = runner

    async def stop(self) -> None:
        """Stop listening and close every connection; does nothing if not running."""
        runner, self._runner = self._runner, None
        self._base_url = None
        if runner is not None:
            await runner.cleanup()

    # --- requests ---------------------------------------------------------------------

    def _existing(self, key: str) -> StoredObject:
        obj = self._catalog.get(key.lstrip("/"))
        if obj is None:
            raise KeyError(key)
        return obj

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.stats.requests += 1
        if self._record:
            now = asyncio.get_running_loop().time()
            self.requests.append(
                RecordedRequest(
                    now,
                    request.method,
                    request.path,
                    dict(request.headers),
                    "",
                    request.query_string,
                )
            )
        request_id = uuid.uuid4().hex[:16].upper()
        plan = self._decide(request, request_id)
        self.stats.by_status[plan.status] = self.stats.by_status.get(plan.status, 0) + 1
        if self._config.latency > 0:
            await asyncio.sleep(self._config.latency)
        plan.headers["x-amz-request-id"] = request_id
        if plan.obj is None:
            return web.Response(status=plan.status, body=plan.body, headers=plan.headers)
        return await self._stream(request, plan)

    def _decide(self, request: web.Request, request_id: str) -> _Plan:
        """Decide the answer (steps 1-6 of the module docstring) and draw its faults."""
        path = request.path

        def error(status: int, code: str, message: str, **extra: str) -> _Plan:
            body = s3_error(code, message, path, request_id, **extra)
            return _Plan(status, {"Content-Type": _XML}, body)

        if request.method not in ("GET", "HEAD"):
            plan = error(405, "MethodNotAllowed", "The specified method is not allowed")
            plan.headers["Allow"] = "GET, HEAD"
            return plan
        if "Authorization" in request.headers:
            self.stats.authorization_refused += 1
            return error(
                400,
                "InvalidArgument",
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                "Signature query string parameter or the Authorization header should be "
                "specified",
                ArgumentName="Authorization",
            )
        verdict = check_presigned(self._secret, path, request.query, self.now())
        if verdict == "invalid":
            self.stats.signature_refused += 1
            if "X-Amz-Signature" not in request.query:
                return error(403, "AccessDenied", "Access Denied")
            return error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        if verdict == "expired":
            self.stats.expired_refused += 1
            return error(
                403,
                "AccessDenied",
                "Request has expired",
                **{"X-Amz-Expires": request.query["X-Amz-Expires"]},
                ServerTime=self.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
        obj = self._catalog.get(path[1:])
        if obj is None:
            return error(404, "NoSuchKey", "The specified key does not exist.", Key=path[1:])
        headers = {
            "Content-Type": obj.content_type,
            "ETag": obj.etag,
            "Last-Modified": _LAST_MODIFIED,
            "Accept-Ranges": "bytes",
        }
        if_match = request.headers.get("If-Match")
        if if_match is not None and not etag_matches(if_match, obj.etag):
            return error(
                412,
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold",
                Condition="If-Match",
            )
        if_none = request.headers.get("If-None-Match")
        if if_none is not None and etag_matches(if_none, obj.etag):
            return _Plan(304, headers)
        span = parse_range(request.headers.get("Range"), obj.size)
        if_range = request.headers.get("If-Range")
        if span != "ignore" and if_range is not None and if_range.strip() != obj.etag:
            span = "ignore"  # the object changed (or a date): the whole body, 200
        if span == "unsatisfiable":
            plan = error(
                416,
                "InvalidRange",
                "The requested range is not satisfiable",
                RangeRequested=request.headers.get("Range", ""),
                ActualObjectSize=str(obj.size),
            )
            plan.headers["Content-Range"] = f"bytes */{obj.size}"
            return plan
        if isinstance(span, ByteRange):
            hostile = self._faults.hostile_range(obj.key)
            if hostile is not None:
                span = hostile_range(hostile, span)
        if span == "ignore":
            plan = _Plan(200, headers, obj=obj, span=ByteRange(0, obj.size))
        else:
            headers["Content-Range"] = span.content_range(obj.size)
            plan = _Plan(206, headers, obj=obj, span=span)
        if request.method == "GET":
            assert plan.span is not None
            length = plan.span.end - plan.span.start
            plan.cut, plan.replace, plan.trickle = self._faults.body(obj.key, length)
        return plan

    async def _stream(self, request: web.Request, plan: _Plan) -> web.StreamResponse:
        """Send the headers and the planned slice of the body, paced and cut as planned."""
        obj, span = plan.obj, plan.span
        assert obj is not None
        assert span is not None
        stats = self.stats
        stats.full_bodies += plan.status == 200
        stats.partial_bodies += plan.status == 206
        response = web.StreamResponse(status=plan.status, headers=plan.headers)
        response.content_length = span.end - span.start
        await response.prepare(request)
        if request.method == "HEAD":
            return response
        end = span.end if plan.cut is None else span.start + plan.cut
        chunk, rate = STREAM_CHUNK, None
        bandwidth = self._config.bandwidth
        if plan.trickle:
            stats.trickled += 1
            rate = self._config.faults.trickle_rate
            chunk = max(1, rate // _TRICKLE_STEPS)
        elif bandwidth is not None:
            chunk = min(chunk, max(_PACED_CHUNK_MIN, bandwidth // 50))
        loop = asyncio.get_running_loop()
        try:
            for piece in self._catalog.chunks(obj, span.start, end, chunk):
                if rate is not None:
                    await asyncio.sleep(len(piece) / rate)
                if bandwidth is not None:
                    wait, self._next_free = bandwidth_wait(
                        loop.time(), self._next_free, len(piece), bandwidth
                    )
                    if wait > 0:
                        await asyncio.sleep(wait)
                await response.write(piece)
                stats.bytes_sent += len(piece)
        except (ConnectionError, RuntimeError):
            stats.disconnects += 1
            return response
        if plan.cut is not None:
            stats.cut += 1
            if plan.replace:
                stats.replaced += 1
                self._catalog.replace(obj.key)
            transport = request.transport
            if transport is not None:
                transport.close()  # flushes what was written, then closes: a short body
        return response
