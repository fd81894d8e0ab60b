"""Helpers for the console tests: a browser-less console client and database peeks.

``ConsoleClient`` is httpx with a cookie jar, pinned to the node's TLS certificate, that
logs in through the real log-in form (CSRF cookie and all) the way a browser does.
"""

from __future__ import annotations

import html
import re
import tomllib
from typing import Any

import httpx
from sqlalchemy import Engine, create_engine, text

from parley.node import resolve_db_url
from parley.protocol.tls import pinned_client_context
from parley.storage.engines import normalise_url
from tests.harness.nodes import PASSWORD, NodeProcess

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def hidden_csrf(page: str) -> str:
    m = _CSRF.search(page)
    assert m, "no CSRF field on the page"
    return html.unescape(m.group(1))


class ConsoleClient:
    def __init__(self, node: NodeProcess) -> None:
        self.node = node
        self.http = httpx.Client(
            base_url=node.url,
            verify=pinned_client_context(node.cert()),
            timeout=30,
            follow_redirects=False,
        )
        self.csrf = ""

    def __enter__(self) -> ConsoleClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(path, **kw)

    def post(self, path: str, data: dict[str, str], *, csrf: bool = True) -> httpx.Response:
        return self.http.post(path, data={**data, "csrf": self.csrf} if csrf else data)

    def start_login(self, username: str, password: str = PASSWORD) -> httpx.Response:
        form = self.http.get("/console/login")
        assert form.status_code == 200, form.text
        return self.http.post(
            "/console/login",
            data={
                "username": username,
                "password": password,
                "csrf": hidden_csrf(form.text),
                "next": "/console/",
            },
        )

    def login(self, username: str, password: str = PASSWORD) -> None:
        r = self.start_login(username, password)
        assert r.status_code == 303, r.text
        assert r.headers["location"] == "/console/"
        self.refresh_csrf()

    def refresh_csrf(self, path: str = "/console/settings") -> None:
        page = self.http.get(path)
        assert page.status_code == 200, page.text
        self.csrf = hidden_csrf(page.text)


def node_engine(node: NodeProcess) -> Engine:
    cfg = tomllib.loads((node.home / "parley.toml").read_text())
    return create_engine(normalise_url(resolve_db_url(node.home, cfg["database"]["url"])))


def query(node: NodeProcess, sql: str, **params: Any) -> list[Any]:
    engine = node_engine(node)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params).all())
    finally:
        engine.dispose()


def outgoing_count(node: NodeProcess) -> int:
    return int(query(node, "SELECT count(*) FROM envelopes WHERE outgoing = :t", t=True)[0][0])


def audit_actions(node: NodeProcess, actor: str) -> list[str]:
    return [
        r.action for r in query(node, "SELECT action FROM audit_log WHERE actor = :a ORDER BY id", a=actor)
    ]
