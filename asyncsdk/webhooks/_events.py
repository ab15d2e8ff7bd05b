"""Call events: the body of a ``voice.inbound`` / ``voice.outbound`` delivery, decoded.

A delivery's body is ``{"service": "channels", "event": "voice.outbound", "payload":
{<call>}}``, the payload a call as *Get a call* returns it (possibly with fewer fields).
It decodes with one decoder, built once, into the SDK's own `asyncsdk.Call`, as
tolerantly: unknown event names, fields and values still decode.

Imports: msgspec, the standard library, `asyncsdk.models` and the webhooks' `_errors`.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Final

import msgspec

from asyncsdk.models import Call, CallStatus
from asyncsdk.webhooks._errors import InvalidEventError

__all__ = ["TERMINAL_STATUSES", "CallEvent", "CallEventName", "parse_event"]


class CallEventName(StrEnum):
    """Known values of `CallEvent.event`; Bird may send others."""

    VOICE_INBOUND = "voice.inbound"
    """A call to one of your numbers changed status."""
    VOICE_OUTBOUND = "voice.outbound"
    """A call you placed changed status."""


TERMINAL_STATUSES: Final[frozenset[str]] = frozenset(
    (CallStatus.COMPLETED, CallStatus.NO_ANSWER, CallStatus.BUSY, CallStatus.FAILED)
)
"""The statuses after which a call no longer changes: completed, no-answer, busy, failed."""


class _Envelope(msgspec.Struct, frozen=True, gc=False):
    service: str
    event: str
    payload: Call


_DECODER: Final = msgspec.json.Decoder(_Envelope)
_ENCODER: Final = msgspec.json.Encoder()


class CallEvent(msgspec.Struct, frozen=True, kw_only=True, rename="camel", gc=False):
    """One call-status event, as a webhook delivered it.

    Attributes:
        service: The service that sent it (``"channels"``).
        event: The event name; see `CallEventName` for the known values.
        payload: The call as it was when the event fired (possibly with fewer fields
            than *Get a call* returns).
        request_id: The delivery's ``messagebird-request-id``, when known. A retried
            delivery keeps its id.
        timestamp: When the delivery was signed (``messagebird-request-timestamp``),
            when known.
    """

    service: str
    event: str
    payload: Call
    request_id: str | None = None
    timestamp: dt.datetime | None = None

    def to_json(self) -> bytes:
        """Encode the event as camelCase JSON (``requestId``; the payload as `Call` does)."""
        return _ENCODER.encode(self)

    @property
    def call_id(self) -> str:
        """The call's ID, as text (``payload.id``)."""
        return str(self.payload.id)

    @property
    def status(self) -> str | None:
        """The call's status in this event (``payload.status``)."""
        return self.payload.status


def parse_event(
    body: bytes | bytearray | memoryview | str,
    *,
    request_id: str | None = None,
    timestamp: dt.datetime | None = None,
) -> CallEvent:
    """Decode a delivery's body into a `CallEvent`.

    Verify the delivery first (`verify_signature`): parsing is not authentication.

    Args:
        body: The raw request body.
        request_id: The ``messagebird-request-id`` header, to keep with the event.
        timestamp: The delivery's timestamp, to keep with the event.

    Raises:
        InvalidEventError: The body is not JSON, or not a call event; ``path`` names the
            JSON path that failed. It is also a `asyncsdk.DecodeError`.
    """
    try:
        envelope = _DECODER.decode(body)
    except msgspec.ValidationError as exc:
        message = str(exc)
        path = message.rpartition(" - at `")[2].rstrip("`") if " - at `" in message else "$"
        raise _invalid(f"body is not a call event: {message}", path, body) from None
    except msgspec.DecodeError as exc:
        raise _invalid(f"body is not JSON: {exc}", None, body) from None
    return CallEvent(
        service=envelope.service,
        event=envelope.event,
        payload=envelope.payload,
        request_id=request_id,
        timestamp=timestamp,
    )


def _invalid(
    message: str, path: str | None, body: bytes | bytearray | memoryview | str
) -> InvalidEventError:
    """The error for a body that is not a call event, with the body kept as bytes."""
    return InvalidEventError(
        message,
        method="POST",
        url="",
        path=path,
        body=bytes(body) if not isinstance(body, str) else body.encode(),
    )
