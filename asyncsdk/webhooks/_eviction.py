"""A warning when the stream's Redis may evict: the sink's promises need ``noeviction``.

`RedisStreamSink` answers 2xx once Redis holds the event and remembers the delivery's
dedupe keys for their ttl. A Redis whose ``maxmemory-policy`` evicts breaks both
silently: ``allkeys-*`` may drop the stream itself (events acknowledged to Bird, lost),
``volatile-*`` the dedupe keys before their ttl (Bird's retry appended a second time).
The sink asks Redis its policy once, after its first append, and logs a warning on the
``asyncsdk`` logger if it evicts. A Redis that refuses ``CONFIG GET`` (managed services
often do) is not asked again, and nothing is said: the policy is then the operator's to
check.

Imports: the standard library.
"""

from __future__ import annotations

import logging
from typing import Any, Final

__all__ = ["evicting_policy", "warn_if_evicting"]

logger: Final = logging.getLogger("asyncsdk")


def evicting_policy(answer: Any) -> str | None:
    """Return the policy in a ``CONFIG GET maxmemory-policy`` answer if it may evict keys."""
    if not isinstance(answer, dict):
        return None
    policy = answer.get("maxmemory-policy", answer.get(b"maxmemory-policy"))
    if isinstance(policy, bytes):
        policy = policy.decode(errors="replace")
    if not isinstance(policy, str) or not policy or policy == "noeviction":
        return None
    return policy


async def warn_if_evicting(redis: Any, stream: str) -> str | None:
    """Warn, once per call, if ``redis`` may evict; return the evicting policy, if any.

    Any failure to ask (``CONFIG`` refused, Redis gone meanwhile) says nothing.
    """
    try:
        answer = await redis.config_get("maxmemory-policy")
    except Exception:  # a check, not a delivery: it never fails one
        return None
    policy = evicting_policy(answer)
    if policy is not None:
        logger.warning(
            "stream %s: Redis' maxmemory-policy is %s: under memory pressure it may evict "
            "the stream (events already acknowledged to Bird) or the dedupe keys (Bird's "
            "retries appended twice); set maxmemory-policy noeviction",
            stream,
            policy,
        )
    return policy
