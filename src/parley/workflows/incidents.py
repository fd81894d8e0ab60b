"""Incidents: opened by a report, moved only by signed messages, the same on both sides.

An ``incident-at-sea`` (INCSEA, 1972/1990) or ``border-incident`` (1949 border agreement)
report opens an incident. Its life is the fold of the signed record, in causal order
(:mod:`parley.workflows.record`), with :func:`project_incidents` — a pure function:

    reported ─ receipted ─ acknowledged ─┬─ information-requested ⇄ information-provided
                                         ├─ joint-investigation-proposed ─ …-agreed
                                         ├─ closure-proposed ─ resolved (agreed) ─ closed
                                         └─ disputed (each side's position) ─ closed

* ``receipted`` comes from the signed receipts covering the report, ``acknowledged`` from
  the other side's acknowledgment envelope; every other step is an ``incident-response``
  envelope naming the incident.
* An agreement (joint investigation, closure) is effective only from a node other than the
  proposer, and only for the proposal still pending; a dispute withdraws a pending closure
  and records the disputing side's position; ``close`` files an incident that was resolved
  by agreement or is disputed (the outcome stays on the record).
* Drill traffic never opens a real incident: an EXERCISE report opens an incident marked
  EXERCISE (so the procedure itself can be exercised), listed apart from real ones; a TEST
  report opens none. A response must carry the status of its incident.

A step that the current state does not allow is refused when sent. If both sides send at
once (say one disputes while the other agrees), the fold keeps the later step in the
history marked *not applied*, with the reason, so both nodes still compute the same state.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import Connection, delete, func, insert, or_, select, update

from parley.errors import ConflictError, NotFoundError, RefusedError, UsageError
from parley.formats.texts import T, Text
from parley.messaging.thread_tables import incident_messages
from parley.node import Node
from parley.protocol.envelope import SignedEnvelope
from parley.storage.tables import envelopes, receipts
from parley.workflows.record import causal_order
from parley.workflows.tables import incidents

INCIDENT_TYPES = ("incident-at-sea", "border-incident")
RESPONSE_TYPE = "incident-response"
ACTIONS = (
    "request-information",
    "provide-information",
    "propose-joint-investigation",
    "agree-joint-investigation",
    "propose-closure",
    "agree-closure",
    "dispute",
    "close",
)
PHASES = (
    "reported",
    "receipted",
    "acknowledged",
    "information-requested",
    "information-provided",
    "joint-investigation-proposed",
    "joint-investigation-agreed",
    "closure-proposed",
    "resolved",
    "disputed",
    "closed",
)
_PHASE_OF = {
    "request-information": "information-requested",
    "provide-information": "information-provided",
    "propose-joint-investigation": "joint-investigation-proposed",
    "agree-joint-investigation": "joint-investigation-agreed",
    "propose-closure": "closure-proposed",
    "agree-closure": "resolved",
    "dispute": "disputed",
    "close": "closed",
}


class ReceiptFact(NamedTuple):
    """What a signed receipt says: ``receiver`` holds ``sender``'s chain up to ``upto_seq``."""

    channel: str
    sender: str
    receiver: str
    upto_seq: int
    received_at: str


@dataclass
class Step:
    id: str
    node: str
    desk: str
    action: str
    at: str
    text: str
    lang: str
    answers: str | None
    applied: bool
    note: str = ""
    acknowledged: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass
class IncidentState:
    id: str
    channel: str
    type: str
    status: str
    precedence: str
    opened_by: str
    opened_desk: str
    opened_at: str
    seq: int
    phase: str = "reported"
    receipts: dict[str, str] = field(default_factory=dict)
    acknowledgments: dict[str, dict[str, str]] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    open_requests: list[str] = field(default_factory=list)
    joint_investigation: str | None = None  # None | proposed | agreed
    joint_proposal: dict[str, str] | None = None
    pending_closure: dict[str, str] | None = None
    positions: dict[str, dict[str, str]] = field(default_factory=dict)
    outcome: str | None = None  # None | agreed | disputed
    closed_at: str | None = None
    closed_by: str | None = None

    @property
    def drill(self) -> bool:
        return self.status != "ACTUAL"

    @property
    def is_open(self) -> bool:
        return self.phase != "closed"

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["drill"] = self.drill
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> IncidentState:
        values = {k: v for k, v in data.items() if k not in ("drill", "steps")}
        return cls(**values, steps=[Step(**s) for s in data.get("steps", [])])


# --- the pure projection ---------------------------------------------------------------


