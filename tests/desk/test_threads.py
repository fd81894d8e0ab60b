"""Replies carry a signed reference; both nodes verify it and build the same threads (protocol §4.3)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from parley.errors import NotFoundError, RefusedError, UsageError, VerificationError
from parley.messaging.receive import receive_batch
from parley.messaging.send import Draft, do_send_message
from parley.messaging.threads import MAX_ROOTS_QUERY, reply_actions, thread_of, thread_roots
from parley.node import Node
from parley.protocol.envelope import SignedEnvelope, build_envelope
from parley.protocol.verify import verify_envelope
from parley.storage.tables import envelopes
from tests.workflows.support import DESK, Pair, border_incident, deliver, open_channel, proposal, sync

CHANNEL = "border-1949"


def general(text: str, subject: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"text": text, "lang": "en"}
    if subject:
        body["subject"] = subject
    return body


def send(
    node: Node, body: dict[str, Any], reply_to: str | None = None, channel: str = CHANNEL
) -> SignedEnvelope:
    draft = Draft(channel, DESK, "general", "ROUTINE", "ACTUAL", body, reply_to=reply_to)
    return do_send_message(node, draft)


def wire_of(node: Node, message_id: str) -> dict[str, Any]:
    with node.engine.connect() as conn:
        raw = conn.execute(select(envelopes.c.raw).where(envelopes.c.id == message_id)).scalar_one()
    wire: dict[str, Any] = json.loads(raw)
    return wire


def test_a_reply_signs_what_it_answers_and_both_nodes_see_one_thread(any_pair: Pair) -> None:
    p = any_pair
    root = send(p.a, general("Boat seen at 353", "Boat"))
    deliver(p.a, p.b)
    p.clock.advance(60)
    reply = send(p.b, general("We see it too"), reply_to=root.id)
    assert reply.reply_to == {"id": root.id, "hash": root.hash}
    assert root.id in reply.refs  # consumers that know only refs still order it after the root
    assert deliver(p.b, p.a) == [reply.id]
    p.clock.advance(60)
    again = send(p.a, general("Thanks"), reply_to=reply.id)
    deliver(p.a, p.b)
    other = send(p.a, general("Unrelated"))

    for node in (p.a, p.b):
        thread = thread_of(node, again.id)
        assert [m["id"] for m in thread] == [root.id, reply.id, again.id]
        assert [m["in_reply_to"] for m in thread] == [None, root.id, reply.id]
        assert thread[1]["sender"] == f"{p.b.name}/{DESK}"
        assert thread_of(node, root.id) == thread
    roots = thread_roots(p.a, [root.id, reply.id, again.id, other.id])
    assert roots == {root.id: root.id, reply.id: root.id, again.id: root.id, other.id: other.id}
    # The reference is inside the signed envelope: the stored bytes verify as they are.
    verify_envelope(wire_of(p.a, reply.id), p.a.key_for)


def test_a_reply_and_its_parent_may_travel_in_one_batch(sqlite_pair: Pair) -> None:
    p = sqlite_pair
    first = send(p.b, general("Position 69.6N 30.1E"))
    follow = send(p.b, general("Correction: 30.2E"), reply_to=first.id)
    assert deliver(p.b, p.a) == [first.id, follow.id]
    assert [m["id"] for m in thread_of(p.a, follow.id)] == [first.id, follow.id]


def test_a_reply_names_a_message_of_its_own_channel(sqlite_pair: Pair) -> None:
    p = sqlite_pair
    open_channel(p, "second-line")
    elsewhere = send(p.a, general("On the other line"), channel="second-line")
    with pytest.raises(NotFoundError, match=r"no message .* on channel 'border-1949'"):
        send(p.a, general("Reply"), reply_to=elsewhere.id)
    with pytest.raises(NotFoundError):
        send(p.a, general("Reply"), reply_to=str(uuid.uuid4()))
    with pytest.raises(NotFoundError, match="to reply to"):  # the API bounds the id's length too
        send(p.a, general("Reply"), reply_to="not-an-id")
    assert thread_roots(p.a, []) == {}


def _forged_reply(p: Pair, reply_to: dict[str, str]) -> dict[str, Any]:
    """An envelope signed by b's real key continuing b's chain, with the reference given."""
    return build_envelope(
        key=p.b.key,
        channel=CHANNEL,
        sender_node=p.b.name,
        sender_desk=DESK,
        seq=1,
        prev=None,
        created=p.clock.now(),
        type="general",
        type_version=1,
        precedence="ROUTINE",
        status="ACTUAL",
        body=general("Forged"),
        refs=[reply_to["id"]],
        reply_to=reply_to,
    ).to_wire()


def test_a_reply_to_a_message_the_receiver_does_not_hold_is_refused(sqlite_pair: Pair) -> None:
    p = sqlite_pair
    wire = _forged_reply(p, {"id": str(uuid.uuid4()), "hash": "sha256:" + "0" * 64})
    with pytest.raises(RefusedError) as caught:
        receive_batch(p.a, p.b.name, [wire])
    assert caught.value.code == "reply_unknown"
    with p.a.engine.connect() as conn:  # nothing stored
        assert conn.execute(select(envelopes.c.id).where(envelopes.c.sender_node == p.b.name)).first() is None


def test_a_reply_whose_hash_differs_from_the_message_held_is_refused(sqlite_pair: Pair) -> None:
    p = sqlite_pair
    root = send(p.a, general("Original"))
    wire = _forged_reply(p, {"id": root.id, "hash": "sha256:" + "1" * 64})
    with pytest.raises(RefusedError) as caught:
        receive_batch(p.a, p.b.name, [wire])
    assert caught.value.code == "reply_hash_mismatch"
    assert root.hash in caught.value.message
    good = _forged_reply(p, {"id": root.id, "hash": root.hash})
    assert receive_batch(p.a, p.b.name, [good]).stored == [good["envelope"]["id"]]


def test_the_reference_is_well_formed_and_listed_in_refs(sqlite_pair: Pair) -> None:
    p = sqlite_pair
    root = send(p.a, general("Original"))
    wire = _forged_reply(p, {"id": root.id, "hash": root.hash})
    wire["envelope"]["refs"] = []
    with pytest.raises(VerificationError, match="also be listed in refs"):
        verify_envelope(wire, p.a.key_for)
    for bad in ({"id": root.id}, {"id": root.id, "hash": "md5:x"}, "just-an-id"):
        wire["envelope"]["reply_to"] = bad
        wire["envelope"]["refs"] = [root.id]
        with pytest.raises(VerificationError) as caught:
            verify_envelope(wire, p.a.key_for)
        assert caught.value.step in ("1 shape", "3 fields")


def test_an_envelope_without_a_reference_is_unchanged(sqlite_pair: Pair) -> None:
    """Old envelopes keep their bytes: no reply_to member unless the message is a reply."""
    env = send(sqlite_pair.a, general("Plain"))
    assert "reply_to" not in env.envelope
    assert env.reply_to is None
    assert "reply_to" not in wire_of(sqlite_pair.a, env.id)["envelope"]


def test_thread_roots_is_bounded(sqlite_pair: Pair) -> None:
    with pytest.raises(UsageError, match="limit"):
        thread_roots(sqlite_pair.a, (str(uuid.uuid4()) for _ in range(MAX_ROOTS_QUERY + 1)))


def _names(node: Node, message_id: str) -> dict[str, tuple[str, dict[str, Any]]]:
    return {a.name: (a.type, a.body) for a in reply_actions(node, None, message_id)}


def test_the_actions_follow_the_type_and_the_workflow_state(sqlite_pair: Pair) -> None:
    p = sqlite_pair
    plain = send(p.a, general("Hello", "Weather"))
    deliver(p.a, p.b)
    actions = reply_actions(p.b, None, plain.id)
    assert [a.name for a in actions] == ["reply"]
    assert actions[0].body["subject"] == "Re: Weather"
    assert actions[0].reply_to == plain.id
    assert actions[0].channel == CHANNEL
    assert actions[0].label_key == "thread.action.reply"

    report = do_send_message(
        p.a, Draft(CHANNEL, DESK, "border-incident", "IMMEDIATE", "ACTUAL", border_incident())
    )
    sync(p)
    at_b = _names(p.b, report.id)
    assert set(at_b) == {"reply", "clarify", "propose-closure"}
    assert at_b["clarify"] == (
        "incident-response",
        {"incident": report.id, "action": "request-information", "text": "", "lang": "en"},
    )
    # b asks for information: a may respond with it, b (who asked) may not.
    p.clock.advance(60)
    from parley.workflows.incidents import do_respond_incident

    asked = do_respond_incident(p.b, report.id, "request-information", "Which mark?")
    sync(p)
    assert _names(p.a, asked.id)["respond"][1]["answers"] == asked.id
    assert _names(p.a, asked.id)["respond"][1]["action"] == "provide-information"
    assert "respond" not in _names(p.b, asked.id)
    # b proposes closure: a may now agree, b (the proposer) may not.
    p.clock.advance(60)
    closure = do_respond_incident(p.b, report.id, "propose-closure", "Mark repaired")
    sync(p)
    assert _names(p.a, closure.id)["agree"][1]["answers"] == closure.id
    assert "agree" not in _names(p.b, closure.id)

    meeting = do_send_message(
        p.a,
        Draft(CHANNEL, DESK, "meeting-proposal", "ROUTINE", "ACTUAL", proposal("m-2026-06")),
    )
    sync(p)
    assert _names(p.b, meeting.id)["agree"] == (
        "meeting-acceptance",
        {"meeting_id": "m-2026-06", "proposal": meeting.id},
    )
    assert "agree" not in _names(p.a, meeting.id)  # one's own proposal is accepted by the other side


def test_a_prefilled_action_sends_as_is_once_the_text_is_written(sqlite_pair: Pair) -> None:
    p = sqlite_pair
    report = do_send_message(
        p.a, Draft(CHANNEL, DESK, "border-incident", "IMMEDIATE", "ACTUAL", border_incident())
    )
    sync(p)
    action = next(a for a in reply_actions(p.b, None, report.id) if a.name == "clarify")
    body = dict(action.body, text="Which mark exactly?")
    env = do_send_message(
        p.b,
        Draft(
            action.channel,
            DESK,
            action.type,
            action.precedence,
            action.status,
            body,
            action.refs,
            reply_to=action.reply_to,
        ),
    )
    sync(p)
    assert [m["id"] for m in thread_of(p.a, env.id)] == [report.id, env.id]


def test_an_auditor_is_offered_nothing(sqlite_pair: Pair) -> None:
    from parley.directory.operators import Operator

    p = sqlite_pair
    plain = send(p.a, general("Hello"))
    deliver(p.a, p.b)
    auditor = Operator("aud", "nb", {DESK: "auditor"})
    assert reply_actions(p.b, auditor, plain.id) == []
    assert [a.name for a in reply_actions(p.b, Operator("d", "nb", {DESK: "duty"}), plain.id)] == ["reply"]
    assert reply_actions(p.b, Operator("d", "nb", {DESK: "duty"}), plain.id)[0].body["lang"] == "nb"


def test_a_suspended_channel_offers_only_its_exempt_types(sqlite_pair: Pair) -> None:
    from parley.channels.lifecycle import do_change_status

    p = sqlite_pair
    report = do_send_message(
        p.a, Draft(CHANNEL, DESK, "border-incident", "IMMEDIATE", "ACTUAL", border_incident())
    )
    sync(p)
    do_change_status(p.b, CHANNEL, "suspended", "2014 decision", exempt=["incident-response"])
    assert set(_names(p.b, report.id)) == {"clarify", "propose-closure"}  # no plain Reply
