"""Rosters on SQLite and PostgreSQL: who is on watch, warnings, refusals, the gap alarm.

Real nodes (``init_home``) on a ManualClock; the gap alarm is checked the way the service's
background loop checks it, and once through the loop itself, driven by the clock, not sleeps.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, func, select, text

from parley.clock import ManualClock
from parley.directory.desks import do_add_desk
from parley.directory.operators import do_add_operator
from parley.errors import NotFoundError, UsageError
from parley.node import Node, init_home
from parley.storage.tables import alarms, audit_log
from parley.watch import gaps, roster
from parley.watch.roster import ShiftSpec, add_shifts, on_watch, remove_shift, supervisors_on
from parley.watch.tables import shifts
from tests.conftest import PG_BASE, _driver_url, _drop, require_pg

PASSWORD = "correct horse battery"
START = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """One node per engine for the module (operators are slow to make: Argon2)."""
    db_url = None
    admin = None
    if request.param == "postgresql":
        require_pg()
        admin = create_engine(_driver_url(PG_BASE + "/postgres"), isolation_level="AUTOCOMMIT")
        name = "parley_test_roster_" + secrets.token_hex(4)
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        db_url = f"{PG_BASE}/{name}"
    base = tmp_path_factory.mktemp("roster")
    home = init_home(base / "n", name="n", party="Norway", listen="127.0.0.1:1", database_url=db_url)
    n = Node.open(home, clock=ManualClock(START))
    do_add_desk(n, "seed")
    for user, role in (("olsen", "duty"), ("hansen", "duty"), ("berg", "supervisor"), ("lund", "auditor")):
        do_add_operator(n, user, "seed", role, PASSWORD)
    try:
        yield n
    finally:
        n.close()
        if admin is not None:
            _drop(admin, name)
            admin.dispose()


@dataclass
class Desks:
    duty: str
    harbour: str


@pytest.fixture
def desks(shared: Node) -> Desks:
    """Two fresh desks on the shared node: ``duty`` with the four operators, ``harbour`` empty."""
    suffix = secrets.token_hex(3)
    d = Desks(f"duty-{suffix}", f"harbour-{suffix}")
    do_add_desk(shared, d.duty)
    do_add_desk(shared, d.harbour)
    for user, role in (("olsen", "duty"), ("hansen", "duty"), ("berg", "supervisor"), ("lund", "auditor")):
        do_add_operator(shared, user, d.duty, role, "")  # existing operators: a role only
    clock(shared).set(START)
    return d


@pytest.fixture
def node(shared: Node, desks: Desks) -> Node:
    return shared


def clock(node: Node) -> ManualClock:
    c = node.clock
    assert isinstance(c, ManualClock)
    return c


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def counts(node: Node) -> tuple[int, int]:
    with node.engine.connect() as conn:
        n_shifts = conn.execute(select(func.count()).select_from(shifts)).scalar_one()
        n_audit = conn.execute(select(func.count()).select_from(audit_log)).scalar_one()
    return n_shifts, n_audit


def spec(user: str, start: str, end: str, tz: str = "Europe/Oslo", **kw: str) -> ShiftSpec:
    return ShiftSpec(user, start, end, tz, **kw)


def test_on_watch_in_local_time_stored_as_utc(node: Node, desks: Desks) -> None:
    # 08:00-20:00 in Oslo (UTC+1 in winter) is 07:00-19:00 UTC; Moscow is UTC+3 all year.
    add_shifts(node, desks.duty, [spec("olsen", "2026-11-30T08:00", "2026-11-30T20:00")], actor="t")
    add_shifts(
        node, desks.duty, [spec("hansen", "2026-11-30T22:00", "2026-12-01T10:00", "Europe/Moscow")], actor="t"
    )
    assert on_watch(node, desks.duty, utc("2026-11-30T06:59:59")) == []
    assert on_watch(node, desks.duty, utc("2026-11-30T07:00")) == ["olsen"]
    assert on_watch(node, desks.duty, utc("2026-11-30T18:59")) == ["olsen"]
    assert on_watch(node, desks.duty, utc("2026-11-30T19:00")) == ["hansen"]  # end is exclusive
    assert on_watch(node, desks.duty, utc("2026-12-01T06:59")) == ["hansen"]
    assert on_watch(node, desks.duty, utc("2026-12-01T07:00")) == []
    assert on_watch(node, desks.harbour, utc("2026-11-30T12:00")) == []
    # An instant given in another zone means the same instant.
    oslo_noon = datetime(2026, 11, 30, 12, 0, tzinfo=roster.zone_of("Europe/Oslo"))
    assert on_watch(node, desks.duty, oslo_noon) == ["olsen"]
    shown = roster.shifts_between(node, desks.duty, utc("2026-11-30T00:00"), utc("2026-12-02T00:00"))
    assert [(s.start, s.end, s.tz) for s in shown] == [
        (utc("2026-11-30T07:00"), utc("2026-11-30T19:00"), "Europe/Oslo"),
        (utc("2026-11-30T19:00"), utc("2026-12-01T07:00"), "Europe/Moscow"),
    ]


def test_supervisors_from_shifts_else_from_memberships(node: Node, desks: Desks) -> None:
    at = utc("2026-11-30T12:00")
    assert supervisors_on(node, desks.duty, at) == ["berg"]  # no supervisor shift: the desk's supervisors
    do_add_operator(node, "olsen", desks.harbour, "supervisor", "")
    do_add_operator(node, "berg", desks.harbour, "supervisor", "")
    add_shifts(
        node,
        desks.harbour,
        [spec("olsen", "2026-11-30T08:00", "2026-11-30T20:00", role="supervisor")],
        actor="t",
    )
    assert supervisors_on(node, desks.harbour, at) == ["olsen"]
    assert on_watch(node, desks.harbour, at) == []  # a supervisor shift is not a watch
    with pytest.raises(UsageError, match="hansen has no role on desk"):
        add_shifts(node, desks.harbour, [spec("hansen", "2026-11-30T08:00", "2026-11-30T20:00")], actor="t")
    with pytest.raises(UsageError, match=r"role duty on desk .* and cannot stand a supervisor shift"):
        add_shifts(
            node,
            desks.duty,
            [spec("olsen", "2026-11-30T08:00", "2026-11-30T20:00", role="supervisor")],
            actor="t",
        )


def test_repeat_keeps_local_time_across_daylight_saving(node: Node, desks: Desks) -> None:
    # Oslo leaves summer time on 25 October 2026: 08:00 local is 06:00 UTC before, 07:00 after.
    clock(node).set(datetime(2026, 10, 20, tzinfo=UTC))
    change = add_shifts(
        node,
        desks.duty,
        [spec("olsen", "2026-10-24T08:00", "2026-10-24T20:00", repeat="daily", until="2026-10-26")],
        actor="t",
    )
    assert [(s.start, s.end) for s in change.shifts] == [
        (utc("2026-10-24T06:00"), utc("2026-10-24T18:00")),
        (utc("2026-10-25T07:00"), utc("2026-10-25T19:00")),
        (utc("2026-10-26T07:00"), utc("2026-10-26T19:00")),
    ]
    assert len({s.series for s in change.shifts}) == 1
    weekly = add_shifts(
        node,
        desks.duty,
        [spec("hansen", "2026-11-02T20:00", "2026-11-03T08:00", repeat="weekly", until="2026-11-30")],
        actor="t",
    )
    assert [s.start.date().isoformat() for s in weekly.shifts] == [
        "2026-11-02",
        "2026-11-09",
        "2026-11-16",
        "2026-11-23",
        "2026-11-30",
    ]


def test_gaps_and_overlaps_in_the_coming_week_warn_but_save(node: Node, desks: Desks) -> None:
    clock(node).set(utc("2026-11-30T07:00"))
    first = add_shifts(node, desks.duty, [spec("olsen", "2026-11-30T08:00", "2026-11-30T20:00")], actor="t")
    assert [(w.kind, w.start, w.end) for w in first.warnings] == [
        ("gap", utc("2026-11-30T19:00"), utc("2026-12-07T07:00"))
    ]
    second = add_shifts(node, desks.duty, [spec("hansen", "2026-11-30T19:00", "2026-12-07T08:00")], actor="t")
    assert [(w.kind, w.start, w.end, w.usernames) for w in second.warnings] == [
        ("overlap", utc("2026-11-30T18:00"), utc("2026-11-30T19:00"), ("hansen", "olsen"))
    ]
    assert len(roster.shifts_between(node, desks.duty, START, START + timedelta(days=30))) == 2  # both saved
    gone = remove_shift(node, second.shifts[0].id, actor="t")
    assert [w.kind for w in gone.warnings] == ["gap"]
    assert roster.coverage_warnings(node, desks.harbour, START, START + timedelta(days=7)) == []  # no roster


BAD_SHIFTS: list[tuple[ShiftSpec, str]] = [
    (spec("nobody", "2026-11-30T08:00", "2026-11-30T20:00"), "unknown operator 'nobody'"),
    (spec("lund", "2026-11-30T08:00", "2026-11-30T20:00"), "lund has the role auditor"),
    (spec("olsen", "2026-11-30T08:00", "2026-11-30T07:00"), "ends .* before it starts"),
    (spec("olsen", "2026-11-30T08:00", "2026-11-30T08:00"), "ends .* before it starts"),
    (spec("olsen", "2026-11-30T08:00", "2026-11-30T20:00", "Europe/Atlantis"), "unknown time zone"),
    (spec("olsen", "2026-11-30T08:00", "2026-11-30T20:00", "../../etc/passwd"), "unknown time zone"),
    (spec("olsen", "2026-11-30T08:00", "2026-12-07T08:01"), "longer than 7 days"),
    (spec("olsen", "2026-11-30T08:00", "2026-11-30T08:04"), "shorter than"),
    (spec("olsen", "2026-03-29T02:30", "2026-03-29T10:00"), "does not exist in Europe/Oslo"),
    (spec("olsen", "30.11.2026 08:00", "2026-11-30T20:00"), "is not a date and time"),
    (spec("olsen", "2026-11-30T08:00+01:00", "2026-11-30T20:00"), "carries a UTC offset"),
    (spec("olsen", "2026-11-30T08:00", "2026-11-30T20:00", role="chief"), "unknown shift role"),
    (spec("olsen", "2026-11-30T08:00", "2026-11-30T20:00", repeat="daily"), "needs --until"),
    (spec("olsen", "2026-11-30T08:00", "2026-11-30T20:00", until="2026-12-01"), "needs --repeat"),
    (
        spec("olsen", "2026-11-30T08:00", "2026-11-30T20:00", repeat="hourly", until="2026-12-01"),
        "unknown repeat",
    ),
    (
        spec("olsen", "2026-11-30T08:00", "2026-11-30T20:00", repeat="daily", until="2026-11-01"),
        "before the first",
    ),
    (
        spec("olsen", "2026-11-30T08:00", "2026-11-30T20:00", repeat="daily", until="2028-01-01"),
        "more than 366 days",
    ),
]


def test_bad_input_is_refused_and_changes_nothing(node: Node, desks: Desks) -> None:
    good = spec("olsen", "2026-12-01T08:00", "2026-12-01T20:00")
    before = counts(node)
    for bad, message in BAD_SHIFTS:
        with pytest.raises((UsageError, NotFoundError), match=message):
            add_shifts(node, desks.duty, [good, bad], actor="t")  # all or none: the good one is not saved
        assert counts(node) == before, bad


def test_unknown_desk_and_unknown_shift(node: Node, desks: Desks) -> None:
    with pytest.raises(NotFoundError, match="unknown desk 'nowhere'"):
        add_shifts(node, "nowhere", [spec("olsen", "2026-11-30T08:00", "2026-11-30T20:00")], actor="t")
    with pytest.raises(NotFoundError, match="no shift with id 99"):
        remove_shift(node, 99, actor="t")


def test_bounds_on_shifts_per_desk_and_per_request(
    node: Node, desks: Desks, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(roster, "MAX_SHIFTS", 5)
    add_shifts(
        node,
        desks.duty,
        [spec("olsen", "2026-11-30T08:00", "2026-11-30T20:00", repeat="daily", until="2026-12-03")],
        actor="t",
    )
    before = counts(node)
    with pytest.raises(UsageError, match="would hold 6 shifts, more than 5"):
        add_shifts(
            node,
            desks.duty,
            [spec("olsen", "2026-12-10T08:00", "2026-12-10T20:00", repeat="daily", until="2026-12-11")],
            actor="t",
        )
    assert counts(node) == before
    monkeypatch.setattr(roster, "MAX_BATCH", 3)
    with pytest.raises(UsageError, match="more than 3 shifts at once"):
        add_shifts(
            node,
            desks.harbour,
            [spec("olsen", "2026-12-10T08:00", "2026-12-10T20:00", repeat="daily", until="2026-12-13")],
            actor="t",
        )
    assert counts(node) == before


def test_changes_are_audited(node: Node, desks: Desks) -> None:
    change = add_shifts(
        node, desks.duty, [spec("olsen", "2026-11-30T08:00", "2026-11-30T20:00")], actor="berg"
    )
    remove_shift(node, change.shifts[0].id, actor="berg")
    with node.engine.connect() as conn:
        rows = conn.execute(select(audit_log.c.actor, audit_log.c.action).order_by(audit_log.c.id)).all()
    assert [(r.actor, r.action) for r in rows][-2:] == [("berg", "roster_add"), ("berg", "roster_remove")]


def open_alarms(node: Node, desks: Desks) -> list[tuple[str, datetime]]:
    with node.engine.connect() as conn:
        rows = conn.execute(
            select(alarms.c.subject, alarms.c.raised_at).where(
                alarms.c.kind == "watch_gap",
                alarms.c.subject == f"desk:{desks.duty}",
                alarms.c.cleared_at.is_(None),
            )
        ).all()
    return [
        (r.subject, r.raised_at.replace(tzinfo=UTC) if r.raised_at.tzinfo is None else r.raised_at)
        for r in rows
    ]


def mine(node: Node, desks: Desks) -> list[gaps.GapChange]:
    """One check, as the service's loop makes it; the changes at this test's desks."""
    return [c for c in gaps.check_gaps(node) if c.desk in (desks.duty, desks.harbour)]


def test_gap_alarm_raised_when_the_gap_begins_and_cleared_when_covered(node: Node, desks: Desks) -> None:
    c = clock(node)
    c.set(utc("2026-11-30T06:00"))
    add_shifts(node, desks.duty, [spec("olsen", "2026-11-30T08:00", "2026-11-30T20:00")], actor="t")
    add_shifts(node, desks.duty, [spec("hansen", "2026-12-01T08:00", "2026-12-01T20:00")], actor="t")
    assert mine(node, desks) == []  # the roster has not begun yet: nothing to miss
    c.set(utc("2026-11-30T07:00"))
    assert mine(node, desks) == []  # olsen is on watch
    c.set(utc("2026-11-30T19:00"))
    assert mine(node, desks) == [gaps.GapChange(desks.duty, True)]
    assert open_alarms(node, desks) == [(f"desk:{desks.duty}", utc("2026-11-30T19:00"))]
    c.advance(1800)
    assert mine(node, desks) == []  # raised once, not once per check
    assert len(open_alarms(node, desks)) == 1
    with node.engine.connect() as conn:
        message = conn.execute(
            select(alarms.c.message).where(alarms.c.subject == f"desk:{desks.duty}")
        ).scalar_one()
    assert f"nobody is on watch at desk {desks.duty}; the next shift starts 2026-12-01 07:00 UTC" in message
    c.set(utc("2026-12-01T07:00"))
    assert mine(node, desks) == [gaps.GapChange(desks.duty, False)]
    assert open_alarms(node, desks) == []
    # The harbour desk has no roster: it raises nothing.
    c.set(utc("2026-12-05T07:00"))
    assert mine(node, desks) == [gaps.GapChange(desks.duty, True)]


def test_clearing_a_roster_clears_its_alarm(node: Node, desks: Desks) -> None:
    c = clock(node)
    c.set(utc("2026-11-30T07:00"))
    change = add_shifts(node, desks.duty, [spec("olsen", "2026-11-30T08:00", "2026-11-30T20:00")], actor="t")
    c.set(utc("2026-11-30T20:00"))
    assert mine(node, desks) == [gaps.GapChange(desks.duty, True)]
    remove_shift(node, change.shifts[0].id, actor="t")
    assert mine(node, desks) == [gaps.GapChange(desks.duty, False)]
    assert open_alarms(node, desks) == []


def test_the_service_loop_raises_the_alarm_on_the_nodes_clock(node: Node, desks: Desks) -> None:
    from parley.running.service import Service

    c = clock(node)
    c.set(utc("2026-11-30T07:00"))
    add_shifts(node, desks.duty, [spec("olsen", "2026-11-30T08:00", "2026-11-30T20:00")], actor="t")
    c.set(utc("2026-11-30T19:30"))

    async def run() -> dict[str, object]:
        service = Service(node, tick_s=0.05)
        events: asyncio.Queue[dict[str, object]] = asyncio.Queue()
        service.listeners.add(events)
        task = asyncio.ensure_future(gaps.gap_loop(service))
        try:
            async with asyncio.timeout(10):
                while True:  # other tests' desks share this node: wait for this one's
                    event = await events.get()
                    if event.get("desk") == desks.duty:
                        return event
        finally:
            service.stop.set()
            await asyncio.wait_for(task, timeout=10)

    assert asyncio.run(run()) == {"event": "watch_gap", "desk": desks.duty, "open": True}
    assert open_alarms(node, desks) == [(f"desk:{desks.duty}", utc("2026-11-30T19:30"))]


def test_a_disabled_operator_is_nobody_on_watch(node: Node, desks: Desks) -> None:
    from sqlalchemy import update

    from parley.storage.tables import operators

    leaver = f"leaver-{desks.duty[-6:]}"
    do_add_operator(node, leaver, desks.duty, "supervisor", PASSWORD)
    add_shifts(node, desks.duty, [spec(leaver, "2026-11-30T08:00", "2026-11-30T20:00")], actor="t")
    add_shifts(
        node, desks.duty, [spec(leaver, "2026-11-30T08:00", "2026-11-30T20:00", role="supervisor")], actor="t"
    )
    at = utc("2026-11-30T12:00")
    assert (on_watch(node, desks.duty, at), supervisors_on(node, desks.duty, at)) == ([leaver], [leaver])
    with node.engine.begin() as conn:
        conn.execute(update(operators).where(operators.c.username == leaver).values(disabled=True))
    assert on_watch(node, desks.duty, at) == []
    assert supervisors_on(node, desks.duty, at) == ["berg"]  # the desk's supervisors instead
