"""`ConsumerGroup`: the Redis commands of one worker in a stream's consumer group.

Reads (new entries, the worker's own pending ones, entries claimed with
``XAUTOCLAIM``) with each entry's delivery count, acknowledgements, the failure
reasons kept per entry (a hash), and dead letters: one Lua script acknowledges the
entry and appends it, with the reason, to the dead-letter stream, and only the first
of two workers doing so at once appends it. Every key is in the stream's hash slot.
Errors are redis-py's: `StreamWorker` decides what to do about them.

Imports: redis and the standard library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = ["MAX_REASON", "ConsumerGroup", "Entries", "failure_reason"]

#: Longest reason kept in a dead letter, in characters.
MAX_REASON: Final = 500

#: Entries read: ``(entry id, fields or None when deleted, deliveries)``.
Entries = list[tuple[str, dict[bytes, bytes] | None, int]]

# KEYS[1]: stream; KEYS[2]: dead letters; KEYS[3]: failures hash.
# ARGV: group, entry id, reason, deliveries, consumer. Returns 1 if dead-lettered now.
_DEAD_LETTER: Final = """
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
local fields = {'stream', KEYS[1], 'group', ARGV[1], 'entry', ARGV[2], 'reason', ARGV[3],
                'deliveries', ARGV[4], 'consumer', ARGV[5]}
local found = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])
if found[1] then
  local f = found[1][2]
  for i = 1, #f, 2 do
    table.insert(fields, 'entry.' .. f[i])
    table.insert(fields, f[i + 1])
  end
end
redis.call('XADD', KEYS[2], '*', unpack(fields))
redis.call('HDEL', KEYS[3], ARGV[2])
return 1
"""


def failure_reason(error: BaseException) -> str:
    """Return the one-line reason kept for a failed entry (bounded; SDK errors hold no secrets)."""
    return f"{type(error).__name__}: {error}"[:MAX_REASON]


class ConsumerGroup:
    """One consumer's commands in a stream's group.

    Args:
        redis: The client.
        stream: The stream's key.
        group: The group's name.
        consumer: This consumer's name.
        dead_letters: The dead-letter stream's key.
    """

    def __init__(
        self, redis: aioredis.Redis, stream: str, group: str, consumer: str, dead_letters: str
    ) -> None:
        self.redis, self.stream, self.group, self.consumer = redis, stream, group, consumer
        self.dead_letters = dead_letters
        self.failures = f"{{{stream}}}:failures:{group}"
        self._dead_script = redis.register_script(_DEAD_LETTER)

    async def create(self) -> None:
        """Create the group from the stream's start (and the stream), unless it exists."""
        from redis.exceptions import ResponseError

        try:
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def read_new(self, count: int, block: float) -> Entries:
        """Read up to ``count`` new entries, waiting ``block`` seconds at most for one."""
        answer = await self.redis.xreadgroup(
            self.group, self.consumer, {self.stream: ">"}, count=count, block=int(block * 1000)
        )
        return [(i.decode(), f, 1) for _, found in answer or () for i, f in found]

    async def read_own(self, after: str, count: int) -> Entries:
        """Read this consumer's pending entries after ``after``, with their deliveries."""
        answer = await self.redis.xreadgroup(
            self.group, self.consumer, {self.stream: after}, count=count
        )
        return await self._with_deliveries(
            [(i.decode(), f) for _, entries in answer or () for i, f in entries]
        )

    async def claim(self, start: str, min_idle: float, count: int) -> tuple[str, Entries]:
        """Claim entries pending ``min_idle`` seconds from ``start``; return the next cursor."""
        answer = await self.redis.xautoclaim(
            self.stream, self.group, self.consumer, int(min_idle * 1000), start, count=count
        )
        found = [(i.decode(), f) for i, f in answer[1]]
        return answer[0].decode(), await self._with_deliveries(found)

    async def _with_deliveries(self, found: list[tuple[str, dict[bytes, bytes] | None]]) -> Entries:
        """Add each entry's delivery count (``XPENDING``, one round trip)."""
        if not found:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for entry_id, _ in found:
                pipe.xpending_range(self.stream, self.group, min=entry_id, max=entry_id, count=1)
            counts = await pipe.execute()
        return [
            (entry_id, fields, int(info[0]["times_delivered"]) if info else 1)
            for (entry_id, fields), info in zip(found, counts, strict=True)
        ]

    async def acknowledge(self, entry_ids: list[str]) -> None:
        """Acknowledge ``entry_ids`` and forget their failures, in one transaction."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(self.stream, self.group, *entry_ids)
            pipe.hdel(self.failures, *entry_ids)
            await pipe.execute()

    async def note_failure(self, entry_id: str, reason: str) -> None:
        """Keep why the entry's last attempt failed (for its dead letter, if it comes)."""
        await self.redis.hset(self.failures, entry_id, reason)  # type: ignore[misc]

    async def failure(self, entry_id: str) -> str | None:
        """Return why the entry's last attempt failed, if one did and said so."""
        reason = await self.redis.hget(self.failures, entry_id)  # type: ignore[misc]
        return reason.decode(errors="replace") if isinstance(reason, bytes) else None

    async def dead_letter(self, entry_id: str, reason: str, deliveries: int) -> bool:
        """Acknowledge the entry and append it to the dead letters; ``False`` if done before."""
        keys = [self.stream, self.dead_letters, self.failures]
        args: list[str | int] = [self.group, entry_id, reason, deliveries, self.consumer]
        return bool(await self._dead_script(keys, args) == 1)
