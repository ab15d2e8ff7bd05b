"""Pydantic v2 twins of the SDK's models, for the decode and memory comparisons.

`twin` builds one from the SDK's Structs (`benchmarks._rebuild.remap`), so it keeps
their shape as they change: every nested model, the same wire names (camelCase,
``from``), ``uuid.UUID`` ids, timezone-aware datetimes, every field but ``id`` optional,
unknown fields ignored, frozen. The calls' twins (`Call`, `CallPage`) take times as
they come; the recordings' (`RecordingPage`) read Bird's zero time as ``None``, as the
SDK's recordings do, through one validator (`ZeroTimeAware`) on every timestamp.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    create_model,
)

from asyncsdk.models import ZERO_TIME
from asyncsdk.models import Call as _Call
from asyncsdk.models import CallPage as _CallPage
from asyncsdk.models import RecordingPage as _RecordingPage
from benchmarks._rebuild import remap


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, frozen=True, extra="ignore")


def _zero_to_none(value: dt.datetime) -> dt.datetime | None:
    return None if value == ZERO_TIME else value


#: A timestamp that reads Bird's zero time (``0001-01-01T00:00:00Z``) as ``None``.
ZeroTimeAware = Annotated[AwareDatetime, AfterValidator(_zero_to_none)]


def twin(struct: type, built: dict[type, Any], *, timestamp: Any = AwareDatetime) -> Any:
    """The pydantic model of ``struct`` (its nested Structs' too, built once each).

    ``timestamp`` is the type every datetime field takes; ``built`` holds the models
    made with one ``timestamp``.
    """
    if struct not in built:
        fields = {
            f.name: (
                remap(
                    f.type,
                    {dt.datetime: timestamp},
                    lambda s: twin(s, built, timestamp=timestamp),
                ),
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

RecordingPage = twin(_RecordingPage, {}, timestamp=ZeroTimeAware)
RECORDING_PAGE_ADAPTER: TypeAdapter[Any] = TypeAdapter(RecordingPage)
