"""``parley roster``, ``parley handover`` and ``parley operator contact`` as an operator runs
them (the real CLI, in process, on a real SQLite home): every bad input exits 1 with a
message that says what is wrong and what to do, and changes nothing."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from parley.cli.main import main
from parley.directory.contacts import operator_contacts
from parley.directory.desks import do_add_desk
from parley.directory.operators import do_add_operator
from parley.node import Node, init_home
from parley.storage.tables import audit_log
from parley.watch.tables import handovers, shifts

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("roster-cli")
    home = init_home(base / "n", name="n", party="Norway", listen="127.0.0.1:1")
    node = Node.open(home)
    do_add_desk(node, "duty")
    do_add_desk(node, "harbour")
    for user, role in (("olsen", "duty"), ("hansen", "duty"), ("berg", "supervisor"), ("lund", "auditor")):
        do_add_operator(node, user, "duty", role, PASSWORD)
    node.close()
    return home


@pytest.fixture
def home(template: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "n"
    shutil.copytree(template, dest)
    os.chmod(dest, 0o700)
    return dest


class Run:
    def __init__(self, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.home = home
        self.capsys = capsys

    def __call__(self, *args: str, code: int = 0) -> tuple[str, str]:
        self.capsys.readouterr()
        got = main(["--home", str(self.home), *args])
        out, err = self.capsys.readouterr()
        assert got == code, f"parley {' '.join(args)} exited {got}: {out} {err}"
        return out, err

    def state(self) -> tuple[int, ...]:
        node = Node.open(self.home)
        try:
            with node.engine.connect() as conn:
                return tuple(
                    conn.execute(select(func.count()).select_from(t)).scalar_one()
                    for t in (shifts, handovers, operator_contacts, audit_log)
                )
        finally:
            node.close()

    def refused(self, *args: str, message: str) -> str:
        before = self.state()
        _, err = self(*args, code=1)
        assert err.startswith("error: "), err
        assert message in err, err
        assert " — " in err, f"no hint in {err!r}"
        assert self.state() == before, f"parley {' '.join(args)} changed something"
        return err


@pytest.fixture
def run(home: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    return Run(home, capsys)


SHIFT = ["--start", "2030-01-07T08:00", "--end", "2030-01-07T20:00", "--tz", "Europe/Oslo"]


def test_add_show_remove(run: Run) -> None:
    out, err = run("roster", "add", "duty", "--operator", "olsen", *SHIFT)
    assert out.startswith(
        "added shift 1: olsen (watch) at duty, 2030-01-07 08:00 – 2030-01-07 20:00 Europe/Oslo"
    )
    out, err = run(
        "roster", "add", "duty", "--operator", "hansen", "--start", "2030-01-07T19:00",
        "--end", "2030-01-08T08:00", "--tz", "Europe/Oslo", "--repeat", "weekly", "--until", "2030-01-21",
    )  # fmt: skip
    assert "added 3 shifts (ids 2–4)" in out
    shown = json.loads(
        run("roster", "show", "duty", "--from", "2030-01-07", "--to", "2030-01-09", "--json")[0]
    )
    assert [(s["id"], s["operator"], s["start"], s["end"]) for s in shown["shifts"]] == [
        (1, "olsen", "2030-01-07T07:00:00Z", "2030-01-07T19:00:00Z"),
        (2, "hansen", "2030-01-07T18:00:00Z", "2030-01-08T07:00:00Z"),
    ]
    assert {"kind": "overlap", "start": "2030-01-07T18:00:00Z", "end": "2030-01-07T19:00:00Z",
            "operators": ["hansen", "olsen"]} in shown["warnings"]  # fmt: skip
    out, err = run(
        "roster", "show", "duty", "--from", "2030-01-07", "--to", "2030-01-09", "--tz", "Europe/Oslo"
    )
    assert "Overlap: hansen, olsen on watch at the same time from 2030-01-07 19:00 to 2030-01-07 20:00" in err
    out, err = run("roster", "remove", "1")
    assert out.startswith("removed shift 1: olsen (watch) at duty")
    assert run.state()[0] == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["duty", "--operator", "ghost", *SHIFT], "unknown operator 'ghost'"),
        (["duty", "--operator", "lund", *SHIFT], "lund has the role auditor on desk 'duty'"),
        (["harbour", "--operator", "olsen", *SHIFT], "olsen has no role on desk 'harbour'"),
        (["nowhere", "--operator", "olsen", *SHIFT], "unknown desk 'nowhere'"),
        (
            [
                "duty",
                "--operator",
                "olsen",
                "--start",
                "2030-01-07T08:00",
                "--end",
                "2030-01-07T06:00",
                "--tz",
                "UTC",
            ],
            "ends (2030-01-07T06:00) before it starts (2030-01-07T08:00)",
        ),
        (["duty", "--operator", "olsen", *SHIFT[:4], "--tz", "Oslo"], "unknown time zone 'Oslo'"),
        (
            [
                "duty",
                "--operator",
                "olsen",
                "--start",
                "2030-01-07T08:00",
                "--end",
                "2030-01-15T08:00",
                "--tz",
                "UTC",
            ],
            "longer than 7 days",
        ),
        (["duty", "--operator", "olsen", *SHIFT, "--as", "boss"], "unknown shift role 'boss'"),
        (["duty", "--operator", "olsen", *SHIFT, "--repeat", "daily"], "--repeat needs --until"),
        (
            ["duty", "--operator", "olsen", *SHIFT, "--repeat", "daily", "--until", "2031-06-01"],
            "more than 366",
        ),
        (["duty", "--operator", "olsen", *SHIFT, "--repeat", "daily", "--until", "soon"], "is not a date"),
    ],
)
def test_roster_add_refuses_bad_input(run: Run, args: list[str], message: str) -> None:
    run.refused("roster", "add", *args, message=message)


def test_roster_remove_and_show_refuse_bad_input(run: Run) -> None:
    run.refused("roster", "remove", "42", message="no shift with id 42")
    run.refused("roster", "show", "nowhere", message="unknown desk 'nowhere'")
    run.refused(
        "roster", "show", "duty", "--from", "2030-01-09", "--to", "2030-01-08", message="--to is not after"
    )
    run.refused(
        "roster", "show", "duty", "--from", "2030-01-01", "--to", "2032-01-01", message="longer than 366"
    )


ROSTER = """
tz = "Europe/Oslo"

