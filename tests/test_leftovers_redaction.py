"""A recording's ``room_info_url`` is redacted wherever the SDK shows it, and in the archive.

The API reference says only that ``roomInfoUrl`` is a string: it may be empty, a plain
URL, or one carrying a signature or a token (in its query, its fragment or its user
information). Each variant is checked in the model's ``repr`` (and rich's) and in the
sidecar ``asyncsdk recordings`` writes.
"""

from __future__ import annotations

import msgspec
import pytest

from asyncsdk import Recording
from asyncsdk.cli._archivefiles import sidecar

from ._support import fixture_bytes

SECRET = "tok3n-0f3a9c"
ROOM = "https://rooms.bird.example/rooms/6e5d4c3b"
#: (roomInfoUrl as sent, as shown and archived)
VARIANTS = [
    (None, None),
    ("", ""),
    (ROOM, ROOM),
    (f"{ROOM}?X-Amz-Signature={SECRET}&X-Amz-Expires=600", f"{ROOM}?[redacted]"),
    (f"{ROOM}?token={SECRET}", f"{ROOM}?[redacted]"),
    (f"{ROOM}#access_token={SECRET}", f"{ROOM}?[redacted]"),
    (f"https://user:{SECRET}@rooms.bird.example/rooms/6e5d4c3b", ROOM),
]


def _recording(room: str | None) -> Recording:
    base = Recording.from_json(fixture_bytes("recording_realistic.json"))
    return msgspec.structs.replace(base, room_info_url=room)


@pytest.mark.parametrize(("room", "shown"), VARIANTS)
def test_repr_redacts_the_room_info_url(room: str | None, shown: str | None) -> None:
    recording = _recording(room)
    assert recording.room_info_url == room  # the attribute is the URL as sent
    for text in (repr(recording), str(recording), repr([recording])):
        assert SECRET not in text and "X-Amz-Signature" not in text
        assert f"room_info_url={shown!r}" in text
    assert dict(recording.__rich_repr__())["room_info_url"] == shown


@pytest.mark.parametrize(("room", "kept"), VARIANTS)
def test_the_sidecar_keeps_no_signature(room: str | None, kept: str | None) -> None:
    recording = _recording(room)
    data = sidecar(recording)
    assert SECRET.encode() not in data and b"X-Amz-Signature" not in data
    meta = msgspec.json.decode(data)
    assert "url" not in meta  # the media URL expires: never archived
    assert meta.get("roomInfoUrl") == kept
    assert meta["id"] == str(recording.id) and meta["status"] == recording.status
