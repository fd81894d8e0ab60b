"""Incidents across two nodes: the same state on both sides, and the same again from the record."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from parley.errors import ConflictError, NotFoundError, RefusedError
from parley.messaging.acknowledge import do_acknowledge
from parley.messaging.send import Draft, do_send_message
from parley.node import Node
from parley.storage.tables import envelopes
from parley.workflows.incidents import (
    get_incident,
    list_incidents,
    project_incidents,
    rebuild_incidents,
    receipt_facts_txn,
)
from tests.workflows.support import (
    DESK,
    Pair,
    all_envelopes,
    border_incident,
    deliver,
    sync,
)


@pytest.fixture
def pair(sqlite_pair: Pair) -> Pair:
    return sqlite_pair


def report(node: Node, status: str = "ACTUAL", channel: str = "border-1949") -> str:
    env = do_send_message(
        node, Draft(channel, DESK, "border-incident", "IMMEDIATE", status, border_incident())
    )
    return env.id


def respond(pair: Pair, node: Node, incident: str, action: str, text: str, lang: str = "en") -> str:
    from parley.workflows.incidents import do_respond_incident

    pair.clock.advance(60)
    return do_respond_incident(node, incident, action, text, lang=lang).id


def view(node: Node) -> list[dict[str, Any]]:
    return [s.to_json() for s in list_incidents(node, drills=True)]


def from_record(node: Node) -> dict[str, Any]:
    """The pure function over this node's whole record, in the order its log holds it."""
    with node.engine.connect() as conn:
        states = project_incidents(all_envelopes(node))
        facts = receipt_facts_txn(conn, states.values())
    return {k: v.to_json() for k, v in project_incidents(all_envelopes(node), facts).items()}


def count(node: Node) -> int:
    with node.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(envelopes)).scalar_one())


def test_a_border_incident_from_report_to_closure_is_the_same_on_both_nodes(any_pair: Pair) -> None:
    pair = any_pair
    a, b = pair.a, pair.b
    incident = report(a)
    assert get_incident(a, incident).phase == "reported"
    sync(pair)
    assert get_incident(a, incident).phase == "receipted"  # b's signed receipt came back
    assert get_incident(b, incident).receipts == {b.name: "2026-03-01T09:00:00.000Z"}

    pair.clock.advance(120)
    do_acknowledge(b, incident, pair.operator(b))
    sync(pair)
    assert get_incident(a, incident).phase == "acknowledged"
    assert get_incident(a, incident).acknowledgments[b.name]["operator"] == f"op-{b.name}"

    request = respond(pair, b, incident, "request-information", "Какая техника работала у знака?", "ru")
    sync(pair)
    respond(pair, a, incident, "provide-information", "En veihøvel fra entreprenøren.", "nb")
    sync(pair)
    state = get_incident(b, incident)
    assert state.phase == "information-provided"
    assert state.open_requests == []
    assert state.steps[-1].answers == request
    respond(pair, b, incident, "propose-joint-investigation", "Совместный осмотр 25 ноября.", "ru")
    sync(pair)
    respond(pair, a, incident, "agree-joint-investigation", "Enig.", "nb")
    sync(pair)
    assert get_incident(a, incident).joint_investigation == "agreed"

    respond(pair, a, incident, "propose-closure", "Merket er reparert; saken avsluttes.", "nb")
    sync(pair)
    respond(pair, b, incident, "dispute", "Ремонт не завершён.", "ru")
    sync(pair)
    disputed = get_incident(a, incident)
    assert disputed.phase == "disputed"
    assert disputed.pending_closure is None
    assert set(disputed.positions) == {a.name, b.name}  # each side's position on record
    respond(pair, a, incident, "propose-closure", "Merket er ferdig reparert 30. november.", "nb")
    sync(pair)
    respond(pair, b, incident, "agree-closure", "Согласны.", "ru")
    sync(pair)
    assert get_incident(a, incident).phase == "resolved"
    respond(pair, a, incident, "close", "Saken er avsluttet etter felles enighet.", "nb")
    sync(pair)

    final_a, final_b = view(a), view(b)
    assert final_a == final_b, "both nodes compute the same incident from the same record"
    (state_json,) = final_a
    assert state_json["phase"] == "closed"
    assert state_json["outcome"] == "agreed"
    assert state_json["closed_by"] == a.name
    assert all(s["applied"] for s in state_json["steps"])
    assert state_json["receipts"] == {b.name: "2026-03-01T09:00:00.000Z"}

    # The pure function over each node's record (in each node's own log order) agrees …
    assert from_record(a) == from_record(b) == {incident: state_json}
    # … and so does rebuilding the stored projection from the record.
    assert rebuild_incidents(a) == 1
    assert rebuild_incidents(b) == 1
    assert view(a) == view(b) == final_a


