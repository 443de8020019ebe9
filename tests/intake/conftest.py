"""Fixtures of the intake's tests: an intake root, both ways to move a file, a Redis client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from agent.intake.folder import renames
from agent.intake.folder.layout import IntakeLayout


@pytest.fixture
def layout(tmp_path: Path) -> IntakeLayout:
    layout = IntakeLayout(tmp_path / "intake")
    layout.ensure()
    return layout


@pytest.fixture(params=["renameat2", "link_fallback"])
def move_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "renameat2":
        if renames._renameat2 is None:
            pytest.skip("libc has no renameat2")
    else:
        monkeypatch.setattr(renames, "_renameat2", None)
    return request.param


@pytest.fixture(name="client")
async def _client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A client of the test Redis (OTC_AGENT_TEST_REDIS_URL)."""
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()
