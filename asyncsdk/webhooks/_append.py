"""The stream sink's Lua script: a batch of deduplicated appends, and its arguments.

`RedisStreamSink` sends the appends of concurrent deliveries as one ``EVALSHA``
(`asyncsdk.webhooks._batching.ScriptBatcher` with `append_merge`). Per delivery, in
turn, the script does what `asyncsdk.webhooks._stream` describes: a remembered key
makes it a duplicate (the id of the entry already appended), a stream of ``maxlen``
entries or more refuses it, else it is appended (``XADD``, never trimming) and its keys
remembered for the ttl. A delivery sees the ones before it in the batch: two with one
key in a batch are appended once. The whole batch runs atomically.

One call per batch rather than a pipeline of one call per delivery: redis-py packing
each command and parsing each answer cost more CPU than Redis spent running them. A
call's arguments are few and already bytes: the script, not the caller, writes the
entry's field names and version.

Imports: the standard library and the webhooks' `_batching`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from asyncsdk.webhooks._batching import Merge

__all__ = ["APPEND", "append_merge", "split_answers"]

# KEYS[1]: the stream; KEYS[2..]: each delivery's dedupe keys, delivery after delivery.
# ARGV[1]: ttl in ms; ARGV[2]: maxlen (0: none); ARGV[3]: the entry version; then per
# delivery: how many dedupe keys it has, its event (JSON), its traceparent ('': none).
# Returns per delivery two items: 1, id appended; 0, id a duplicate of entry id;
# 2, length the stream is full.
APPEND: Final = """
local ttl, maxlen, version = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local out, k = {}, 2
for a = 4, #ARGV, 3 do
  local last = k + tonumber(ARGV[a]) - 1
  local seen = false
  for i = k, last do
    seen = redis.call('GET', KEYS[i])
    if seen then break end
  end
  local length = 0
  if not seen and maxlen > 0 then length = redis.call('XLEN', KEYS[1]) end
  if seen then
    out[#out + 1] = 0
    out[#out + 1] = seen
  elseif maxlen > 0 and length >= maxlen then
    out[#out + 1] = 2
    out[#out + 1] = tostring(length)
  else
    local id
    if ARGV[a + 2] == '' then
      id = redis.call('XADD', KEYS[1], '*', 'v', version, 'event', ARGV[a + 1])
    else
      id = redis.call('XADD', KEYS[1], '*', 'v', version, 'event', ARGV[a + 1],
                      'traceparent', ARGV[a + 2])
    end
    for i = k, last do redis.call('SET', KEYS[i], id, 'PX', ttl) end
    out[#out + 1] = 1
    out[#out + 1] = id
  end
  k = last + 1
end
return out
"""

_KEY_COUNTS: Final = (b"0", b"1", b"2")


def append_merge(stream: str, *, ttl_ms: int, maxlen: int, version: str) -> Merge:
    """Return how a batch of one sink's appends becomes one call of `APPEND`.

    Each append's keys are its dedupe keys (0 to 2) and its arguments
    ``(event_json, traceparent)`` (``b""``: none).
    """
    settings = (str(ttl_ms).encode(), str(maxlen).encode(), version.encode())

    def pack(calls: list[tuple[Sequence[Any], Sequence[Any]]]) -> tuple[list[Any], list[Any]]:
        keys: list[Any] = [stream]
        args: list[Any] = [*settings]
        for call_keys, (event, traceparent) in calls:
            keys += call_keys
            args += (_KEY_COUNTS[len(call_keys)], event, traceparent)
        return keys, args

    return Merge(pack=pack, split=split_answers)


def split_answers(answer: Any, count: int) -> list[Any]:
    """Cut `APPEND`'s answer into ``count`` pairs ``[outcome, detail]`` (a `Merge`'s ``split``).

    Raises:
        ValueError: The answer is not ``count`` pairs.
    """
    if not isinstance(answer, list) or len(answer) != 2 * count:
        raise ValueError(f"expected {count} outcomes, got {type(answer).__name__}")
    return [answer[i : i + 2] for i in range(0, 2 * count, 2)]
