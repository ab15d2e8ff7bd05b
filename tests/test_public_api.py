"""The package's exported names: sorted, present, documented, and nothing private leaks."""

from __future__ import annotations

import enum
import functools
import importlib.metadata
import inspect
import types

import griffe
import pytest

import asyncsdk

PUBLIC = [name for name in asyncsdk.__all__ if name != "__version__"]


def _ruff_sort_key(name: str) -> tuple[int, str]:
    """The order ruff's RUF022 keeps: CONSTANTS, then Classes, then everything else."""
    if name.isupper():
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


def test_all_is_sorted() -> None:
    assert asyncsdk.__all__ == sorted(asyncsdk.__all__, key=_ruff_sort_key)


def test_all_has_no_duplicates() -> None:
    assert len(set(asyncsdk.__all__)) == len(asyncsdk.__all__)


@pytest.mark.parametrize("name", asyncsdk.__all__)
def test_every_exported_name_exists(name: str) -> None:
    assert hasattr(asyncsdk, name)


def test_version_is_a_string() -> None:
    assert isinstance(asyncsdk.__version__, str)
    assert asyncsdk.__version__ == importlib.metadata.version("asyncsdk")


def test_nothing_private_is_exported() -> None:
    """No underscore name in ``__all__``, and nothing defined in a private module."""
    for name in PUBLIC:
        assert not name.startswith("_"), name
        obj = getattr(asyncsdk, name)
        module = getattr(obj, "__module__", None)
        if module is not None and isinstance(obj, type | types.FunctionType):
            assert module.startswith("asyncsdk."), (name, module)
            assert _reexported_by_public_package(name, module), (name, module)


def _reexported_by_public_package(name: str, module: str) -> bool:
    """Whether ``module`` is public, or its nearest public package lists ``name``.

    A subpackage keeps its modules private and says what it offers in its ``__all__``
    (``asyncsdk.listing._pager.CallPager`` is ``asyncsdk.listing.CallPager``).
    """
    parts = module.split(".")
    private = [i for i, part in enumerate(parts) if part.startswith("_")]
    if not private:
        return True
    package = importlib.import_module(".".join(parts[: private[0]]))
    return package.__name__ != "asyncsdk" and name in getattr(package, "__all__", ())


def test_every_public_attribute_is_in_all() -> None:
    """Besides ``__all__``, the package namespace holds only its submodules."""
    extra = {
        name
        for name, value in vars(asyncsdk).items()
        if not name.startswith("_") and name not in asyncsdk.__all__
    }
    assert all(isinstance(getattr(asyncsdk, name), types.ModuleType) for name in extra), extra


@pytest.mark.parametrize("name", PUBLIC)
def test_every_exported_name_has_a_docstring(name: str) -> None:
    """Checked as the API reference sees it (griffe): constants need a docstring too."""
    documented = _griffe_package()[name].docstring
    assert documented is not None and documented.value.strip(), f"{name} has no docstring"
    obj = getattr(asyncsdk, name)
    if isinstance(obj, type | types.FunctionType):
        assert inspect.getdoc(obj), f"{name} has no runtime docstring"


@pytest.mark.parametrize("name", [n for n in PUBLIC if isinstance(getattr(asyncsdk, n), type)])
def test_public_methods_have_docstrings(name: str) -> None:
    """Every public method and property a class defines itself is documented."""
    cls = getattr(asyncsdk, name)
    if issubclass(cls, enum.Enum):
        return  # members are values, not methods
    missing = []
    for attr, value in vars(cls).items():
        if attr.startswith("_"):
            continue
        if isinstance(value, property | classmethod | staticmethod | types.FunctionType):
            func = value.fget if isinstance(value, property) else value
            if not inspect.getdoc(func):
                missing.append(attr)
    assert not missing, f"{name}: undocumented {missing}"


@functools.cache
def _griffe_package() -> griffe.Module:
    """The package as mkdocstrings reads it for the API reference."""
    loaded = griffe.load("asyncsdk", resolve_aliases=True)
    assert isinstance(loaded, griffe.Module)
    return loaded


def test_the_sdk_logger_has_a_null_handler() -> None:
    """The application decides where the SDK's log records go."""
    import logging

    handlers = logging.getLogger("asyncsdk").handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)
