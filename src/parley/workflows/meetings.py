"""Meetings and their protocols, as a pure function of the signed record.

A meeting is proposed (``meeting-proposal``), counter-proposed (a proposal with the same
``meeting_id`` and ``counter_to`` naming the proposal it answers) and accepted
(``meeting-acceptance`` naming the current proposal, from the other side). Its agenda keeps
to the charter's topics (checked on send and on receipt, :mod:`parley.workflows.rules`),
may refer to incidents, and a preparatory staff meeting names the meeting it ``prepares``.

After the meeting one side drafts the protocol (``meeting-protocol``: decisions, action
items with owners and due dates); the other side amends it (a new draft, referring to the
previous one) or signs. A ``meeting-protocol-signature`` carries the SHA-256 of the RFC
8785 canonical bytes of a draft's body, inside an envelope signed by the node (Ed25519), so
the protocol is **agreed** exactly when every member node has signed the same bytes — the
same rule as for charters. Once agreed, a protocol is final.

Action items of agreed protocols stay open until a later agreed protocol records a decision
on an agenda item whose id is the action's id; :func:`draft_agenda` carries open ones over
to the next meeting's proposed agenda under exactly that id.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from parley.errors import ConflictError, NotFoundError, RefusedError, UsageError
from parley.formats.texts import T
from parley.node import Node
from parley.protocol.canonical import content_hash
from parley.protocol.envelope import SignedEnvelope
from parley.storage.tables import envelopes
from parley.workflows.record import causal_order
from parley.workflows.tables import meeting_messages, meetings

PROPOSAL = "meeting-proposal"
ACCEPTANCE = "meeting-acceptance"
PROTOCOL = "meeting-protocol"
SIGNATURE = "meeting-protocol-signature"
MEETING_TYPES = (PROPOSAL, ACCEPTANCE, PROTOCOL, SIGNATURE)
PHASES = ("proposed", "countered", "accepted", "held", "agreed")


@dataclass
class MeetingState:
    channel: str
    meeting_id: str
    status: str
    phase: str
    current: dict[str, Any]
    proposals: list[dict[str, Any]] = field(default_factory=list)
    accepted: dict[str, str] | None = None
    drafts: list[dict[str, Any]] = field(default_factory=list)
    signatures: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    agreed: dict[str, str] | None = None
    ignored: list[dict[str, str]] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return (self.channel, self.meeting_id)

    @property
    def proposal(self) -> dict[str, Any]:
        """The body of the current (latest effective) proposal."""
        body: dict[str, Any] = self.current["body"]
        return body

    @property
    def level(self) -> str:
        return str(self.proposal["level"])

    @property
    def start(self) -> str:
        return str(self.proposal["start"])

    @property
    def prepares(self) -> str | None:
        p = self.proposal.get("prepares")
        return None if p is None else str(p)

    @property
    def drill(self) -> bool:
        return self.status != "ACTUAL"

    @property
    def latest_draft(self) -> dict[str, Any] | None:
        return self.drafts[-1] if self.drafts else None

    @property
    def protocol(self) -> dict[str, Any] | None:
        """The agreed draft, else the latest one."""
        if self.agreed is not None:
            for d in self.drafts:
                if d["id"] == self.agreed["protocol"]:
                    return d
        return self.latest_draft

    @property
    def held_at(self) -> str | None:
        p = self.protocol
        return None if p is None else str(p["body"]["held_at"])

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(level=self.level, start=self.start, held_at=self.held_at, drill=self.drill)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MeetingState:
        return cls(**{k: v for k, v in data.items() if k not in ("level", "start", "held_at", "drill")})


# --- the pure projection ---------------------------------------------------------------


def meeting_key(env: SignedEnvelope) -> tuple[str, str] | None:
    if env.type not in MEETING_TYPES:
        return None
    mid = env.body.get("meeting_id")
    return None if not isinstance(mid, str) else (env.channel, mid)


def body_hash(body: Mapping[str, Any]) -> str:
    """What a protocol signature names: SHA-256 of the RFC 8785 bytes of the draft's body."""
    return content_hash(dict(body))


