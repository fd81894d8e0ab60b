"""Read models of the console's watch pages: who is on watch, the roster, handovers.

A desk's roster and handovers are the desk's own: an operator sees them when they hold a
role on the desk (an admin sees every desk), and a desk they may not see is answered as
one that does not exist (404), as channels are (:mod:`parley.directory.policy`). Editing a
roster needs the role supervisor or admin on that desk (or being an admin); starting and
confirming a handover needs a role that may act on the desk (duty, supervisor, admin).
Times are shown in the zone the shift was planned in, named, with UTC alongside.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from parley.directory.desks import list_desks
from parley.directory.operators import Operator, list_operators
from parley.errors import ForbiddenError, NotFoundError
from parley.formats.texts import T
from parley.node import Node
from parley.watch import roster
from parley.watch.gaps import open_gaps
from parley.watch.handover import Handover, get_handover, list_handovers

FMT = "%Y-%m-%d %H:%M"
SHOWN_DAYS = 14  # the roster page shows two weeks from the day asked for


def at_zone(dt: datetime, tz: str) -> str:
    """``2026-11-30 20:00 Europe/Oslo (19:00 UTC)``."""
    local = dt.astimezone(ZoneInfo(tz))
    text = f"{local:{FMT}} {tz}"
    return text if tz == "UTC" else f"{text} ({dt.astimezone(UTC):%H:%M} UTC)"


def visible_desks(node: Node, op: Operator) -> list[str]:
    every = [d.name for d in list_desks(node)]
    return every if op.is_admin else [d for d in every if d in op.roles]


def require_visible_desk(node: Node, op: Operator, desk: str) -> str:
    if desk not in visible_desks(node, op):
        raise NotFoundError(T("unknown desk {desk!r}", desk=desk[:64]), hint=T("pick one of your desks"))
    return desk


def may_edit_roster(op: Operator, desk: str) -> bool:
    return op.is_admin or op.roles.get(desk) in ("supervisor", "admin")


def require_roster_editor(op: Operator, desk: str) -> None:
    if not may_edit_roster(op, desk):
        raise ForbiddenError(
            T("{op_username} may not change the roster of desk {desk!r}", op_username=op.username, desk=desk),
            code="not_allowed",
            hint=T("a supervisor or admin of the desk edits its roster"),
        )


def on_watch_now(node: Node, op: Operator) -> list[dict[str, Any]]:
    """For each of the operator's desks: who is on watch now and until when."""
    now = node.clock.now().astimezone(UTC)
    gaps = open_gaps(node)
    out = []
    for desk in sorted(op.roles):
        current = roster.current_shift(node, desk, now)
        rostered = roster.has_roster(node, desk)
        later = roster.shifts_between(node, desk, now, now + roster.LOOKAHEAD, role="watch")
        nxt = min((s for s in later if s.start > now), key=lambda s: s.start, default=None)
        out.append(
            {
                "desk": desk,
                "rostered": rostered,
                "gap": desk in gaps or (rostered and not current),
                "watch": [{"operator": s.username, "until": at_zone(s.end, s.tz)} for s in current],
                "supervisors": roster.supervisors_on(node, desk, now),
                "next": None
                if nxt is None
                else {"operator": nxt.username, "from": at_zone(nxt.start, nxt.tz)},
            }
        )
    return out


def warning_texts(cat: Any, warnings: list[roster.RosterWarning], tz: str) -> list[str]:
    return [cat.get(w.key, **w.params(tz)) for w in warnings]


def roster_page(node: Node, op: Operator, desk: str | None, start_text: str | None) -> dict[str, Any]:
    desks = visible_desks(node, op)
    if desk is None:
        mine = [d for d in desks if d in op.roles]
        desk = (mine or desks or [""])[0]
        if not desk:
            raise NotFoundError(T("no desk to show"), hint=T("an admin adds desks with `parley desk add`"))
    require_visible_desk(node, op, desk)
    now = node.clock.now().astimezone(UTC)
    start = now
    if start_text:
        day = roster.parse_date(start_text, "from")
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    end = start + timedelta(days=SHOWN_DAYS)
    shifts = roster.shifts_between(node, desk, start, end)
    members = [o.username for o in list_operators(node) if desk in o.roles]
    return {
        "desk": desk,
        "desks": desks,
        "from": f"{start:%Y-%m-%d}",
        "shifts": [
            {
                "id": s.id,
                "operator": s.username,
                "role": s.role,
                "start": at_zone(s.start, s.tz),
                "end": at_zone(s.end, s.tz),
                "now": s.covers(now),
            }
            for s in shifts
        ],
        "warnings": roster.coverage_warnings(node, desk, now, now + roster.LOOKAHEAD),
        # Warnings are shown in the zone the desk's roster is planned in (its latest shift's).
        "tz": shifts[-1].tz if shifts else "UTC",
        "can_edit": may_edit_roster(op, desk),
        "members": members,
        "on_watch": roster.on_watch(node, desk, now),
    }


def handover_json(h: Handover) -> dict[str, Any]:
    return {
        "id": h.id,
        "desk": h.desk,
        "outgoing": h.outgoing,
        "incoming": h.incoming,
        "note": h.note,
        "items": h.items,
        "started": at_zone(h.started_at, "UTC"),
        "confirmed": None if h.confirmed_at is None else at_zone(h.confirmed_at, "UTC"),
    }


def readable_item(item: Any, lang: str) -> Any:
    """A handover item with its parameters as a person reads them: the type's label, not its
    code, and times in the reader's format (the item itself is stored with the codes)."""
    from parley.console.views import when
    from parley.formats.catalogue import load_catalogue

    params = getattr(item, "params", None)
    if params is None and isinstance(item, dict):
        params = item.get("params")
    if not isinstance(params, dict):
        return item
    cat = load_catalogue(lang)
    shown = dict(params)
    type_key = f"type.{shown.get('type')}"
    if "type" in shown and cat.has(type_key):
        shown["type"] = cat.get(type_key)
    for name in ("due", "opened", "at", "start"):
        value = shown.get(name)
        if isinstance(value, str) and value[:4].isdigit() and "T" in value:
            shown[name] = when(value, lang)
    if isinstance(item, dict):
        return dict(item, params=shown)
    return dataclasses.replace(item, params=shown)


def handover_page(node: Node, op: Operator, desk: str | None) -> dict[str, Any]:
    desks = visible_desks(node, op)
    if desk is None:
        mine = [d for d in desks if d in op.roles]
        desk = (mine or desks or [""])[0]
        if not desk:
            raise NotFoundError(T("no desk to show"), hint=T("an admin adds desks with `parley desk add`"))
    require_visible_desk(node, op, desk)
    return {
        "desk": desk,
        "desks": desks,
        "history": [handover_json(h) for h in list_handovers(node, desk)],
        "can_act": op.can_act_on(desk),
    }


def handover_detail(node: Node, op: Operator, handover_id: str) -> dict[str, Any]:
    h = get_handover(node, handover_id)
    if h.desk not in visible_desks(node, op):
        raise NotFoundError(
            T("no handover {handover_id!r}", handover_id=handover_id[:40]),
            hint=T("see the desk's handover history"),
        )
    shown = handover_json(h)
    shown["items"] = [readable_item(i, op.lang) for i in h.items]
    return {
        "h": shown,
        "can_confirm": not h.confirmed and op.can_act_on(h.desk) and op.username != h.outgoing,
    }
