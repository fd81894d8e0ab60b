"""Every shipped charter carries the types its workflows need (issue 13 item 3).

Checked two ways: each example charter and each charter of the demo scenario against
``parley.workflows.needs``, and the border charter as shipped, opened between two real
in-process nodes, taking an incident and a meeting through the steps that failed on it
before (``incident respond``, ``meeting accept``).
"""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from parley.channels.charter import charter_from_toml
from parley.channels.setup import do_accept_channel, do_propose_channel
from parley.clock import ManualClock
from parley.directory.desks import do_add_desk
from parley.directory.peers import do_add_peer
from parley.formats.registry import list_types
from parley.messaging.send import Draft, do_send_message
from parley.node import Node, init_home
from parley.workflows.incidents import do_respond_incident, get_incident
from parley.workflows.meetings import do_accept_meeting, do_propose_meeting, get_meeting
from parley.workflows.needs import WORKFLOW_NEEDS, missing_types
from tests.workflows.support import Pair, border_incident, proposal, sync

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples" / "charters").glob("*.toml"))
SCENARIOS = sorted((REPO / "src" / "parley" / "demo" / "scenarios").glob("*.toml"))


def _scenario_charters() -> list[tuple[str, str]]:
    out = []
    for path in SCENARIOS:
        for ch in tomllib.loads(path.read_text())["channel"]:
            out.append((f"{path.name}:{ch['charter']['id']}", tomli_w.dumps(ch["charter"])))
    return out


CHARTERS = [(p.name, p.read_text()) for p in EXAMPLES] + _scenario_charters()


def test_the_charters_are_all_found() -> None:
    assert len(EXAMPLES) >= 6
    assert len(CHARTERS) > len(EXAMPLES)


@pytest.mark.parametrize(("name", "text"), CHARTERS, ids=[n for n, _ in CHARTERS])
def test_each_charter_allows_what_its_workflows_need(name: str, text: str) -> None:
    charter = charter_from_toml(text, where=name)
    assert missing_types(charter.types) == {}, f"{name} lacks types its workflows need"


def test_the_needs_name_known_types_and_are_closed() -> None:
    known = {t.name for t in list_types()}
    for type_, needed in WORKFLOW_NEEDS.items():
        assert type_ in known
        assert set(needed) <= known
    assert missing_types(["border-incident", "meeting-proposal"]) == {
        "border-incident": ["incident-response"],
        "meeting-proposal": ["meeting-acceptance", "meeting-protocol", "meeting-protocol-signature"],
    }
    # The 1949 charter as it shipped before this fix is named for exactly what it lacked.
    old = ["general", "border-incident", "meeting-proposal", "meeting-protocol", "sar-request", "sar-sitrep"]
    assert set(missing_types(old)) == {"border-incident", "meeting-proposal", "meeting-protocol"}


def _node(base: Path, name: str, party: str, clock: ManualClock, desks: list[str]) -> Node:
    home = init_home(base / name, name=name, party=party, listen="127.0.0.1:1")
    node = Node.open(home, clock=clock)
    for d in desks:
        do_add_desk(node, d)
    return node


def test_the_border_charter_as_shipped_carries_an_incident_and_a_meeting_to_the_end(tmp_path: Path) -> None:
    text = (REPO / "examples" / "charters" / "border-1949.toml").read_text()
    charter = charter_from_toml(text)
    clock = ManualClock(datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    a = _node(tmp_path, "no-njhq", "Norway", clock, charter.desks_of("no-njhq"))
    b = _node(tmp_path, "ru-nf", "Russia", clock, charter.desks_of("ru-nf"))
    pair = Pair(a, b, clock)
    try:
        do_add_peer(a, b.card().to_json())
        do_add_peer(b, a.card().to_json())
        doc = do_propose_channel(a, charter, b.name)
        countersigned, _ = do_accept_channel(b, doc.to_json())
        do_accept_channel(a, countersigned.to_json())

        desk = "border-commissioner"
        draft = Draft("border-1949", desk, "border-incident", "IMMEDIATE", "ACTUAL", border_incident())
        report = do_send_message(a, draft)
        sync(pair)
        clock.advance(60)
        do_respond_incident(b, report.id, "request-information", "Which mark?")  # refused before the fix
        sync(pair)
        assert get_incident(a, report.id).phase == "information-requested"

        body: dict[str, Any] = proposal("m-2026-06")
        do_propose_meeting(a, "border-1949", body, desk="border-commissioner")
        sync(pair)
        clock.advance(60)
        do_accept_meeting(b, "m-2026-06", channel="border-1949")  # refused before the fix
        sync(pair)
        assert get_meeting(a, "m-2026-06", "border-1949").accepted is not None
    finally:
        pair.close()
