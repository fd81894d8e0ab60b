"""One authorization policy for the operator API and the console (issue 14, item 2).

A table over EVERY route of the node's application (walked from ``app.routes``): each must
declare its action (parley.directory.policy), and every route an operator role governs is
called by a duty officer, a supervisor, an auditor and an admin, each holding that role on
desk ``duty`` only, once on a channel of that desk (``test-line``) and once on a channel of
another desk (``other-line``, whose member desk on this node is ``watch``). Not allowed by
role: 403. A channel (or a message on it) not visible to the operator: 404, like one that
does not exist. Lists show nothing of the other desk's channel to anyone but an admin.

Real node processes (SQLite): node A is the one asked; node B sends the incoming traffic.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from parley.api.route_actions import action_of, every_route
from parley.directory.policy import NOT_BY_ROLE, Action, role_allows
from parley.node import Node
from tests.console.console_support import ConsoleClient
from tests.harness.nodes import CHARTER, NodeProcess, make_pair

pytestmark = pytest.mark.e2e

ROLES = ("duty", "supervisor", "auditor", "admin")
MINE, OTHER = "test-line", "other-line"
ACKS_PER_CHANNEL = 12  # three acknowledging routes × four roles, each on a fresh message


@dataclass
class World:
    a: NodeProcess
    b: NodeProcess
    tokens: dict[str, str]
    consoles: dict[str, ConsoleClient]
    api: dict[str, httpx.Client]
    readable: dict[str, str]  # channel -> an incoming message id
    fresh: dict[str, Iterator[str]]  # channel -> unacknowledged incoming message ids

    def message(self, channel: str) -> str:
        return self.readable[channel]

    def unacked(self, channel: str) -> str:
        return next(self.fresh[channel])


Call = Callable[[World, str, str], httpx.Response]  # (world, role, channel) -> response


@dataclass(frozen=True)
class Case:
    """How to call one route for a role, on a channel of her desk or of another desk."""

    call: Call
    ok: int
    # "scoped": the request names the channel (or a message on it): not visible -> 404.
    # "list": the answer lists what the operator sees: the other channel must not appear.
    # "global": the node's own, not a desk's.
    scope: str
    outcome: Callable[[httpx.Response], int] = lambda r: r.status_code


def _api(
    method: str, path: Callable[[World, str], str], body: Callable[[World, str], Any] = lambda w, c: None
) -> Call:
    def call(w: World, role: str, channel: str) -> httpx.Response:
        return w.api[role].request(method, path(w, channel), json=body(w, channel))

    return call


def _page(
    method: str, path: Callable[[World, str], str], form: Callable[[World, str], dict[str, str]] | None = None
) -> Call:
    def call(w: World, role: str, channel: str) -> httpx.Response:
        c = w.consoles[role]
        if method == "GET":
            return c.get(path(w, channel))
        return c.post(path(w, channel), form(w, channel) if form else {})

    return call


def _events(w: World, role: str, channel: str) -> httpx.Response:
    with w.consoles[role].http.stream("GET", "/console/events") as r:
        return r  # the status is enough: the stream itself runs for minutes


def _batch_outcome(r: httpx.Response) -> int:
    """A batch answers 200 with each item's refusal in its place: read the item's."""
    if r.status_code != 200:
        return r.status_code
    item = r.json()["results"][0]
    return {None: 200, "unknown_channel": 404, "not_allowed": 403}.get(item["error"], 400)


def _bulk_ack_outcome(r: httpx.Response) -> int:
    """A bulk acknowledgment answers 200 with each message's refusal in its place: read it."""
    m = re.search(r'class="bulk-(ok|failed)[^"]*" data-error="([^"]*)"', r.text)
    if r.status_code != 200 or m is None:
        return r.status_code
    return {"": 200, "not_found": 404, "forbidden": 403}.get(m.group(2), 400)


def _general(w: World, channel: str) -> dict[str, Any]:
    return {"channel": channel, "type": "general", "body": {"text": "table test", "lang": "en"}}


# --- rosters and handovers are a desk's: "duty" holds test-line, "watch" other-line -------
def _desk(channel: str) -> str:
    return "duty" if channel == MINE else "watch"


def _shift_form(w: World, c: str) -> dict[str, str]:
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    return {
        "desk": _desk(c),
        "operator": "watcher-1",
        "tz": "UTC",
        "start": f"{now - timedelta(hours=1):%Y-%m-%dT%H:%M}",
        "end": f"{now + timedelta(hours=3):%Y-%m-%dT%H:%M}",
    }


