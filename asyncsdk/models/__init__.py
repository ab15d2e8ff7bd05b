"""Typed models of the Voice API's resources, and their JSON codecs.

Every model is a frozen ``msgspec.Struct``: attributes are snake_case, the wire
stays camelCase, unknown JSON fields are ignored, and every field but ``id`` may be
absent or ``null`` (both read as ``None``).

Enumerated fields are typed ``str``, never ``Enum``: the API adds values without
notice and a new value must not break decoding. The known values are offered as
``StrEnum`` constants (``CallStatus.COMPLETED == "completed"``) to compare against.

- `_base`: the struct options, `Timestamp`, the page base, the zero time, URL redaction.
- `_parties`: what calls and recordings share (`Party`, `Contact`, `Number`,
  `CallDirection`).
- `_calls`: `Call` and its parts, `CallPage`.
- `_recordings`: `Recording`, `CallRecording`, `Transcription` and their pages.

Every name is re-exported here: ``asyncsdk.models.Call`` is the spelling to import.

Imports: msgspec and the standard library only.
"""

from ._base import ZERO_TIME, Page, Timestamp, redact_url
from ._calls import (
    CALL_DECODER,
    PAGE_DECODER,
    AmdResult,
    AmdResultValue,
    Call,
    CallFlow,
    CallFlowCommand,
    CallFlowCommandName,
    CallPage,
    CallStatus,
    CallType,
    Condition,
    ConditionOperator,
    ConditionVariable,
    HangupSource,
    Notification,
    QualityInsights,
    SipInsights,
    SipType,
)
from ._parties import CallDirection, Contact, Number, NumberType, Party
from ._recordings import (
    CALL_RECORDING_DECODER,
    CALL_RECORDING_PAGE_DECODER,
    RECORDING_DECODER,
    RECORDING_PAGE_DECODER,
    TRANSCRIPTION_DECODER,
    TRANSCRIPTION_PAGE_DECODER,
    CallRecording,
    CallRecordingPage,
    Recording,
    RecordingOrigin,
    RecordingPage,
    RecordingSource,
    RecordingStatus,
    Transcription,
    TranscriptionPage,
    TranscriptionStatus,
)

__all__ = [
    "CALL_DECODER",
    "CALL_RECORDING_DECODER",
    "CALL_RECORDING_PAGE_DECODER",
    "PAGE_DECODER",
    "RECORDING_DECODER",
    "RECORDING_PAGE_DECODER",
    "TRANSCRIPTION_DECODER",
    "TRANSCRIPTION_PAGE_DECODER",
    "ZERO_TIME",
    "AmdResult",
    "AmdResultValue",
    "Call",
    "CallDirection",
    "CallFlow",
    "CallFlowCommand",
    "CallFlowCommandName",
    "CallPage",
    "CallRecording",
    "CallRecordingPage",
    "CallStatus",
    "CallType",
    "Condition",
    "ConditionOperator",
    "ConditionVariable",
    "Contact",
    "HangupSource",
    "Notification",
    "Number",
    "NumberType",
    "Page",
    "Party",
    "QualityInsights",
    "Recording",
    "RecordingOrigin",
    "RecordingPage",
    "RecordingSource",
    "RecordingStatus",
    "SipInsights",
    "SipType",
    "Timestamp",
    "Transcription",
    "TranscriptionPage",
    "TranscriptionStatus",
    "redact_url",
]
