"""Acknowledgment deadlines and escalation.

A message's due time is its receipt time (signed by the receiver, held by both sides) plus
the charter's deadline for its precedence, so both nodes compute the same due time without
trusting each other's clocks for anything but the signed figures. When a due time passes
without an acknowledgment the message is overdue on both sides: an alarm is raised, the
configured supervisor desk is notified, and a webhook is called if one is configured.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, select

from parley.clock import format_time
from parley.messaging.hooks import hooks
from parley.node import Node
from parley.storage.alarms import alarm, raise_alarm_txn, readable
from parley.storage.tables import acknowledgments, delivery, envelopes, escalations


@dataclass
class Overdue:
    message_id: str
    channel: str
    type: str
    precedence: str
    status: str
    receiver: str
    due_at: str
    outgoing: bool

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


def overdue_messages(node: Node, *, after: str | None = None, unescalated: bool = False) -> list[Overdue]:
    """Deliveries due by now and not acknowledged, oldest due first.

    ``after``: only those that fell due after that time (the deadline watch's window since its
    last look, a range of the ``due_at`` index instead of every delivery there ever was);
    ``unescalated``: only those not escalated yet."""
    return _overdue(node, format_time(node.clock.now()), after=after, unescalated=unescalated)


def _overdue(node: Node, now: str, *, after: str | None, unescalated: bool) -> list[Overdue]:
    q = (
        select(
            delivery.c.message_id,
            delivery.c.receiver_node,
            delivery.c.due_at,
            envelopes.c.channel,
            envelopes.c.type,
            envelopes.c.precedence,
            envelopes.c.status,
            envelopes.c.outgoing,
        )
        .join(envelopes, envelopes.c.id == delivery.c.message_id)
        .outerjoin(acknowledgments, acknowledgments.c.message_id == delivery.c.message_id)
        .where(
            and_(
                delivery.c.due_at.is_not(None),
                delivery.c.due_at <= now,
                acknowledgments.c.message_id.is_(None),
            )
        )
        .order_by(delivery.c.due_at)
    )
    if after is not None:
        q = q.where(delivery.c.due_at > after)
    if unescalated:
        q = q.outerjoin(escalations, escalations.c.message_id == delivery.c.message_id).where(
            escalations.c.message_id.is_(None)
        )
    with node.reader.connect() as conn:
        rows = conn.execute(q).all()
    return [
        Overdue(
            r.message_id,
            r.channel,
            r.type,
            r.precedence,
            r.status,
            r.receiver_node,
            r.due_at,
            bool(r.outgoing),
        )
        for r in rows
    ]


def escalate_overdue(node: Node, post: Any = None, *, after: str | None = None) -> list[Overdue]:
    """Escalate every overdue message not escalated yet; return those escalated now.

    ``post(url, json)`` calls the webhook (injected so the deadline watch stays testable
    with a real local HTTP server or none at all). ``after``: look only at what fell due
    since then (see :class:`DeadlineWatch`).
    """
    fresh: list[Overdue] = []
    now = node.clock.now()
    default_desk = node.config.escalation.supervisor_desk or None
    for item in _overdue(node, format_time(now), after=after, unescalated=True):
        with node.engine.begin() as conn:
            if conn.execute(
                select(escalations.c.message_id).where(escalations.c.message_id == item.message_id)
            ).first():
                continue
        # A desk with an escalation chain pages its own people (parley.watch.paging); the
        # alarm stays, the supervisor desk and webhook of [escalation] are for desks without.
        chained = hooks().chain_covers(node, item.message_id)
        desk = None if chained else default_desk
        with node.engine.begin() as conn:
            code, params = _alarm_of(item, desk)
            raise_alarm_txn(conn, code, item.message_id, now, **params)
            conn.execute(
                insert(escalations).values(
                    message_id=item.message_id,
                    escalated_at=now,
                    notified_desk=desk,
                    webhook_status="chain" if chained else None,
                )
            )
        fresh.append(item)
        url = node.config.escalation.webhook_url
        if url and not chained:
            status = _call_webhook(url, _webhook_payload(node, item, desk), post)
            from sqlalchemy import update

            with node.engine.begin() as conn:
                conn.execute(
                    update(escalations)
                    .where(escalations.c.message_id == item.message_id)
                    .values(webhook_status=status)
                )
    return fresh


def _alarm_of(item: Overdue, desk: str | None) -> tuple[str, dict[str, Any]]:
    """The alarm code (parley.storage.alarms) and parameters of an overdue acknowledgment."""
    code = ("ack_overdue.there" if item.outgoing else "ack_overdue.here") + (".notified" if desk else "")
    params: dict[str, Any] = {
        "precedence": item.precedence,
        "type": item.type,
        "channel": item.channel,
        "due_at": item.due_at,
    }
    if desk:
        params["desk"] = desk
    return code, params


def _webhook_payload(node: Node, item: Overdue, desk: str | None) -> dict[str, Any]:
    """The webhook's JSON: the overdue message, the alarm's ``code`` and ``params`` for
    machines, and its ``text`` in the node's language (``[console] default_lang``) for people.
    """
    from parley.channels.registry import list_channels_txn

    code, params = _alarm_of(item, desk)
    lang = node.config.console.default_lang
    with node.reader.connect() as conn:
        channels = {c.id: c.charter.name_in for c in list_channels_txn(conn)}
    text = readable(alarm(code, **params)[1], channels).render(lang)
    return {
        "event": "ack_overdue",
        "node": node.name,
        **item.to_json(),
        "code": code,
        "params": params,
        "text": text,
        "lang": lang,
    }


def _call_webhook(url: str, payload: dict[str, Any], post: Any) -> str:
    import httpx

    try:
        if post is not None:
            return str(post(url, payload))
        resp = httpx.post(
            url, content=json.dumps(payload), headers={"content-type": "application/json"}, timeout=5
        )
        return f"{resp.status_code}"
    except Exception as exc:  # a webhook failing must not stop the watch
        return f"failed: {type(exc).__name__}: {exc}"[:200]


class DeadlineWatch:
    """The serving node's deadline watch: every tick it escalates what fell due since its last
    look, and every ``full_every_s`` (and first) it looks at every unacknowledged delivery.

    A node holding a year of traffic has some 10^5 deliveries whose due time has passed, and
    an anti-join of all of them with the acknowledgments every tick took a third of a second
    of CPU on SQLite, in the same process that answers the desk. The window is a range of the
    ``due_at`` index. The full look catches what the window cannot: a delivery stored already
    overdue (a receipt that arrived late, one taken back after a restore) or a clock set back.
    """

    def __init__(self, full_every_s: float = 60.0, overlap_s: float = 600.0) -> None:
        self.full_every_s = full_every_s
        # The window reaches back this far before the last look: a receipt that comes back
        # after its message fell due (a slow link, a short deadline) is stored already
        # overdue, and is found at the next tick rather than at the next full look.
        self.overlap_s = overlap_s
        self._upto: str | None = None
        self._full_at: datetime | None = None

    def tick(self, node: Node, post: Any = None) -> list[Overdue]:
        now = node.clock.now()
        upto, full_at = self._upto, self._full_at
        full = upto is None or full_at is None or now >= full_at or format_time(now) < upto
        fresh = escalate_overdue(node, post, after=None if full else upto)
        if full:
            self._full_at = now + timedelta(seconds=self.full_every_s)
        self._upto = format_time(now - timedelta(seconds=self.overlap_s))
        return fresh