def refusal(state: MeetingState | None, env: SignedEnvelope) -> str | None:
    """Why the record cannot take ``env`` now, or None (one rule for send and fold)."""
    body = env.body
    if state is None:
        if env.type != PROPOSAL:
            return f"no meeting {body.get('meeting_id')!r} has been proposed on {env.channel}"
        if body.get("counter_to") is not None:
            return f"counter_to names a proposal of {body['meeting_id']!r}, unknown here"
        return None
    if env.status != state.status:
        return f"meeting {state.meeting_id} is {state.status} traffic; a {env.status} message cannot move it"
    held = state.phase in ("held", "agreed")
    if env.type == PROPOSAL:
        if body.get("counter_to") is None:
            return f"meeting {state.meeting_id!r} is already proposed; counter-propose instead"
        if body["counter_to"] != state.current["id"]:
            return _not_current(state, body["counter_to"])
        if held:
            return f"meeting {state.meeting_id} has been held; it cannot be rescheduled"
    elif env.type == ACCEPTANCE:
        if body["proposal"] != state.current["id"]:
            return _not_current(state, body["proposal"])
        if env.sender_node == state.current["node"]:
            return "a proposal is accepted by the other side, not by its proposer"
        if state.accepted is not None or held:
            return f"meeting {state.meeting_id} is already accepted"
    elif env.type == PROTOCOL:
        if state.phase in ("proposed", "countered"):
            return f"meeting {state.meeting_id} has not been accepted; a protocol records an agreed meeting"
        if state.agreed is not None:
            return f"the protocol of {state.meeting_id} is already agreed by both sides"
    elif env.type == SIGNATURE:
        if state.agreed is not None:
            return f"the protocol of {state.meeting_id} is already agreed by both sides"
        draft = next((d for d in state.drafts if d["id"] == body["protocol"]), None)
        if draft is None:
            return f"{body['protocol']} is not a protocol draft of {state.meeting_id}"
        if draft["hash"] != body["protocol_hash"]:
            return (
                f"protocol_hash {body['protocol_hash']} is not the hash of "
                f"draft {draft['id']} ({draft['hash']})"
            )
        if env.sender_node in state.signatures.get(draft["hash"], {}):
            return f"{env.sender_node} has already signed this draft"
    return None


def _not_current(state: MeetingState, named: object) -> str:
    return f"the current proposal of {state.meeting_id} is {state.current['id']}, not {named}"


def _proposal(env: SignedEnvelope) -> dict[str, Any]:
    return {
        "id": env.id,
        "node": env.sender_node,
        "desk": env.sender_desk,
        "at": env.created,
        "counter_to": env.body.get("counter_to"),
        "body": env.body,
    }


def _apply(state: MeetingState | None, env: SignedEnvelope, members: Sequence[str]) -> MeetingState | None:
    why = refusal(state, env)
    if why is not None:
        if state is not None:
            state.ignored.append({"id": env.id, "node": env.sender_node, "note": why})
        return state
    if state is None:
        p = _proposal(env)
        return MeetingState(env.channel, str(env.body["meeting_id"]), env.status, "proposed", p, [p])
    body = env.body
    if env.type == PROPOSAL:
        p = _proposal(env)
        state.proposals.append(p)
        state.current, state.accepted, state.phase = p, None, "countered"
    elif env.type == ACCEPTANCE:
        state.accepted = {
            "id": env.id,
            "node": env.sender_node,
            "at": env.created,
            "proposal": str(body["proposal"]),
        }
        state.phase = "accepted"
    elif env.type == PROTOCOL:
        state.drafts.append(
            {
                "id": env.id,
                "node": env.sender_node,
                "at": env.created,
                "hash": body_hash(body),
                "refs": env.refs,
                "body": body,
            }
        )
        state.phase = "held"
    elif env.type == SIGNATURE:
        h = str(body["protocol_hash"])
        signed = state.signatures.setdefault(h, {})
        signed[env.sender_node] = {"id": env.id, "at": env.created}
        if members and set(members) <= set(signed):
            state.agreed = {"hash": h, "protocol": str(body["protocol"]), "at": env.created}
            state.phase = "agreed"
    return state


