"""What the embedded server saw: `ServerStats` counters and `RecordedRequest` records.

Imports: the standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "FAULT_KINDS",
    "TIMELINE_BIN_SECONDS",
    "ObjectStoreStats",
    "RecordedRequest",
    "ServerStats",
]

#: Keys of `ServerStats.faults`, one per injected fault kind.
FAULT_KINDS: tuple[str, ...] = (
    "500",
    "502",
    "503",
    "429_burst",
    "429_throttle",
    "reset",
    "truncate",
    "slow",
    "outage",
)
#: Width, in seconds, of one bin of `ServerStats.timeline`.
TIMELINE_BIN_SECONDS = 0.1


def _no_faults() -> dict[str, int]:
    return dict.fromkeys(FAULT_KINDS, 0)


@dataclass(slots=True)
class ServerStats:
    """Counters of one server, updated as requests arrive; `reset` zeroes them.

    Attributes:
        requests: Requests received, whatever happened to them.
        by_status: Responses sent, by HTTP status (a truncated answer counts; a reset
            connection does not).
        throttled: 429 answers from the rate limiter or an injected burst.
        faults: Injected faults, by kind (`FAULT_KINDS`).
        scripted: Requests answered from a script.
        admitted_times: Arrival times (event loop clock, seconds) of the requests
            answered 200 with a complete body, in order.
        timeline: Requests per `TIMELINE_BIN_SECONDS` bin from the first request, each
            bin ``[requests, answered 200, answered 429, other]``: how fast clients
            sent, and what they got, over time.
        workspace_timelines: The same timeline for each workspace with a quota of its
            own (``ServerConfig.workspace_quotas``), by workspace id.
    """

    requests: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    throttled: int = 0
    faults: dict[str, int] = field(default_factory=_no_faults)
    scripted: int = 0
    admitted_times: list[float] = field(default_factory=list)
    timeline: list[list[int]] = field(default_factory=list, repr=False)
    workspace_timelines: dict[str, list[list[int]]] = field(default_factory=dict, repr=False)

    def record(self, offset: float, status: int | None, workspace: str | None = None) -> None:
        """Count one request ``offset`` seconds after the first, by what it got.

        Args:
            offset: Seconds since the first request.
            status: The status answered, or ``None`` for a reset connection.
            workspace: The workspace's id, to count it in its own timeline too (for a
                workspace with a quota of its own).
        """
        if workspace is not None:
            _record(self.workspace_timelines.setdefault(workspace, []), offset, status)
        _record(self.timeline, offset, status)

    def reset(self) -> None:
        """Zero every counter."""
        self.requests = 0
        self.by_status = {}
        self.throttled = 0
        self.faults = _no_faults()
        self.scripted = 0
        self.admitted_times = []
        self.timeline = []
        self.workspace_timelines = {}

    def __repr__(self) -> str:
        # Short: the arrival times of a long run would flood assertion messages.
        faults = {kind: n for kind, n in self.faults.items() if n}
        return (
            f"ServerStats(requests={self.requests}, by_status={self.by_status}, "
            f"throttled={self.throttled}, faults={faults}, scripted={self.scripted}, "
            f"admitted_times=<{len(self.admitted_times)} times>)"
        )


def _record(timeline: list[list[int]], offset: float, status: int | None) -> None:
    index = int(offset / TIMELINE_BIN_SECONDS)
    while len(timeline) <= index:
        timeline.append([0, 0, 0, 0])
    bin_ = timeline[index]
    bin_[0] += 1
    bin_[1 if status == 200 else 2 if status == 429 else 3] += 1


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the server received it.

    Attributes:
        time: Arrival time, event loop clock (``time.monotonic`` by default), seconds.
        method: HTTP method.
        path: Request path, without the query string.
        headers: Request headers (the last value of a repeated header).
        call_id: The ``callId`` path segment as sent, or ``""`` for another path.
        query: The query string as sent (still percent-encoded), ``""`` if none.
    """

    time: float
    method: str
    path: str
    headers: dict[str, str]
    call_id: str
    query: str = ""


@dataclass(slots=True)
class ObjectStoreStats:
    """Counters of the object store behind the media redirects; `reset` zeroes them.

    Attributes:
        requests: Requests received, whatever happened to them.
        by_status: Answers, by HTTP status (a cut answer counts under its status).
        authorization_refused: Requests refused 400 because they carried an
            ``Authorization`` header (a credential sent where it must never go).
        full_bodies: 200 answers with a body (a ranged request whose ``If-Range`` did
            not match, or that was ignored, counts here).
        partial_bodies: 206 answers.
        bytes_sent: Body bytes written, over all answers.
        urls_issued: Presigned URLs handed out (in 307s and metadata).
        expired_issued: Of those, URLs handed out already expired (the ``expired`` fault).
        expired_refused: 403 answers to an expired URL.
        signature_refused: 403 answers to a URL that is not this store's (altered,
            unsigned, or for another path).
        cut: Answers cut mid-body (the ``reset`` and ``replace`` faults).
        replaced: Objects replaced mid-answer (the ``replace`` fault).
        trickled: Answers sent at the trickle rate (the ``trickle`` fault).
        disconnects: Answers a client stopped reading before their end.
    """

    requests: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    authorization_refused: int = 0
    full_bodies: int = 0
    partial_bodies: int = 0
    bytes_sent: int = 0
    urls_issued: int = 0
    expired_issued: int = 0
    expired_refused: int = 0
    signature_refused: int = 0
    cut: int = 0
    replaced: int = 0
    trickled: int = 0
    disconnects: int = 0

    def reset(self) -> None:
        """Zero every counter."""
        for name in self.__slots__:
            setattr(self, name, {} if name == "by_status" else 0)
