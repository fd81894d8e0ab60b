"""Fixtures for the foundation tests (helpers live in ``foundation_support``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The helpers module sits next to this file; make it importable however pytest is started.
sys.path.insert(0, str(Path(__file__).parent))

from foundation_support import Cli, Pair, make_pair, open_channel


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(capsys)


@pytest.fixture
def pair(cli: Cli, tmp_path: Path, db_url: str) -> Pair:
    """Two nodes by ``init`` with cards exchanged and a desk each; ``a`` on ``db_url``'s engine."""
    return make_pair(cli, tmp_path, db_url)


@pytest.fixture
def linked(cli: Cli, pair: Pair) -> Pair:
    """``pair`` with the channel ``direct-line`` open on both sides."""
    open_channel(cli, pair)
    return pair