def _new_shift(w: World, c: str) -> dict[str, str]:
    f = _shift_form(w, c)
    args = ["roster", "add", f["desk"], "--operator", "watcher-1", "--start", f["start"], "--end", f["end"]]
    shift = json.loads(w.a.cli_here(*args, "--tz", "UTC", "--json").stdout)["shifts"][0]
    return {"shift": str(shift["id"])}


def _new_handover(w: World, c: str) -> str:
    args = ["handover", "start", _desk(c), "--operator", "watcher-1", "--note", "table test", "--json"]
    return str(json.loads(w.a.cli_here(*args).stdout)["id"])


_INCIDENTS: dict[tuple[str, str], str] = {}  # (node home, channel) -> an incident reported by A


def _incident(w: World, c: str) -> str:
    key = (str(w.a.home), c)
    if key not in _INCIDENTS:
        from tests.desk.incident_page_support import incident_body

        body = w.a.home.parent / f"incident-{c}.json"
        body.write_text(json.dumps(incident_body()))
        args = ["send", "--channel", c, "--type", "incident-at-sea", "--body-file", str(body), "--json"]
        _INCIDENTS[key] = str(json.loads(w.a.cli_here(*args, "--desk", _desk(c)).stdout)["id"])
    return _INCIDENTS[key]


