"""Backoff, acknowledgment deadlines and link tests, driven by a ManualClock (no sleeps).

Everything here runs in-process against real databases (SQLite and PostgreSQL): the
clock is the only thing the test controls. The two nodes' homes are real, built the way
operators build them; messages move between them by calling the same functions the
federation handlers call (``receive_batch``, ``accept_receipts``, ``answer_link_test``).
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from parley.clock import ManualClock, format_time
from parley.config import LinkTestSection
from parley.federation.backoff import backoff_delay
from parley.federation.client import PeerClient
from parley.federation.linktest import (
    DEGRADED,
    DOWN,
    UP,
    answer_link_test,
    due_tests,
    evaluate,
    make_request,
    record_result,
)
from parley.federation.sender import PeerSender
from parley.messaging.acknowledge import do_acknowledge
from parley.messaging.deadlines import DeadlineWatch, escalate_overdue, overdue_messages
from parley.messaging.receipts import accept_receipts
from parley.messaging.receive import receive_batch
from parley.messaging.send import Draft, do_send_message
from parley.node import Node
from parley.protocol.envelope import SignedEnvelope
from parley.storage.tables import (
    acknowledgments,
    alarms,
    delivery,
    escalations,
    link_state,
    link_tests,
)
from tests.federation.crafting import quick_pair

START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
FLASH_S = 300


@dataclass
class Pair:
    clock: ManualClock
    a: Node
    b: Node


class Webhook:
    """A tiny real HTTP server on loopback that records what it is sent."""

    def __init__(self) -> None:
        calls: list[dict[str, Any]] = []
        self.calls = calls

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                calls.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    try:
        yield hook
    finally:
        hook.close()


def make_nodes(
    tmp_path: Path,
    engine_kind: str,
    request: pytest.FixtureRequest,
    config: dict[str, dict[str, Any]] | None = None,
) -> Pair:
    urls: tuple[str | None, str | None] = (None, None)
    if engine_kind == "postgresql":
        factory: Callable[[], str] = request.getfixturevalue("pg_factory")
        urls = (factory(), factory())
    a_proc, b_proc = quick_pair(tmp_path, db_urls=urls, config=config, flash=FLASH_S)
    clock = ManualClock(START)
    a = Node.open(a_proc.home, clock=clock)
    b = Node.open(b_proc.home, clock=clock)
    request.addfinalizer(a.close)
    request.addfinalizer(b.close)
    return Pair(clock, a, b)


def send(node: Node, text: str, precedence: str = "FLASH") -> SignedEnvelope:
    draft = Draft("test-line", "duty", "general", precedence, "EXERCISE", {"text": text, "lang": "en"})
    return do_send_message(node, draft)


def deliver(pair: Pair, env: SignedEnvelope, sender: Node, receiver: Node) -> None:
    """What the link does: the receiver stores and receipts, the sender accepts the receipt."""
    result = receive_batch(receiver, sender.name, [env.to_wire()])
    accepted = accept_receipts(sender, receiver.name, [r.to_json() for r in result.receipts])
    assert accepted, "the receipt must be new to the sender"


# --- backoff ------------------------------------------------------------------------------


def test_backoff_delay_doubles_within_jitter_and_caps() -> None:
    rng = random.Random(7)
    for failures in range(1, 12):
        base = min(60.0, 0.5 * 2 ** (failures - 1))
        d = backoff_delay(failures, 0.5, 60.0, rng)
        assert base / 2 <= d <= base, (failures, d)
    assert backoff_delay(0, 0.5, 60.0, rng) == 0.0
    assert backoff_delay(10_000, 0.5, 60.0, rng) <= 60.0


def _sender(node: Node, peer_cert: str) -> PeerSender:
    client = PeerClient(node, "node-b", "https://127.0.0.1:1", peer_cert, 1.0)
    return PeerSender(node, client, owner="test")


def _close(sender: PeerSender) -> None:
    asyncio.run(sender.client.close())


def test_backoff_grows_caps_resets_and_survives_restart(
    tmp_path: Path, engine_kind: str, request: pytest.FixtureRequest
) -> None:
    cfg: dict[str, dict[str, Any]] = {"federation": {"backoff_initial_s": 1.0, "backoff_max_s": 16.0}}
    pair = make_nodes(tmp_path, engine_kind, request, cfg)
    cert = pair.b.tls_cert_pem()
    sender = _sender(pair.a, cert)
    try:
        assert sender.seconds_until_allowed() == 0.0
        waits = []
        for failures in range(1, 9):
            sender.record_failure("connection refused", refused=False)
            wait = sender.seconds_until_allowed()
            base = min(16.0, 2.0 ** (failures - 1))
            assert base / 2 <= wait <= base, (failures, wait)
            waits.append(wait)
        assert max(waits) <= 16.0
        assert min(waits[5:]) >= 8.0, "at the ceiling the wait stays in its upper half"

        # Time passes: the wait runs down with the clock, not with the wall.
        pair.clock.advance(waits[-1] / 2)
        assert sender.seconds_until_allowed() == pytest.approx(waits[-1] / 2, abs=0.01)
    finally:
        _close(sender)

    # A restart (new process, same database) keeps backing off where it was.
    pair.a.close()
    reopened = Node.open(pair.a.home, clock=pair.clock)
    request.addfinalizer(reopened.close)
    again = _sender(reopened, cert)
    try:
        assert again.seconds_until_allowed() == pytest.approx(waits[-1] / 2, abs=0.01)
        pair.clock.advance(waits[-1])
        assert again.seconds_until_allowed() == 0.0

        again.record_success()
        assert again.seconds_until_allowed() == 0.0
        again.record_failure("connection refused", refused=False)
        assert again.seconds_until_allowed() <= 1.0, "a success resets the count"

        # A refusal (4xx) waits at the ceiling at once: the same bytes would be refused again.
        again.record_success()
        again.record_failure("peer refused", refused=True)
        assert 8.0 <= again.seconds_until_allowed() <= 16.0
    finally:
        _close(again)


# --- deadlines ----------------------------------------------------------------------------


def test_deadline_same_due_time_both_sides_escalates_once_and_late_ack_is_marked(
    tmp_path: Path, engine_kind: str, request: pytest.FixtureRequest, webhook: Webhook
) -> None:
    cfg: dict[str, dict[str, Any]] = {
        "escalation": {"supervisor_desk": "watch-supervisor", "webhook_url": webhook.url}
    }
    pair = make_nodes(tmp_path, engine_kind, request, cfg)
    a, b, clock = pair.a, pair.b, pair.clock

    late_msg = send(a, "FLASH: vessel aground")
    on_time_msg = send(a, "FLASH: second report")
    clock.advance(2)  # transit time: the deadline runs from the receipt, not from sending
    result = receive_batch(b, "node-a", [late_msg.to_wire(), on_time_msg.to_wire()])
    received_at = clock.now()
    clock.advance(7)  # the receipt takes a while to come back; the due time must not move
    accept_receipts(a, "node-b", [r.to_json() for r in result.receipts])

    def due(node: Node, message_id: str) -> str:
        with node.engine.connect() as conn:
            value = conn.execute(
                select(delivery.c.due_at).where(
                    delivery.c.message_id == message_id, delivery.c.receiver_node == "node-b"
                )
            ).scalar()
        assert isinstance(value, str)
        return value

    expected_due = format_time(received_at + timedelta(seconds=FLASH_S))
    assert due(a, late_msg.id) == due(b, late_msg.id) == expected_due

    # Just before the deadline: nothing overdue anywhere, nothing escalated.
    clock.set(received_at + timedelta(seconds=FLASH_S - 1))
    assert overdue_messages(a) == []
    assert overdue_messages(b) == []
    assert escalate_overdue(a) == []
    assert escalate_overdue(b) == []

    # One message is acknowledged in time.
    op_b = _operator(b)
    ack_on_time = do_acknowledge(b, on_time_msg.id, op_b)
    deliver(pair, ack_on_time, b, a)

    clock.advance(2)  # now past the deadline of the other one
    for node, outgoing in ((a, True), (b, False)):
        overdue = overdue_messages(node)
        assert [o.message_id for o in overdue] == [late_msg.id]
        assert overdue[0].due_at == expected_due
        assert overdue[0].outgoing is outgoing

    # Escalation runs once per message and side, names the supervisor desk, calls the hook.
    for node in (a, b):
        fresh = escalate_overdue(node)
        assert [o.message_id for o in fresh] == [late_msg.id]
        assert escalate_overdue(node) == []
        clock.advance(60)
        assert escalate_overdue(node) == [], "still overdue, but escalated already"
        with node.engine.connect() as conn:
            esc = conn.execute(select(escalations).where(escalations.c.message_id == late_msg.id)).one()
            alarm = conn.execute(select(alarms).where(alarms.c.kind == "ack_overdue")).one()
        assert esc.notified_desk == "watch-supervisor"
        assert esc.webhook_status == "204"
        assert alarm.subject == late_msg.id
        assert alarm.severity == "critical"
        assert "watch-supervisor" in alarm.message
    assert [(c["event"], c["node"], c["message_id"], c["due_at"]) for c in webhook.calls] == [
        ("ack_overdue", "node-a", late_msg.id, expected_due),
        ("ack_overdue", "node-b", late_msg.id, expected_due),
    ]

    # The late acknowledgment is still accepted, and shown as late on both sides.
    ack_late = do_acknowledge(b, late_msg.id, op_b)
    deliver(pair, ack_late, b, a)
    for node in (a, b):
        with node.engine.connect() as conn:
            rows = {r.message_id: r for r in conn.execute(select(acknowledgments))}
        assert rows[late_msg.id].late is True
        assert rows[late_msg.id].operator == "op-node-b"
        assert rows[on_time_msg.id].late is False
        assert overdue_messages(node) == []


def _operator(node: Node) -> Any:
    from parley.directory.operators import get_operator

    return get_operator(node, f"op-{node.name}")


def test_escalation_survives_a_failing_webhook(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """A webhook that cannot be reached is recorded, and the watch goes on (storage as above)."""
    cfg: dict[str, dict[str, Any]] = {"escalation": {"webhook_url": "http://127.0.0.1:1/unreachable"}}
    pair = make_nodes(tmp_path, "sqlite", request, cfg)
    msg = send(pair.a, "FLASH: nobody home")
    deliver(pair, msg, pair.a, pair.b)
    pair.clock.advance(FLASH_S + 1)
    assert [o.message_id for o in escalate_overdue(pair.b)] == [msg.id]
    with pair.b.engine.connect() as conn:
        esc = conn.execute(select(escalations)).one()
    assert esc.notified_desk is None
    assert str(esc.webhook_status).startswith("failed:")


def test_deadline_watch_looks_at_its_window_and_everything_now_and_then(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The serving node's watch escalates what fell due since its last tick (a range of the
    due-time index), and every minute looks at every delivery: one stored already overdue,
    which no window holds, is escalated by the next full look."""
    pair = make_nodes(tmp_path, "sqlite", request)
    a, b, clock = pair.a, pair.b, pair.clock
    watch = DeadlineWatch(full_every_s=60)
    assert watch.tick(b) == []  # the first look is a full one
    first = send(a, "FLASH: first")
    deliver(pair, first, a, b)
    clock.advance(FLASH_S + 1)
    assert [o.message_id for o in watch.tick(b)] == [first.id]  # fell due in the window
    assert watch.tick(b) == []

    # Deliveries stored with their due time already past (the receipt came back late): a
    # little late, the window's overlap finds it at once; long past, the full look does.
    def stored_overdue(text: str, seconds: float) -> str:
        env = send(a, text)
        deliver(pair, env, a, b)
        with b.engine.begin() as conn:
            conn.execute(
                update(delivery)
                .where(delivery.c.message_id == env.id)
                .values(due_at=format_time(clock.now() - timedelta(seconds=seconds)))
            )
        return env.id

    slow = stored_overdue("FLASH: receipt back 5 s after the deadline", 5)
    late = stored_overdue("FLASH: receipt back an hour after the deadline", 3600)
    clock.advance(1)
    assert [o.message_id for o in watch.tick(b)] == [slow]
    assert watch.tick(b) == []
    clock.advance(60)
    assert [o.message_id for o in watch.tick(b)] == [late]
    # A clock set back (further than the overlap) makes the next look a full one too.
    clock.set(clock.now() - timedelta(hours=1))
    back = send(a, "FLASH: after the clock went back")
    deliver(pair, back, a, b)
    with b.engine.begin() as conn:
        conn.execute(
            update(delivery)
            .where(delivery.c.message_id == back.id)
            .values(due_at=format_time(clock.now() - timedelta(seconds=5)))
        )
    assert [o.message_id for o in watch.tick(b)] == [back.id]


