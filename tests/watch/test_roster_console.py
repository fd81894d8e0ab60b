"""The console's roster and handover pages over real HTTPS, against a real node process.

Who may do what: everyone with a role on the desk views; a supervisor (or admin) edits the
roster; duty officers hand over and take over; auditors only read; a desk the operator has
no role on does not exist for her (404). Warnings are shown after a change, bad input is
shown on the page and changes nothing, and the dashboard names who is on watch, until when.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from parley.devnet.nodes import run_cli_here
from tests.console.console_support import ConsoleClient
from tests.harness.nodes import PASSWORD, NodeProcess, init_node

pytestmark = pytest.mark.e2e

USERS = (("sup", "duty", "supervisor"), ("duty1", "duty", "duty"), ("duty2", "duty", "duty"),
         ("aud", "duty", "auditor"), ("harb", "harbour", "duty"))  # fmt: skip


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    base = tmp_path_factory.mktemp("watch-console")
    n = init_node(base, "node-a", "Norway")
    (base / "pw").write_text(PASSWORD)
    for desk in ("duty", "harbour"):
        n.cli_here("desk", "add", desk)
    for user, desk, role in USERS:
        n.cli_here(
            "operator", "add", user, "--desk", desk, "--role", role, "--password-file", str(base / "pw")
        )
    n.cli_here("operator", "lang", "duty2", "nb")
    n.start()
    try:
        yield n
    finally:
        n.stop()


@pytest.fixture(scope="module")
def consoles(node: NodeProcess) -> Iterator[dict[str, ConsoleClient]]:
    out = {}
    for user, _, _ in USERS:
        c = ConsoleClient(node)
        c.login(user)
        out[user] = c
    yield out
    for c in out.values():
        c.http.close()


def shifts(node: NodeProcess) -> list[dict[str, object]]:
    """The desk's shifts in the coming week, read with the CLI from the node's database."""
    shifts: list[dict[str, object]] = json.loads(
        run_cli_here(node.home, "roster", "show", "duty", "--json").stdout
    )["shifts"]
    return shifts


def local(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M")


def test_a_supervisor_edits_the_roster_and_sees_the_warnings(
    node: NodeProcess, consoles: dict[str, ConsoleClient]
) -> None:
    sup = consoles["sup"]
    page = sup.get("/console/roster?desk=duty")
    assert page.status_code == 200, page.text
    assert 'action="/console/roster/add"' in page.text
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    r = sup.post(
        "/console/roster/add",
        {"desk": "duty", "operator": "duty1", "role": "watch", "tz": "UTC",
         "start": local(now - timedelta(hours=1)), "end": local(now + timedelta(hours=2))},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert "Shifts added for duty1: 1." in r.text
    assert "Gap: nobody on watch from" in r.text  # after duty1's shift, the week is empty
    assert [s["operator"] for s in shifts(node)] == ["duty1"]
    dash = consoles["duty1"].get("/console/")
    assert dash.status_code == 200
    assert re.search(r"duty1 until \d{4}-\d\d-\d\d \d\d:\d\d UTC", dash.text), dash.text
    # Norwegian, from the catalogue.
    assert "Vaktliste" in consoles["duty2"].get("/console/roster?desk=duty").text

    before = shifts(node)
    bad = sup.post(
        "/console/roster/add",
        {"desk": "duty", "operator": "duty2", "role": "watch", "tz": "UTC",
         "start": local(now + timedelta(hours=5)), "end": local(now + timedelta(hours=4))},
    )  # fmt: skip
    assert bad.status_code == 400
    assert "before it starts" in bad.text
    assert "Nothing was changed." in bad.text
    unknown = sup.post(
        "/console/roster/add",
        {"desk": "duty", "operator": "aud", "tz": "Nowhere/Town", "start": local(now), "end": local(now)},
    )
    assert unknown.status_code == 400
    assert "unknown time zone" in unknown.text
    assert shifts(node) == before

    shift_id = str(before[0]["id"])
    assert consoles["duty1"].post("/console/roster/remove", {"shift": shift_id}).status_code == 403
    assert consoles["harb"].get("/console/roster?desk=duty").status_code == 404
    removed = sup.post("/console/roster/remove", {"shift": shift_id})
    assert removed.status_code == 200
    assert f"Shift {shift_id} of duty1 removed." in removed.text
    assert shifts(node) == []


def test_who_may_view_and_edit(consoles: dict[str, ConsoleClient]) -> None:
    assert consoles["duty1"].post("/console/roster/add", {"desk": "duty"}).status_code == 403
    assert consoles["aud"].post("/console/roster/add", {"desk": "duty"}).status_code == 403
    seen = consoles["aud"].get("/console/roster?desk=duty")
    assert seen.status_code == 200
    assert 'action="/console/roster/add"' not in seen.text  # an auditor reads only
    assert consoles["harb"].get("/console/roster?desk=duty").status_code == 404
    assert consoles["harb"].get("/console/handover?desk=duty").status_code == 404
    assert consoles["sup"].post("/console/roster/add", {"desk": "harbour"}).status_code == 404
    assert consoles["sup"].post("/console/roster/remove", {"shift": "999"}).status_code == 404


def test_handover_start_confirm_and_history(node: NodeProcess, consoles: dict[str, ConsoleClient]) -> None:
    out = consoles["duty1"]
    r = out.post("/console/handover/start", {"desk": "duty", "note": "Radar 2 is down <b>until 14:00</b>."})
    assert r.status_code == 303, r.text
    target = r.headers["location"]
    handover_id = target.rsplit("/", 1)[1]
    page = out.get(target)
    assert page.status_code == 200
    assert "Radar 2 is down &lt;b&gt;until 14:00&lt;/b&gt;." in page.text  # escaped, never markup
    assert "Nothing open at this desk." in page.text
    assert 'action="/console/handover/' not in page.text  # the outgoing officer does not confirm
    assert out.post(f"{target}/confirm", {}).status_code == 400
    assert consoles["aud"].post(f"{target}/confirm", {}).status_code == 403
    assert consoles["harb"].post(f"{target}/confirm", {}).status_code == 404
    assert consoles["harb"].get(target).status_code == 404
    incoming = consoles["duty2"]
    assert "Bekreft og overta" in incoming.get(target).text
    assert incoming.post(f"{target}/confirm", {}).status_code == 303
    assert "Bekreftet av duty2" in incoming.get(target).text
    assert incoming.post(f"{target}/confirm", {}).status_code == 409
    history = consoles["aud"].get("/console/handover?desk=duty")
    assert history.status_code == 200
    assert f'href="/console/handover/{handover_id}"' in history.text
    assert 'action="/console/handover/start"' not in history.text
    empty = out.post("/console/handover/start", {"desk": "duty", "note": "   "})
    assert empty.status_code == 400
    assert "the handover note is empty" in empty.text
    assert consoles["aud"].post("/console/handover/start", {"desk": "duty", "note": "x"}).status_code == 403
    assert consoles["harb"].post("/console/handover/start", {"desk": "duty", "note": "x"}).status_code == 404
    shown = json.loads(run_cli_here(node.home, "handover", "show", handover_id, "--json").stdout)
    assert (shown["outgoing"], shown["incoming"]) == ("duty1", "duty2")


def test_pages_need_a_log_in_and_the_csrf_token(
    node: NodeProcess, consoles: dict[str, ConsoleClient]
) -> None:
    with ConsoleClient(node) as anonymous:
        assert anonymous.get("/console/roster").status_code == 303
    r = consoles["sup"].post("/console/roster/add", {"desk": "duty"}, csrf=False)
    assert r.status_code == 403
    assert "CSRF" in r.text
