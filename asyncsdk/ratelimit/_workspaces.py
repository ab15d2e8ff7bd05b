"""One rate limiter per workspace for a client: `Lanes`, created on first use, bounded.

Bird's quota is per workspace ("all channels in a given workspace"), and one access key
may serve several workspaces (an agency's, an integrator's). Pacing them all with one
limiter would mix their evidence: the 429s of a workspace at 50/s would cut the rate
of another at 200/s, and a pause stated by one would stop both. So each workspace gets
a *lane*: its own limiter (its own rate, 429 evidence, stated policy and pause) and its
own counters. Every request knows its workspace: every Bird path starts with
``/workspaces/{workspaceId}`` (`workspace_of`).

Where a lane's limiter comes from (`lane_factory`): the client's own settings build a
`TokenBucketLimiter` per workspace (``rate_limit=R`` is per workspace, as the quota
is); a custom limiter with ``for_workspace(workspace_id)`` (`PerWorkspaceLimiter`, as
`RedisRateLimiter` has) is asked for each workspace's child; a custom limiter without
it is one limit shared by every workspace, as the user built it.

The bound: at most ``max_workspaces`` lanes (1,024 by default), least recently used
evicted first, and never a lane in use (a call of that workspace in flight or waiting
for its limiter): evicting one would give its workspace two limiters at once, each
granting the whole quota. So the pool holds at most ``max(max_workspaces, workspaces
with calls in flight)`` lanes. Why an LRU rather than an idle expiry: an expiry needs
a clock and a sweep (a timer task, or work on the hot path), and what must be bounded
is the count, which an LRU bounds exactly; a client cycling through 100,000 workspaces
keeps the 1,024 it used last. An evicted workspace's next call starts afresh (an
adaptive limiter probes and finds the limit again within a few round trips).

Imports: the standard library, `asyncsdk.errors` and `asyncsdk.ratelimit`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from ..errors import ConfigurationError
from ._contract import PerWorkspaceLimiter, RateLimiter

__all__ = ["DEFAULT_MAX_WORKSPACES", "Lane", "Lanes", "lane_factory", "workspace_of"]

#: Workspaces whose limiters a client keeps at most (idle ones, least recently used, go).
DEFAULT_MAX_WORKSPACES: Final = 1024
_PREFIX: Final = "/workspaces/"
_UUID_LENGTH: Final = 36


def workspace_of(path: str) -> str:
    """Return the workspace id of an API path (``/workspaces/{id}/...``), as it appears.

    The client builds every path from validated, canonical IDs, so the id is the 36
    characters after the prefix.

    Raises:
        ValueError: ``path`` is not a workspace's path (a bug in the caller).
    """
    if not path.startswith(_PREFIX) or len(path) < len(_PREFIX) + _UUID_LENGTH:
        raise ValueError(f"not a workspace path: {path!r}")
    return path[len(_PREFIX) : len(_PREFIX) + _UUID_LENGTH]


class Lane:
    """One workspace's limiter and counters.

    Attributes:
        workspace: The workspace's id (``""`` for the lane every workspace shares).
        limiter: The limiter its attempts wait on.
        expected_wait: The limiter's ``expected_wait``, if it has one (load shedding).
        users: Calls of this workspace in flight now (the lane is not evicted while > 0).
        attempts: Attempts sent for this workspace.
        throttled: Throttling answers (429, 503 with ``Retry-After``) it got.
    """

    __slots__ = ("attempts", "expected_wait", "limiter", "throttled", "users", "workspace")

    def __init__(self, workspace: str, limiter: RateLimiter) -> None:
        self.workspace = workspace
        self.limiter = limiter
        self.expected_wait: Callable[[], float] | None = getattr(limiter, "expected_wait", None)
        self.users = 0
        self.attempts = 0
        self.throttled = 0


def lane_factory(
    custom: RateLimiter | None, build: Callable[[], RateLimiter]
) -> Callable[[str], RateLimiter] | None:
    """Decide where each workspace's limiter comes from (see the module docstring).

    Args:
        custom: The limiter the user passed, if any.
        build: Builds a limiter from the client's own settings.

    Returns:
        A function from a workspace id to its limiter, or ``None`` when every workspace
        shares ``custom`` (it has no ``for_workspace``).
    """
    if custom is None:
        return lambda _workspace: build()
    if isinstance(custom, PerWorkspaceLimiter):
        return custom.for_workspace
    return None


class Lanes:
    """The lanes of one client, keyed by workspace id, bounded (module docstring).

    Args:
        factory: Builds the limiter of a workspace seen for the first time.
        max_workspaces: Lanes kept at most, besides those in use.
        first: A limiter already built, for the first workspace to take (the one
            ``Client.limiter`` shows before any call).
    """

    __slots__ = ("_factory", "_first", "_lanes", "_max", "evicted", "last")

    def __init__(
        self,
        factory: Callable[[str], RateLimiter],
        max_workspaces: int,
        first: RateLimiter | None = None,
    ) -> None:
        if (
            isinstance(max_workspaces, bool)
            or not isinstance(max_workspaces, int)
            or max_workspaces < 1
        ):
            raise ConfigurationError(
                f"max_workspaces must be a positive int, got {max_workspaces!r}"
            )
        self._factory = factory
        self._max = max_workspaces
        self._first = first
        self._lanes: OrderedDict[str, Lane] = OrderedDict()
        #: Lanes evicted so far.
        self.evicted = 0
        #: The lane checked out most recently.
        self.last: Lane | None = None

    def __len__(self) -> int:
        return len(self._lanes)

    def get(self, workspace: str) -> Lane | None:
        """Return the lane of ``workspace`` if the pool holds one (no recency change)."""
        return self._lanes.get(workspace)

    def checkout(self, workspace: str) -> Lane:
        """Return the lane of ``workspace``, creating it, and count one more user.

        Every checkout is matched by one `release`.
        """
        lanes = self._lanes
        lane = lanes.get(workspace)
        if lane is None:
            if len(lanes) >= self._max:
                self._evict_idle(len(lanes) - self._max + 1)
            first, self._first = self._first, None
            lane = lanes[workspace] = Lane(
                workspace, first if first is not None else self._factory(workspace)
            )
        elif lane is not self.last:  # the same workspace again is already the most recent
            lanes.move_to_end(workspace)
        lane.users += 1
        self.last = lane
        return lane

    @staticmethod
    def release(lane: Lane) -> None:
        """One call of ``lane``'s workspace is over."""
        lane.users -= 1

    def _evict_idle(self, count: int) -> None:
        """Drop up to ``count`` idle lanes, least recently used first."""
        idle: list[str] = []
        for workspace, lane in self._lanes.items():
            if lane.users == 0:
                idle.append(workspace)
                if len(idle) == count:
                    break
        for workspace in idle:
            del self._lanes[workspace]
        self.evicted += len(idle)
