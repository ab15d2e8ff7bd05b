"""Human-readable text for calls, for the command line and the demo.

Imports: the standard library and `asyncsdk.models`.
"""

from __future__ import annotations

import datetime as dt

from asyncsdk.models import Call, CallFlowCommand


def _when(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(seconds, 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _step(command: CallFlowCommand) -> str:
    name = command.command or "?"
    conditions = [
        f"{c.variable} {c.operator} {c.value}" for c in command.conditions or () if c.variable
    ]
    return f"{name}({', '.join(conditions)})" if conditions else name


def describe_call(call: Call) -> str:
    """Render a call as a few aligned lines a person can scan."""
    head = " ".join(x for x in (call.status, call.direction, call.type) if x) or "(no status)"
    lines = [
        f"call {call.id}  {head}",
        f"  from {call.from_ or '-'}  to {call.to or '-'}  duration {_duration(call.duration)}",
        f"  created {_when(call.created_at)}  answered {_when(call.answered_at)}"
        f"  ended {_when(call.ended_at)}",
    ]
    if call.call_flow and call.call_flow.commands:
        lines.append("  flow: " + " -> ".join(_step(c) for c in call.call_flow.commands))
    if call.hangup_source or call.reason:
        lines.append(f"  ended by {call.hangup_source or '-'}  reason {call.reason or '-'}")
    if call.tags:
        lines.append("  tags: " + ", ".join(call.tags))
    return "\n".join(lines)
