"""The workflow steps a message page offers: respond to an incident, accept a meeting.

Messaging builds a message's actions (reply, acknowledge) and asks the workflows for theirs
through its hooks (``parley.messaging.hooks``); each step offered here is one the same rule
would accept on send, so a button never leads to a refusal.
"""

from __future__ import annotations

from typing import Any

from parley.errors import NotFoundError
from parley.node import Node
from parley.protocol.envelope import SignedEnvelope
from parley.workflows import incidents as inc
from parley.workflows import meetings as mt


def workflow_actions(node: Node, env: SignedEnvelope, lang: str, offer: Any) -> None:
    _incident_actions(node, env, lang, offer)
    _meeting_actions(node, env, offer)


def _incident_actions(node: Node, env: SignedEnvelope, lang: str, offer: Any) -> None:
    if env.type in inc.INCIDENT_TYPES:
        incident_id = env.id
    elif env.type == inc.RESPONSE_TYPE and isinstance(env.body.get("incident"), str):
        incident_id = str(env.body["incident"])
    else:
        return
    try:
        state = inc.get_incident(node, incident_id)
    except NotFoundError:
        return
    # Each button is one incident step; the same rule that refuses a step on send decides
    # whether it is offered, so a button never leads to a refusal.
    for name, action in (
        ("respond", "provide-information"),
        ("clarify", "request-information"),
        ("propose-closure", "propose-closure"),
        ("agree", "agree-closure"),
        ("agree-joint", "agree-joint-investigation"),
    ):
        answers = inc.default_answers(state, action)
        if action == "provide-information":
            asked_by = next((s.node for s in state.steps if s.id == answers), None)
            if asked_by is None or asked_by == node.name:
                continue  # nothing asked, or only by us: there is nothing for us to provide
        if inc.refusal(state, node.name, action, answers) is not None:
            continue
        body: dict[str, Any] = {"incident": incident_id, "action": action, "text": "", "lang": lang}
        if answers is not None:
            body["answers"] = answers
        last = state.steps[-1].id if state.steps else None
        refs = tuple(r for r in (incident_id, answers, last) if r is not None)
        offer(name, inc.RESPONSE_TYPE, body, refs)


def _meeting_actions(node: Node, env: SignedEnvelope, offer: Any) -> None:
    if env.type != mt.PROPOSAL or not isinstance(env.body.get("meeting_id"), str):
        return
    try:
        state = mt.get_meeting(node, str(env.body["meeting_id"]), env.channel)
    except NotFoundError:
        return
    current = state.current
    # Only the latest proposal, made by the other side, can be accepted (meetings.refusal).
    if current["id"] != env.id or current["node"] == node.name or state.accepted is not None:
        return
    offer("agree", mt.ACCEPTANCE, {"meeting_id": state.meeting_id, "proposal": env.id})
