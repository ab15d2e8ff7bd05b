"""Fetching many calls: `iter_calls` streams results as they complete, `gather_calls` collects.

Both sit on the public `Client.get_call`, so every request goes through the client's
rate limiter, retries and counters. Every ID asked for gets exactly one outcome: a
`Call`, or the `BirdError` that ended it (an invalid ID gets its `InvalidIDError`
without a request). Anything else (a bug, a cancellation) propagates.

`iter_calls` keeps at most ``concurrency`` requests in flight and reads the next ID
only when a slot is free, so memory stays flat however many IDs flow through it. It
is an async generator: leaving the loop early (``break``, an exception, cancellation)
cancels the requests in flight when the generator is closed, which asyncio does right
after the loop lets go of it. Wrap it in `contextlib.aclosing` to have that happen
before the next statement.

Imports: the standard library, msgspec, and the client, config, errors, models and
_protocol modules of this package.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Sequence,
)
from typing import Final

import msgspec

from . import _protocol
from .client import Client
from .config import DEFAULT_CONCURRENCY
from .errors import BirdError, ConfigurationError
from .models import Call

__all__ = ["CallResult", "gather_calls", "iter_calls"]

CallId = str | uuid.UUID
#: Called as ``progress(done, total)`` after each ID is resolved.
Progress = Callable[[int, int], None]

_END: Final = object()


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


async def _next_id(ids: AsyncIterator[object]) -> object:
    return await anext(ids, _END)


def _check_concurrency(concurrency: int) -> None:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigurationError(f"concurrency must be an int >= 1, got {concurrency!r}")


async def iter_calls(
    client: Client,
    workspace_id: CallId,
    channel_id: CallId,
    call_ids: Iterable[object] | AsyncIterable[object],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> AsyncGenerator[CallResult, None]:
    """Fetch calls and yield each `CallResult` as soon as it completes.

    Args:
        client: The client whose limiter, retries and connections to use.
        workspace_id: The workspace, for every call.
        channel_id: The channel, for every call.
        call_ids: IDs from any iterable, sync or async (a list, a file, a queue
            consumer, a database cursor). Read lazily, one per free slot.
        concurrency: Requests in flight at most.

    Yields:
        One result per ID, in completion order; ``index`` gives the input position.

    Raises:
        InvalidIDError: ``workspace_id`` or ``channel_id`` is not a UUID (before any
            request).
        ConfigurationError: ``concurrency`` is not a positive int.
        Exception: Whatever reading ``call_ids`` raised, after in-flight requests
            are cancelled.
    """
    _check_concurrency(concurrency)
    workspace = _protocol.canonical_id("workspace_id", workspace_id)
    channel = _protocol.canonical_id("channel_id", channel_id)
    completed: asyncio.Queue[asyncio.Task[CallResult] | asyncio.Task[object]] = asyncio.Queue()
    in_flight: set[asyncio.Task[CallResult]] = set()

    async def fetch(index: int, call_id: object) -> CallResult:
        try:
            call = await client.get_call(workspace, channel, call_id)  # type: ignore[arg-type]
        except BirdError as exc:
            return CallResult(index, call_id, None, exc)
        return CallResult(index, call_id, call, None)

    def start(index: int, call_id: object) -> None:
        task = asyncio.create_task(fetch(index, call_id))
        in_flight.add(task)
        task.add_done_callback(completed.put_nowait)

    sync_ids = iter(call_ids) if isinstance(call_ids, Iterable) else None
    async_ids = aiter(call_ids) if sync_ids is None else None  # type: ignore[arg-type]
    reader: asyncio.Task[object] | None = None
    index = 0
    exhausted = False
    try:
        while True:
            if sync_ids is not None:
                while not exhausted and len(in_flight) < concurrency:
                    call_id = next(sync_ids, _END)
                    if call_id is _END:
                        exhausted = True
                    else:
                        start(index, call_id)
                        index += 1
            elif reader is None and not exhausted and len(in_flight) < concurrency:
                assert async_ids is not None
                reader = asyncio.create_task(_next_id(async_ids))
                reader.add_done_callback(completed.put_nowait)
            if not in_flight and reader is None:
                return
            task = await completed.get()
            if task is reader:
                reader = None
                call_id = task.result()  # the source's own error propagates from here
                if call_id is _END:
                    exhausted = True
                else:
                    start(index, call_id)
                    index += 1
                continue
            in_flight.discard(task)
            result = task.result()
            assert isinstance(result, CallResult)
            yield result
    finally:
        leftovers: list[asyncio.Task[CallResult] | asyncio.Task[object]] = [*in_flight]
        if reader is not None:
            leftovers.append(reader)
        for task in leftovers:
            task.cancel()
        if leftovers:
            await asyncio.gather(*leftovers, return_exceptions=True)
        aclose = getattr(async_ids, "aclose", None)
        if aclose is not None:
            await aclose()


async def gather_calls(
    client: Client,
    workspace_id: CallId,
    channel_id: CallId,
    call_ids: Sequence[object],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Progress | None = None,
    fail_fast: bool = False,
) -> list[Call | BirdError]:
    """Fetch many calls concurrently; return one outcome per ID, aligned with ``call_ids``.

    Each item is the `Call`, or the `BirdError` that ended that ID (like
    ``asyncio.gather(..., return_exceptions=True)``). A repeated ID is fetched once and
    its outcome shared at each of its positions.

    Args:
        client: The client whose limiter, retries and connections to use.
        workspace_id: The workspace, for every call.
        channel_id: The channel, for every call.
        call_ids: The IDs, ``str`` or `uuid.UUID`; invalid ones yield `InvalidIDError`.
        concurrency: Requests in flight at most.
        progress: Called as ``progress(done, total)`` after each position is resolved
            (``total`` is ``len(call_ids)``).
        fail_fast: Raise the first error instead of collecting it, cancelling the rest.

    Raises:
        InvalidIDError: ``workspace_id`` or ``channel_id`` is not a UUID; with
            ``fail_fast``, also the first invalid call ID, before any request.
        BirdError: With ``fail_fast``, the first error.
    """
    total = len(call_ids)
    results: list[Call | BirdError | None] = [None] * total
    positions: dict[str, list[int]] = {}
    unique: list[str] = []
    done = 0
    for position, raw in enumerate(call_ids):
        try:
            key = _protocol.canonical_id("call_id", raw)
        except BirdError as exc:
            if fail_fast:
                raise
            results[position] = exc
            done += 1
            continue
        if key in positions:
            positions[key].append(position)
        else:
            positions[key] = [position]
            unique.append(key)
    if progress is not None and done:
        progress(done, total)
    stream = iter_calls(client, workspace_id, channel_id, unique, concurrency=concurrency)
    try:
        async for result in stream:
            outcome: Call | BirdError
            if result.error is not None:
                if fail_fast:
                    raise result.error
                outcome = result.error
            else:
                assert result.call is not None
                outcome = result.call
            for position in positions[unique[result.index]]:
                results[position] = outcome
                done += 1
            if progress is not None:
                progress(done, total)
    finally:
        await stream.aclose()
    return results  # type: ignore[return-value]  # every position is filled
