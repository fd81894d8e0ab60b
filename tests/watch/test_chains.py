"""``parley chain set / show / clear``: stored on SQLite and PostgreSQL, bad input refused
with a clear error and nothing changed (docs/watch.md §Escalation chains and pagers).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from parley.cli.main import main
from parley.devnet.nodes import PASSWORD
from parley.watch.chains import MAX_STEPS, parse_step
from tests.federation.crafting import quick_pair


def _run(capsys: pytest.CaptureFixture[str], home: Path, *args: str) -> tuple[int, str, str]:
    code = main(["--home", str(home), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def _pair_home(base: Path, urls: tuple[str | None, str | None] = (None, None)) -> Path:
    """Node A of a real pair (FLASH deadline 300 s on its channel), with a head of desk."""
    a, _b = quick_pair(base, db_urls=urls, flash=300)
    pw = base / "pw"
    pw.write_text(PASSWORD)
    a.cli_here(
        "operator",
        "add",
        "head-of-desk",
        "--desk",
        "duty",
        "--role",
        "supervisor",
        "--password-file",
        str(pw),
    )
    return a.home


@pytest.fixture
def home(tmp_path: Path, engine_kind: str, request: pytest.FixtureRequest) -> Path:
    urls: tuple[str | None, str | None] = (None, None)
    if engine_kind == "postgresql":
        factory: Callable[[], str] = request.getfixturevalue("pg_factory")
        urls = (factory(), None)
    return _pair_home(tmp_path, urls)


@pytest.fixture(scope="module")
def sqlite_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _pair_home(tmp_path_factory.mktemp("chains"))


def test_set_show_clear_round_trip(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(
        capsys,
        home,
        "chain", "set", "duty", "FLASH",
        "--step", "0:console", "--step", "60:watch", "--step", "3m:supervisor",
        "--step", "300:operator:head-of-desk/email,command",
    )  # fmt: skip
    assert code == 0
    assert "0:console, 60:watch, 180:supervisor, 300:operator:head-of-desk/email,command" in out
    assert _run(capsys, home, "chain", "set", "duty", "immediate", "--step", "10m:role:admin")[0] == 0
    code, out, _ = _run(capsys, home, "chain", "show", "duty", "--json")
    shown = json.loads(out)
    assert [(c["precedence"], [s["after_s"] for s in c["steps"]]) for c in shown] == [
        ("FLASH", [0, 60, 180, 300]),
        ("IMMEDIATE", [600]),
    ]
    assert shown[0]["steps"][3] == {
        "after_s": 300,
        "target": "operator:head-of-desk",
        "media": ["email", "command"],
    }
    code, out, _ = _run(capsys, home, "chain", "clear", "duty", "FLASH")
    assert code == 0
    assert "removed 1" in out
    code, out, _ = _run(capsys, home, "chain", "show")
    assert "IMMEDIATE" in out
    assert "FLASH" not in out
    _run(capsys, home, "chain", "clear", "duty")
    code, out, _ = _run(capsys, home, "chain", "show")
    assert "no escalation chains" in out
    assert "[escalation]" in out


BAD: list[tuple[list[str], str]] = [
    (["nodesk", "FLASH", "--step", "0:console"], "unknown desk 'nodesk'"),
    (["duty", "URGENT", "--step", "0:console"], "unknown precedence 'URGENT'"),
    (["duty", "FLASH", "--step", "60:operator:nobody"], "unknown operator 'nobody'"),
    (["duty", "FLASH", "--step", "soon:watch"], "does not start with a number of seconds"),
    (["duty", "FLASH", "--step", "60:everyone"], "unknown target 'everyone'"),
    (["duty", "FLASH", "--step", "60:watch/pigeon"], "media must be distinct ones of"),
    (["duty", "FLASH", "--step", "0:console/email"], "takes no media"),
    (["duty", "FLASH", "--step", "60:watch", "--step", "0:console"], "comes before the step above it"),
    (
        ["duty", "FLASH", "--step", "60:watch", "--step", "301:supervisor"],
        "after the FLASH acknowledgment deadline",
    ),
    (["duty", "FLASH", "--step", "60:watch", "--step", "60:watch"], "paged twice at the same time"),
    (["duty", "FLASH"], "at least one step"),
    (["duty", "FLASH", *[a for i in range(MAX_STEPS + 1) for a in ("--step", f"{i}:watch")]], "more than 10"),
]


@pytest.mark.parametrize(("args", "error"), BAD, ids=[e.split("'")[0][:30] for _, e in BAD])
def test_bad_input_is_refused_and_changes_nothing(
    sqlite_home: Path, capsys: pytest.CaptureFixture[str], args: list[str], error: str
) -> None:
    home = sqlite_home
    assert (
        _run(capsys, home, "chain", "set", "duty", "FLASH", "--step", "0:console", "--step", "60:watch")[0]
        == 0
    )
    code, before, _ = _run(capsys, home, "chain", "show", "--json")
    code, _out, err = _run(capsys, home, "chain", "set", *args)
    assert code == 1
    assert err.startswith("error: ")
    assert error in err
    assert " — " in err, "what is wrong — what to do"
    assert _run(capsys, home, "chain", "show", "--json")[1] == before


def test_step_syntax() -> None:
    assert parse_step("90s:watch").after_s == 90
    assert parse_step("2h:role:admin").after_s == 7200
    assert parse_step(" 5m : supervisor ").target == "supervisor"
    assert parse_step("0:watch/webhook").media == ("webhook",)
