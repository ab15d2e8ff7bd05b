"""Call lifecycles: the status events a dataset call goes through, ending where GET ends.

`lifecycle` gives the event name and the statuses, in Bird's documented order, that
lead to a call's final status; `stage_body` gives a delivery body for each. The last
stage's payload is the dataset's body byte for byte, so the final event and *Get a
call* agree and a pipeline that fetches on terminal events stores the call's final
state.

Orders (Bird's "Voice webhooks"):

- ``voice.outbound`` (direction ``outgoing``): accepted, starting, ringing, ongoing,
  then completed; no-answer and busy after ringing; failed after starting.
- ``voice.inbound`` (any other direction): the same without ``accepted``.

A final status that is not a stage of the order (``transferred``, a value the API may
add) comes after ``ongoing``; a call with no status at all gets one event carrying its
body as it is.

Imports: msgspec and the standard library.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

__all__ = ["EVENT_INBOUND", "EVENT_OUTBOUND", "lifecycle", "stage_body"]

EVENT_OUTBOUND: Final = "voice.outbound"
EVENT_INBOUND: Final = "voice.inbound"

_OUTBOUND: Final = ("accepted", "starting", "ringing", "ongoing")
_INBOUND: Final = ("starting", "ringing", "ongoing")
_KNOWN: Final = frozenset((*_OUTBOUND, "completed", "no-answer", "busy", "failed"))
#: Fields a call has only once it has ended.
_ENDED_FIELDS: Final = (
    "endedAt",
    "duration",
    "hangupCauseCode",
    "hangupSource",
    "hangupSipCode",
    "reason",
    "qualityInsights",
    "amdResult",
)
#: The timestamp that becomes ``updatedAt`` at each stage before the last.
_STAGE_TIME: Final = {
    "accepted": "createdAt",
    "starting": "createdAt",
    "ringing": "ringingAt",
    "ongoing": "answeredAt",
}

_ENCODER: Final = msgspec.json.Encoder()


def lifecycle(status: str | None, direction: str | None) -> tuple[str, tuple[str | None, ...]]:
    """Return the event name and the statuses a call goes through to end in ``status``."""
    outbound = direction == "outgoing"
    event = EVENT_OUTBOUND if outbound else EVENT_INBOUND
    order = _OUTBOUND if outbound else _INBOUND
    if status is None:
        return event, (None,)
    if status in order:
        return event, order[: order.index(status) + 1]
    if status in ("no-answer", "busy"):
        return event, (*order[:-1], status)
    if status == "failed":
        return event, (*order[: order.index("starting") + 1], status)
    if status in _KNOWN:  # completed, or accepted on an inbound call
        return event, ((*order, status) if status == "completed" else (status,))
    return event, (*order, status)


def stage_body(event: str, final_body: bytes, status: str | None, *, last: bool) -> bytes:
    """Return the delivery body for one stage of a call whose dataset body is ``final_body``.

    The last stage carries ``final_body`` unchanged; an earlier one the same call with
    that status, without the fields of an ended call, ``updatedAt`` at that stage.
    """
    if last:
        payload: Any = msgspec.Raw(final_body)
    else:
        call: dict[str, Any] = msgspec.json.decode(final_body)
        call["status"] = status
        for name in _ENDED_FIELDS:
            call.pop(name, None)
        if status != "ongoing":
            call.pop("answeredAt", None)
        if status in ("accepted", "starting"):
            call.pop("ringingAt", None)
        stamp = call.get(_STAGE_TIME.get(status or "", ""))
        if stamp is not None:
            call["updatedAt"] = stamp
        else:
            call.pop("updatedAt", None)
        payload = call
    return _ENCODER.encode({"service": "channels", "event": event, "payload": payload})
