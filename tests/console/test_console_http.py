"""The console over real HTTPS against real node processes, without a browser.

Log-in, cookies, CSRF, roles, the second factor, the log-in brake, languages and the live
event stream: each checked for what it must allow and for what it must refuse while
changing nothing.
"""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Any

import pyotp
import pytest

from tests.console.console_support import ConsoleClient, audit_actions, outgoing_count, query
from tests.harness.nodes import NodeProcess

pytestmark = pytest.mark.e2e

INCIDENT_FORM = {
    "_channel": "test-line",
    "_type": "incident-at-sea",
    "_desk": "duty",
    "_precedence": "IMMEDIATE",
    "_status": "EXERCISE",
    "/time": "2026-11-23T10:15",
    "/position/lat": "69.8",
    "/position/lon": "31.5",
    "_count/units": "1",
    "/units/0/name": "Severomorsk",
    "/units/0/hull_number": "619",
    "/units/0/unit_type": "warship",
    "/category": "unsafe_approach",
    "/description/text": "Passed within two cables.",
    "/description/lang": "en",
    "/requested_action": "explanation",
}


def test_unauthenticated_requests_are_sent_to_the_login_page(
    nodes: tuple[NodeProcess, NodeProcess],
) -> None:
    a, _ = nodes
    with ConsoleClient(a) as c:
        r = c.get("/")
        assert r.status_code == 307
        assert r.headers["location"] == "/console/"
        for path in ("/console/", "/console/inbox?box=out", "/console/record"):
            r = c.get(path)
            assert r.status_code == 303, path
            assert r.headers["location"].startswith("/console/login?next=%2Fconsole%2F"), r.headers[
                "location"
            ]
        assert c.get("/console/events").status_code == 303
        htmx = c.get("/console/", headers={"hx-request": "true"})
        assert htmx.status_code == 401
        assert htmx.headers["hx-redirect"].startswith("/console/login")
        assert c.get("/api/v1/status").status_code == 401
        # The static files and the log-in page itself need no session.
        assert c.get("/console/static/vendor/leaflet/leaflet.js").status_code == 200
        page = c.get("/console/login")
        assert page.status_code == 200
        assert 'autocomplete="current-password"' in page.text
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_login_sets_a_strict_secure_cookie_and_is_audited(
    nodes: tuple[NodeProcess, NodeProcess],
) -> None:
    a, _ = nodes
    with ConsoleClient(a) as c:
        wrong = c.start_login("op-node-a", "not the password")
        assert wrong.status_code == 401
        assert "Wrong user name or password" in wrong.text
        assert "__Host-parley-session" not in c.http.cookies
        r = c.start_login("op-node-a")
        assert r.status_code == 303
        cookie = next(
            v for k, v in r.headers.multi_items() if k == "set-cookie" and "__Host-parley-session=" in v
        )
        for attribute in ("Secure", "HttpOnly", "SameSite=strict", "Path=/"):
            assert attribute.lower() in cookie.lower(), cookie
        assert "domain=" not in cookie.lower()
        dash = c.get("/console/")
        assert dash.status_code == 200
        assert "op-node-a" in dash.text
        assert "test-line" in dash.text
        c.refresh_csrf()
        # The session also authenticates the console's own calls to the API.
        assert c.get("/api/v1/status").json()["node"] == "node-a"
        assert c.post("/console/logout", {}).status_code == 303
        assert c.get("/console/").status_code == 303  # the session is gone on the server
    actions = audit_actions(a, "op-node-a")
    assert "login_failed" in actions
    assert "login" in actions
    assert "logout" in actions


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    nodes: tuple[NodeProcess, NodeProcess],
) -> None:
    a, _ = nodes
    before = outgoing_count(a)
    with ConsoleClient(a) as c:
        c.login("op-node-a")
        no_token = c.post("/console/compose", {**INCIDENT_FORM, "action": "send"}, csrf=False)
        assert no_token.status_code == 403
        assert "CSRF" in no_token.text
        wrong = c.http.post("/console/compose", data={**INCIDENT_FORM, "action": "send", "csrf": "forged"})
        assert wrong.status_code == 403
        api = c.http.post(
            "/api/v1/messages",
            json={"channel": "test-line", "type": "general", "body": {"text": "x", "lang": "en"}},
        )
        assert api.status_code == 403
        assert api.json()["error"] == "csrf"
        lang = c.post("/console/settings", {"lang": "ru"}, csrf=False)
        assert lang.status_code == 403
        assert outgoing_count(a) == before
        assert "Dashboard" in c.get("/console/").text  # language unchanged
        # The same request with the token goes through.
        ok = c.http.post(
            "/api/v1/messages",
            json={
                "channel": "test-line",
                "type": "general",
                "body": {"text": "via session", "lang": "en"},
            },
            headers={"x-csrf-token": c.csrf},
        )
        assert ok.status_code == 201, ok.text
    assert outgoing_count(a) == before + 1
    with ConsoleClient(a) as c:  # the log-in form has its own token
        r = c.http.post("/console/login", data={"username": "op-node-a", "password": "correct horse battery"})
        assert r.status_code == 403


