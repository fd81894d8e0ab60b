"""Modes of a node's home (issue 14 item 8): 0700 for the home, 0600 for every secret, from
``init`` on; a home whose secrets others can read is refused on every open, naming the file,
its mode and the ``chmod`` to run, with nothing changed.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from foundation_support import Cli, Pair, snapshot

from parley.directory.desks import do_add_desk
from parley.node import Node

SECRETS = ("identity.key", "tls/key.pem", "parley.toml", "parley.db")


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite: the database file is one of the secrets checked here."""
    return f"sqlite:///{tmp_path / 'parley.db'}"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_makes_the_home_private(cli: Cli, tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask, under which SQLite would make a 0644 database
    try:
        cli.ok("--home", tmp_path / "node", "init", "--name", "no-njhq", "--party", "Norway")
    finally:
        os.umask(old)
    home = tmp_path / "node"
    assert mode(home) == 0o700
    assert mode(home / "tls") == 0o700
    for rel in SECRETS:
        assert mode(home / rel) == 0o600, rel
    # SQLite gives its -wal and -shm files the database's mode: look while a writer is open.
    node = Node.open(home)
    try:
        do_add_desk(node, "duty-officer", "")
        companions = [p for p in home.iterdir() if p.name.startswith("parley.db-")]
        assert companions, "expected the WAL files of an open database"
        for path in companions:
            assert mode(path) == 0o600, path.name
    finally:
        node.close()


@pytest.mark.parametrize("rel", [*SECRETS, "console.key"])
@pytest.mark.parametrize("bad", [0o644, 0o640, 0o622])
def test_a_secret_others_can_reach_is_refused_on_every_open(cli: Cli, pair: Pair, rel: str, bad: int) -> None:
    path = pair.a / rel
    if rel == "console.key":  # made on the first TOTP enrolment; checked whenever it exists
        path.write_bytes(os.urandom(32))
    os.chmod(path, bad)
    before = snapshot(pair.a)
    how = "readable" if bad & 0o044 else "writable"
    for command in (["peer", "list"], ["desk", "add", "other-desk"], ["serve"], ["db", "status"]):
        cli.fails(
            "--home", pair.a, *command,
            what=f"{path} is {how} by others \\(mode 0{bad:o}\\)", todo=f"run: chmod 600 {path}",
        )  # fmt: skip
    assert snapshot(pair.a) == before
    os.chmod(path, 0o600)
    cli.ok("--home", pair.a, "peer", "list")


@pytest.mark.parametrize("rel", [".", "tls"])
def test_a_home_others_can_write_to_is_refused(cli: Cli, pair: Pair, rel: str) -> None:
    path = pair.a / rel
    os.chmod(path, 0o777)
    try:
        cli.fails(
            "--home", pair.a, "peer", "list",
            what="can be written by other users \\(mode 0777\\)", todo="run: chmod 700",
        )  # fmt: skip
    finally:
        os.chmod(path, 0o700)
    os.chmod(path, 0o755)  # readable directories leak names only; the files are 0600
    cli.ok("--home", pair.a, "peer", "list")
