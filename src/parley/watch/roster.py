"""Rosters: who is on watch at a desk, and when.

A shift is written in local wall time in an IANA time zone (the tz database, RFC 6557;
``zoneinfo``, PEP 615) and stored as two UTC instants plus that zone, so every comparison
is between instants and every display can name the zone the roster was planned in. A
repeating shift keeps its local start time across daylight-saving changes (08:00 stays
08:00), so its UTC instants move by an hour there. Local times that do not exist (the hour
skipped in spring) are refused; ambiguous ones (the hour repeated in autumn) mean the first
of the two, as in RFC 5545 §3.3.5.

A roster is opt-in per desk: a desk without shifts raises no alarm. Saving shifts that
leave a gap or an overlap in the coming week warns but saves; bad input is refused and
changes nothing. Every size comes with a bound: a shift lasts at most :data:`MAX_SHIFT`,
a repeat runs at most :data:`MAX_REPEAT_SPAN`, a desk holds at most :data:`MAX_SHIFTS`.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, func, insert, select

from parley.directory.audit import audit_txn
from parley.errors import NotFoundError, UsageError
from parley.formats.texts import T
from parley.node import Node
from parley.storage.tables import memberships, operators
from parley.watch.tables import shifts

SHIFT_ROLES = ("watch", "supervisor")
REPEATS = ("daily", "weekly")
MAX_SHIFT = timedelta(days=7)
MIN_SHIFT = timedelta(minutes=5)
MAX_SHIFTS = 10_000  # per desk, counting every occurrence of a repeating shift
MAX_REPEAT_SPAN = timedelta(days=366)
MAX_BATCH = 2_000  # occurrences created by one request (one add, one import)
LOOKAHEAD = timedelta(days=7)  # the period whose gaps and overlaps a save warns about
# Roles on a desk that may stand a watch: auditors read and change nothing.
WATCH_MEMBER_ROLES = ("duty", "supervisor", "admin")
SUPERVISOR_MEMBER_ROLES = ("supervisor", "admin")


def _aware(dt: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored one is UTC."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


@dataclass(frozen=True)
class Shift:
    id: int
    desk: str
    username: str
    role: str
    start: datetime  # UTC
    end: datetime  # UTC
    tz: str
    series: str | None = None

    def covers(self, at: datetime) -> bool:
        return self.start <= at < self.end

    def local(self, dt: datetime, tz: str | None = None) -> datetime:
        return dt.astimezone(ZoneInfo(tz or self.tz))

    def to_json(self) -> dict[str, Any]:
        zone = ZoneInfo(self.tz)
        return {
            "id": self.id,
            "desk": self.desk,
            "operator": self.username,
            "role": self.role,
            "start": self.start.isoformat().replace("+00:00", "Z"),
            "end": self.end.isoformat().replace("+00:00", "Z"),
            "tz": self.tz,
            "start_local": self.start.astimezone(zone).isoformat(),
            "end_local": self.end.astimezone(zone).isoformat(),
            "series": self.series,
        }


@dataclass(frozen=True)
class ShiftSpec:
    """One shift as a person writes it: wall-clock times in a named zone, maybe repeating."""

    username: str
    start: str  # local wall time, e.g. 2026-11-30T08:00
    end: str
    tz: str
    role: str = "watch"
    repeat: str | None = None  # daily | weekly
    until: str | None = None  # local date, inclusive


@dataclass(frozen=True)
class RosterWarning:
    """A gap (nobody on watch) or an overlap (two on watch) in the coming period."""

    kind: str  # gap | overlap
    start: datetime
    end: datetime
    usernames: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"roster.warning.{self.kind}"

    def params(self, tz: str) -> dict[str, str]:
        zone = ZoneInfo(tz)
        fmt = "%Y-%m-%d %H:%M"
        return {
            "start": self.start.astimezone(zone).strftime(fmt),
            "end": self.end.astimezone(zone).strftime(fmt),
            "tz": tz,
            "operators": ", ".join(self.usernames),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "start": self.start.isoformat().replace("+00:00", "Z"),
            "end": self.end.isoformat().replace("+00:00", "Z"),
            "operators": list(self.usernames),
        }


@dataclass
class RosterChange:
    """What a save did: the shifts it created and the warnings it raised."""

    shifts: list[Shift] = field(default_factory=list)
    warnings: list[RosterWarning] = field(default_factory=list)


# --- reading ------------------------------------------------------------------------------


def _row_shift(row: Any) -> Shift:
    return Shift(
        row.id, row.desk, row.username, row.role, _aware(row.start_at), _aware(row.end_at), row.tz, row.series
    )


def shifts_between(
    node: Node, desk: str, start: datetime, end: datetime, *, role: str | None = None
) -> list[Shift]:
    """Shifts at ``desk`` that overlap [start, end), in order of start."""
    q = select(shifts).where(
        shifts.c.desk == desk,
        shifts.c.start_at < end.astimezone(UTC),
        shifts.c.end_at > start.astimezone(UTC),
    )
    if role is not None:
        q = q.where(shifts.c.role == role)
    with node.reader.connect() as conn:
        rows = conn.execute(q.order_by(shifts.c.start_at, shifts.c.id)).all()
    return [_row_shift(r) for r in rows]


def shifts_at(node: Node, desk: str, at: datetime, *, role: str | None = None) -> list[Shift]:
    """The shifts at ``desk`` that cover the instant ``at``."""
    at = at.astimezone(UTC)
    return shifts_between(node, desk, at, at + timedelta(microseconds=1), role=role)


def _disabled(node: Node, names: list[str]) -> set[str]:
    if not names:
        return set()
    with node.reader.connect() as conn:
        rows = conn.execute(
            select(operators.c.username).where(
                operators.c.username.in_(names), operators.c.disabled.is_(True)
            )
        ).all()
    return {r.username for r in rows}


def _standing(node: Node, desk: str, at: datetime, role: str) -> list[str]:
    """Who stands a ``role`` shift at ``at``, in order of shift start; a disabled operator
    (one who left) is nobody to page, so does not count."""
    names: list[str] = []
    for s in shifts_at(node, desk, at, role=role):
        if s.username not in names:
            names.append(s.username)
    gone = _disabled(node, names)
    return [n for n in names if n not in gone]


def on_watch(node: Node, desk: str, at: datetime) -> list[str]:
    """User names on watch at ``desk`` at the instant ``at`` (empty: nobody)."""
    return _standing(node, desk, at, "watch")


def supervisors_on(node: Node, desk: str, at: datetime) -> list[str]:
    """The supervisors answerable for ``desk`` at ``at``.

    Those with a supervisor shift covering ``at``; if the desk's roster names no supervisor
    then, the operators with the role supervisor on the desk (from memberships), so an
    escalation always has someone to reach when the desk has supervisors at all.
    """
    names = _standing(node, desk, at, "supervisor")
    if names:
        return names
    with node.reader.connect() as conn:
        rows = conn.execute(
            select(memberships.c.username)
            .join(operators, operators.c.username == memberships.c.username)
            .where(
                memberships.c.desk == desk,
                memberships.c.role == "supervisor",
                operators.c.disabled.is_(False),
            )
            .order_by(memberships.c.username)
        ).all()
    return [r.username for r in rows]


def has_roster(node: Node, desk: str) -> bool:
    """Whether ``desk`` has opted in to a roster (holds any watch shift at all)."""
    with node.reader.connect() as conn:
        row = conn.execute(
            select(shifts.c.id).where(shifts.c.desk == desk, shifts.c.role == "watch").limit(1)
        ).first()
    return row is not None


def rostered_desks(node: Node, since: datetime | None = None) -> list[str]:
    """Desks with a roster; with ``since``, only those whose first watch began by then."""
    q = select(shifts.c.desk).where(shifts.c.role == "watch")
    if since is not None:
        q = q.where(shifts.c.start_at <= since.astimezone(UTC))
    with node.reader.connect() as conn:
        rows = conn.execute(q.distinct()).all()
    return sorted(r.desk for r in rows)


def get_shift(node: Node, shift_id: int) -> Shift:
    with node.reader.connect() as conn:
        row = conn.execute(select(shifts).where(shifts.c.id == shift_id)).first()
    if row is None:
        raise NotFoundError(
            T("no shift with id {shift_id}", shift_id=shift_id), hint=T("see `parley roster show DESK`")
        )
    return _row_shift(row)


def current_shift(node: Node, desk: str, at: datetime) -> list[Shift]:
    """The watch shifts covering ``at`` (for 'on watch until …')."""
    return shifts_at(node, desk, at, role="watch")


# --- checking input -------------------------------------------------------------------------


def zone_of(tz: str) -> ZoneInfo:
    """The IANA zone named ``tz``; UsageError for anything that is not one."""
    if not tz or len(tz) > 64 or tz.startswith(("/", ".")) or ".." in tz:
        raise UsageError(
            T("unknown time zone {tz!r}", tz=tz),
            hint=T("use an IANA name such as Europe/Oslo or Europe/Moscow"),
        )
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UsageError(
            T("unknown time zone {tz!r}", tz=tz),
            hint=T("use an IANA name such as Europe/Oslo or Europe/Moscow"),
        ) from None


def local_instant(wall: datetime, zone: ZoneInfo, what: str) -> datetime:
    """The UTC instant of the naive wall time ``wall`` in ``zone``; refuses skipped times."""
    aware = wall.replace(tzinfo=zone, fold=0)
    back = aware.astimezone(UTC).astimezone(zone)
    if back.replace(tzinfo=None) != wall:
        raise UsageError(
            T(
                "{what} {wall:%Y-%m-%d %H:%M} does not exist in {zone_key} (the clocks skip it)",
                what=what,
                wall=wall,
                zone_key=zone.key,
            ),
            hint=T("choose a time outside the daylight-saving change"),
        )
    return aware.astimezone(UTC)


def parse_wall(text: str, what: str) -> datetime:
    """A local date and time such as ``2026-11-30T08:00``; offsets are refused (use --tz)."""
    try:
        dt = datetime.fromisoformat(text.strip()) if len(text) <= 40 else None
    except ValueError:
        dt = None
    if dt is None:
        raise UsageError(
            T("{what} {text!r} is not a date and time", what=what, text=text[:40]),
            hint=T("write it as 2026-11-30T08:00"),
        )
    if dt.tzinfo is not None:
        raise UsageError(
            T("{what} {text!r} carries a UTC offset", what=what, text=text),
            hint=T("write the local time without an offset and name the zone with --tz"),
        )
    return dt


def parse_date(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text.strip()) if len(text) <= 20 else date.fromisoformat("")
    except ValueError:
        raise UsageError(
            T("{what} {text!r} is not a date", what=what, text=text[:20]), hint=T("write it as 2026-12-31")
        ) from None


def _check_operator(conn: Any, username: str, desk: str, role: str) -> None:
    from parley.directory.policy import role_name, role_names

    row = conn.execute(
        select(operators.c.username, operators.c.disabled).where(operators.c.username == username)
    ).first()
    if row is None or row.disabled:
        raise NotFoundError(
            T("unknown operator {username!r}", username=username), hint=T("see `parley operator list`")
        )
    member = conn.execute(
        select(memberships.c.role).where(memberships.c.username == username, memberships.c.desk == desk)
    ).first()
    allowed = SUPERVISOR_MEMBER_ROLES if role == "supervisor" else WATCH_MEMBER_ROLES
    if member is None or member.role not in allowed:
        if member is None:
            hint = T(
                "give them a role first: parley operator add {username} --desk {desk} --role {role}",
                username=username,
                desk=desk,
                role="supervisor" if role == "supervisor" else "duty",  # a command: the code
            )
            has = T("no role")
        else:
            hint = T("choose an operator with the role {allowed} on the desk", allowed=role_names(allowed))
            has = T("the role {role}", role=role_name(member.role))
        if role == "supervisor":
            refusal = T(
                "{username} has {has} on desk {desk!r} and cannot stand a supervisor shift there",
                username=username,
                has=has,
                desk=desk,
            )
        else:
            refusal = T(
                "{username} has {has} on desk {desk!r} and cannot stand a watch shift there",
                username=username,
                has=has,
                desk=desk,
            )
        raise UsageError(refusal, hint=hint)


def _hours(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min"


def expand(spec: ShiftSpec) -> list[tuple[datetime, datetime]]:
    """The UTC (start, end) of every occurrence of ``spec``; UsageError for bad input."""
    if spec.role not in SHIFT_ROLES:
        raise UsageError(
            T("unknown shift role {spec_role!r}", spec_role=spec.role),
            hint=T("use --as watch or --as supervisor"),
        )
    zone = zone_of(spec.tz)
    wall_start = parse_wall(spec.start, "start")
    wall_end = parse_wall(spec.end, "end")
    start = local_instant(wall_start, zone, "start")
    end = local_instant(wall_end, zone, "end")
    if end <= start:
        raise UsageError(
            T(
                "the shift ends ({spec_end}) before it starts ({spec_start})",
                spec_end=spec.end,
                spec_start=spec.start,
            ),
            hint=T("give an --end after --start (a night shift ends on the next day)"),
        )
    if end - start > MAX_SHIFT:
        raise UsageError(
            T(
                "the shift lasts {hours}, longer than {max_shift_days} days",
                hours=_hours(end - start),
                max_shift_days=MAX_SHIFT.days,
            ),
            hint=T("split it into shorter shifts"),
        )
    if end - start < MIN_SHIFT:
        raise UsageError(
            T(
                "the shift lasts {hours}, shorter than {hours2}",
                hours=_hours(end - start),
                hours2=_hours(MIN_SHIFT),
            ),
            hint=T("check --start and --end"),
        )
    if spec.repeat is None:
        if spec.until is not None:
            raise UsageError(T("--until needs --repeat"), hint=T("add --repeat daily or --repeat weekly"))
        return [(start, end)]
    if spec.repeat not in REPEATS:
        raise UsageError(
            T("unknown repeat {spec_repeat!r}", spec_repeat=spec.repeat),
            hint=T("use --repeat daily or --repeat weekly"),
        )
    if spec.until is None:
        raise UsageError(T("--repeat needs --until DATE"), hint=T("e.g. --until 2026-12-31"))
    until = parse_date(spec.until, "--until")
    if until < wall_start.date():
        raise UsageError(
            T("--until {until} is before the first shift", until=until), hint=T("give a later --until date")
        )
    if datetime.combine(until, time()) - wall_start > MAX_REPEAT_SPAN:
        raise UsageError(
            T(
                "--until {until} is more than {max_repeat_span_days} days after the first shift",
                until=until,
                max_repeat_span_days=MAX_REPEAT_SPAN.days,
            ),
            hint=T("repeat for a year at most, and extend the roster later"),
        )
    step = timedelta(days=1 if spec.repeat == "daily" else 7)
    out: list[tuple[datetime, datetime]] = []
    k = 0
    while (wall_start + k * step).date() <= until:
        s, e = wall_start + k * step, wall_end + k * step
        out.append((local_instant(s, zone, "start"), local_instant(e, zone, "end")))
        k += 1
    return out


# --- gaps and overlaps ----------------------------------------------------------------------


def coverage_warnings(node: Node, desk: str, start: datetime, end: datetime) -> list[RosterWarning]:
    """Gaps (nobody on watch) and overlaps (two or more on watch) in [start, end).

    Only for a desk with a roster: a desk without one has opted out of the watch.
    """
    if not has_roster(node, desk):
        return []
    watch = shifts_between(node, desk, start, end, role="watch")
    # A sweep over shift boundaries: between two consecutive boundaries the set of
    # operators on watch is constant.
    points = sorted({start, end, *(max(s.start, start) for s in watch), *(min(s.end, end) for s in watch)})
    out: list[RosterWarning] = []
    for a, b in itertools.pairwise(points):
        on = [s for s in watch if s.start <= a and s.end >= b]
        kind = "gap" if not on else "overlap" if len(on) > 1 else None
        names = tuple(sorted({s.username for s in on}))
        last = out[-1] if out else None
        if kind is None:
            continue
        if last is not None and last.kind == kind and last.end == a and last.usernames == names:
            out[-1] = RosterWarning(kind, last.start, b, names)
        else:
            out.append(RosterWarning(kind, a, b, names))
    return out


def upcoming_warnings(node: Node, desk: str) -> list[RosterWarning]:
    now = node.clock.now().astimezone(UTC)
    return coverage_warnings(node, desk, now, now + LOOKAHEAD)


# --- changing -------------------------------------------------------------------------------


def add_shifts(
    node: Node, desk: str, specs: list[ShiftSpec], *, actor: str, replace: bool = False
) -> RosterChange:
    """Add shifts to ``desk``'s roster, all or none; warnings for the coming week.

    With ``replace``, the desk's shifts that have not started yet are removed in the same
    transaction (shifts under way and past ones stay: they are what happened).
    """
    from parley.directory.desks import require_desk

    require_desk(node, desk)
    if not specs:
        raise UsageError(T("no shifts given"), hint=T("add at least one shift"))
    planned: list[tuple[ShiftSpec, str | None, list[tuple[datetime, datetime]]]] = []
    total = 0
    for spec in specs:
        occurrences = expand(spec)
        total += len(occurrences)
        if total > MAX_BATCH:
            raise UsageError(
                T("this would add more than {max_batch} shifts at once", max_batch=MAX_BATCH),
                hint=T("add the roster in smaller parts (a shorter --until or a smaller file)"),
            )
        series = str(uuid.uuid4()) if spec.repeat else None
        planned.append((spec, series, occurrences))
    now = node.clock.now()
    ids: list[int] = []
    with node.engine.begin() as conn:
        for username, role in sorted({(p[0].username, p[0].role) for p in planned}):
            _check_operator(conn, username, desk, role)
        replaced = 0
        if replace:
            replaced = conn.execute(
                delete(shifts).where(shifts.c.desk == desk, shifts.c.start_at > now.astimezone(UTC))
            ).rowcount
        have = conn.execute(
            select(func.count()).select_from(shifts).where(shifts.c.desk == desk)
        ).scalar_one()
        if have + total > MAX_SHIFTS:
            raise UsageError(
                T(
                    "desk {desk!r} would hold {have_plus_total} shifts, more than {max_shifts}",
                    desk=desk,
                    have_plus_total=have + total,
                    max_shifts=MAX_SHIFTS,
                ),
                hint=T("remove past shifts with `parley roster remove` before adding more"),
            )
        for spec, series, occurrences in planned:
            for s, e in occurrences:
                result = conn.execute(
                    insert(shifts).values(
                        desk=desk,
                        username=spec.username,
                        role=spec.role,
                        start_at=s,
                        end_at=e,
                        tz=spec.tz,
                        series=series,
                        created_by=actor,
                        created_at=now,
                    )
                )
                pk = result.inserted_primary_key
                assert pk is not None
                ids.append(int(pk[0]))
        audit_txn(
            conn,
            now,
            actor,
            "roster_add",
            {
                "desk": desk,
                "shifts": len(ids),
                "first_id": ids[0],
                "replaced": int(replaced or 0),
                "operators": sorted({p[0].username for p in planned}),
            },
        )
    with node.reader.connect() as conn:
        rows = conn.execute(select(shifts).where(shifts.c.id.in_(ids)).order_by(shifts.c.start_at)).all()
    return RosterChange([_row_shift(r) for r in rows], upcoming_warnings(node, desk))


def remove_shift(node: Node, shift_id: int, *, actor: str) -> RosterChange:
    """Remove one shift; the warnings the desk's coming week has without it."""
    shift = get_shift(node, shift_id)
    with node.engine.begin() as conn:
        gone = conn.execute(delete(shifts).where(shifts.c.id == shift_id)).rowcount
        if not gone:
            raise NotFoundError(
                T("no shift with id {shift_id}", shift_id=shift_id), hint=T("see `parley roster show DESK`")
            )
        audit_txn(
            conn,
            node.clock.now(),
            actor,
            "roster_remove",
            {
                "desk": shift.desk,
                "shift": shift_id,
                "operator": shift.username,
                "start": shift.start.isoformat(),
                "end": shift.end.isoformat(),
            },
        )
    return RosterChange([shift], upcoming_warnings(node, shift.desk))
