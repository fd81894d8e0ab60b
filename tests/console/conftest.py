"""Two real nodes for the console tests, shared by every test in this directory.

Node A (Norway) keeps its data in PostgreSQL when a server is reachable, node B (Russia)
in SQLite, so the console runs on both engines. They are set up like the harness's
``make_pair`` (same charter, desks, operators and tokens). Besides the harness's duty operators,
node A has an auditor, an operator with a TOTP second factor and one whose failed log-ins
trip the brake; node B's operator reads Russian.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from parley.cli.main import main
from tests.conftest import PG_BASE, _driver_url, _drop, pg_problem
from tests.harness.nodes import NodeProcess, make_pair

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "screenshots"


@pytest.fixture(scope="session")
def console_pg() -> Iterator[str | None]:
    problem = pg_problem()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI requires PostgreSQL: {problem}")
        yield None  # node A falls back to SQLite; the tests still run
        return
    admin = create_engine(_driver_url(PG_BASE + "/postgres"), isolation_level="AUTOCOMMIT")
    name = "parley_test_console_" + secrets.token_hex(4)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG_BASE}/{name}"
    finally:
        _drop(admin, name)
        admin.dispose()


def _parley(*args: str) -> str:
    """Run the real CLI in this process (what ``parley ARGS`` prints), failing loudly."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    assert code == 0, f"parley {' '.join(args)} failed: {err.getvalue()}"
    return out.getvalue()


def make_console_pair(base: Path, db_urls: tuple[str | None, str | None]) -> tuple[NodeProcess, NodeProcess]:
    """The harness's ``make_pair`` (link tests every 5 s), plus the console's operators."""
    a, b = make_pair(base, db_urls=db_urls, interval=5)
    _parley("--home", str(b.home), "operator", "lang", "op-node-b", "ru")
    for user, role in (("auditor-a", "auditor"), ("totp-a", "duty"), ("brake-a", "duty")):
        _parley(
            "--home",
            str(a.home),
            "operator",
            "add",
            user,
            "--desk",
            "duty",
            "--role",
            role,
            "--password-file",
            str(base / "pw"),
        )
    return a, b


@pytest.fixture(scope="session")
def nodes(
    tmp_path_factory: pytest.TempPathFactory, console_pg: str | None
) -> Iterator[tuple[NodeProcess, NodeProcess]]:
    a, b = make_console_pair(tmp_path_factory.mktemp("console"), (console_pg, None))
    try:
        a.start()
        b.start()
        yield a, b
    finally:
        for n in (a, b):
            n.stop()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    found = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if not found:
        reason = "no Chromium at /usr/bin/chromium (apt-get install -y chromium); browser tests skipped"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return found
