"""An embedded Bird Voice API server, for tests, demos and benchmarks over loopback HTTP.

It serves ``GET /workspaces/{workspaceId}/channels/{channelId}/calls/{callId}`` and the
two list endpoints (``.../channels/{channelId}/calls`` and ``.../channels/calls``, with
filters and signed page tokens) from a deterministic `Dataset`, checks credentials,
can enforce a rate limit, add latency, inject seeded faults and play scripted answers::

    async with EmbeddedServer(ServerConfig(faults=Faults(error_503=0.1))) as server:
        ...  # point a client at server.base_url

Run it standalone with ``python -m asyncsdk.server --help``.

It also serves recordings and transcriptions of its calls (`RecordingSet`), their media
through a 307 to an S3-like `ObjectStore` on a second port (presigned, expiring URLs,
ranges, ETags, seeded `MediaFaults`), as `RecordingsConfig` says::

    config = ServerConfig(recordings=RecordingsConfig(size=10_000_000,
                                                      faults=MediaFaults(reset=0.05)))
    async with EmbeddedServer(config) as server:
        key = server.recordings.media_key(0)  # "recordings/<id>.mp3"
        server.objects.sha256(key), server.objects.stats.authorization_refused

With a `WebhookSender` it also plays the dataset's calls through their lifecycles and
delivers each status as a signed webhook, retried as Bird retries.

This package sits outside the SDK core: it may import `asyncsdk.models` and, for
signing webhooks, `asyncsdk.webhooks`; nothing in the core imports it. Imports:
aiohttp, msgspec, `asyncsdk.models`, `asyncsdk.webhooks` and the standard library.
"""

from asyncsdk.server._cli import (
    add_server_arguments,
    add_webhook_arguments,
    config_from_args,
    dataset_from_args,
    serve,
    webhook_config_from_args,
)
from asyncsdk.server._config import Faults, ScriptedResponse, ServerConfig
from asyncsdk.server._dataset import CallIds, Dataset
from asyncsdk.server._media import StoredObject
from asyncsdk.server._mediaconfig import MediaFaults, RecordingsConfig
from asyncsdk.server._objectstore import ObjectStore
from asyncsdk.server._recordingset import RecordingSet
from asyncsdk.server._server import EmbeddedServer
from asyncsdk.server._stats import ObjectStoreStats, RecordedRequest, ServerStats
from asyncsdk.server._webhooks import Delivery, WebhookConfig, WebhookSender, WebhookStats

__all__ = [
    "CallIds",
    "Dataset",
    "Delivery",
    "EmbeddedServer",
    "Faults",
    "MediaFaults",
    "ObjectStore",
    "ObjectStoreStats",
    "RecordedRequest",
    "RecordingSet",
    "RecordingsConfig",
    "ScriptedResponse",
    "ServerConfig",
    "ServerStats",
    "StoredObject",
    "WebhookConfig",
    "WebhookSender",
    "WebhookStats",
    "add_server_arguments",
    "add_webhook_arguments",
    "config_from_args",
    "dataset_from_args",
    "serve",
    "webhook_config_from_args",
]