[[shift]]
operator = "olsen"
start = "2030-01-07T08:00"
end = "2030-01-07T20:00"
repeat = "daily"
until = 2030-01-09

[[shift]]
operator = "hansen"
start = 2030-01-07T20:00:00
end = "2030-01-08T08:00"
tz = "Europe/Moscow"
"""


def test_import_a_whole_roster(run: Run, tmp_path: Path) -> None:
    f = tmp_path / "roster.toml"
    f.write_text(ROSTER)
    out, _ = run("roster", "import", "duty", str(f))
    assert out.startswith("imported 4 shifts to duty")
    shown = json.loads(
        run("roster", "show", "duty", "--from", "2030-01-07", "--to", "2030-01-08", "--json")[0]
    )
    assert ("hansen", "Europe/Moscow", "2030-01-07T17:00:00Z") in [
        (s["operator"], s["tz"], s["start"]) for s in shown["shifts"]
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("shift = [", "is not valid TOML"),
        ("zone = 'UTC'", "unknown key 'zone' at the top"),
        ("tz = 'UTC'", "holds no [[shift]]"),
        ("[[shift]]\noperator = 'olsen'\nstart = '2030-01-07T08:00'", "shift 1 has no 'end'"),
        (
            "[[shift]]\noperator = 'olsen'\nstart = '2030-01-07T08:00'\nend = '2030-01-07T09:00'\nx = 1",
            "unknown key 'x'",
        ),
        (
            "[[shift]]\noperator = 'olsen'\nstart = '2030-01-07T08:00'\nend = 5",
            "every value must be a string",
        ),
        (
            ROSTER + "\n[[shift]]\noperator = 'olsen'\nstart = '2030-01-09T08:00'\nend = '2030-01-09T07:00'",
            "shift 3: the shift ends",
        ),
        (
            ROSTER + "\n[[shift]]\noperator = 'ghost'\nstart = '2030-01-09T08:00'\nend = '2030-01-09T09:00'",
            "unknown operator 'ghost'",
        ),
    ],
)
def test_import_refuses_a_bad_file_whole(run: Run, tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "roster.toml"
    f.write_text(text)
    run.refused("roster", "import", "duty", str(f), message=message)


def test_import_reads_files_within_bounds(run: Run, tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * (1024 * 1024 + 1))
    run.refused("roster", "import", "duty", str(big), message="is larger than a roster file may be")
    run.refused("roster", "import", "duty", "/dev/zero", message="not a regular file")
    run.refused("roster", "import", "duty", str(tmp_path / "missing.toml"), message="no such file")
    many = tmp_path / "many.toml"
    many.write_text("".join(
        "[[shift]]\noperator='olsen'\nstart='2030-01-07T08:00'\nend='2030-01-07T09:00'\n" for _ in range(2001)
    ))  # fmt: skip
    run.refused("roster", "import", "duty", str(many), message="more than 2000")


def test_handover_commands(run: Run) -> None:
    started = json.loads(
        run("handover", "start", "duty", "--operator", "olsen", "--note", "Radar 2 down.", "--json")[0]
    )
    assert (started["note"], started["items"], started["incoming"]) == ("Radar 2 down.", [], None)
    out, _ = run("handover", "show", started["id"])
    assert "note: Radar 2 down.\nopen items: none\n" in out
    run.refused("handover", "confirm", started["id"], "--operator", "olsen", message="cannot also confirm it")
    run.refused("handover", "confirm", started["id"], "--operator", "lund", message="the role auditor")
    run.refused("handover", "confirm", started["id"], "--operator", "ghost", message="unknown operator")
    out, _ = run("handover", "confirm", started["id"], "--operator", "hansen")
    assert out.startswith(f"hansen confirmed handover {started['id']} at duty from olsen")
    run.refused(
        "handover", "confirm", started["id"], "--operator", "berg", message="already confirmed by hansen"
    )
    run.refused("handover", "show", "nope", message="no handover 'nope'")
    run.refused("handover", "start", "duty", "--operator", "olsen", "--note", "  ", message="note is empty")
    run.refused("handover", "start", "duty", "--operator", "olsen", "--note", "x" * 2001, message="over 2000")
    run.refused(
        "handover", "start", "duty", "--operator", "olsen", "--note", "bell\x07", message="control characters"
    )
    run.refused("handover", "start", "duty", "--operator", "lund", "--note", "hi", message="the role auditor")
    run.refused("handover", "start", "nowhere", "--operator", "olsen", "--note", "hi", message="unknown desk")


def test_operator_contact(run: Run) -> None:
    out, _ = run("operator", "contact", "olsen", "--email", "olsen@politi.no", "--phone", "+47 123 45 678")
    assert out == "olsen: e-mail olsen@politi.no, phone +4712345678\n"
    out, _ = run("operator", "contact", "olsen", "--phone", "+79001234567")
    assert out == "olsen: e-mail olsen@politi.no, phone +79001234567\n"  # e-mail kept
    for args, message in [
        (["--email", "olsen"], "has no '@'"),
        (["--email", "olsen@"], "has no '@'"),
        (["--email", "ol sen@politi.no"], "invalid part before the '@'"),
        (["--email", "olsen@politi"], "invalid domain"),
        (["--email", "olsen@-politi.no"], "invalid domain"),
        (["--email", "a" * 65 + "@politi.no"], "invalid part before the '@'"),
        (["--email", "a@" + "b" * 250 + ".no"], "over 254"),
        (["--phone", "12345678"], "not an international number"),
        (["--phone", "+0123456789"], "not an international number"),
        (["--phone", "+4712345678901234"], "not an international number"),
        (["--email", "ok@politi.no", "--phone", "+47abc"], "not an international number"),
        (["--clear", "--email", "ok@politi.no"], "--clear cannot be combined"),
    ]:
        run.refused("operator", "contact", "olsen", *args, message=message)
    run.refused("operator", "contact", "ghost", "--email", "a@b.no", message="unknown operator 'ghost'")
    assert json.loads(run("operator", "contact", "olsen", "--json")[0])["phone"] == "+79001234567"
    out, _ = run("operator", "contact", "olsen", "--clear")
    assert out == "olsen: no contact addresses (cleared)\n"
    with Node.open(run.home).engine.connect() as conn:
        actions = [r.action for r in conn.execute(select(audit_log.c.action).order_by(audit_log.c.id))]
    assert actions[-3:] == ["operator_contact_set", "operator_contact_set", "operator_contact_clear"]
