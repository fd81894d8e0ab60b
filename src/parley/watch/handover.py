"""Handover: the outgoing officer's note plus what is still open at the desk.

The node generates the list of open items for the desk from the record itself (received
messages not yet acknowledged, acknowledgments overdue in either direction, open incidents,
meetings due), so nothing depends on the outgoing officer remembering it. The list is stored
as it was generated: what the incoming officer confirmed is what they were shown. Starting
and confirming are both written to the audit log in the same transaction as the handover.
"""

from __future__ import annotations

import json
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, select, update

from parley.clock import format_time
from parley.directory.audit import audit_txn
from parley.errors import ConflictError, ForbiddenError, NotFoundError, UsageError
from parley.formats.texts import T
from parley.node import Node
from parley.storage.tables import acknowledgments, delivery, envelopes
from parley.watch.tables import handovers

MAX_NOTE = 2_000  # characters: a handover note is read aloud in a minute, not a report
MAX_ITEMS = 500  # per kind; more are counted in one closing item
MAX_HISTORY = 200
MEETING_HORIZON = timedelta(days=7)  # a meeting starting within this is "due"
KINDS = ("overdue_in", "overdue_out", "unacknowledged", "incident", "meeting", "cadence")


@dataclass(frozen=True)
class HandoverItem:
    kind: str  # one of KINDS, or "more"
    ref: str  # message, incident or meeting id; the channel for a cadence entry
    params: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"handover.item.{self.kind}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "ref": self.ref, "params": dict(self.params)}


@dataclass(frozen=True)
class Handover:
    id: str
    desk: str
    outgoing: str
    note: str
    items: list[HandoverItem]
    started_at: datetime
    incoming: str | None = None
    confirmed_at: datetime | None = None

    @property
    def confirmed(self) -> bool:
        return self.confirmed_at is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "desk": self.desk,
            "outgoing": self.outgoing,
            "note": self.note,
            "items": [i.to_json() for i in self.items],
            "started_at": format_time(self.started_at),
            "incoming": self.incoming,
            "confirmed_at": None if self.confirmed_at is None else format_time(self.confirmed_at),
        }


def _aware(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _row(row: Any) -> Handover:
    items = [HandoverItem(i["kind"], i["ref"], i.get("params", {})) for i in json.loads(row.items)]
    started = _aware(row.started_at)
    assert started is not None
    return Handover(
        row.id, row.desk, row.outgoing, row.note, items, started, row.incoming, _aware(row.confirmed_at)
    )


# --- the open items ---------------------------------------------------------------------------


def desk_channels(node: Node, desk: str) -> list[str]:
    """The channels ``desk`` is a member of (active or suspended)."""
    from parley.channels.registry import list_channels_txn

    with node.reader.connect() as conn:
        return [
            c.id
            for c in list_channels_txn(conn)
            if desk in c.charter.desks_of(node.name) and c.status in ("active", "suspended")
        ]


def _capped(kind: str, found: list[HandoverItem], total: int) -> list[HandoverItem]:
    if total <= MAX_ITEMS:
        return found
    return [*found[:MAX_ITEMS], HandoverItem("more", kind, {"count": str(total - MAX_ITEMS), "kind": kind})]


def open_items(node: Node, desk: str) -> list[HandoverItem]:
    """What is open at ``desk`` now, oldest first within each kind, most urgent kind first."""
    from parley.messaging.deadlines import overdue_messages
    from parley.workflows.cadence import cadence_for_node
    from parley.workflows.incidents import list_incidents
    from parley.workflows.meetings import list_meetings

    chans = set(desk_channels(node, desk))
    if not chans:
        return []
    now = node.clock.now().astimezone(UTC)
    out: list[HandoverItem] = []

    overdue = [o for o in overdue_messages(node) if o.channel in chans]
    overdue_ids = {o.message_id for o in overdue}
    for kind, outgoing in (("overdue_in", False), ("overdue_out", True)):
        these = [o for o in overdue if o.outgoing is outgoing]
        out += _capped(
            kind,
            [
                HandoverItem(
                    kind,
                    o.message_id,
                    {"precedence": o.precedence, "type": o.type, "channel": o.channel, "due": o.due_at},
                )
                for o in these[:MAX_ITEMS]
            ],
            len(these),
        )

    q = (
        select(
            envelopes.c.id, envelopes.c.channel, envelopes.c.type, envelopes.c.precedence, delivery.c.due_at
        )
        .outerjoin(acknowledgments, acknowledgments.c.message_id == envelopes.c.id)
        .outerjoin(
            delivery, and_(delivery.c.message_id == envelopes.c.id, delivery.c.receiver_node == node.name)
        )
        .where(
            envelopes.c.outgoing.is_(False),
            envelopes.c.type != "acknowledgment",
            envelopes.c.channel.in_(sorted(chans)),
            acknowledgments.c.message_id.is_(None),
        )
        .order_by(envelopes.c.stored_at, envelopes.c.seq)
        .limit(MAX_ITEMS + len(overdue_ids) + 1)
    )
    with node.reader.connect() as conn:
        rows = [r for r in conn.execute(q).all() if r.id not in overdue_ids]
    out += _capped(
        "unacknowledged",
        [
            HandoverItem(
                "unacknowledged",
                r.id,
                {"precedence": r.precedence, "type": r.type, "channel": r.channel, "due": r.due_at or "-"},
            )
            for r in rows[:MAX_ITEMS]
        ],
        len(rows),
    )

    incidents = [i for c in sorted(chans) for i in list_incidents(node, channel=c, open_only=True)]
    out += _capped(
        "incident",
        [
            HandoverItem(
                "incident",
                i.id,
                {"type": i.type, "channel": i.channel, "phase": i.phase, "opened": i.opened_at},
            )
            for i in incidents[:MAX_ITEMS]
        ],
        len(incidents),
    )

    soon = format_time(now + MEETING_HORIZON)
    meetings = [
        m
        for c in sorted(chans)
        for m in list_meetings(node, c)
        if not m.drill and m.held_at is None and m.phase != "agreed" and m.start <= soon
    ]
    out += _capped(
        "meeting",
        [
            HandoverItem("meeting", m.meeting_id, {"channel": m.channel, "level": m.level, "start": m.start})
            for m in meetings[:MAX_ITEMS]
        ],
        len(meetings),
    )

    dues = [
        d
        for d in cadence_for_node(node)
        if d.channel in chans and (d.overdue or d.due <= soon) and not d.scheduled
    ]
    out += _capped(
        "cadence",
        [
            HandoverItem(
                "cadence", d.channel, {"channel": d.channel, "kind": d.kind, "level": d.level, "due": d.due}
            )
            for d in dues[:MAX_ITEMS]
        ],
        len(dues),
    )
    return out


# --- checking input ---------------------------------------------------------------------------


def check_note(note: str) -> str:
    """The note, trimmed; UsageError if it is empty, too long or holds control characters."""
    text = note.strip()
    if not text:
        raise UsageError(T("the handover note is empty"), hint=T("write what the incoming officer must know"))
    if len(text) > MAX_NOTE:
        raise UsageError(
            T(
                "the handover note is {n_text} characters long, over {max_note}",
                n_text=len(text),
                max_note=MAX_NOTE,
            ),
            hint=T("keep it short; the open items are listed by the node itself"),
        )
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in text):
        raise UsageError(T("the handover note holds control characters"), hint=T("write plain text"))
    return text