def opens_incident(env: SignedEnvelope) -> bool:
    """An incident report opens an incident unless it is TEST traffic."""
    return env.type in INCIDENT_TYPES and env.status != "TEST"


def _open(env: SignedEnvelope) -> IncidentState:
    return IncidentState(
        id=env.id,
        channel=env.channel,
        type=env.type,
        status=env.status,
        precedence=env.precedence,
        opened_by=env.sender_node,
        opened_desk=env.sender_desk,
        opened_at=env.created,
        seq=env.seq,
    )


def phase_name(phase: str) -> Text | str:
    """An incident's phase in the reader's language (an unknown code is shown as it is)."""
    names = {
        "reported": T("reported"),
        "receipted": T("receipted"),
        "acknowledged": T("acknowledged"),
        "information-requested": T("information requested"),
        "information-provided": T("information provided"),
        "joint-investigation-proposed": T("joint investigation proposed"),
        "joint-investigation-agreed": T("joint investigation agreed"),
        "closure-proposed": T("closure proposed"),
        "resolved": T("resolved"),
        "disputed": T("disputed"),
        "closed": T("closed"),
    }
    return names.get(phase, phase)


def _status_name(status: str) -> Text | str:
    """A message status (ACTUAL, EXERCISE, TEST) as the reader's banners write it."""
    names = {"ACTUAL": T("ACTUAL"), "EXERCISE": T("EXERCISE"), "TEST": T("TEST")}
    return names.get(status, status)


def refusal(state: IncidentState, node: str, action: str, answers: str | None) -> Text | None:
    """Why ``node`` may not take ``action`` now, or None if it may (one rule for send and fold)."""
    if action not in ACTIONS:
        return T("unknown step {action!r}", action=action)
    if state.phase == "closed":
        return T("incident {state_id} is closed", state_id=state.id)
    if state.phase == "resolved" and action != "close":
        return T(
            "incident {state_id} is resolved by agreement; the next step is to close it", state_id=state.id
        )
    if action == "agree-joint-investigation":
        jp = state.joint_proposal
        if state.joint_investigation != "proposed" or jp is None:
            return T("no joint investigation is proposed")
        if jp["node"] == node:
            return T("a joint investigation is agreed by the other side, not by its proposer")
        if answers is not None and answers != jp["id"]:
            return T(
                "the pending joint investigation proposal is {pending}, not {answers}",
                pending=jp["id"],
                answers=answers,
            )
    if action == "propose-joint-investigation" and state.joint_investigation == "agreed":
        return T("a joint investigation is already agreed")
    if action == "agree-closure":
        pc = state.pending_closure
        if pc is None:
            return T("no closure is proposed")
        if pc["node"] == node:
            return T("a closure is agreed by the other side, not by its proposer")
        if answers is not None and answers != pc["id"]:
            return T(
                "the pending closure proposal is {pending}, not {answers}", pending=pc["id"], answers=answers
            )
    if action == "close" and state.phase not in ("resolved", "disputed"):
        return T("an incident is closed after its closure was agreed, or once it is disputed")
    return None


def _apply_response(state: IncidentState, env: SignedEnvelope) -> None:
    body = env.body
    action, answers = str(body["action"]), body.get("answers")
    step = Step(
        id=env.id,
        node=env.sender_node,
        desk=env.sender_desk,
        action=action,
        at=env.created,
        text=str(body["text"]),
        lang=str(body["lang"]),
        answers=None if answers is None else str(answers),
        applied=False,
    )
    state.steps.append(step)
    if env.status != state.status:
        step.note = f"status {env.status} differs from the incident's {state.status}"
        return
    why = refusal(state, env.sender_node, action, step.answers)
    if why is not None:
        step.note = str(why)  # the projection keeps English notes (stored state, not a sentence)
        return
    step.applied = True
    mine = {
        "id": env.id,
        "node": env.sender_node,
        "text": step.text,
        "lang": step.lang,
        "at": env.created,
    }
    if action == "request-information":
        state.open_requests.append(env.id)
    elif action == "provide-information":
        if step.answers in state.open_requests:
            state.open_requests.remove(step.answers)
        elif state.open_requests:
            state.open_requests.pop(0)
    elif action == "propose-joint-investigation":
        state.joint_investigation, state.joint_proposal = "proposed", mine
    elif action == "agree-joint-investigation":
        state.joint_investigation = "agreed"
    elif action == "propose-closure":
        state.pending_closure = mine
        state.positions[env.sender_node] = mine
    elif action == "agree-closure":
        state.pending_closure = None
        state.outcome = "agreed"
        state.positions[env.sender_node] = mine
    elif action == "dispute":
        state.pending_closure = None
        state.outcome = "disputed"
        state.positions[env.sender_node] = mine
    elif action == "close":
        state.closed_at, state.closed_by = env.created, env.sender_node
    state.phase = _PHASE_OF[action]


