"""No I/O: the attributes of each operation's INTERNAL span, from the operation's arguments.

Each function takes the arguments of the operation it describes (without the client)
and returns its span's attributes: the workspace and the resource IDs, as given (an
invalid one is shown as given, cut to 100 characters, and the span records the
`InvalidIDError`). Never a credential: no operation takes one.

Imports: the standard library only.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = [
    "delivery_outcome",
    "enrich_attributes",
    "gather_attributes",
    "gather_items",
]

WORKSPACE: Final = "bird.workspace.id"
CHANNEL: Final = "bird.channel.id"
CALL: Final = "bird.call.id"
_MAX: Final = 100


def _id(value: object) -> str:
    return str(value)[:_MAX]


def gather_attributes(
    workspace_id: object = None, channel_id: object = None, call_ids: object = (), **_: object
) -> dict[str, Any]:
    """Attributes of a ``gather_calls`` span: the workspace, channel and how many IDs."""
    try:
        count = len(call_ids)  # type: ignore[arg-type]
    except TypeError:
        count = -1
    return {WORKSPACE: _id(workspace_id), CHANNEL: _id(channel_id), "asyncsdk.items": count}


def gather_items(results: list[object]) -> tuple[int, int]:
    """``gather_calls``' items for ``asyncsdk.items``: calls fetched, and errors."""
    failed = sum(1 for r in results if isinstance(r, BaseException))
    return len(results) - failed, failed


def enrich_attributes(
    workspace: str, channel_id: str | None, call_id: str, status: str | None
) -> dict[str, Any]:
    """Attributes of an event's enrichment span: the call it fetches, and the status."""
    attrs: dict[str, Any] = {WORKSPACE: workspace, CALL: call_id}
    if channel_id is not None:
        attrs[CHANNEL] = channel_id
    if status is not None:
        attrs["bird.call.status"] = status[:_MAX]
    return attrs


#: A refused delivery's reason by its status (bounded: the receiver's stats have the rest).
_REFUSALS: Final = {
    400: "bad-request",
    401: "unauthorized",
    405: "method",
    413: "too-large",
}


def delivery_outcome(status: int, text: str | None) -> tuple[str, str | None]:
    """Name a webhook delivery's outcome from the receiver's answer: (outcome, reason).

    ``accepted`` and ``duplicate`` (200), ``busy`` (503: Bird delivers it again), or
    ``refused`` with a reason (``unauthorized``, ``bad-request``, ``too-large``,
    ``method``).
    """
    if status == 200:
        return ("duplicate" if text == "duplicate" else "accepted"), None
    if status == 503:
        return "busy", None
    return "refused", _REFUSALS.get(status, str(status))