def test_steps_the_state_does_not_allow_are_refused_and_change_nothing(pair: Pair) -> None:
    a, b = pair.a, pair.b
    incident = report(a)
    sync(pair)
    before = count(a)
    with pytest.raises(ConflictError, match="no closure is proposed"):
        respond(pair, b, incident, "agree-closure", "ok")
    with pytest.raises(ConflictError, match="closed after its closure was agreed"):
        respond(pair, a, incident, "close", "done")
    respond(pair, a, incident, "propose-closure", "Done.")
    with pytest.raises(ConflictError, match="by the other side, not by its proposer") as exc:
        respond(pair, a, incident, "agree-closure", "ok")
    assert exc.value.hint == f"see `parley incident show {incident}`"
    with pytest.raises(NotFoundError, match="no incident"):
        respond(pair, a, "00000000-0000-4000-8000-000000000000", "dispute", "x")
    # A TEST response cannot move a real incident.
    draft = Draft(
        "border-1949",
        DESK,
        "incident-response",
        "ROUTINE",
        "TEST",
        {"incident": incident, "action": "dispute", "text": "x", "lang": "en"},
    )
    with pytest.raises(RefusedError, match="ACTUAL traffic; a TEST response cannot move it"):
        do_send_message(a, draft)
    assert count(a) == before + 1  # only the closure proposal was stored


def test_crossing_steps_fold_the_same_on_both_sides(pair: Pair) -> None:
    """b disputes while a agrees to b's closure: each by its own record was right."""
    a, b = pair.a, pair.b
    incident = report(a)
    sync(pair)
    proposal = respond(pair, b, incident, "propose-closure", "Закрыть.", "ru")
    sync(pair)
    respond(pair, a, incident, "agree-closure", "Enig.", "nb")  # at t+60 by a's clock
    respond(pair, b, incident, "dispute", "Отзываем предложение.", "ru")  # at t+120, crossing
    sync(pair)
    sa, sb = get_incident(a, incident), get_incident(b, incident)
    assert sa.to_json() == sb.to_json()
    assert sa.phase == "resolved"
    agree, dispute = sa.steps[-2:]
    assert agree.applied
    assert agree.answers == proposal
    assert not dispute.applied
    assert "resolved by agreement" in dispute.note
    # The two logs hold the crossing envelopes in opposite orders; the projection does not care.
    order_a = [e.id for e in all_envelopes(a)][-2:]
    order_b = [e.id for e in all_envelopes(b)][-2:]
    assert order_a == order_b[::-1]
    assert from_record(a) == from_record(b)


def test_drill_traffic_never_opens_a_real_incident(pair: Pair) -> None:
    a, b = pair.a, pair.b
    exercise = report(a, "EXERCISE")
    test = report(a, "TEST")
    sync(pair)
    assert list_incidents(b) == []  # real incidents only, by default
    (drill,) = list_incidents(b, drills=True)
    assert drill.id == exercise
    assert drill.drill
    assert drill.to_json()["status"] == "EXERCISE"
    with pytest.raises(NotFoundError):
        get_incident(b, test)
    # An exercise incident is moved by exercise traffic only.
    respond(pair, b, exercise, "request-information", "Øvelse: hvilket merke?")
    assert get_incident(b, exercise).steps[-1].applied


def test_clock_skew_does_not_put_a_reply_before_what_it_answers(pair: Pair) -> None:
    a, b = pair.a, pair.b
    incident = report(a)
    sync(pair)
    pair.clock.advance(300)
    proposal = respond(pair, a, incident, "propose-closure", "Close.")
    sync(pair)
    # b's clock runs ten minutes behind: its agreement is signed "before" the proposal.
    pair.clock.advance(-600)
    respond(pair, b, incident, "agree-closure", "Agreed.")
    sync(pair)
    state = get_incident(a, incident)
    assert state.steps[-1].at < state.steps[-2].at  # signed "before" what it answers
    assert state.phase == "resolved"
    assert state.steps[-1].answers == proposal
    assert state.to_json() == get_incident(b, incident).to_json()


def test_receipt_arrives_after_the_report_is_stored(pair: Pair) -> None:
    a, b = pair.a, pair.b
    incident = report(a)
    assert deliver(a, b) == [incident]
    assert get_incident(b, incident).phase == "receipted"
    assert get_incident(a, incident).phase == "receipted"
