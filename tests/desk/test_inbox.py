"""The console inbox over real HTTP between two real node processes (issue 13 items 1, 2 and 5).

Node B sends 130 messages to node A through the operator API's batch route (signed, delivered
and receipted by the real federation path). On A's console: the list says how many match and
pages through all of them (no silent cut-off: the old inbox showed the newest 100 and said
nothing), filters live in the URL, rows show summary lines and names rather than ids, and
bulk acknowledgment confirms first, then signs one acknowledgment per message.
"""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.console.console_support import ConsoleClient, audit_actions, hidden_csrf, query
from tests.harness.nodes import NodeProcess, make_pair

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "parley" / "formats" / "examples"
N_GENERAL = 130
WAIT_S = 30.0


def _example(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text())
    return body


def _received(node: NodeProcess) -> int:
    sql = "SELECT count(*) FROM envelopes WHERE outgoing = :f AND type <> 'acknowledgment'"
    return int(query(node, sql, f=False)[0][0])


def wait_received(node: NodeProcess, n: int) -> None:
    deadline = time.monotonic() + WAIT_S
    while _received(node) < n:
        assert time.monotonic() < deadline, f"{node.name} received {_received(node)} of {n} in {WAIT_S}s"
        time.sleep(0.2)


def send_batch(node: NodeProcess, messages: list[dict[str, Any]]) -> list[str]:
    with node.client() as c:
        r = c.post("/api/v1/messages/batch", json={"messages": messages})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert not [x for x in results if x["error"]], results
    return [str(x["id"]) for x in results]


def general(i: int, **extra: Any) -> dict[str, Any]:
    precedence = "FLASH" if i % 10 == 0 else "ROUTINE"
    text = f"Melding nummer {i} fra grensekommissæren"
    body = {"text": text, "lang": "nb"}
    return {"channel": "test-line", "type": "general", "precedence": precedence, "body": body, **extra}


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeProcess, NodeProcess]]:
    """Two started nodes; A has received N_GENERAL general messages and one incident report."""
    base = tmp_path_factory.mktemp("inbox")
    a, b = make_pair(base)
    a.cli_here(
        "operator",
        "add",
        "auditor-a",
        "--desk",
        "duty",
        "--role",
        "auditor",
        "--password-file",
        str(base / "pw"),
    )
    try:
        a.start()
        b.start()
        send_batch(b, [general(i) for i in range(N_GENERAL)])
        incident = {"channel": "test-line", "type": "incident-at-sea", "precedence": "IMMEDIATE"}
        send_batch(b, [{**incident, "body": _example("incident-at-sea")}])
        wait_received(a, N_GENERAL + 1)
        yield a, b
    finally:
        for n in (a, b):
            n.stop()


def rows(page: str) -> list[str]:
    return re.findall(r'<tr class="[^"]*" data-id="([0-9a-f-]{36})"', page)


def range_text(page: str) -> str:
    m = re.search(r'id="inbox-range" role="status">([^<]*)<', page)
    assert m, "no range line on the page"
    return html.unescape(m.group(1)).strip()


def link(page: str, cls: str) -> str | None:
    m = re.search(rf'<a href="([^"]+)" rel="\w+" class="{cls}"', page)
    return html.unescape(m.group(1)) if m else None


