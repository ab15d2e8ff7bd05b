"""Command-line front of the embedded server: arguments, and serving until a signal.

`add_server_arguments` and `config_from_args` let another command (``asyncsdk serve``)
offer the same options; `serve` runs a server until SIGINT or SIGTERM.

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

from asyncsdk.server._config import DEFAULT_ACCESS_KEYS, DEFAULT_BURST, Faults, ServerConfig
from asyncsdk.server._dataset import (
    DEFAULT_DATASET_SEED,
    DEFAULT_DATASET_SIZE,
    DEFAULT_DATASET_SPAN,
    DEFAULT_DATASET_START,
    Dataset,
)
from asyncsdk.server._server import DEFAULT_HOST, EmbeddedServer
from asyncsdk.server._webhooks import WebhookConfig, WebhookSender

__all__ = [
    "DEFAULT_PORT",
    "ENV_SIGNING_KEY",
    "add_server_arguments",
    "add_webhook_arguments",
    "config_from_args",
    "dataset_from_args",
    "describe",
    "how_to_list",
    "serve",
    "webhook_config_from_args",
]

#: Port the command-line server listens on by default.
DEFAULT_PORT = 8080
#: (option, Faults field, what it injects) for each --fault-* option.
_FAULT_OPTIONS: tuple[tuple[str, str, str], ...] = (
    ("--fault-429", "throttle", "a 429 whatever the rate (throttling not caused by this client)"),
    ("--fault-500", "error_500", "500 with a JSON error"),
    ("--fault-502", "error_502_html", "502 with an HTML page"),
    ("--fault-503", "error_503", "503 with a JSON error"),
    ("--fault-429-burst", "burst_429", "a burst of consecutive 429s"),
    ("--fault-reset", "reset", "a connection reset"),
    ("--fault-truncate", "truncate", "a body cut in half"),
    ("--fault-slow", "slow", "an answer delayed by --slow-seconds"),
)


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the embedded server's options to ``parser``."""
    parser.add_argument("--host", default=DEFAULT_HOST, help="interface (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port, 0 for a free one (%(default)s)"
    )
    parser.add_argument(
        "--size",
        type=int,
        default=None,
        help=f"calls (default: {DEFAULT_DATASET_SIZE}, or --webhook-calls if that is more)",
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_DATASET_SEED, help="seed of data and faults"
    )
    parser.add_argument(
        "--start",
        type=_aware_datetime,
        default=DEFAULT_DATASET_START,
        metavar="WHEN",
        help="earliest createdAt, RFC 3339 (default: %(default)s)",
    )
    parser.add_argument(
        "--span-days",
        type=float,
        default=DEFAULT_DATASET_SPAN / dt.timedelta(days=1),
        metavar="DAYS",
        help="days the calls are created over (default: %(default)g)",
    )
    parser.add_argument(
        "--busy-share",
        type=float,
        default=0.0,
        metavar="P",
        help="share of the calls created in one hour mid-span (default: 0, even)",
    )
    parser.add_argument(
        "--access-key",
        action="append",
        dest="access_keys",
        metavar="KEY",
        help=f"accepted access key, repeatable (default: {', '.join(DEFAULT_ACCESS_KEYS)})",
    )
    parser.add_argument(
        "--bearer-token",
        action="append",
        dest="bearer_tokens",
        metavar="TOKEN",
        help="accepted bearer token, repeatable (default: test-jwt)",
    )
    parser.add_argument(
        "--rate-limit", type=float, default=None, metavar="RPS", help="requests/s (default: off)"
    )
    parser.add_argument(
        "--burst", type=int, default=DEFAULT_BURST, help="bucket size (default: %(default)s)"
    )
    parser.add_argument(
        "--no-policy-header",
        action="store_false",
        dest="policy_header",
        help="with --rate-limit, do not send the RateLimit-Policy header",
    )
    parser.add_argument(
        "--no-limit-headers",
        action="store_false",
        dest="limit_headers",
        help="with --rate-limit, do not send X-RateLimit-Limit, -Remaining, -Reset",
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per response")
    parser.add_argument(
        "--latency-jitter", type=float, default=0.0, help="extra random 0..N seconds"
    )
    parser.add_argument(
        "--page-latency",
        type=float,
        default=0.0,
        metavar="S",
        help="extra seconds per listed page of 1000 calls, scaled by its size",
    )
    for option, _, what in _FAULT_OPTIONS:
        parser.add_argument(
            option, type=float, default=0.0, metavar="P", help=f"probability of {what}"
        )
    parser.add_argument(
        "--slow-seconds", type=float, default=Faults().slow_seconds, help="delay of a slow answer"
    )
    parser.add_argument(
        "--fault-429-retry-after",
        type=_int_list,
        default=Faults().throttle_retry_after,
        metavar="S[,S...]",
        help="Retry-After values (whole seconds) of a --fault-429 answer, drawn uniformly "
        "(default: 0,1)",
    )
    parser.add_argument(
        "--retry-after-503",
        type=int,
        default=None,
        metavar="S",
        help="Retry-After (whole seconds) of a 503 answer (default: none)",
    )
    parser.add_argument(
        "--rate-schedule",
        type=_schedule,
        default=(),
        metavar="T:RPS[,T:RPS...]",
        help="change --rate-limit to RPS at T seconds after the first request, e.g. 10:100,20:300",
    )
    parser.add_argument(
        "--neighbour-rate",
        type=float,
        default=0.0,
        metavar="RPS",
        help="requests/s a simulated second client takes from the same rate limit",
    )
    parser.add_argument(
        "--workspace-quota",
        type=_workspace_quota,
        action="append",
        default=[],
        dest="workspace_quotas",
        metavar="WORKSPACE:RPS[:BURST]",
        help="a quota of its own for WORKSPACE (a UUID, served the dataset's calls), "
        "repeatable; BURST defaults to --burst",
    )
    parser.add_argument(
        "--outage",
        type=_outage,
        default=None,
        metavar="START:SECONDS",
        help="answer every request 503 for SECONDS, from START seconds after the first request",
    )


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """Return the `ServerConfig` the parsed options describe.

    Raises:
        ValueError: An option is out of range (the message names it).
    """
    faults = Faults(
        **{field: getattr(args, _dest(option)) for option, field, _ in _FAULT_OPTIONS},
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


def _aware_datetime(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    if value.utcoffset() is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone; add Z or +00:00")
    return value


def _int_list(text: str) -> tuple[int, ...]:
    """Parse ``0,1`` into ``(0, 1)``."""
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole seconds like 0,1; got {text!r}") from None


def _pairs(text: str, what: str) -> list[tuple[float, float]]:
    """Parse ``A:B,C:D`` into ``[(A, B), (C, D)]`` (floats)."""
    pairs = []
    for part in text.split(","):
        first, sep, second = part.partition(":")
        try:
            if not sep:
                raise ValueError(part)
            pairs.append((float(first), float(second)))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}; got {text!r}") from None
    return pairs


def _schedule(text: str) -> tuple[tuple[float, float], ...]:
    """Parse ``10:100,20:300`` into ``((10.0, 100.0), (20.0, 300.0))``."""
    return tuple(_pairs(text, "T:RPS pairs like 10:100,20:300"))


def _outage(text: str) -> tuple[float, float]:
    """Parse ``5:10`` (start 5 s, for 10 s) into ``(5.0, 10.0)``."""
    pairs = _pairs(text, "START:SECONDS like 5:10")
    if len(pairs) != 1:
        raise argparse.ArgumentTypeError(f"expected one START:SECONDS like 5:10; got {text!r}")
    return pairs[0]


def _workspace_quota(text: str) -> tuple[str, float, int | None]:
    """Parse ``WORKSPACE:RPS[:BURST]`` (checked by `ServerConfig`)."""
    parts = text.split(":")
    try:
        if len(parts) not in (2, 3):
            raise ValueError
        rate = float(parts[1])
        burst = int(parts[2]) if len(parts) == 3 else None
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected WORKSPACE:RPS[:BURST] like <uuid>:200:50; got {text!r}"
        ) from None
    return parts[0], rate, burst


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
            "  (with BIRD_ACCESS_KEY set to one of the server's access keys)",
        ]
    )


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
                        f"{stats.attempts} attempts, answers {dict(sorted(stats.answers.items()))}"
                    )
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


