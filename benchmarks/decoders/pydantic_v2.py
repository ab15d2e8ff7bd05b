"""pydantic v2: JSON validated into an equivalent model (``TypeAdapter.validate_json``)."""

from benchmarks._pydantic_models import CALL_ADAPTER, PAGE_ADAPTER, Call

name = "pydantic v2 -> model"


def decode_one(data: bytes) -> Call:
    return CALL_ADAPTER.validate_json(data)


def decode_page(data: bytes) -> list[Call]:
    return PAGE_ADAPTER.validate_json(data)
