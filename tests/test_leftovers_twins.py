"""The recordings' pydantic twin is built as the calls' are, and decodes what the SDK does."""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec
import pytest

pytest.importorskip("pydantic")


def test_the_recordings_twin_decodes_the_page_as_the_sdk_does() -> None:
    """Same values as `RecordingPage.from_json`, Bird's zero time read as ``None``."""
    from asyncsdk import RecordingPage
    from benchmarks._pydantic_models import RECORDING_PAGE_ADAPTER
    from benchmarks.recordings_decode import PAGE_SIZE, recordings_page

    data = recordings_page()
    sdk = msgspec.to_builtins(RecordingPage.from_json(data), builtin_types=(dt.datetime, uuid.UUID))
    twin = RECORDING_PAGE_ADAPTER.validate_json(data).model_dump(by_alias=True, exclude_none=True)
    assert twin == sdk
    assert len(twin["results"]) == PAGE_SIZE
    assert sum("endedAt" not in r for r in twin["results"]) == (PAGE_SIZE + 1) // 2


def test_the_recordings_contender_is_the_twin() -> None:
    """``recordings_decode`` writes no model of its own: its pydantic contender is the twin."""
    from benchmarks import recordings_decode
    from benchmarks._pydantic_models import RECORDING_PAGE_ADAPTER

    decode = recordings_decode._pydantic_decoder()
    assert decode == RECORDING_PAGE_ADAPTER.validate_json
    source = recordings_decode.__loader__.get_source(recordings_decode.__name__)  # type: ignore[union-attr]
    assert source is not None and "BaseModel" not in source
