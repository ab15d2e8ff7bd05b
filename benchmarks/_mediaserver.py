"""The embedded server with recordings and its object store, in its own process.

``python -m benchmarks._mediaserver --count N --size BYTES [--store-latency S]
[--rate-limit R] [--expired P] [--reset P]`` serves ``N`` recordings of ``BYTES`` each
and prints one JSON line once it listens: ``base_url``, ``workspace``, ``access_key``
and ``recordings`` (each ``[id, sha256]``). It serves until SIGINT, then prints the
object store's counters (``bytes_sent``, ``requests``, ``by_status``, ...) as one more
JSON line. `MediaServer` starts one and stops it.

The server never shares a process (or an event loop) with the client measured.

Imports: the standard library and asyncsdk.server (in the child).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import signal
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

ACCESS_KEY = "media-bench-key"


def _serve(argv: Sequence[str]) -> None:
    from asyncsdk.server import (
        Dataset,
        EmbeddedServer,
        MediaFaults,
        RecordingsConfig,
        ServerConfig,
    )

    parser = argparse.ArgumentParser(prog="python -m benchmarks._mediaserver")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--store-latency", type=float, default=0.0)
    parser.add_argument("--rate-limit", type=float, default=None)
    parser.add_argument("--expired", type=float, default=0.0)
    parser.add_argument("--reset", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    config = ServerConfig(
        access_keys=(ACCESS_KEY,),
        rate_limit=args.rate_limit,
        record_requests=False,
        seed=args.seed,
        recordings=RecordingsConfig(
            size=args.size,
            latency=args.store_latency,
            faults=MediaFaults(expired=args.expired, reset=args.reset),
        ),
    )
    server = EmbeddedServer(config, dataset=Dataset(size=args.count, seed=args.seed))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, stop.set)
        async with server:
            recordings = server.recordings
            items = [
                [str(recordings.recording_id(i)), server.objects.sha256(recordings.media_key(i))]
                for i in range(args.count)
                if recordings.available(i) and not recordings.active(i)
            ]
            print(
                json.dumps(
                    {
                        "base_url": server.base_url,
                        "workspace": str(server.dataset.workspace_id),
                        "access_key": ACCESS_KEY,
                        "recordings": items,
                    }
                ),
                flush=True,
            )
            await stop.wait()
            stats = server.objects.stats
        print(json.dumps(dataclasses.asdict(stats), default=str), flush=True)

    asyncio.run(main())


class MediaServer:
    """A `_mediaserver` child process: start it, read where it serves, stop it.

    Args:
        argv: Its options (see the module docstring).
    """

    def __init__(self, *argv: str) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._mediaserver", *argv],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            self._proc.wait(timeout=30)
            raise RuntimeError("the media server did not start")
        self.info: dict[str, Any] = json.loads(line)
        self.store_stats: dict[str, Any] = {}

    @property
    def pid(self) -> int:
        """The server's process ID (for its CPU time, or to pin it to a core)."""
        return self._proc.pid

    def stop(self) -> dict[str, Any]:
        """Stop the server; return its object store's counters."""
        self._proc.send_signal(signal.SIGINT)
        assert self._proc.stdout is not None
        out, _ = self._proc.communicate(timeout=60)
        lines = [line for line in out.splitlines() if line.startswith("{")]
        self.store_stats = json.loads(lines[-1]) if lines else {}
        return self.store_stats

    def __enter__(self) -> MediaServer:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc.poll() is None:
            self.stop()


if __name__ == "__main__":
    _serve(sys.argv[1:])
