"""What the console's alert bar shows an operator: everything that needs a person, now.

Five kinds, most urgent first (:data:`KINDS`):

* ``flash`` / ``immediate``: a message received at that precedence and not yet acknowledged
  here;
* ``overdue``: an acknowledgment past its deadline at any precedence, either direction (ours
  to give, or the peer's owed for what we sent) — :func:`parley.messaging.deadlines.overdue_messages`;
* ``link_down``: a channel's link to a peer is DOWN;
* ``alarm``: any other open alarm (security alarms of the record above all).

Each kind is listed oldest first with its exact count, limited to what the operator may see
(:mod:`parley.directory.policy`: channels of her desks; node-wide alarms for everyone). An
item counts once, under its most urgent kind: an overdue FLASH is ``overdue``.

The sound and desktop notices belong to the operator, stored on the node
(:mod:`parley.watch.alert_tables`): a mute lasts a chosen number of minutes, is audited
(``alert_mute`` / ``alert_unmute``), and covers only what was open when it was set — an item
that opens later sounds again, so a mute never silences a FLASH nobody has seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, select, update

from parley.clock import format_time, parse_time
from parley.directory.audit import audit_txn
from parley.directory.operators import Operator
from parley.directory.policy import status_for, visible_channel_ids
from parley.errors import UsageError
from parley.formats.texts import T
from parley.messaging.deadlines import overdue_messages
from parley.node import Node
from parley.storage.alarms import alarm_json
from parley.storage.tables import acknowledgments, alarms, delivery, envelopes, link_state
from parley.watch.alert_tables import alert_preferences

KINDS = ("flash", "overdue", "immediate", "link_down", "alarm")
SOUNDING = frozenset({"flash", "overdue", "immediate"})  # what the sound and desktop notices are for
MUTE_MINUTES = (5, 15, 30, 60)
SHOWN_PER_KIND = 5  # the bar links the oldest few; the count is of all
COUNTED_MAX = 1000  # unacknowledged messages read per request; counts above show as 1000
COVERED_ALARMS = ("ack_overdue", "link_down")  # shown as their own kinds, not twice


@dataclass(frozen=True)
class AlertItem:
    kind: str
    key: str  # the message id, "channel/peer" or the alarm's id: what a notice is about
    since: datetime  # when it opened: arrival, due time, link down, alarm raised
    href: str
    title: str
    channel: str = ""
    outgoing: bool = False  # overdue: the peer's acknowledgment of what we sent


@dataclass
class AlertState:
    items: dict[str, list[AlertItem]] = field(default_factory=dict)  # kind -> oldest first, shown
    counts: dict[str, int] = field(default_factory=dict)
    muted_at: datetime | None = None
    muted_until: datetime | None = None  # only while the mute lasts
    notify: bool = False
    next_due: str | None = None  # the next deadline to pass: the page re-reads then

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def top_kind(self) -> str | None:
        return next((k for k in KINDS if self.counts.get(k)), None)

    @property
    def sound(self) -> bool:
        """Whether the page should sound: something sounding is open and not muted."""
        for kind in SOUNDING:
            for item in self.items.get(kind, []):
                if self.muted_until is None or self.muted_at is None or item.since > self.muted_at:
                    return True
        return False


def _aware(dt: datetime) -> datetime:
    # SQLite hands back naive datetimes for timezone-aware columns: they were stored in UTC.
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def alert_state(node: Node, op: Operator) -> AlertState:
    """The alert bar's contents for ``op`` at the node's current time."""
    from parley.console.views import _titles

    now = node.clock.now()
    now_text = format_time(now)
    seen = visible_channel_ids(node, op)
    found: dict[str, list[AlertItem]] = {k: [] for k in KINDS}

    overdue_ids: set[str] = set()
    for o in overdue_messages(node):
        if o.channel not in seen or o.message_id in overdue_ids:
            continue  # one row per receiver: a message counts once
        overdue_ids.add(o.message_id)
        found["overdue"].append(
            AlertItem(
                "overdue",
                o.message_id,
                parse_time(o.due_at),
                f"/console/messages/{o.message_id}",
                o.type,
                o.channel,
                o.outgoing,
            )
        )

    unacked = (
        select(
            envelopes.c.id,
            envelopes.c.channel,
            envelopes.c.precedence,
            envelopes.c.type,
            envelopes.c.stored_at,
        )
        .outerjoin(acknowledgments, acknowledgments.c.message_id == envelopes.c.id)
        .where(
            envelopes.c.outgoing.is_(False),
            envelopes.c.precedence.in_(("FLASH", "IMMEDIATE")),
            envelopes.c.type != "acknowledgment",
            acknowledgments.c.message_id.is_(None),
            envelopes.c.channel.in_(sorted(seen)),
        )
        .order_by(envelopes.c.stored_at, envelopes.c.id)
        .limit(COUNTED_MAX)
    )
    next_due = (
        select(func.min(delivery.c.due_at))
        .join(envelopes, envelopes.c.id == delivery.c.message_id)
        .outerjoin(acknowledgments, acknowledgments.c.message_id == delivery.c.message_id)
        .where(
            and_(
                delivery.c.due_at > now_text,
                acknowledgments.c.message_id.is_(None),
                envelopes.c.channel.in_(sorted(seen)),
            )
        )
    )
    with node.reader.connect() as conn:
        for r in conn.execute(unacked):
            if r.id in overdue_ids:
                continue
            kind = "flash" if r.precedence == "FLASH" else "immediate"
            found[kind].append(
                AlertItem(kind, r.id, _aware(r.stored_at), f"/console/messages/{r.id}", r.type, r.channel)
            )
        for r in conn.execute(
            select(link_state).where(link_state.c.state == "DOWN").order_by(link_state.c.since)
        ):
            if r.channel in seen:
                found["link_down"].append(
                    AlertItem(
                        "link_down",
                        f"{r.channel}/{r.peer}",
                        _aware(r.since),
                        f"/console/channels#ch-{r.channel}",
                        r.peer,
                        r.channel,
                    )
                )
        open_alarms = [
            alarm_json(a)
            for a in conn.execute(
                select(alarms)
                .where(alarms.c.cleared_at.is_(None), alarms.c.kind.not_in(COVERED_ALARMS))
                .order_by(alarms.c.raised_at, alarms.c.id)
                .limit(COUNTED_MAX)
            )
        ]
        next_text = conn.execute(next_due).scalar_one_or_none()
        prefs = conn.execute(
            select(alert_preferences).where(alert_preferences.c.username == op.username)
        ).first()
    # Alarms naming a channel of another desk are that desk's (the dashboard's rule).
    from parley.running.status import alarms_in

    for a in alarms_in(node, status_for(node, op, {"alarms": open_alarms})["alarms"], op.lang):
        href = "/console/record" if a["severity"] == "security" else "/console/#alarms-h"
        found["alarm"].append(AlertItem("alarm", str(a["id"]), _aware(a["raised_at"]), href, a["message"]))

    state = AlertState(next_due=str(next_text) if next_text else None)
    shown = {kind: _shown(found[kind]) for kind in KINDS}
    titles = _titles(node, [i.key for k in SOUNDING for i in shown[k]], op.lang)  # messages only
    for kind in KINDS:
        state.counts[kind] = len(found[kind])
        state.items[kind] = [
            AlertItem(i.kind, i.key, i.since, i.href, titles.get(i.key) or i.title, i.channel, i.outgoing)
            for i in shown[kind]
        ]
    if prefs is not None:
        state.notify = bool(prefs.notify)
        if prefs.muted_until is not None and _aware(prefs.muted_until) > now:
            state.muted_until = _aware(prefs.muted_until)
            state.muted_at = _aware(prefs.muted_at) if prefs.muted_at is not None else None
    return state


def _shown(items: list[AlertItem]) -> list[AlertItem]:
    """The oldest few, oldest first, and always the newest: with more open than the bar lists,
    a fresh arrival must still appear in it, since the page rings, announces and notifies for
    what newly appears in the bar."""
    ordered = sorted(items, key=lambda i: i.since)
    if len(ordered) <= SHOWN_PER_KIND:
        return ordered
    return [*ordered[: SHOWN_PER_KIND - 1], ordered[-1]]


# --- the operator's own settings ---------------------------------------------------------------
def mute_minutes(raw: str) -> int:
    """The mute's length from a form field; UsageError unless it is one of :data:`MUTE_MINUTES`."""
    choices = ", ".join(str(m) for m in MUTE_MINUTES[:-1]) + f" or {MUTE_MINUTES[-1]}"
    try:
        minutes = int(raw.strip()) if len(raw) <= 8 else -1
    except ValueError:
        minutes = -1
    if minutes not in MUTE_MINUTES:
        raise UsageError(
            T("cannot mute the alert sound for {raw!r} minutes", raw=raw[:20]),
            code="bad_mute_minutes",
            hint=T("choose {choices} minutes; the sound was not muted", choices=choices),
        )
    return minutes


