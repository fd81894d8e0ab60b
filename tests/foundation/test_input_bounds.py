"""Input bounds at the command line (issue 14 items 3 and 10): each refused in one line,
saying what is wrong and what to do, with nothing changed.

Card URLs on ``peer add``; the size, type and nesting of every file the CLI reads (cards,
charters, bundles, message bodies, password files); ranges in charters; NaN and infinity
wherever a number comes in.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from foundation_support import CHARTER, NO_DESK, RU, Cli, Pair, snapshot

from parley.protocol.canonical import loads_strict
from parley.protocol.card import make_card
from parley.protocol.keys import SigningKeyPair
from parley.protocol.tls import fingerprint_of_pem


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only: these bounds do not depend on the database engine (keeps the suite quick)."""
    return f"sqlite:///{tmp_path / 'parley.db'}"


def _card_file(pair: Pair, url: str, name: str = "far-node") -> Path:
    """A correctly self-signed card naming ``url`` (signed by a fresh key)."""
    pem = (pair.b / "tls" / "cert.pem").read_text()
    card = make_card(
        key=SigningKeyPair.generate(),
        name=name,
        party="Elsewhere",
        url=url,
        tls_cert_pem=pem,
        tls_fingerprint=fingerprint_of_pem(pem),
    )
    path = pair.files / f"{name}.json"
    path.write_text(json.dumps(card.to_json()))
    return path


@pytest.mark.parametrize(
    ("url", "what"),
    [
        ("http://203.0.113.9:8443", "is not https://"),
        ("file:///etc/passwd", "is not https://"),
        ("javascript:alert(1)", "is not https://"),
        ("https://user:secret@203.0.113.9:8443", "user name or password"),
        ("https://", "has no host"),
        ("https://169.254.169.254", "link-local address"),
        ("https://[fe80::1]:8443", "link-local address"),
        ("https://224.0.0.251:8443", "multicast address"),
        ("https://[ff02::1]:8443", "multicast address"),
        ("https://0.0.0.0:8443", "unspecified address"),
        ("https://[::]:8443", "unspecified address"),
        ("https://[::ffff:169.254.169.254]:8443", "link-local address"),
        ("https://203.0.113.9:99999", "cannot be parsed"),
    ],
)
def test_peer_add_refuses_a_card_url_no_peer_can_be_at(cli: Cli, pair: Pair, url: str, what: str) -> None:
    path = _card_file(pair, url)
    before = snapshot(pair.a)
    cli.fails("--home", pair.a, "peer", "add", path, what=f"card URL .*{what}", todo="https://HOST:PORT")
    assert snapshot(pair.a) == before


@pytest.mark.parametrize(
    "url", ["https://127.0.0.1:8443", "https://10.20.30.40:8443", "https://hq.example:443"]
)
def test_loopback_private_and_named_hosts_stay_allowed(cli: Cli, pair: Pair, url: str) -> None:
    cli.ok("--home", pair.a, "peer", "add", _card_file(pair, url))


def test_init_refuses_a_url_its_own_card_could_not_carry(cli: Cli, tmp_path: Path) -> None:
    home = tmp_path / "node"
    for url in ("http://127.0.0.1:8443", "https://0.0.0.0:8443"):
        cli.fails(
            "--home", home, "init", "--name", "x-y", "--party", "P", "--url", url,
            what="--url", todo="pass --url https://HOST:PORT",
        )  # fmt: skip
    cli.fails(
        "--home", home, "init", "--name", "x-y", "--party", "P", "--listen", "0.0.0.0:8443",
        what="unspecified address", todo="--url",
    )  # fmt: skip
    assert not home.exists()


# --- files the CLI reads -------------------------------------------------------------------


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_depth_limit_of_strict_json() -> None:
    assert loads_strict(_nested(64)) == loads_strict(_nested(64))
    for text in (_nested(65), _nested(100_000), '{"a":' * 70 + "1" + "}" * 70):
        with pytest.raises(ValueError, match="nested deeper than 64 levels"):
            loads_strict(text)


@pytest.mark.parametrize("command", ["peer add", "import", "channel accept"])
def test_deeply_nested_json_is_refused(cli: Cli, pair: Pair, command: str) -> None:
    path = pair.files / "deep.json"
    path.write_text(_nested(30_000))  # under a card's size limit, far past the stack's depth
    before = snapshot(pair.a)
    cli.fails("--home", pair.a, *command.split(), path, what="nested deeper than 64 levels", todo="")
    assert snapshot(pair.a) == before


