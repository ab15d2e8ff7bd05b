"""`RedisStreamSink`: the receiver's hand-off to a Redis stream, deduplicated across replicas.

Several receiver replicas behind a load balancer append the events they accept to one
Redis stream; workers (`enrich_stream`) read it through a consumer group. Bird may
retry a delivery to another replica than the first, so the dedupe memory is in Redis
too, and it is written by the same Lua script that appends the entry:

1. if either key of the delivery (its ``messagebird-request-id`` and its signature,
   each hashed) is remembered, the script returns the entry already appended: a
   duplicate, acknowledged again and not appended;
2. if the stream holds ``maxlen`` entries or more, it refuses (`StreamFullError`, so
   the receiver answers 503 and Bird retries later). The stream is never trimmed by
   the append: ``XADD MAXLEN`` would drop entries no worker has read yet. Workers
   trim what every consumer group has acknowledged (`trim_acknowledged`);
3. else it appends the entry (``XADD``) and remembers both keys for ``ttl`` seconds,
   each naming the entry.

A script runs atomically: no other command runs between the check and the append, so
two replicas given the same delivery within a millisecond append it once, and no
crash can leave a delivery remembered but not appended (Redis applies and persists a
script's writes as one transaction). Redis does not roll back a script that fails
partway, but memory cannot make it fail there: Redis decides as a script starts
whether memory is past ``maxmemory``; if so it refuses the script's first write (the
``XADD``: nothing written, 503), and a script that started under the limit or has
written runs to its end (the ``SET`` of its keys goes through), so a delivery is
appended and remembered, or neither (tested on ``redis-server`` at limits stepped
from the memory in use up, a batch crossing the limit among them). The receiver
answers 2xx only after the script returned; any failure to reach Redis (refused,
reset, timed out, loading, read-only, out of memory) raises `StreamUnavailableError`,
which the receiver turns into 503 with ``Retry-After``. When the answer is lost after
the script ran (a timeout), the delivery is stored and remembered: Bird's retry is
then a duplicate, acknowledged.

An entry's fields (`ENTRY_VERSION` 1): ``v``, ``event`` (the `CallEvent` as JSON, its
request id and timestamp included) and, when given, ``traceparent`` (a W3C trace
context: a sink given ``telemetry`` stores the delivery span's, read with
`asyncsdk.Telemetry.delivery_traceparent`, and a worker whose client has telemetry
links its enrichment span to it, `link_entry`).

redis-py's `redis.asyncio.Redis` and its ``register_script`` (``EVALSHA``, reloaded
after ``NOSCRIPT``) are used as they are; the script (`asyncsdk.webhooks._append`) is
ours because no library offers a deduplicated append. Concurrent deliveries' appends
go out together, one script call per round trip for the whole batch, each delivery
checked and appended in turn (`asyncsdk.webhooks._batching`).

Imports: redis (when used), msgspec, the standard library, `asyncsdk.errors`,
`asyncsdk.telemetry` and the webhooks' `_append`, `_batching`, `_dedupe` (its default
ttl), `_errors`, `_events` and `_eviction` (a warning when Redis may evict).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import msgspec

from asyncsdk.errors import BirdError, ConfigurationError
from asyncsdk.telemetry import Telemetry, check_telemetry, hooks_of
from asyncsdk.webhooks._append import APPEND, append_merge
from asyncsdk.webhooks._batching import ScriptBatcher
from asyncsdk.webhooks._dedupe import DEFAULT_DEDUPE_TTL
from asyncsdk.webhooks._errors import InvalidEventError
from asyncsdk.webhooks._events import CallEvent, parse_event
from asyncsdk.webhooks._eviction import warn_if_evicting

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = [
    "DEFAULT_STREAM",
    "DEFAULT_STREAM_MAXLEN",
    "ENTRY_VERSION",
    "RedisStreamSink",
    "StreamError",
    "StreamFullError",
    "StreamSinkStats",
    "StreamUnavailableError",
    "check_seconds",
    "connect",
    "decode_entry",
    "link_entry",
    "redis_client_class",
    "redis_failures",
]

logger: Final = logging.getLogger("asyncsdk")

DEFAULT_STREAM: Final = "asyncsdk:call-events"
"""The Redis stream `RedisStreamSink` appends to and `enrich_stream` reads by default."""
DEFAULT_STREAM_MAXLEN: Final = 1_000_000
"""Entries the stream may hold (read or not, not yet trimmed) before appends get 503."""
ENTRY_VERSION: Final = "1"
"""The ``v`` field of the entries `RedisStreamSink` appends."""
#: Seconds a Redis command may take by default (connect, then each reply).
DEFAULT_REDIS_TIMEOUT: Final = 2.0


class StreamError(BirdError):
    """A Redis stream of call events could not be used.

    Attributes:
        stream: The stream's key.
    """

    def __init__(self, message: str, *, stream: str) -> None:
        super().__init__(message)
        self.stream = stream

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), str(self), self.stream))


def _rebuild(kind: type[StreamError], message: str, stream: str) -> StreamError:
    return kind(message, stream=stream)


class StreamUnavailableError(StreamError):
    """Redis did not take the command: unreachable, timed out, loading, read-only, OOM.

    The receiver answers 503 with ``Retry-After``: the event was not stored (or, when
    only the answer was lost, it was, and Bird's retry is acknowledged as a duplicate).
    """


class StreamFullError(StreamError):
    """The stream holds ``maxlen`` entries: the workers are behind; the receiver answers 503."""


def redis_client_class() -> type[aioredis.Redis]:
    """Return redis-py's `redis.asyncio.Redis`, imported on first use (an optional extra).

    Raises:
        ImportError: redis-py is not installed; says what to install.
    """
    try:
        import redis.asyncio
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("Redis Streams need redis-py: pip install 'asyncsdk[redis]'") from exc
    return redis.asyncio.Redis


def redis_failures() -> tuple[type[BaseException], ...]:
    """Return the exceptions that mean Redis did not (or may not have) done a command."""
    import redis.exceptions

    return (redis.exceptions.RedisError, OSError, TimeoutError)


def connect(redis_or_url: str | aioredis.Redis, *, timeout: float) -> aioredis.Redis:
    """Return ``redis_or_url`` itself, or a client for the URL with ``timeout`` seconds.

    Raises:
        ConfigurationError: Not a URL or a `redis.asyncio.Redis`, or a bad timeout.
    """
    redis_class = redis_client_class()
    if isinstance(redis_or_url, redis_class):
        return redis_or_url
    if not isinstance(redis_or_url, str) or "://" not in redis_or_url:
        raise ConfigurationError(
            "redis must be a redis.asyncio.Redis or a URL like 'redis://127.0.0.1:6379/0', "
            f"got {type(redis_or_url).__name__}"
        )
    timeout = check_seconds("timeout", timeout)
    client: aioredis.Redis = redis_class.from_url(
        redis_or_url, socket_timeout=timeout, socket_connect_timeout=timeout
    )
    return client


def dedupe_key(stream: str, kind: str, value: str) -> str:
    """Return the Redis key remembering one key of a delivery (hashed: bounded, no secrets).

    In the stream's hash slot (``{stream}``), so the script's keys share a Cluster node.
    """
    digest = hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()[:40]
    return f"{{{stream}}}:seen:{digest}"


_ENTRY_DECODER: Final = msgspec.json.Decoder(CallEvent)


def decode_entry(fields: Mapping[bytes, bytes]) -> CallEvent:
    """Decode a stream entry appended by `RedisStreamSink` back into its `CallEvent`.

    Raises:
        InvalidEventError: The entry has no ``event`` field, another version, or an
            event that does not decode (a poison entry: retrying cannot help).
    """
    version = fields.get(b"v")
    body = fields.get(b"event")
    if version != ENTRY_VERSION.encode() or body is None:
        raise InvalidEventError(
            f"stream entry is not a version {ENTRY_VERSION} call event "
            f"(v={version!r}, fields {sorted(k.decode(errors='replace') for k in fields)})",
            method="XREADGROUP",
            url="",
            path=None,
            body=body or b"",
        )
    try:
        return _ENTRY_DECODER.decode(body)
    except msgspec.MsgspecError as exc:
        parse_event(body)  # raises the error that names the path, if the envelope is bad
        raise InvalidEventError(
            f"stream entry's event does not decode: {exc}",
            method="XREADGROUP",
            url="",
            path=None,
            body=body,
        ) from None


def link_entry(client: object, event: CallEvent, fields: Mapping[bytes, bytes]) -> None:
    """Let ``event``'s enrichment span link to its delivery's, from the entry's ``traceparent``.

    Only an entry that has one costs more than one lookup; without telemetry on
    ``client`` (an `asyncsdk.Client`), or without a request id, nothing is done.
    """
    traceparent = fields.get(b"traceparent")
    if traceparent is None or not event.request_id:
        return
    hooks = hooks_of(client)
    if hooks is not None:
        hooks.instruments.adopt_traceparent(
            event.request_id[:200], traceparent.decode("ascii", errors="replace")[:200]
        )


def check_seconds(name: str, value: float) -> float:
    """Return ``value`` as seconds, or raise `ConfigurationError` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(f"{name} must be a number of seconds, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ConfigurationError(f"{name} must be a finite number of seconds > 0, got {value!r}")
    return float(value)


@dataclass(slots=True)
class StreamSinkStats:
    """What a `RedisStreamSink` did (live counters).

    Attributes:
        appended: Events appended to the stream.
        duplicates: Deliveries Redis already had (from this replica or another).
        full: Appends refused because the stream held ``maxlen`` entries.
        unavailable: Appends that failed because Redis did not answer or refused.
    """

    appended: int = 0
    duplicates: int = 0
    full: int = 0
    unavailable: int = 0


class RedisStreamSink:
    """Append accepted events to a Redis stream, deduplicated across receiver replicas.

    Pass it wherever a sink is accepted (`WebhookReceiver`, `webhook_app`,
    `webhook_handler`): the receiver gives it both keys of a delivery (request id and
    signature) and answers 2xx only once Redis has stored the entry; called directly
    (``await sink(event)``) it dedupes by the request id alone. See the module for the
    script, and `enrich_stream` for the workers.

    Args:
        redis: A `redis.asyncio.Redis` (not closed by the sink) or a URL.
        stream: The stream's key.
        maxlen: Entries the stream may hold before appends are refused (503); the
            workers trim acknowledged entries. 0 for no limit.
        ttl: Seconds a delivery is remembered (Bird retries for 8 hours).
        timeout: Seconds a Redis command may take, for a URL (a client brings its own);
            and, whatever the client, seconds `aclose` waits for the appends in flight.
        telemetry: The receiver's `asyncsdk.Telemetry`: each entry then carries its
            delivery span's ``traceparent``, for the worker's enrichment span to link.

    Attributes:
        stats: Live counters.

    Raises:
        ConfigurationError: A bad ``redis``, ``stream``, ``maxlen``, ``ttl`` or ``timeout``.
    """

    def __init__(
        self,
        redis: str | aioredis.Redis,
        *,
        stream: str = DEFAULT_STREAM,
        maxlen: int = DEFAULT_STREAM_MAXLEN,
        ttl: float = DEFAULT_DEDUPE_TTL,
        timeout: float = DEFAULT_REDIS_TIMEOUT,
        telemetry: Telemetry | None = None,
    ) -> None:
        if not isinstance(stream, str) or not stream or "{" in stream or "}" in stream:
            raise ConfigurationError(f"stream must be a key without braces, got {stream!r}")
        if isinstance(maxlen, bool) or not isinstance(maxlen, int) or maxlen < 0:
            raise ConfigurationError(f"maxlen must be an int >= 0 (0: no limit), got {maxlen!r}")
        self._owns = not isinstance(redis, redis_client_class())
        self._timeout = check_seconds("timeout", timeout)
        self.redis = connect(redis, timeout=timeout)
        self.stream = stream
        self.maxlen = maxlen
        self.ttl = check_seconds("ttl", ttl)
        merge = append_merge(
            stream, ttl_ms=int(self.ttl * 1000), maxlen=maxlen, version=ENTRY_VERSION
        )
        self._append = ScriptBatcher(
            self.redis.register_script(APPEND), merge, name=f"stream {stream}: appends"
        )
        self.stats = StreamSinkStats()
        self._telemetry = check_telemetry(telemetry)
        self._policy_asked = False  # Redis' eviction policy, asked after the first append

    def __repr__(self) -> str:
        return f"<RedisStreamSink stream={self.stream!r} appended={self.stats.appended}>"

    async def __call__(self, event: CallEvent) -> None:
        """Append ``event``, deduplicated by its request id (a callable sink).

        Raises:
            StreamUnavailableError: Redis did not take it.
            StreamFullError: The stream is full.
        """
        keys = (event.request_id,) if event.request_id else ()
        await self.store_delivery(event, keys)

    async def store_delivery(
        self, event: CallEvent, keys: Sequence[str], *, traceparent: str | None = None
    ) -> bool:
        """Append ``event`` unless a delivery with one of ``keys`` was stored already.

        Args:
            event: The verified event.
            keys: The delivery's request id and signature (either one makes a repeat).
            traceparent: A W3C trace context to store with the entry, if any.

        Returns:
            Whether it was appended now (``False``: a duplicate, stored before).

        Raises:
            StreamUnavailableError: Redis did not take it (unreachable, timed out,
                loading, read-only, out of memory), or the sink is closed: answer 503.
            StreamFullError: The stream holds ``maxlen`` entries: answer 503.
        """
        telemetry = self._telemetry
        if traceparent is None and telemetry is not None and event.request_id:
            traceparent = telemetry.delivery_traceparent(event.request_id[:200])
        kinds = ("rid", "sig") if len(keys) == 2 else ("rid",) if event.request_id else ("sig",)
        redis_keys = [
            dedupe_key(self.stream, kind, key) for kind, key in zip(kinds, keys, strict=False)
        ]
        args = (event.to_json(), traceparent.encode() if traceparent else b"")
        try:
            outcome, detail = await self._append(redis_keys, args)
        except redis_failures() as exc:
            self.stats.unavailable += 1
            raise StreamUnavailableError(
                f"Redis did not store the event for stream {self.stream!r}: "
                f"{type(exc).__name__}: {exc}",
                stream=self.stream,
            ) from exc
        if not self._policy_asked:
            self._policy_asked = True
            await warn_if_evicting(self.redis, self.stream)
        if outcome == 2:
            self.stats.full += 1
            raise StreamFullError(
                f"stream {self.stream!r} holds {int(detail)} entries (maxlen {self.maxlen}): "
                "the workers are behind",
                stream=self.stream,
            )
        if outcome == 0:
            self.stats.duplicates += 1
            return False
        self.stats.appended += 1
        return True

    async def aclose(self) -> None:
        """Wait for the appends in flight (``timeout`` at most), then close a client made here.

        Those not answered by then (a silent Redis, a client of your own without
        ``socket_timeout``) fail with `StreamUnavailableError` (their deliveries get
        503, and Bird retries them); a warning on the ``asyncsdk`` logger counts them.
        Once it is called, the sink stores nothing more: a delivery raises
        `StreamUnavailableError` (503), and no connection is opened again.
        """
        await self._append.aclose(self._timeout)
        if self._owns:
            await self.redis.aclose()
