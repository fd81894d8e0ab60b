"""Issue 2, "How we will check it": two homes, cards, a channel by files, messages, verify.

Every step runs the real CLI in process; the Norwegian node runs on SQLite and, in the
second parametrisation, on PostgreSQL (``--database``), the Russian node on SQLite.
"""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path

import pytest
from foundation_support import NO, NO_DESK, PASSWORD, RU, RU_DESK, Cli, Pair, connect, count
from sqlalchemy import text

from parley.config import Config
from parley.protocol.card import parse_card
from parley.protocol.envelope import SignedEnvelope
from parley.protocol.verify import verify_envelope


def test_init_makes_a_complete_home(cli: Cli, pair: Pair) -> None:
    home = pair.a
    key = home / "identity.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((home / "tls" / "key.pem").stat().st_mode) == 0o600
    assert (home / "tls" / "cert.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
    config = tomllib.loads((home / "parley.toml").read_text())
    # Every default is written out: every section and key of Config is in the file.
    assert config == json.loads(json.dumps(Config.load(home).__dict__, default=vars))
    for section in ("node", "database", "federation", "link_test", "deadlines_s", "escalation"):
        assert section in config
    assert config["node"]["name"] == NO
    assert config["node"]["url"] == "https://127.0.0.1:18443"
    if pair.engine == "postgresql":
        assert config["database"]["url"].startswith("postgresql://")
    else:
        assert config["database"]["url"] == "sqlite:///parley.db"
        assert (home / "parley.db").exists()
    cli.ok("--home", home, "db", "status")


def test_cards_are_exchanged_and_pinned(cli: Cli, pair: Pair) -> None:
    card = json.loads((pair.files / "ru-card.json").read_text())
    parsed = parse_card(card)
    assert parsed.name == RU
    assert parsed.party == "Russia"
    assert parsed.tls_cert == (pair.b / "tls" / "cert.pem").read_text()

    printed = cli.ok("--home", pair.b, "identity").json()
    assert printed["card"] == card["card"]

    peers = cli.ok("--home", pair.a, "peer", "list", "--json").json()
    assert [p["name"] for p in peers] == [RU]
    assert peers[0]["key_id"] == parsed.key_id
    assert peers[0]["tls_fingerprint"] == parsed.tls_fingerprint
    assert peers[0]["url"] == "https://127.0.0.1:19443"
    assert RU in cli.ok("--home", pair.a, "peer", "list").out

    again = cli.ok("--home", pair.a, "peer", "add", pair.files / "ru-card.json")
    assert "nothing changed" in again.out
    assert count(pair.a, "peers") == 1


def test_desks_and_operators(cli: Cli, pair: Pair) -> None:
    password = pair.files / "pw"
    password.write_text(PASSWORD + "\n")
    cli.ok("--home", pair.a, "desk", "add", "supervisor", "--title", "NJHQ supervisor")
    desks = cli.ok("--home", pair.a, "desk", "list", "--json").json()
    assert desks == [
        {"name": NO_DESK, "title": "NJHQ duty officer"},
        {"name": "supervisor", "title": "NJHQ supervisor"},
    ]
    cli.ok(
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
        password,
    )
    # A second role for the same operator needs no password.
    cli.ok(
        "--home",
        pair.a,
        "operator",
        "add",
        "hansen",
        "--desk",
        "supervisor",
        "--role",
        "supervisor",
    )
    ops = cli.ok("--home", pair.a, "operator", "list", "--json").json()
    assert ops == [
        {"username": "hansen", "lang": "en", "roles": {NO_DESK: "duty", "supervisor": "supervisor"}}
    ]
    with connect(pair.a) as conn:
        stored = conn.execute(text("select password_hash from operators")).scalar_one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


def test_channel_is_agreed_through_files(cli: Cli, pair: Pair) -> None:
    charter = pair.charter_file()
    proposal, countersigned = pair.files / "proposal.json", pair.files / "countersigned.json"
    out = cli.ok(
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
    ).out
    assert "direct-line" in out
    assert str(proposal) in out
    doc = json.loads(proposal.read_text())
    assert sorted(doc["signatures"]) == [NO]
    # Proposed is not open: no channel yet on either side.
    assert cli.ok("--home", pair.a, "channel", "list", "--json").json() == []

    out = cli.ok("--home", pair.b, "channel", "accept", proposal, "--out", countersigned).out
    assert "channel direct-line is open (active)" in out
    assert sorted(json.loads(countersigned.read_text())["signatures"]) == [NO, RU]
    assert "channel direct-line is open" in cli.ok("--home", pair.a, "channel", "accept", countersigned).out
    # Accepting the same document again changes nothing.
    assert "already open" in cli.ok("--home", pair.a, "channel", "accept", countersigned).out

    a_list = cli.ok("--home", pair.a, "channel", "list", "--json").json()
    b_list = cli.ok("--home", pair.b, "channel", "list", "--json").json()
    assert a_list == b_list
    assert [(c["id"], c["status"]) for c in a_list] == [("direct-line", "active")]
    assert a_list[0]["charter"]["members"] == [f"{NO}/{NO_DESK}", f"{RU}/{RU_DESK}"]
    assert a_list[0]["charter"]["deadlines_s"] == {
        "FLASH": 300,
        "IMMEDIATE": 1800,
        "PRIORITY": 10800,
        "ROUTINE": 86400,
    }
    assert "Direct line" in cli.ok("--home", pair.a, "channel", "list").out
    shown = cli.ok("--home", pair.b, "channel", "show", "direct-line", "--json").json()
    assert shown["history"] == []
    assert shown["charter_hash"] == a_list[0]["charter_hash"]
    shown_text = cli.ok("--home", pair.a, "channel", "show", "direct-line").out
    assert "Charter signed by: no-njhq, ru-nf" in shown_text


def test_suspend_with_exemption_and_resume(cli: Cli, linked: Pair) -> None:
    a = linked.a
    cli.ok(
        "--home",
        a,
        "channel",
        "suspend",
        "direct-line",
        "--reason",
        "2014 decision",
        "--exempt",
        "incident-at-sea",
    )
    shown = cli.ok("--home", a, "channel", "show", "direct-line", "--json").json()
    assert shown["status"] == "suspended"
    assert shown["exempt_types"] == ["incident-at-sea"]
    cli.fails(
        "--home",
        a,
        "send",
        "--channel",
        "direct-line",
        "--text",
        "hello",
        what=r"suspended.*; type 'general' is not exempt",
        todo="Incident at sea",
    )
    cli.ok("--home", a, "channel", "resume", "direct-line", "--reason", "talks resumed")
    shown = cli.ok("--home", a, "channel", "show", "direct-line", "--json").json()
    assert shown["status"] == "active"
    assert shown["exempt_types"] == []
    history = [
        (h["record"]["status"], h["record"]["reason"], h["record"]["exempt_types"]) for h in shown["history"]
    ]
    assert history == [
        ("suspended", "2014 decision", ["incident-at-sea"]),
        ("active", "talks resumed", []),
    ]
    assert all(h["record"]["signer"] == NO for h in shown["history"])
    text_out = cli.ok("--home", a, "channel", "show", "direct-line").out
    assert "suspended  no-njhq (Exempt while suspended: Incident at sea): 2014 decision" in text_out
    cli.ok("--home", a, "send", "--channel", "direct-line", "--text", "hello again")
    cli.ok("--home", a, "verify")


def test_send_inbox_and_verify(cli: Cli, linked: Pair) -> None:
    a = linked.a
    first = cli.ok("--home", a, "send", "--channel", "direct-line", "--text", "Test of the line").out
    message_id = first.split()[-1]  # send's report ends with the id
    assert len(message_id) == 36
    drill = cli.ok(
        "--home",
        a,
        "send",
        "--channel",
        "direct-line",
        "--type",
        "general",
        "--precedence",
        "flash",
        "--status",
        "EXERCISE",
        "--text",
        "Øvelse",
        "--lang",
        "nb",
        "--json",
    ).json()
    assert drill["seq"] == 2
    assert drill["hash"].startswith("sha256:")

    sent = [json.loads(line) for line in cli.ok("--home", a, "inbox", "--sent", "--json").out.splitlines()]
    assert [(m["seq"], m["status"], m["precedence"]) for m in sent] == [
        (2, "EXERCISE", "FLASH"),
        (1, "ACTUAL", "ROUTINE"),
    ]
    assert sent[1]["id"] == message_id
    assert sent[0]["from"] == f"{NO}/{NO_DESK}"
    assert cli.ok("--home", a, "inbox", "--json").out == ""  # NDJSON: no messages, no lines
    assert "[EXERCISE]" in cli.ok("--home", a, "inbox", "--sent").out

    # The stored bytes are a verifiable, chained envelope.
    with connect(a) as conn:
        raws = [r.raw for r in conn.execute(text("select raw from envelopes order by seq"))]
    wires = [json.loads(r) for r in raws]
    envs = [SignedEnvelope.from_bytes(r) for r in raws]
    own_key = parse_card(json.loads((linked.files / "no-card.json").read_text())).public
    for wire in wires:
        verify_envelope(wire, {NO: own_key}.get)
    assert envs[0].prev is None
    assert envs[1].prev == envs[0].hash
    assert envs[0].id == message_id
    assert envs[1].body == {"text": "Øvelse", "lang": "nb"}

    out = cli.ok("--home", a, "verify").out
    assert "record intact: 2 envelopes on 1 chain," in out


def test_console_script_and_parley_home(tmp_path: Path) -> None:
    """The installed ``parley`` script, with the home from PARLEY_HOME only."""
    import os
    import subprocess
    import sys

    exe = Path(sys.executable).parent / "parley"
    env = {**os.environ, "PARLEY_HOME": str(tmp_path / "node")}
    made = subprocess.run(
        [exe, "init", "--name", "no-kv", "--party", "Norway", "--listen", "127.0.0.1:18444"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "node" / "parley.toml").exists()
    card = subprocess.run([exe, "identity"], env=env, capture_output=True, text=True, check=False)
    assert card.returncode == 0
    assert json.loads(card.stdout)["card"]["name"] == "no-kv"
    again = subprocess.run(
        [exe, "init", "--name", "no-kv", "--party", "Norway"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode == 1
    assert again.stderr.startswith("error: ")
    assert again.stderr.count("\n") == 1
    assert "already holds a Parley node" in again.stderr
    no_home = {k: v for k, v in os.environ.items() if k != "PARLEY_HOME"}
    lost = subprocess.run(
        [exe, "peer", "list"],
        env=no_home,
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert lost.returncode == 1
    assert lost.stderr == "error: no node home given — pass --home DIR or set PARLEY_HOME=DIR\n"


def test_token_revoke(cli: Cli, pair: Pair) -> None:
    from parley.directory.operators import operator_for_token
    from parley.errors import AuthError
    from parley.node import Node

    password = pair.files / "pw"
    password.write_text(PASSWORD + "\n")
    cli.ok(
        "--home",
        pair.a,
        "operator",
        "add",
        "berg",
        "--desk",
        NO_DESK,
        "--role",
        "duty",
        "--password-file",
        password,
    )
    cli.fails(
        "--home", pair.a, "token", "revoke", "berg", what="berg has no API token to revoke", todo="issue"
    )
    kept = cli.ok("--home", pair.a, "token", "issue", "berg", "--label", "console").out.strip()
    feed = cli.ok("--home", pair.a, "token", "issue", "berg", "--label", "feed").out.strip()
    out = cli.ok("--home", pair.a, "token", "revoke", "berg", "--label", "feed").out
    assert out.strip() == "revoked 1 token of berg"
    node = Node.open(pair.a)
    try:
        assert operator_for_token(node, kept).username == "berg"
        with pytest.raises(AuthError, match="revoked"):
            operator_for_token(node, feed)
    finally:
        node.close()
    cli.fails(
        "--home", pair.a, "token", "revoke", "nobody", what="unknown operator 'nobody'", todo="operator list"
    )


def test_api_remembers_a_token_for_two_seconds() -> None:
    from parley.api.auth import TOKEN_TTL_S, TokenCache
    from parley.directory.operators import Operator

    now = [100.0]
    cache = TokenCache(clock=lambda: now[0])
    op = Operator("berg", "nb", {NO_DESK: "duty"}, False)
    assert cache.get("pk_x") is None
    cache.put("pk_x", op)
    assert cache.get("pk_x") is op
    assert cache.get("pk_y") is None
    now[0] += TOKEN_TTL_S - 0.01
    assert cache.get("pk_x") is op
    now[0] += 0.02  # past its time: the next request asks the database again
    assert cache.get("pk_x") is None
