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
from parley.devnet.proxy import free_port
from tests.conftest import PG_BASE, _driver_url, _drop, pg_problem
from tests.harness.nodes import CHARTER, PASSWORD, NodeProcess

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
    """What the harness's ``make_pair`` does, with the CLI run in process.

    Each CLI subprocess is a Python start-up, several seconds on a busy two-core machine;
    the same commands in process take a fraction of that. The nodes still run as processes.
    """
    nodes = []
    for (name, party), db_url in zip((("node-a", "Norway"), ("node-b", "Russia")), db_urls, strict=True):
        port = free_port()
        home = base / name
        args = ["init", "--name", name, "--party", party, "--listen", f"127.0.0.1:{port}"]
        args += ["--url", f"https://127.0.0.1:{port}"] + (["--database", db_url] if db_url else [])
        _parley("--home", str(home), *args)
        node = NodeProcess(home, name, port, port, tick=0.2)
        h = ["--home", str(home)]
        _parley(*h, "identity", "--out", str(base / f"{name}.card.json"))
        _parley(*h, "desk", "add", "duty")
        (base / "pw").write_text(PASSWORD)
        _parley(
            *h,
            "operator",
            "add",
            f"op-{name}",
            "--desk",
            "duty",
            "--role",
            "duty",
            "--password-file",
            str(base / "pw"),
        )
        node.token = _parley(*h, "token", "issue", f"op-{name}").strip()
        nodes.append(node)
    a, b = nodes
    _parley("--home", str(a.home), "peer", "add", str(base / "node-b.card.json"))
    _parley("--home", str(b.home), "peer", "add", str(base / "node-a.card.json"))
    charter = base / "charter.toml"
    charter.write_text(CHARTER.format(id="test-line", a=a.name, b=b.name, interval=5, flash=300))
    _parley(
        "--home",
        str(a.home),
        "channel",
        "propose",
        "--peer",
        b.name,
        "--charter",
        str(charter),
        "--out",
        str(base / "proposal.json"),
    )
    _parley(
        "--home",
        str(b.home),
        "channel",
        "accept",
        str(base / "proposal.json"),
        "--out",
        str(base / "countersigned.json"),
    )
    _parley("--home", str(a.home), "channel", "accept", str(base / "countersigned.json"))
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