def test_a_card_file_larger_than_a_card_is_refused_unread(cli: Cli, pair: Pair) -> None:
    path = pair.files / "big.json"
    path.write_text(json.dumps({"card": "x" * 70_000, "signature": ""}))
    cli.fails("--home", pair.a, "peer", "add", path, what="larger than a card may be", todo="64 KiB")


@pytest.mark.parametrize("command", ["import", "peer add", "channel accept"])
def test_a_symlink_to_a_device_is_refused_unread(cli: Cli, pair: Pair, command: str) -> None:
    link = pair.files / "bundle.json"
    link.symlink_to("/dev/zero")
    before = snapshot(pair.a)
    cli.fails("--home", pair.a, *command.split(), link, what=r"/dev/zero\) is a device", todo="give the path")
    assert snapshot(pair.a) == before


def test_a_fifo_or_a_directory_is_refused_without_blocking(cli: Cli, pair: Pair) -> None:
    fifo = pair.files / "card.json"
    os.mkfifo(fifo)  # opening it to read would wait for a writer forever
    cli.fails("--home", pair.a, "peer", "add", fifo, what="is a FIFO", todo="give the path")
    cli.fails("--home", pair.a, "import", pair.files, what="is a directory", todo="give the path")


def test_body_and_password_files_are_bounded_too(cli: Cli, linked: Pair) -> None:
    # On a channel that exists: send checks the channel and type before it reads the body.
    pair = linked
    body = pair.files / "body.json"
    body.write_text(json.dumps({"text": "x" * (1024 * 1024), "lang": "en"}))
    cli.fails(
        "--home", pair.a, "send", "--channel", "direct-line", "--body-file", body,
        what="larger than a message body may be", todo="1024 KiB",
    )  # fmt: skip
    pw = pair.files / "pw"
    pw.symlink_to("/dev/zero")
    cli.fails(
        "--home", pair.a, "operator", "add", "hansen", "--desk", NO_DESK, "--role", "duty",
        "--password-file", pw, what="is a device", todo="password file",
    )  # fmt: skip


# --- NaN, infinity and bodies ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "what"),
    [
        ("nan.json", '{"text": "x", "lang": "en", "n": NaN}', "NaN is not valid JSON"),
        ("inf.json", '{"text": "x", "lang": "en", "n": -Infinity}', "-Infinity is not valid JSON"),
        ("inf.toml", 'text = "x"\nlang = "en"\nn = inf\n', "/n is not a finite number"),
        ("inf2.toml", 'text = "x"\nlang = "en"\n[a]\nb = [1.0, -inf]\n', "/a/b/1 is not a finite number"),
        ("deep.json", '{"text": ' + _nested(200) + "}", "nested deeper than 64 levels"),
    ],
)
def test_non_finite_and_deep_bodies_are_refused(
    cli: Cli, linked: Pair, name: str, content: str, what: str
) -> None:
    body = linked.files / name
    body.write_text(content)
    before = snapshot(linked.a)
    cli.fails("--home", linked.a, "send", "--channel", "direct-line", "--body-file", body, what=what, todo="")
    assert snapshot(linked.a) == before


@pytest.mark.parametrize("tick", ["nan", "inf", "-1", "0"])
def test_serve_refuses_a_tick_out_of_range(cli: Cli, pair: Pair, tick: str) -> None:
    cli.fails("--home", pair.a, "serve", "--tick", tick, what="--tick .* is not between", todo="--tick 1")


@pytest.mark.parametrize(
    ("args", "what", "todo"),
    [
        (["drill", "--channel", "direct-line", "--wait", "nan"], "--wait nan is not between", "--wait 60"),
        (["drill", "--channel", "direct-line", "--wait", "inf"], "--wait inf is not between", "--wait 60"),
        (["inbox", "--limit", str(2**70)], "--limit .* is not between 1 and 1000", "--limit 50"),
        (["report", "--from", "2020", "--to", "10000"], "--to 10000 is not a year", "--from 2020"),
    ],
)
def test_numbers_out_of_range_are_refused(
    cli: Cli, linked: Pair, args: list[str], what: str, todo: str
) -> None:
    before = snapshot(linked.a)
    cli.fails("--home", linked.a, *args, what=what, todo=todo)
    assert snapshot(linked.a) == before