def group_by_meeting(
    envelopes_: Iterable[SignedEnvelope],
) -> dict[tuple[str, str], list[SignedEnvelope]]:
    groups: dict[tuple[str, str], list[SignedEnvelope]] = {}
    for env in envelopes_:
        key = meeting_key(env)
        if key is not None:
            groups.setdefault(key, []).append(env)
    return groups


def fold_meeting(envelopes_: Iterable[SignedEnvelope], members: Sequence[str]) -> MeetingState | None:
    state: MeetingState | None = None
    for env in causal_order(envelopes_):
        state = _apply(state, env, members)
    return state


def project_meetings(
    envelopes_: Iterable[SignedEnvelope], members: Mapping[str, Sequence[str]]
) -> dict[tuple[str, str], MeetingState]:
    """Every meeting's state, keyed by (channel, meeting id); ``members`` maps channel → nodes."""
    out: dict[tuple[str, str], MeetingState] = {}
    for key, group in group_by_meeting(envelopes_).items():
        state = fold_meeting(group, members.get(key[0], ()))
        if state is not None:
            out[key] = state
    return out


def open_action_items(states: Iterable[MeetingState], channel: str) -> list[dict[str, Any]]:
    """Action items of agreed protocols on ``channel`` not yet decided on by a later one."""
    agreed = sorted(
        (s for s in states if s.channel == channel and s.agreed is not None and not s.drill),
        key=lambda s: (s.held_at or "", s.meeting_id),
    )
    items: dict[str, dict[str, Any]] = {}
    for s in agreed:
        protocol = s.protocol
        assert protocol is not None
        body = protocol["body"]
        for d in body.get("decisions", ()):
            items.pop(str(d["item_id"]), None)
        for a in body.get("action_items", ()):
            items[str(a["action_id"])] = {
                **a,
                "meeting_id": s.meeting_id,
                "protocol": protocol["id"],
                "topic": _first_topic(s),
            }
    return list(items.values())


def _first_topic(state: MeetingState) -> str:
    agenda = state.proposal.get("agenda") or [{}]
    return str(agenda[0].get("topic", ""))


def draft_agenda(states: Iterable[MeetingState], channel: str) -> list[dict[str, Any]]:
    """The carried-over part of the next meeting's agenda: one item per open action item.

    Protocol action items carry no topic, so the item takes the first topic of the meeting
    that agreed it; the operator edits the draft before proposing (the topic is checked
    against the charter on send like any other).
    """
    out = []
    for a in open_action_items(states, channel):
        due = f", due {a['due']}" if a.get("due") else ""
        title = {
            "text": f"{a['text']['text']} ({a['owner_party']}{due})",
            "lang": a["text"]["lang"],
        }
        out.append(
            {
                "item_id": a["action_id"],
                "topic": a["topic"],
                "title": title,
                "refs": [a["protocol"]],
            }
        )
    return out


# --- storage ----------------------------------------------------------------------------


def _write_txn(conn: Connection, state: MeetingState) -> None:
    values = {
        "level": state.level,
        "phase": state.phase,
        "start": state.start,
        "held_at": state.held_at,
        "agreed": state.agreed is not None,
        "state": json.dumps(state.to_json(), sort_keys=True, ensure_ascii=False),
    }
    where = (meetings.c.channel == state.channel, meetings.c.meeting_id == state.meeting_id)
    if conn.execute(select(meetings.c.phase).where(*where)).first() is None:
        conn.execute(insert(meetings).values(channel=state.channel, meeting_id=state.meeting_id, **values))
    else:
        conn.execute(update(meetings).where(*where).values(**values))


def _members_txn(conn: Connection, channel: str) -> list[str]:
    from parley.channels.registry import get_channel_txn

    return get_channel_txn(conn, channel).charter.member_nodes


