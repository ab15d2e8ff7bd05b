"""An embedded Bird Voice API server, for tests, demos and benchmarks over loopback HTTP.

It serves ``GET /workspaces/{workspaceId}/channels/{channelId}/calls/{callId}`` and the
two list endpoints (``.../channels/{channelId}/calls`` and ``.../channels/calls``, with
filters and signed page tokens) from a deterministic `Dataset`, checks credentials,
can enforce a rate limit, add latency, inject seeded faults and play scripted answers::

    async with EmbeddedServer(ServerConfig(faults=Faults(error_503=0.1))) as server:
        ...  # point a client at server.base_url

Run it standalone with ``python -m asyncsdk.server --help``.

This package sits outside the SDK core: it may import `asyncsdk.models`; nothing in the
core imports it. Imports: aiohttp, msgspec, `asyncsdk.models` and the standard library.
"""

from asyncsdk.server._cli import add_server_arguments, config_from_args, dataset_from_args, serve
from asyncsdk.server._config import Faults, ScriptedResponse, ServerConfig
from asyncsdk.server._dataset import CallIds, Dataset
from asyncsdk.server._server import EmbeddedServer
from asyncsdk.server._stats import RecordedRequest, ServerStats

__all__ = [
    "CallIds",
    "Dataset",
    "EmbeddedServer",
    "Faults",
    "RecordedRequest",
    "ScriptedResponse",
    "ServerConfig",
    "ServerStats",
    "add_server_arguments",
    "config_from_args",
    "dataset_from_args",
    "serve",
]
