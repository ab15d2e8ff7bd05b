"""The public names, written out: a move or a split that drops one fails here.

Each public package's ``__all__`` is compared with the list below. A name added on
purpose is added here too; a name removed on purpose is a breaking change, and the
changelog says so.
"""

from __future__ import annotations

import importlib

import pytest

PUBLIC_NAMES: dict[str, frozenset[str]] = {
    "asyncsdk": frozenset(
        {
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
            "DEFAULT_BASE_URL",
            "DEFAULT_CONCURRENCY",
            "DEFAULT_SHARDS",
            "DecodeError",
            "HangupSource",
            "InvalidIDError",
            "Leftovers",
            "LimiterTimeoutError",
            "ListingCheckpoint",
            "NotFoundError",
            "Notification",
            "Number",
            "NumberType",
            "Party",
            "PerWorkspaceLimiter",
            "PermissionDeniedError",
            "QualityInsights",
            "RateLimit",
            "RateLimitError",
            "RateLimiter",
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
            "UnprocessableEntityError",
            "WaitStats",
            "WorkspaceStats",
            "__version__",
            "gather_calls",
            "iter_call_log",
            "iter_calls",
            "iter_channel_calls",
        }
    ),
    "asyncsdk.listing": frozenset(
        {
            "CallPager",
            "DEFAULT_SHARDS",
            "FetchPage",
            "ListQuery",
            "ListingCheckpoint",
            "MAX_PAGE_SIZE",
            "MAX_PAGE_TOKEN_LENGTH",
            "SPLIT_MIN_PAGES",
            "ShardCheckpoint",
            "ShardedListing",
            "iter_call_log",
            "iter_channel_calls",
        }
    ),
    "asyncsdk.ratelimit": frozenset(
        {
            "MIN_ADAPTIVE_RATE",
            "PerWorkspaceLimiter",
            "RateLimiter",
            "TokenBucketLimiter",
            "parse_policy",
        }
    ),
    "asyncsdk.ratelimit.fleet": frozenset(
        {
            "DEFAULT_FALLBACK_SHARE",
            "DEFAULT_PROBE_INTERVAL",
            "DEFAULT_REDIS_TIMEOUT",
            "KEY_PREFIX",
            "LimiterMode",
            "MAX_BATCH",
            "RedisRateLimiter",
            "derive_key",
        }
    ),
    "asyncsdk.webhooks": frozenset(
        {
            "CallEvent",
            "CallEventName",
            "ChannelUnknownError",
            "DEFAULT_DEDUPE_ENTRIES",
            "DEFAULT_DEDUPE_TTL",
            "DEFAULT_HAND_OFF_TIMEOUT",
            "DEFAULT_MAX_BODY",
            "DEFAULT_REMEMBER",
            "DEFAULT_RETRY_AFTER",
            "DEFAULT_TOLERANCE",
            "EventStream",
            "InvalidEventError",
            "InvalidSignatureError",
            "MissingHeaderError",
            "RECEIVER",
            "REQUEST_ID_HEADER",
            "ReceiverStats",
            "SIGNATURE_HEADER",
            "SeenDeliveries",
            "StaleTimestampError",
            "TERMINAL_STATUSES",
            "TIMESTAMP_HEADER",
            "WebhookError",
            "WebhookReceiver",
            "compute_signature",
            "enrich_events",
            "parse_event",
            "parse_timestamp",
            "verify_signature",
            "webhook_app",
            "webhook_handler",
        }
    ),
    "asyncsdk.server": frozenset(
        {
            "CallIds",
            "Dataset",
            "Delivery",
            "EmbeddedServer",
            "Faults",
            "RecordedRequest",
            "ScriptedResponse",
            "ServerConfig",
            "ServerStats",
            "WebhookConfig",
            "WebhookSender",
            "WebhookStats",
            "add_server_arguments",
            "add_webhook_arguments",
            "config_from_args",
            "dataset_from_args",
            "serve",
            "webhook_config_from_args",
        }
    ),
}


@pytest.mark.parametrize("package", sorted(PUBLIC_NAMES))
def test_public_names_are_kept(package: str) -> None:
    """Every name a package offered is still offered, and nothing new slipped in."""
    module = importlib.import_module(package)
    names = frozenset(module.__all__)
    assert sorted(PUBLIC_NAMES[package] - names) == [], "dropped"
    assert sorted(names - PUBLIC_NAMES[package]) == [], "added: list them in this test"
    for name in names:
        assert hasattr(module, name), name