def project_meeting_txn(conn: Connection, env: SignedEnvelope) -> None:
    """The incremental update: re-fold the one meeting ``env`` belongs to."""
    key = meeting_key(env)
    if key is None:
        return
    seen = conn.execute(
        select(meeting_messages.c.message_id).where(meeting_messages.c.message_id == env.id)
    ).first()
    if seen is None:
        conn.execute(insert(meeting_messages).values(message_id=env.id, channel=key[0], meeting_id=key[1]))
    ids = list(
        conn.execute(
            select(meeting_messages.c.message_id).where(
                meeting_messages.c.channel == key[0], meeting_messages.c.meeting_id == key[1]
            )
        ).scalars()
    )
    rows = conn.execute(select(envelopes.c.raw).where(envelopes.c.id.in_(ids))).all()
    state = fold_meeting([SignedEnvelope.from_bytes(r.raw) for r in rows], _members_txn(conn, key[0]))
    if state is not None:
        _write_txn(conn, state)


def rebuild_meetings(node: Node) -> int:
    """Drop the meeting tables and recompute them from every stored envelope."""
    from parley.channels.registry import list_channels_txn

    with node.engine.begin() as conn:
        members = {c.id: c.charter.member_nodes for c in list_channels_txn(conn)}
        rows = conn.execute(select(envelopes.c.raw).where(envelopes.c.type.in_(MEETING_TYPES))).all()
        envs = [SignedEnvelope.from_bytes(r.raw) for r in rows]
        states = project_meetings(envs, members)
        conn.execute(delete(meeting_messages))
        conn.execute(delete(meetings))
        for (channel, mid), group in group_by_meeting(envs).items():
            for env in group:
                conn.execute(
                    insert(meeting_messages).values(message_id=env.id, channel=channel, meeting_id=mid)
                )
        for state in states.values():
            _write_txn(conn, state)
    return len(states)


def load_meetings_txn(conn: Connection, channel: str | None = None) -> list[MeetingState]:
    q = select(meetings.c.state).order_by(meetings.c.start, meetings.c.channel, meetings.c.meeting_id)
    if channel is not None:
        q = q.where(meetings.c.channel == channel)
    return [MeetingState.from_json(json.loads(r.state)) for r in conn.execute(q)]


def list_meetings(node: Node, channel: str | None = None) -> list[MeetingState]:
    with node.reader.connect() as conn:
        return load_meetings_txn(conn, channel)


def find_meeting_txn(conn: Connection, meeting_id: str, channel: str | None = None) -> MeetingState | None:
    q = select(meetings.c.state).where(meetings.c.meeting_id == meeting_id)
    if channel is not None:
        q = q.where(meetings.c.channel == channel)
    rows = conn.execute(q).all()
    if len(rows) > 1:
        raise UsageError(
            T("meeting id {meeting_id!r} is used on several channels", meeting_id=meeting_id),
            hint=T("pass --channel to say which one"),
        )
    return None if not rows else MeetingState.from_json(json.loads(rows[0].state))


def get_meeting(node: Node, meeting_id: str, channel: str | None = None) -> MeetingState:
    with node.reader.connect() as conn:
        state = find_meeting_txn(conn, meeting_id, channel)
    if state is None:
        raise NotFoundError(
            T("no meeting {meeting_id!r}", meeting_id=meeting_id), hint=T("see `parley meeting list`")
        )
    return state