def _apply_ack(states: Mapping[str, IncidentState], steps: Mapping[str, Step], env: SignedEnvelope) -> None:
    target = str(env.body.get("message", ""))
    who = {"operator": str(env.body.get("operator", "")), "at": env.created, "ack_id": env.id}
    state = states.get(target)
    if state is not None and env.sender_node != state.opened_by:
        state.acknowledgments.setdefault(env.sender_node, who)
        if state.phase in ("reported", "receipted"):
            state.phase = "acknowledged"
        return
    step = steps.get(target)
    if step is not None and env.sender_node != step.node:
        step.acknowledged.setdefault(env.sender_node, who)


def group_by_incident(envelopes_: Iterable[SignedEnvelope]) -> dict[str, list[SignedEnvelope]]:
    """The envelopes of each incident: its report, the responses naming it, their acks."""
    envs = list(envelopes_)
    groups: dict[str, list[SignedEnvelope]] = {}
    owner: dict[str, str] = {}
    for env in envs:
        if opens_incident(env):
            groups.setdefault(env.id, []).append(env)
            owner[env.id] = env.id
    for env in envs:
        if env.type == RESPONSE_TYPE:
            incident = str(env.body.get("incident", ""))
            if incident in groups:
                groups[incident].append(env)
                owner[env.id] = incident
    for env in envs:
        if env.type == "acknowledgment":
            target = owner.get(str(env.body.get("message", "")))
            if target is not None:
                groups[target].append(env)
    return groups


def fold_incident(envelopes_: Iterable[SignedEnvelope]) -> dict[str, IncidentState]:
    """Fold one incident's envelopes in causal order; receipts are not applied here."""
    return _fold(causal_order(envelopes_))


def _fold(ordered: Iterable[SignedEnvelope]) -> dict[str, IncidentState]:
    states: dict[str, IncidentState] = {}
    steps: dict[str, Step] = {}
    for env in ordered:
        if opens_incident(env):
            states.setdefault(env.id, _open(env))
        elif env.type == RESPONSE_TYPE:
            state = states.get(str(env.body.get("incident", "")))
            if state is not None and state.channel == env.channel:
                _apply_response(state, env)
                steps[env.id] = state.steps[-1]
        elif env.type == "acknowledgment":
            _apply_ack(states, steps, env)
    return states


def apply_receipts(states: Mapping[str, IncidentState], facts: Iterable[ReceiptFact]) -> None:
    """Mark each report receipted by each receiver, at its earliest receipt covering it."""
    for fact in facts:
        for state in states.values():
            if (
                fact.channel == state.channel
                and fact.sender == state.opened_by
                and fact.receiver != state.opened_by
                and fact.upto_seq >= state.seq
            ):
                known = state.receipts.get(fact.receiver)
                if known is None or fact.received_at < known:
                    state.receipts[fact.receiver] = fact.received_at
    for state in states.values():
        if state.receipts and state.phase == "reported":
            state.phase = "receipted"


def project_incidents(
    envelopes_: Iterable[SignedEnvelope], receipts_: Iterable[ReceiptFact] = ()
) -> dict[str, IncidentState]:
    """Every incident's state as a pure function of the record (envelopes and receipts).

    Arrival order does not matter: the envelopes are put in causal order first, so both
    nodes, holding the same record, compute equal states.
    """
    states: dict[str, IncidentState] = {}
    for group in group_by_incident(envelopes_).values():
        states.update(fold_incident(group))
    apply_receipts(states, receipts_)
    return states


# --- storage: the incremental projection and its rebuild -----------------------------


def _envelopes_txn(conn: Connection, ids: Iterable[str]) -> list[SignedEnvelope]:
    wanted = list(ids)
    if not wanted:
        return []
    rows = conn.execute(select(envelopes.c.raw).where(envelopes.c.id.in_(wanted))).all()
    return [SignedEnvelope.from_bytes(r.raw) for r in rows]


