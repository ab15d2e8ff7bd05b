"""``asyncsdk.models.Call`` rebuilt from its own fields: msgspec variants, a pydantic twin.

Built from the shipped Structs (`msgspec.structs.fields`), so that what the benchmarks
compare follows the models as they change: `variant` (``decode_variants``) rebuilds them
with some types replaced or fields dropped; `benchmarks._pydantic_models` walks them the
same way (`remap`) into pydantic models.

Imports: the standard library and msgspec.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

import msgspec


def remap(tp: Any, replace: Mapping[Any, Any], rebuild: Callable[[type], Any]) -> Any:
    """``tp`` with each Struct rebuilt, each other type replaced (``Annotated``: its base)."""
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return rebuild(tp)
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        base = typing.get_args(tp)[0]
        return replace.get(base, tp)
    if origin in (typing.Union, types.UnionType):
        return typing.Union[tuple(remap(a, replace, rebuild) for a in typing.get_args(tp))]  # noqa: UP007
    if origin is list:
        return list[remap(typing.get_args(tp)[0], replace, rebuild)]  # type: ignore[misc]
    return replace.get(tp, tp)


def variant(
    root: type,
    *,
    replace: dict[Any, Any] | None = None,
    drop: frozenset[tuple[str, str]] = frozenset(),
) -> type:
    """Rebuild the Struct ``root`` and its nested Structs with types replaced, fields dropped."""
    replace = replace or {}
    built: dict[type, type] = {}

    def rebuild(cls: type) -> type:
        if cls not in built:
            config = cls.__struct_config__  # type: ignore[attr-defined]
            fields: list[Any] = []
            for f in msgspec.structs.fields(cls):
                if (cls.__name__, f.name) in drop:
                    continue
                tp = remap(f.type, replace, rebuild)
                if f.required:
                    fields.append((f.name, tp, msgspec.field(name=f.encode_name)))
                else:
                    fields.append(
                        (f.name, tp, msgspec.field(default=f.default, name=f.encode_name))
                    )
            built[cls] = msgspec.defstruct(
                cls.__name__,
                fields,
                kw_only=True,
                frozen=config.frozen,
                gc=config.gc,
                omit_defaults=config.omit_defaults,
            )
        return built[cls]

    return rebuild(root)