def check_meeting_txn(conn: Connection, env: SignedEnvelope) -> None:
    """The send-side check of a meeting message against the record held here."""
    body = env.body
    state = find_meeting_txn(conn, str(body["meeting_id"]), env.channel)
    why = refusal(state, env)
    if why is not None:
        raise ConflictError(
            why,
            code="meeting_step_refused",
            hint=T("see `parley meeting show {body_meeting_id}`", body_meeting_id=body["meeting_id"]),
        )
    if env.type == SIGNATURE and state is not None:
        latest = state.latest_draft
        if latest is not None and latest["id"] != body["protocol"]:
            raise ConflictError(
                T(
                    "draft {body_protocol} has been amended; the latest draft is {latest_id}",
                    body_protocol=body["protocol"],
                    latest_id=latest["id"],
                ),
                code="meeting_step_refused",
                hint=T("read the latest draft and sign that one"),
            )
    if env.type == PROPOSAL:
        prepares = body.get("prepares")
        known = select(meetings.c.meeting_id).where(meetings.c.meeting_id == prepares)
        if prepares is not None and conn.execute(known).first() is None:
            raise NotFoundError(
                T("meeting {prepares!r}, which this meeting prepares, is unknown here", prepares=prepares),
                hint=T("propose the meeting it prepares first; see `parley meeting list`"),
            )
        for item in body["agenda"]:
            for ref in item.get("refs", ()):
                row = conn.execute(select(envelopes.c.channel).where(envelopes.c.id == ref)).first()
                if row is None or row.channel != env.channel:
                    raise NotFoundError(
                        T(
                            "agenda item {item_item_id} refers to {ref}, "
                            "which is not a message on {env_channel}",
                            item_item_id=item["item_id"],
                            ref=ref,
                            env_channel=env.channel,
                        ),
                        hint=T("refer to incidents or messages of this channel (see `parley incident list`)"),
                    )


# --- sending ----------------------------------------------------------------------------


def _own_desk(node: Node, channel: str, desk: str | None, acting_for: Any) -> str:
    from parley.channels.registry import get_channel_txn

    if desk is not None:
        return desk
    with node.reader.connect() as conn:
        own = get_channel_txn(conn, channel).charter.desks_of(node.name)
    if acting_for is not None:
        own = [d for d in own if acting_for.can_act_on(d)]
    if len(own) != 1:
        raise UsageError(
            T(
                "this node has {n_own} usable desks on {channel}: {own}",
                n_own=len(own),
                channel=channel,
                own=own,
            ),
            hint=T("pass --desk NAME"),
        )
    return own[0]


def _send(
    node: Node,
    channel: str,
    type_: str,
    body: dict[str, Any],
    *,
    status: str,
    refs: Sequence[str] = (),
    desk: str | None = None,
    precedence: str = "ROUTINE",
    acting_for: Any = None,
) -> SignedEnvelope:
    from parley.messaging.send import Draft, do_send_message

    desk = _own_desk(node, channel, desk, acting_for)
    draft = Draft(channel, desk, type_, precedence, status, body, tuple(dict.fromkeys(refs)))
    return do_send_message(node, draft, acting_for=acting_for)


def do_propose_meeting(
    node: Node,
    channel: str,
    body: dict[str, Any],
    *,
    status: str = "ACTUAL",
    desk: str | None = None,
    acting_for: Any = None,
) -> SignedEnvelope:
    if body.get("counter_to") is not None:
        raise UsageError(
            T("a proposal with counter_to is a counter-proposal"), hint=T("use `parley meeting counter`")
        )
    refs = [r for item in body.get("agenda", ()) if isinstance(item, dict) for r in item.get("refs", ())]
    return _send(node, channel, PROPOSAL, body, status=status, refs=refs, desk=desk, acting_for=acting_for)


def do_counter_meeting(
    node: Node,
    meeting_id: str,
    body: dict[str, Any],
    *,
    channel: str | None = None,
    desk: str | None = None,
    acting_for: Any = None,
) -> SignedEnvelope:
    state = get_meeting(node, meeting_id, channel)
    body = {**body, "meeting_id": meeting_id, "counter_to": state.current["id"]}
    return _send(
        node,
        state.channel,
        PROPOSAL,
        body,
        status=state.status,
        refs=[state.current["id"]],
        desk=desk,
        acting_for=acting_for,
    )


def do_accept_meeting(
    node: Node,
    meeting_id: str,
    *,
    note: str = "",
    lang: str = "en",
    channel: str | None = None,
    desk: str | None = None,
    acting_for: Any = None,
) -> SignedEnvelope:
    state = get_meeting(node, meeting_id, channel)
    body: dict[str, Any] = {"meeting_id": meeting_id, "proposal": state.current["id"]}
    if note.strip():
        body["note"] = {"text": note, "lang": lang}
    return _send(
        node,
        state.channel,
        ACCEPTANCE,
        body,
        status=state.status,
        refs=[state.current["id"]],
        desk=desk,
        acting_for=acting_for,
    )


