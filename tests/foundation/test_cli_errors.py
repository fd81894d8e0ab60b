"""Bad input of every kind: one line saying what is wrong and what to do, and nothing changed.

Each case snapshots every table and every file of the home before the command and compares
after it, so "refused" also means "changed nothing".
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from foundation_support import (
    CHARTER,
    NO,
    NO_DESK,
    PASSWORD,
    RU,
    RU_DESK,
    Cli,
    Pair,
    make_pair,
    snapshot,
)


def test_init_on_an_existing_home_changes_nothing(cli: Cli, pair: Pair) -> None:
    before = snapshot(pair.a)
    cli.fails(
        "--home",
        pair.a,
        "init",
        "--name",
        "other",
        "--party",
        "Norway",
        what="already holds a Parley node",
        todo="another --home",
    )
    assert snapshot(pair.a) == before


@pytest.mark.parametrize(
    ("args", "what", "todo"),
    [
        (
            ["--name", "NJHQ Bodø", "--party", "Norway"],
            "node name 'NJHQ Bodø' is not valid",
            "lower-case",
        ),
        (["--name", "no-njhq", "--party", " "], "--party must not be empty", "--party Norway"),
        (
            ["--name", "no-njhq", "--party", "Norway", "--listen", "8443"],
            "--listen '8443' is not HOST:PORT",
            "127.0.0.1:8443",
        ),
        (
            ["--name", "no-njhq", "--party", "Norway", "--listen", "host:99999"],
            "not HOST:PORT",
            "--listen",
        ),
        (
            ["--name", "no-njhq", "--party", "Norway", "--database", "mysql://x/y"],
            "unsupported database 'mysql",
            "SQLite",
        ),
    ],
)
def test_init_with_bad_values_leaves_no_home(
    cli: Cli, tmp_path: Path, args: list[str], what: str, todo: str
) -> None:
    home = tmp_path / "node"
    cli.fails("--home", home, "init", *args, what=what, todo=todo)
    assert not home.exists()
    assert list(tmp_path.iterdir()) == []  # no half-made temporary directory either


def test_no_home_at_all(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARLEY_HOME", raising=False)
    cli.fails("peer", "list", what="no node home given", todo="--home DIR or set PARLEY_HOME")


def test_a_home_that_is_not_a_node(cli: Cli, tmp_path: Path) -> None:
    cli.fails("--home", tmp_path, "peer", "list", what="is not a Parley home", todo="init")


def test_parley_home_is_used(cli: Cli, pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_HOME", str(pair.a))
    assert cli.ok("peer", "list", "--json").json()[0]["name"] == RU


# --- cards ---------------------------------------------------------------------------------


def _card(pair: Pair) -> dict[str, object]:
    card: dict[str, object] = json.loads((pair.files / "ru-card.json").read_text())
    return card


def _write(pair: Pair, name: str, value: object) -> Path:
    path = pair.files / name
    path.write_text(json.dumps(value))
    return path


@pytest.mark.parametrize(
    ("field", "value", "what"),
    [
        ("party", "Norway", "signature on 'ru-nf''s card does not verify"),
        ("url", "https://203.0.113.9:443", "signature on 'ru-nf''s card does not verify"),
        ("name", "ru-nf2", "signature on 'ru-nf2''s card does not verify"),
        ("key_id", "0000000000000000", "key id does not match the public key"),
    ],
)
def test_an_edited_card_is_refused(cli: Cli, tmp_path: Path, field: str, value: str, what: str) -> None:
    pair = make_pair(cli, tmp_path, "sqlite")
    # A third node, so that a valid card for an unknown name would otherwise be accepted.
    card = _card(pair)
    card["card"][field] = value  # type: ignore[index]
    path = _write(pair, "edited.json", card)
    cli.ok("--home", pair.a, "peer", "list")
    before = snapshot(pair.a)
    cli.fails("--home", pair.a, "peer", "add", path, what=what, todo=None)
    assert snapshot(pair.a) == before


def test_a_card_with_a_bad_signature_says_what_to_do(cli: Cli, pair: Pair) -> None:
    card = _card(pair)
    card["card"]["party"] = "Norway"  # type: ignore[index]
    before = snapshot(pair.a)
    cli.fails(
        "--home",
        pair.a,
        "peer",
        "add",
        _write(pair, "c.json", card),
        what="card: the signature",
        todo="fresh `parley identity`",
    )
    assert snapshot(pair.a) == before


def test_a_second_card_for_a_known_name_with_another_key(cli: Cli, pair: Pair, tmp_path: Path) -> None:
    impostor = tmp_path / "impostor"
    cli.ok("--home", impostor, "init", "--name", RU, "--party", "Russia", "--listen", "127.0.0.1:19443")
    cli.ok("--home", impostor, "identity", "--out", pair.files / "impostor.json")
    before = snapshot(pair.a)
    cli.fails(
        "--home",
        pair.a,
        "peer",
        "add",
        pair.files / "impostor.json",
        what="peer 'ru-nf' is already pinned with key",
        todo="key-rotation",
    )
    assert snapshot(pair.a) == before


def test_own_card_is_refused(cli: Cli, pair: Pair) -> None:
    before = snapshot(pair.a)
    cli.fails(
        "--home",
        pair.a,
        "peer",
        "add",
        pair.files / "no-card.json",
        what="this node's own card",
        todo="other side",
    )
    assert snapshot(pair.a) == before


@pytest.mark.parametrize(
    ("content", "what"),
    [
        ("{not json", "is not valid JSON"),
        ('{"card": {}, "card": {}}', "duplicate key 'card'"),
        ("[1, 2]", "not an identity card"),
        ('{"card": {"name": "x"}, "signature": ""}', "exactly the fields"),
    ],
)
def test_malformed_card_files(cli: Cli, pair: Pair, content: str, what: str) -> None:
    path = pair.files / "bad.json"
    path.write_text(content)
    before = snapshot(pair.a)
    cli.fails("--home", pair.a, "peer", "add", path, what=what)
    assert snapshot(pair.a) == before


def test_missing_file(cli: Cli, pair: Pair) -> None:
    cli.fails(
        "--home",
        pair.a,
        "peer",
        "add",
        pair.files / "nowhere.json",
        what="nowhere.json: no such file",
        todo="check the path",
    )
    cli.fails(
        "--home",
        pair.a,
        "channel",
        "accept",
        pair.files / "nowhere.json",
        what="no such file",
        todo="check the path",
    )
    cli.fails(
        "--home",
        pair.a,
        "channel",
        "propose",
        "--peer",
        RU,
        "--charter",
        pair.files / "nowhere.toml",
        "--out",
        pair.files / "p.json",
        what="nowhere.toml: no such file",
        todo="check the path",
    )
    assert not (pair.files / "p.json").exists()


# --- desks and operators -------------------------------------------------------------------


def test_desk_errors(cli: Cli, pair: Pair) -> None:
    before = snapshot(pair.a)
    cli.fails(
        "--home",
        pair.a,
        "desk",
        "add",
        NO_DESK,
        what="desk 'duty-officer' already exists",
        todo="parley desk list",
    )
    cli.fails(
        "--home",
        pair.a,
        "desk",
        "add",
        "Duty Officer",
        what="desk name 'Duty Officer'",
        todo="lower-case",
    )
    assert snapshot(pair.a) == before


@pytest.mark.parametrize(
    ("args", "password", "what", "todo"),
    [
        (
            ["--desk", "nowhere", "--role", "duty"],
            PASSWORD,
            "unknown desk 'nowhere'",
            "parley desk add",
        ),
        (
            ["--desk", NO_DESK, "--role", "boss"],
            PASSWORD,
            "unknown role 'boss'",
            "duty, supervisor",
        ),
        (
            ["--desk", NO_DESK, "--role", "duty"],
            "short",
            r"password too short \(5 characters\)",
            "at least 10",
        ),
    ],
)
def test_operator_errors(cli: Cli, pair: Pair, args: list[str], password: str, what: str, todo: str) -> None:
    pw = pair.files / "pw"
    pw.write_text(password + "\n")
    before = snapshot(pair.a)
    cli.fails(
        "--home",
        pair.a,
        "operator",
        "add",
        "hansen",
        *args,
        "--password-file",
        pw,
        what=what,
        todo=todo,
    )
    assert snapshot(pair.a) == before


def test_operator_without_a_password_source(cli: Cli, pair: Pair) -> None:
    before = snapshot(pair.a)
    cli.fails(
        "--home",
        pair.a,
        "operator",
        "add",
        "hansen",
        "--desk",
        NO_DESK,
        "--role",
        "duty",
        what="no password given",
        todo="--password-file",
    )
    cli.fails(
        "--home",
        pair.a,
        "operator",
        "add",
        "hansen",
        "--desk",
        NO_DESK,
        "--role",
        "duty",
        "--password-file",
        pair.files / "none",
        what="no such file",
        todo="check the path",
    )
    assert snapshot(pair.a) == before


# --- charters ------------------------------------------------------------------------------


def _without(key: str) -> str:
    return "\n".join(line for line in CHARTER.splitlines() if not line.startswith(key)) + "\n"


CHARTER_ERRORS = {
    "missing key": (_without("basis"), "missing key 'basis'"),
    "unknown key": (CHARTER + 'colour = "red"\n', r"unknown key\(s\) colour"),
    "unknown type": (CHARTER.replace('"general"', '"gossip"'), r"unknown message type\(s\)"),
    "bad member": (CHARTER.replace(f'"{RU}/{RU_DESK}"', '"ru-nf"'), "member 'ru-nf' must be"),
    "one node only": (CHARTER.replace(f'"{RU}/{RU_DESK}"', f'"{NO}/other"'), "two or more nodes"),
    "not TOML": ("id = ", "is not valid TOML"),
    "bad date": (CHARTER.replace("2008-05-01", '"May 2008"'), "basis.date"),
    "bad deadline": (CHARTER.replace("FLASH = 300", "SOON = 300"), "deadlines_s.SOON"),
    "bad status": (CHARTER + 'initial_status = "closed"\n', "initial_status"),
    "wrong type": (
        CHARTER.replace('types = ["general", "incident-at-sea"]', 'types = "general"'),
        "'types' has the wrong type",
    ),
}


@pytest.mark.parametrize("case", sorted(CHARTER_ERRORS))
def test_charter_errors(cli: Cli, pair: Pair, case: str) -> None:
    text, what = CHARTER_ERRORS[case]
    charter = pair.charter_file(text, "bad.toml")
    out = pair.files / "proposal.json"
    before = snapshot(pair.a)
    cli.fails(
        "--home",
        pair.a,
        "channel",
        "propose",
        "--peer",
        RU,
        "--charter",
        charter,
        "--out",
        out,
        what=what,
        todo=".",
    )
    assert snapshot(pair.a) == before
    assert not out.exists()


def test_charter_naming_a_desk_this_node_lacks(cli: Cli, pair: Pair) -> None:
    charter = pair.charter_file(CHARTER.replace(NO_DESK, "watch-officer"), "c.toml")
    before = snapshot(pair.a)
    cli.fails(
        "--home",
        pair.a,
        "channel",
        "propose",
        "--peer",
        RU,
        "--charter",
        charter,
        "--out",
        pair.files / "p.json",
        what=r"desk\(s\) watch-officer",
        todo="parley desk add watch-officer",
    )
    assert snapshot(pair.a) == before


def test_charter_with_an_unknown_peer_or_without_this_node(cli: Cli, pair: Pair) -> None:
    third = CHARTER.replace(f'"{RU}/{RU_DESK}"', '"fi-rajavartio/duty"')
    cli.fails(
        "--home",
        pair.a,
        "channel",
        "propose",
        "--peer",
        "fi-rajavartio",
        "--charter",
        pair.charter_file(third, "c.toml"),
        "--out",
        pair.files / "p.json",
        what="unknown peer 'fi-rajavartio'",
        todo="parley peer add",
    )
    foreign = CHARTER.replace(f'"{NO}/{NO_DESK}"', '"fi-rajavartio/duty"')
    cli.fails(
        "--home",
        pair.a,
        "channel",
        "propose",
        "--peer",
        RU,
        "--charter",
        pair.charter_file(foreign, "d.toml"),
        "--out",
        pair.files / "p.json",
        what="is not among the charter's members",
        todo="no-njhq/duty-officer",
    )


def _proposal(cli: Cli, pair: Pair) -> dict[str, object]:
    out = pair.files / "proposal.json"
    cli.ok(
        "--home",
        pair.a,
        "channel",
        "propose",
        "--peer",
        RU,
        "--charter",
        pair.charter_file(),
        "--out",
        out,
    )
    doc: dict[str, object] = json.loads(out.read_text())
    return doc


def test_accepting_a_tampered_proposal(cli: Cli, pair: Pair) -> None:
    doc = _proposal(cli, pair)
    charter = doc["charter"]
    assert isinstance(charter, dict)
    charter["types"] = ["border-incident", "general", "incident-at-sea"]
    path = _write(pair, "tampered.json", doc)
    before = snapshot(pair.b)
    cli.fails(
        "--home",
        pair.b,
        "channel",
        "accept",
        path,
        what="charter: 'no-njhq''s signature on the charter does not verify",
        todo=None,
    )
    assert snapshot(pair.b) == before


def test_accepting_a_hand_edited_proposal(cli: Cli, pair: Pair) -> None:
    doc = _proposal(cli, pair)
    charter = doc["charter"]
    assert isinstance(charter, dict)
    charter["types"] = ["incident-at-sea", "general"]  # same set, not in normal form
    before = snapshot(pair.b)
    cli.fails(
        "--home",
        pair.b,
        "channel",
        "accept",
        _write(pair, "edited.json", doc),
        what="not in normal form",
        todo=None,
    )
    assert snapshot(pair.b) == before


def test_accepting_a_proposal_from_an_unknown_node(cli: Cli, pair: Pair, tmp_path: Path) -> None:
    doc = _proposal(cli, pair)
    stranger = tmp_path / "stranger"
    cli.ok("--home", stranger, "init", "--name", "xx-node", "--party", "X")
    cli.ok("--home", stranger, "desk", "add", RU_DESK)
    before = snapshot(stranger)
    cli.fails(
        "--home",
        stranger,
        "channel",
        "accept",
        _write(pair, "p.json", doc),
        what="signed by 'no-njhq', which is not a known peer",
        todo="parley peer add",
    )
    assert snapshot(stranger) == before


# --- sending -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "what", "todo"),
    [
        (
            ["--channel", "nowhere", "--text", "x"],
            "unknown channel 'nowhere'",
            "parley channel list",
        ),
        (
            ["--channel", "direct-line", "--type", "border-incident", "--body-file", "{body}"],
            "does not allow type 'border-incident'",
            "allowed: General message, Incident at sea",
        ),
        (
            ["--channel", "direct-line", "--text", "x", "--desk", "nf-duty"],
            "desk 'nf-duty' is not a member of channel 'direct-line'",
            "duty-officer",
        ),
        (
            ["--channel", "direct-line", "--text", "x", "--precedence", "URGENT"],
            "unknown precedence 'URGENT'",
            "FLASH, IMMEDIATE",
        ),
        (
            ["--channel", "direct-line", "--text", "x", "--status", "DRILL"],
            "unknown status 'DRILL'",
            "ACTUAL, EXERCISE, TEST",
        ),
        (["--channel", "direct-line"], "nothing to send", "--text"),
        (
            ["--channel", "direct-line", "--type", "incident-at-sea", "--text", "x"],
            "needs --body-file",
            "parley template incident-at-sea",
        ),
    ],
)
def test_send_refusals(cli: Cli, linked: Pair, args: list[str], what: str, todo: str) -> None:
    body = linked.files / "body.json"
    body.write_text(json.dumps({"text": "x", "lang": "en"}))
    before = snapshot(linked.a)
    cli.fails(
        "--home",
        linked.a,
        "send",
        *[a.replace("{body}", str(body)) for a in args],
        what=what,
        todo=todo,
    )
    assert snapshot(linked.a) == before


def test_send_on_a_suspended_channel(cli: Cli, linked: Pair) -> None:
    cli.ok(
        "--home",
        linked.a,
        "channel",
        "suspend",
        "direct-line",
        "--reason",
        "decision",
        "--exempt",
        "incident-at-sea",
    )
    before = snapshot(linked.a)
    cli.fails(
        "--home",
        linked.a,
        "send",
        "--channel",
        "direct-line",
        "--text",
        "x",
        what=r"direct-line' is suspended.*; type 'general' is not exempt",
        todo="exempt while suspended: Incident at sea",
    )
    assert snapshot(linked.a) == before


def test_send_on_a_planned_channel(cli: Cli, pair: Pair) -> None:
    from foundation_support import open_channel

    open_channel(cli, pair, CHARTER + 'initial_status = "planned"\n')
    before = snapshot(pair.a)
    cli.fails(
        "--home",
        pair.a,
        "send",
        "--channel",
        "direct-line",
        "--text",
        "x",
        what="is planned, not active",
        todo="channel activate",
    )
    assert snapshot(pair.a) == before
    cli.ok("--home", pair.a, "channel", "activate", "direct-line", "--reason", "agreed")
    cli.ok("--home", pair.a, "send", "--channel", "direct-line", "--text", "x")


def test_send_with_a_bad_body(cli: Cli, linked: Pair) -> None:
    body = linked.files / "body.json"
    body.write_text(json.dumps({"text": 5}))
    before = snapshot(linked.a)
    result = cli.run("--home", linked.a, "send", "--channel", "direct-line", "--body-file", body)
    assert result.code == 1
    # The headline, then one problem a line (tests/desk/test_cli_tool.py).
    head, *problems = result.err.splitlines()
    assert "problems in the message body" in head
    assert "parley template general" in head
    assert any(p.startswith("  /lang: ") for p in problems)
    assert snapshot(linked.a) == before


def test_status_changes_that_are_not_allowed(cli: Cli, linked: Pair) -> None:
    before = snapshot(linked.a)
    cli.fails(
        "--home",
        linked.a,
        "channel",
        "resume",
        "direct-line",
        "--reason",
        "x",
        what="is active; it cannot become active",
        todo=".",
    )
    cli.fails(
        "--home",
        linked.a,
        "channel",
        "suspend",
        "direct-line",
        "--reason",
        "x",
        "--exempt",
        "sar-request",
        what=r"exempt type\(s\) sar-request",
        todo="charter types",
    )
    cli.fails(
        "--home",
        linked.a,
        "channel",
        "suspend",
        "direct-line",
        "--reason",
        " ",
        what="needs a reason",
        todo="--reason",
    )
    cli.fails(
        "--home",
        linked.a,
        "channel",
        "suspend",
        "nowhere",
        "--reason",
        "x",
        what="unknown channel 'nowhere'",
        todo="parley channel list",
    )
    assert snapshot(linked.a) == before


def test_a_key_file_readable_by_others_is_refused(cli: Cli, pair: Pair) -> None:
    key = pair.a / "identity.key"
    os.chmod(key, 0o644)
    cli.fails("--home", pair.a, "peer", "list", what="readable by others", todo="chmod 600")
    os.chmod(key, 0o600)
    cli.ok("--home", pair.a, "peer", "list")
