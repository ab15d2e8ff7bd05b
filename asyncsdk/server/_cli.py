"""Command-line front of the embedded server: arguments, and serving until a signal.

`add_server_arguments` (from `asyncsdk.server._options`) and `config_from_args` let
another command (``asyncsdk serve``) offer the same options; `serve` runs a server until
SIGINT or SIGTERM.

Imports: the server's own modules and the standard library.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import signal
from collections.abc import Callable

from asyncsdk.server._config import DEFAULT_ACCESS_KEYS, Faults, ServerConfig
from asyncsdk.server._dataset import DEFAULT_DATASET_SIZE, Dataset
from asyncsdk.server._mediaconfig import MediaFaults, RecordingsConfig
from asyncsdk.server._options import (
    DEFAULT_PORT,
    ENV_SIGNING_KEY,
    FAULT_OPTIONS,
    add_server_arguments,
    add_webhook_arguments,
)
from asyncsdk.server._server import EmbeddedServer
from asyncsdk.server._webhooks import WebhookConfig, WebhookSender

__all__ = [
    "DEFAULT_PORT",
    "ENV_SIGNING_KEY",
    "add_server_arguments",
    "add_webhook_arguments",
    "answers_text",
    "config_from_args",
    "dataset_from_args",
    "describe",
    "how_to_list",
    "recordings_config_from_args",
    "serve",
    "webhook_config_from_args",
]


def recordings_config_from_args(args: argparse.Namespace) -> RecordingsConfig | None:
    """Return the `RecordingsConfig` the parsed options describe (``None``: no recordings).

    Raises:
        ValueError: An option is out of range (the message names it).
    """
    if not args.recordings:
        return None
    try:
        faults = MediaFaults(**args.media_faults)
        sizes: tuple[int, ...] = args.recording_size or ()
        return RecordingsConfig(
            size=sizes[0] if len(sizes) == 1 else None,
            sizes=sizes if len(sizes) > 1 else (),
            url_ttl=args.url_ttl,
            latency=args.media_latency,
            bandwidth=args.media_bandwidth,
            faults=faults,
            store_port=args.store_port,
        )
    except ValueError as exc:
        raise ValueError(f"recordings options: {exc}") from None


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """Return the `ServerConfig` the parsed options describe.

    Raises:
        ValueError: An option is out of range (the message names it).
    """
    faults = Faults(
        **{field: getattr(args, _dest(option)) for option, field, _ in FAULT_OPTIONS},
        slow_seconds=args.slow_seconds,
        throttle_retry_after=args.fault_429_retry_after,
        retry_after_503=args.retry_after_503,
    )
    defaults = ServerConfig()
    return ServerConfig(
        access_keys=tuple(args.access_keys or defaults.access_keys),
        bearer_tokens=tuple(args.bearer_tokens or defaults.bearer_tokens),
        rate_limit=args.rate_limit,
        burst=args.burst,
        policy_header=args.policy_header,
        limit_headers=args.limit_headers,
        latency=args.latency,
        latency_jitter=args.latency_jitter,
        page_latency=args.page_latency,
        faults=faults,
        seed=args.seed,
        rate_schedule=args.rate_schedule,
        neighbour_rate=args.neighbour_rate,
        outage=args.outage,
        workspace_quotas=tuple(
            (ws, rate, args.burst if burst is None else burst)
            for ws, rate, burst in args.workspace_quotas
        ),
        recordings=recordings_config_from_args(args),
    )


def dataset_from_args(args: argparse.Namespace) -> Dataset:
    """Return the `Dataset` the parsed options describe.

    Raises:
        ValueError: ``--size``, ``--span-days`` or ``--busy-share`` is out of range.
    """
    if not args.span_days > 0:
        raise ValueError(f"--span-days must be more than 0, got {args.span_days}")
    return Dataset(
        size=dataset_size(args.size, getattr(args, "webhook_calls", None)),
        seed=args.seed,
        start=args.start,
        span=dt.timedelta(days=args.span_days),
        busy_share=args.busy_share,
    )


def dataset_size(size: int | None, webhook_calls: int | None) -> int:
    """The dataset's size: ``--size``, else the default grown to ``--webhook-calls``.

    A server asked to play N calls' lifecycles plays N: without ``--size`` the dataset
    grows to hold them; with a ``--size`` too small for them, the options contradict
    each other and are refused rather than N silently becoming the size.

    Raises:
        ValueError: ``--webhook-calls`` is more than an explicit ``--size``.
    """
    if size is None:
        return max(DEFAULT_DATASET_SIZE, webhook_calls or 0)
    if webhook_calls is not None and webhook_calls > size:
        raise ValueError(
            f"--webhook-calls {webhook_calls} is more than the {size} calls of --size; "
            f"the most it can play is {size} (or raise --size)"
        )
    return size


def _dest(option: str) -> str:
    return option.lstrip("-").replace("-", "_")


def describe(server: EmbeddedServer) -> str:
    """Return the one line announcing a running server: URL, workspace, channel, calls."""
    ds = server.dataset
    samples = ",".join(str(call_id) for call_id in ds.call_ids[:2])
    return (
        f"serving {server.base_url} workspace={ds.workspace_id} "
        f"channel={ds.channel_id} calls={samples or '-'}"
    )


def how_to_list(server: EmbeddedServer) -> str:
    """Return the lines that tell a new user how to get the server's call IDs."""
    ds = server.dataset
    since = ds.timeline.start.isoformat().replace("+00:00", "Z")
    until = ds.timeline.end.isoformat().replace("+00:00", "Z")
    base = server.base_url
    return "\n".join(
        [
            f"its {ds.size} calls were created from {since} to {until}; to get their IDs,",
            f"  list them:   GET {base}/workspaces/{ds.workspace_id}/channels/calls?limit=1000",
            f"  export them: asyncsdk export {ds.workspace_id} --since {since} --until {until}"
            f" --out calls.jsonl --base-url {base}",
            f"  then fetch:  asyncsdk fetch {ds.workspace_id} {ds.channel_id} --ids calls.jsonl"
            f" --out details.jsonl --base-url {base}",
            f"  (with {_key_hint(server)})",
            *_recordings_lines(server, since, until),
        ]
    )


