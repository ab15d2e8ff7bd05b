"""The drawing matches the words: CONTRIBUTING.md's layout section, checked against the code.

The section's table says what each unit (a top-level module, a subpackage, or a file held
to narrower rules) may import, and its list names every module. Each module's imports are
read with `ast` (never imported), so a module that imports upward, or one nobody listed,
fails here with the place to fix it. No network, no subprocess: a fraction of a second.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "asyncsdk"
CONTRIBUTING = ROOT / "CONTRIBUTING.md"
SECTION = "## Layout and what may import what"
#: Lines a module may have without a docstring paragraph that begins with the marker.
MAX_LINES = 400
ONE_IDEA = "One idea:"
#: Modules over the limit that are being split where they are owned; each entry goes
#: when its module is back under the limit (`test_the_long_modules_listed_are_still_long`).
LONG_FOR_NOW: dict[str, str] = {}


@dataclass(frozen=True)
class Rule:
    """One row of the table: a unit and what it may import."""

    unit: str  # "errors.py", "ratelimit/", "webhooks/_events.py"
    internal: frozenset[str]  # dotted names under asyncsdk ("" is the public API)
    external: frozenset[str]  # third-party import names


def _section() -> str:
    text = CONTRIBUTING.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    return text[start : end if end >= 0 else len(text)]


@cache
def rules() -> dict[str, Rule]:
    """The table's rows, by unit."""
    found: dict[str, Rule] = {}
    for line in _section().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 2 or not re.fullmatch(r"`[\w/.]+`", cells[0]):
            continue
        unit = cells[0].strip("`")
        internal, external = set(), set()
        for entry in re.sub(r"\(.*?\)", "", cells[1]).split(","):
            entry = entry.strip()
            if entry.startswith("`"):
                name = entry.strip("`")
                internal.add("" if name == "asyncsdk" else name)
            elif entry and entry not in ("stdlib", "—"):
                external.add(entry)
        found[unit] = Rule(unit, frozenset(internal), frozenset(external))
    return found


def _modules() -> list[str]:
    """Every module of the package, as its path under ``asyncsdk/``."""
    return sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py"))


def _dotted(path: str) -> str:
    """``ratelimit/_bucket.py`` -> ``ratelimit._bucket``; a package's ``__init__`` its name."""
    parts = path.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _path_of(dotted: str) -> str:
    """The module file of a dotted name under asyncsdk (its package's, for a name in one)."""
    parts = dotted.split(".") if dotted else []
    while True:
        base = "/".join(parts)
        if (PACKAGE / f"{base}.py").is_file():
            return f"{base}.py"
        if (PACKAGE / base / "__init__.py").is_file():
            return f"{base}/__init__.py" if base else "__init__.py"
        if not parts:
            raise AssertionError(f"asyncsdk.{dotted} is not a module of the package")
        parts.pop()  # `from .mod import name`: name is not a module


def unit_of(path: str) -> str | None:
    """The row a module belongs to: its own file's, else its nearest package's."""
    table = rules()
    if path in table:
        return path
    parts = path.split("/")[:-1]
    while parts:
        package = "/".join(parts) + "/"
        if package in table:
            return package
        parts.pop()
    return None