# --- link tests ---------------------------------------------------------------------------


def test_evaluate_states() -> None:
    cfg = LinkTestSection(default_interval_s=60, degraded_rtt_ms=500, down_after_failures=3)
    assert evaluate(True, 20.0, 0, cfg) == (UP, 0)
    assert evaluate(True, 800.0, 0, cfg) == (DEGRADED, 0)
    assert evaluate(False, None, 0, cfg) == (DEGRADED, 1)
    assert evaluate(False, None, 1, cfg) == (DEGRADED, 2)
    assert evaluate(False, None, 2, cfg) == (DOWN, 3)
    assert evaluate(False, None, 7, cfg) == (DOWN, 8)
    assert evaluate(True, 20.0, 8, cfg) == (UP, 0)


def test_link_tests_schedule_transitions_alarm_and_shared_history(
    tmp_path: Path, engine_kind: str, request: pytest.FixtureRequest
) -> None:
    pair = make_nodes(tmp_path, engine_kind, request, {"link_test": {"degraded_rtt_ms": 500.0}})
    a, b, clock = pair.a, pair.b, pair.clock
    interval = 3600.0

    assert due_tests(a) == [("test-line", "node-b", interval)], "never tested: due at once"

    def round_trip(rtt_ms: float) -> Any:
        """A real signed round trip: B answers A's request; A records the measured time."""
        previous = _last(a)
        req = make_request(a, "test-line", "node-b", previous)
        reply = answer_link_test(b, "node-a", req)
        return record_result(a, "test-line", "node-b", req, reply, True, rtt_ms, None, interval)

    def failure() -> Any:
        req = make_request(a, "test-line", "node-b", None)
        return record_result(a, "test-line", "node-b", req, None, False, None, "connection refused", interval)

    assert round_trip(40.0).state == UP
    assert due_tests(a) == []
    clock.advance(interval - 1)
    assert due_tests(a) == [], "the next test follows the charter's interval"
    clock.advance(1)
    assert due_tests(a) == [("test-line", "node-b", interval)]

    assert round_trip(900.0).state == DEGRADED
    clock.advance(interval)
    assert failure().state == DEGRADED
    assert failure().state == DEGRADED
    assert _open_alarms(a) == []
    down_at = clock.now()
    assert failure().state == DOWN
    assert failure().state == DOWN
    alarms_now = _open_alarms(a)
    assert len(alarms_now) == 1, "DOWN raises one alarm, not one per failed test"
    assert alarms_now[0].subject == "test-line/node-b"
    with a.engine.connect() as conn:
        state = conn.execute(select(link_state)).one()
    assert state.state == DOWN
    assert state.consecutive_failures == 4
    assert _aware(state.since) == down_at

    clock.advance(interval)
    assert round_trip(30.0).state == UP
    assert _open_alarms(a) == [], "recovery clears the alarm"
    with a.engine.connect() as conn:
        cleared = conn.execute(select(alarms.c.cleared_at)).scalar()
        next_at = conn.execute(select(link_state.c.next_test_at)).scalar()
    assert _aware(cleared) == clock.now()
    assert _aware(next_at) == clock.now() + timedelta(seconds=interval)

    # Both sides hold the same signed history: B learnt A's measured round trips.
    with a.engine.connect() as conn:
        mine = {r.id: r.rtt_ms for r in conn.execute(select(link_tests).where(link_tests.c.ok.is_(True)))}
    with b.engine.connect() as conn:
        theirs = {r.id: (r.rtt_ms, r.raw) for r in conn.execute(select(link_tests))}
    assert set(mine) == set(theirs)
    for test_id, rtt in mine.items():
        if test_id != max(mine, key=lambda t: _sent_at(a, t)):
            assert theirs[test_id][0] == rtt, "reported back in the next request"
        assert theirs[test_id][1] is not None, "B keeps the signed request and reply"


def _last(node: Node) -> dict[str, Any] | None:
    from parley.federation.linktest import last_completed

    return last_completed(node, "test-line", "node-b")


def _sent_at(node: Node, test_id: str) -> str:
    with node.engine.connect() as conn:
        return str(conn.execute(select(link_tests.c.sent_at).where(link_tests.c.id == test_id)).scalar())


def _open_alarms(node: Node) -> list[Any]:
    with node.engine.connect() as conn:
        return list(
            conn.execute(select(alarms).where(alarms.c.kind == "link_down", alarms.c.cleared_at.is_(None)))
        )


def _aware(dt: datetime | None) -> datetime | None:
    if dt is not None and dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt
