"""The alert mute on the node's clock (issue 12, item 1): it ends by itself, and it never
silences an item that opened after it was set. A real node home and database, driven by a
``ManualClock`` instead of sleeps."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from parley.clock import ManualClock
from parley.console.alerts import AlertItem, AlertState, alert_state, mute, unmute
from parley.directory.operators import Operator
from parley.node import Node
from tests.harness.nodes import init_node

START = datetime(2026, 11, 29, 14, 20, tzinfo=UTC)
OFFICER = Operator("officer", "en", {"duty": "duty"})


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[Node, ManualClock]]:
    home = init_node(tmp_path, "node-x", "Norway").home
    clock = ManualClock(START)
    n = Node.open(home, clock=clock)
    try:
        yield n, clock
    finally:
        n.close()


def test_a_mute_ends_by_itself_after_the_chosen_minutes(node: tuple[Node, ManualClock]) -> None:
    n, clock = node
    until = mute(n, OFFICER, 15)
    assert until == START + timedelta(minutes=15)
    assert alert_state(n, OFFICER).muted_until == until
    clock.advance(15 * 60 - 1)
    assert alert_state(n, OFFICER).muted_until == until
    clock.advance(1)
    assert alert_state(n, OFFICER).muted_until is None  # over: the sound is back
    assert alert_state(n, Operator("someone-else", "en", {"duty": "duty"})).muted_until is None
    mute(n, OFFICER, 5)
    unmute(n, OFFICER)
    assert alert_state(n, OFFICER).muted_until is None


def test_a_mute_covers_only_what_was_open_when_it_was_set() -> None:
    def flash(key: str, since: datetime) -> AlertItem:
        return AlertItem("flash", key, since, f"/console/messages/{key}", "general")

    seen = flash("seen", START - timedelta(minutes=1))
    state = AlertState(items={"flash": [seen]}, counts={"flash": 1})
    assert state.sound
    state.muted_at, state.muted_until = START, START + timedelta(minutes=15)
    assert not state.sound
    state.items["flash"].append(flash("new", START + timedelta(minutes=2)))
    assert state.sound  # nobody has heard this one yet
    links = AlertState(
        items={"link_down": [AlertItem("link_down", "c/p", START, "/console/channels#ch-c", "p")]},
        counts={"link_down": 1},
    )
    assert links.total == 1
    assert links.top_kind == "link_down"
    assert not links.sound  # a link down shows in the bar; only messages sound
