"""Truthful link and record state, on a ManualClock (no sleeps): traffic is link evidence,
a failed test is retried soon, checkpoints are exchanged after traffic (debounced), and
``parley status`` says whether the node runs (docs/watch.md §Link and record state).

The two nodes are real homes with real databases (SQLite and PostgreSQL); link tests are
real signed round trips made by calling the responder's handler, as in
tests/federation/test_clock.py. The pid-file checks use real processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from parley.clock import ManualClock
from parley.federation.linktest import (
    DEGRADED,
    DOWN,
    RETRY_S,
    UP,
    answer_link_test,
    due_tests,
    last_completed,
    links_not_up,
    make_request,
    next_test_in,
    note_traffic,
    record_result,
)
from parley.federation.witness_schedule import WitnessSchedule
from parley.node import Node
from parley.node_running import PID_FILE, serving, write_pid_file
from parley.storage.tables import alarms, link_state
from tests.federation.crafting import quick_pair

START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
HOUR = 3600.0


def _nodes(
    tmp_path: Path, engine_kind: str, request: pytest.FixtureRequest
) -> tuple[ManualClock, Node, Node]:
    urls: tuple[str | None, str | None] = (None, None)
    if engine_kind == "postgresql":
        factory: Callable[[], str] = request.getfixturevalue("pg_factory")
        urls = (factory(), factory())
    a_proc, b_proc = quick_pair(tmp_path, db_urls=urls, config={"link_test": {"degraded_rtt_ms": 500.0}})
    clock = ManualClock(START)
    a = Node.open(a_proc.home, clock=clock)
    b = Node.open(b_proc.home, clock=clock)
    request.addfinalizer(a.close)
    request.addfinalizer(b.close)
    return clock, a, b


def _test_ok(a: Node, b: Node, rtt_ms: float) -> str:
    req = make_request(a, "test-line", "node-b", last_completed(a, "test-line", "node-b"))
    reply = answer_link_test(b, "node-a", req)
    return record_result(a, "test-line", "node-b", req, reply, True, rtt_ms, None, HOUR).state


def _test_failed(a: Node) -> str:
    req = make_request(a, "test-line", "node-b", None)
    return record_result(a, "test-line", "node-b", req, None, False, None, "connection refused", HOUR).state


def _row(node: Node) -> Any:
    with node.engine.connect() as conn:
        return conn.execute(select(link_state)).one()


def _open_link_alarms(node: Node) -> int:
    with node.engine.connect() as conn:
        rows = conn.execute(
            select(alarms.c.id).where(alarms.c.kind == "link_down", alarms.c.cleared_at.is_(None))
        ).all()
    return len(rows)


def test_traffic_after_a_failed_test_makes_the_link_up(
    tmp_path: Path, engine_kind: str, request: pytest.FixtureRequest
) -> None:
    """The tour's case: the first test fails (the peer was not up yet); then messages go
    through. Before: DEGRADED until the next hourly test. Now: UP at the first delivery."""
    clock, a, _b = _nodes(tmp_path, engine_kind, request)
    assert _test_failed(a) == DEGRADED
    assert links_not_up(a) == [{"channel": "test-line", "peer": "node-b", "link": DEGRADED}]
    clock.advance(1)
    assert note_traffic(a, "node-b") == [("test-line", UP)]
    row = _row(a)
    assert (row.state, row.consecutive_failures) == (UP, 0)
    assert row.since.replace(tzinfo=UTC) == clock.now()
    assert links_not_up(a) == []
    assert note_traffic(a, "node-b") == [], "a healthy link is not written again"


def test_traffic_clears_down_and_its_alarm(
    tmp_path: Path, engine_kind: str, request: pytest.FixtureRequest
) -> None:
    clock, a, _b = _nodes(tmp_path, engine_kind, request)
    for _ in range(3):
        state = _test_failed(a)
        clock.advance(RETRY_S * 4)
    assert state == DOWN
    assert _open_link_alarms(a) == 1
    note_traffic(a, "node-b")
    assert _row(a).state == UP
    assert _open_link_alarms(a) == 0, "a delivery is a success: the alarm clears as on a good test"


def test_a_slow_link_stays_degraded_until_a_faster_test(
    tmp_path: Path, engine_kind: str, request: pytest.FixtureRequest
) -> None:
    """Traffic measures no round trip, so it cannot say a slow link got fast."""
    clock, a, b = _nodes(tmp_path, engine_kind, request)
    assert _test_ok(a, b, 900.0) == DEGRADED
    assert note_traffic(a, "node-b") == []
    assert _row(a).state == DEGRADED
    clock.advance(HOUR)
    assert _test_ok(a, b, 20.0) == UP


def test_a_failed_test_is_retried_soon_and_a_dead_link_is_down_within_seconds(
    tmp_path: Path, engine_kind: str, request: pytest.FixtureRequest
) -> None:
    """Before: the next test followed the hourly interval even after a failure, so one
    lost test meant an hour DEGRADED and a dead link took three hours to be DOWN."""
    clock, a, b = _nodes(tmp_path, engine_kind, request)
    assert _test_ok(a, b, 20.0) == UP
    clock.advance(HOUR)
    first_failure = clock.now()
    assert _test_failed(a) == DEGRADED
    for wait in (RETRY_S, 2 * RETRY_S):
        clock.advance(wait - 0.5)
        assert due_tests(a) == [], "not before the retry delay"
        clock.advance(0.5)
        assert due_tests(a) == [("test-line", "node-b", HOUR)]
        state = _test_failed(a)
    assert state == DOWN
    assert (clock.now() - first_failure).total_seconds() == 3 * RETRY_S
    assert _test_ok(a, b, 20.0) == UP
    assert next_test_in(True, 0, HOUR) == HOUR


def test_a_failed_delivery_brings_the_next_link_test_forward(
    tmp_path: Path, engine_kind: str, request: pytest.FixtureRequest
) -> None:
    """Before: with an hourly interval, a peer that stopped answering deliveries stayed UP
    until the next scheduled test. Now the first failed delivery makes the test due."""
    import asyncio

    from parley.federation.client import PeerClient
    from parley.federation.sender import PeerSender

    clock, a, b = _nodes(tmp_path, engine_kind, request)
    assert _test_ok(a, b, 20.0) == UP
    clock.advance(60)
    assert due_tests(a) == []
    sender = PeerSender(a, PeerClient(a, "node-b", "https://127.0.0.1:1", b.tls_cert_pem(), 1.0), owner="t")
    try:
        sender.record_failure("connection refused", refused=False)
        assert due_tests(a) == [("test-line", "node-b", HOUR)]
        assert _test_failed(a) == DEGRADED
        sender.record_failure("connection refused", refused=False)
        assert due_tests(a) == [], "later failures leave the test to its own retry schedule"
        sender.record_success()
        clock.advance(HOUR)
        assert _test_ok(a, b, 20.0) == UP
        clock.advance(60)
        sender.record_failure("the peer refused the batch", refused=True)
        assert due_tests(a) == [], "a refusal is an answer: the link works"
    finally:
        asyncio.run(sender.client.close())


def test_retry_delay_doubles_and_never_exceeds_the_interval() -> None:
    assert [next_test_in(False, n, HOUR) for n in (1, 2, 3, 4)] == [5.0, 10.0, 20.0, 40.0]
    assert next_test_in(False, 30, HOUR) == HOUR
    assert next_test_in(False, 10_000, HOUR) == HOUR, "no overflow however many failures"
    assert next_test_in(False, 1, 3.0) == 3.0, "a charter testing every 3 s is not slowed down"


# --- checkpoint exchange after traffic: the debounce ------------------------------------------


def test_exchange_waits_for_the_burst_to_end() -> None:
    s = WitnessSchedule(quiet_s=2.0, min_interval_s=5.0, max_wait_s=60.0)
    s.observe(10, 0.0)
    assert s.due("ru", 10, 0.5) is False, "nothing new to cosign"
    s.observe(11, 1.0)
    s.observe(12, 2.0)
    assert s.due("ru", 10, 3.9) is False, "still within quiet_s of the last growth"
    assert s.due("ru", 10, 4.0) is True
    s.attempted("ru", 4.0, ok=True)
    s.observe(13, 4.5)
    assert s.due("ru", 12, 7.0) is False, "quiet, but the last exchange was less than min_interval_s ago"
    assert s.due("ru", 12, 9.0) is True
    s.attempted("ru", 9.0, ok=True)
    assert s.due("ru", 13, 100.0) is False, "cosigned at the current size: nothing to do"


def test_steady_traffic_is_still_witnessed_within_max_wait() -> None:
    s = WitnessSchedule(quiet_s=2.0, min_interval_s=5.0, max_wait_s=60.0)
    t, size = 0.0, 0
    first_due = None
    while t <= 120.0:  # a leaf every second: never quiet
        size += 1
        s.observe(size, t)
        if s.due("ru", 0, t):
            first_due = t
            break
        t += 1.0
    assert first_due == 60.0


def test_failed_exchanges_back_off_up_to_max_wait() -> None:
    s = WitnessSchedule(quiet_s=2.0, min_interval_s=5.0, max_wait_s=60.0)
    s.observe(5, 0.0)
    now, gaps = 10.0, []
    last = None
    for _ in range(8):
        while not s.due("ru", 0, now):
            now += 0.5
        if last is not None:
            gaps.append(now - last)
        s.attempted("ru", now, ok=False)
        last = now
    assert gaps == [10.0, 20.0, 40.0, 60.0, 60.0, 60.0, 60.0]
    s.attempted("ru", now, ok=True)
    assert s.due("ru", 0, now + 5.0) is True, "after a success the short interval again"


def test_each_peer_is_scheduled_on_its_own() -> None:
    s = WitnessSchedule(quiet_s=1.0, min_interval_s=5.0, max_wait_s=60.0)
    s.observe(3, 0.0)
    assert s.due("a", 0, 1.0)
    assert s.due("b", 3, 1.0) is False
    s.attempted("a", 1.0, ok=True)
    assert s.due("c", 0, 1.5) is True


# --- is the node running? ----------------------------------------------------------------


def test_no_pid_file_means_not_running(tmp_path: Path) -> None:
    assert serving(tmp_path).running is False
    assert serving(tmp_path).crashed is False


def test_pid_file_of_a_live_process_means_running(tmp_path: Path) -> None:
    write_pid_file(tmp_path, START, "https://127.0.0.1:1")
    state = serving(tmp_path)
    assert (state.running, state.pid, state.url) == (True, os.getpid(), "https://127.0.0.1:1")
    assert (tmp_path / PID_FILE).stat().st_mode & 0o777 == 0o600


def test_pid_file_of_a_dead_process_means_crashed(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(30)
    (tmp_path / PID_FILE).write_text(
        json.dumps({"pid": proc.pid, "process_started": 1.0, "started_at": "2026-03-02T06:00:00.000Z"})
    )
    state = serving(tmp_path)
    assert (state.running, state.crashed, state.pid) == (False, True, proc.pid)


def test_a_reused_pid_is_not_taken_for_the_node(tmp_path: Path) -> None:
    """The pid is alive (this test process) but started at another time than recorded."""
    (tmp_path / PID_FILE).write_text(
        json.dumps({"pid": os.getpid(), "process_started": 12345.0, "started_at": "2026-03-02T06:00:00.000Z"})
    )
    assert serving(tmp_path).running is False
    assert serving(tmp_path).crashed is True


@pytest.mark.parametrize(
    "content", ["", "not json", "[1, 2]", '{"pid": "12"}', '{"pid": -1}', '{"pid": true}']
)
def test_a_garbled_pid_file_is_not_running(tmp_path: Path, content: str) -> None:
    (tmp_path / PID_FILE).write_text(content)
    assert serving(tmp_path).running is False
