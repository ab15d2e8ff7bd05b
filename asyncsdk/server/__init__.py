"""An embedded Bird Voice API server, for tests, demos and benchmarks over loopback HTTP.

It serves ``GET /workspaces/{workspaceId}/channels/{channelId}/calls/{callId}`` and the
two list endpoints (``.../channels/{channelId}/calls`` and ``.../channels/calls``, with
filters and signed page tokens) from a deterministic `Dataset`, checks credentials,
can enforce a rate limit, add latency, inject seeded faults and play scripted answers::

    async with EmbeddedServer(ServerConfig(faults=Faults(error_503=0.1))) as server:
        ...  # point a client at server.base_url

Run it standalone with ``python -m asyncsdk.server --help``.

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
from asyncsdk.server._server import EmbeddedServer
from asyncsdk.server._stats import RecordedRequest, ServerStats
from asyncsdk.server._webhooks import Delivery, WebhookConfig, WebhookSender, WebhookStats

__all__ = [
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
]
