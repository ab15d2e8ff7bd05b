"""The embedded server in its own process, for the benchmarks that measure a client.

``python -m benchmarks._serverproc <server options>`` runs the embedded server like
``python -m asyncsdk.server`` (the same options and `asyncsdk.server.serve` loop, without
per-request recording) and, when it stops, prints its `ServerStats` as one JSON line:
counters by status and fault, the admitted rate, and the timeline (requests, 200s, 429s
per 0.1 s). `ServerProcess` starts one, reads where it listens, and stops it.

A server of its own, fresh for each run, starts with a full bucket and never shares an
event loop (or, on two cores, a core) with the client being measured.

Imports: the standard library and asyncsdk.server (in the child).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import signal
import sys
import uuid
from collections.abc import Sequence

from benchmarks._harness import Json, start_announced

#: Seconds to wait for the server to exit after SIGINT and print its counters.
STOP_TIMEOUT = 60.0


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


class ServerProcess:
    """The embedded server in a child process; `stop` returns the counters it printed.

    Args:
        options: Server options (``--rate-limit 200 --latency 0.03 ...``).
        size: Calls in its dataset.
        access_key: The access key it accepts.
    """

    def __init__(self, options: Sequence[str], *, size: int, access_key: str) -> None:
        argv = ["--port", "0", "--size", str(size), "--access-key", access_key, *options]
        self._proc, found = start_announced("benchmarks._serverproc", argv)
        self.base_url = found["url"]
        self.workspace_id = uuid.UUID(found["ws"])
        self.channel_id = uuid.UUID(found["ch"])

    def stop(self) -> Json:
        """Stop the server (SIGINT) and return the stats it printed."""
        self._proc.send_signal(signal.SIGINT)
        out, _ = self._proc.communicate(timeout=STOP_TIMEOUT)
        stats: Json = json.loads(out.strip().splitlines()[-1])
        return stats

    def kill(self) -> None:
        """Kill the server if it still runs (after a failure)."""
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()


if __name__ == "__main__":
    serve_main(sys.argv[1:])
