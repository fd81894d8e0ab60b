"""Fixtures for the workflow tests: two in-process nodes on a ManualClock (see support.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.workflows.support import Pair, copy_pair, make_pair


@pytest.fixture(scope="session")
def pair_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two initialised, peered SQLite nodes with the border channel open, made once."""
    base = tmp_path_factory.mktemp("workflows-template")
    pair = make_pair(base)
    pair.close()
    return base


@pytest.fixture
def sqlite_pair(pair_template: Path, tmp_path: Path) -> Iterator[Pair]:
    p = copy_pair(pair_template, tmp_path / "nodes")
    yield p
    p.close()


@pytest.fixture
def any_pair(tmp_path: Path, db_url: str, pair_template: Path) -> Iterator[Pair]:
    """Once on SQLite (from the template) and once with node a on PostgreSQL."""
    if db_url.startswith("postgresql"):
        p = make_pair(tmp_path, db_url)
    else:
        p = copy_pair(pair_template, tmp_path / "nodes")
    yield p
    p.close()
