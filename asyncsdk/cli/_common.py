"""Options every API command shares, and the client they describe.

Also the options of a time window and its shards, which ``export`` and
``recordings`` both take, and the RFC 3339 type of ``--since`` and ``--until``.

Imports: the SDK's public API and the standard library.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import uuid
from collections.abc import Mapping
from typing import Any

import asyncsdk
from asyncsdk._giveup import KEY_HINT

#: The variable the commands read the access key from when ``--access-key`` is absent.
ENV_ACCESS_KEY = "BIRD_ACCESS_KEY"


class UsageError(Exception):
    """Bad input from the command line: reported as one line, exit code 2."""


def require_uuid(option: str, value: str | None) -> None:
    """Refuse an option that is not a UUID, before any request or file is made.

    Args:
        option: How the user wrote it (``"workspace"``, ``"--channel"``).
        value: The value given, or ``None`` when the option was left out.

    Raises:
        UsageError: ``value`` is given and is not a UUID.
    """
    if value is None:
        return
    try:
        uuid.UUID(value)
    except ValueError:
        raise UsageError(f"{option} must be a UUID, got {value!r}") from None


#: What ``--rate-limit`` does when it is left out, for a command whose client adapts.
ADAPTIVE_RATE_HELP = "requests per second (default: adapt to the server's throttling)"


def add_api_arguments(
    parser: argparse.ArgumentParser, *, rate_help: str = ADAPTIVE_RATE_HELP
) -> None:
    """Add --base-url, credentials, --rate-limit, --concurrency and --max-retries.

    Args:
        parser: The command's parser.
        rate_help: The help of ``--rate-limit``: what the command does without it.
    """
    group = parser.add_argument_group("API")
    group.add_argument(
        "--base-url",
        default=os.environ.get("BIRD_BASE_URL", asyncsdk.DEFAULT_BASE_URL),
        help="API root (default: $BIRD_BASE_URL or %(default)s)",
    )
    group.add_argument(
        "--access-key",
        default=None,
        help="Bird access key (default: $BIRD_ACCESS_KEY); prefer the variable, "
        "command lines are visible to other users",
    )
    group.add_argument(
        "--rate-limit",
        type=float,
        default=None,
        metavar="PER_SECOND",
        help=rate_help,
    )
    group.add_argument(
        "--concurrency",
        type=int,
        default=asyncsdk.DEFAULT_CONCURRENCY,
        help="requests in flight at most (default: %(default)s)",
    )
    group.add_argument(
        "--max-retries",
        type=int,
        default=asyncsdk.RetryPolicy().max_retries,
        help="retries after the first attempt (default: %(default)s)",
    )


def rfc3339(text: str) -> dt.datetime:
    """Parse an RFC 3339 date-time with its time zone (an option's type).

    Raises:
        argparse.ArgumentTypeError: Not a date-time, or one without a time zone.
    """
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an RFC 3339 date-time: {text!r}") from None
    if value.utcoffset() is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone; add Z or +00:00")
    return value


def add_window_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --since (inclusive) and --until (exclusive): the listing's time window."""
    parser.add_argument(
        "--since", required=True, type=rfc3339, metavar="WHEN", help="start, RFC 3339, inclusive"
    )
    parser.add_argument(
        "--until", required=True, type=rfc3339, metavar="WHEN", help="end, RFC 3339, exclusive"
    )


def add_shards_argument(parser: argparse.ArgumentParser) -> None:
    """Add --shards: how many sub-windows of the window are listed at once."""
    parser.add_argument(
        "--shards",
        type=int,
        default=asyncsdk.DEFAULT_SHARDS,
        help="sub-windows listed at once (default: %(default)s)",
    )


def client_from_args(
    args: argparse.Namespace, *, limiter: asyncsdk.RateLimiter | None = None, **options: Any
) -> asyncsdk.Client:
    """Build the client the options describe.

    With ``limiter``, the limiter sets the rate instead of ``--rate-limit``;
    ``options`` are more `Client` arguments.

    Raises:
        UsageError: No credential, or a setting the client refuses.
    """
    access_key = access_key_from(args)
    if args.concurrency < 1:
        raise UsageError(f"--concurrency must be at least 1, got {args.concurrency}")
    try:
        return asyncsdk.Client(
            access_key=access_key,
            base_url=args.base_url,
            rate_limit=args.rate_limit if limiter is None else None,
            limiter=limiter,
            max_retries=args.max_retries,
            telemetry=getattr(args, "telemetry", None),  # set by _telemetry.with_telemetry
            **options,
        )
    except asyncsdk.ConfigurationError as exc:
        raise UsageError(_for_the_command_line(str(exc), args.base_url)) from exc


def _for_the_command_line(message: str, base_url: str | None) -> str:
    """Reword a client setting's error for a command: it has options, not arguments.

    The client tells a program to pass ``allow_insecure_http=True``; a command has no
    such option (it sends the access key over plain http only to this machine).
    """
    if "allow_insecure_http" in message:
        return (
            f"--base-url (or BIRD_BASE_URL) {base_url!r} is plain http to another machine, "
            "which would send the access key unencrypted; use https (plain http is for "
            "this machine only)"
        )
    return message


def access_key_from(args: argparse.Namespace) -> str:
    """The access key the command uses: ``--access-key``, else ``$BIRD_ACCESS_KEY``.

    Raises:
        UsageError: Neither is set.
    """
    access_key: str | None = args.access_key or os.environ.get(ENV_ACCESS_KEY)
    if not access_key:
        raise UsageError(f"no credentials: set {ENV_ACCESS_KEY} or pass --access-key")
    return access_key


def name_key_source(line: str, args: argparse.Namespace) -> str:
    """Point a stop line's credential hint at where this command's key came from.

    The SDK's reason for a 401 names both places a client's key can come from; a command
    knows which one it used (``--access-key`` wins over the variable), so the hint
    names that one.

    Args:
        line: A line about to be printed (a stop line, a summary).
        args: The command's options.

    Returns:
        ``line``, with the hint naming ``--access-key`` when the key came from it.
    """
    if getattr(args, "access_key", None):
        return line.replace(KEY_HINT, "check the key given with --access-key")
    return line.replace(KEY_HINT, f"check {ENV_ACCESS_KEY}")


def refusals(refused: Mapping[str, int]) -> str:
    """Say how many deliveries were refused, and why: ``"3 refused (signature 3)"``.

    A count alone leaves a user with a wrong signing key or ``--public-url`` (every
    delivery refused) nothing to go on; the reasons are the receiver's.
    """
    total = sum(refused.values())
    if not total:
        return "0 refused"
    reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(refused.items()))
    return f"{total} refused ({reasons})"