def _key_hint(server: EmbeddedServer) -> str:
    """Name the key to use when it is the public default; never one the user chose."""
    if server.config.access_keys == DEFAULT_ACCESS_KEYS:
        return f"BIRD_ACCESS_KEY={DEFAULT_ACCESS_KEYS[0]}, the server's default key"
    return "BIRD_ACCESS_KEY set to one of the server's access keys"


def _recordings_lines(server: EmbeddedServer, since: str, until: str) -> list[str]:
    """The lines that point to the recordings, if the server has them."""
    if server.config.recordings is None:
        return []
    ws = server.dataset.workspace_id
    return [
        f"its recordings: GET {server.base_url}/workspaces/{ws}/recordings?limit=99, then"
        f" .../recordings/<id>.mp3 answers 307 to the object store at {server.objects.base_url}",
        f"  archive them: asyncsdk recordings {ws} --since {since} --until {until}"
        f" --out archive/ --base-url {server.base_url}",
    ]


def answers_text(answers: dict[int, int]) -> str:
    """Say how the webhook deliveries were answered, ``0`` (no answer) in words.

    ``{200: 3699, 0: 720}`` reads ``{200: 3699}, 720 with no answer (...)``: a bare
    ``0`` status told a user nothing, and it is most often a listener not started yet.
    """
    statuses = {status: n for status, n in sorted(answers.items()) if status}
    parts = [str(statuses)] if statuses or not answers.get(0) else []
    if answers.get(0):
        parts.append(
            f"{answers[0]} with no answer (connection refused, reset or timed out:"
            " retried; is the listener at --webhook-url running?)"
        )
    return ", ".join(parts)


async def serve(
    server: EmbeddedServer,
    *,
    announce: Callable[[str], None] | None = None,
    webhooks: WebhookConfig | None = None,
) -> None:
    """Run ``server`` until SIGINT or SIGTERM (or cancellation), then stop it.

    Args:
        server: A server that is not running yet.
        announce: Called once when the server is up, with `describe`'s line followed
            by `how_to_list`'s lines (and with a summary of the webhooks sent, when it
            stops).
        webhooks: Also deliver the dataset's call-status webhooks (`WebhookSender`).
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
            installed.append(signum)
    try:
        async with server:
            if announce is not None:
                announce(describe(server) + "\n" + how_to_list(server))
            if webhooks is None:
                await stop.wait()
            else:
                async with WebhookSender(webhooks, server.dataset) as sender:
                    await stop.wait()
                if announce is not None:
                    stats = sender.stats
                    announce(
                        f"webhooks: {stats.calls} calls, {stats.events} events, "
                        f"{stats.delivered} delivered, {stats.gave_up} given up, "
                        f"{stats.attempts} attempts, answers {answers_text(stats.answers)}"
                    )
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def webhook_config_from_args(args: argparse.Namespace) -> WebhookConfig | None:
    """Return the `WebhookConfig` the options describe, or ``None`` without ``--webhook-url``.

    Raises:
        ValueError: An option is out of range, or no signing key is given.
    """
    if args.webhook_url is None:
        return None
    key = args.signing_key or os.environ.get(ENV_SIGNING_KEY)
    if not key:
        raise ValueError(f"--webhook-url needs --signing-key (or ${ENV_SIGNING_KEY})")
    return WebhookConfig(
        url=args.webhook_url,
        signing_key=key,
        calls_per_second=args.calls_per_second,
        calls=args.webhook_calls,
        step=args.event_step,
        first_retry=args.first_retry,
        retry_for=args.retry_for,
        duplicate=args.duplicate,
        seed=args.seed,
    )