def _write_txn(conn: Connection, state: IncidentState) -> None:
    data = state.to_json()
    data["receipts"] = {}  # receipts are applied on reading: they arrive outside envelopes
    values = {
        "channel": state.channel,
        "type": state.type,
        "status": state.status,
        "phase": state.phase,
        "opened_at": state.opened_at,
        "closed_at": state.closed_at,
        "state": json.dumps(data, sort_keys=True, ensure_ascii=False),
    }
    exists = conn.execute(select(incidents.c.id).where(incidents.c.id == state.id)).first()
    if exists is None:
        conn.execute(insert(incidents).values(id=state.id, **values))
    else:
        conn.execute(update(incidents).where(incidents.c.id == state.id).values(**values))


def _link_txn(conn: Connection, message_id: str, incident_id: str) -> None:
    seen = conn.execute(
        select(incident_messages.c.message_id).where(incident_messages.c.message_id == message_id)
    ).first()
    if seen is None:
        conn.execute(insert(incident_messages).values(message_id=message_id, incident_id=incident_id))


def project_incident_txn(conn: Connection, env: SignedEnvelope) -> None:
    """The incremental update, called for every stored envelope (sent or received).

    It re-folds the one incident the envelope belongs to from that incident's stored
    envelopes — the same pure fold :func:`rebuild_incidents` runs over the whole record.
    """
    if opens_incident(env):
        incident_id = env.id
    elif env.type == RESPONSE_TYPE:
        incident_id = str(env.body.get("incident", ""))
    elif env.type == "acknowledgment":
        row = conn.execute(
            select(incident_messages.c.incident_id).where(
                incident_messages.c.message_id == str(env.body.get("message", ""))
            )
        ).first()
        if row is None:
            return
        incident_id = str(row.incident_id)
    else:
        return
    _link_txn(conn, env.id, incident_id)
    ids = conn.execute(
        select(incident_messages.c.message_id).where(incident_messages.c.incident_id == incident_id)
    ).scalars()
    state = fold_incident(_envelopes_txn(conn, ids)).get(incident_id)
    if state is not None:
        _write_txn(conn, state)


def rebuild_incidents(node: Node) -> int:
    """Drop the incident tables and recompute them from every stored envelope."""
    with node.engine.begin() as conn:
        rows = conn.execute(
            select(envelopes.c.raw).where(
                or_(
                    envelopes.c.type.in_((*INCIDENT_TYPES, RESPONSE_TYPE)),
                    envelopes.c.type == "acknowledgment",
                )
            )
        ).all()
        states = project_incidents(SignedEnvelope.from_bytes(r.raw) for r in rows)
        conn.execute(delete(incident_messages))
        conn.execute(delete(incidents))
        for state in states.values():
            _link_txn(conn, state.id, state.id)
            for step in state.steps:
                _link_txn(conn, step.id, state.id)
                for ack in step.acknowledged.values():
                    _link_txn(conn, ack["ack_id"], state.id)
            for ack in state.acknowledgments.values():
                _link_txn(conn, ack["ack_id"], state.id)
            _write_txn(conn, state)
    return len(states)


def receipt_facts_txn(conn: Connection, states: Iterable[IncidentState]) -> list[ReceiptFact]:
    """The earliest signed receipt per receiver covering each report, from the receipts table."""
    out: list[ReceiptFact] = []
    for s in states:
        rows = conn.execute(
            select(receipts.c.receiver_node, func.min(receipts.c.received_at).label("at"))
            .where(
                receipts.c.channel == s.channel,
                receipts.c.sender_node == s.opened_by,
                receipts.c.receiver_node != s.opened_by,
                receipts.c.upto_seq >= s.seq,
            )
            .group_by(receipts.c.receiver_node)
        ).all()
        out += [ReceiptFact(s.channel, s.opened_by, str(r.receiver_node), s.seq, str(r.at)) for r in rows]
    return out


def load_incidents_txn(
    conn: Connection, *, channel: str | None = None, ids: Iterable[str] | None = None
) -> list[IncidentState]:
    q = select(incidents.c.state).order_by(incidents.c.opened_at, incidents.c.id)
    if channel is not None:
        q = q.where(incidents.c.channel == channel)
    if ids is not None:
        q = q.where(incidents.c.id.in_(list(ids)))
    states = {}
    for r in conn.execute(q):
        s = IncidentState.from_json(json.loads(r.state))
        states[s.id] = s
    apply_receipts(states, receipt_facts_txn(conn, states.values()))
    return list(states.values())


def list_incidents(
    node: Node, *, channel: str | None = None, open_only: bool = False, drills: bool = False
) -> list[IncidentState]:
    """Incidents in the order they were opened; drill-marked ones only when asked for."""
    with node.reader.connect() as conn:
        states = load_incidents_txn(conn, channel=channel)
    return [s for s in states if (drills or not s.drill) and (s.is_open or not open_only)]


