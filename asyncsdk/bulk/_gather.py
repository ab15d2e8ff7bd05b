"""`gather_calls`: fetch many calls, one outcome per position, a repeated ID fetched once.

Built on `iter_calls`, so its rules (concurrency, the lone first request, stopping a
run that cannot succeed) are the same.

Imports: the standard library and the core modules `client`, `config`, `errors`,
`models`, `_protocol`, `telemetry` (the INTERNAL span of `gather_calls`), and this
package's ``_iterate`` and ``_results``.
"""

from __future__ import annotations

from collections.abc import Callable

from .. import _protocol
from ..client import Client
from ..config import DEFAULT_CONCURRENCY
from ..errors import BirdError, RunStoppedError
from ..models import Call
from ..telemetry import operation
from ..telemetry._attributes import gather_attributes, gather_items
from ._iterate import CallId, iter_calls
from ._results import CallResult, SequenceNotStr

__all__ = ["Progress", "gather_calls"]

#: Called as ``progress(done, total)`` after each ID is resolved.
Progress = Callable[[int, int], None]


@operation("gather_calls", gather_attributes, gather_items)
async def gather_calls(
    client: Client,
    workspace_id: CallId,
    channel_id: CallId,
    call_ids: SequenceNotStr[object],
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
            A single ``str`` is refused (`TypeError`): wrap one ID in a list.
        concurrency: Requests in flight at most.
        progress: Called as ``progress(done, total)`` after each position is resolved
            (``total`` is ``len(call_ids)``).
        fail_fast: Raise the first error instead of collecting it, cancelling the rest.

    Returns:
        One outcome per position of ``call_ids``: the `Call`, or the `BirdError` that
        ended that ID.

    Raises:
        RunStoppedError: Before anything succeeded, an ID failed in a way every later
            request would repeat (nothing answers at the API's address, its host does not
            resolve, 401; 403 for two IDs): the run stopped there, after one ID's
            retries, without trying the rest (see `iter_calls`). Its ``results`` is the
            list this function would return with ``None`` at each ID not tried, and its
            ``not_tried`` those IDs (as given, once each); ``reason`` says why in one
            line. With ``fail_fast``, the deciding error itself is raised instead.
        InvalidIDError: ``workspace_id`` or ``channel_id`` is not a UUID; with
            ``fail_fast``, also the first invalid call ID, before any request.
        BirdError: With ``fail_fast``, the first error.
        TypeError: ``call_ids`` is a single ``str`` or ``bytes``.
    """
    passed: object = call_ids  # type checkers already refuse a str here; callers may not
    if isinstance(passed, str | bytes | bytearray):
        raise TypeError(
            f"call_ids is a single {type(passed).__name__}, not a collection of them; "
            "wrap one ID in a list: [call_id]"
        )
    total = len(call_ids)
    results: list[Call | BirdError | None] = [None] * total
    positions: dict[str, list[int]] = {}
    unique: list[str] = []
    given: list[object] = []  # each of `unique` as the caller gave it
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
            given.append(raw)
    if progress is not None and done:
        progress(done, total)
    stream = iter_calls(client, workspace_id, channel_id, unique, concurrency=concurrency)

    def settle(result: CallResult) -> int:
        outcome = result.call if result.error is None else result.error
        assert outcome is not None
        at = positions[unique[result.index]]
        for position in at:
            results[position] = outcome
        return len(at)

    try:
        async for result in stream:
            if result.error is not None and fail_fast:
                raise result.error
            done += settle(result)
            if progress is not None:
                progress(done, total)
    except RunStoppedError as stop:
        if fail_fast:
            raise stop.cause from stop
        for result in stop.results:
            settle(result)
        stop.results = results
        stop.not_tried = tuple(
            given[i] for i, key in enumerate(unique) if results[positions[key][0]] is None
        )
        raise
    finally:
        await stream.aclose()
    return results  # type: ignore[return-value]  # every position is filled
