"""Two real node processes over HTTPS: an incident and a drill, the same on both sides."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.harness.nodes import NodeProcess, make_pair
from tests.workflows.support import TYPES

pytestmark = pytest.mark.e2e

CHARTER = """
id = "border-line"
members = ["node-a/duty", "node-b/duty"]
types = {types}
topics = ["fisheries", "border-situation", "search-and-rescue"]
languages = ["nb", "ru", "en"]
[name]
en = "Border line"
nb = "Grenselinje"
ru = "Пограничная линия"
[basis]
agreement = "Border agreement"
date = 1949-12-29
"""
REPORT = {
    "time": "2026-11-20T07:40:00Z",
    "place": {"border_post": 353},
    "category": "damage_to_border_marks",
    "requested_action": "joint_investigation",
    "description": {"text": "Grensemerke 353 er skadet.", "lang": "nb"},
}


def wait_for(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def holds(node: NodeProcess, message_id: str) -> bool:
    with node.client() as c:
        return c.get(f"/api/v1/messages/{message_id}").status_code == 200


def post(
    node: NodeProcess, type_: str, body: dict[str, Any], refs: list[str] | None = None, **extra: Any
) -> str:
    with node.client() as c:
        r = c.post(
            "/api/v1/messages",
            json={
                "channel": "border-line",
                "type": type_,
                "body": body,
                "refs": refs or [],
                **extra,
            },
        )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def step(
    node: NodeProcess, incident: str, action: str, text: str, lang: str, answers: str | None = None
) -> str:
    body = {"incident": incident, "action": action, "text": text, "lang": lang}
    if answers:
        body["answers"] = answers
    return post(node, "incident-response", body, [incident], precedence="IMMEDIATE")


def projection(node: NodeProcess) -> list[dict[str, Any]]:
    """The node's stored incident projection, read in process (a CLI call costs seconds)."""
    from parley.node import Node
    from parley.workflows.incidents import list_incidents

    opened = Node.open(node.home)
    try:
        return [s.to_json() for s in list_incidents(opened, drills=True)]
    finally:
        opened.close()


def open_border_line(tmp_path: Path, a: NodeProcess, b: NodeProcess) -> None:
    from parley.channels.charter import charter_from_toml
    from parley.channels.setup import do_accept_channel, do_propose_channel
    from parley.node import Node

    na, nb = Node.open(a.home), Node.open(b.home)
    try:
        doc = do_propose_channel(na, charter_from_toml(CHARTER.format(types=json.dumps(TYPES))), b.name)
        countersigned, _ = do_accept_channel(nb, doc.to_json())
        do_accept_channel(na, countersigned.to_json())
    finally:
        na.close()
        nb.close()


def test_incident_and_drill_between_two_processes(tmp_path: Path) -> None:
    a, b = make_pair(tmp_path)
    open_border_line(tmp_path, a, b)
    a.start()
    b.start()
    try:
        incident = post(a, "border-incident", REPORT, precedence="IMMEDIATE")
        wait_for("the report at b", lambda: holds(b, incident))
        with b.client() as c:
            assert c.post(f"/api/v1/messages/{incident}/ack").status_code == 201
        request = step(b, incident, "request-information", "Какая техника?", "ru")
        wait_for("the request at a", lambda: holds(a, request))
        step(a, incident, "provide-information", "Veihøvel.", "nb", answers=request)
        proposal = step(a, incident, "propose-closure", "Merket er reparert.", "nb")
        wait_for("the proposal at b", lambda: holds(b, proposal))
        # b cannot close what is not agreed: refused (through the CLI) with the reason.
        refused = b.cli("incident", "close", incident, check=False)
        assert refused.returncode == 1
        assert "closed after its closure was agreed" in refused.stderr
        agreed = step(b, incident, "agree-closure", "Согласны.", "ru", answers=proposal)
        wait_for("the agreement at a", lambda: holds(a, agreed))
        closed = step(a, incident, "close", "Saken er avsluttet.", "nb")
        wait_for("the close at b", lambda: holds(b, closed))
        wait_for(
            "equal projections",
            lambda: projection(a) == projection(b) != [] and bool(projection(a)[0]["acknowledgments"]),
        )
        (state,) = projection(a)
        assert state["phase"] == "closed"
        assert state["outcome"] == "agreed"
        assert state["receipts"]
        assert state["acknowledgments"]["node-b"]["operator"] == "op-node-b"
        assert [s["action"] for s in state["steps"]] == [
            "request-information",
            "provide-information",
            "propose-closure",
            "agree-closure",
            "close",
        ]
        assert all(s["applied"] for s in state["steps"])

        # A drill through the CLI: TEST, FLASH, to b's duty desk; b's operator acknowledges.
        drill = a.cli_json("drill", "--channel", "border-line")
        wait_for("the drill at b", lambda: holds(b, drill["id"]))
        with b.client() as c:
            assert c.post(f"/api/v1/messages/{drill['id']}/ack").status_code == 201

        def acknowledged() -> bool:
            from parley.node import Node
            from parley.workflows.drills import drill_report

            opened = Node.open(a.home)
            try:
                return drill_report(opened, drill["id"]).ack_s is not None
            finally:
                opened.close()

        wait_for("the drill's acknowledgment at a", acknowledged)
        assert projection(b) == [state]  # the drill opened no incident
    finally:
        a.stop()
        b.stop()
    report = a.cli_json("drill", "report", drill["id"])
    assert report["receipts"]["node-b"] >= 0
    assert report["met_deadline"] is True
    assert report["status"] == "TEST"
    # Rebuilt from each record, the projections are still the same.
    from parley.node import Node
    from parley.workflows.incidents import rebuild_incidents

    for n in (a, b):
        opened = Node.open(n.home)
        try:
            assert rebuild_incidents(opened) == 1
        finally:
            opened.close()
    assert projection(a) == projection(b) == [state]
    assert b.cli_json("incident", "list") == [state]
