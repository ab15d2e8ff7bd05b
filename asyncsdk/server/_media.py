"""The object store's objects: deterministic bodies of any size, their ETags and digests.

An object is a key (``recordings/<id>.mp3``), a size, a content type and a version. Its
body is either literal (a transcript, generated in full: a few kilobytes) or a window
of a seeded 1 MiB `Pattern`, starting at an offset derived from the key and version:
a 1 GB recording is then served as slices of one precomputed block, never held in
memory, at loopback speed. Replacing an object (`ObjectCatalog.replace`) bumps its
version: new bytes, new ETag. `ObjectCatalog.sha256` digests a body on first request
and caches it (a gigabyte takes about a second).

No library generates large deterministic bodies lazily with byte-range access; this
is a block and modular arithmetic.

Imports: the standard library only.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = [
    "BLOCK_SIZE",
    "ObjectCatalog",
    "ObjectSource",
    "Pattern",
    "Resolver",
    "StoredObject",
]

#: Bytes of the seeded block every generated body is sliced from.
BLOCK_SIZE = 1 << 20
_DIGEST_CHUNK = BLOCK_SIZE


class Pattern:
    """A seeded block of `BLOCK_SIZE` random bytes, held twice so any slice is contiguous.

    Args:
        seed: Seed of the block.
    """

    __slots__ = ("_doubled",)

    def __init__(self, seed: int) -> None:
        block = random.Random(f"asyncsdk.server.media:{seed}").randbytes(BLOCK_SIZE)
        self._doubled = memoryview(block + block)

    def chunks(self, offset: int, start: int, end: int, chunk: int) -> Iterator[memoryview]:
        """Yield bytes ``start .. end - 1`` of the body that begins ``offset`` into the block.

        Args:
            offset: Where in the block byte 0 of the body is (``0 <= offset < BLOCK_SIZE``).
            start: The first byte to yield.
            end: One past the last byte to yield.
            chunk: Most bytes per slice (at most `BLOCK_SIZE`).
        """
        chunk = min(chunk, BLOCK_SIZE)
        doubled = self._doubled
        position = start
        while position < end:
            at = (offset + position) % BLOCK_SIZE
            size = min(chunk, end - position)
            yield doubled[at : at + size]
            position += size


@dataclass(frozen=True, slots=True)
class ObjectSource:
    """What a key holds before any replacement: its size, type, and a literal body if any.

    Attributes:
        size: Bytes (the literal body's length, if there is one).
        content_type: ``Content-Type`` of the object.
        body: The bytes, for a small literal object; ``None`` for a generated body.
    """

    size: int
    content_type: str
    body: bytes | None = None


@dataclass(frozen=True, slots=True)
class StoredObject:
    """One version of one object.

    Attributes:
        key: The object's key (its path in the store, without the leading slash).
        size: Bytes.
        content_type: ``Content-Type``.
        version: 0, then 1 more per replacement.
        etag: The strong ETag, quoted (``"<32 hex digits>"``).
        offset: Where in the `Pattern` a generated body begins.
        body: The literal body, or ``None`` for a generated one.
    """

    key: str
    size: int
    content_type: str
    version: int
    etag: str
    offset: int
    body: bytes | None


#: Finds what a key holds (``None``: no such key).
Resolver = Callable[[str], ObjectSource | None]


class ObjectCatalog:
    """The objects of one store: resolved on demand, replaced or resized by tests.

    Args:
        seed: Seed of the bodies and ETags.
        resolve: Returns what a key holds before any replacement, or ``None``.
    """

    def __init__(self, seed: int, resolve: Resolver) -> None:
        self._seed = seed
        self._resolve = resolve
        self.pattern = Pattern(seed)
        self._versions: dict[str, int] = {}
        self._sources: dict[str, ObjectSource] = {}
        self._digests: dict[tuple[str, int], str] = {}

    def get(self, key: str) -> StoredObject | None:
        """Return the current version of ``key``, or ``None`` if there is no such object."""
        source = self._sources.get(key) or self._resolve(key)
        if source is None:
            return None
        version = self._versions.get(key, 0)
        digest = hashlib.sha256(
            f"asyncsdk.server.object:{self._seed}:{key}:{version}:{source.size}".encode()
        ).digest()
        return StoredObject(
            key=key,
            size=source.size,
            content_type=source.content_type,
            version=version,
            etag=f'"{digest[:16].hex()}"',
            offset=int.from_bytes(digest[16:24], "big") % BLOCK_SIZE,
            body=source.body,
        )

    def replace(self, key: str, *, size: int | None = None) -> StoredObject:
        """Give ``key`` new bytes and a new ETag (and ``size`` bytes, if given).

        A literal body keeps its bytes (only its ETag changes) unless ``size`` is given,
        which makes it a generated body of that size.

        Raises:
            KeyError: There is no such object.
            ValueError: ``size`` is negative.
        """
        current = self.get(key)
        if current is None:
            raise KeyError(key)
        if size is not None:
            if isinstance(size, bool) or not isinstance(size, int) or size < 0:
                raise ValueError(f"size must be a whole number of bytes, got {size!r}")
            self._sources[key] = ObjectSource(size, current.content_type)
        self._versions[key] = current.version + 1
        replaced = self.get(key)
        assert replaced is not None
        return replaced

    def chunks(self, obj: StoredObject, start: int, end: int, chunk: int) -> Iterator[memoryview]:
        """Yield bytes ``start .. end - 1`` of ``obj``, at most ``chunk`` bytes at a time."""
        if obj.body is not None:
            view = memoryview(obj.body)
            for at in range(start, end, chunk):
                yield view[at : min(at + chunk, end)]
            return
        yield from self.pattern.chunks(obj.offset, start, end, chunk)

    def sha256(self, obj: StoredObject) -> str:
        """Return the hex SHA-256 of ``obj``'s body, computed once per version."""
        cache_key = (obj.key, obj.version)
        found = self._digests.get(cache_key)
        if found is None:
            digest = hashlib.sha256()
            for piece in self.chunks(obj, 0, obj.size, _DIGEST_CHUNK):
                digest.update(piece)
            found = self._digests[cache_key] = digest.hexdigest()
        return found
