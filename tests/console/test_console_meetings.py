"""Signing a meeting protocol from the console: the same bytes as the other side, agreed."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.console.console_support import ConsoleClient, audit_actions
from tests.harness.nodes import NodeProcess

pytestmark = pytest.mark.e2e

MEETING = "console-meeting-1"


def _post(node: NodeProcess, type_: str, body: dict[str, Any]) -> str:
    with node.client() as c:
        r = c.post(
            "/api/v1/messages?wait=receipt",
            json={"channel": "test-line", "type": type_, "body": body},
        )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _wait_for(node: NodeProcess, path: str, text: str, login: str) -> str:
    deadline = time.monotonic() + 20
    with ConsoleClient(node) as c:
        c.login(login)
        while True:
            page = c.get(path).text
            if text in page or time.monotonic() > deadline:
                return page
            time.sleep(0.2)


def test_protocol_is_signed_in_the_console_and_agreed(nodes: tuple[NodeProcess, NodeProcess]) -> None:
    a, b = nodes
    _post(
        a,
        "meeting-proposal",
        {
            "meeting_id": MEETING,
            "start": "2026-12-10T08:00:00Z",
            "end": "2026-12-10T14:00:00Z",
            "place": {"name": "Kirkenes"},
            "level": "commissioners",
            "delegations": [{"party": "NO", "head": "Commissioner"}, {"party": "RU", "head": "Commissioner"}],
            "agenda": [
                {"item_id": "1", "topic": "border_situation", "title": {"text": "Situasjonen", "lang": "nb"}}
            ],
        },
    )
    b.cli_here("meeting", "accept", MEETING, "--channel", "test-line")
    _wait_for(a, "/console/meetings", MEETING, "op-node-a")
    deadline = time.monotonic() + 20
    # The JSON always has an "accepted" key (null until then): wait for the phase itself.
    while (
        json.loads(a.cli_here("meeting", "show", MEETING, "--channel", "test-line", "--json").stdout)["phase"]
        != "accepted"
    ):
        assert time.monotonic() < deadline, "the acceptance did not arrive"
        time.sleep(0.2)
    _post(
        a,
        "meeting-protocol",
        {
            "meeting_id": MEETING,
            "held_at": "2026-12-10T08:05:00Z",
            "place": {"name": "Kirkenes"},
            "attendees": [{"party": "NO", "name": "Commissioner", "role": "head of delegation"}],
            "decisions": [{"item_id": "1", "text": {"text": "Rolig.", "lang": "nb"}}],
            "action_items": [],
        },
    )
    b.cli_here("meeting", "sign", MEETING, "--channel", "test-line")

    with ConsoleClient(a) as c:
        c.login("op-node-a")
        page = c.get("/console/meetings").text
        assert 'action="/console/meetings/sign"' in page
        refused = c.post("/console/meetings/sign", {"channel": "test-line", "meeting": MEETING}, csrf=False)
        assert refused.status_code == 403  # no CSRF token: refused, nothing signed
        c.refresh_csrf("/console/meetings")
        signed = c.post("/console/meetings/sign", {"channel": "test-line", "meeting": MEETING})
        assert signed.status_code == 303
    assert "sign_protocol" in audit_actions(a, "op-node-a")
    deadline = time.monotonic() + 20
    while (
        '"agreed": null' in b.cli_here("meeting", "show", MEETING, "--channel", "test-line", "--json").stdout
    ):
        assert time.monotonic() < deadline, "the console signature did not reach the other side"
        time.sleep(0.2)