def do_draft_protocol(
    node: Node,
    meeting_id: str,
    body: dict[str, Any],
    *,
    channel: str | None = None,
    desk: str | None = None,
    acting_for: Any = None,
) -> SignedEnvelope:
    """Draft the protocol, or amend it: a new draft referring to the latest one."""
    state = get_meeting(node, meeting_id, channel)
    if body.get("meeting_id", meeting_id) != meeting_id:
        raise UsageError(
            T(
                "the protocol body names meeting {body_meeting_id!r}, not {meeting_id!r}",
                body_meeting_id=body["meeting_id"],
                meeting_id=meeting_id,
            )
        )
    body = {**body, "meeting_id": meeting_id}
    # The refs name what this draft follows, so causal order keeps it after them on every
    # node whatever the two clocks say.
    refs = [state.current["id"]]
    refs += [state.accepted["id"]] if state.accepted else []
    refs += [state.drafts[-1]["id"]] if state.drafts else []
    return _send(
        node,
        state.channel,
        PROTOCOL,
        body,
        status=state.status,
        refs=refs,
        desk=desk,
        acting_for=acting_for,
    )


def do_sign_protocol(
    node: Node,
    meeting_id: str,
    *,
    channel: str | None = None,
    desk: str | None = None,
    acting_for: Any = None,
) -> SignedEnvelope:
    """Sign the latest protocol draft: its body's hash, in an envelope signed by this node."""
    state = get_meeting(node, meeting_id, channel)
    draft = state.latest_draft
    if draft is None:
        raise ConflictError(
            T("meeting {meeting_id} has no protocol draft to sign", meeting_id=meeting_id),
            hint=T("draft one with `parley meeting protocol`"),
        )
    body = {"meeting_id": meeting_id, "protocol": draft["id"], "protocol_hash": draft["hash"]}
    return _send(
        node,
        state.channel,
        SIGNATURE,
        body,
        status=state.status,
        refs=[draft["id"]],
        desk=desk,
        acting_for=acting_for,
    )


def check_agenda_topics(topics: Sequence[str], channel: str, body: Mapping[str, Any]) -> None:
    """Agenda items must keep to the charter's topics (the same check on send and receipt)."""
    from parley.formats.labels import topic_labels

    outside = [str(i.get("topic")) for i in body.get("agenda", ()) if i.get("topic") not in topics]
    if outside:
        raise RefusedError(
            T(
                "agenda topic(s) {outside} are outside the charter of {channel!r}",
                outside=topic_labels(sorted(set(outside))),
                channel=channel,
            ),
            code="topic_not_allowed",
            hint=T(
                "the charter's topics are: {topics}",
                topics=topic_labels(topics) or T("none (this channel has no agenda topics)"),
            ),
        )


# --- exports ----------------------------------------------------------------------------


def proposal_envelope(node: Node, state: MeetingState) -> dict[str, Any]:
    with node.reader.connect() as conn:
        row = conn.execute(select(envelopes.c.raw).where(envelopes.c.id == state.current["id"])).first()
    assert row is not None  # the projection only names stored envelopes
    return SignedEnvelope.from_bytes(row.raw).envelope


def meeting_ical(node: Node, state: MeetingState, lang: str = "en") -> bytes:
    """RFC 5545: the current proposal as a VEVENT; CONFIRMED once accepted."""
    from icalendar import Calendar

    from parley.formats.exports import to_ical

    data = to_ical(proposal_envelope(node, state), lang=lang)
    if state.phase == "proposed" or state.phase == "countered":
        return data
    cal = Calendar.from_ical(data)
    for event in cal.walk("VEVENT"):
        event["status"] = "CONFIRMED"
    out: bytes = cal.to_ical()
    return out
