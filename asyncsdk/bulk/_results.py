"""What `iter_calls` returns: each ID's `CallResult`, the `CallStream`, its `Leftovers`.

Imports: the standard library, msgspec, and the core modules `errors`, `models` and
`_pump`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, TypeVar

import msgspec

from .._pump import Stream
from ..errors import BirdError
from ..models import Call

__all__ = ["CallResult", "CallStream", "Leftovers", "SequenceNotStr"]

_T_co = TypeVar("_T_co", covariant=True)


class SequenceNotStr(Protocol[_T_co]):
    """A sequence that is not a ``str``: a list, a tuple, the server's `CallIds` ...

    ``str`` is a sequence of characters; this protocol leaves it out for type checkers
    (its ``__contains__`` takes only ``str``), as the functions taking it do at run time.
    """

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[_T_co]: ...

    def __contains__(self, value: object, /) -> bool: ...


class CallResult(msgspec.Struct, frozen=True):
    """One ID's outcome from `iter_calls`.

    Immutable. A `msgspec.Struct` rather than a dataclass because one is built per ID,
    and a Struct builds in a seventh of the time of a frozen dataclass.

    Attributes:
        index: The ID's position in the input (0-based).
        call_id: The ID as it was given.
        call: The call, or ``None`` if it failed.
        error: The error that ended it, or ``None`` if it succeeded.
    """

    index: int
    call_id: object
    call: Call | None
    error: BirdError | None

    @property
    def ok(self) -> bool:
        """Whether the call was fetched."""
        return self.error is None

    def unwrap(self) -> Call:
        """Return the call, or raise its error."""
        if self.error is not None:
            raise self.error
        assert self.call is not None
        return self.call


class Leftovers(msgspec.Struct, frozen=True):
    """What a `CallStream` closed early did not deliver: nothing is lost silently.

    Attributes:
        results: Outcomes that were complete but not yet consumed, by input position.
        unfinished: ``(index, call_id)`` of each ID taken from the source whose request
            was cancelled (or not yet started), by input position.
    """

    results: tuple[CallResult, ...] = ()
    unfinished: tuple[tuple[int, object], ...] = ()

    def __bool__(self) -> bool:
        """Whether anything was left over."""
        return bool(self.results or self.unfinished)


class CallStream(Stream[CallResult, Leftovers]):
    """The results of `iter_calls`, as they complete; an async iterator you can drain.

    Iterate it with ``async for``. Besides that:

    - `drain` stops reading the source; the IDs already taken are still fetched and
      yielded, then the iteration ends;
    - `aclose` (or leaving ``async with``) cancels what is in flight;
    - `leftovers` then lists what was not delivered: results complete but not
      consumed, and the IDs whose requests were cancelled.

    Example:
        ```python
        stream = iter_calls(client, workspace_id, channel_id, queue)
        async with stream:
            async for result in stream:
                ...
        for result in stream.leftovers.results: ...  # after a cancellation
        ```
    """

    __slots__ = ()

    @property
    def draining(self) -> bool:
        """Whether the source is no longer read (drained, or exhausted)."""
        return self._feed.stopped