#: Where ``--signing-key`` is read from when not given (command lines are visible).
ENV_SIGNING_KEY = "BIRD_WEBHOOK_SIGNING_KEY"


def add_webhook_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options that make the server deliver call-status webhooks."""
    group = parser.add_argument_group("webhooks (call lifecycles delivered as Bird does)")
    group.add_argument("--webhook-url", default=None, metavar="URL", help="deliver events here")
    group.add_argument(
        "--signing-key",
        default=None,
        metavar="KEY",
        help=f"key to sign deliveries with (default: ${ENV_SIGNING_KEY})",
    )
    defaults = WebhookConfig(url="http://127.0.0.1/", signing_key="-")
    group.add_argument(
        "--calls-per-second",
        type=float,
        default=defaults.calls_per_second,
        metavar="N",
        help="calls started per second (%(default)s)",
    )
    group.add_argument(
        "--webhook-calls",
        type=int,
        default=None,
        metavar="N",
        help="calls to simulate (default: the whole dataset)",
    )
    group.add_argument(
        "--event-step",
        type=float,
        default=defaults.step,
        metavar="S",
        help="seconds between a call's status events (%(default)s)",
    )
    group.add_argument(
        "--first-retry",
        type=float,
        default=defaults.first_retry,
        metavar="S",
        help="seconds before retrying a failed delivery; doubles each time (%(default)s)",
    )
    group.add_argument(
        "--retry-for",
        type=float,
        default=defaults.retry_for,
        metavar="S",
        help="seconds a delivery is retried before it is given up (%(default)s)",
    )
    group.add_argument(
        "--duplicate",
        type=float,
        default=0.0,
        metavar="P",
        help="probability of sending a delivered event again, as when a 2xx is lost",
    )


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
