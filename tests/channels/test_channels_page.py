"""The console's Channels page shows a charter in the reader's language (issue 16).

A real node with a channel agreed by two real nodes, the real console app served in process
(httpx's ASGI transport), a real log-in: the page shows the charter's name, basis and topics
in nb and ru, durations through Babel ("24 t", "24 ч"), and never a raw topic code, type code
or "1440.0 min".
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from parley.api.app import create_app
from parley.channels.charter import charter_from_toml
from parley.channels.setup import do_accept_channel, do_propose_channel
from parley.clock import ManualClock
from parley.devnet.nodes import run_cli_here
from parley.directory.peers import do_add_peer
from parley.formats.texts import speaking
from parley.node import Node
from parley.running.service import Service
from tests.workflows.support import DESK, PASSWORD, make_node

NO, RU = "no-line", "ru-line"
CHARTER = f"""
id = "ice-line"
name = {{ nb = "Islinjen", ru = "Ледовая линия", en = "Ice line" }}
members = ["{NO}/{DESK}", "{RU}/{DESK}"]
types = ["general", "incident-at-sea", "incident-response"]
topics = ["border_situation", "search-and-rescue", "ice-patrol"]
languages = ["nb", "ru", "en"]
deadlines_s = {{ FLASH = 600, IMMEDIATE = 5400, PRIORITY = 10800, ROUTINE = 86400 }}
link_test_interval_s = 5
[basis]
agreement = {{ nb = "Isavtalen", ru = "Ледовое соглашение" }}
date = 1990-10-11
[topic_labels.ice-patrol]
nb = "Ispatrulje"
ru = "Ледовый патруль"
"""
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    # The console's session cookie expires by the node's clock: start it at the real time.
    clock = ManualClock(datetime.now(UTC))
    a = make_node(tmp_path, NO, "Norway", clock, None)
    b = make_node(tmp_path, RU, "Russia", clock, None)
    try:
        do_add_peer(a, b.card().to_json())
        do_add_peer(b, a.card().to_json())
        doc = do_propose_channel(a, charter_from_toml(CHARTER), b.name)
        countersigned, _ = do_accept_channel(b, doc.to_json())
        do_accept_channel(a, countersigned.to_json())
        yield a
    finally:
        a.close()
        b.close()


@pytest.fixture
async def console(node: Node) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Service(node, tick_s=0))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://testserver") as c:
        form = await c.get("/console/login")
        token = html.unescape(CSRF.findall(form.text)[0])
        r = await c.post(
            "/console/login",
            data={"username": f"op-{NO}", "password": PASSWORD, "csrf": token, "next": "/console/"},
        )
        assert r.status_code == 303, r.text
        yield c


async def _page(c: httpx.AsyncClient, lang: str) -> str:
    settings = await c.get("/console/settings")
    assert settings.status_code == 200, (settings.status_code, settings.headers, settings.text[:300])
    token = html.unescape(CSRF.findall(settings.text)[0])
    assert (await c.post("/console/settings", data={"lang": lang, "csrf": token})).status_code == 303
    page = await c.get("/console/channels")
    assert page.status_code == 200, page.text
    return html.unescape(page.text.split("<main", 1)[1])


@pytest.mark.parametrize(
    ("lang", "expect"),
    [
        (
            "nb",
            [
                "Islinjen",
                "Isavtalen (29. desember",  # no: 11. oktober 1990, checked below
                "Situasjonen på grensen, Ispatrulje, Søk og redning",
                "norsk bokmål, russisk, engelsk",
                "10 min",
                "90 min",
                "3 t",
                "24 t",
                "5 s",
            ],
        ),
        (
            "ru",
            [
                "Ледовая линия",
                "Ледовое соглашение (11 октября 1990",
                "Обстановка на границе, Ледовый патруль, Поиск и спасание",
                "норвежский букмол, русский, английский",
                "10 мин",
                "90 мин",
                "3 ч",
                "24 ч",
                "5 с",
            ],
        ),
    ],
)
async def test_the_charter_reads_in_the_readers_language(
    console: httpx.AsyncClient, lang: str, expect: list[str]
) -> None:
    page = await _page(console, lang)
    if lang == "nb":
        expect[1] = "Isavtalen (11. oktober 1990)"
    for text in expect:
        assert text in page, (lang, text, page)
    for raw in ("border_situation", "search-and-rescue", "ice-patrol", "incident-at-sea", "1440", ".0 "):
        assert raw not in page, (lang, raw)


async def test_a_basis_missing_the_readers_language_is_marked(console: httpx.AsyncClient) -> None:
    page = await _page(console, "en")
    assert "Isavtalen (not translated; in Norwegian) (11 October 1990)" in page
    assert "Ispatrulje (not translated; in Norwegian)" in page
    assert "Border situation" in page


@pytest.mark.parametrize(
    ("lang", "expect"),
    [
        (
            "nb",
            [
                "ice-line: Islinjen",
                "Grunnlag: Isavtalen (11. oktober 1990)",
                "Ispatrulje",
                "24 t",
                "Sambandstest hver 5 s",
            ],
        ),
        (
            "ru",
            [
                "ice-line: Ледовая линия",
                "Основание: Ледовое соглашение (11 октября 1990",
                "Ледовый патруль",
                "24 ч",
            ],
        ),
        (
            "en",
            ["Basis: Isavtalen (not translated; in Norwegian) (11 October 1990)", "Border situation", "24 h"],
        ),
    ],
)
def test_channel_show_and_list_speak_the_readers_language(node: Node, lang: str, expect: list[str]) -> None:
    with speaking("en"):  # --lang sets the language for the process: keep it to this test
        shown = run_cli_here(node.home, "--lang", lang, "channel", "show", "ice-line").stdout
        listed = run_cli_here(node.home, "--lang", lang, "channel", "list").stdout
    for text in expect:
        assert text in shown, (lang, text, shown)
    for raw in ("border_situation", "ice-patrol", "incident-at-sea", "86400", "{'"):
        assert raw not in shown, (lang, raw, shown)
    name = {"nb": "Islinjen", "ru": "Ледовая линия", "en": "Ice line"}[lang]
    assert name in listed
