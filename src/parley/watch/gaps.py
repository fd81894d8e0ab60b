"""The gap alarm: a desk with a roster and nobody on watch raises an alarm until someone is.

A roster is opt-in: only desks that hold watch shifts are checked, from the start of the
first one. The check runs on the
node's clock (injectable; tests drive it with ``ManualClock``), once per tick of the
service's background loop. An alarm is an ``alarms`` row of kind ``watch_gap`` whose
subject is ``desk:NAME`` (a colon cannot occur in a channel id, so the policy's per-channel
filter of alarms never hides it); it is raised once when the gap begins and cleared when
someone is on watch again. Several ``parley serve`` processes may share one database, so
each change happens under a lock on the desk's row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from parley.node import Node
from parley.storage.alarms import raise_alarm_txn
from parley.storage.tables import alarms, desks
from parley.watch.roster import on_watch, rostered_desks, shifts_between

log = logging.getLogger("parley.watch")
KIND = "watch_gap"
SEVERITY = "critical"


def subject_of(desk: str) -> str:
    return f"desk:{desk}"


@dataclass(frozen=True)
class GapChange:
    desk: str
    raised: bool  # True: the gap began; False: it ended


def _next_shift_start(node: Node, desk: str, now: datetime) -> datetime | None:
    from parley.watch.roster import LOOKAHEAD

    later = shifts_between(node, desk, now, now + LOOKAHEAD, role="watch")
    starts = [s.start for s in later if s.start > now]
    return min(starts) if starts else None


def check_gaps(node: Node) -> list[GapChange]:
    """Raise or clear the gap alarm of every rostered desk; the changes made."""
    now = node.clock.now().astimezone(UTC)
    changes: list[GapChange] = []
    # A desk is watched from the start of its first shift: a roster saved today for next
    # week does not put the desk in alarm until then (the save warned about the gap).
    rostered = set(rostered_desks(node, since=now))
    alarmed = set(open_gaps(node))
    # A desk whose roster was cleared while its alarm was open: the alarm is cleared too.
    for desk in sorted(rostered | alarmed):
        nobody = desk in rostered and not on_watch(node, desk, now)
        if nobody == (desk in alarmed):
            continue  # as it should be: reads only, so a tick costs no write lock
        subject = subject_of(desk)
        nxt = _next_shift_start(node, desk, now) if nobody else None
        with node.engine.begin() as conn:
            # Serialises concurrent checkers on PostgreSQL (SQLite has one writer anyway).
            conn.execute(select(desks.c.name).where(desks.c.name == desk).with_for_update()).first()
            open_id = conn.execute(
                select(alarms.c.id).where(
                    alarms.c.kind == KIND, alarms.c.subject == subject, alarms.c.cleared_at.is_(None)
                )
            ).scalar_one_or_none()
            if nobody and open_id is None:
                if nxt:
                    raise_alarm_txn(conn, "watch_gap", subject, now, desk=desk, next_at=nxt)
                else:
                    raise_alarm_txn(conn, "watch_gap.no_shift", subject, now, desk=desk)
                changes.append(GapChange(desk, True))
            elif not nobody and open_id is not None:
                conn.execute(update(alarms).where(alarms.c.id == open_id).values(cleared_at=now))
                changes.append(GapChange(desk, False))
    return changes


def open_gaps(node: Node) -> dict[str, datetime]:
    """Desks whose gap alarm is open, with when it was raised."""
    with node.reader.connect() as conn:
        rows = conn.execute(
            select(alarms.c.subject, alarms.c.raised_at).where(
                alarms.c.kind == KIND, alarms.c.cleared_at.is_(None)
            )
        ).all()
    out: dict[str, datetime] = {}
    for r in rows:
        at = r.raised_at if r.raised_at.tzinfo else r.raised_at.replace(tzinfo=UTC)
        out[str(r.subject).removeprefix("desk:")] = at
    return out


async def gap_loop(service: Any) -> None:
    """The service's background check: once a tick, on the node's clock; never fatal."""
    while not service.stop.is_set():
        try:
            for change in await service.db(check_gaps, service.node):
                service.publish({"event": "watch_gap", "desk": change.desk, "open": change.raised})
        except Exception:
            log.exception("watch gap check failed; retrying")
        await service._sleep(service.tick_s)