def test_the_inbox_says_how_many_and_pages_through_every_message(
    busy: tuple[NodeProcess, NodeProcess],
) -> None:
    a, _ = busy
    total = N_GENERAL + 1
    with ConsoleClient(a) as c:
        c.login("op-node-a")
        first = c.get("/console/inbox?direction=in")
        assert first.status_code == 200, first.text
        assert range_text(first.text) == f"1–50 of {total}"
        seen = rows(first.text)
        assert len(seen) == 50
        page = first.text
        for _ in range(10):  # bounded: three pages expected
            older = link(page, "pager-older")
            if older is None:
                break
            page = c.get(older).text
            seen += rows(page)
        assert len(seen) == total
        assert len(set(seen)) == total
        assert range_text(page) == f"101–{total} of {total}"
        # Jump to the oldest page directly, and back to the newest.
        oldest_link = link(first.text, "pager-oldest")
        assert oldest_link is not None
        assert "oldest=1" in oldest_link
        oldest = c.get(oldest_link).text
        assert rows(oldest)[-1] == seen[-1]
        assert range_text(oldest) == f"{total - 49}–{total} of {total}"
        newest_link = link(oldest, "pager-newest")
        assert newest_link is not None
        assert rows(c.get(newest_link).text) == seen[:50]


def test_filters_live_in_the_url_and_combine(busy: tuple[NodeProcess, NodeProcess]) -> None:
    a, _ = busy
    routine = N_GENERAL - N_GENERAL // 10
    with ConsoleClient(a) as c:
        c.login("op-node-a")
        r = c.get("/console/inbox?precedence=ROUTINE&limit=100&type=general")
        assert r.status_code == 200, r.text
        assert range_text(r.text) == f"1–100 of {routine}"
        assert 'value="ROUTINE" selected' in r.text
        assert 'value="100" selected' in r.text
        older = link(r.text, "pager-older")
        assert older is not None
        assert "precedence=ROUTINE" in older
        assert "limit=100" in older
        assert "type=general" in older
        assert len(rows(c.get(older).text)) == routine - 100
        # A filter that matches nothing says so instead of showing an empty table.
        none = c.get("/console/inbox?precedence=FLASH&type=incident-at-sea")
        assert "No messages match this search." in none.text
        assert range_text(none.text) == "No messages match this search."


def test_rows_show_summary_lines_and_names_not_ids(busy: tuple[NodeProcess, NodeProcess]) -> None:
    a, _ = busy
    with ConsoleClient(a) as c:
        c.login("op-node-a")
        page = c.get("/console/inbox?type=incident-at-sea").text
        summary = "Incident at sea — KV Barentshav, Dangerous manoeuvre, 70°03.25′N 031°13.00′E"
        assert f'title="{summary}">{summary}</a>' in page  # the whole text on hover too
        assert '<span class="clip" title="Test channel">Test channel</span>' in page
        assert "Russia" in page  # the sending node's party
        general_page = c.get("/console/inbox?type=general&limit=25").text
        assert 'General message — <span lang="nb">“Melding nummer' in general_page


def test_bad_page_options_are_refused_with_a_clear_error(busy: tuple[NodeProcess, NodeProcess]) -> None:
    a, _ = busy
    with ConsoleClient(a) as c:
        c.login("op-node-a")
        size = c.get("/console/inbox?limit=100000")
        assert size.status_code == 400
        assert "page size" in size.text
        assert "25, 50, 100, 200" in size.text
        cursor = c.get("/console/inbox?cursor=not-a-cursor")
        assert cursor.status_code == 400
        assert "cursor" in cursor.text
        hidden = c.get("/console/inbox?channel=other-line")
        assert hidden.status_code == 404


def _unacked(node: NodeProcess, n: int) -> list[str]:
    sql = (
        "SELECT id FROM envelopes e WHERE outgoing = :f AND type = 'general' AND NOT EXISTS "
        "(SELECT 1 FROM acknowledgments k WHERE k.message_id = e.id) ORDER BY created DESC LIMIT :n"
    )
    return [str(r[0]) for r in query(node, sql, f=False, n=n)]


def _acks(node: NodeProcess) -> int:
    return int(query(node, "SELECT count(*) FROM acknowledgments")[0][0])


