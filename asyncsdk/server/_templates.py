"""Call bodies rendered from a bounded pool of generated templates.

Generating one realistic call (`generate_call`, then JSON) costs about 60 us: a listed
page of 1,000 calls would cost the server 60 ms of CPU, more than the latency it is
meant to model, and a benchmark would measure the server. So a dataset generates at
most `TEMPLATE_COUNT` calls, lazily, each with a placeholder id and its timestamps
relative to a placeholder ``createdAt``, and call ``i`` is rendered from template
``j(i)`` by joining the template's bytes with ``i``'s own id and times (about 4 us).
Calls sharing a template share everything else (numbers, status, flow): with a
thousand templates spread pseudo-randomly over the indices, a page still looks like
production traffic.

Each template also keeps the values the list endpoints filter on (`Facts`), so a
filtered listing never renders a call it does not return.

Imports: msgspec, the server's _callgen module and the standard library.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import uuid
from dataclasses import dataclass

import msgspec

from asyncsdk.server._callgen import generate_call

__all__ = ["TEMPLATE_COUNT", "Facts", "Template", "build_template", "format_ms", "uuid_text"]

#: Templates per dataset (a power of two).
TEMPLATE_COUNT = 1024
#: The placeholders a template is generated with, replaced when a call is rendered.
_PLACEHOLDER_ID = uuid.UUID(int=0, version=4)
_PLACEHOLDER_CREATED = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
#: A timestamp as `generate_call` writes it, within a day of the placeholder.
_STAMP = re.compile(rb'"(2000-01-0[12]T\d\d:\d\d:\d\d\.\d{3})(Z"|\+00:00")')
_UNIX_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
#: Formatting tables: a rendered page formats thousands of timestamps.
_MINUTE_MS = 60_000
_minutes: dict[int, bytes] = {}
_SECONDS = [f"{s:02d}.".encode() for s in range(60)]
_MILLIS = [f"{m:03d}".encode() for m in range(1000)]


def format_ms(ms: int) -> bytes:
    """Format milliseconds since the Unix epoch as ``b"2026-10-02T09:14:03.120"`` (no zone)."""
    minute, rest = divmod(ms, _MINUTE_MS)
    head = _minutes.get(minute)
    if head is None:
        when = _UNIX_EPOCH + dt.timedelta(minutes=minute)
        head = when.strftime("%Y-%m-%dT%H:%M:").encode()
        if len(_minutes) > 100_000:  # bounded: a long span is walked in windows
            _minutes.clear()
        _minutes[minute] = head
    seconds, millis = divmod(rest, 1000)
    return head + _SECONDS[seconds] + _MILLIS[millis]


def uuid_text(number: int) -> bytes:
    """Return the canonical text of the UUID whose integer is ``number``, encoded."""
    h = b"%032x" % number
    return b"%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


@dataclass(frozen=True, slots=True)
class Facts:
    """What the list endpoints' filters compare, for every call of one template."""

    status: str | None
    direction: str | None
    type: str | None
    from_: str | None
    to: str | None
    duration: int | None
    tags: frozenset[str]


@dataclass(frozen=True, slots=True)
class Template:
    """One generated call with ``%s`` where its id and timestamps go.

    Attributes:
        form: The body with a ``%s`` per placeholder (and any ``%`` doubled).
        slots: Per placeholder, in order: ``None`` for the call id, else the
            timestamp's offset from ``createdAt`` in ms and the rest of the string
            (``Z"`` or ``+00:00"``; the opening quote is in the form).
        facts: The values filters compare.
    """

    form: bytes
    slots: tuple[tuple[int, bytes] | None, ...]
    facts: Facts

    def render(self, call_id: bytes, created_ms: int) -> bytes:
        """Return the body of the call ``call_id`` (its text, encoded) created at ``created_ms``."""
        return self.form % tuple(
            call_id if slot is None else format_ms(created_ms + slot[0]) + slot[1]
            for slot in self.slots
        )


def build_template(seed: int, number: int, channel_id: uuid.UUID) -> Template:
    """Generate template ``number`` of the dataset seeded ``seed``."""
    rng = random.Random(f"asyncsdk.server.template:{seed}:{number}")
    call = generate_call(rng, _PLACEHOLDER_ID, channel_id, _PLACEHOLDER_CREATED)
    body = msgspec.json.encode(call)
    placeholder = str(_PLACEHOLDER_ID).encode()
    base_ms = (_PLACEHOLDER_CREATED - _UNIX_EPOCH) // dt.timedelta(milliseconds=1)
    marks: list[tuple[int, int, tuple[int, bytes] | None]] = []
    start = body.find(placeholder)
    while start >= 0:
        marks.append((start, start + len(placeholder), None))
        start = body.find(placeholder, start + 1)
    for match in _STAMP.finditer(body):
        when = dt.datetime.fromisoformat(match.group(1).decode()).replace(tzinfo=dt.UTC)
        offset = (when - _UNIX_EPOCH) // dt.timedelta(milliseconds=1) - base_ms
        marks.append((match.start(1), match.end(), (offset, match.group(2))))
    marks.sort()
    literals: list[bytes] = []
    position = 0
    for begin, end, _ in marks:
        literals.append(body[position:begin])
        position = end
    literals.append(body[position:])
    form = b"%s".join(literal.replace(b"%", b"%%") for literal in literals)
    tags = call.get("tags")
    duration = call.get("duration")
    facts = Facts(
        status=call.get("status"),
        direction=call.get("direction"),
        type=call.get("type"),
        from_=call.get("from"),
        to=call.get("to"),
        duration=duration if isinstance(duration, int) else None,
        tags=frozenset(tags) if isinstance(tags, list) else frozenset(),
    )
    return Template(form, tuple(slot for _, _, slot in marks), facts)
