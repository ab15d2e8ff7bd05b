"""The server's calls: a deterministic, lazily generated `Dataset`.

A dataset of ``size`` calls holds no call at all: call ``i`` has the id
``prefix | i`` (a seed-derived version-4 UUID whose last 48 bits are the index), so an
id maps back to its index in O(1); its ``createdAt`` is a function of the index
(`asyncsdk.server._timeline`), so a time window maps to an index range; and its body is
rendered on demand from one of a bounded pool of generated templates
(`asyncsdk.server._templates`). A million-call dataset costs a few bytes, plus at most
about 2 MB of templates once they are used.

Imports: `asyncsdk.models`, msgspec and the standard library.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterator, Sequence
from typing import overload

from asyncsdk.models import Call
from asyncsdk.server._templates import TEMPLATE_COUNT, Template, build_template, uuid_text
from asyncsdk.server._timeline import Timeline

__all__ = [
    "DEFAULT_DATASET_SEED",
    "DEFAULT_DATASET_SIZE",
    "DEFAULT_DATASET_SPAN",
    "DEFAULT_DATASET_START",
    "INDEX_MASK",
    "CallIds",
    "Dataset",
    "id_prefix",
]

#: Number of calls in a dataset built without arguments.
DEFAULT_DATASET_SIZE: int = 1000
#: Seed of a dataset built without arguments.
DEFAULT_DATASET_SEED: int = 0
#: The earliest ``createdAt`` of a dataset built without arguments.
DEFAULT_DATASET_START: dt.datetime = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
#: The period a dataset's calls are created in, by default.
DEFAULT_DATASET_SPAN: dt.timedelta = dt.timedelta(days=300)
#: Bits of a call id that hold its index; the rest is the dataset's prefix.
_INDEX_BITS = 48
_INDEX_MASK = (1 << _INDEX_BITS) - 1
#: Largest dataset: half the 48-bit index space, the other half is for `missing_call_id`.
MAX_DATASET_SIZE: int = 1 << (_INDEX_BITS - 1)
_MASK64 = (1 << 64) - 1
#: Fibonacci hashing spreads neighbouring indices over the templates.
_SPREAD = 0x9E3779B97F4A7C15
_TEMPLATE_SHIFT = 64 - (TEMPLATE_COUNT.bit_length() - 1)


def _random_uuid4(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


#: The bits of a generated id that hold its index.
INDEX_MASK = _INDEX_MASK


def id_prefix(rng: random.Random) -> int:
    """Draw the prefix of a family of ids: a version-4 UUID with its index bits zeroed."""
    return _random_uuid4(rng).int & ~_INDEX_MASK


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

    The same arguments always give the same ids, times and bodies, in any process.

    Args:
        size: Number of calls, from 0 to 2**47.
        seed: Seed of every id and body.
        start: The earliest ``createdAt`` (aware).
        span: The period the calls are created in; ``createdAt`` grows with the index.
        busy_share: Share of the calls (0.0 to 1.0) created within one hour in the
            middle of the span, for skewed listings; 0.0 spreads them evenly.

    Raises:
        ValueError: An argument is out of range.
    """

    __slots__ = (
        "_call_ids",
        "_prefix",
        "_seed",
        "_size",
        "_spread",
        "_templates",
        "channel_id",
        "timeline",
        "workspace_id",
    )

    def __init__(
        self,
        size: int = DEFAULT_DATASET_SIZE,
        seed: int = DEFAULT_DATASET_SEED,
        *,
        start: dt.datetime = DEFAULT_DATASET_START,
        span: dt.timedelta = DEFAULT_DATASET_SPAN,
        busy_share: float = 0.0,
    ) -> None:
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
        self._prefix = id_prefix(rng)
        self._spread = rng.getrandbits(64)
        self._call_ids = CallIds(self._prefix, range(size))
        #: When each call was created (``createdAt`` from the index).
        self.timeline: Timeline = Timeline(size, start=start, span=span, busy_share=busy_share)
        self._templates: dict[int, Template] = {}

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
        """The ids of the calls, in index order (oldest first; a lazy sequence)."""
        return self._call_ids

    def index(self, call_id: uuid.UUID | str) -> int | None:
        """Return the index of ``call_id`` (a UUID or its text), or ``None`` if absent."""
        number = _as_uuid(call_id)
        if number is None:
            return None
        index = number & _INDEX_MASK
        if number & ~_INDEX_MASK != self._prefix or index >= self._size:
            return None
        return index

    def body(self, call_id: uuid.UUID | str) -> bytes | None:
        """Return the JSON body served for ``call_id`` (camelCase), or ``None`` if absent."""
        index = self.index(call_id)
        return None if index is None else self.body_at(index)

    def body_at(self, index: int) -> bytes:
        """Return the JSON body of call ``index`` (``0 <= index < size``)."""
        return self.template_at(index).render(
            uuid_text(self._prefix | index), self.timeline.created_ms(index)
        )

    def template_at(self, index: int) -> Template:
        """Return the template call ``index`` is rendered from (see `Template.facts`)."""
        number = ((index * _SPREAD + self._spread) & _MASK64) >> _TEMPLATE_SHIFT
        template = self._templates.get(number)
        if template is None:
            template = self._templates[number] = build_template(self._seed, number, self.channel_id)
        return template

    def call(self, call_id: uuid.UUID | str) -> Call | None:
        """Return the call ``call_id`` (a UUID or its text) as the SDK decodes it, or ``None``."""
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
        timeline = self.timeline
        extra = ""
        if timeline.start != DEFAULT_DATASET_START:
            extra += f", start={timeline.start.isoformat()}"
        if timeline.span != DEFAULT_DATASET_SPAN:
            extra += f", span={timeline.span}"
        if timeline.busy_share:
            extra += f", busy_share={timeline.busy_share:g}"
        return f"Dataset(size={self._size}, seed={self._seed}{extra})"


def _as_uuid(value: object) -> int | None:
    if isinstance(value, uuid.UUID):
        return value.int
    if isinstance(value, str):
        try:
            return uuid.UUID(value).int
        except ValueError:
            return None
    return None
