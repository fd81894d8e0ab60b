"""Meeting cadence: when the charter says the next meeting is due, and whether it is late.

A charter's ``cadence`` lists entries such as::

    {kind = "protocol-meeting", level = "commissioners", every_months = 12}
    {kind = "preparatory", level = "staff", before_months = 2}

* A periodic entry (``every_months``) is due that many months after the last meeting of its
  level that was held (its protocol's ``held_at``), or after the channel was created if
  none has been held yet.
* A preparatory entry (``before_months``) is due that many months before the meeting it
  prepares: the entry named by its ``prepares`` key, by default the first periodic entry;
  the target date is that meeting's scheduled start when one is proposed, otherwise its
  due date. It is satisfied by a meeting of its level held since the last target meeting.

An entry is overdue when its due time has passed and no meeting satisfies it. Reports of
lapsed contact ("no consultations in 2020, the last nearly two years before") are the
reason this exists: the lapse shows in ``parley status`` the day it happens.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from parley.clock import format_time, parse_time
from parley.workflows.meetings import MeetingState


@dataclass(frozen=True)
class CadenceDue:
    channel: str
    kind: str
    level: str
    due: str
    last_held: str | None
    scheduled: str | None
    overdue: bool
    days_overdue: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def add_months(when: datetime, months: int) -> datetime:
    """Calendar months, clamping the day (31 January + 1 month = 28 or 29 February)."""
    index = when.year * 12 + (when.month - 1) + months
    year, month = divmod(index, 12)
    day = min(when.day, calendar.monthrange(year, month + 1)[1])
    return when.replace(year=year, month=month + 1, day=day)


def _held(meetings: Iterable[MeetingState], channel: str, level: str) -> list[datetime]:
    return sorted(
        parse_time(m.held_at)
        for m in meetings
        if m.channel == channel and m.level == level and m.held_at is not None and not m.drill
    )


def _scheduled(
    meetings: Iterable[MeetingState], channel: str, level: str, after: datetime
) -> datetime | None:
    starts = [
        parse_time(m.start)
        for m in meetings
        if m.channel == channel
        and m.level == level
        and m.held_at is None
        and not m.drill
        and parse_time(m.start) > after
    ]
    return min(starts) if starts else None


def cadence_due(
    channel: str,
    cadence: Sequence[Mapping[str, Any]],
    meetings: Sequence[MeetingState],
    created_at: datetime,
    now: datetime,
) -> list[CadenceDue]:
    """Each cadence entry of ``channel`` with its due date and whether it is overdue (pure)."""
    periodic: dict[str, tuple[datetime, datetime, datetime | None]] = {}
    out: list[CadenceDue] = []

    def due_entry(
        entry: Mapping[str, Any],
        due: datetime,
        last: datetime | None,
        sched: datetime | None,
        ok: bool,
    ) -> CadenceDue:
        late = not ok and now > due
        return CadenceDue(
            channel=channel,
            kind=str(entry["kind"]),
            level=str(entry.get("level", "")),
            due=format_time(due),
            last_held=None if last is None else format_time(last),
            scheduled=None if sched is None else format_time(sched),
            overdue=late,
            days_overdue=(now - due).days if late else 0,
        )

    for entry in cadence:
        every = entry.get("every_months")
        if not every:
            continue
        level = str(entry.get("level", ""))
        held = _held(meetings, channel, level)
        base = held[-1] if held else created_at
        due = add_months(base, int(every))
        sched = _scheduled(meetings, channel, level, base)
        periodic[str(entry["kind"])] = (base, due, sched)
        out.append(due_entry(entry, due, held[-1] if held else None, sched, ok=False))
    for entry in cadence:
        before = entry.get("before_months")
        if not before or entry.get("every_months"):
            continue
        target_kind = entry.get("prepares") or next(iter(periodic), None)
        if target_kind not in periodic:
            continue
        base, target_due, target_sched = periodic[str(target_kind)]
        due = add_months(target_sched or target_due, -int(before))
        level = str(entry.get("level", ""))
        since = [h for h in _held(meetings, channel, level) if h > base]
        sched = _scheduled(meetings, channel, level, base)
        out.append(due_entry(entry, due, since[-1] if since else None, sched, ok=bool(since)))
    return out


def cadence_for_node(node: Any) -> list[CadenceDue]:
    """Cadence of every active or suspended channel of ``node``, from its stored record."""
    from sqlalchemy import select

    from parley.channels.registry import list_channels_txn
    from parley.storage.tables import channels
    from parley.workflows.meetings import load_meetings_txn

    now = node.clock.now()
    with node.reader.connect() as conn:
        chans = [c for c in list_channels_txn(conn) if c.status in ("active", "suspended")]
        created = {r.id: r.created_at for r in conn.execute(select(channels.c.id, channels.c.created_at))}
        meetings = load_meetings_txn(conn)
    out: list[CadenceDue] = []
    for ch in chans:
        cadence = ch.charter.data.get("cadence") or []
        if not cadence:
            continue
        made = created[ch.id]
        if made.tzinfo is None:  # SQLite returns naive datetimes for UTC columns
            from datetime import UTC

            made = made.replace(tzinfo=UTC)
        out += cadence_due(ch.id, cadence, meetings, made, now)
    return out
