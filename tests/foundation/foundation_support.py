"""Helpers for the foundation tests: the real ``parley`` CLI, run in process on real homes.

``cli`` runs ``parley.cli.main.main(argv)`` and captures what it prints; ``pair`` makes two
nodes by ``init`` (the Norwegian one on the parametrised engine, SQLite or PostgreSQL, the
Russian one on SQLite), exchanges their identity cards and adds their desks; ``linked``
goes on to agree a channel through files. ``snapshot`` reads every row of every table so a
failing command can be shown to have changed nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, inspect, select

from parley.cli.main import main
from parley.config import Config
from parley.node import resolve_db_url
from parley.running.schema import metadata
from parley.storage.engines import create_db_engine

NO = "no-njhq"
RU = "ru-nf"
NO_DESK = "duty-officer"
RU_DESK = "nf-duty"
PASSWORD = "correct horse battery"

CHARTER = f"""\
id = "direct-line"
name = {{ nb = "Direktelinje NJHQ–Nordflåten", ru = "Прямая линия", en = "Direct line" }}
basis = {{ agreement = "Standing arrangement NJHQ–Northern Fleet", date = 2008-05-01 }}
members = ["{NO}/{NO_DESK}", "{RU}/{RU_DESK}"]
types = ["general", "incident-at-sea"]
topics = ["border-situation"]
languages = ["nb", "ru", "en"]
deadlines_s = {{ FLASH = 300 }}
link_test_interval_s = 3600
"""


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Cli:
    """The real CLI in process; ``ok`` and ``fails`` assert how a command ended."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys

    def run(self, *args: str | Path) -> Run:
        self._capsys.readouterr()
        code = main([str(a) for a in args])
        captured = self._capsys.readouterr()
        return Run(code, captured.out, captured.err)

    def ok(self, *args: str | Path) -> Run:
        result = self.run(*args)
        assert result.code == 0, f"parley {' '.join(map(str, args))} failed: {result.err}"
        return result

    def fails(self, *args: str | Path, what: str, todo: str | None = "") -> Run:
        """Assert a non-zero exit and one line ``error: <what> — <todo>`` on stderr.

        ``what`` and ``todo`` are regular expressions searched in the message and in the
        hint; ``todo=None`` means the error need not carry a hint.
        """
        result = self.run(*args)
        assert result.code != 0, f"parley {' '.join(map(str, args))} succeeded: {result.out}"
        lines = result.err.splitlines()
        assert len(lines) == 1, f"expected one line on stderr, got: {result.err!r}"
        line = lines[0]
        assert line.startswith("error: "), line
        message, sep, hint = line[len("error: ") :].partition(" — ")
        assert re.search(what, message), f"{what!r} not in {message!r}"
        if todo is not None:
            assert sep, f"error has no hint saying what to do: {line!r}"
            assert re.search(todo, hint), f"{todo!r} not in hint {hint!r}"
        return result


def home_engine(home: Path) -> Engine:
    """An engine on a home's database, read from its configuration like the node does."""
    return create_db_engine(resolve_db_url(home, Config.load(home).database.url))


@contextmanager
def connect(home: Path) -> Iterator[Connection]:
    """A transaction on a home's database (committed at the end), engine disposed after."""
    engine = home_engine(home)
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


def snapshot(home: Path) -> dict[str, Any]:
    """Every row of every table, plus every file of the home but the database's own."""
    engine = home_engine(home)
    try:
        with engine.connect() as conn:
            present = set(inspect(conn).get_table_names())
            tables = {
                t.name: sorted(repr(tuple(r)) for r in conn.execute(select(t)))
                for t in metadata.sorted_tables
                if t.name in present  # the migrations' tables; drift is test_storage's job
            }
    finally:
        engine.dispose()
    files = {
        str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(home.rglob("*"))
        if p.is_file() and not p.name.startswith("parley.db")
    }
    return {"tables": tables, "files": files}


def count(home: Path, table: str) -> int:
    engine = home_engine(home)
    try:
        with engine.connect() as conn:
            return len(conn.execute(select(metadata.tables[table])).all())
    finally:
        engine.dispose()


@dataclass
class Pair:
    """Two nodes that know each other's cards; ``a`` is Norwegian, ``b`` Russian."""

    a: Path
    b: Path
    files: Path
    engine: str  # the engine of ``a``: sqlite or postgresql

    def charter_file(self, text: str = CHARTER, name: str = "charter.toml") -> Path:
        path = self.files / name
        path.write_text(text)
        return path


def make_pair(cli: Cli, tmp_path: Path, db_url: str) -> Pair:
    files = tmp_path / "files"
    files.mkdir()
    a, b = tmp_path / "no", tmp_path / "ru"
    on_pg = db_url.startswith("postgresql")
    database = ["--database", db_url] if on_pg else []
    cli.ok(
        "--home",
        a,
        "init",
        "--name",
        NO,
        "--party",
        "Norway",
        "--listen",
        "127.0.0.1:18443",
        *database,
    )
    cli.ok("--home", b, "init", "--name", RU, "--party", "Russia", "--listen", "127.0.0.1:19443")
    cli.ok("--home", a, "identity", "--out", files / "no-card.json")
    cli.ok("--home", b, "identity", "--out", files / "ru-card.json")
    cli.ok("--home", a, "peer", "add", files / "ru-card.json")
    cli.ok("--home", b, "peer", "add", files / "no-card.json")
    cli.ok("--home", a, "desk", "add", NO_DESK, "--title", "NJHQ duty officer")
    cli.ok("--home", b, "desk", "add", RU_DESK, "--title", "Northern Fleet duty officer")
    return Pair(a, b, files, "postgresql" if on_pg else "sqlite")


def open_channel(cli: Cli, pair: Pair, text: str = CHARTER) -> None:
    charter = pair.charter_file(text)
    proposal, countersigned = pair.files / "proposal.json", pair.files / "countersigned.json"
    cli.ok(
        "--home",
        pair.a,
        "channel",
        "propose",
        "--peer",
        RU,
        "--charter",
        charter,
        "--out",
        proposal,
    )
    cli.ok("--home", pair.b, "channel", "accept", proposal, "--out", countersigned)
    cli.ok("--home", pair.a, "channel", "accept", countersigned)
