"""The incident page over real HTTP between two real node processes (issue 13, item 4).

Node A reports an incident; each node's console shows it (state, parties, timeline,
positions, exports) and takes steps from the page. Every bad step (not visible, not
allowed, wrong state, bad input, no CSRF token) is answered with its error and sends nothing.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console.console_support import ConsoleClient, audit_actions, outgoing_count
from tests.desk.incident_page_support import (
    CHANNEL,
    POSITION,
    has_incident,
    phase_of,
    report_incident,
    wait_for,
)
from tests.harness.nodes import NodeProcess, make_pair

pytestmark = pytest.mark.e2e

EXTRA = (  # user, desk, role on node A
    ("auditor-a", "duty", "auditor"),  # sees the channel, may not send
    ("stranger-a", "watch", "duty"),  # her desk is no member of the channel: sees nothing
    ("admin-a", "watch", "admin"),  # sees every channel, sends for no member desk
)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeProcess, NodeProcess]]:
    base: Path = tmp_path_factory.mktemp("incident-page")
    a, b = make_pair(base, interval=3600)
    a.cli_here("desk", "add", "watch")
    for user, desk, role in EXTRA:
        pw = str(base / "pw")
        a.cli_here("operator", "add", user, "--desk", desk, "--role", role, "--password-file", pw)
    try:
        a.start()
        b.start()
        yield a, b
    finally:
        a.stop()
        b.stop()


def console(node: NodeProcess, user: str) -> ConsoleClient:
    c = ConsoleClient(node)
    c.login(user)
    return c


def step(c: ConsoleClient, incident_id: str, action: str, text: str, **extra: str) -> tuple[int, str]:
    r = c.post(f"/console/incidents/{incident_id}/step", {"action": action, "text": text, **extra})
    return r.status_code, r.text


def test_the_page_shows_state_parties_timeline_positions_and_exports(
    pair: tuple[NodeProcess, NodeProcess],
) -> None:
    a, b = pair
    incident = report_incident(a)
    wait_for("the report reaches node B", lambda: has_incident(b, incident))
    with console(a, "op-node-a") as ca:
        r = ca.get(f"/console/incidents/{incident}")
        assert r.status_code == 200, r.text
        page = r.text
        assert 'id="incident-phase"' in page
        assert "node-a: duty" in page
        assert "node-b: duty" in page
        assert f'href="/console/messages/{incident}"' in page  # the timeline links the report
        data = page.split('id="incident-data">', 1)[1].split("</script>", 1)[0]
        features = json.loads(data)["features"]
        assert [f["geometry"]["coordinates"] for f in features] == [[POSITION["lon"], POSITION["lat"]]]
        # The node proposing nothing yet may answer, ask, propose: never agree to a closure.
        assert 'id="step-propose-closure"' in page
        assert 'id="step-agree-closure"' not in page
        assert f'href="/console/incidents/{incident}"' in ca.get("/console/incidents").text

        cap = ca.get(f"/console/incidents/{incident}/cap.xml")
        assert cap.status_code == 200
        assert cap.headers["content-disposition"].startswith("attachment;")
        root = ET.fromstring(cap.content)
        ns = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
        assert root.findtext("cap:identifier", namespaces=ns) == incident
        infos = root.findall("cap:info", ns)
        # The charter's languages, the reader's first, as RFC 3066 tags; the sender is node A.
        assert [i.findtext("cap:language", namespaces=ns) for i in infos] == ["en-US", "nb-NO", "ru-RU"]
        assert {i.findtext("cap:senderName", namespaces=ns) for i in infos} == {"node-a"}
        geo = ca.get(f"/console/incidents/{incident}/positions.geojson")
        assert geo.status_code == 200
        assert geo.headers["content-type"].startswith("application/geo+json")
        assert "attachment" in geo.headers["content-disposition"]
        assert geo.json()["features"][0]["properties"]["id"] == incident


def test_a_step_is_confirmed_then_signed_sent_and_audited(pair: tuple[NodeProcess, NodeProcess]) -> None:
    a, b = pair
    incident = report_incident(a)
    wait_for("the report reaches node B", lambda: has_incident(b, incident))
    with console(b, "op-node-b") as cb:
        before = outgoing_count(b)
        code, page = step(cb, incident, "provide-information", "  Our ship kept her course.  ")
        assert code == 200
        assert 'id="step-confirm"' in page  # asks first ...
        assert outgoing_count(b) == before  # ... and sends nothing yet
        code, _ = step(cb, incident, "provide-information", "Our ship kept her course.", confirmed="1")
        assert code == 303
        assert outgoing_count(b) == before + 1
        assert "incident_step" in audit_actions(b, "op-node-b")
        shown = cb.get(f"/console/incidents/{incident}?sent=provide-information").text
        assert 'data-action="provide-information"' in shown
        assert "Our ship kept her course." in shown
    wait_for("node A records B's answer", lambda: phase_of(a, incident) == "information-provided")


def test_steps_the_state_does_not_allow_are_refused_and_send_nothing(
    pair: tuple[NodeProcess, NodeProcess],
) -> None:
    a, _ = pair
    incident = report_incident(a)
    with console(a, "op-node-a") as ca:
        before = outgoing_count(a)
        # No closure is proposed: nothing to agree to.
        assert step(ca, incident, "agree-closure", "Agreed.", confirmed="1")[0] == 409
        assert step(ca, incident, "close", "Closed.", confirmed="1")[0] == 409
        assert step(ca, incident, "propose-closure", "Nothing more to add.", confirmed="1")[0] == 303
        # The proposer does not agree to her own proposal.
        code, page = step(ca, incident, "agree-closure", "Agreed.", confirmed="1")
        assert code == 409
        assert "proposer" in page
        assert outgoing_count(a) == before + 1  # the proposal only
        page = ca.get(f"/console/incidents/{incident}").text
        assert 'id="step-agree-closure"' not in page
        assert "step-propose-closure" in page  # a new proposal replaces the pending one


@pytest.mark.parametrize(
    ("form", "status", "says"),
    [
        ({"action": "surrender", "text": "x"}, 400, "no incident step"),
        ({"action": "provide-information", "text": "   "}, 400, "needs a text"),
        ({"action": "provide-information", "text": "x" * 20_001}, 400, "at most 20000"),
        ({"action": "provide-information", "text": "x", "lang": "de"}, 400, "unknown language"),
        ({"action": "provide-information", "text": "x", "desk": "watch"}, 403, "may not send for desk"),
    ],
)
def test_bad_input_is_refused_with_what_to_do(
    pair: tuple[NodeProcess, NodeProcess], form: dict[str, str], status: int, says: str
) -> None:
    a, _ = pair
    incident = report_incident(a)
    with console(a, "op-node-a") as ca:
        before = outgoing_count(a)
        r = ca.post(f"/console/incidents/{incident}/step", {**form, "confirmed": "1"})
        assert r.status_code == status, r.text
        assert says in r.text
        assert outgoing_count(a) == before


def test_who_may_not_send_or_see_is_refused(pair: tuple[NodeProcess, NodeProcess]) -> None:
    a, _ = pair
    incident = report_incident(a)
    form = {"action": "provide-information", "text": "x", "confirmed": "1"}
    before = outgoing_count(a)
    with console(a, "auditor-a") as auditor:
        page = auditor.get(f"/console/incidents/{incident}")
        assert page.status_code == 200
        assert 'id="no-steps"' in page.text
        assert auditor.post(f"/console/incidents/{incident}/step", form).status_code == 403
    with console(a, "admin-a") as admin:
        assert admin.get(f"/console/incidents/{incident}").status_code == 200
        assert admin.post(f"/console/incidents/{incident}/step", form).status_code == 403
    with console(a, "stranger-a") as stranger:
        for path in ("", "/cap.xml", "/positions.geojson"):
            r = stranger.get(f"/console/incidents/{incident}{path}")
            assert r.status_code == 404, path
            assert "no incident" in r.text
        assert stranger.post(f"/console/incidents/{incident}/step", form).status_code == 404
        assert stranger.get("/console/incidents/" + "9" * 200).status_code == 404
    with console(a, "op-node-a") as ca:
        assert ca.get("/console/incidents/00000000-0000-0000-0000-000000000000").status_code == 404
        r = ca.post(f"/console/incidents/{incident}/step", form, csrf=False)
        assert r.status_code == 403
        assert "CSRF" in r.text
    assert outgoing_count(a) == before
    assert phase_of(a, incident) in ("reported", "receipted")


def test_a_closed_incident_offers_no_step(pair: tuple[NodeProcess, NodeProcess]) -> None:
    a, b = pair
    incident = report_incident(a)
    wait_for("the report reaches node B", lambda: has_incident(b, incident))
    with console(a, "op-node-a") as ca, console(b, "op-node-b") as cb:
        assert step(ca, incident, "propose-closure", "Settled.", confirmed="1")[0] == 303
        wait_for("node B sees the proposal", lambda: phase_of(b, incident) == "closure-proposed")
        assert 'id="step-agree-closure"' in cb.get(f"/console/incidents/{incident}").text
        assert step(cb, incident, "agree-closure", "Agreed.", confirmed="1")[0] == 303
        assert step(cb, incident, "close", "Closed.", confirmed="1")[0] == 303
        wait_for("node A sees it closed", lambda: phase_of(a, incident) == "closed")
        for c in (ca, cb):
            page = c.get(f"/console/incidents/{incident}").text
            assert 'data-phase="closed"' in page
            assert 'id="no-steps"' in page
            assert 'class="step-form"' not in page
        assert step(ca, incident, "provide-information", "Late.", confirmed="1")[0] == 409
    assert CHANNEL in a.cli_here("incident", "list").stdout