TABLE: dict[tuple[str, str], Case] = {
    ("GET", "/api/v1/status"): Case(_api("GET", lambda w, c: "/api/v1/status"), 200, "list"),
    ("GET", "/api/v1/channels"): Case(_api("GET", lambda w, c: "/api/v1/channels"), 200, "list"),
    ("GET", "/api/v1/messages"): Case(
        _api("GET", lambda w, c: f"/api/v1/messages?channel={c}"), 200, "scoped"
    ),
    ("GET", "/api/v1/messages/{message_id}"): Case(
        _api("GET", lambda w, c: f"/api/v1/messages/{w.message(c)}"), 200, "scoped"
    ),
    ("POST", "/api/v1/messages"): Case(
        _api("POST", lambda w, c: "/api/v1/messages", _general), 201, "scoped"
    ),
    ("POST", "/api/v1/messages/batch"): Case(
        _api("POST", lambda w, c: "/api/v1/messages/batch", lambda w, c: {"messages": [_general(w, c)]}),
        200,
        "scoped",
        _batch_outcome,
    ),
    ("POST", "/api/v1/messages/{message_id}/ack"): Case(
        _api("POST", lambda w, c: f"/api/v1/messages/{w.unacked(c)}/ack"), 201, "scoped"
    ),
    ("GET", "/console/"): Case(_page("GET", lambda w, c: "/console/"), 200, "list"),
    ("GET", "/console/events"): Case(_events, 200, "global"),
    ("GET", "/console/inbox"): Case(_page("GET", lambda w, c: f"/console/inbox?channel={c}"), 200, "scoped"),
    ("GET", "/console/messages/{message_id}"): Case(
        _page("GET", lambda w, c: f"/console/messages/{w.message(c)}"), 200, "scoped"
    ),
    ("POST", "/console/messages/{message_id}/ack"): Case(
        _page("POST", lambda w, c: f"/console/messages/{w.unacked(c)}/ack"), 303, "scoped"
    ),
    ("POST", "/console/inbox/ack"): Case(
        _page("POST", lambda w, c: "/console/inbox/ack", lambda w, c: {"confirm": "1", "id": w.unacked(c)}),
        200,
        "scoped",
        _bulk_ack_outcome,
    ),
    ("GET", "/console/compose"): Case(
        _page("GET", lambda w, c: f"/console/compose?_channel={c}"), 200, "list"
    ),
    # The channel picker offers only visible channels and ignores any other name.
    ("POST", "/console/compose"): Case(
        _page("POST", lambda w, c: "/console/compose", lambda w, c: {"_channel": c, "action": ""}),
        200,
        "list",
    ),
    ("GET", "/console/incidents"): Case(_page("GET", lambda w, c: "/console/incidents"), 200, "list"),
    ("GET", "/console/meetings"): Case(_page("GET", lambda w, c: "/console/meetings"), 200, "list"),
    ("GET", "/console/channels"): Case(_page("GET", lambda w, c: "/console/channels"), 200, "list"),
    ("GET", "/console/record"): Case(_page("GET", lambda w, c: "/console/record"), 200, "global"),
    # No meeting exists: on a visible channel the meeting is not found; on another, the channel.
    ("POST", "/console/meetings/sign"): Case(
        _page(
            "POST", lambda w, c: "/console/meetings/sign", lambda w, c: {"channel": c, "meeting": "m-none"}
        ),
        404,
        "scoped",
        lambda r: 4040 if r.status_code == 404 and "unknown channel" in r.text else r.status_code,
    ),
    ("POST", "/console/record/verify"): Case(
        _page("POST", lambda w, c: "/console/record/verify"), 200, "global"
    ),
    ("GET", "/console/settings"): Case(_page("GET", lambda w, c: "/console/settings"), 200, "global"),
    ("POST", "/console/settings"): Case(
        _page("POST", lambda w, c: "/console/settings", lambda w, c: {"lang": "en"}), 303, "global"
    ),
    # A desk's roster and handovers: a desk without a role of hers does not exist for her.
    ("GET", "/console/roster"): Case(
        _page("GET", lambda w, c: f"/console/roster?desk={_desk(c)}"), 200, "scoped"
    ),
    ("POST", "/console/roster/add"): Case(
        _page("POST", lambda w, c: "/console/roster/add", _shift_form), 200, "scoped"
    ),
    ("POST", "/console/roster/remove"): Case(
        _page("POST", lambda w, c: "/console/roster/remove", _new_shift), 200, "scoped"
    ),
    ("GET", "/console/handover"): Case(
        _page("GET", lambda w, c: f"/console/handover?desk={_desk(c)}"), 200, "scoped"
    ),
    ("POST", "/console/handover/start"): Case(
        _page("POST", lambda w, c: "/console/handover/start", lambda w, c: {"desk": _desk(c), "note": "n"}),
        303,
        "scoped",
    ),
    ("GET", "/console/handover/{handover_id}"): Case(
        _page("GET", lambda w, c: f"/console/handover/{_new_handover(w, c)}"), 200, "scoped"
    ),
    ("POST", "/console/handover/{handover_id}/confirm"): Case(
        _page("POST", lambda w, c: f"/console/handover/{_new_handover(w, c)}/confirm"), 303, "scoped"
    ),
    # The alert bar lists only what the operator sees; the mute and notices are her own.
    ("GET", "/console/alerts"): Case(_page("GET", lambda w, c: "/console/alerts"), 200, "list"),
    ("POST", "/console/alerts/mute"): Case(
        _page("POST", lambda w, c: "/console/alerts/mute", lambda w, c: {"minutes": "5"}), 303, "global"
    ),
    ("POST", "/console/alerts/unmute"): Case(
        _page("POST", lambda w, c: "/console/alerts/unmute"), 303, "global"
    ),
    ("POST", "/console/alerts/notifications"): Case(
        _page("POST", lambda w, c: "/console/alerts/notifications", lambda w, c: {"notify": "off"}),
        303,
        "global",
    ),
    # The incident page (console/incident_routes.py): a step is a signed send.
    ("GET", "/console/incidents/{incident_id}"): Case(
        _page("GET", lambda w, c: f"/console/incidents/{_incident(w, c)}"), 200, "scoped"
    ),
    ("GET", "/console/incidents/{incident_id}/cap.xml"): Case(
        _page("GET", lambda w, c: f"/console/incidents/{_incident(w, c)}/cap.xml"), 200, "scoped"
    ),
    ("GET", "/console/incidents/{incident_id}/positions.geojson"): Case(
        _page("GET", lambda w, c: f"/console/incidents/{_incident(w, c)}/positions.geojson"), 200, "scoped"
    ),
    ("POST", "/console/incidents/{incident_id}/step"): Case(
        _page(
            "POST",
            lambda w, c: f"/console/incidents/{_incident(w, c)}/step",
            lambda w, c: {"action": "request-information", "text": "table test", "confirmed": "1"},
        ),
        303,
        "scoped",
    ),
}


def expected(case: Case, action: Action, role: str, channel: str, key: tuple[str, str]) -> int:
    if not role_allows(role, action):
        return 403
    if channel == MINE or case.scope != "scoped":
        return case.ok
    if role != "admin":
        return 4040 if key == ("POST", "/console/meetings/sign") else 404
    # An admin sees every channel but acts only for desks she holds a role on.
    return 403 if action in (Action.SEND, Action.ACKNOWLEDGE) else case.ok


def _app_routes(home: Path) -> list[tuple[str, str, Action | None]]:
    from parley.api.app import create_app
    from parley.running.service import Service

    node = Node.open(home)
    try:
        app = create_app(Service(node, tick_s=0))
        out = []
        for route in every_route(app.routes):
            methods = sorted(set(getattr(route, "methods", None) or {"*"}) - {"HEAD"})
            out += [(m, str(getattr(route, "path", "")), action_of(route)) for m in methods]
        return out
    finally:
        node.close()


