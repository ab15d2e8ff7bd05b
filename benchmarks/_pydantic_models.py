"""A pydantic v2 twin of ``asyncsdk.models.Call``, for the decode and memory comparisons.

Built from the SDK's Structs (`benchmarks._rebuild.remap`), so it keeps their shape as
they change: every nested model, the same wire names (camelCase, ``from``), ``uuid.UUID``
ids, timezone-aware datetimes, every field but ``id`` optional, unknown fields ignored,
frozen. Its validation schema is the one the hand-written twin had.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, create_model

from asyncsdk.models import Call as _Call
from asyncsdk.models import CallPage as _CallPage
from benchmarks._rebuild import remap


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, frozen=True, extra="ignore")


def twin(struct: type, built: dict[type, Any]) -> Any:
    """The pydantic model of ``struct`` (its nested Structs' too, built once each)."""
    if struct not in built:
        fields = {
            f.name: (
                remap(f.type, {dt.datetime: AwareDatetime}, lambda s: twin(s, built)),
                Field(default=... if f.required else f.default, alias=f.encode_name),
            )
            for f in msgspec.structs.fields(struct)
        }
        built[struct] = create_model(struct.__name__, __base__=_Model, **fields)
    return built[struct]


_BUILT: dict[type, Any] = {}
Call = twin(_Call, _BUILT)
CallPage = twin(_CallPage, _BUILT)

#: Adapters built once, like the SDK's decoder.
CALL_ADAPTER: TypeAdapter[Any] = TypeAdapter(Call)
PAGE_ADAPTER: TypeAdapter[Any] = TypeAdapter(list[Call])
CALL_PAGE_ADAPTER: TypeAdapter[Any] = TypeAdapter(CallPage)
