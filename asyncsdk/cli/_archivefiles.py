"""The archive's files on disk: its manifest, a recording's sidecar, small files written atomically.

`asyncsdk recordings` (`asyncsdk.cli._recordings`) writes, for each recording, its
sidecar and transcripts through `write_atomic` (a temporary file, fsynced, renamed), and
then its line in the manifest (`Manifest`: appended, flushed, fsynced), so the manifest
never names a file that is not whole on disk.

Imports: msgspec, the SDK's public API (and `asyncsdk.models.redact_url`) and the
standard library.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

import asyncsdk
from asyncsdk.models import redact_url

__all__ = ["Manifest", "sidecar", "write_atomic"]

_ENCODER = msgspec.json.Encoder()


class Manifest:
    """The archive's record: one line per recording, written after its files, fsynced."""

    def __init__(self, path: Path) -> None:
        self._file: BinaryIO = path.open("ab")
        self._lock = asyncio.Lock()

    async def add(self, record: dict[str, Any]) -> None:
        async with self._lock:
            self._file.write(_ENCODER.encode(record) + b"\n")
            self._file.flush()
            await asyncio.to_thread(os.fsync, self._file.fileno())

    def close(self) -> None:
        self._file.close()


def sidecar(recording: asyncsdk.Recording) -> bytes:
    """Return the ``<id>.meta.json`` of ``recording``: its JSON, no credential kept.

    The presigned ``url`` is left out (it expires within minutes, and opens the media
    while it lives). ``room_info_url`` is kept as `asyncsdk.models.redact_url` shows it:
    a plain URL whole, one with a query, a fragment or user information without them
    (a signature there would expire too, and is a credential while it lives).
    """
    room = recording.room_info_url
    kept = msgspec.structs.replace(
        recording, url=None, room_info_url=redact_url(room) if room else room
    )
    return _ENCODER.encode(kept)


def write_atomic(path: Path, data: bytes) -> str:
    """Write ``data`` to ``path`` through a temporary file, fsynced; return its SHA-256."""
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    return hashlib.sha256(data).hexdigest()
