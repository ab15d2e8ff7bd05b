"""The calls' models: `Call` and its parts, `CallPage`, the known values of their fields.

Structs are declared with ``gc=False`` (see `asyncsdk.models._base`): a decoded call
holds no reference cycles, and keeping it out of the garbage collector's lists saves
memory and collection time in workers that hold many of them.

A page of the list endpoints decodes into `CallPage` in one pass, straight from the
bytes. Its calls still hold GC-tracked objects (``uuid.UUID`` ids, lists), about 17 per
call, so a 1,000-call page would set off dozens of collections while it is being
built; `CallPage.from_json` pauses the collector for that one C call (nothing it builds
can form a cycle) and restores it, which makes a page decode about a third faster
(``benchmarks/page_decode.py``).

Imports: msgspec, the standard library, and this package's `_base` and `_parties`.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

import msgspec

from ._base import ENCODER, Model, Page, Timestamp, page_decoder
from ._parties import Party

__all__ = [
    "CALL_DECODER",
    "PAGE_DECODER",
    "AmdResult",
    "AmdResultValue",
    "Call",
    "CallFlow",
    "CallFlowCommand",
    "CallFlowCommandName",
    "CallPage",
    "CallStatus",
    "CallType",
    "Condition",
    "ConditionOperator",
    "ConditionVariable",
    "HangupSource",
    "Notification",
    "QualityInsights",
    "SipInsights",
    "SipType",
]


# --- known values of the enumerated fields ---------------------------------------------


class CallStatus(StrEnum):
    """Known values of ``Call.status``; the API may send others."""

    ACCEPTED = "accepted"
    STARTING = "starting"
    RINGING = "ringing"
    ONGOING = "ongoing"
    COMPLETED = "completed"
    NO_ANSWER = "no-answer"
    BUSY = "busy"
    FAILED = "failed"


class CallType(StrEnum):
    """Known values of ``Call.type``; the API may send others."""

    PSTN = "pstn"


class HangupSource(StrEnum):
    """Known values of ``Call.hangup_source``; the API may send others."""

    CALLEE = "callee"


class SipType(StrEnum):
    """Known values of ``Call.sip_type``; the API may send others."""

    ELASTIC = "elastic"


class AmdResultValue(StrEnum):
    """Known values of ``AmdResult.result`` (answering-machine detection)."""

    HUMAN = "human"


class CallFlowCommandName(StrEnum):
    """Known values of ``CallFlowCommand.command``; the API may send others."""

    ANSWER = "answer"
    HANGUP = "hangup"
    PLAYBACK = "playback"
    SAY = "say"
    GATHER = "gather"
    RECORD = "record"
    BRIDGE = "bridge"
    PAUSE = "pause"
    RINGING = "ringing"


class ConditionVariable(StrEnum):
    """Known values of ``Condition.variable``; the API may send others."""

    KEYS = "keys"


class ConditionOperator(StrEnum):
    """Known values of ``Condition.operator``; the API may send others."""

    EQ = "eq"


# --- the structs ----------------------------------------------------------------------


class Condition(Model, frozen=True):
    """A condition under which a call-flow command runs."""

    variable: str | None = None
    """See `ConditionVariable` for the known values."""
    operator: str | None = None
    """See `ConditionOperator` for the known values."""
    value: str | None = None


class CallFlowCommand(Model, frozen=True):
    """One step of a call flow."""

    id: uuid.UUID | None = None
    call_id: uuid.UUID | None = None
    call_flow_id: uuid.UUID | None = None
    status: str | None = None
    command: str | None = None
    """See `CallFlowCommandName` for the known values."""
    conditions: list[Condition] | None = None


class CallFlow(Model, frozen=True):
    """The call flow that ran on the call."""

    id: uuid.UUID | None = None
    commands: list[CallFlowCommand] | None = None


class Notification(Model, frozen=True):
    """Where status notifications for the call are sent."""

    url: str | None = None


class QualityInsights(Model, frozen=True):
    """Audio quality figures, as the API sends them (strings)."""

    mos: str | None = None
    """Mean opinion score."""
    pdd: str | None = None
    """Post-dial delay."""


class SipInsights(Model, frozen=True):
    """SIP-level details of the call."""

    hangup_sip_code: str | None = None
    edge_region: str | None = None
    provider_name: str | None = None
    user_agent: str | None = None
    remote_signalling_ip: str | None = None
    remote_media_ip: str | None = None


class AmdResult(Model, frozen=True):
    """Answering-machine detection result."""

    result: str | None = None
    """See `AmdResultValue` for the known values."""
    speech: str | None = None
    locale: str | None = None


class Call(Model, frozen=True):
    """A voice call, as returned by *Get a call*.

    Every field but `id` may be ``None``: absent and ``null`` on the wire read the same.
    Enumerated fields are plain strings; compare them with the constants in
    `CallStatus`, `CallDirection` and friends, which are ``str`` themselves.

    Example:
        ```pycon
        >>> call = Call.from_json(b'{"id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"}')
        >>> call.status is None
        True
        >>> Call.from_json(call.to_json()) == call
        True
        ```
    """

    id: uuid.UUID
    channel_id: uuid.UUID | None = None
    from_: str | None = msgspec.field(default=None, name="from")
    """The calling number (``from`` on the wire; ``from`` is a Python keyword)."""
    to: str | None = None
    originator: Party | None = None
    receiver: Party | None = None
    parent_id: uuid.UUID | None = None
    direction: str | None = None
    """See `CallDirection` for the known values."""
    status: str | None = None
    """See `CallStatus` for the known values."""
    reason: str | None = None
    type: str | None = None
    """See `CallType` for the known values."""
    duration: int | None = None
    """Length of the call in seconds."""
    hangup_cause_code: int | None = None
    hangup_source: str | None = None
    """See `HangupSource` for the known values."""
    hangup_sip_code: str | None = None
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None
    ringing_at: Timestamp | None = None
    answered_at: Timestamp | None = None
    ended_at: Timestamp | None = None
    scheduled_for: Timestamp | None = None
    call_flow: CallFlow | None = None
    notification: Notification | None = None
    quality_insights: QualityInsights | None = None
    sip_insights: SipInsights | None = None
    amd_result: AmdResult | None = None
    sip_type: str | None = None
    """See `SipType` for the known values."""
    tags: list[str] | None = None

    @classmethod
    def from_json(cls, data: bytes | bytearray | memoryview | str) -> Call:
        """Decode one call from its JSON body.

        Raises:
            msgspec.DecodeError: ``data`` is not valid JSON.
            msgspec.ValidationError: ``data`` is JSON but not a call; the message names
                the JSON path that failed (``$.duration``).
        """
        return CALL_DECODER.decode(data)

    def to_json(self) -> bytes:
        """Encode the call back to the API's camelCase JSON (``None`` fields omitted)."""
        return ENCODER.encode(self)


class CallPage(Page, frozen=True):
    """One page of a list endpoint: its calls, newest first, and the cursor to the next.

    The API marks the last page by leaving ``nextPageToken`` out or sending it empty;
    both read as ``None`` here, so ``page.next_page_token is None`` is the one test for
    the end.

    Example:
        ```pycon
        >>> page = CallPage.from_json(b'{"results": [], "nextPageToken": ""}')
        >>> page.results, page.next_page_token
        ([], None)
        ```
    """

    results: list[Call]
    """The calls of this page (possibly fewer than asked for, even before the end)."""
    next_page_token: str | None = None
    """Opaque cursor to pass back as ``page_token`` for the next page; ``None`` at the end."""


#: One decoder per type, built once: building a decoder is far costlier than using it.
CALL_DECODER: msgspec.json.Decoder[Call] = msgspec.json.Decoder(Call)
PAGE_DECODER: msgspec.json.Decoder[CallPage] = page_decoder(CallPage)