# --- charters ------------------------------------------------------------------------------


def _charter(pair: Pair, text: str) -> Path:
    return pair.charter_file(text, "bounded.toml")


INTERVAL = "link_test_interval_s = 3600"
CADENCE = INTERVAL + '\ncadence = [{{kind = "m", {}}}]'
MANY_TOPICS = "topics = [" + ", ".join(f'"t{i}"' for i in range(65)) + "]"


@pytest.mark.parametrize(
    ("old", "new", "what"),
    [
        (INTERVAL, "link_test_interval_s = 1e-9", "link_test_interval_s 1e-09 is not between 1"),
        (INTERVAL, "link_test_interval_s = nan", "link_test_interval_s nan is not between"),
        (INTERVAL, "link_test_interval_s = inf", "link_test_interval_s inf is not between"),
        (INTERVAL, "link_test_interval_s = 0.5", "is not between 1 and 604800"),
        ('en = "Direct line"', 'en = "' + "x" * 100_000 + '"', "a name is longer than 200 characters"),
        ('agreement = "Standing', 'agreement = "' + "x" * 600 + " Standing", "longer than 500 characters"),
        ('topics = ["border-situation"]', MANY_TOPICS, "topics lists 65 entries; .* at most 64"),
        ("FLASH = 300", "FLASH = 9223372036854775807", "deadlines_s.FLASH must be a whole number"),
        (INTERVAL, CADENCE.format("every_months = 100000"), "whole months from 0 to 120"),
        (INTERVAL, CADENCE.format('note = "x"'), r"unknown cadence key\(s\) note"),
    ],
)
def test_charter_ranges_and_sizes(cli: Cli, pair: Pair, old: str, new: str, what: str) -> None:
    assert old in CHARTER
    path = _charter(pair, CHARTER.replace(old, new, 1))
    before = snapshot(pair.a)
    out = pair.files / "p.json"
    cli.fails(
        "--home", pair.a, "channel", "propose", "--peer", RU, "--charter", path, "--out", out,
        what=what, todo="",
    )  # fmt: skip
    assert snapshot(pair.a) == before
    assert not out.exists()


def test_a_charter_file_of_two_megabytes_is_refused_unread(cli: Cli, pair: Pair) -> None:
    path = _charter(pair, CHARTER.replace('en = "Direct line"', 'en = "' + "x" * 2_000_000 + '"'))
    out = pair.files / "p.json"
    cli.fails(
        "--home", pair.a, "channel", "propose", "--peer", RU, "--charter", path, "--out", out,
        what="larger than a charter may be", todo="256 KiB",
    )  # fmt: skip


def test_a_one_second_link_test_interval_is_the_floor(cli: Cli, pair: Pair) -> None:
    path = _charter(pair, CHARTER.replace("link_test_interval_s = 3600", "link_test_interval_s = 1"))
    out = pair.files / "p.json"
    cli.ok("--home", pair.a, "channel", "propose", "--peer", RU, "--charter", path, "--out", out)


@pytest.mark.parametrize(
    ("change", "what"),
    [
        ({"receipts": [{}] * 17}, "bundle lists 17 receipts; an export carries at most 16"),
        ({"control": [{"kind": "charter", "payload": {}}] * 1001}, "bundle lists 1001 control"),
        ({"origin": "x" * 65}, "bundle origin must be a string of at most 64 characters"),
    ],
)
def test_a_bundle_beyond_what_an_export_holds_is_refused(
    cli: Cli, pair: Pair, change: dict[str, object], what: str
) -> None:
    bundle = {
        "kind": "parley-bundle", "origin": RU, "destination": "no-njhq", "channel": "direct-line",
        "created": "2026-01-01T00:00:00Z", "envelopes": [], "receipts": [], "control": [],
    }  # fmt: skip
    path = pair.files / "bundle.json"
    path.write_text(json.dumps({"bundle": bundle | change, "signature": ""}))
    before = snapshot(pair.a)
    cli.fails("--home", pair.a, "import", path, what=what, todo=None)
    assert snapshot(pair.a) == before
