"""Escalation chains fire on a ManualClock and page real people through a real SMTP server.

Two real homes (SQLite and PostgreSQL) on one ManualClock; the mail goes over SMTP to an
in-process aiosmtpd server (tests/harness/smtp.py). No sleeps: time moves by ``advance``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from parley.messaging.views import message_detail
from parley.storage.tables import alarms
from parley.watch.chains import set_chain
from parley.watch.paging import deliver_due, escalation_tick, pages_for
from parley.watch.paging_tables import pages
from tests.harness.smtp import SmtpSink
from tests.watch.paging_support import (
    FLASH_S,
    acknowledge,
    add_people,
    audit_actions,
    deliver,
    make_nodes,
    send,
)


def _open_alarms(node: object, kind: str) -> list[str]:
    with node.reader.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(select(alarms).where(alarms.c.kind == kind, alarms.c.cleared_at.is_(None))).all()
    return [r.message for r in rows]


def test_chain_steps_fire_at_their_times_to_the_right_people_and_an_ack_stops_the_chain(
    tmp_path: Path, engine_kind: str, request: pytest.FixtureRequest
) -> None:
    pair = make_nodes(tmp_path, engine_kind, request)
    a, b, clock = pair.a, pair.b, pair.clock
    mail = add_people(b)
    set_chain(
        b,
        "duty",
        "FLASH",
        ["0:console", "60:watch", "180:supervisor", "240:operator:head"],
        "test",
    )
    with SmtpSink() as sink:
        b.config.pager.smtp_url = sink.url
        b.config.pager.from_address = "parley@node-b.example"

        env = send(a, "FLASH: vessel aground")
        deliver(a, b, env)

        def tick() -> None:
            escalation_tick(b)
            deliver_due(b)

        tick()  # the console step: recorded, nobody paged
        assert pages_for(b, env.id) == []
        assert [d["target"] for action, d in audit_actions(b) if action == "page_step"] == ["console"]

        clock.advance(59)
        tick()
        assert sink.messages == [], "nothing before the 60 s step"

        clock.advance(1)
        tick()
        first = sink.wait_for(lambda m: mail["officer"] in str(m["To"]), timeout=5)
        assert len(sink.messages) == 1, "only the officer on watch at 60 s"
        # In the officer's language (nb), naming precedence, channel and deadline, with a link.
        # An exercise says so first; then the precedence, in the officer's language.
        assert str(first["Subject"]).startswith("[ØVELSE] [FLASH] Ikke bekreftet")
        body = first.get_content()
        assert env.id in body
        assert "test-line" in body
        assert "Frist for bekreftelse" in body
        assert f"/console/messages/{env.id}" in body
        assert "Den har ventet i 1 minutt." in body  # ngettext: singular

        clock.advance(119)  # 179 s
        tick()
        assert len(sink.messages) == 1
        clock.advance(1)  # 180 s: the supervisor, in Russian, with the Russian plural
        tick()
        chief = sink.wait_for(lambda m: mail["chief"] in str(m["To"]), timeout=5)
        assert "Не подтверждено" in str(chief["Subject"])
        assert "3 минуты" in chief.get_content()

        clock.advance(60)  # 240 s: the head of desk's page is queued …
        escalation_tick(b)
        acknowledge(pair, env, "officer")  # … and the acknowledgment comes first
        result = deliver_due(b)
        assert result.cancelled == 1
        assert result.sent == 0
        clock.advance(FLASH_S)
        tick()
        assert len(sink.messages) == 2, "nothing after the acknowledgment"
        assert sink.to(mail["head"]) == []

    shown = message_detail(b, env.id, "en")["pages"]
    assert [(p["recipient"], p["medium"], p["state"]) for p in shown] == [
        ("officer", "email", "sent"),
        ("chief", "email", "sent"),
        ("head", "email", "cancelled"),
    ]
    actions = [action for action, _ in audit_actions(b)]
    assert actions.count("page_sent") == 2
    assert actions.count("page_cancelled") == 1


def test_the_sender_side_pages_its_own_desk_from_the_deadline(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    pair = make_nodes(tmp_path, "sqlite", request)
    a, b, clock = pair.a, pair.b, pair.clock
    mail = add_people(a, domain="node-a.example")
    set_chain(a, "duty", "FLASH", ["0:watch", "120:supervisor"], "test")
    with SmtpSink() as sink:
        a.config.pager.smtp_url = sink.url
        a.config.pager.from_address = "parley@node-a.example"
        env = send(a, "FLASH: please answer")
        deliver(a, b, env)
        clock.advance(FLASH_S - 1)
        escalation_tick(a)
        deliver_due(a)
        assert sink.messages == [], "the sender's chain starts at the deadline"
        clock.advance(1)
        escalation_tick(a)
        deliver_due(a)
        officer = sink.wait_for(lambda m: mail["officer"] in str(m["To"]), timeout=5)
        assert "motparten" in officer.get_content()  # "not acknowledged by the other side"
        clock.advance(120)
        escalation_tick(a)
        deliver_due(a)
        sink.wait_for(lambda m: mail["chief"] in str(m["To"]), timeout=5)
    assert {p["side"] for p in pages_for(a, env.id)} == {"sent"}


def test_mail_server_down_is_retried_from_the_database_nothing_lost_no_duplicate(
    tmp_path: Path, engine_kind: str, request: pytest.FixtureRequest
) -> None:
    from parley.node import Node

    pair = make_nodes(tmp_path, engine_kind, request)
    a, b, clock = pair.a, pair.b, pair.clock
    mail = add_people(b)
    set_chain(b, "duty", "FLASH", ["0:watch"], "test")
    sink = SmtpSink()  # not started: the mail server is down
    try:
        b.config.pager.smtp_url = sink.url
        b.config.pager.from_address = "parley@node-b.example"
        b.config.pager.alarm_after_failures = 3
        b.config.pager.alarm_after_s = 120
        env = send(a, "FLASH: server down")
        deliver(a, b, env)
        escalation_tick(b)
        first = deliver_due(b)
        assert (first.sent, first.failed) == (0, 1)
        assert deliver_due(b).failed == 0, "not again before the backoff"
        clock.advance(15)
        assert deliver_due(b).failed == 1
        clock.advance(30)
        assert deliver_due(b).failed == 1
        assert len(_open_alarms(b, "pager_failing")) == 1, "three failures in a row raise the alarm"
        clock.advance(60)  # 105 s since due; the backoff is now 60 s
        assert deliver_due(b).failed == 1
        clock.advance(20)  # 125 s: still not delivered after alarm_after_s
        deliver_due(b)
        assert len(_open_alarms(b, "page_undelivered")) == 1

        # The node restarts: everything it still has to do is in the database.
        home, config = b.home, b.config
        b.close()
        b = Node.open(home, clock=clock)
        b.config = config
        request.addfinalizer(b.close)

        sink.start()  # the mail server is back
        clock.advance(120)
        done = deliver_due(b)
        assert (done.sent, done.failed) == (1, 0)
        sink.wait_for(lambda m: mail["officer"] in str(m["To"]), timeout=5)
        clock.advance(3600)
        escalation_tick(b)
        deliver_due(b)
        assert len(sink.messages) == 1, "delivered exactly once"
        assert _open_alarms(b, "pager_failing") == [], "the next success clears the alarm"
    finally:
        sink.close()
    with b.reader.connect() as conn:
        row = conn.execute(select(pages)).one()
    assert (row.state, row.attempts) == ("sent", 5)
    failures = [d for action, d in audit_actions(b) if action == "page_failed"]
    assert len(failures) == 4
    assert all("ConnectionRefused" in d["error"] for d in failures)


def test_a_recipient_without_an_address_is_a_visible_failure(
    tmp_path: Path, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    from parley.directory.contacts import set_contact

    pair = make_nodes(tmp_path, "sqlite", request)
    add_people(pair.b)
    set_contact(pair.b, "officer", clear=True)
    set_chain(pair.b, "duty", "FLASH", ["0:watch/email"], "test")
    env = send(pair.a, "FLASH: nobody reachable")
    deliver(pair.a, pair.b, env)
    escalation_tick(pair.b)
    [shown] = pages_for(pair.b, env.id)
    assert shown["state"] == "failed"
    assert "no e-mail address" in shown["last_error"]
    assert ("page_failed", "officer") in [(a, d.get("recipient")) for a, d in audit_actions(pair.b)]
    from parley.cli.main import main

    assert main(["--home", str(pair.b.home), "show", env.id]) == 0
    shown_page = capsys.readouterr().out
    assert "page failed: officer by e-mail (desk duty, officer on watch" in shown_page
    assert "operator officer has no e-mail address" in shown_page


def test_a_desk_without_a_chain_keeps_the_escalation_settings_and_with_one_pages_instead(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from parley.messaging.deadlines import escalate_overdue
    from parley.storage.tables import escalations

    calls: list[str] = []
    pair = make_nodes(tmp_path, "sqlite", request, {"escalation": {"supervisor_desk": "duty"}})
    pair.b.config.escalation.webhook_url = "http://example.invalid/hook"
    first = send(pair.a, "FLASH: no chain yet")
    deliver(pair.a, pair.b, first)
    set_chain(pair.b, "duty", "IMMEDIATE", ["0:console"], "test")
    second = send(pair.a, "IMMEDIATE: chained", precedence="IMMEDIATE")
    deliver(pair.a, pair.b, second)
    pair.clock.advance(4000)

    def post(url: str, body: dict[str, str]) -> int:
        calls.append(body["message_id"])
        return 200

    escalate_overdue(pair.b, post=post)
    assert calls == [first.id], "the webhook only for the desk without a chain"
    with pair.b.reader.connect() as conn:
        rows = {r.message_id: r for r in conn.execute(select(escalations))}
    assert rows[first.id].notified_desk == "duty"
    assert rows[second.id].notified_desk is None
    assert rows[second.id].webhook_status == "chain"


def test_a_page_is_claimed_by_one_sender_only(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Two processes of one node on a shared database both see a due page: one sends it."""
    from parley.node import Node
    from parley.watch.paging import _claim

    pair = make_nodes(tmp_path, "sqlite", request)
    add_people(pair.b)
    set_chain(pair.b, "duty", "FLASH", ["0:watch"], "test")
    deliver(pair.a, pair.b, send(pair.a, "FLASH: two senders"))
    escalation_tick(pair.b)
    other = Node.open(pair.b.home, clock=pair.clock)
    request.addfinalizer(other.close)
    with pair.b.reader.connect() as conn:
        seen_by_both = conn.execute(select(pages)).one()
    assert _claim(pair.b, seen_by_both)
    assert not _claim(other, seen_by_both), "the second process finds it taken"