def test_bulk_acknowledgment_confirms_first_then_signs_each_message(
    busy: tuple[NodeProcess, NodeProcess],
) -> None:
    a, b = busy
    ids = _unacked(a, 4)
    with ConsoleClient(a) as c:
        c.login("op-node-a")
        page = c.get("/console/inbox?ack=unacknowledged").text
        csrf = hidden_csrf(page)
        for i in ids:
            assert f'name="id" value="{i}"' in page
        # One of them acknowledged already, on its own: the bulk reports it in its place.
        single = c.post(f"/console/messages/{ids[0]}/ack", {})
        assert single.status_code == 303
        before = _acks(a)
        form: dict[str, Any] = {"csrf": csrf, "back": "/console/inbox?ack=unacknowledged", "id": ids}
        confirm = c.http.post("/console/inbox/ack", data=form)
        assert confirm.status_code == 200, confirm.text
        assert "Acknowledge these messages?" in confirm.text
        assert _acks(a) == before  # the confirmation changes nothing
        done = c.http.post("/console/inbox/ack", data={**form, "confirm": "1"})
        assert done.status_code == 200, done.text
        assert _acks(a) == before + 3
        results = dict(re.findall(r'<tr data-id="([0-9a-f-]{36})" class="(bulk-ok|bulk-failed)', done.text))
        assert results == {ids[0]: "bulk-failed", **{i: "bulk-ok" for i in ids[1:]}}
        assert "already acknowledged" in done.text
    assert audit_actions(a, "op-node-a").count("acknowledge") >= 4
    bulk = query(a, "SELECT details FROM audit_log WHERE actor = 'op-node-a' AND action = 'acknowledge'")
    assert sum('"console-bulk"' in str(r[0]) for r in bulk) == 3
    # Each is a signed acknowledgment the other side receives and records.
    deadline = time.monotonic() + WAIT_S
    sql = "SELECT count(*) FROM acknowledgments WHERE message_id IN (" + ",".join(f"'{i}'" for i in ids) + ")"
    while int(query(b, sql)[0][0]) < len(ids):
        assert time.monotonic() < deadline, "node B did not record the acknowledgments"
        time.sleep(0.2)


def test_bulk_acknowledgment_is_refused_to_an_auditor_and_bounded(
    busy: tuple[NodeProcess, NodeProcess],
) -> None:
    a, _ = busy
    ids = _unacked(a, 2)
    before = _acks(a)
    with ConsoleClient(a) as c:
        c.login("auditor-a")
        page = c.get("/console/inbox").text
        assert 'name="id"' not in page  # nothing to tick for a reader
        r = c.http.post("/console/inbox/ack", data={"csrf": c.csrf, "confirm": "1", "id": ids[0]})
        assert r.status_code == 403
    with ConsoleClient(a) as c:
        c.login("op-node-a")
        many = [f"00000000-0000-4000-8000-{i:012d}" for i in range(201)]
        r = c.http.post("/console/inbox/ack", data={"csrf": c.csrf, "confirm": "1", "id": many})
        assert r.status_code == 400
        assert "at most 200" in r.text
        r = c.http.post("/console/inbox/ack", data={"confirm": "1", "id": ids[0]})
        assert r.status_code == 403  # no CSRF token
    assert _acks(a) == before


def test_one_line_per_thread_shows_the_newest_of_each_thread(busy: tuple[NodeProcess, NodeProcess]) -> None:
    a, b = busy
    before = _received(a)
    (root,) = send_batch(b, [general(1001)])
    wait_received(a, before + 1)
    (reply,) = send_batch(b, [general(1002, reply_to=root)])
    wait_received(a, before + 2)
    with ConsoleClient(a) as c:
        c.login("op-node-a")
        flat = rows(c.get("/console/inbox?type=general&limit=25").text)
        assert flat[:2] == [reply, root]
        threaded = c.get("/console/inbox?type=general&limit=25&thread=1").text
        assert rows(threaded)[0] == reply
        assert root not in rows(threaded)
        assert "2 messages in this thread" in threaded
        assert 'name="thread" value="1" checked' in threaded
        older = link(threaded, "pager-older")
        assert older is not None
        assert "thread=1" in older
