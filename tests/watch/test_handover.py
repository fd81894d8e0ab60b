"""Handover on SQLite and PostgreSQL: the note, the generated open items, the confirmation.

Two real nodes in one process on a ManualClock (``tests.workflows.support``): node B sends
through the real receiving path, so node A's open items come from a real record: a FLASH
not yet acknowledged, then overdue; A's own message overdue at B; an open incident; a
meeting due; and the charter's meeting cadence.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from parley.directory.operators import do_add_operator
from parley.errors import ConflictError, ForbiddenError, NotFoundError, UsageError
from parley.messaging.acknowledge import do_acknowledge
from parley.messaging.send import Draft, do_send_message
from parley.node import Node
from parley.storage.tables import audit_log
from parley.watch.handover import (
    HandoverItem,
    confirm_handover,
    get_handover,
    list_handovers,
    open_items,
    start_handover,
)
from tests.workflows.support import DESK, PASSWORD, Pair, border_incident, deliver, make_pair, proposal

GENERAL = {"text": "Fartøy observert ved grensemerke 353.", "lang": "nb"}


@pytest.fixture
def pair(tmp_path: Path, db_url: str) -> Iterator[Pair]:
    p = make_pair(tmp_path, db_url)
    do_add_operator(p.a, "relief", DESK, "duty", PASSWORD)
    do_add_operator(p.a, "reader", DESK, "auditor", PASSWORD)
    yield p
    p.close()


def send(node: Node, precedence: str, type_: str = "general", body: dict[str, Any] | None = None) -> str:
    env = do_send_message(node, Draft("border-1949", DESK, type_, precedence, "ACTUAL", body or GENERAL))
    return env.id


def kinds(items: list[HandoverItem]) -> list[tuple[str, str]]:
    return [(i.kind, i.ref) for i in items]


def test_open_items_come_from_the_record(pair: Pair) -> None:
    a, b = pair.a, pair.b
    assert kinds(open_items(a, DESK)) == []
    flash = send(b, "FLASH")
    routine = send(b, "ROUTINE")
    ours = send(a, "FLASH")
    incident = send(b, "IMMEDIATE", "border-incident", border_incident())
    meeting = do_send_message(
        b,
        Draft(
            "border-1949",
            DESK,
            "meeting-proposal",
            "ROUTINE",
            "ACTUAL",
            proposal("m-1", start="2026-03-05T08:00:00Z"),
        ),
    )
    deliver(b, a)
    deliver(a, b)
    items = open_items(a, DESK)
    assert ("unacknowledged", flash) in kinds(items)
    assert ("unacknowledged", routine) in kinds(items)
    assert ("incident", incident) in kinds(items)
    assert ("meeting", "m-1") in kinds(items)
    # The staff meeting that prepares m-1 was due two months before it (the charter's cadence).
    assert ("cadence", "border-1949") in kinds(items)
    assert ("unacknowledged", ours) not in kinds(items)  # our own message waits at B, not here
    flash_item = next(i for i in items if i.ref == flash)
    assert flash_item.params["precedence"] == "FLASH"
    assert flash_item.params["due"].startswith("2026-03-01T09:05")  # receipt + the charter's 300 s
    pair.clock.advance(301)
    items = open_items(a, DESK)
    assert ("overdue_in", flash) in kinds(items)
    assert ("overdue_out", ours) in kinds(items)
    assert ("unacknowledged", flash) not in kinds(items)  # listed once, as overdue
    do_acknowledge(a, flash, pair.operator(a), DESK)
    do_acknowledge(a, routine, pair.operator(a), DESK)
    assert flash not in [i.ref for i in open_items(a, DESK)]
    assert routine not in [i.ref for i in open_items(a, DESK)]
    assert meeting.id  # the proposal is the meeting; its item names the meeting id
    assert open_items(a, "no-such-desk") == []


def test_start_and_confirm_are_stored_and_audited_and_bad_ones_refused(pair: Pair) -> None:
    a, b = pair.a, pair.b
    flash = send(b, "FLASH")
    deliver(b, a)
    h = start_handover(a, DESK, "op-no-border", "  Radar 2 is down; Kirkenes informed.\n")
    assert h.note == "Radar 2 is down; Kirkenes informed."
    assert kinds(h.items) == [("unacknowledged", flash)]
    assert h.incoming is None
    # The list is kept as it was shown, even after the item is dealt with.
    do_acknowledge(a, flash, pair.operator(a), DESK)
    pair.clock.advance(60)
    done = confirm_handover(a, h.id, "relief")
    assert (done.incoming, done.confirmed_at) == ("relief", pair.clock.now())
    assert kinds(get_handover(a, h.id).items) == [("unacknowledged", flash)]
    assert [x.id for x in list_handovers(a, DESK)] == [h.id]
    with a.engine.connect() as conn:
        rows = conn.execute(
            select(audit_log.c.actor, audit_log.c.action, audit_log.c.details)
            .where(audit_log.c.action.like("handover_%"))
            .order_by(audit_log.c.id)
        ).all()
    assert [(r.actor, r.action) for r in rows] == [
        ("op-no-border", "handover_start"),
        ("relief", "handover_confirm"),
    ]
    assert json.loads(rows[0].details)["items"]["unacknowledged"] == 1
    assert json.loads(rows[1].details) == {"handover": h.id, "desk": DESK, "outgoing": "op-no-border"}

    # Refusals: each says what is wrong and changes nothing.
    h = start_handover(a, DESK, "op-no-border", "Quiet.")

    def audit_rows() -> int:
        with a.engine.connect() as conn:
            return len(conn.execute(select(audit_log.c.id)).all())

    before = audit_rows()
    cases: list[tuple[Callable[[], object], type[Exception], str]] = [
        (lambda: start_handover(a, DESK, "op-no-border", ""), UsageError, "note is empty"),
        (lambda: start_handover(a, DESK, "op-no-border", "x" * 2001), UsageError, "over 2000"),
        (lambda: start_handover(a, DESK, "op-no-border", "a\x1b[2Jb"), UsageError, "control characters"),
        (lambda: start_handover(a, DESK, "reader", "hi"), ForbiddenError, "the role auditor"),
        (lambda: start_handover(a, DESK, "nobody", "hi"), NotFoundError, "unknown operator"),
        (lambda: start_handover(a, "nowhere", "relief", "hi"), NotFoundError, "unknown desk"),
        (lambda: confirm_handover(a, h.id, "op-no-border"), UsageError, "cannot also confirm"),
        (lambda: confirm_handover(a, h.id, "reader"), ForbiddenError, "the role auditor"),
        (lambda: confirm_handover(a, "missing", "relief"), NotFoundError, "no handover"),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()
    assert audit_rows() == before
    assert get_handover(a, h.id).incoming is None
    confirm_handover(a, h.id, "relief")
    with pytest.raises(ConflictError, match="already confirmed by relief"):
        confirm_handover(a, h.id, "op-no-border")
