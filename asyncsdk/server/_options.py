"""The embedded server's command-line options: `add_server_arguments`, `add_webhook_arguments`.

Most options have one shape (a flag, a type, a default, a metavar, a help text): they
are rows of tables, added by one helper; the few switches and repeatable options are
added beside them, in the order ``--help`` lists them. `asyncsdk.server._cli` turns
the parsed options into configurations.

Imports: the server's own modules and the standard library.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from typing import Any

from asyncsdk.server._argtypes import (
    aware_datetime,
    byte_size,
    byte_sizes,
    int_list,
    media_faults,
    outage,
    schedule,
    workspace_quota,
)
from asyncsdk.server._config import (
    DEFAULT_ACCESS_KEYS,
    DEFAULT_BEARER_TOKENS,
    DEFAULT_BURST,
    Faults,
)
from asyncsdk.server._dataset import (
    DEFAULT_DATASET_SEED,
    DEFAULT_DATASET_SIZE,
    DEFAULT_DATASET_SPAN,
    DEFAULT_DATASET_START,
)
from asyncsdk.server._mediaconfig import DEFAULT_URL_TTL
from asyncsdk.server._server import DEFAULT_HOST
from asyncsdk.server._webhooks import WebhookConfig

__all__ = [
    "DEFAULT_PORT",
    "ENV_SIGNING_KEY",
    "FAULT_OPTIONS",
    "add_server_arguments",
    "add_webhook_arguments",
]

#: Port the command-line server listens on by default.
DEFAULT_PORT = 8080
#: One option of the common shape: (flag, type, default, metavar, help). ``%(default)s``
#: in the help shows the default.
_Option = tuple[str, Callable[[str], Any], object, str | None, str]

#: The server's options of the common shape, in the order ``--help`` lists them.
_SERVER_OPTIONS: tuple[_Option, ...] = (
    ("--host", str, DEFAULT_HOST, None, "interface (default: %(default)s)"),
    ("--port", int, DEFAULT_PORT, None, "port, 0 for a free one (%(default)s)"),
    (
        "--size",
        int,
        None,
        None,
        f"calls (default: {DEFAULT_DATASET_SIZE}, or --webhook-calls if that is more)",
    ),
    ("--seed", int, DEFAULT_DATASET_SEED, None, "seed of data and faults"),
    (
        "--start",
        aware_datetime,
        DEFAULT_DATASET_START,
        "WHEN",
        "earliest createdAt, RFC 3339 (default: %(default)s)",
    ),
    (
        "--span-days",
        float,
        DEFAULT_DATASET_SPAN / dt.timedelta(days=1),
        "DAYS",
        "days the calls are created over (default: %(default)g)",
    ),
    (
        "--busy-share",
        float,
        0.0,
        "P",
        "share of the calls created in one hour mid-span (default: 0, even)",
    ),
    ("--rate-limit", float, None, "RPS", "requests/s (default: off)"),
    ("--burst", int, DEFAULT_BURST, None, "bucket size (default: %(default)s)"),
)
#: Latency options, after the credential and header switches.
_LATENCY_OPTIONS: tuple[_Option, ...] = (
    ("--latency", float, 0.0, None, "seconds added per response"),
    ("--latency-jitter", float, 0.0, None, "extra random 0..N seconds"),
    (
        "--page-latency",
        float,
        0.0,
        "S",
        "extra seconds per listed page of 1000 calls, scaled by its size",
    ),
)
#: (option, Faults field, what it injects) for each --fault-* option.
FAULT_OPTIONS: tuple[tuple[str, str, str], ...] = (
    ("--fault-429", "throttle", "a 429 whatever the rate (throttling not caused by this client)"),
    ("--fault-500", "error_500", "500 with a JSON error"),
    ("--fault-502", "error_502_html", "502 with an HTML page"),
    ("--fault-503", "error_503", "503 with a JSON error"),
    ("--fault-429-burst", "burst_429", "a burst of consecutive 429s"),
    ("--fault-reset", "reset", "a connection reset"),
    ("--fault-truncate", "truncate", "a body cut in half"),
    ("--fault-slow", "slow", "an answer delayed by --slow-seconds"),
)
#: The traffic options, after the faults.
_TRAFFIC_OPTIONS: tuple[_Option, ...] = (
    ("--slow-seconds", float, Faults().slow_seconds, None, "delay of a slow answer"),
    (
        "--fault-429-retry-after",
        int_list,
        Faults().throttle_retry_after,
        "S[,S...]",
        "Retry-After values (whole seconds) of a --fault-429 answer, drawn uniformly "
        "(default: 0,1)",
    ),
    (
        "--retry-after-503",
        int,
        None,
        "S",
        "Retry-After (whole seconds) of a 503 answer (default: none)",
    ),
    (
        "--rate-schedule",
        schedule,
        (),
        "T:RPS[,T:RPS...]",
        "change --rate-limit to RPS at T seconds after the first request, e.g. 10:100,20:300",
    ),
    (
        "--neighbour-rate",
        float,
        0.0,
        "RPS",
        "requests/s a simulated second client takes from the same rate limit",
    ),
    (
        "--outage",
        outage,
        None,
        "START:SECONDS",
        "answer every request 503 for SECONDS, from START seconds after the first request",
    ),
)
#: The recordings' and object store's options.
_RECORDINGS_OPTIONS: tuple[_Option, ...] = (
    (
        "--recording-size",
        byte_sizes,
        None,
        "BYTES[,BYTES...]",
        "bytes of every recording's mp3, e.g. 500K, 200M, 1G; several are cycled over the "
        "recordings, e.g. 10M,1G (default: by the call's duration)",
    ),
    ("--url-ttl", int, DEFAULT_URL_TTL, "S", "seconds a presigned URL is valid (%(default)s)"),
    ("--store-port", int, 0, "PORT", "the object store's port (default: a free one)"),
    ("--media-latency", float, 0.0, "S", "seconds the object store waits per request"),
    (
        "--media-bandwidth",
        byte_size,
        None,
        "BYTES",
        "bytes/s the object store sends at most, all answers together (default: no cap)",
    ),
    (
        "--media-faults",
        media_faults,
        {},
        "KIND=P[,...]",
        "probabilities of the object store's faults: expired (URLs handed out expired), "
        "reset (a body cut), trickle (a slow body), replace (a body cut and the object "
        "replaced), e.g. expired=0.1,reset=0.05",
    ),
)


def _add_options(parser: argparse.ArgumentParser | Any, options: tuple[_Option, ...]) -> None:
    """Add each option of the common shape to ``parser`` (or an argument group)."""
    for flag, kind, default, metavar, text in options:
        parser.add_argument(flag, type=kind, default=default, metavar=metavar, help=text)


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the embedded server's options to ``parser`` (the recordings' in a group)."""
    _add_options(parser, _SERVER_OPTIONS[:7])
    for flag, dest, default in (
        ("--access-key", "access_keys", ", ".join(DEFAULT_ACCESS_KEYS)),
        ("--bearer-token", "bearer_tokens", ", ".join(DEFAULT_BEARER_TOKENS)),
    ):
        metavar = dest[:-1].split("_")[-1].upper()
        parser.add_argument(
            flag,
            action="append",
            dest=dest,
            metavar=metavar,
            help=f"accepted {flag[2:].replace('-', ' ')}, repeatable (default: {default})",
        )
    _add_options(parser, _SERVER_OPTIONS[7:])
    for flag, dest, what in (
        ("--no-policy-header", "policy_header", "the RateLimit-Policy header"),
        ("--no-limit-headers", "limit_headers", "X-RateLimit-Limit, -Remaining, -Reset"),
    ):
        parser.add_argument(
            flag, action="store_false", dest=dest, help=f"with --rate-limit, do not send {what}"
        )
    _add_options(parser, _LATENCY_OPTIONS)
    for option, _, what in FAULT_OPTIONS:
        parser.add_argument(
            option, type=float, default=0.0, metavar="P", help=f"probability of {what}"
        )
    _add_options(parser, _TRAFFIC_OPTIONS[:5])
    parser.add_argument(
        "--workspace-quota",
        type=workspace_quota,
        action="append",
        default=[],
        dest="workspace_quotas",
        metavar="WORKSPACE:RPS[:BURST]",
        help="a quota of its own for WORKSPACE (a UUID, served the dataset's calls), "
        "repeatable; BURST defaults to --burst",
    )
    _add_options(parser, _TRAFFIC_OPTIONS[5:])
    group = parser.add_argument_group(
        "recordings (media behind a 307 to an object store on another port)"
    )
    group.add_argument(
        "--no-recordings",
        action="store_false",
        dest="recordings",
        help="serve no recordings, transcriptions or object store",
    )
    _add_options(group, _RECORDINGS_OPTIONS)


