"""The operator API answers in the reader's language and keeps its codes (issue 16).

``Accept-Language`` decides when the client sends it; otherwise the operator's own language.
In-process on a real node and database (the language of an answer is not a property of the
network between nodes).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from parley.api.app import create_app
from parley.node import Node
from parley.running.service import Service
from tests.harness.nodes import PASSWORD, init_node


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    node = init_node(tmp_path, "node-a", "Norway")
    node.cli_here("desk", "add", "duty")
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD)
    node.cli_here("operator", "add", "kari", "--desk", "duty", "--role", "duty", "--password-file", str(pw))
    node.cli_here("operator", "lang", "kari", "nb")
    token = node.cli_here("token", "issue", "kari").stdout.strip()
    service = Service(Node.open(node.home), tick_s=0)
    transport = httpx.ASGITransport(app=create_app(service))
    headers = {"authorization": f"Bearer {token}"}
    try:
        base = "https://testserver"
        async with httpx.AsyncClient(transport=transport, base_url=base, headers=headers) as c:
            yield c
    finally:
        service.node.close()


async def test_a_request_the_api_cannot_read_is_explained_in_the_asked_language(
    api: httpx.AsyncClient,
) -> None:
    r = await api.post("/api/v1/messages", json={"type": "general"}, headers={"accept-language": "ru"})
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "invalid_request"  # the code is the same in every language
    assert body["message"] == "запрос не соответствует API"
    assert r.headers["content-language"] == "ru"
    problems = {p["path"]: p for p in body["details"]["problems"]}
    assert problems["/channel"]["message"] == "отсутствует обязательное поле"
    assert problems["/channel"]["type"] == "missing"


async def test_without_accept_language_the_operators_own_language_is_used(api: httpx.AsyncClient) -> None:
    r = await api.get("/api/v1/messages/no-such-message")
    assert r.status_code == 404
    assert r.headers["content-language"] == "nb"
    assert r.json()["error"] == "not_found"
    english = (await api.get("/api/v1/messages/no-such-message", headers={"accept-language": "en"})).json()
    assert r.json()["message"] != english["message"]


async def test_a_body_that_breaks_its_schema_reads_in_the_asked_language(api: httpx.AsyncClient) -> None:
    msg = {"channel": "nowhere", "type": "general", "body": {"text": {"text": "x"}}}
    r = await api.post("/api/v1/messages", json=msg, headers={"accept-language": "ru"})
    assert r.status_code in (404, 422), r.text
    body = r.json()
    assert r.headers["content-language"] == "ru"
    assert any("а" <= ch <= "я" for ch in body["message"].lower()), body


async def test_unauthenticated_errors_read_in_the_asked_language(api: httpx.AsyncClient) -> None:
    r = await api.get("/api/v1/status", headers={"authorization": "", "accept-language": "nb"})
    assert r.status_code == 401
    assert r.json()["error"] == "unauthorized"
    english = (await api.get("/api/v1/status", headers={"authorization": ""})).json()
    assert r.json()["message"] != english["message"]
