"""``asyncsdk demo``: a bulk export against the embedded server, with a realistic limit.

The server enforces a rate limit, adds latency and injects a few faults; the client
fetches a few thousand calls with `gather_calls` and the summary shows what it took:
failures by kind, retries, throttled responses, and the rate achieved against the
limit. Then the event pipeline (`asyncsdk.cli._pipeline`): the server delivers call
webhooks to a listener that fetches the details into SQLite, and the result is checked.
Then a small archive of recordings (`asyncsdk.cli._recordings`, the ``recordings``
command) from a server whose presigned URLs sometimes expire and whose bodies sometimes
break, each file checked against the server's SHA-256.

Imports: msgspec, the SDK's public API, the embedded server, and the standard library.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from collections.abc import Sequence, Set
from pathlib import Path

import msgspec

import asyncsdk
from asyncsdk.server import (
    Dataset,
    EmbeddedServer,
    Faults,
    MediaFaults,
    RecordingsConfig,
    ServerConfig,
)

from ._pipeline import main_demo
from ._progress import Progress
from ._recordings import run as archive_command
from ._render import describe_call

DEMO_ACCESS_KEY = "demo-access-key"
#: Bytes of each recording in the archive part.
DEMO_RECORDING_BYTES = 300_000

#: IDs that do not exist, added to the demo's batch to show how failures come back.
MADE_UP_IDS = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the demo command."""
    parser.add_argument("--calls", type=int, default=3000, help="calls to fetch (%(default)s)")
    parser.add_argument(
        "--limit", type=float, default=500.0, help="server rate limit, per second (%(default)s)"
    )
    parser.add_argument(
        "--latency", type=float, default=0.02, help="server latency, seconds (%(default)s)"
    )
    parser.add_argument("--seed", type=int, default=7, help="dataset and fault seed")
    parser.add_argument(
        "--webhook-calls",
        type=int,
        default=300,
        help="calls played through the webhook pipeline afterwards, 0 for none (%(default)s)",
    )
    parser.add_argument(
        "--recordings",
        type=int,
        default=40,
        help="recordings archived at the end, 0 for none (%(default)s)",
    )


async def run(args: argparse.Namespace) -> int:
    """Start the server, bulk-fetch through a real Client, print a summary, stop."""
    dataset = Dataset(size=max(args.calls, 1), seed=args.seed)
    config = ServerConfig(
        access_keys=(DEMO_ACCESS_KEY,),
        rate_limit=args.limit,
        latency=args.latency,
        faults=Faults(error_503=0.01, error_502_html=0.005, reset=0.003, truncate=0.002),
        seed=args.seed,
        record_requests=False,
    )
    async with EmbeddedServer(config, dataset=dataset) as server:
        print(
            f"embedded Bird API server on {server.base_url}: limit {args.limit:g}/s, "
            f"latency {args.latency * 1000:g} ms, ~2% injected faults"
        )
        ids = list(dataset.call_ids[: args.calls])
        # A few IDs that do not exist, to show how failures come back.
        ids += [dataset.missing_call_id(i) for i in range(MADE_UP_IDS)]
        progress = Progress(len(ids))
        async with asyncsdk.Client(access_key=DEMO_ACCESS_KEY, base_url=server.base_url) as client:
            started = time.monotonic()
            results = await asyncsdk.gather_calls(
                client,
                dataset.workspace_id,
                dataset.channel_id,
                ids,
                concurrency=64,
                progress=lambda done, total: progress.advance(failed=False),
            )
            elapsed = time.monotonic() - started
            progress.finish()
            stats = client.stats
        server_stats = server.stats
    calls = [r for r in results if isinstance(r, asyncsdk.Call)]
    failures = Counter(type(r).__name__ for r in results if not isinstance(r, asyncsdk.Call))
    rate = len(calls) / elapsed if elapsed > 0 else 0.0
    print()
    for call in calls[:3]:
        print(describe_call(call), end="\n\n")
    print(f"calls fetched     {len(calls)} of {len(ids)} in {elapsed:.1f}s")
    made_up = sum(isinstance(r, asyncsdk.NotFoundError) for r in results[-MADE_UP_IDS:])
    why = f" ({made_up} of them the IDs made up to show a failure)" if made_up else ""
    print(f"failures          {dict(failures) or 'none'}{why}")
    print(
        f"requests sent     {stats.attempts} ({stats.retries} retries: "
        f"{dict(stats.retries_by_reason) or 'none'})"
    )
    print(f"throttled (429)   {stats.throttled}")
    print(f"faults injected   {dict(server_stats.faults) or 'none'}")
    print(
        f"achieved rate     {rate:.0f} calls/s against a limit of {args.limit:g}/s "
        f"({100 * rate / args.limit:.0f}%)"
    )
    print("server stopped")
    ok = True
    if args.webhook_calls > 0:
        with tempfile.TemporaryDirectory(prefix="asyncsdk-demo-") as workdir:
            ok = await main_demo(Path(workdir), calls=args.webhook_calls, seed=args.seed)
    if args.recordings > 0:
        with tempfile.TemporaryDirectory(prefix="asyncsdk-demo-") as workdir:
            ok = await _archive(Path(workdir), args) and ok
    return 0 if ok else 1


