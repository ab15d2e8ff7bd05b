"""asyncsdk: a typed asyncio client for Bird's Voice API.

Everything public is importable from here; the modules behind it are private or list
their own ``__all__``::

    import asyncsdk

    async with asyncsdk.Client(access_key="...") as client:
        call = await client.get_call(workspace_id, channel_id, call_id)

Imports: the core modules it re-exports (CONTRIBUTING.md's layout) and the standard
library.
"""

import logging as _logging
from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version

from .bulk import CallResult, CallStream, Leftovers, SequenceNotStr, gather_calls, iter_calls
from .client import Client
from .config import DEFAULT_BASE_URL, DEFAULT_CONCURRENCY, RateLimit, RetryPolicy, Timeout
from .errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BirdError,
    ClientClosedError,
    ConfigurationError,
    ConflictError,
    DecodeError,
    DestinationError,
    InvalidIDError,
    LimiterTimeoutError,
    MediaChangedError,
    MediaError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RedirectError,
    RequestError,
    ResponseTooLargeError,
    RunStoppedError,
    ServerError,
    UnprocessableEntityError,
)
from .listing import (
    DEFAULT_SHARDS,
    CallPager,
    ListingCheckpoint,
    Pager,
    RecordingListing,
    ShardCheckpoint,
    ShardedListing,
    iter_call_log,
    iter_channel_calls,
    iter_recordings,
)
from .models import (
    AmdResult,
    AmdResultValue,
    Call,
    CallDirection,
    CallFlow,
    CallFlowCommand,
    CallFlowCommandName,
    CallPage,
    CallRecording,
    CallRecordingPage,
    CallStatus,
    CallType,
    Condition,
    ConditionOperator,
    ConditionVariable,
    Contact,
    HangupSource,
    Notification,
    Number,
    NumberType,
    Party,
    QualityInsights,
    Recording,
    RecordingOrigin,
    RecordingPage,
    RecordingSource,
    RecordingStatus,
    SipInsights,
    SipType,
    Transcription,
    TranscriptionPage,
    TranscriptionStatus,
)
from .ratelimit import PerWorkspaceLimiter, RateLimiter, TokenBucketLimiter
from .resources import DownloadResult, MediaStream
from .stats import ClientStats, WaitStats, WorkspaceStats
from .telemetry import Telemetry

# A library logs, the application decides where it goes: without this, Python's
# last-resort handler would print the SDK's warnings to stderr.
_logging.getLogger("asyncsdk").addHandler(_logging.NullHandler())

try:
    __version__ = _version("asyncsdk")
except _PackageNotFoundError:  # pragma: no cover - running from an uninstalled tree
    __version__ = "0+unknown"

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_SHARDS",
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AmdResult",
    "AmdResultValue",
    "AuthenticationError",
    "BadRequestError",
    "BirdError",
    "Call",
    "CallDirection",
    "CallFlow",
    "CallFlowCommand",
    "CallFlowCommandName",
    "CallPage",
    "CallPager",
    "CallRecording",
    "CallRecordingPage",
    "CallResult",
    "CallStatus",
    "CallStream",
    "CallType",
    "Client",
    "ClientClosedError",
    "ClientStats",
    "Condition",
    "ConditionOperator",
    "ConditionVariable",
    "ConfigurationError",
    "ConflictError",
    "Contact",
    "DecodeError",
    "DestinationError",
    "DownloadResult",
    "HangupSource",
    "InvalidIDError",
    "Leftovers",
    "LimiterTimeoutError",
    "ListingCheckpoint",
    "MediaChangedError",
    "MediaError",
    "MediaStream",
    "NotFoundError",
    "Notification",
    "Number",
    "NumberType",
    "Pager",
    "Party",
    "PerWorkspaceLimiter",
    "PermissionDeniedError",
    "QualityInsights",
    "RateLimit",
    "RateLimitError",
    "RateLimiter",
    "Recording",
    "RecordingListing",
    "RecordingOrigin",
    "RecordingPage",
    "RecordingSource",
    "RecordingStatus",
    "RedirectError",
    "RequestError",
    "ResponseTooLargeError",
    "RetryPolicy",
    "RunStoppedError",
    "SequenceNotStr",
    "ServerError",
    "ShardCheckpoint",
    "ShardedListing",
    "SipInsights",
    "SipType",
    "Telemetry",
    "Timeout",
    "TokenBucketLimiter",
    "Transcription",
    "TranscriptionPage",
    "TranscriptionStatus",
    "UnprocessableEntityError",
    "WaitStats",
    "WorkspaceStats",
    "__version__",
    "gather_calls",
    "iter_call_log",
    "iter_calls",
    "iter_channel_calls",
    "iter_recordings",
]
