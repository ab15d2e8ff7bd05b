"""Configuration of the server's recordings and its object store: `RecordingsConfig`, `MediaFaults`.

Frozen, validated value objects. ``ServerConfig(recordings=RecordingsConfig(...))``
chooses how the recordings and transcriptions endpoints answer where Bird's reference is
silent, how large the media files are, and how the object store behind the 307 behaves
(latency, a bandwidth cap, seeded faults); ``recordings=None`` turns the endpoints and
the object store off.

Imports: the standard library only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "DEFAULT_BYTES_PER_SECOND",
    "DEFAULT_TRICKLE_RATE",
    "DEFAULT_URL_TTL",
    "MEDIA_FAULT_KINDS",
    "MIN_RECORDING_SIZE",
    "EndedCallRecordings",
    "MediaFaults",
    "MetadataRedirect",
    "RecordingsConfig",
]

#: Seconds a presigned URL stays valid (Bird's example: ``X-Amz-Expires=600``).
DEFAULT_URL_TTL: int = 600
#: Bytes of mp3 per second of call when sizes follow durations (32 kbit/s mono).
DEFAULT_BYTES_PER_SECOND: int = 4000
#: Smallest recording, in bytes, whatever the call's duration.
MIN_RECORDING_SIZE: int = 1024
#: Bytes per second of a trickled answer.
DEFAULT_TRICKLE_RATE: int = 64 * 1024
#: The largest object the store serves: 64 GiB.
MAX_OBJECT_SIZE: int = 1 << 36
#: Names of the object store's faults (the probabilities of `MediaFaults`).
MEDIA_FAULT_KINDS: tuple[str, ...] = ("expired", "reset", "trickle", "replace")

#: When ``GET .../recordings/{id}`` (and ``.../transcriptions/{id}``) answers 307 instead
#: of the metadata: when the ``Accept`` header cannot take JSON, never, or always.
MetadataRedirect = Literal["accept", "never", "always"]
#: What the call-scoped recordings list answers for a call that is not active: an
#: empty page, or 404.
EndedCallRecordings = Literal["empty", "not_found"]

_REDIRECTS = frozenset(("accept", "never", "always"))
_ENDED = frozenset(("empty", "not_found"))


def _probability(name: str, value: object) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not (ok and 0.0 <= value <= 1.0):  # type: ignore[operator]
        raise ValueError(f"{name} must be a probability between 0.0 and 1.0, got {value!r}")


def _count(name: str, value: object, *, least: int, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{name} must be an integer of {least} or more, got {value!r}")


def _seconds(name: str, value: object) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not (ok and math.isfinite(value) and value >= 0):  # type: ignore[arg-type,operator]
        raise ValueError(f"{name} must be a finite number of seconds, 0 or more; got {value!r}")


@dataclass(frozen=True, slots=True)
class MediaFaults:
    """Seeded faults of the object store, each a probability in ``[0.0, 1.0]`` (default 0).

    Drawn from the server's seed, in arrival order: the same seed and the same sequence
    of requests give the same faults.

    Attributes:
        expired: Share of the presigned URLs Bird's 307 hands out already expired: the
            object store answers them 403 with S3's XML ``AccessDenied`` body
            ("Request has expired").
        reset: Share of the object store's answers with a body that are cut: after
            ``cut_after`` bytes (or a seeded point in the body), the connection is
            aborted.
        trickle: Share of the answers sent slowly, at ``trickle_rate`` bytes per second.
        replace: Share of the answers during which the object is replaced: cut as a
            reset is, and the object gets new bytes and a new ETag, so that a resumed
            download that checks its ETag must start again.
        cut_after: Bytes of the body sent before a ``reset`` or ``replace`` cuts it;
            ``None`` draws a point in the body (never all of it).
        trickle_rate: Bytes per second of a trickled answer.
    """

    expired: float = 0.0
    reset: float = 0.0
    trickle: float = 0.0
    replace: float = 0.0
    cut_after: int | None = None
    trickle_rate: int = DEFAULT_TRICKLE_RATE

    def __post_init__(self) -> None:
        for name in MEDIA_FAULT_KINDS:
            _probability(name, getattr(self, name))
        _count("cut_after", self.cut_after, least=0, optional=True)
        _count("trickle_rate", self.trickle_rate, least=1)


@dataclass(frozen=True, slots=True)
class RecordingsConfig:
    """How the server serves recordings, transcriptions and their media.

    Every call of the dataset has one recording (same index, same ``createdAt``), and
    every ``transcribed_every``-th recording a transcription.

    Attributes:
        size: Bytes of every recording's mp3; ``None`` sizes each by its call's
            duration (``bytes_per_second`` per second, at least `MIN_RECORDING_SIZE`).
        sizes: Bytes of the mp3s, cycled over the recordings by index (recording ``i``
            has ``sizes[i % len(sizes)]``): several sizes in one server. Takes the
            place of ``size`` when given.
        bytes_per_second: Bytes per second of call, when ``size`` is ``None``.
        transcribed_every: Recording ``i`` has a transcription when ``i`` is a multiple
            of this (1: all of them).
        unavailable_every: Recording ``i`` (and its transcription) is not ``available``
            (status ``failed``, ``absent``, or a value the API may add later) when
            ``i % unavailable_every == unavailable_every - 1``; its media answers 404.
            ``0``: every recording is available.
        metadata_redirect: When ``GET .../recordings/{id}`` answers 307 to the media
            instead of the metadata: ``"accept"`` when the request's ``Accept`` header
            cannot take ``application/json`` (an absent header can), ``"never"``, or
            ``"always"``. The same holds for ``.../transcriptions/{id}`` (to its JSON).
        ended_call_recordings: The call-scoped list for a call that is not ongoing:
            ``"empty"`` answers an empty page, ``"not_found"`` answers 404.
        url_ttl: Seconds a presigned URL is valid (``X-Amz-Expires``).
        latency: Seconds the object store waits before answering each request.
        bandwidth: Bytes per second the object store sends at most, over all its
            answers together; ``None`` for no cap.
        faults: The object store's seeded faults.
        store_port: Port of the object store; 0 picks a free one.
    """

    size: int | None = None
    sizes: tuple[int, ...] = ()
    bytes_per_second: int = DEFAULT_BYTES_PER_SECOND
    transcribed_every: int = 1
    unavailable_every: int = 0
    metadata_redirect: MetadataRedirect = "accept"
    ended_call_recordings: EndedCallRecordings = "empty"
    url_ttl: int = DEFAULT_URL_TTL
    latency: float = 0.0
    bandwidth: int | None = None
    faults: MediaFaults = field(default_factory=MediaFaults)
    store_port: int = 0

    def __post_init__(self) -> None:
        sizes: object = self.sizes
        if isinstance(sizes, str) or not isinstance(sizes, tuple | list):
            raise ValueError(f"sizes must be a tuple of byte counts, got {self.sizes!r}")
        object.__setattr__(self, "sizes", tuple(self.sizes))
        for name, value in (("size", self.size), *(("sizes", v) for v in self.sizes)):
            _count(name, value, least=0, optional=name == "size")
            if value is not None and value > MAX_OBJECT_SIZE:
                raise ValueError(f"{name} must be at most {MAX_OBJECT_SIZE} bytes, got {value}")
        _count("bytes_per_second", self.bytes_per_second, least=1)
        _count("transcribed_every", self.transcribed_every, least=1)
        _count("unavailable_every", self.unavailable_every, least=0)
        if self.unavailable_every == 1:
            raise ValueError("unavailable_every must be 0 (none) or 2 or more")
        if self.metadata_redirect not in _REDIRECTS:
            raise ValueError(
                f"metadata_redirect must be one of {sorted(_REDIRECTS)}, "
                f"got {self.metadata_redirect!r}"
            )
        if self.ended_call_recordings not in _ENDED:
            raise ValueError(
                f"ended_call_recordings must be one of {sorted(_ENDED)}, "
                f"got {self.ended_call_recordings!r}"
            )
        _count("url_ttl", self.url_ttl, least=1)
        _seconds("latency", self.latency)
        _count("bandwidth", self.bandwidth, least=1, optional=True)
        if not isinstance(self.faults, MediaFaults):
            raise ValueError(f"faults must be a MediaFaults instance, got {self.faults!r}")
        _count("store_port", self.store_port, least=0)
