"""The dataset: deterministic, lazy, realistic, and every body decodes as a `Call`."""

from __future__ import annotations

import collections
import datetime as dt
import uuid

import msgspec
import pytest

from asyncsdk.models import Call
from asyncsdk.server import CallIds, Dataset


def test_same_seed_gives_same_ids_and_bodies() -> None:
    a, b = Dataset(size=50, seed=9), Dataset(size=50, seed=9)
    assert (a.workspace_id, a.channel_id) == (b.workspace_id, b.channel_id)
    assert list(a.call_ids) == list(b.call_ids)
    assert [a.body(i) for i in a.call_ids] == [b.body(i) for i in b.call_ids]


def test_different_seeds_give_different_data() -> None:
    a, b = Dataset(size=5, seed=1), Dataset(size=5, seed=2)
    assert a.workspace_id != b.workspace_id
    assert a.call_ids[0] != b.call_ids[0]


def test_call_ids_are_distinct_version_4_uuids() -> None:
    ds = Dataset(size=300, seed=0)
    ids = list(ds.call_ids)
    assert len(set(ids)) == 300
    assert all(i.version == 4 and i.variant == uuid.RFC_4122 for i in ids)


def test_a_million_calls_cost_nothing_up_front() -> None:
    ds = Dataset(size=1_000_000, seed=0)
    last = ds.call_ids[999_999]
    assert len(ds.call_ids) == 1_000_000
    assert ds.call_ids[-1] == last
    assert last in ds.call_ids
    call = ds.call(last)
    assert call is not None
    assert call.id == last


def test_call_ids_slice_and_membership() -> None:
    ds = Dataset(size=10, seed=0)
    tail = ds.call_ids[8:]
    assert isinstance(tail, CallIds)
    assert list(tail) == [ds.call_ids[8], ds.call_ids[9]]
    assert ds.call_ids.index(ds.call_ids[4]) == 4
    assert ds.missing_call_id() not in ds.call_ids
    assert "not a uuid" not in ds.call_ids
    with pytest.raises(IndexError):
        ds.call_ids[10]


def test_body_and_call_agree_and_decode() -> None:
    ds = Dataset(size=300, seed=5)
    for call_id in ds.call_ids:
        body = ds.body(call_id)
        assert body is not None
        call = Call.from_json(body)
        assert call == ds.call(call_id)
        assert call.id == call_id


def test_missing_ids_are_not_in_the_dataset() -> None:
    ds = Dataset(size=20, seed=0)
    missing = {ds.missing_call_id(i) for i in range(5)}
    assert len(missing) == 5
    for call_id in missing:
        assert ds.call(call_id) is None
        assert ds.body(call_id) is None
    assert ds.call(uuid.UUID(int=0)) is None
    with pytest.raises(ValueError, match="i must be"):
        ds.missing_call_id(-1)


def test_bodies_vary_like_production() -> None:
    ds = Dataset(size=1000, seed=0)
    statuses: collections.Counter[str | None] = collections.Counter()
    directions: set[str | None] = set()
    flow_sizes: set[int] = set()
    minimal = nulls = plus_offset = zulu = unknown_field = tagged = with_conditions = 0
    for call_id in ds.call_ids:
        body = ds.body(call_id)
        assert body is not None
        raw = msgspec.json.decode(body)
        call = Call.from_json(body)
        statuses[call.status] += 1
        directions.add(call.direction)
        minimal += raw.keys() == {"id", "createdAt"}  # every call has a createdAt
        nulls += any(value is None for value in raw.values())
        plus_offset += b'+00:00"' in body
        zulu += b'Z"' in body
        unknown_field += "billing" in raw
        tagged += bool(call.tags)
        if call.call_flow is not None and call.call_flow.commands is not None:
            flow_sizes.add(len(call.call_flow.commands))
            with_conditions += any(c.conditions for c in call.call_flow.commands)
        if call.from_ is not None:
            assert call.from_.startswith("+")
            assert call.from_[1:].isdigit()
    known = {"completed", "no-answer", "busy", "failed", "ongoing", "ringing"}
    assert known <= set(statuses)
    assert statuses["transferred"] > 0  # a value the API may add later
    assert {"incoming", "outgoing"} <= directions
    assert flow_sizes == {0, 1, 2, 3, 4}
    assert min(minimal, nulls, plus_offset, zulu, unknown_field, tagged, with_conditions) > 0


