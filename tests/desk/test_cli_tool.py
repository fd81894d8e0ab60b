"""The CLI as a working tool (issue 13 item 7), through the real ``parley`` CLI on real homes.

``send`` reports what happened; a template filled in place (a number typed where the template
has one) validates; schema problems print one a line; ``--lang`` takes nb, ru or en only;
``send --type`` names the types the charter carries; ``peer remove`` refuses while channels
with the peer are open and is audited. Every refusal changes nothing (``snapshot``).
Node processes are in test_cli_tool_e2e.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from parley.formats.labels import type_label
from parley.formats.toml_template import template
from tests.foundation.foundation_support import CHARTER, NO, RU, Cli, Pair, make_pair, open_channel, snapshot

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "parley" / "formats" / "examples"
CONTENT_TYPES = ["incident-at-sea", "border-incident", "sar-request", "sar-sitrep", "activity-notification"]
WIDE = CHARTER.replace(
    'types = ["general", "incident-at-sea"]', f"types = {json.dumps(['general', *CONTENT_TYPES])}"
)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(capsys)


@pytest.fixture
def linked(cli: Cli, tmp_path: Path) -> Pair:
    """Two homes on SQLite with the channel ``direct-line`` carrying every content type."""
    pair = make_pair(cli, tmp_path, f"sqlite:///{tmp_path / 'a.db'}")
    open_channel(cli, pair, WIDE)
    return pair


# --- 1. send reports what happened ---------------------------------------------------------


def test_send_reports_stored_and_queued_and_ends_with_the_id(cli: Cli, linked: Pair) -> None:
    out = cli.ok("--home", linked.a, "send", "--channel", "direct-line", "--text", "Test").out.splitlines()
    assert re.fullmatch(
        r"Stored: General message, ROUTINE, Actual, on channel direct-line as no\. 1 of this node's chain, "
        r"\d{4}-\d\d-\d\dT[\d:.]+Z\.",
        out[0],
    ), out[0]
    assert (
        out[1]
        == f"Queued for {RU} (outbox: 1); this node is not serving: it goes out once `parley serve` runs."
    )
    assert out[-1].startswith("Message id: ")
    message_id = out[-1].split()[-1]
    shown = cli.ok("--home", linked.a, "show", message_id).out
    assert f"ID {message_id}  seq 1" in shown

    data = cli.ok("--home", linked.a, "send", "--channel", "direct-line", "--text", "2", "--json").json()
    assert {k: data[k] for k in ("seq", "channel", "type", "precedence", "status", "stored", "serving")} == {
        "seq": 2,
        "channel": "direct-line",
        "type": "general",
        "precedence": "ROUTINE",
        "status": "ACTUAL",
        "stored": True,
        "serving": False,
    }
    assert data["queued_for"] == [{"peer": RU, "outbox_depth": 2}]
    assert data["receipts"] == []
    assert data["receipted_by_all"] is False

    # The report speaks the reader's language (parley --lang), not the message's (send --lang).
    nb = cli.ok(
        "--lang",
        "nb",
        "--home",
        linked.a,
        "send",
        "--channel",
        "direct-line",
        "--text",
        "Prøve",
        "--lang",
        "nb",
    ).out
    assert nb.startswith("Lagret: Generell melding, ROUTINE, Reell,")
    assert nb.splitlines()[-1].startswith("Meldings-ID: ")


@pytest.mark.parametrize(
    ("extra", "what", "todo"),
    [
        (["--wait"], f"--wait: {NO} is not serving", "start `parley serve` first"),
        (["--wait", "--timeout", "0"], "--timeout 0 is not between 1 and 600", "--timeout 60"),
        (["--wait", "--timeout", "nan"], "--timeout nan is not between 1 and 600", "--timeout 60"),
        (["--wait", "--timeout", "601"], "--timeout 601 is not between 1 and 600", "--timeout 60"),
    ],
)
def test_send_wait_refusals_change_nothing(
    cli: Cli, linked: Pair, extra: list[str], what: str, todo: str
) -> None:
    before = snapshot(linked.a)
    cli.fails(
        "--home", linked.a, "send", "--channel", "direct-line", "--text", "x", *extra, what=what, todo=todo
    )
    assert snapshot(linked.a) == before


# --- 2. a template filled in place validates -----------------------------------------------


def _at(body: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(body, list):
            body = body[0] if body else None  # a [[table]] block is filled from the first entry
        if not isinstance(body, dict) or part not in body:
            return None
        body = body[part]
    return body


def _typed(placeholder: str, value: Any) -> str:
    """What a person types over one placeholder: inside the quotes of a quoted one, else in its place."""
    if placeholder.startswith('"'):
        return json.dumps(value if isinstance(value, str) else json.dumps(value), ensure_ascii=False)
    return json.dumps(value)  # nan → 12.5, 3, true: TOML spells these as JSON does


def _fill_value(text: str, value: Any) -> str:
    text = text.strip()
    if isinstance(value, list):  # ``[X]``: the entry repeated for each item
        inner = text[1:-1]
        return "[" + ", ".join(_fill_value(inner, item) for item in value) + "]"
    if isinstance(value, dict):  # ``{ a = X, b = Y }``

        def sub(m: re.Match[str]) -> str:
            return f"{m.group(1)} = {_typed(m.group(2), value[m.group(1)])}"

        return re.sub(r'(\w+) = ("[^"]*"|nan)', sub, text)
    return _typed(text, value)


def fill_in_place(text: str, example: dict[str, Any]) -> str:
    """Fill a template as a person does in an editor: type each value over its placeholder,
    delete the optional fields and blocks the message does not use."""
    out: list[str] = []
    path: list[str] = []
    skipping = False
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            out.append(line)
            continue
        header = re.fullmatch(r"\[\[?([\w.]+)\]\]?", line)
        if header:
            path = header.group(1).split(".")
            skipping = _at(example, path) is None
            if not skipping:
                out.append(line)
            continue
        if skipping:
            continue
        key, _, rest = line.partition(" = ")
        value = _at(example, [*path, key])
        if value is not None:
            out.append(f"{key} = {_fill_value(rest.split('  #', 1)[0], value)}")
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("type_name", CONTENT_TYPES)
def test_a_template_filled_in_place_is_sent(cli: Cli, linked: Pair, type_name: str) -> None:
    example = json.loads((EXAMPLES / f"{type_name}.json").read_text("utf-8"))
    text = cli.ok("template", type_name, "--lang", "nb").out
    assert text == template(type_name, "nb")
    body = linked.files / f"{type_name}.toml"
    body.write_text(fill_in_place(text, example))
    sent = cli.ok(
        "--home",
        linked.a,
        "send",
        "--channel",
        "direct-line",
        "--type",
        type_name,
        "--body-file",
        body,
        "--json",
    ).json()
    shown = cli.ok("--home", linked.a, "show", sent["id"], "--json").json()
    _same_values(shown["wire"]["envelope"]["body"], example)


def _same_values(sent: Any, example: Any, path: str = "") -> None:
    """Every value sent is the example's, of the example's JSON type (a [[block]] once)."""
    if isinstance(example, dict):
        assert isinstance(sent, dict), path
        assert set(sent) == set(example), path
        for key in example:
            _same_values(sent[key], example[key], f"{path}/{key}")
    elif isinstance(example, list):
        assert isinstance(sent, list), path
        assert 1 <= len(sent) <= len(example), path
        for i, item in enumerate(sent):
            _same_values(item, example[i], f"{path}/{i}")
    elif isinstance(example, (int, float)) and not isinstance(example, bool) and path != "/place/border_post":
        # A number stays a number (canonical JSON writes 33.0 as 33). Border posts are
        # "integer or string" in their schema, so the template asks for text there.
        assert isinstance(sent, (int, float)), f"{path}: {sent!r}"
        assert not isinstance(sent, bool), f"{path}: {sent!r}"
        assert sent == example, path
    else:
        assert sent == example or sent == str(example), f"{path}: {sent!r} != {example!r}"
        assert type(sent) is type(example) or path == "/place/border_post", path


def test_an_unfilled_template_is_refused_one_field_a_line(cli: Cli, linked: Pair) -> None:
    body = linked.files / "unfilled.toml"
    body.write_text(cli.ok("template", "incident-at-sea").out)
    before = snapshot(linked.a)
    run = cli.run(
        "--home",
        linked.a,
        "send",
        "--channel",
        "direct-line",
        "--type",
        "incident-at-sea",
        "--body-file",
        body,
    )
    assert run.code == 1
    assert snapshot(linked.a) == before
    head, *problems = run.err.splitlines()
    assert head.startswith(f"error: {body}: fields not filled in: {len(problems)} — fill in each field")
    paths = [p.split(":", 1)[0].strip() for p in problems]
    assert {"/time", "/position/lat", "/position/lon", "/speed_kn", "/units/0/name", "/category"} <= set(
        paths
    )
    assert all(p.startswith("  /") for p in problems)
    assert "still the template's nan: write a number" in run.err


# --- 3. schema errors one a line -----------------------------------------------------------


def test_schema_problems_print_one_a_line(cli: Cli, linked: Pair) -> None:
    example = json.loads((EXAMPLES / "incident-at-sea.json").read_text("utf-8"))
    example["position"] = {"lat": 95, "lon": 200}
    example["category"] = "no_such_category"
    body = linked.files / "bad.json"
    body.write_text(json.dumps(example))
    before = snapshot(linked.a)
    run = cli.run(
        "--home",
        linked.a,
        "send",
        "--channel",
        "direct-line",
        "--type",
        "incident-at-sea",
        "--body-file",
        body,
    )
    assert run.code == 1
    assert snapshot(linked.a) == before
    head, *lines = run.err.splitlines()
    assert head.startswith("error: ")
    assert "problems in the message body: 3" in head
    assert sorted(line.split(":", 1)[0] for line in lines) == [
        "  /category",
        "  /position/lat",
        "  /position/lon",
    ]


# --- 4. --lang: nb, ru or en ---------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["send", "--channel", "direct-line", "--text", "x", "--lang", "de"],
        ["status", "--lang", "fr"],
        ["show", "00000000-0000-0000-0000-000000000000", "--lang", "xx"],
        ["template", "general", "--lang", "de"],
    ],
)
def test_lang_takes_only_nb_ru_or_en(cli: Cli, linked: Pair, args: list[str]) -> None:
    before = snapshot(linked.a)
    cli.fails("--home", linked.a, *args, what=r"(language|'\w+')", todo="nb, ru or en")
    assert snapshot(linked.a) == before


# --- 5. send --type names the charter's types ----------------------------------------------


def test_an_unknown_type_lists_the_types_the_charter_allows(cli: Cli, linked: Pair) -> None:
    before = snapshot(linked.a)
    result = cli.fails(
        "--home",
        linked.a,
        "send",
        "--channel",
        "direct-line",
        "--type",
        "sitrep",
        "--text",
        "x",
        what="its charter does not allow type 'sitrep'",
        todo=re.escape(
            "allowed: " + ", ".join(type_label(t, "en") for t in sorted(["general", *CONTENT_TYPES]))
        ),
    )
    assert "needs --body-file" not in result.err
    assert snapshot(linked.a) == before


# --- 7. peer remove ------------------------------------------------------------------------


def _audit_actions(home: Path) -> list[tuple[str, dict[str, Any]]]:
    from sqlalchemy import select

    from parley.storage.tables import audit_log
    from tests.foundation.foundation_support import connect

    with connect(home) as conn:
        return [
            (r.action, json.loads(r.details))
            for r in conn.execute(select(audit_log).order_by(audit_log.c.id))
        ]


def test_peer_remove_refuses_while_a_channel_is_open_then_removes_when_closed(cli: Cli, pair: Pair) -> None:
    cli.fails("--home", pair.a, "peer", "remove", "nobody", what="unknown peer 'nobody'", todo="peer list")
    open_channel(cli, pair)
    before = snapshot(pair.a)
    cli.fails(
        "--home",
        pair.a,
        "peer",
        "remove",
        RU,
        what=r"still has channels that are not closed: direct-line \(active\)",
        todo="parley channel close direct-line",
    )
    assert snapshot(pair.a) == before
    cli.ok("--home", pair.a, "send", "--channel", "direct-line", "--text", "x")
    cli.ok("--home", pair.a, "channel", "close", "direct-line", "--reason", "wrong card")
    before = snapshot(pair.a)
    cli.fails(
        "--home",
        pair.a,
        "peer",
        "remove",
        RU,
        what=r"record holds closed channels with 'ru-nf': direct-line \(1 envelopes\)",
        todo="transcript export.*--yes",
    )
    assert snapshot(pair.a) == before
    out = cli.ok("--home", pair.a, "peer", "remove", RU, "--yes").out
    assert f"removed peer {RU}" in out
    assert "direct-line" in out
    assert "no peers yet" in cli.ok("--home", pair.a, "peer", "list").out
    action, details = _audit_actions(pair.a)[-1]
    assert action == "peer_remove"
    assert details["peer"] == RU
    assert details["closed_channels"] == ["direct-line"]
    # The card can be pinned again (a corrected card, or the same one).
    cli.ok("--home", pair.a, "peer", "add", pair.files / "ru-card.json")


@pytest.fixture
def pair(cli: Cli, tmp_path: Path, db_url: str) -> Pair:
    return make_pair(cli, tmp_path, db_url)


def test_peer_remove_without_channels_needs_no_yes(cli: Cli, pair: Pair) -> None:
    cli.ok("--home", pair.a, "peer", "remove", RU)
    assert "no peers yet" in cli.ok("--home", pair.a, "peer", "list").out
    assert _audit_actions(pair.a)[-1] == (
        "peer_remove",
        {"peer": RU, "closed_channels": [], "envelopes": 0, "control_dropped": 0},
    )
