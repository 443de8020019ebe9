"""Shared fixtures: a throw-away home with the shipped configs, and database URLs per backend.

PostgreSQL and Redis come from OTC_AGENT_TEST_POSTGRES_URL / OTC_AGENT_TEST_REDIS_URL. Tests
that need them skip with a reason when the variable is unset, and fail when it is set but the
server cannot be reached.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog
from sqlalchemy.engine import make_url

from agent.config import AgentConfig, load_config

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
POSTGRES_ENV = "OTC_AGENT_TEST_POSTGRES_URL"
REDIS_ENV = "OTC_AGENT_TEST_REDIS_URL"
# CI (.ci/run) sets it: the long reliability runs fit its budget, not a developer's loop.
SLOW_ENV = "OTC_AGENT_SLOW_TESTS"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--live", action="store_true", help="run tests that reach public services")
    parser.addoption(
        "--slow", action="store_true", help=f"run long end-to-end tests (or set {SLOW_ENV}=1)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skips = {}
    if not config.getoption("--live"):
        skips["live"] = pytest.mark.skip(reason="talks to a public service; run with --live")
    if not (config.getoption("--slow") or os.environ.get(SLOW_ENV) == "1"):
        skips["slow"] = pytest.mark.skip(reason=f"long end-to-end run; use --slow or {SLOW_ENV}=1")
    for item in items:
        for marker, skip in skips.items():
            if item.get_closest_marker(marker) is not None:
                item.add_marker(skip)


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()


@pytest.fixture(name="clean_environ", autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """The host's own overrides must not leak into tests."""
    for name in list(os.environ):
        if name.startswith("OTC_AGENT__") or name in (
            "OTC_AGENT_HOME",
            "DATABASE_URL",
            "OTC_AGENT_CONFIG",
        ):
            monkeypatch.delenv(name, raising=False)
    # Static prices only: the suite must not depend on whether a price API answers.
    monkeypatch.setenv("OTC_AGENT__PRICES__SOURCES", '["static"]')


@pytest.fixture(name="config_dir")
def _config_dir(tmp_path: Path) -> Path:
    """A copy of configs/ that a test may edit."""
    target = tmp_path / "configs"
    shutil.copytree(CONFIGS, target)
    return target


def _admin_connection(base_url: str):  # type: ignore[no-untyped-def]
    import psycopg

    url = make_url(base_url)
    return psycopg.connect(
        host=url.host, port=url.port or 5432, user=url.username, password=url.password,
        dbname=url.database or "postgres", connect_timeout=10, autocommit=True,
    )  # fmt: skip


def create_postgres_database(base_url: str) -> str:
    """A new, empty database on the test server; returns its URL (psycopg driver)."""
    name = f"otc_test_{uuid.uuid4().hex[:12]}"
    with _admin_connection(base_url) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = make_url(base_url).set(drivername="postgresql+psycopg", database=name)
    return url.render_as_string(hide_password=False)


def drop_postgres_database(base_url: str, test_url: str) -> None:
    with _admin_connection(base_url) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{make_url(test_url).database}" WITH (FORCE)')


@contextlib.contextmanager
def fresh_postgres_database() -> Iterator[str]:
    base = postgres_base_url()
    url = create_postgres_database(base)
    try:
        yield url
    finally:
        drop_postgres_database(base, url)


def postgres_base_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set")
    return url


@pytest.fixture(name="database_url", params=["sqlite", "postgresql"])
def _database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database per test: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(name="sqlite_url")
def _sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'agent.db'}"


@pytest.fixture(name="make_config")
def _make_config(tmp_path: Path, config_dir: Path) -> Callable[..., AgentConfig]:
    """Load configs/local.toml with a temporary home and optional environment overrides."""

    def make(database_url: str | None = None, **overrides: str) -> AgentConfig:
        # Static prices unless a test asks otherwise: no test depends on a price API answering.
        environ = {"OTC_AGENT__PRICES__SOURCES": '["static"]'}
        environ |= {f"OTC_AGENT__{key.upper()}": value for key, value in overrides.items()}
        if database_url is not None:
            environ["DATABASE_URL"] = database_url
        return load_config(config_dir / "local.toml", home=str(tmp_path / "home"), environ=environ)

    return make


@pytest.fixture(name="postgres_url")
def _postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test (skips without OTC_AGENT_TEST_POSTGRES_URL)."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(name="redis_url")
def _redis_url() -> str:
    """The test Redis (skips without OTC_AGENT_TEST_REDIS_URL, fails when it does not answer).

    Tests share the server: each names its streams with :func:`unique_key`.
    """
    import redis

    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(f"{REDIS_ENV} is not set")
    client = redis.Redis.from_url(url, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"{REDIS_ENV}={url} does not answer: {exc}")
    finally:
        client.close()
    return url


def unique_key(prefix: str) -> str:
    """A Redis key no other test (or earlier run) uses."""
    return f"otc-agent-test:{prefix}:{uuid.uuid4().hex[:12]}"