@pytest.mark.parametrize(("size", "seed"), [(-1, 0), (2**47 + 1, 0), (10, "x"), (True, 0)])
def test_invalid_arguments_are_refused(size: object, seed: object) -> None:
    with pytest.raises(ValueError, match="must be an integer"):
        Dataset(size=size, seed=seed)  # type: ignore[arg-type]


def test_empty_dataset() -> None:
    ds = Dataset(size=0)
    assert len(ds.call_ids) == 0
    assert ds.call(ds.missing_call_id()) is None


def test_call_and_body_accept_the_id_as_text() -> None:
    ds = Dataset(size=20, seed=0)
    call_id = ds.call_ids[3]
    for form in (str(call_id), str(call_id).upper(), call_id.hex):
        assert ds.body(form) == ds.body(call_id)
        call = ds.call(form)
        assert call is not None and call.id == call_id
    assert ds.call("not a uuid") is None
    assert ds.index(str(ds.missing_call_id())) is None


def test_created_at_grows_with_the_index_and_matches_the_body() -> None:
    ds = Dataset(size=3000, seed=1, span=dt.timedelta(seconds=2))  # 1.5 calls per ms: ties
    times = [ds.timeline.created_at(i) for i in range(ds.size)]
    assert times == sorted(times)
    assert len(set(times)) < len(times)  # equal timestamps exist
    assert ds.timeline.start <= times[0] and times[-1] < ds.timeline.end
    for i in (0, 1, 1234, 2999):
        call = ds.call(ds.call_ids[i])
        assert call is not None and call.created_at == times[i]
        assert call.updated_at is None or call.updated_at >= times[i]


def test_a_time_window_is_an_index_range() -> None:
    ds = Dataset(size=1000, seed=2, span=dt.timedelta(hours=10))
    timeline = ds.timeline
    start, end = timeline.created_at(100), timeline.created_at(700)
    window = timeline.indices(start, end)
    inside = [i for i in range(ds.size) if start <= timeline.created_at(i) < end]
    assert list(window) == inside
    assert timeline.indices(None, None) == range(1000)
    assert timeline.indices(timeline.end, None) == range(1000, 1000)


def test_a_skewed_dataset_puts_most_calls_in_one_hour() -> None:
    ds = Dataset(size=10_000, seed=3, span=dt.timedelta(days=1), busy_share=0.9)
    timeline = ds.timeline
    middle = timeline.start + dt.timedelta(hours=11, minutes=30)
    busy = timeline.indices(middle, middle + dt.timedelta(hours=1))
    assert len(busy) == 9000
    times = [timeline.created_at(i) for i in range(ds.size)]
    assert times == sorted(times) and times[-1] < timeline.end
    assert "busy_share=0.9" in repr(ds)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"span": dt.timedelta(0)},
        {"start": dt.datetime(2026, 1, 1)},  # naive
        {"busy_share": 1.5},
        {"busy_share": 0.5, "span": dt.timedelta(minutes=30)},
    ],
)
def test_invalid_timelines_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"must be|needs"):
        Dataset(size=10, **kwargs)  # type: ignore[arg-type]


def test_bodies_come_from_a_bounded_pool_of_templates() -> None:
    """A large dataset renders calls from at most TEMPLATE_COUNT generated templates."""
    from asyncsdk.server._templates import TEMPLATE_COUNT

    ds = Dataset(size=200_000, seed=4)
    bodies = [ds.body_at(i) for i in range(0, 200_000, 97)]
    assert len(set(bodies)) == len(bodies)  # every call still has its own id and times
    assert len(ds._templates) <= TEMPLATE_COUNT
