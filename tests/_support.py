"""Constants and helpers shared by the tests (no fixtures, no server imports)."""

from __future__ import annotations

import uuid
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
ACCESS_KEY = "test-access-key"
WORKSPACE = uuid.UUID("0f1e2d3c-4b5a-4697-8877-665544332211")
CHANNEL = uuid.UUID("8d2e4f60-7a1b-4c3d-8e9f-0a1b2c3d4e5f")
CALL = uuid.UUID("5f0c7a9e-3b1d-4c8e-9a52-1d7e0b6f2a41")
MOCK_BASE = "https://api.bird.test"
CALL_URL = f"{MOCK_BASE}/workspaces/{WORKSPACE}/channels/{CHANNEL}/calls/{CALL}"


def fixture_bytes(name: str) -> bytes:
    """Read one of the project's copies of the API fixtures."""
    return (FIXTURES / name).read_bytes()
