"""The server's recordings and transcriptions: derived from its calls, generated on demand.

Call ``i`` of a `Dataset` has recording ``i``: its id is ``prefix | i`` (a seed-derived
prefix of its own, as call ids), its ``createdAt`` the call's, so a time window over
recordings is the calls' index range and newest first is descending index order. A
recording of an ongoing call is the call's (``.../calls/{callId}/recordings``), not yet
the workspace's: the workspace list leaves it out. Recording ``i`` has a transcription
when ``i`` is a multiple of ``RecordingsConfig.transcribed_every`` (id ``prefix' | i``,
``createdAt`` a second after the recording's).

Each recording's mp3 is the object ``recordings/<id>.mp3`` of the object store, sized
by ``RecordingsConfig.size`` or by the call's duration; each transcription's files are
``transcriptions/<id>.{json,srt,vtt,txt}``, generated text (the JSON's shape is not
Bird's: the reference does not document it).

Imports: msgspec, the server's own modules and the standard library.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any

import msgspec

from asyncsdk.server._dataset import INDEX_MASK, CallIds, Dataset, id_prefix
from asyncsdk.server._media import ObjectSource
from asyncsdk.server._mediaconfig import MIN_RECORDING_SIZE, RecordingsConfig
from asyncsdk.server._templates import Facts, format_ms

__all__ = [
    "ACTIVE_CALL_STATUS",
    "RECORDING_ORIGINS",
    "TRANSCRIPT_FORMATS",
    "ZERO_TIME",
    "RecordingSet",
]

#: The call status whose recording is the call's, not yet the workspace's.
ACTIVE_CALL_STATUS = "ongoing"
#: ``origin`` values the server draws from; the last is one the API may add later.
RECORDING_ORIGINS = (
    "call-command-record",
    "call-command-record-call",
    "create-call",
    "bridge-call",
    "ai-agent-record",
)
#: A transcript's formats and their content types.
TRANSCRIPT_FORMATS = {
    "json": "application/json",
    "srt": "application/x-subrip",
    "vtt": "text/vtt",
    "txt": "text/plain; charset=utf-8",
}
#: The zero time the reference's example shows for a time not set.
ZERO_TIME = "0001-01-01T00:00:00Z"
#: Statuses of a recording (and its transcription) that is not available; the last is
#: one the API may add later.
_UNAVAILABLE = ("failed", "absent", "archived")
_LOCALES = ("en-GB", "en-US", "nl-NL", "de-DE", "fr-FR")
_LINES = (
    ("agent", "Good morning, thank you for calling. How can I help?"),
    ("caller", "Hi, I am calling about my order from last week."),
    ("agent", "Of course. Could you give me the order number?"),
    ("caller", "It is four seven one, two two nine."),
    ("agent", "Thank you. I see it was shipped yesterday and arrives on Friday."),
    ("caller", "Great, that is all I needed. Thanks!"),
)
_SUMMARIES = (
    "The caller asked about an order; it arrives on Friday.",
    "A delivery question, answered on the first call.",
    "The caller confirmed an appointment.",
)
_MASK64 = (1 << 64) - 1
_SPREAD = 0x9E3779B97F4A7C15


def _mix(index: int, salt: int) -> int:
    """A well-spread 32-bit number from ``index`` (the same in every process)."""
    return (((index + salt) * _SPREAD) & _MASK64) >> 32


def _origin(index: int) -> str:
    """One recording in 50 has the origin the API may add later; the rest a known one."""
    draw = _mix(index, 3) % 50
    return RECORDING_ORIGINS[-1] if draw == 0 else RECORDING_ORIGINS[draw % 4]


def _stamp(ms: int) -> str:
    return format_ms(ms).decode() + "Z"


def _party(number: str | None) -> dict[str, Any] | None:
    if number is None:
        return None
    return {"number": {"type": "pstn", "number": number, "anonymous": False}}


class RecordingSet:
    """The recordings and transcriptions of one dataset's calls.

    Args:
        dataset: The calls recorded.
        config: Sizes, transcriptions, availability.

    Attributes:
        dataset: The calls recorded.
        config: Sizes, transcriptions, availability.
        ids: Every recording id, in index order (those of ongoing calls included): a
            lazy sequence, as `Dataset.call_ids`.
        transcription_ids: Every transcription id, in index order.
    """

    def __init__(self, dataset: Dataset, config: RecordingsConfig) -> None:
        self.dataset = dataset
        self.config = config
        rng = random.Random(f"asyncsdk.server.recordings:{dataset.seed}")
        self._prefix = id_prefix(rng)
        self._transcription_prefix = id_prefix(rng)
        self.ids = CallIds(self._prefix, range(dataset.size))
        self.transcription_ids = CallIds(
            self._transcription_prefix, range(0, dataset.size, config.transcribed_every)
        )

    # --- identity ---------------------------------------------------------------------

    def _index(self, value: uuid.UUID | str, prefix: int) -> int | None:
        try:
            number = value.int if isinstance(value, uuid.UUID) else uuid.UUID(value).int
        except ValueError:
            return None
        index = number & INDEX_MASK
        if number & ~INDEX_MASK != prefix or index >= self.dataset.size:
            return None
        return index

    def index(self, recording_id: uuid.UUID | str) -> int | None:
        """Return the index of a recording id, or ``None`` if it is not one."""
        return self._index(recording_id, self._prefix)

    def transcription_index(self, transcription_id: uuid.UUID | str) -> int | None:
        """Return the index of a transcription's recording, or ``None`` if there is none."""
        index = self._index(transcription_id, self._transcription_prefix)
        return index if index is not None and self.transcribed(index) else None

    def recording_id(self, index: int) -> uuid.UUID:
        """Return recording ``index``'s id."""
        return uuid.UUID(int=self._prefix | index)

    def transcription_id(self, index: int) -> uuid.UUID:
        """Return the id of recording ``index``'s transcription (whether it has one or not)."""
        return uuid.UUID(int=self._transcription_prefix | index)

    def listed(
        self, start: dt.datetime | None = None, end: dt.datetime | None = None
    ) -> list[uuid.UUID]:
        """Return the ids the workspace lists created in ``[start, end)``, oldest first.

        Those of ongoing calls are left out. ``None`` leaves a bound open. With the
        default ``ServerConfig`` (microsecond precision, ``[startAt, endAt)``) this is
        what a listing of that window returns, for tests to compare with.
        """
        window = self.dataset.timeline.indices(start, end)
        return [self.recording_id(i) for i in window if not self.active(i)]

    # --- facts ------------------------------------------------------------------------

    def facts(self, index: int) -> Facts:
        """Return what the filters compare for recording ``index`` (its call's facts)."""
        return self.dataset.template_at(index).facts

    def active(self, index: int) -> bool:
        """Whether recording ``index``'s call is ongoing (its recording is the call's)."""
        return self.facts(index).status == ACTIVE_CALL_STATUS

    def available(self, index: int) -> bool:
        """Whether recording ``index`` (and its transcription) has media to download."""
        every = self.config.unavailable_every
        return not (every and index % every == every - 1) and not self.active(index)

    def transcribed(self, index: int) -> bool:
        """Whether recording ``index`` has a transcription."""
        return index % self.config.transcribed_every == 0

    def status(self, index: int) -> str:
        """Return recording ``index``'s status."""
        if self.active(index):
            return "ongoing"
        if self.available(index):
            return "available"
        return _UNAVAILABLE[_mix(index, 1) % len(_UNAVAILABLE)]

    def size(self, index: int) -> int:
        """Return the bytes of recording ``index``'s mp3."""
        if self.config.sizes:
            return self.config.sizes[index % len(self.config.sizes)]
        if self.config.size is not None:
            return self.config.size
        duration = self.facts(index).duration or 0
        return max(MIN_RECORDING_SIZE, duration * self.config.bytes_per_second)

    # --- bodies -----------------------------------------------------------------------

    def _common(self, index: int) -> dict[str, Any]:
        created = self.dataset.timeline.created_ms(index)
        duration = self.facts(index).duration or 0
        ended = ZERO_TIME if _mix(index, 2) % 8 == 0 else _stamp(created + duration * 1000)
        return {
            "id": str(self.recording_id(index)),
            "channelId": str(self.dataset.channel_id),
            "status": self.status(index),
            "origin": _origin(index),
            "duration": duration,
            "stereo": _mix(index, 4) % 4 == 0,
            "createdAt": _stamp(created),
            "updatedAt": _stamp(created + (duration + 3) * 1000),
            "startedAt": _stamp(created),
            "endedAt": ZERO_TIME if self.active(index) else ended,
        }

    def recording(self, index: int, url: str | None) -> bytes:
        """Return recording ``index``'s JSON (``url``: its presigned media URL, if any)."""
        facts = self.facts(index)
        body = self._common(index)
        body.update(
            {
                "sourceId": str(self.dataset.call_ids[index]),
                "source": "call",
                "direction": facts.direction,
                "originator": _party(facts.from_),
                "receiver": _party(facts.to),
                "transcription": self.transcribed(index),
                "format": "mp3",
                "url": url,
            }
        )
        return msgspec.json.encode({k: v for k, v in body.items() if v is not None})

    def call_recording(self, index: int) -> bytes:
        """Return recording ``index`` as the call-scoped endpoints show it."""
        body = self._common(index)
        body["callId"] = str(self.dataset.call_ids[index])
        body["endCause"] = None
        return msgspec.json.encode(body)

    def transcription(self, index: int, url: str | None) -> bytes:
        """Return the JSON of recording ``index``'s transcription (``url``: its JSON file)."""
        created = self.dataset.timeline.created_ms(index) + 1000
        available = self.available(index)
        body = {
            "id": str(self.transcription_id(index)),
            "recordingId": str(self.recording_id(index)),
            "status": "available" if available else self.status(index),
            "stereo": _mix(index, 4) % 4 == 0,
            "locale": _LOCALES[_mix(index, 5) % len(_LOCALES)],
            "url": url,
            "summary": _SUMMARIES[_mix(index, 6) % len(_SUMMARIES)] if available else None,
            "createdAt": _stamp(created),
            "updatedAt": _stamp(created + 20_000),
        }
        return msgspec.json.encode({k: v for k, v in body.items() if v is not None})

    # --- media ------------------------------------------------------------------------

    def media_key(self, recording: int | uuid.UUID | str, fmt: str = "mp3") -> str:
        """Return the object key of a recording's file (an mp3).

        Args:
            recording: The recording's index, or its id.
            fmt: The file's suffix.
        """
        if isinstance(recording, int):
            recording = self.recording_id(recording)
        return f"recordings/{uuid.UUID(str(recording))}.{fmt}"

    def transcript_key(self, transcription: int | uuid.UUID | str, fmt: str) -> str:
        """Return the object key of a transcript in ``fmt``.

        Args:
            transcription: The index of its recording, or the transcription's id.
            fmt: ``json``, ``srt``, ``vtt`` or ``txt``.
        """
        if isinstance(transcription, int):
            transcription = self.transcription_id(transcription)
        return f"transcriptions/{uuid.UUID(str(transcription))}.{fmt}"

    def resolve(self, key: str) -> ObjectSource | None:
        """Return what an object key holds (for the object store), or ``None``."""
        folder, _, name = key.partition("/")
        stem, _, fmt = name.rpartition(".")
        if folder == "recordings" and fmt == "mp3":
            index = self.index(stem)
            if index is not None and self.available(index):
                return ObjectSource(self.size(index), "audio/mpeg")
        elif folder == "transcriptions" and fmt in TRANSCRIPT_FORMATS:
            index = self.transcription_index(stem)
            if index is not None and self.available(index):
                text = transcript(index, fmt, _LOCALES[_mix(index, 5) % len(_LOCALES)])
                return ObjectSource(len(text), TRANSCRIPT_FORMATS[fmt], text)
        return None


