"""`ScriptBatcher`: many concurrent calls of one Redis script, sent together.

A receiver handles its deliveries concurrently; each wants one script call. Sent one
by one, every call costs a round trip and redis-py's per-command work. The batcher is
a group commit: calls made while a batch is on the wire wait for the next one, so the
cost per call falls as load rises, and an idle receiver still sends a lone call at once.

A batch goes out as one ``EVALSHA`` of a script written to take many calls at once (as
the stream sink's append is), described by a `Merge`: ``merge.pack`` joins the calls'
keys and arguments, the script answers them all, and ``merge.split`` cuts its answer
back into one per call. redis-py packing a command and parsing its answer cost more
than Redis running it, so this is what a busy receiver's CPU per event is made of: a
pipeline of one ``EVALSHA`` per call, which this replaced, cost more per call than the
merged call, and the batch is atomic as a whole. redis-py's ``Script`` reloads a
script Redis lost.

Each caller gets its own part of the script's answer, or the error of the whole batch
(the connection failed, or the script failed: none of them is known to be stored).
A caller that is cancelled (a hand-off that timed out) leaves its call in the batch:
it may still be stored, as a call cut off on the wire may be.

redis-py offers pipelines but no batching of independent callers; this is that layer.

Imports: the standard library.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["MAX_BATCH", "Merge", "ScriptBatcher"]

#: Calls sent in one batch at most.
MAX_BATCH: Final = 256

logger: Final = logging.getLogger("asyncsdk")

_Call = tuple[Sequence[Any], Sequence[Any], "asyncio.Future[Any]"]


@dataclass(frozen=True, slots=True)
class Merge:
    """How many calls of a script become one, for a script that takes a batch.

    Attributes:
        pack: ``pack(calls)``: the keys and arguments of one call standing for
            ``calls`` (each a pair: keys, arguments), in order.
        split: ``split(answer, count)``: that call's answer cut into the answer of each
            of the ``count`` calls, in order; raises `ValueError` if it cannot.
    """

    pack: Callable[[list[tuple[Sequence[Any], Sequence[Any]]]], tuple[list[Any], list[Any]]]
    split: Callable[[Any, int], list[Any]]


class ScriptBatcher:
    """Send the calls of one script made meanwhile as one call of it, in turn.

    Args:
        script: The script (``redis.register_script(...)``), taking a whole batch.
        merge: How a batch of calls becomes one call of ``script``, and its answer one
            per call.
        max_batch: Calls per batch at most.
        name: What the calls are, for the warning `aclose` logs when it abandons some.
    """

    def __init__(
        self,
        script: Any,
        merge: Merge,
        max_batch: int = MAX_BATCH,
        *,
        name: str = "script calls",
    ) -> None:
        self._name = name
        self._merge = merge
        self._script = script
        self._max = max_batch
        self._waiting: list[_Call] = []
        self._on_the_wire: list[_Call] = []
        self._sender: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def pending(self) -> int:
        """Calls not answered yet: on the wire, and waiting for the next batch."""
        calls = self._on_the_wire + self._waiting
        return sum(1 for _, _, future in calls if not future.done())

    async def __call__(self, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """Run the script with ``keys`` and ``args`` in the next batch; return its answer.

        Raises:
            ConnectionError: `aclose` was called: nothing is sent (a call then would
                start a sender nobody waits for, on a client that may be closed).
        """
        if self._closed:
            raise ConnectionError(f"{self._name}: closed (aclose was called), nothing sent")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append((keys, args, future))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send(), name="asyncsdk-stream: appending")
        return await future

    async def _send(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[: self._max], self._waiting[self._max :]
            self._on_the_wire = batch
            try:
                answers = await self._send_one(batch)
            except asyncio.CancelledError:
                _fail(batch, ConnectionError("the Redis batch was cancelled"))
                raise
            except Exception as exc:  # the connection failed: none of them is known stored
                _fail(batch, exc)
                continue
            for (_, _, future), answer in zip(batch, answers, strict=True):
                if not future.done():  # else its caller gave up
                    future.set_result(answer)

    async def _send_one(self, batch: list[_Call]) -> list[Any]:
        """Send ``batch`` as one call; return each call's answer, in order."""
        all_keys, all_args = self._merge.pack([(keys, args) for keys, args, _ in batch])
        answer = await self._script(keys=all_keys, args=all_args)
        try:
            answers = self._merge.split(answer, len(batch))
        except ValueError as exc:  # not the answer the script gives: nothing is known
            raise ConnectionError(f"{self._name}: unexpected answer: {exc}") from None
        if len(answers) != len(batch):  # a caller left without its answer would wait forever
            raise ConnectionError(
                f"{self._name}: unexpected answer: {len(answers)} answers to {len(batch)} calls"
            )
        return answers

    async def aclose(self, within: float | None = None) -> int:
        """Wait up to ``within`` seconds for the batch on the wire and those waiting.

        ``None`` waits as long as the client's own timeouts let it; a client without
        ``socket_timeout`` waits for a silent Redis forever. Past ``within`` the sending
        is cancelled, and the calls not answered fail with `ConnectionError` (not known
        to be stored), and a warning counts them.

        Returns:
            How many calls were not answered in time (0: every one was). Calls made
            once it began are refused (`ConnectionError`), never sent.
        """
        self._closed = True
        sender = self._sender
        if sender is None or sender.done():
            return 0
        done, _ = await asyncio.wait({sender}, timeout=within)
        if done:
            return 0
        abandoned = self.pending
        sender.cancel()
        await asyncio.wait({sender}, timeout=within)  # its batch fails as it unwinds
        unanswered, self._waiting = self._on_the_wire + self._waiting, []
        _fail(unanswered, ConnectionError("the Redis batcher was closed before an answer"))
        logger.warning(
            "%s: Redis did not answer %d call(s) within %.1f s of closing; abandoned, "
            "not known to be stored",
            self._name,
            abandoned,
            within,
        )
        return abandoned


def _fail(batch: list[_Call], error: BaseException) -> None:
    for _, _, future in batch:
        if not future.done():
            future.set_exception(error)
