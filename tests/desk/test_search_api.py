"""``GET /api/v1/messages`` and ``parley inbox`` between two real node processes (issue 13 items 1-3).

Node B sends through the operator API; node A receives over the real federation path. On A:
the API pages with ``next``/``prev`` links through every message once, a Russian search
finds a Norwegian original, bad input is a 4xx with a hint (never a 500), the answer's shape
is in the OpenAPI; the CLI streams NDJSON with bodies and renderings.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness.nodes import NodeProcess, make_pair
from tests.workflows.support import border_incident

pytestmark = pytest.mark.e2e

N = 23
WAIT_S = 30.0


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeProcess, NodeProcess, list[str]]]:
    base = tmp_path_factory.mktemp("search-api")
    a, b = make_pair(base)
    try:
        a.start()
        b.start()
        msgs: list[dict[str, Any]] = [
            {"channel": "test-line", "type": "general", "body": {"text": f"Melding {i}", "lang": "nb"}}
            for i in range(N - 1)
        ]
        msgs.append(
            {
                "channel": "test-line",
                "type": "border-incident",
                "precedence": "FLASH",
                "body": border_incident("Grensemerke 353 funnet skadet."),
            }
        )
        with b.client() as c:
            r = c.post("/api/v1/messages/batch", json={"messages": msgs})
        assert r.status_code == 200, r.text
        ids = [str(x["id"]) for x in r.json()["results"]]
        deadline = time.monotonic() + WAIT_S
        with a.client() as c:
            while c.get("/api/v1/messages", params={"direction": "in", "limit": 1}).json()["total"] < N:
                assert time.monotonic() < deadline, "node B's messages did not reach node A"
                time.sleep(0.2)
        yield a, b, ids
    finally:
        for n in (a, b):
            n.stop()


def test_next_links_visit_every_message_once_and_prev_goes_back(
    nodes: tuple[NodeProcess, NodeProcess, list[str]],
) -> None:
    a, _, ids = nodes
    pages: list[dict[str, Any]] = []
    with a.client() as c:
        url: str | None = "/api/v1/messages?direction=in&limit=5"
        while url is not None and len(pages) <= N:
            r = c.get(url)
            assert r.status_code == 200, r.text
            pages.append(r.json())
            url = pages[-1]["next"]
        seen = [m["id"] for p in pages for m in p["items"]]
        assert sorted(seen) == sorted(ids)
        assert len(seen) == N
        assert [p["position"] for p in pages] == list(range(0, N, 5))
        assert {p["total"] for p in pages} == {N}
        assert pages[0]["prev"] is None
        assert "direction=in" in pages[1]["next"]
        back = c.get(pages[-1]["prev"]).json()
        assert back["items"] == pages[-2]["items"]
        oldest = c.get("/api/v1/messages", params={"direction": "in", "limit": 5, "oldest": "true"}).json()
        assert [m["id"] for m in oldest["items"]] == seen[-5:]
        assert oldest["next"] is None


def test_a_russian_search_finds_the_norwegian_original(
    nodes: tuple[NodeProcess, NodeProcess, list[str]],
) -> None:
    a, _, ids = nodes
    with a.client() as c:
        r = c.get("/api/v1/messages", params={"q": "повреждение пограничных знаков"})
        assert r.status_code == 200, r.text
        assert [m["id"] for m in r.json()["items"]] == [ids[-1]]
        both = c.get("/api/v1/messages", params=[("q", "melding"), ("precedence", "FLASH")]).json()
        assert both["total"] == 0
        flash = c.get("/api/v1/messages", params=[("precedence", "FLASH"), ("direction", "in")]).json()
        assert [m["id"] for m in flash["items"]] == [ids[-1]]
        assert flash["items"][0]["from"] == "node-b/duty"


@pytest.mark.parametrize(
    ("params", "status", "error"),
    [
        ({"cursor": "bm90IGEgY3Vyc29y"}, 400, "bad_cursor"),
        ({"cursor": "!!"}, 400, "bad_cursor"),
        ({"limit": "501"}, 422, "invalid_request"),
        ({"q": "x" * 201}, 422, "invalid_request"),
        ({"since": "last thursday"}, 400, "bad_request"),
        ({"channel": "no-such-channel"}, 404, "unknown_channel"),
        ({"ack": "maybe"}, 422, "invalid_request"),
    ],
)
def test_bad_input_is_a_clear_client_error(
    nodes: tuple[NodeProcess, NodeProcess, list[str]], params: dict[str, str], status: int, error: str
) -> None:
    a, _, _ = nodes
    with a.client() as c:
        r = c.get("/api/v1/messages", params=params)
    assert r.status_code == status, r.text
    assert r.json()["error"] == error


def test_the_page_shape_is_in_the_openapi(nodes: tuple[NodeProcess, NodeProcess, list[str]]) -> None:
    a, _, _ = nodes
    with a.client() as c:
        spec = c.get("/openapi.json").json()
    op = spec["paths"]["/api/v1/messages"]["get"]
    ref = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    schema = spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert set(schema["properties"]) >= {"items", "total", "next", "prev", "position"}
    assert {p["name"] for p in op["parameters"]} >= {
        "q",
        "cursor",
        "limit",
        "channel",
        "ack",
        "since",
        "until",
    }


def test_cli_inbox_streams_ndjson_with_bodies_and_renderings(
    nodes: tuple[NodeProcess, NodeProcess, list[str]],
) -> None:
    a, _, ids = nodes
    out = a.cli_here("inbox", "--all", "--json", "--limit", "1")
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [m["id"] for m in lines] == [
        m["id"] for m in sorted(lines, key=lambda m: (m["created"], m["id"]), reverse=True)
    ]
    assert sorted(m["id"] for m in lines) == sorted(ids)
    incident = next(m for m in lines if m["type"] == "border-incident")
    assert incident["body"]["description"]["text"] == "Grensemerke 353 funnet skadet."
    assert "Повреждение пограничных знаков" in incident["rendered"]["ru"]["text"]
    assert "Skade på grensemerker" in incident["rendered"]["nb"]["text"]
    found = a.cli_here("inbox", "--search", "повреждение", "--json").stdout.splitlines()
    assert [json.loads(x)["id"] for x in found] == [ids[-1]]
    cut = a.cli_here("inbox", "--limit", "5", "--lang", "nb")
    assert cut.stdout.splitlines()[-2] == f"1–5 av {N} meldinger."
    assert "--cursor" in cut.stdout.splitlines()[-1]
    cursor = cut.stdout.split("--cursor ")[1].split()[0]
    more = a.cli_here("inbox", "--limit", "5", "--cursor", cursor, "--json").stdout.splitlines()
    assert len(more) == 5
    assert json.loads(more[0])["id"] not in cut.stdout
    bad = a.cli_here("inbox", "--cursor", "forged", check=False)
    assert bad.returncode != 0
    assert "cursor" in bad.stderr
    assert "Traceback" not in bad.stderr