def get_incident(node: Node, incident_id: str) -> IncidentState:
    with node.reader.connect() as conn:
        found = load_incidents_txn(conn, ids=[incident_id])
    if not found:
        raise NotFoundError(
            T("no incident {incident_id}", incident_id=incident_id), hint=T("see `parley incident list`")
        )
    return found[0]


def incident_for_txn(conn: Connection, incident_id: str) -> IncidentState | None:
    found = load_incidents_txn(conn, ids=[incident_id])
    return found[0] if found else None


# --- sending a step ----------------------------------------------------------------------


def check_response_txn(conn: Connection, env: SignedEnvelope) -> None:
    """The send-side check of an incident-response against the incident as held here."""
    incident_id = str(env.body["incident"])
    state = incident_for_txn(conn, incident_id)
    if state is None or state.channel != env.channel:
        raise NotFoundError(
            T(
                "no incident {incident_id} on channel {env_channel!r}",
                incident_id=incident_id,
                env_channel=env.channel,
            ),
            hint=T("name the id of the report that opened it; see `parley incident list`"),
        )
    if env.status != state.status:
        raise RefusedError(
            T(
                "incident {incident_id} is {state_status} traffic; a {env_status} response cannot move it",
                incident_id=incident_id,
                state_status=_status_name(state.status),
                env_status=_status_name(env.status),
            ),
            code="status_mismatch",
            hint=T("send the response with status {state_status}", state_status=state.status),
        )
    answers = env.body.get("answers")
    why = refusal(state, env.sender_node, str(env.body["action"]), None if answers is None else str(answers))
    if why is not None:
        raise ConflictError(
            T(
                "incident {incident_id} is {state_phase}: {why}",
                incident_id=incident_id,
                state_phase=phase_name(state.phase),
                why=why,
            ),
            code="incident_step_refused",
            hint=T("see `parley incident show {incident_id}`", incident_id=incident_id),
        )


def default_answers(state: IncidentState, action: str) -> str | None:
    """What a step answers when the operator does not say: the pending request or proposal."""
    if action == "agree-closure" and state.pending_closure is not None:
        return state.pending_closure["id"]
    if action == "agree-joint-investigation" and state.joint_proposal is not None:
        return state.joint_proposal["id"]
    if action == "provide-information" and state.open_requests:
        return state.open_requests[0]
    return None


def do_respond_incident(
    node: Node,
    incident_id: str,
    action: str,
    text: str,
    *,
    lang: str = "en",
    desk: str | None = None,
    precedence: str | None = None,
    acting_for: Any = None,
) -> SignedEnvelope:
    """Send an ``incident-response`` taking ``action`` on the incident."""
    from parley.channels.registry import get_channel_txn
    from parley.messaging.send import Draft, do_send_message

    if action not in ACTIONS:
        raise UsageError(
            T("unknown incident step {action!r}", action=action),
            hint=T("one of {actions}", actions=", ".join(ACTIONS)),
        )
    if not text.strip():
        raise UsageError(T("an incident step needs a text"), hint=T("pass --text '…' saying what you say"))
    state = get_incident(node, incident_id)
    with node.reader.connect() as conn:
        own = get_channel_txn(conn, state.channel).charter.desks_of(node.name)
    if desk is None:
        if acting_for is not None:
            own = [d for d in own if acting_for.can_act_on(d)]
        if len(own) != 1:
            raise UsageError(
                T(
                    "this node has {n_own} usable desks on {state_channel}: {own}",
                    n_own=len(own),
                    state_channel=state.channel,
                    own=own,
                ),
                hint=T("pass --desk NAME"),
            )
        desk = own[0]
    body: dict[str, Any] = {"incident": incident_id, "action": action, "text": text, "lang": lang}
    answers = default_answers(state, action)
    if answers is not None:
        body["answers"] = answers
    # Naming the last step too keeps this one after it in causal order on every node, even
    # when the two clocks disagree (a close must follow the agreement it closes on).
    last = state.steps[-1].id if state.steps else None
    refs = tuple(dict.fromkeys(r for r in (incident_id, answers, last) if r is not None))
    draft = Draft(
        state.channel, desk, RESPONSE_TYPE, precedence or state.precedence, state.status, body, refs
    )
    return do_send_message(
        node, draft, lang=lang if lang in ("nb", "ru", "en") else "en", acting_for=acting_for
    )