def _world(base: Path) -> World:
    a, b = make_pair(base, interval=3600)
    a.cli_here("desk", "add", "watch")
    charter = base / "other.toml"
    charter.write_text(
        CHARTER.format(id=OTHER, a=a.name, b=b.name, interval=3600, flash=300).replace(
            f'"{a.name}/duty"', f'"{a.name}/watch"'
        )
    )
    a.cli_here(
        "channel", "propose", "--peer", b.name, "--charter", str(charter), "--out", str(base / "p2.json")
    )
    b.cli_here("channel", "accept", str(base / "p2.json"), "--out", str(base / "c2.json"))
    a.cli_here("channel", "accept", str(base / "c2.json"))
    for desk in ("duty", "watch"):  # stands watches and hands over on both desks (roster rows)
        pw = str(base / "pw")
        a.cli_here("operator", "add", "watcher-1", "--desk", desk, "--role", "duty", "--password-file", pw)
    tokens = {}
    for role in ROLES:
        a.cli_here(
            "operator",
            "add",
            f"{role}-1",
            "--desk",
            "duty",
            "--role",
            role,
            "--password-file",
            str(base / "pw"),
        )
        tokens[role] = a.cli_here("token", "issue", f"{role}-1").stdout.strip()
    return World(a, b, tokens, {}, {}, {}, {})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = _world(tmp_path_factory.mktemp("authz"))
    try:
        w.a.start()
        w.b.start()
        sent: dict[str, list[str]] = {}
        for channel in (MINE, OTHER):
            sent[channel] = [
                w.b.send(channel, f"to {channel} #{i}")["id"] for i in range(ACKS_PER_CHANNEL + 1)
            ]
        admin = w.a.client()
        admin.headers["authorization"] = f"Bearer {w.tokens['admin']}"
        deadline = time.monotonic() + 20
        wanted = {i for ids in sent.values() for i in ids}
        while True:
            have = {m["id"] for m in admin.get("/api/v1/messages?limit=500").json()["items"]}
            if wanted <= have:
                break
            assert time.monotonic() < deadline, "node B's messages did not reach node A"
            time.sleep(0.2)
        admin.close()
        for channel, ids in sent.items():
            w.readable[channel] = ids[0]
            w.fresh[channel] = iter(ids[1:])
        for role in ROLES:
            client = w.a.client()
            client.headers["authorization"] = f"Bearer {w.tokens[role]}"
            w.api[role] = client
            console = ConsoleClient(w.a)
            console.login(f"{role}-1")
            w.consoles[role] = console
        yield w
    finally:
        for c in w.api.values():
            c.close()
        for cc in w.consoles.values():
            cc.http.close()
        w.a.stop()
        w.b.stop()


def test_every_route_declares_its_action_and_has_a_row(world: World) -> None:
    routes = _app_routes(world.a.home)
    undeclared = [(m, p) for m, p, action in routes if action is None]
    assert not undeclared, f"routes without a declared action (parley.directory.policy): {undeclared}"
    by_role = {(m, p) for m, p, action in routes if action not in NOT_BY_ROLE}
    assert by_role == set(TABLE), (
        f"routes an operator role governs but not in the table: {sorted(by_role - set(TABLE))}; "
        f"rows for routes that are gone: {sorted(set(TABLE) - by_role)}"
    )


def test_every_route_for_every_role_on_her_desk_and_another(world: World) -> None:
    actions = {(m, p): action for m, p, action in _app_routes(world.a.home)}
    wrong = []
    for key, role, channel in itertools.product(sorted(TABLE), ROLES, (MINE, OTHER)):
        case, action = TABLE[key], actions[key]
        assert action is not None
        r = case.call(world, role, channel)
        got, want = case.outcome(r), expected(case, action, role, channel, key)
        if got != want:
            wrong.append(f"{key[0]} {key[1]} as {role} on {channel}: {got}, expected {want}: {r.text[:200]}")
        # What one may not see is not listed either (the node's status included).
        if case.scope == "list" and role != "admin" and got == 200 and OTHER in r.text:
            wrong.append(f"{key[0]} {key[1]} as {role} shows {OTHER}")
    assert not wrong, "\n".join(wrong)


def test_an_admin_sees_every_channel_in_lists(world: World) -> None:
    for path in ("/api/v1/status", "/api/v1/channels"):
        assert OTHER in world.api["admin"].get(path).text
    assert OTHER not in world.api["duty"].get("/api/v1/status").text
