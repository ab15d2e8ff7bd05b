"""The errors of webhook verification and event parsing, under `asyncsdk.BirdError`.

::

    BirdError
    ├── InvalidIDError
    │   └── ChannelUnknownError   an event without channelId whose call cannot be found
    └── WebhookError              a delivery was refused; nothing was passed on
        ├── MissingHeaderError    a messagebird-* header is absent or empty
        ├── InvalidSignatureError the signature does not match (or is not base64)
        ├── StaleTimestampError   the timestamp is too far from now, or not a time
        └── InvalidEventError     (also DecodeError) the body is not a call event

Messages name what was wrong, never the signing key, the expected signature or the
body: they are safe to log.

Imports: the standard library and `asyncsdk.errors`.
"""

from __future__ import annotations

from asyncsdk.errors import BirdError, DecodeError, InvalidIDError

__all__ = [
    "ChannelUnknownError",
    "InvalidEventError",
    "InvalidSignatureError",
    "MissingHeaderError",
    "StaleTimestampError",
    "WebhookError",
]


class WebhookError(BirdError):
    """A webhook delivery was refused: unsigned, forged, replayed late, or not an event."""


class MissingHeaderError(WebhookError):
    """A header the scheme needs is absent or empty.

    Attributes:
        header: The header's name (``"messagebird-signature"``).
    """

    def __init__(self, header: str) -> None:
        self.header = header
        super().__init__(f"missing header {header}")

    def __reduce__(self) -> tuple[type[MissingHeaderError], tuple[str]]:
        return (type(self), (self.header,))


class InvalidSignatureError(WebhookError):
    """The signature does not match the body, URL and timestamp for any signing key."""


class StaleTimestampError(WebhookError):
    """The delivery's timestamp is outside the tolerance, or is not a time at all.

    A genuine delivery signed long ago, or in the future, is refused as a possible replay.

    Attributes:
        skew: Seconds between the timestamp and now (positive: in the past), or ``None``
            when the timestamp could not be read.
    """

    def __init__(self, message: str, *, skew: float | None = None) -> None:
        self.skew = skew
        super().__init__(message)

    def __reduce__(self) -> tuple[object, ...]:
        return (_stale, (str(self), self.skew))


def _stale(message: str, skew: float | None) -> StaleTimestampError:
    return StaleTimestampError(message, skew=skew)


class InvalidEventError(WebhookError, DecodeError):
    """The body is not a call event: not JSON, or JSON of another shape.

    Also a `asyncsdk.DecodeError`: ``path`` names the JSON path that failed
    (``"$.payload.id"``, or ``None`` for invalid JSON) and ``body`` keeps the raw bytes.
    """

    def __str__(self) -> str:
        return self.message


class ChannelUnknownError(InvalidIDError):
    """An event's payload has no ``channelId`` and its call could not be found without it.

    *Get a call* needs the channel; `enrich_events` looks the call up in the workspace's
    calls log by its ID first, and gives this error when the log does not have it. Pass
    the channel (``channel_id=`` to `enrich_events`, ``--channel`` to
    ``asyncsdk listen``). Also an `asyncsdk.InvalidIDError` for ``channel_id``.

    Attributes:
        call_id: The call the event is about.
    """

    def __init__(self, call_id: str) -> None:
        super().__init__("channel_id", None)
        self.call_id = call_id
        self.args = (
            f"the event for call {call_id} has no channelId and the workspace calls log "
            "has no call with that id: pass the channel (channel_id= to enrich_events, "
            "--channel to asyncsdk listen)",
        )

    def __reduce__(self) -> tuple[object, ...]:  # type: ignore[override]
        return (type(self), (self.call_id,))