def _clock(seconds: float, separator: str) -> str:
    whole = int(seconds)
    millis = round((seconds - whole) * 1000)
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}{separator}{millis:03d}"


def transcript(index: int, fmt: str, locale: str) -> bytes:
    """Return transcript ``index`` in ``fmt`` (``json``, ``srt``, ``vtt`` or ``txt``)."""
    lines = _LINES[: 3 + _mix(index, 7) % (len(_LINES) - 2)]
    cues = [(n * 4.5, n * 4.5 + 4.0, speaker, text) for n, (speaker, text) in enumerate(lines)]
    if fmt == "json":
        segments = [
            {"speaker": speaker, "start": start, "end": end, "text": text}
            for start, end, speaker, text in cues
        ]
        return msgspec.json.encode({"locale": locale, "segments": segments})
    if fmt == "txt":
        return "".join(f"{speaker}: {text}\n" for _, _, speaker, text in cues).encode()
    separator = "," if fmt == "srt" else "."
    blocks = [
        f"{n}\n{_clock(start, separator)} --> {_clock(end, separator)}\n{speaker}: {text}\n"
        for n, (start, end, speaker, text) in enumerate(cues, 1)
    ]
    head = "WEBVTT\n\n" if fmt == "vtt" else ""
    return (head + "\n".join(blocks)).encode()
