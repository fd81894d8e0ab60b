"""Meeting cadence from the charter: due dates, overdue flags in `parley status`."""

from __future__ import annotations

from datetime import UTC, datetime

from parley.running.status import node_status
from parley.workflows.cadence import add_months, cadence_due
from parley.workflows.meetings import list_meetings
from tests.workflows.support import Pair
from tests.workflows.test_meetings import hold

CADENCE = [
    {"kind": "protocol-meeting", "level": "commissioners", "every_months": 12},
    {"kind": "preparatory", "level": "staff", "before_months": 2},
]
CREATED = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def test_add_months_clamps_the_day() -> None:
    assert add_months(datetime(2027, 1, 31, tzinfo=UTC), 1) == datetime(2027, 2, 28, tzinfo=UTC)
    assert add_months(datetime(2028, 1, 31, tzinfo=UTC), 1) == datetime(2028, 2, 29, tzinfo=UTC)
    assert add_months(datetime(2026, 3, 15, tzinfo=UTC), -2) == datetime(2026, 1, 15, tzinfo=UTC)
    assert add_months(datetime(2026, 11, 1, tzinfo=UTC), 14) == datetime(2028, 1, 1, tzinfo=UTC)


def test_a_new_channel_is_due_a_year_after_creation() -> None:
    before = cadence_due("c", CADENCE, [], CREATED, datetime(2027, 2, 28, tzinfo=UTC))
    assert [(d.kind, d.due, d.overdue) for d in before] == [
        ("protocol-meeting", "2027-03-01T09:00:00.000Z", False),
        ("preparatory", "2027-01-01T09:00:00.000Z", True),
    ]
    after = cadence_due("c", CADENCE, [], CREATED, datetime(2027, 3, 11, 9, 0, tzinfo=UTC))
    assert after[0].overdue
    assert after[0].days_overdue == 10


def test_held_meetings_move_the_due_dates_and_status_flags_the_lapse(sqlite_pair: Pair) -> None:
    pair = sqlite_pair
    a = pair.a
    assert node_status(a)["meetings_overdue"] == []
    pair.clock.set(datetime(2026, 6, 1, tzinfo=UTC))
    hold(pair, "border-staff-2026", "2026-06-01T08:00:00Z", level="staff")
    hold(pair, "border-protocol-2026", "2026-08-10T08:00:00Z")
    due = cadence_due("border-1949", CADENCE, list_meetings(a), CREATED, datetime(2027, 6, 1, tzinfo=UTC))
    assert [(d.kind, d.due, d.last_held, d.overdue) for d in due] == [
        ("protocol-meeting", "2027-08-10T08:00:00.000Z", "2026-08-10T08:00:00.000Z", False),
        # The staff meeting of June 2026 prepared the 2026 meeting, not the next one.
        ("preparatory", "2027-06-10T08:00:00.000Z", None, False),
    ]
    # A proposed meeting moves the preparatory due date to two months before its start.
    from parley.workflows.meetings import do_propose_meeting
    from tests.workflows.support import proposal

    do_propose_meeting(a, "border-1949", proposal("border-protocol-2027", start="2027-05-03T08:00:00Z"))
    due = cadence_due("border-1949", CADENCE, list_meetings(a), CREATED, datetime(2027, 3, 10, tzinfo=UTC))
    assert (due[1].due, due[1].scheduled, due[1].overdue) == (
        "2027-03-03T08:00:00.000Z",
        None,
        True,
    )
    assert due[0].scheduled == "2027-05-03T08:00:00.000Z"

    # In `parley status`: nothing overdue before the due date, flagged the day after.
    pair.clock.set(datetime(2027, 2, 1, tzinfo=UTC))
    assert node_status(a)["meetings_overdue"] == []
    pair.clock.set(datetime(2027, 8, 20, tzinfo=UTC))
    flagged = node_status(a)["meetings_overdue"]
    assert [(f["channel"], f["kind"], f["days_overdue"]) for f in flagged] == [
        ("border-1949", "protocol-meeting", 9),
        ("border-1949", "preparatory", 169),
    ]