#: Where ``--signing-key`` is read from when not given (command lines are visible).
ENV_SIGNING_KEY = "BIRD_WEBHOOK_SIGNING_KEY"


def add_webhook_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options that make the server deliver call-status webhooks."""
    group = parser.add_argument_group("webhooks (call lifecycles delivered as Bird does)")
    defaults = WebhookConfig(url="http://127.0.0.1/", signing_key="-")
    _add_options(
        group,
        (
            ("--webhook-url", str, None, "URL", "deliver events here"),
            (
                "--signing-key",
                str,
                None,
                "KEY",
                f"key to sign deliveries with (default: ${ENV_SIGNING_KEY})",
            ),
            (
                "--calls-per-second",
                float,
                defaults.calls_per_second,
                "N",
                "calls started per second (%(default)s)",
            ),
            ("--webhook-calls", int, None, "N", "calls to simulate (default: the whole dataset)"),
            (
                "--event-step",
                float,
                defaults.step,
                "S",
                "seconds between a call's status events (%(default)s)",
            ),
            (
                "--first-retry",
                float,
                defaults.first_retry,
                "S",
                "seconds before retrying a failed delivery; doubles each time (%(default)s)",
            ),
            (
                "--retry-for",
                float,
                defaults.retry_for,
                "S",
                "seconds a delivery is retried before it is given up (%(default)s)",
            ),
            (
                "--duplicate",
                float,
                0.0,
                "P",
                "probability of sending a delivered event again, as when a 2xx is lost",
            ),
        ),
    )
