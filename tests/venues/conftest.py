"""Fixtures shared by the venue tests: the shipped configuration, its tokens, a migrated store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from agent.app.builders import build_tokens
from agent.config import AgentConfig
from agent.domain.tokens import TokenRegistry
from agent.store.database import Store


@pytest.fixture(name="config")
def _config(make_config: Callable[..., AgentConfig], database_url: str) -> AgentConfig:
    """configs/local.toml pointed at this test's database."""
    return make_config(database_url=database_url)


@pytest.fixture(name="tokens")
def _tokens(make_config: Callable[..., AgentConfig]) -> TokenRegistry:
    """The local cluster's tokens from the shipped configuration (no database needed)."""
    return build_tokens(make_config())


@pytest.fixture(name="store")
async def _store(config: AgentConfig) -> AsyncIterator[Store]:
    """A migrated store on the configured (fresh) database, closed after the test."""
    store = Store.from_url(config.database_url)
    try:
        await store.upgrade()
        yield store
    finally:
        await store.aclose()
