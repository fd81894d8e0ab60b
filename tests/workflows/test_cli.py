"""The workflow commands as an operator runs them (the real CLI, in process)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from parley.cli.main import main
from tests.workflows.support import Pair, border_incident, proposal, protocol, sync


class Run:
    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def __call__(self, node_home: Path, *args: str, code: int = 0) -> str:
        self.capsys.readouterr()
        got = main(["--home", str(node_home), *args])
        out, err = self.capsys.readouterr()
        assert got == code, f"parley {' '.join(args)} exited {got}: {err}"
        return err if code else out

    def json(self, node_home: Path, *args: str) -> Any:
        return json.loads(self(node_home, *args, "--json"))


def test_incident_and_meeting_commands(
    sqlite_pair: Pair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pair = sqlite_pair
    a, b = pair.a.home, pair.b.home
    run = Run(capsys)
    report_file = tmp_path / "report.json"
    report_file.write_text(json.dumps(border_incident()))
    incident = run(
        a,
        "send",
        "--channel",
        "border-1949",
        "--type",
        "border-incident",
        "--body-file",
        str(report_file),
    ).split()[-1]  # send's report ends with the id
    sync(pair)
    assert run.json(b, "incident", "list")[0]["id"] == incident
    run(
        b,
        "incident",
        "respond",
        incident,
        "--action",
        "request-information",
        "--text",
        "Детали?",
        "--lang",
        "ru",
    )
    sync(pair)
    run(a, "incident", "propose-closure", incident, "--text", "Reparert.", "--lang", "nb")
    sync(pair)
    run(b, "incident", "dispute", incident, "--text", "Не согласны.", "--lang", "ru")
    sync(pair)
    err = run(b, "incident", "agree-closure", incident, code=1)
    assert err.startswith("error: incident")
    assert "no closure is proposed — see `parley incident show" in err
    err = run(a, "incident", "respond", incident, "--action", "shout", "--text", "x", code=1)
    assert "unknown incident step 'shout' — one of request-information" in err
    shown = run(a, "incident", "show", incident)
    assert "phase        disputed (disputed)" in shown
    assert "position of ru-border: Не согласны. [ru]" in shown
    assert "disputed" in run(a, "incident", "list", "--open")

    # Meetings: propose, counter, accept, protocol, sign on both sides, show, exports.
    body = tmp_path / "proposal.json"
    body.write_text(json.dumps(proposal("border-protocol-2026")))
    run(a, "meeting", "propose", "--channel", "border-1949", "--body-file", str(body))
    sync(pair)
    counter = tmp_path / "counter.json"
    counter.write_text(json.dumps(proposal("border-protocol-2026", start="2026-06-11T08:00:00Z")))
    assert "counter-proposed" in run(
        b, "meeting", "counter", "border-protocol-2026", "--body-file", str(counter)
    )
    sync(pair)
    run(a, "meeting", "accept", "border-protocol-2026")
    sync(pair)
    minutes = tmp_path / "protocol.json"
    minutes.write_text(json.dumps(protocol("border-protocol-2026", held_at="2026-06-11T08:05:00Z")))
    run(b, "meeting", "protocol", "border-protocol-2026", "--body-file", str(minutes))
    sync(pair)
    assert "waiting for the other side's signature" in run(a, "meeting", "sign", "border-protocol-2026")
    sync(pair)
    assert "the protocol is AGREED" in run(b, "meeting", "sign", "border-protocol-2026")
    sync(pair)
    assert "protocol AGREED" in run(a, "meeting", "show", "border-protocol-2026")
    assert run.json(a, "meeting", "list")[0]["phase"] == "agreed"
    ics, html = tmp_path / "m.ics", tmp_path / "m.html"
    run(a, "meeting", "ical", "border-protocol-2026", "--out", str(ics), "--lang", "ru")
    assert b"UID:border-protocol-2026@parley" in ics.read_bytes()
    run(a, "meeting", "render", "border-protocol-2026", "--out", str(html))
    assert "Протокол встречи border-protocol-2026" in html.read_text()
    assert json.loads(run(a, "meeting", "agenda", "--channel", "border-1949")) == []
    err = run(
        a,
        "meeting",
        "propose",
        "--channel",
        "border-1949",
        "--body-file",
        str(tmp_path / "none.json"),
        code=1,
    )
    assert "no such file" in err
    err = run(a, "meeting", "show", "nope", code=1)
    assert err == "error: no meeting 'nope' — see `parley meeting list`\n"


def test_relationship_and_status_commands(sqlite_pair: Pair, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.workflows.support import open_channel

    pair = sqlite_pair
    open_channel(pair, "direct-line")
    a = pair.a.home
    run = Run(capsys)
    plan = run(
        a,
        "relationship",
        "suspend",
        "--peer",
        "ru-border",
        "--exempt-channel",
        "direct-line",
        "--dry-run",
    )
    assert "would change border-1949: active → suspended" in plan
    assert "direct-line: exempt" in plan
    err = run(a, "relationship", "suspend", "--peer", "nobody", "--reason", "x", code=1)
    assert "nobody" in err
    out = run(
        a,
        "relationship",
        "suspend",
        "--peer",
        "ru-border",
        "--reason",
        "2014",
        "--exempt-channel",
        "direct-line",
        "--exempt-type",
        "border-incident",
    )
    assert "channel border-1949 is now suspended (exempt types: Border incident)" in out
    shown = run(a, "relationship", "show", "--peer", "ru-border")
    assert "border-1949                  suspended (exempt: border-incident)" in shown
    err = run(a, "send", "--channel", "border-1949", "--text", "hi", code=1)
    assert "is suspended since" in err
    assert "2014" in err
    assert run.json(a, "status")["meetings_overdue"] == []
