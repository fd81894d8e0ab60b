"""Meetings: propose, counter, accept, a protocol drafted, amended and signed by both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar

from parley.errors import ConflictError, NotFoundError, RefusedError
from parley.messaging.chains import chain_head_txn
from parley.messaging.receive import receive_batch
from parley.node import Node
from parley.protocol.envelope import build_envelope
from parley.workflows.meetings import (
    body_hash,
    do_accept_meeting,
    do_counter_meeting,
    do_draft_protocol,
    do_propose_meeting,
    do_sign_protocol,
    draft_agenda,
    get_meeting,
    list_meetings,
    meeting_ical,
    open_action_items,
    project_meetings,
    rebuild_meetings,
)
from parley.workflows.protocol_doc import render_protocol_html
from tests.workflows.support import Pair, all_envelopes, proposal, protocol, sync

CHANNEL = "border-1949"
ACTIONS = [
    {
        "action_id": "A-1",
        "text": {"text": "Reparere grensemerke 353.", "lang": "nb"},
        "owner_party": "NO",
        "due": "2026-08-01",
    },
    {
        "action_id": "A-2",
        "text": {"text": "Направить список участников.", "lang": "ru"},
        "owner_party": "RU",
    },
]


def hold(
    pair: Pair,
    meeting_id: str,
    held_at: str,
    *,
    level: str = "commissioners",
    decisions: list[dict[str, Any]] | None = None,
    actions: list[dict[str, Any]] | None = None,
) -> None:
    """A meeting proposed by a, accepted by b, its protocol drafted by a and signed by both."""
    a, b = pair.a, pair.b
    do_propose_meeting(a, CHANNEL, proposal(meeting_id, start=held_at[:11] + "08:00:00Z", level=level))
    sync(pair)
    do_accept_meeting(b, meeting_id)
    sync(pair)
    do_draft_protocol(
        a, meeting_id, protocol(meeting_id, held_at=held_at, decisions=decisions, actions=actions)
    )
    sync(pair)
    do_sign_protocol(a, meeting_id)
    do_sign_protocol(b, meeting_id)
    sync(pair)


def members(node: Node) -> dict[str, list[str]]:
    return {CHANNEL: sorted([node.name, *(p for p in ("no-border", "ru-border") if p != node.name)])}


def test_propose_counter_accept_draft_amend_and_sign(any_pair: Pair, tmp_path: Path) -> None:
    pair = any_pair
    a, b = pair.a, pair.b
    first = do_propose_meeting(a, CHANNEL, proposal("border-protocol-2026"))
    sync(pair)
    assert get_meeting(b, "border-protocol-2026").phase == "proposed"
    with pytest.raises(ConflictError, match="by the other side, not by its proposer"):
        do_accept_meeting(a, "border-protocol-2026")
    counter = do_counter_meeting(
        b,
        "border-protocol-2026",
        proposal("x", start="2026-06-12T08:00:00Z", topics=("border-situation", "fisheries")),
    )
    assert counter.body["counter_to"] == first.id
    assert counter.body["meeting_id"] == "border-protocol-2026"
    sync(pair)
    # The counter-proposal is now the current one: accepting the first is refused.
    assert get_meeting(a, "border-protocol-2026").phase == "countered"
    do_accept_meeting(a, "border-protocol-2026", note="Vi kommer.", lang="nb")
    sync(pair)
    accepted = get_meeting(b, "border-protocol-2026")
    assert accepted.phase == "accepted"
    assert accepted.start == "2026-06-12T08:00:00Z"

    # After the meeting: b drafts, a amends, b signs a's amendment, a signs it too.
    draft = do_draft_protocol(
        b, "border-protocol-2026", protocol("border-protocol-2026", actions=ACTIONS[:1])
    )
    sync(pair)
    do_sign_protocol(b, "border-protocol-2026")  # b signs its own first draft …
    amended = do_draft_protocol(a, "border-protocol-2026", protocol("border-protocol-2026", actions=ACTIONS))
    assert draft.id in amended.refs
    sync(pair)
    state = get_meeting(a, "border-protocol-2026")
    assert state.phase == "held"
    assert state.agreed is None
    do_sign_protocol(a, "border-protocol-2026")
    sync(pair)
    assert get_meeting(b, "border-protocol-2026").agreed is None  # one signature only
    signed = do_sign_protocol(b, "border-protocol-2026")
    assert signed.body["protocol_hash"] == body_hash(amended.body)
    sync(pair)
    sa, sb = get_meeting(a, "border-protocol-2026"), get_meeting(b, "border-protocol-2026")
    assert sa.to_json() == sb.to_json()
    assert sa.phase == "agreed"
    assert sa.agreed is not None
    assert sa.agreed["protocol"] == amended.id
    assert sa.agreed["hash"] == body_hash(amended.body)
    with pytest.raises(ConflictError, match="already agreed"):
        do_draft_protocol(b, "border-protocol-2026", protocol("border-protocol-2026"))

    # The pure function over either record, and a rebuild, give the same state.
    assert project_meetings(all_envelopes(a), members(a)) == project_meetings(all_envelopes(b), members(b))
    assert (
        project_meetings(all_envelopes(a), members(a))[(CHANNEL, "border-protocol-2026")].to_json()
        == sa.to_json()
    )
    assert rebuild_meetings(a) == 1
    assert get_meeting(a, "border-protocol-2026").to_json() == sa.to_json()

    # iCalendar: a stable UID, and CONFIRMED once accepted.
    (event,) = Calendar.from_ical(meeting_ical(a, sa, "nb")).walk("VEVENT")
    assert str(event["uid"]) == "border-protocol-2026@parley"
    assert str(event["status"]) == "CONFIRMED"

    # The protocol document: three languages side by side, printable, says it is agreed.
    html = render_protocol_html(a, sa)
    for text in (
        'lang="nb"',
        'lang="ru"',
        'lang="en"',
        "@media print",
        "Omforent",
        "Согласован",
        "Agreed",
        "Reparere grensemerke 353.",
        "Направить список участников.",
        body_hash(amended.body),
    ):
        assert text in html, text


def test_an_agenda_outside_the_charter_topics_is_refused_on_send_and_on_receipt(
    sqlite_pair: Pair,
) -> None:
    pair = sqlite_pair
    a, b = pair.a, pair.b
    with pytest.raises(
        RefusedError, match=r"agenda topic\(s\) Military exercises are outside the charter"
    ) as exc:
        do_propose_meeting(a, CHANNEL, proposal("m-1", topics=("fisheries", "military-exercises")))
    assert "Border situation, Fisheries, Search and rescue" in exc.value.hint
    # A node that skipped the check still gets refused by the receiver, and nothing is stored.
    with a.engine.connect() as conn:
        head = chain_head_txn(conn, CHANNEL, a.name)
    env = build_envelope(
        key=a.key,
        channel=CHANNEL,
        sender_node=a.name,
        sender_desk="commissioner",
        seq=(head[0] + 1) if head else 1,
        prev=head[1] if head else None,
        created=pair.clock.now(),
        type="meeting-proposal",
        type_version=1,
        precedence="ROUTINE",
        status="ACTUAL",
        body=proposal("m-1", topics=("military-exercises",)),
    )
    with pytest.raises(RefusedError, match="outside the charter of 'border-1949'"):
        receive_batch(b, a.name, [env.to_wire()])
    assert list_meetings(b) == []


def test_preparatory_meetings_and_agenda_references(sqlite_pair: Pair) -> None:
    pair = sqlite_pair
    a = pair.a
    with pytest.raises(NotFoundError, match="which this meeting prepares, is unknown here"):
        do_propose_meeting(a, CHANNEL, proposal("staff-2026", level="staff", prepares="border-protocol-2026"))
    do_propose_meeting(a, CHANNEL, proposal("border-protocol-2026"))
    prep = do_propose_meeting(
        a, CHANNEL, proposal("staff-2026", level="staff", prepares="border-protocol-2026")
    )
    assert get_meeting(a, "staff-2026").prepares == "border-protocol-2026"
    body = proposal("other")
    body["agenda"][0]["refs"] = ["00000000-0000-4000-8000-000000000000"]
    with pytest.raises(NotFoundError, match="refers to 00000000-0000-4000-8000-000000000000"):
        do_propose_meeting(a, CHANNEL, body)
    body["agenda"][0]["refs"] = [prep.id]
    assert prep.id in do_propose_meeting(a, CHANNEL, body).refs


def test_open_action_items_carry_over_to_the_next_agenda(sqlite_pair: Pair) -> None:
    pair = sqlite_pair
    hold(pair, "border-protocol-2026", "2026-06-10T08:05:00Z", actions=ACTIONS)
    states = list_meetings(pair.a, CHANNEL)
    assert [i["action_id"] for i in open_action_items(states, CHANNEL)] == ["A-1", "A-2"]
    # The next meeting decides on A-1 (its agenda item carries the action's id).
    decision = [{"item_id": "A-1", "text": {"text": "Merket er reparert.", "lang": "nb"}}]
    hold(pair, "border-protocol-2027", "2027-06-10T08:05:00Z", decisions=decision)
    agenda = draft_agenda(list_meetings(pair.b, CHANNEL), CHANNEL)
    assert [(i["item_id"], i["topic"]) for i in agenda] == [("A-2", "border-situation")]
    assert agenda[0]["title"] == {"text": "Направить список участников. (RU)", "lang": "ru"}
    # The carried agenda is a valid proposal on this channel as it stands.
    body = proposal("border-protocol-2028", start="2028-06-10T08:00:00Z")
    body["agenda"] = agenda
    do_propose_meeting(pair.a, CHANNEL, body)
