"""``asyncsdk.webhooks``' exported names: sorted, present, documented, in the reference."""

from __future__ import annotations

import enum
import functools
import inspect
import re
import types
from pathlib import Path

import griffe
import pytest

import asyncsdk.webhooks as webhooks

from .test_public_api import _ruff_sort_key

PUBLIC = list(webhooks.__all__)
REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "reference" / "webhooks.md"


def test_all_is_sorted_and_unique() -> None:
    assert sorted(PUBLIC, key=_ruff_sort_key) == PUBLIC
    assert len(set(PUBLIC)) == len(PUBLIC)


@pytest.mark.parametrize("name", PUBLIC)
def test_every_name_exists_and_is_documented(name: str) -> None:
    assert not name.startswith("_")
    obj = getattr(webhooks, name)
    documented = _griffe()[name].docstring
    assert documented is not None and documented.value.strip(), f"{name} has no docstring"
    if isinstance(obj, type | types.FunctionType):
        assert inspect.getdoc(obj)
        assert obj.__module__.startswith("asyncsdk.webhooks")


@pytest.mark.parametrize("name", [n for n in PUBLIC if isinstance(getattr(webhooks, n), type)])
def test_public_methods_have_docstrings(name: str) -> None:
    cls = getattr(webhooks, name)
    if issubclass(cls, enum.Enum):
        return
    missing = [
        attr
        for attr, value in vars(cls).items()
        if not attr.startswith("_")
        and isinstance(value, property | types.FunctionType)
        and not inspect.getdoc(value.fget if isinstance(value, property) else value)
    ]
    assert not missing, f"{name}: undocumented {missing}"


def test_every_name_is_in_the_api_reference() -> None:
    listed = set(re.findall(r"^::: asyncsdk\.webhooks\.(\w+)", REFERENCE.read_text(), re.M))
    assert listed == set(PUBLIC)


def test_verification_and_parsing_need_only_stdlib_and_msgspec() -> None:
    """The modules a FastAPI or Django user relies on import no web framework."""
    root = Path(webhooks.__file__).parent
    for name in ("_signature.py", "_events.py", "_errors.py", "_dedupe.py"):
        source = (root / name).read_text()
        imported = set(re.findall(r"^(?:from|import) ([\w.]+)", source, re.M))
        allowed = {"__future__", "msgspec", "asyncsdk.models", "asyncsdk.errors"}
        foreign = {
            m
            for m in imported
            if m not in allowed
            and not m.startswith("asyncsdk.webhooks._")
            and m.split(".")[0] in {"aiohttp", "asyncsdk", "yarl", "multidict", "tenacity"}
        }
        assert not foreign, (name, foreign)


@functools.cache
def _griffe() -> griffe.Module:
    loaded = griffe.load("asyncsdk.webhooks", resolve_aliases=True)
    assert isinstance(loaded, griffe.Module)
    return loaded
