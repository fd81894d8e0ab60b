"""Shared fixtures: every storage test runs on SQLite and, where reachable, PostgreSQL.

PostgreSQL is found at ``PARLEY_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432``).
Each test gets a fresh database ``parley_test_<random>`` that is dropped afterwards. When the
server cannot be reached the PostgreSQL variants skip with the reason, except under CI
(``CI=true``), where an unreachable server is a failure: CI must prove both engines.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

import parley.running  # noqa: F401  (wires the workflows and the watch into messaging, as every entry point does)

PG_BASE = os.environ.get("PARLEY_TEST_PG", "postgresql://postgres@127.0.0.1:5432")


def _pg_reachable() -> str | None:
    """None when PostgreSQL answers, else the reason it does not."""
    try:
        eng = create_engine(_driver_url(PG_BASE + "/postgres"), connect_args={"connect_timeout": 3})
        with eng.connect() as conn:
            conn.execute(text("select 1"))
        eng.dispose()
    except Exception as exc:  # any failure to connect means: not reachable
        return f"PostgreSQL not reachable at {PG_BASE}: {type(exc).__name__}: {exc}"
    return None


def _driver_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


_PG_PROBLEM: str | bool | None = False  # False: not probed yet


def pg_problem() -> str | None:
    global _PG_PROBLEM
    if _PG_PROBLEM is False:
        _PG_PROBLEM = _pg_reachable()
    assert _PG_PROBLEM is not False
    return _PG_PROBLEM


def require_pg() -> None:
    problem = pg_problem()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI requires PostgreSQL: {problem}")
        pytest.skip(problem)


@pytest.fixture
def pg_url(pg_factory: Callable[[], str]) -> str:
    """A fresh, empty PostgreSQL database URL (``postgresql://…``); dropped afterwards."""
    return pg_factory()


@pytest.fixture
def pg_factory() -> Iterator[Callable[[], str]]:
    """Makes fresh PostgreSQL databases on demand; drops them all afterwards."""
    require_pg()
    names: list[str] = []
    admin = create_engine(_driver_url(PG_BASE + "/postgres"), isolation_level="AUTOCOMMIT")

    def make() -> str:
        name = "parley_test_" + secrets.token_hex(6)
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        names.append(name)
        return f"{PG_BASE}/{name}"

    try:
        yield make
    finally:
        for name in names:
            _drop(admin, name)
        admin.dispose()


def _drop(admin: Engine, name: str) -> None:
    with admin.connect() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :n AND pid <> pg_backend_pid()"
            ),
            {"n": name},
        )
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL for an empty database, once per engine."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'parley.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def db_engine(db_url: str) -> Iterator[Engine]:
    """An Engine on an empty database with every table of ``metadata`` created."""
    from parley.running.schema import metadata
    from parley.storage.engines import create_db_engine

    engine = create_db_engine(db_url)
    metadata.create_all(engine)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_kind(request: pytest.FixtureRequest) -> str:
    """Run an end-to-end test once per engine (PostgreSQL skips or fails as above)."""
    if request.param == "postgresql":
        require_pg()
    return str(request.param)