async def _archive(workdir: Path, args: argparse.Namespace) -> bool:
    """Archive recordings through expiring URLs and broken bodies; check every file."""
    config = ServerConfig(
        access_keys=(DEMO_ACCESS_KEY,),
        seed=args.seed,
        record_requests=False,
        recordings=RecordingsConfig(
            size=DEMO_RECORDING_BYTES,
            transcribed_every=2,
            latency=0.02,
            faults=MediaFaults(expired=0.1, reset=0.05),
        ),
    )
    dataset = Dataset(size=args.recordings, seed=args.seed)
    async with EmbeddedServer(config, dataset=dataset) as server:
        recordings = server.recordings
        expected = {
            str(recordings.recording_id(i)) for i in range(dataset.size) if recordings.available(i)
        }
        print(
            f"\narchiving the recordings of {args.recordings} calls ({len(expected)} with "
            f"media; an ongoing call's is not listed) of {DEMO_RECORDING_BYTES // 1000} KB: "
            "10% of the presigned URLs expired, 5% of the bodies cut"
        )
        out = workdir / "archive"
        command = argparse.Namespace(
            workspace=str(dataset.workspace_id),
            since=dataset.timeline.start,
            until=dataset.timeline.end,
            out=out,
            channel=None,
            transcripts=("txt",),
            shards=4,
            resume=False,
            no_progress=True,
            base_url=server.base_url,
            access_key=DEMO_ACCESS_KEY,
            rate_limit=None,
            concurrency=8,
            # With a URL in ten expired and a body in twenty cut, four failures in a
            # row without a byte still come to one file in a few hundred; six retries
            # make that one in tens of thousands, so the demo's check holds.
            max_retries=6,
        )
        code = await archive_command(command)
        lines = (out / "manifest.jsonl").read_text().splitlines()
        archived: list[str] = []
        checked = 0
        for line in lines:
            entry = msgspec.json.decode(line)
            archived.append(entry["id"])
            index = recordings.index(entry["id"])
            key = recordings.media_key(index) if index is not None else ""
            checked += index is not None and entry["sha256"] == server.objects.sha256(key)
        store = server.objects.stats
    print(
        f"files archived    {len(lines)} of {len(expected)}, "
        f"{checked} matching the server's SHA-256"
    )
    print(
        f"object store      {store.expired_refused} expired URLs refused, {store.cut} bodies "
        f"cut, {store.authorization_refused} requests with a credential"
    )
    print("(the archive was a temporary directory, removed now the demo is done)")
    return code == 0 and archive_complete(archived, expected, checked, store.authorization_refused)


def archive_complete(
    archived: Sequence[str], expected: Set[str], checked: int, credentialed: int
) -> bool:
    """Whether the demo's archive holds each recording with media once, every file intact.

    Args:
        archived: The ids of the manifest's lines, in order.
        expected: The ids of the recordings the window holds with media.
        checked: Lines whose SHA-256 matches the server's object.
        credentialed: Requests that reached the object store with a credential.

    Returns:
        True when every expected recording is archived exactly once, nothing else is,
        every file matches, and no credential reached the object store.
    """
    return (
        len(archived) == len(set(archived))
        and set(archived) == expected
        and checked == len(archived) > 0
        and credentialed == 0
    )
