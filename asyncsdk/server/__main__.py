"""``python -m asyncsdk.server``: run the embedded Bird API server until interrupted.

Imports: the server package and the standard library.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Sequence

from asyncsdk.server._cli import (
    add_server_arguments,
    add_webhook_arguments,
    config_from_args,
    dataset_from_args,
    serve,
    webhook_config_from_args,
)
from asyncsdk.server._server import EmbeddedServer

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, serve until SIGINT or SIGTERM, and return the exit status (0)."""
    parser = argparse.ArgumentParser(
        prog="python -m asyncsdk.server",
        description="Serve a deterministic Bird Voice API on loopback: calls, their recordings "
        "and transcriptions, and an object store for their media.",
    )
    add_server_arguments(parser)
    add_webhook_arguments(parser)
    args = parser.parse_args(argv)
    try:
        server = EmbeddedServer(
            config_from_args(args),
            dataset=dataset_from_args(args),
            host=args.host,
            port=args.port,
        )
        webhooks = webhook_config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    # KeyboardInterrupt only arrives where signal handlers cannot be installed (Windows).
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(server, announce=lambda line: print(line, flush=True), webhooks=webhooks))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
