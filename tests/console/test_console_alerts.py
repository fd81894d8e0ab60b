"""The console's alert bar over HTTP (issue 12, item 1): what it counts, for whom, and the mute.

Two real node processes of their own (the shared console pair stays free of alerts, so the
other tests' screenshots show no bar). Node B sends on three channels to node A:
``test-line`` (A's desk ``duty``, FLASH due in 300 s), ``other-line`` (A's desk ``watch``)
and ``fast-line`` (desk ``duty``, FLASH due in 3 s, for overdue acknowledgments both ways).
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.console.console_support import ConsoleClient, audit_actions, query
from tests.harness.nodes import CHARTER, NodeProcess, make_pair

pytestmark = pytest.mark.e2e

MINE, OTHER, FAST = "test-line", "other-line", "fast-line"
FAST_FLASH_S = 3
WAIT_S = 20.0  # every wait for the other node is bounded


@dataclass
class Pair:
    a: NodeProcess
    b: NodeProcess
    base: Path


def _channel(a: NodeProcess, b: NodeProcess, base: Path, cid: str, desk: str, flash: int) -> None:
    charter = base / f"{cid}.toml"
    charter.write_text(
        CHARTER.format(id=cid, a=a.name, b=b.name, interval=3600, flash=flash).replace(
            f'"{a.name}/duty"', f'"{a.name}/{desk}"'
        )
    )
    a.cli_here(
        "channel", "propose", "--peer", b.name, "--charter", str(charter), "--out", str(base / f"{cid}.p")
    )
    b.cli_here("channel", "accept", str(base / f"{cid}.p"), "--out", str(base / f"{cid}.c"))
    a.cli_here("channel", "accept", str(base / f"{cid}.c"))


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    base = tmp_path_factory.mktemp("alerts")
    a, b = make_pair(base, interval=3600)
    a.cli_here("desk", "add", "watch")
    _channel(a, b, base, OTHER, "watch", 300)
    _channel(a, b, base, FAST, "duty", FAST_FLASH_S)
    pw = str(base / "pw")
    for user, desk, role in (
        ("watch-a", "watch", "duty"),
        ("admin-a", "duty", "admin"),
        ("mute-a", "duty", "duty"),
    ):
        a.cli_here("operator", "add", user, "--desk", desk, "--role", role, "--password-file", pw)
    try:
        a.start()
        b.start()
        yield Pair(a, b, base)
    finally:
        a.stop()
        b.stop()


def arrived(node: NodeProcess, ids: list[str]) -> None:
    deadline = time.monotonic() + WAIT_S
    while True:
        have = {r[0] for r in query(node, "SELECT id FROM envelopes")}
        if set(ids) <= have:
            return
        assert time.monotonic() < deadline, f"{ids} did not reach {node.name}"
        time.sleep(0.1)


@dataclass
class Bar:
    html: str

    def attr(self, name: str) -> str:
        m = re.search(rf'id="alert-state"[^>]*\bdata-{name}="([^"]*)"', self.html, re.S)
        assert m, self.html
        return m.group(1)

    @property
    def total(self) -> int:
        return int(self.attr("total"))

    def count(self, kind: str) -> int:
        m = re.search(rf'data-kind="{kind}" data-count="(\d+)"', self.html)
        return int(m.group(1)) if m else 0

    def keys(self, kind: str) -> list[str]:
        return re.findall(rf'data-key="([^"]+)" data-kind="{kind}"', self.html)

    def item(self, key: str) -> str:
        m = re.search(rf'data-key="{re.escape(key)}".*?</a>', self.html, re.S)
        assert m, self.html
        return m.group(0)

    def href(self, key: str) -> str:
        m = re.search(rf'href="([^"]+)" data-key="{re.escape(key)}"', self.html)
        assert m, self.html
        return m.group(1)


def bar(c: ConsoleClient) -> Bar:
    r = c.get("/console/alerts", headers={"x-requested-with": "fetch"})
    assert r.status_code == 200, r.text
    return Bar(r.text)


def console(pair: Pair, user: str) -> ConsoleClient:
    c = ConsoleClient(pair.a)
    c.login(user)
    return c


def test_every_page_has_the_bar_and_its_script(pair: Pair) -> None:
    with console(pair, "op-node-a") as c:
        for path in ("/console/", "/console/compose", "/console/inbox", "/console/settings"):
            page = c.get(path).text
            assert 'id="alert-bar"' in page, path
            assert '<script src="/console/static/alerts.js"></script>' in page, path
        # The strict policy stays: scripts from the node only, nothing inline.
        assert "script-src 'self'" in c.get("/console/").headers["content-security-policy"]
        assert "<script>" not in c.get("/console/").text
        sound = c.get("/console/static/vendor/ion-sound/bell_ring.ogg")
        assert sound.status_code == 200
        assert sound.content[:4] == b"OggS"


def test_flash_and_immediate_counted_per_kind_oldest_first_and_one_click_away(pair: Pair) -> None:
    with console(pair, "op-node-a") as c:
        assert bar(c).total == 0
        assert bar(c).attr("sound") == "0"
        ids = [pair.b.send(MINE, f"flash {i}", precedence="FLASH")["id"] for i in range(2)]
        ids.append(pair.b.send(MINE, "immediate", precedence="IMMEDIATE")["id"])
        routine = pair.b.send(MINE, "routine")["id"]  # routine and on time: no alert
        arrived(pair.a, [*ids, routine])
        state = bar(c)
        assert (state.count("flash"), state.count("immediate"), state.total) == (2, 1, 3)
        assert state.keys("flash") == ids[:2]  # oldest first
        assert state.keys("immediate") == [ids[2]]
        assert routine not in state.html
        assert state.href(ids[0]) == f"/console/messages/{ids[0]}"
        assert (state.attr("top"), state.attr("top-label"), state.attr("sound")) == ("flash", "FLASH", "1")
        assert c.get(state.href(ids[0])).status_code == 200

        # Acknowledged here: gone from the bar.
        with pair.a.client() as api:
            assert api.post(f"/api/v1/messages/{ids[0]}/ack").status_code == 201
        state = bar(c)
        assert (state.count("flash"), state.keys("flash")) == (1, [ids[1]])
        for i in ids[1:]:
            with pair.a.client() as api:
                assert api.post(f"/api/v1/messages/{i}/ack").status_code == 201
        assert bar(c).total == 0


def test_a_fresh_flash_shows_however_many_are_open(pair: Pair) -> None:
    """The bar lists the oldest few; the newest must appear too, or a FLASH arriving while
    more than that are open would neither ring, nor be announced, nor notified."""
    from parley.console.alerts import SHOWN_PER_KIND

    ids = [pair.b.send(MINE, f"flash {i}", precedence="FLASH")["id"] for i in range(SHOWN_PER_KIND + 2)]
    arrived(pair.a, ids)
    fresh = ""
    try:
        with console(pair, "op-node-a") as c:
            state = bar(c)
            assert state.count("flash") == len(ids)
            assert len(state.keys("flash")) == SHOWN_PER_KIND
            fresh = pair.b.send(MINE, "one more", precedence="FLASH")["id"]
            arrived(pair.a, [fresh])
            state = bar(c)
            assert state.count("flash") == len(ids) + 1
            keys = state.keys("flash")
            assert keys[-1] == fresh  # oldest first, and the newest last
            assert set(keys[:-1]) <= set(ids)
    finally:
        for i in [*ids, fresh] if fresh else ids:
            with pair.a.client() as api:
                api.post(f"/api/v1/messages/{i}/ack")


def test_only_what_the_officer_may_see(pair: Pair) -> None:
    mine = pair.b.send(MINE, "for duty", precedence="FLASH")["id"]
    other = pair.b.send(OTHER, "for watch", precedence="FLASH")["id"]
    arrived(pair.a, [mine, other])
    with (
        console(pair, "op-node-a") as duty,
        console(pair, "watch-a") as watch,
        console(pair, "admin-a") as admin,
    ):
        assert bar(duty).keys("flash") == [mine]
        assert other not in bar(duty).html
        assert OTHER not in bar(duty).html
        assert bar(watch).keys("flash") == [other]
        assert mine not in bar(watch).html
        assert set(bar(admin).keys("flash")) == {mine, other}  # an admin sees every channel

        # A link DOWN on the other desk's channel, and a security alarm of the node's record.
        query_exec(pair.a, "DELETE FROM link_state WHERE channel = :c", c=OTHER)
        query_exec(  # as the link test records it; its next test is far off
            pair.a,
            "INSERT INTO link_state (channel, peer, state, since, consecutive_failures, next_test_at) "
            "VALUES (:c, 'node-b', 'DOWN', CURRENT_TIMESTAMP, 3, '2099-01-01 00:00:00')",
            c=OTHER,
        )
        query_exec(
            pair.a,
            "INSERT INTO alarms (kind, subject, severity, message, raised_at) "
            "VALUES ('record_fork', 'node-b', 'security', 'forked log', CURRENT_TIMESTAMP)",
        )
        query_exec(
            pair.a,
            "INSERT INTO alarms (kind, subject, severity, message, raised_at) "
            "VALUES ('watch_gap', :s, 'critical', 'nobody on watch', CURRENT_TIMESTAMP)",
            s=f"{OTHER}/watch",
        )
        try:
            assert bar(duty).count("link_down") == 0
            assert bar(watch).keys("link_down") == [f"{OTHER}/node-b"]
            assert bar(watch).href(f"{OTHER}/node-b") == f"/console/channels#ch-{OTHER}"
            for c in (duty, watch):  # the node's record is everyone's; the desk's alarm is not
                assert bar(c).count("alarm") == (1 if c is duty else 2)
                assert "forked log" in bar(c).html
            assert "nobody on watch" not in bar(duty).html
            key = bar(duty).keys("alarm")[0]
            assert bar(duty).href(key) == "/console/record"
        finally:
            query_exec(pair.a, "UPDATE link_state SET state = 'UP' WHERE channel = :c", c=OTHER)
            query_exec(pair.a, "UPDATE alarms SET cleared_at = CURRENT_TIMESTAMP WHERE cleared_at IS NULL")
        with pair.a.client() as api:
            assert api.post(f"/api/v1/messages/{mine}/ack").status_code == 201


def query_exec(node: NodeProcess, sql: str, **params: object) -> None:
    from sqlalchemy import text

    from tests.console.console_support import node_engine

    engine = node_engine(node)
    try:
        with engine.begin() as conn:
            conn.execute(text(sql), params)
    finally:
        engine.dispose()


def test_overdue_both_ways(pair: Pair) -> None:
    ours = pair.b.send(FAST, "owed by A", precedence="FLASH")["id"]
    theirs = pair.a.send(FAST, "owed by B", precedence="FLASH")["id"]
    arrived(pair.a, [ours])
    with console(pair, "op-node-a") as c:
        deadline = time.monotonic() + WAIT_S
        while bar(c).count("overdue") < 2:
            assert time.monotonic() < deadline, bar(c).html
            time.sleep(0.25)
        state = bar(c)
        assert set(state.keys("overdue")) == {ours, theirs}
        assert ours not in state.keys("flash")  # counted once, under its most urgent kind
        assert (state.attr("top"), state.attr("top-label"), state.attr("sound")) == (
            "overdue",
            "OVERDUE",
            "1",
        )
        assert "ours to acknowledge" in state.item(ours)
        assert "awaiting the other side" in state.item(theirs)
        with pair.a.client() as api:
            assert api.post(f"/api/v1/messages/{ours}/ack").status_code == 201
        with pair.b.client() as api:
            assert api.post(f"/api/v1/messages/{theirs}/ack").status_code == 201
        deadline = time.monotonic() + WAIT_S
        while bar(c).count("overdue"):
            assert time.monotonic() < deadline, "the peer's late acknowledgment did not clear the alert"
            time.sleep(0.25)


def _form(c: ConsoleClient, path: str, data: dict[str, str], fetch: bool = True) -> httpx.Response:
    headers = {"x-requested-with": "fetch"} if fetch else {}
    return c.http.post(path, data={**data, "csrf": c.csrf}, headers=headers)


def test_mute_is_shown_audited_and_undone(pair: Pair) -> None:
    flash = pair.b.send(MINE, "loud", precedence="FLASH")["id"]
    arrived(pair.a, [flash])
    with console(pair, "mute-a") as c:
        assert bar(c).attr("sound") == "1"
        r = _form(c, "/console/alerts/mute", {"minutes": "15", "next": "/console/compose"})
        assert r.status_code == 200, r.text
        muted = Bar(r.text)
        assert (muted.attr("muted"), muted.attr("sound")) == ("1", "0")
        assert "Sound muted until" in r.text
        assert 'id="alert-unmute"' in r.text
        assert bar(c).attr("muted") == "1"  # stored on the node, not in the browser
        # A FLASH that arrives during the mute sounds anyway: nobody has heard it yet.
        later = pair.b.send(MINE, "later", precedence="FLASH")["id"]
        arrived(pair.a, [later])
        assert (bar(c).attr("muted"), bar(c).attr("sound")) == ("1", "1")
        # Without the script: the form answers with a way back to the page.
        r = _form(c, "/console/alerts/unmute", {"next": "/console/compose"}, fetch=False)
        assert (r.status_code, r.headers["location"]) == (303, "/console/compose")
        assert bar(c).attr("muted") == "0"
        r = _form(c, "/console/alerts/mute", {"minutes": "5", "next": "https://evil.example/"}, fetch=False)
        assert r.headers["location"] == "/console/"  # never a redirect off the console
        assert audit_actions(pair.a, "mute-a")[-3:] == ["alert_mute", "alert_unmute", "alert_mute"]
        details = query(
            pair.a,
            "SELECT details FROM audit_log WHERE actor = 'mute-a' AND action = 'alert_mute' ORDER BY id",
        )
        assert '"minutes": 15' in details[0][0]
        _form(c, "/console/alerts/unmute", {})
    for i in (flash, later):
        with pair.a.client() as api:
            api.post(f"/api/v1/messages/{i}/ack")


@pytest.mark.parametrize("minutes", ["7", "0", "-5", "abc", "", "15.5", "9" * 40])
def test_bad_mute_minutes_refused_clearly_and_nothing_changes(pair: Pair, minutes: str) -> None:
    with console(pair, "mute-a") as c:
        assert _form(c, "/console/alerts/mute", {"minutes": "30"}).status_code == 200
        before, shown = audit_actions(pair.a, "mute-a"), bar(c).attr("muted-until")
        assert shown
        r = _form(c, "/console/alerts/mute", {"minutes": minutes})
        assert r.status_code == 400, r.text
        assert "cannot mute the alert sound" in r.text
        assert "choose 5, 15, 30 or 60 minutes; the sound was not muted" in r.text
        assert audit_actions(pair.a, "mute-a") == before
        assert bar(c).attr("muted-until") == shown  # the earlier mute, untouched
        _form(c, "/console/alerts/unmute", {})


def test_mute_needs_the_session_csrf_token(pair: Pair) -> None:
    with console(pair, "mute-a") as c:
        before = audit_actions(pair.a, "mute-a")
        r = c.http.post("/console/alerts/mute", data={"minutes": "5", "csrf": "forged"})
        assert r.status_code == 403
        assert audit_actions(pair.a, "mute-a") == before
        assert bar(c).attr("muted") == "0"


def test_desktop_notifications_are_opt_in_per_operator(pair: Pair) -> None:
    with console(pair, "mute-a") as c, console(pair, "op-node-a") as other:
        assert 'id="notify-on"' in c.get("/console/settings").text
        assert bar(c).attr("notify") == "0"
        r = _form(c, "/console/alerts/notifications", {"notify": "on"}, fetch=False)
        assert (r.status_code, r.headers["location"]) == (303, "/console/settings?saved=1")
        assert 'id="notify-off"' in c.get("/console/settings").text
        assert bar(c).attr("notify") == "1"
        assert bar(other).attr("notify") == "0"  # per operator
        before = audit_actions(pair.a, "mute-a")
        assert before[-1] == "alert_notify"
        r = _form(c, "/console/alerts/notifications", {"notify": "maybe"}, fetch=False)
        assert r.status_code == 400
        assert "'on' or 'off'" in html.unescape(r.text)
        assert audit_actions(pair.a, "mute-a") == before
        assert bar(c).attr("notify") == "1"
        _form(c, "/console/alerts/notifications", {"notify": "off"}, fetch=False)
        assert bar(c).attr("notify") == "0"