def imports_of(path: str) -> tuple[set[str], set[str]]:
    """What a module imports: dotted names under asyncsdk, and other top-level names."""
    source = (PACKAGE / path).read_text(encoding="utf-8")
    package = _dotted(path) if path.endswith("__init__.py") else _dotted(path).rpartition(".")[0]
    internal: set[str] = set()
    external: set[str] = set()

    def add(name: str) -> None:
        if name == "asyncsdk" or name.startswith("asyncsdk."):
            internal.add(name.removeprefix("asyncsdk").removeprefix("."))
        else:
            external.add(name.partition(".")[0])

    for node in ast.walk(ast.parse(source, filename=path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                assert node.module is not None
                add(node.module)
                continue
            base = package.split(".") if package else []
            base = base[: len(base) - (node.level - 1)]
            if node.module:
                internal.add(".".join([*base, node.module]))
            else:  # from . import a, b: each is a module of that package
                for alias in node.names:
                    internal.add(".".join([*base, alias.name]))
    external -= set(sys.stdlib_module_names) | {"__future__"}
    return internal, external


def _allowed(target: str, rule: Rule) -> bool:
    return any(
        target == entry or (entry and target.startswith(entry + ".")) for entry in rule.internal
    )


# --- the tests --------------------------------------------------------------------------


def test_the_section_has_the_table() -> None:
    assert rules(), f"no table of units found under {SECTION!r} in CONTRIBUTING.md"


@pytest.mark.parametrize("path", _modules())
def test_every_module_is_listed(path: str) -> None:
    """A new module fails here until CONTRIBUTING.md says what it is."""
    assert f"`{path}`" in _section(), (
        f"asyncsdk/{path} is not listed in CONTRIBUTING.md, section {SECTION!r}: add a "
        f"line '- `{path}`: what it holds.' under its package in 'The modules' (and, for "
        "a new top-level module or subpackage, a row in 'What may import what')"
    )
    assert unit_of(path) is not None, (
        f"asyncsdk/{path} belongs to no row of the table in CONTRIBUTING.md, section "
        f"{SECTION!r}: add a row for it (or its subpackage) saying what it may import"
    )


@pytest.mark.parametrize("path", _modules())
def test_no_module_imports_against_the_rules(path: str) -> None:
    """Every import of a module is in its own unit or listed in its unit's row."""
    unit = unit_of(path)
    if unit is None:
        pytest.skip("not in the table: test_every_module_is_listed says where to add it")
    rule = rules()[unit]
    internal, external = imports_of(path)
    wrong = sorted(
        f"asyncsdk.{target}" if target else "asyncsdk"
        for target in internal
        if unit_of(_path_of(target)) != unit and not _allowed(target, rule)
    )
    assert not wrong, (
        f"asyncsdk/{path} (unit `{unit}`) imports {wrong}, which its row in "
        "CONTRIBUTING.md does not allow: an upward import, or a rule to change there first"
    )
    foreign = sorted(external - rule.external)
    assert not foreign, (
        f"asyncsdk/{path} (unit `{unit}`) imports {foreign}, not listed in its row in "
        "CONTRIBUTING.md (the package's dependencies: pyproject.toml)"
    )


@pytest.mark.parametrize("path", _modules())
def test_every_module_says_what_it_may_import(path: str) -> None:
    """Its docstring says ``Imports: ...`` (CONTRIBUTING.md, Docstrings)."""
    docstring = ast.get_docstring(ast.parse((PACKAGE / path).read_text(encoding="utf-8")))
    assert docstring and "Imports:" in docstring, (
        f"asyncsdk/{path}: its module docstring says what it is, and ends with a line "
        "'Imports: ...' saying what it may import (true to CONTRIBUTING.md's table)"
    )


def test_every_row_and_listed_path_exists() -> None:
    """The words do not name what is gone: each row and each listed path is in the tree."""
    modules = set(_modules())
    stale = [unit for unit in rules() if unit not in modules and not (PACKAGE / unit).is_dir()]
    listed = set(re.findall(r"^- `([\w/]+\.py)`", _section(), flags=re.MULTILINE))
    stale += sorted(listed - modules)
    assert not stale, f"CONTRIBUTING.md's layout names what the package no longer has: {stale}"


@pytest.mark.parametrize("path", _modules())
def test_modules_fit_in_one_reading(path: str) -> None:
    """At most `MAX_LINES` lines, unless the docstring says why it is one idea."""
    source = (PACKAGE / path).read_text(encoding="utf-8")
    lines = len(source.splitlines())
    if lines <= MAX_LINES or path in LONG_FOR_NOW:
        return
    docstring = ast.get_docstring(ast.parse(source)) or ""
    assert any(part.startswith(ONE_IDEA) for part in docstring.split("\n\n")), (
        f"asyncsdk/{path} has {lines} lines (more than {MAX_LINES}): split it along its "
        f"concerns, or, if it is one indivisible idea, say why in a docstring paragraph "
        f"beginning {ONE_IDEA!r}"
    )


def test_the_long_modules_listed_are_still_long() -> None:
    """An entry of `LONG_FOR_NOW` goes as soon as its module fits."""
    for path in sorted(LONG_FOR_NOW):
        lines = len((PACKAGE / path).read_text(encoding="utf-8").splitlines())
        assert lines > MAX_LINES, (
            f"asyncsdk/{path} fits now ({lines} lines): drop it from LONG_FOR_NOW"
        )


# --- the checker itself, on made-up cases -------------------------------------------------


def test_the_checker_sees_an_upward_import() -> None:
    """`errors` importing the client would be upward: its row allows nothing of ours."""
    rule = rules()["errors.py"]
    assert not _allowed("client", rule)
    assert unit_of(_path_of("client")) != unit_of("errors.py")


def test_the_checker_resolves_units_and_relative_imports() -> None:
    assert unit_of("ratelimit/_throttling/_cuts.py") == "ratelimit/_throttling/"
    assert unit_of("ratelimit/_slots.py") == "ratelimit/"
    assert unit_of("webhooks/_events.py") == "webhooks/_events.py"
    internal, _ = imports_of("bulk/_iterate.py")
    assert {"bulk._opening", "_pump", "client"} <= internal
    assert _path_of("ratelimit._throttling.Phase") == "ratelimit/_throttling/__init__.py"
    assert _allowed("ratelimit._workspaces", rules()["resources/"])
    assert not _allowed("webhooks._receiver", rules()["webhooks/_events.py"])
