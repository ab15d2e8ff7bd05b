"""The embedded server in its own process, for the benchmarks that measure a client.

``python -m benchmarks._serverproc <server options>`` runs the embedded server like
``python -m asyncsdk.server`` (the same options and `asyncsdk.server.serve` loop, without
per-request recording) and, when it stops, prints its `ServerStats` as one JSON line:
counters by status and fault, the admitted rate, and the timeline (requests, 200s, 429s
per 0.1 s). `ServerProcess` starts one, reads where it listens, and stops it.

A server of its own, fresh for each run, starts with a full bucket and never shares an
event loop (or, on two cores, a core) with the client being measured.

Imports: the standard library, the benchmarks' harness and asyncsdk.server (in the child).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from collections.abc import Sequence

from benchmarks._procs import Announced, Json


def serve_main(argv: Sequence[str]) -> None:
    """Serve until SIGINT, then print the stats line (see the module docstring)."""
    from asyncsdk.server import (
        EmbeddedServer,
        add_server_arguments,
        config_from_args,
        dataset_from_args,
        serve,
    )

    parser = argparse.ArgumentParser(prog="python -m benchmarks._serverproc")
    add_server_arguments(parser)
    args = parser.parse_args(argv)
    config = dataclasses.replace(config_from_args(args), record_requests=False)
    server = EmbeddedServer(config, dataset=dataset_from_args(args), host=args.host, port=0)
    asyncio.run(serve(server, announce=lambda line: print(line, flush=True)))
    stats = server.stats
    admitted = stats.admitted_times
    span = admitted[-1] - admitted[0] if len(admitted) > 1 else 0.0
    print(
        json.dumps(
            {
                "requests": stats.requests,
                "by_status": {str(k): v for k, v in sorted(stats.by_status.items())},
                "throttled": stats.throttled,
                "faults": stats.faults,
                "admitted": len(admitted),
                "admitted_per_s": (len(admitted) - 1) / span if span > 0 else 0.0,
                "timeline": stats.timeline,
                "workspace_timelines": stats.workspace_timelines,
            }
        ),
        flush=True,
    )


class ServerProcess(Announced):
    """The embedded server in a child process; `stats` stops it and returns its counters.

    Args:
        options: Server options (``--rate-limit 200 --latency 0.03 ...``).
        size: Calls in its dataset.
        access_key: The access key it accepts.
    """

    def __init__(self, options: Sequence[str], *, size: int, access_key: str) -> None:
        argv = ["--port", "0", "--size", str(size), "--access-key", access_key, *options]
        super().__init__("benchmarks._serverproc", argv)

    def stats(self) -> Json:
        """Stop the server (SIGINT) and return the stats it printed."""
        stats: Json = json.loads(self.stop().strip().splitlines()[-1])
        return stats


if __name__ == "__main__":
    serve_main(sys.argv[1:])