def test_compose_shows_problems_at_the_fields_and_sends_after_confirmation(
    nodes: tuple[NodeProcess, NodeProcess],
) -> None:
    a, _ = nodes
    before = outgoing_count(a)
    with ConsoleClient(a) as c:
        c.login("op-node-a")
        form = c.get("/console/compose?_channel=test-line&_type=incident-at-sea")
        assert form.status_code == 200
        assert 'name="/position/lat"' in form.text
        assert 'data-pick="point"' in form.text
        bad = c.post(
            "/console/compose",
            {**INCIDENT_FORM, "/position/lat": "123", "/category": "", "action": "preview"},
        )
        assert bad.status_code == 422
        assert re.search(r'id="f-position-lat"[^>]*aria-invalid="true"', bad.text)
        assert re.search(r'id="f-category-err">Category: required field is missing', bad.text)
        assert 'href="#f-position-lat"' in bad.text  # the summary links to the field
        more = c.post("/console/compose", {**INCIDENT_FORM, "action": "add:/units"})
        assert 'name="/units/1/name"' in more.text
        preview = c.post("/console/compose", {**INCIDENT_FORM, "action": "preview"})
        assert preview.status_code == 200
        assert "Инцидент на море" in preview.text
        assert "Hendelse til sjøs" in preview.text
        assert 'value="send"' in preview.text
        assert outgoing_count(a) == before  # nothing is signed before the confirmation
        sent = c.post("/console/compose", {**INCIDENT_FORM, "action": "send"})
        assert sent.status_code == 303
        message_id = sent.headers["location"].split("/")[-1].split("?")[0]
        view = c.get(sent.headers["location"])
        assert view.status_code == 200
        assert "Signed and sent" in view.text
        assert "drill-strip" in view.text  # EXERCISE is unmistakable
    assert outgoing_count(a) == before + 1
    sql = "SELECT details FROM audit_log WHERE actor = :a AND action = 'send' ORDER BY id DESC"
    row = query(a, sql, a="op-node-a")[0]
    assert json.loads(row.details)["id"] == message_id


def test_an_auditor_reads_but_cannot_send_or_acknowledge(
    nodes: tuple[NodeProcess, NodeProcess],
) -> None:
    a, b = nodes
    incoming = b.send("test-line", "for the auditor to look at")["id"]
    deadline = time.monotonic() + 30
    while not query(a, "SELECT id FROM envelopes WHERE id = :i", i=incoming):
        assert time.monotonic() < deadline, "message did not arrive"
        time.sleep(0.2)
    before = outgoing_count(a)
    with ConsoleClient(a) as c:
        c.login("auditor-a")
        compose = c.get("/console/compose")
        assert "read-only" in compose.text
        assert 'id="compose-form"' not in compose.text
        send = c.post("/console/compose", {**INCIDENT_FORM, "action": "send"})
        assert send.status_code == 403
        view = c.get(f"/console/messages/{incoming}")
        assert view.status_code == 200
        assert "for the auditor to look at" in view.text
        assert 'id="ack-button"' not in view.text
        ack = c.post(f"/console/messages/{incoming}/ack", {})
        assert ack.status_code == 403
        assert c.get("/console/record").status_code == 200
        verified = c.post("/console/record/verify", {})
        assert verified.status_code == 200
        assert 'id="verify-result"' in verified.text
        assert "Verified" in verified.text
    assert outgoing_count(a) == before
    assert not query(a, "SELECT * FROM acknowledgments WHERE message_id = :i", i=incoming)


def _secret_of(uri: str) -> str:
    m = re.search(r"secret=([A-Z2-7]+)", uri)
    assert m, uri
    return m.group(1)


