"""``asyncsdk demo``: the SDK against the embedded server, end to end over loopback.

Imports: the SDK's public API, the embedded server, and the standard library.
"""

from __future__ import annotations

import argparse

import asyncsdk
from asyncsdk.server import Dataset, EmbeddedServer, ServerConfig

from ._render import describe_call

DEMO_ACCESS_KEY = "demo-access-key"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the demo command."""
    parser.add_argument("--calls", type=int, default=5, help="calls to fetch (default 5)")
    parser.add_argument("--seed", type=int, default=7, help="dataset seed (default 7)")


async def run(args: argparse.Namespace) -> int:
    """Start the server, fetch calls through a real Client, print them, stop."""
    dataset = Dataset(size=max(args.calls, 1), seed=args.seed)
    config = ServerConfig(access_keys=(DEMO_ACCESS_KEY,))
    async with EmbeddedServer(config, dataset=dataset) as server:
        print(f"embedded Bird API server on {server.base_url}")
        print(f"workspace {dataset.workspace_id}  channel {dataset.channel_id}\n")
        async with asyncsdk.Client(access_key=DEMO_ACCESS_KEY, base_url=server.base_url) as client:
            for call_id in dataset.call_ids[: args.calls]:
                call = await client.get_call(dataset.workspace_id, dataset.channel_id, call_id)
                print(describe_call(call), end="\n\n")
            missing = dataset.missing_call_id()
            try:
                await client.get_call(dataset.workspace_id, dataset.channel_id, missing)
            except asyncsdk.NotFoundError as exc:
                print(f"an unknown call is a typed error: {type(exc).__name__}: {exc}")
            stats = client.stats
            print(
                f"\n{stats.succeeded} calls fetched, {stats.failed} failed, "
                f"{stats.attempts} requests sent"
            )
    print("server stopped")
    return 0
