"""How the suite is spread over pytest-xdist workers (`tests/conftest.py`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from . import conftest

TESTS = Path(__file__).resolve().parent


def test_every_long_file_exists_once() -> None:
    """A renamed or removed file would silently fall back to the end of the run."""
    assert len(set(conftest.LONG_FILES)) == len(conftest.LONG_FILES)
    assert [name for name in conftest.LONG_FILES if not (TESTS / name).is_file()] == []


def test_long_files_come_first_in_their_order_and_the_rest_after() -> None:
    ranks = [conftest.long_first(name) for name in conftest.LONG_FILES]
    assert ranks == list(range(len(conftest.LONG_FILES)))
    assert conftest.long_first("test_models.py") == len(conftest.LONG_FILES)


@pytest.mark.parametrize(("cpus", "workers"), [(1, 2), (2, 2), (3, 3), (4, 4), (64, 4)])
def test_auto_workers_follow_the_cpus_within_bounds(
    monkeypatch: pytest.MonkeyPatch, pytestconfig: pytest.Config, cpus: int, workers: int
) -> None:
    monkeypatch.delenv("PYTEST_XDIST_AUTO_NUM_WORKERS", raising=False)
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: set(range(cpus)), raising=False)
    assert conftest.pytest_xdist_auto_num_workers(pytestconfig) == workers


def test_the_environment_variable_still_decides(
    monkeypatch: pytest.MonkeyPatch, pytestconfig: pytest.Config
) -> None:
    monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", "7")
    assert conftest.pytest_xdist_auto_num_workers(pytestconfig) is None  # xdist reads it