def test_totp_second_factor(nodes: tuple[NodeProcess, NodeProcess]) -> None:
    a, _ = nodes
    enrolled: dict[str, Any] = a.cli_json("operator", "totp", "totp-a")
    assert enrolled["otpauth_uri"].startswith("otpauth://totp/Parley:totp-a%40node-a?")
    totp = pyotp.TOTP(_secret_of(enrolled["otpauth_uri"]))
    with ConsoleClient(a) as c:
        r = c.start_login("totp-a")
        assert r.status_code == 303
        assert r.headers["location"].startswith("/console/login/totp")
        pending = c.http.cookies["__Host-parley-session"]
        assert c.get("/console/").status_code == 303  # the password alone does not log in
        page = c.get(r.headers["location"])
        assert page.status_code == 200
        assert 'autocomplete="one-time-code"' in page.text
        c.csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        wrong = c.post(
            "/console/login/totp",
            {"code": "000000" if totp.now() != "000000" else "111111", "next": "/console/"},
        )
        assert wrong.status_code == 401
        code = totp.now()
        ok = c.post("/console/login/totp", {"code": code, "next": "/console/"})
        assert ok.status_code == 303
        assert ok.headers["location"] == "/console/"
        assert c.http.cookies["__Host-parley-session"] != pending  # a new token after the second factor
        assert c.get("/console/").status_code == 200
    with ConsoleClient(a) as c:  # the same code cannot be used twice
        r = c.start_login("totp-a")
        page = c.get(r.headers["location"])
        c.csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        assert c.post("/console/login/totp", {"code": code, "next": "/console/"}).status_code == 401
    a.cli("operator", "totp", "totp-a", "--remove")
    with ConsoleClient(a) as c:
        c.login("totp-a")
    assert "login" in audit_actions(a, "totp-a")


def test_failed_logins_trip_the_brake(nodes: tuple[NodeProcess, NodeProcess]) -> None:
    a, _ = nodes
    with ConsoleClient(a) as c:
        for _ in range(5):
            assert c.start_login("brake-a", "wrong password!").status_code == 401
        locked = c.start_login("brake-a")  # even the right password, for now
        assert locked.status_code == 429
        assert "Too many failed log-ins" in locked.text
        assert "__Host-parley-session" not in c.http.cookies
    assert "login_refused" in audit_actions(a, "brake-a")


def test_language_is_switchable_per_operator(nodes: tuple[NodeProcess, NodeProcess]) -> None:
    a, _ = nodes
    with ConsoleClient(a) as c:
        c.login("op-node-a")
        assert 'lang="en"' in c.get("/console/").text
        assert c.post("/console/settings", {"lang": "nb"}).status_code == 303
        page = c.get("/console/")
        assert 'lang="nb"' in page.text
        assert "Oversikt" in page.text
        assert "Logg ut" in page.text
        bad = c.post("/console/settings", {"lang": "xx"})
        assert bad.status_code == 400
        assert "xx" in bad.text
        assert c.post("/console/settings", {"lang": "ru"}).status_code == 303
        assert "Обзор" in c.get("/console/").text
        assert c.post("/console/settings", {"lang": "en"}).status_code == 303
    ops = {o["username"]: o["lang"] for o in a.cli_json("operator", "list")}
    assert ops["op-node-a"] == "en"
    assert audit_actions(a, "op-node-a").count("set_language") >= 3


def test_the_event_stream_delivers_a_sent_message(nodes: tuple[NodeProcess, NodeProcess]) -> None:
    a, _ = nodes
    events: list[dict[str, Any]] = []
    with ConsoleClient(a) as c:
        c.login("op-node-a")
        with c.http.stream("GET", "/console/events", timeout=20) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            assert next(lines).startswith("retry:")
            sent: dict[str, str] = {}
            t = threading.Thread(target=lambda: sent.update(a.send("test-line", "live!")))
            t.start()
            deadline = time.monotonic() + 20
            for line in lines:
                if line.startswith("data:"):
                    events.append(json.loads(line[5:]))
                # The event may come before the API call that caused it has returned.
                if not t.is_alive() and any(e.get("id") == sent.get("id") for e in events):
                    break
                assert time.monotonic() < deadline, events
            t.join(10)
    mine = next(e for e in events if e.get("id") == sent["id"])
    assert mine == {"event": "sent", "id": sent["id"], "channel": "test-line"}


PAGES = (
    "/console/",
    "/console/inbox?box=in",
    "/console/inbox?box=out",
    "/console/compose?_channel=test-line&_type=incident-at-sea",
    "/console/compose?_channel=test-line&_type=general",
    "/console/incidents",
    "/console/meetings",
    "/console/channels",
    "/console/record",
    "/console/settings",
)


@pytest.mark.parametrize("lang", ["nb", "ru", "en"])
def test_every_page_renders_in_every_language(nodes: tuple[NodeProcess, NodeProcess], lang: str) -> None:
    a, _ = nodes
    with ConsoleClient(a) as c:
        c.login("auditor-a")
        assert c.post("/console/settings", {"lang": lang}).status_code == 303
        try:
            for path in PAGES:
                page = c.get(path)
                assert page.status_code == 200, (path, page.text[:500])
                assert f'<html lang="{lang}">' in page.text
                leaked = re.findall(r"\bconsole\.[a-z_]+\.[a-z_]+|\b[im]phase\.[a-z-]+", page.text)
                assert not leaked, (path, leaked)  # every string found in the catalogue
        finally:
            c.post("/console/settings", {"lang": "en"})
