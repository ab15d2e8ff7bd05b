"""The fleet's settings, read from the environment by the producer and every worker.

| variable | meaning | default |
| --- | --- | --- |
| ``FLEET_REDIS_URL`` | the Redis of the job queue and the limit | ``redis://127.0.0.1:6379/0`` |
| ``FLEET_OUT_DIR`` | directory of the per-chunk JSON Lines files | ``fleet-out`` |
| ``FLEET_RATE`` | requests/s for the whole fleet (the account's quota) | ``100`` |
| ``FLEET_BURST`` | requests the fleet may send back to back | ``1`` |
| ``FLEET_FALLBACK_SHARE`` | share of the rate one worker uses while Redis is down | ``0.25`` |
| ``FLEET_CONCURRENCY`` | requests in flight per job | ``16`` |
| ``FLEET_SHARDS`` | shards (pages in flight) per window job | ``4`` |
| ``FLEET_MAX_JOBS`` | jobs one worker runs at once | ``4`` |
| ``FLEET_JOB_TIMEOUT`` | seconds before arq cancels a job (it is then retried) | ``600`` |
| ``FLEET_LIMIT_KEY`` | name of the shared limit | a hash of ``BIRD_ACCESS_KEY`` |

The Bird credential and API root come from ``BIRD_ACCESS_KEY`` and ``BIRD_BASE_URL``,
which `asyncsdk.Client` reads itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

#: The arq queue of this example's jobs (not arq's default, so it shares Redis politely).
QUEUE_NAME = "asyncsdk:fleet:queue"


@dataclass(frozen=True, slots=True)
class FleetSettings:
    redis_url: str = "redis://127.0.0.1:6379/0"
    out_dir: Path = Path("fleet-out")
    rate: float = 100.0
    burst: int = 1
    fallback_share: float = 0.25
    concurrency: int = 16
    shards: int = 4
    max_jobs: int = 4
    job_timeout: float = 600.0
    limit_key: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> FleetSettings:
        d = cls()
        return cls(
            redis_url=env.get("FLEET_REDIS_URL", d.redis_url),
            out_dir=Path(env.get("FLEET_OUT_DIR", str(d.out_dir))),
            rate=float(env.get("FLEET_RATE", d.rate)),
            burst=int(env.get("FLEET_BURST", d.burst)),
            fallback_share=float(env.get("FLEET_FALLBACK_SHARE", d.fallback_share)),
            concurrency=int(env.get("FLEET_CONCURRENCY", d.concurrency)),
            shards=int(env.get("FLEET_SHARDS", d.shards)),
            max_jobs=int(env.get("FLEET_MAX_JOBS", d.max_jobs)),
            job_timeout=float(env.get("FLEET_JOB_TIMEOUT", d.job_timeout)),
            limit_key=env.get("FLEET_LIMIT_KEY") or None,
        )
