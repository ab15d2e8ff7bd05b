"""Shared helpers for the embedded server's tests: a dataset, a client session, auth."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from asyncsdk.server import Dataset

ACCESS_KEY_AUTH = {"Authorization": "AccessKey test-access-key"}


@pytest.fixture
def dataset() -> Dataset:
    return Dataset(size=200, seed=3)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers=ACCESS_KEY_AUTH) as client:
        yield client
