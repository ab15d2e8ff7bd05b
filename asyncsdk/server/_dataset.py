"""The server's calls: a deterministic, lazily generated `Dataset`.

A dataset of ``size`` calls holds no call at all: call ``i`` has the id
``prefix | i`` (a seed-derived version-4 UUID whose last 48 bits are the index), so an
id maps back to its index in O(1), and its body is generated on demand from a
``random.Random`` seeded with ``(seed, i)``. A million-call dataset costs a few bytes.

Imports: `asyncsdk.models`, msgspec and the standard library.
"""

from __future__ import annotations

import functools
import random
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import overload

import msgspec

from asyncsdk.models import Call
from asyncsdk.server._callgen import generate_call

__all__ = ["DEFAULT_DATASET_SEED", "DEFAULT_DATASET_SIZE", "CallIds", "Dataset"]

#: Number of calls in a dataset built without arguments.
DEFAULT_DATASET_SIZE: int = 1000
#: Seed of a dataset built without arguments.
DEFAULT_DATASET_SEED: int = 0
#: Bits of a call id that hold its index; the rest is the dataset's prefix.
_INDEX_BITS = 48
_INDEX_MASK = (1 << _INDEX_BITS) - 1
#: Largest dataset: half the 48-bit index space, the other half is for `missing_call_id`.
MAX_DATASET_SIZE: int = 1 << (_INDEX_BITS - 1)
_SEED_MASK = (1 << 64) - 1
#: Bodies kept per dataset, most recently served first (about 1.5 KiB each).
BODY_CACHE_SIZE: int = 4096


def _random_uuid4(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


class CallIds(Sequence[uuid.UUID]):
    """The ids of a dataset's calls, computed on access: O(1) memory, any size.

    Supports ``len()``, indexing (negative too), slicing (another `CallIds`),
    iteration and an O(1) ``in``.
    """

    __slots__ = ("_indices", "_prefix")

    def __init__(self, prefix: int, indices: range) -> None:
        self._prefix = prefix
        self._indices = indices

    def __len__(self) -> int:
        return len(self._indices)

    @overload
    def __getitem__(self, index: int) -> uuid.UUID: ...

    @overload
    def __getitem__(self, index: slice) -> CallIds: ...

    def __getitem__(self, index: int | slice) -> uuid.UUID | CallIds:
        if isinstance(index, slice):
            return CallIds(self._prefix, self._indices[index])
        return uuid.UUID(int=self._prefix | self._indices[index])

    def __iter__(self) -> Iterator[uuid.UUID]:
        prefix = self._prefix
        for i in self._indices:
            yield uuid.UUID(int=prefix | i)

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, uuid.UUID):
            return False
        number = value.int
        return number & ~_INDEX_MASK == self._prefix and (number & _INDEX_MASK) in self._indices

    def __repr__(self) -> str:
        return f"<CallIds len={len(self)}>"


class Dataset:
    """A deterministic set of calls in one workspace and channel.

    The same ``size`` and ``seed`` always give the same ids and bodies, in any process.

    Args:
        size: Number of calls, from 0 to 2**47.
        seed: Seed of every id and body.

    Raises:
        ValueError: ``size`` or ``seed`` is out of range.
    """

    __slots__ = ("_body_at", "_call_ids", "_prefix", "_seed", "_size", "channel_id", "workspace_id")

    def __init__(self, size: int = DEFAULT_DATASET_SIZE, seed: int = DEFAULT_DATASET_SEED) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_DATASET_SIZE:
            raise ValueError(f"size must be an integer from 0 to 2**47, got {size!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        rng = random.Random(f"asyncsdk.server.Dataset:{seed}")
        self._size = size
        self._seed = seed
        #: The workspace every call is in.
        self.workspace_id: uuid.UUID = _random_uuid4(rng)
        #: The channel every call is in.
        self.channel_id: uuid.UUID = _random_uuid4(rng)
        self._prefix = _random_uuid4(rng).int & ~_INDEX_MASK
        self._call_ids = CallIds(self._prefix, range(size))
        self._body_at: Callable[[int], bytes] = functools.lru_cache(maxsize=BODY_CACHE_SIZE)(
            self._generate
        )

    @property
    def size(self) -> int:
        """Number of calls."""
        return self._size

    @property
    def seed(self) -> int:
        """Seed of every id and body."""
        return self._seed

    @property
    def call_ids(self) -> CallIds:
        """The ids of the calls, in index order (a lazy sequence)."""
        return self._call_ids

    def index(self, call_id: uuid.UUID) -> int | None:
        """Return the index of ``call_id``, or ``None`` if it is not in the dataset."""
        number = call_id.int
        index = number & _INDEX_MASK
        if number & ~_INDEX_MASK != self._prefix or index >= self._size:
            return None
        return index

    def body(self, call_id: uuid.UUID) -> bytes | None:
        """Return the JSON body served for ``call_id`` (camelCase), or ``None`` if absent."""
        index = self.index(call_id)
        return None if index is None else self._body_at(index)

    def _generate(self, index: int) -> bytes:
        rng = random.Random(((self._seed & _SEED_MASK) << _INDEX_BITS) | index)
        call_id = uuid.UUID(int=self._prefix | index)
        return msgspec.json.encode(generate_call(rng, call_id, self.channel_id))

    def call(self, call_id: uuid.UUID) -> Call | None:
        """Return the call ``call_id`` as the SDK decodes it, or ``None`` if absent."""
        body = self.body(call_id)
        return None if body is None else Call.from_json(body)

    def missing_call_id(self, i: int = 0) -> uuid.UUID:
        """Return a valid UUID that is guaranteed not to be a call of this dataset.

        Args:
            i: Which one; different values give different ids.

        Raises:
            ValueError: ``i`` is negative or too large for the dataset's id space.
        """
        if (
            isinstance(i, bool)
            or not isinstance(i, int)
            or not 0 <= i < MAX_DATASET_SIZE - self._size
        ):
            raise ValueError(f"i must be an integer from 0 to {MAX_DATASET_SIZE - self._size - 1}")
        return uuid.UUID(int=self._prefix | (self._size + i))

    def __repr__(self) -> str:
        return f"Dataset(size={self._size}, seed={self._seed})"