def _officer(node: Node, username: str, desk: str, who: str) -> None:
    from parley.directory.operators import get_operator

    op = get_operator(node, username)  # NotFoundError for an unknown or disabled operator
    if not op.can_act_on(desk):
        from parley.directory.policy import role_name

        role = op.role_on(desk)
        has = T("no role") if role is None else T("the role {role}", role=role_name(role))
        if who == "outgoing":
            refusal = T(
                "{username} has {role} on desk {desk!r} and cannot be the outgoing officer there",
                username=username,
                role=has,
                desk=desk,
            )
        else:
            refusal = T(
                "{username} has {role} on desk {desk!r} and cannot be the incoming officer there",
                username=username,
                role=has,
                desk=desk,
            )
        raise ForbiddenError(
            refusal,
            code="not_allowed",
            hint=T("the officers of a handover need a duty, supervisor or admin role on the desk"),
        )


# --- acts -------------------------------------------------------------------------------------


def start_handover(node: Node, desk: str, outgoing: str, note: str) -> Handover:
    """Start a handover at ``desk`` by ``outgoing``: the note and the generated open items."""
    from parley.directory.desks import require_desk

    require_desk(node, desk)
    text = check_note(note)
    _officer(node, outgoing, desk, "outgoing")
    items = open_items(node, desk)
    now = node.clock.now()
    hid = str(uuid.uuid4())
    with node.engine.begin() as conn:
        conn.execute(
            insert(handovers).values(
                id=hid,
                desk=desk,
                outgoing=outgoing,
                note=text,
                items=json.dumps([i.to_json() for i in items]),
                started_at=now,
            )
        )
        counts = {k: sum(1 for i in items if i.kind == k) for k in KINDS}
        audit_txn(conn, now, outgoing, "handover_start", {"handover": hid, "desk": desk, "items": counts})
    return get_handover(node, hid)


def confirm_handover(node: Node, handover_id: str, incoming: str) -> Handover:
    """The incoming officer confirms they have read the note and the open items."""
    h = get_handover(node, handover_id)
    if h.confirmed:
        raise ConflictError(
            T(
                "handover {handover_id} was already confirmed by {h_incoming}",
                handover_id=handover_id,
                h_incoming=h.incoming,
            ),
            hint=T("start a new handover for the next change of watch"),
        )
    if incoming == h.outgoing:
        raise UsageError(
            T("{incoming} started this handover and cannot also confirm it", incoming=incoming),
            hint=T("the incoming officer confirms, with their own user name"),
        )
    _officer(node, incoming, h.desk, "incoming")
    now = node.clock.now()
    with node.engine.begin() as conn:
        done = conn.execute(
            update(handovers)
            .where(handovers.c.id == handover_id, handovers.c.confirmed_at.is_(None))
            .values(incoming=incoming, confirmed_at=now)
        ).rowcount
        if not done:  # confirmed by someone else between the read above and now
            raise ConflictError(
                T("handover {handover_id} was already confirmed", handover_id=handover_id),
                hint=T("reload the handover"),
            )
        audit_txn(
            conn,
            now,
            incoming,
            "handover_confirm",
            {"handover": handover_id, "desk": h.desk, "outgoing": h.outgoing},
        )
    return get_handover(node, handover_id)


def get_handover(node: Node, handover_id: str) -> Handover:
    with node.reader.connect() as conn:
        row = conn.execute(select(handovers).where(handovers.c.id == handover_id[:36])).first()
    if row is None:
        raise NotFoundError(
            T("no handover {handover_id!r}", handover_id=handover_id[:40]),
            hint=T("see the desk's handover history"),
        )
    return _row(row)


def list_handovers(node: Node, desk: str, limit: int = 50) -> list[Handover]:
    """The latest handovers at ``desk``, newest first."""
    limit = max(1, min(limit, MAX_HISTORY))
    with node.reader.connect() as conn:
        rows = conn.execute(
            select(handovers)
            .where(handovers.c.desk == desk)
            .order_by(handovers.c.started_at.desc())
            .limit(limit)
        ).all()
    return [_row(r) for r in rows]
