"""Bird's call webhooks: verify deliveries, parse events, receive them, fetch the details.

Verification and parsing (`verify_signature`, `parse_event`, `CallEvent`) use only the
standard library and msgspec, so they work in any framework. Above them:
`webhook_handler` / `webhook_app`, a receiver for aiohttp.web that acknowledges an event
only once it is handed on, and `enrich_events`, which turns events into full calls.
Across processes, `RedisStreamSink` is the receivers' sink and `enrich_stream` the
workers' loop (Redis Streams, a consumer group)::

    queue: asyncio.Queue[CallEvent] = asyncio.Queue(maxsize=1000)
    app = webhook_app(signing_key, queue, path="/bird/voice")
    ...
    async for event, call in enrich_events(client, queue, workspace_id=workspace_id):
        ...

Imports: the modules of this subpackage only (see each for its own).
"""

from asyncsdk.webhooks._app import RECEIVER, webhook_app, webhook_handler
from asyncsdk.webhooks._dedupe import DEFAULT_DEDUPE_ENTRIES, DEFAULT_DEDUPE_TTL, SeenDeliveries
from asyncsdk.webhooks._enrich import DEFAULT_REMEMBER, EventStream, enrich_events
from asyncsdk.webhooks._enrich_stream import enrich_stream
from asyncsdk.webhooks._errors import (
    ChannelUnknownError,
    InvalidEventError,
    InvalidSignatureError,
    MissingHeaderError,
    StaleTimestampError,
    WebhookError,
)
from asyncsdk.webhooks._events import TERMINAL_STATUSES, CallEvent, CallEventName, parse_event
from asyncsdk.webhooks._handoff import DEFAULT_HAND_OFF_TIMEOUT
from asyncsdk.webhooks._receiver import (
    DEFAULT_MAX_BODY,
    DEFAULT_RETRY_AFTER,
    RECEIVER_WARNING,
    ReceiverStats,
    WebhookReceiver,
)
from asyncsdk.webhooks._signature import (
    DEFAULT_TOLERANCE,
    REQUEST_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    compute_signature,
    parse_timestamp,
    verify_signature,
)
from asyncsdk.webhooks._store import (
    ForgettingStore,
    SQLiteCallStore,
    StreamResult,
    StreamStore,
)
from asyncsdk.webhooks._stream import (
    DEFAULT_STREAM,
    DEFAULT_STREAM_MAXLEN,
    ENTRY_VERSION,
    RedisStreamSink,
    StreamError,
    StreamFullError,
    StreamSinkStats,
    StreamUnavailableError,
    decode_entry,
)
from asyncsdk.webhooks._trim import trim_acknowledged
from asyncsdk.webhooks._worker import (
    DEFAULT_FORGET_AFTER,
    DEFAULT_MAX_DELIVERIES,
    DEFAULT_MIN_IDLE,
    StreamWorker,
    StreamWorkerStats,
)

__all__ = [
    "DEFAULT_DEDUPE_ENTRIES",
    "DEFAULT_DEDUPE_TTL",
    "DEFAULT_FORGET_AFTER",
    "DEFAULT_HAND_OFF_TIMEOUT",
    "DEFAULT_MAX_BODY",
    "DEFAULT_MAX_DELIVERIES",
    "DEFAULT_MIN_IDLE",
    "DEFAULT_REMEMBER",
    "DEFAULT_RETRY_AFTER",
    "DEFAULT_STREAM",
    "DEFAULT_STREAM_MAXLEN",
    "DEFAULT_TOLERANCE",
    "ENTRY_VERSION",
    "RECEIVER",
    "RECEIVER_WARNING",
    "REQUEST_ID_HEADER",
    "SIGNATURE_HEADER",
    "TERMINAL_STATUSES",
    "TIMESTAMP_HEADER",
    "CallEvent",
    "CallEventName",
    "ChannelUnknownError",
    "EventStream",
    "ForgettingStore",
    "InvalidEventError",
    "InvalidSignatureError",
    "MissingHeaderError",
    "ReceiverStats",
    "RedisStreamSink",
    "SQLiteCallStore",
    "SeenDeliveries",
    "StaleTimestampError",
    "StreamError",
    "StreamFullError",
    "StreamResult",
    "StreamSinkStats",
    "StreamStore",
    "StreamUnavailableError",
    "StreamWorker",
    "StreamWorkerStats",
    "WebhookError",
    "WebhookReceiver",
    "compute_signature",
    "decode_entry",
    "enrich_events",
    "enrich_stream",
    "parse_event",
    "parse_timestamp",
    "trim_acknowledged",
    "verify_signature",
    "webhook_app",
    "webhook_handler",
]