def _save(conn: Any, username: str, values: dict[str, Any]) -> None:
    done = conn.execute(
        update(alert_preferences).where(alert_preferences.c.username == username).values(**values)
    )
    if done.rowcount == 0:
        conn.execute(insert(alert_preferences).values(username=username, **values))


def mute(node: Node, op: Operator, minutes: int, via: str = "console") -> datetime:
    """Mute ``op``'s alert sound for ``minutes`` (validated by :func:`mute_minutes`); audited."""
    if minutes not in MUTE_MINUTES:
        raise UsageError(T("cannot mute for {minutes} minutes", minutes=minutes), code="bad_mute_minutes")
    now = node.clock.now()
    until = now + timedelta(minutes=minutes)
    with node.engine.begin() as conn:
        _save(conn, op.username, {"muted_at": now, "muted_until": until})
        audit_txn(
            conn,
            now,
            op.username,
            "alert_mute",
            {"minutes": minutes, "until": format_time(until), "via": via},
        )
    return until


def unmute(node: Node, op: Operator, via: str = "console") -> None:
    """End ``op``'s mute now; audited (also when there was none, since the officer asked)."""
    now = node.clock.now()
    with node.engine.begin() as conn:
        _save(conn, op.username, {"muted_at": None, "muted_until": None})
        audit_txn(conn, now, op.username, "alert_unmute", {"via": via})


def set_notify(node: Node, op: Operator, on: bool) -> None:
    """Turn ``op``'s desktop notices on or off; audited."""
    now = node.clock.now()
    with node.engine.begin() as conn:
        _save(conn, op.username, {"notify": on})
        audit_txn(conn, now, op.username, "alert_notify", {"on": on})


def notifies(node: Node, op: Operator) -> bool:
    """Whether ``op`` asked for desktop notices."""
    with node.reader.connect() as conn:
        on = conn.execute(
            select(alert_preferences.c.notify).where(alert_preferences.c.username == op.username)
        ).scalar_one_or_none()
    return bool(on)


def notify_choice(raw: str) -> bool:
    if raw not in ("on", "off"):
        raise UsageError(
            T("desktop notifications can be 'on' or 'off', not {raw!r}", raw=raw[:20]),
            code="bad_notify",
            hint=T("use the buttons on the settings page; nothing was changed"),
        )
    return raw == "on"
