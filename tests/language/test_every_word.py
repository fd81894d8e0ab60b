"""Every word in the reader's language (issue 16): the demo's data read in nb and in ru.

Each test gathers every finding of its source (every console page, every README command, the
demo's narration, the API's and the CLI's refusals) and fails once with all of them, grouped
by where they came from, each word with 60 characters of context; the findings are also kept
as JSON (the failure says where). See ``detector.py`` for what counts as an English word.

People's own words are data, not the product's text (the project's decision, DOMAIN: the
sender's words are authoritative and never translated). Before a page or a command's output
is scanned, every value a person entered, read from the nodes' databases, is blanked out of it
by value, longest first, where it stands as a whole (``peoples_words``): desk titles
("NJHQ duty officer (Bodø)"), operators' user names, handover notes, the reasons of channel
status records (a suspension's reason), and every string of every stored message body
(attendees' names and roles, free texts in any language), except the body's codes (enum values,
party and precedence codes, ids: ``is_code_value``), which the product must render and so must
still be found when shown raw. Values under three characters are not blanked. A value the
product quotes with straight single quotes (``unknown operator 'nobody'``, Python's repr of what
was typed) is a value too (``detector._QUOTED``). Blanking takes out only the value itself:
the product's sentence around it is scanned as before (``test_detector``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from parley.devnet.nodes import run_cli_here
from tests.console.console_support import ConsoleClient
from tests.language.conftest import NARRATION_LANG, World, check
from tests.language.detector import (
    MIN_VALUE,
    Finding,
    blank_values,
    is_code_value,
    scan_html,
    scan_text,
)
from tests.language.sources import LANGS

pytestmark = pytest.mark.e2e

NO_SUCH_ID = "00000000-0000-4000-8000-000000000000"
GENERAL = {"text": "x", "lang": "en"}

# Console GET routes not read as pages, and why.
NOT_PAGES = {
    "/console/events": "server-sent events: live fragments of the pages read here, a stream without end",
    "/console/incidents/{incident_id}/cap.xml": "CAP XML for machines (an <info> a language: tests/formats)",
    "/console/incidents/{incident_id}/positions.geojson": "GeoJSON for machines",
    "/console/login/totp": "only reachable mid-log-in by an operator enrolled in TOTP",
}
# Error pages, in the reader's language too.
ERROR_PAGES = (
    f"/console/messages/{NO_SUCH_ID}",
    "/console/incidents/no-such-incident",
    "/console/handover/999999",
    "/console/roster?desk=no-such-desk",
    "/console/inbox?until=not-a-date",
    "/console/compose?_channel=no-such-channel",
)
PER_ROUTE = 6  # pages read per route found by following links (message pages: one per type too)


def console_routes(home: Any) -> list[str]:
    """The paths of every GET route under /console, walked from the node's application."""
    from parley.api.app import create_app
    from parley.api.route_actions import every_route
    from parley.node import Node
    from parley.running.service import Service

    node = Node.open(home)
    try:
        app = create_app(Service(node, tick_s=0))
        paths = []
        for route in every_route(app.routes):
            path = str(getattr(route, "path", ""))
            if "GET" in (getattr(route, "methods", None) or set()) and path.startswith("/console/"):
                paths.append(path)
        return sorted(set(paths))
    finally:
        node.close()


def _pattern(path: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{[a-z_]+\\\}", r"[^/?#\"]+", re.escape(path)) + r"(?:\?.*)?")


_HREF = re.compile(r'(?:href|hx-get)="(/console/[^"#]*)"')


def _options(page: str, name: str) -> list[str]:
    m = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page, re.S)
    return [v for v in re.findall(r'value="([^"]*)"', m.group(1)) if v] if m else []


def messages_by_type(node: Any) -> list[str]:
    """One incoming and one outgoing message of each type the node holds."""
    from tests.console.console_support import query

    rows = query(node, "SELECT id, type, outgoing FROM envelopes ORDER BY seq")
    picked: dict[tuple[str, bool], str] = {}
    for r in rows:
        picked.setdefault((r.type, bool(r.outgoing)), r.id)
    return list(picked.values())


def read_console(
    node: Any, lang: str, password: str, unfilled: set[str]
) -> Iterator[tuple[str, httpx.Response]]:
    """Every console page of ``node`` as ``reader-<lang>`` sees it: each GET route, its path
    parameters filled from links on the pages and from the node's messages, compose for each
    channel and type, and the error pages. Routes no value was found for are left in
    ``unfilled`` (a node of the demo may have no handover, the other has)."""
    import html

    routes = console_routes(node.home)
    patterns = {r: _pattern(r) for r in routes if r not in NOT_PAGES}
    mine = {r for r in patterns if "{" in r}
    queue = [r for r in patterns if "{" not in r]
    queue += [f"/console/messages/{mid}" for mid in messages_by_type(node)]
    queue += ["/console/inbox?box=out"]
    seen: set[str] = set()
    per_route: dict[str, int] = {}
    with ConsoleClient(node) as c:
        login = c.get(f"/console/login?lang={lang}")
        yield f"/console/login?lang={lang} (before log-in)", login
        c.login(f"reader-{lang}", password)
        compose = c.get("/console/compose")
        for channel in _options(compose.text, "_channel"):
            queue.append(f"/console/compose?_channel={channel}")
            page = c.get(f"/console/compose?_channel={channel}")
            queue += [f"/console/compose?_channel={channel}&_type={t}" for t in _options(page.text, "_type")]
        while queue:
            url = html.unescape(queue.pop(0))
            if url in seen:
                continue
            route = next((r for r, p in patterns.items() if p.fullmatch(url)), None)
            if route is None:
                continue
            if per_route.get(route, 0) >= PER_ROUTE and not url.startswith(
                ("/console/messages/", "/console/compose")
            ):
                continue
            seen.add(url)
            per_route[route] = per_route.get(route, 0) + 1
            mine.discard(route)
            r = c.get(url)
            yield url, r
            if r.status_code == 200 and "html" in r.headers.get("content-type", ""):
                queue += [h for h in _HREF.findall(r.text) if h not in seen]
        unfilled &= mine
        for url in ERROR_PAGES:
            yield url, c.get(url)
        yield (
            f"/console/messages/{NO_SUCH_ID} (fragment)",
            c.get(f"/console/messages/{NO_SUCH_ID}", headers={"hx-request": "true"}),
        )


@pytest.mark.timeout(600)
@pytest.mark.parametrize("lang", LANGS)
def test_every_console_page(world: World, lang: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    findings: list[Finding] = []
    pages = 0
    unfilled = set(console_routes(world.nodes["no"].home)) - set(NOT_PAGES)
    values = peoples_words([n.home for n in world.nodes.values()])
    for node in world.nodes.values():
        for url, r in read_console(node, lang, world.password, unfilled):
            pages += 1
            source = f"console {node.name}{url.removeprefix('/console')}"
            if r.status_code >= 500:
                findings.append(Finding(source, lang, "server error", str(r.status_code), r.text[:200]))
            if r.status_code in (301, 302, 303, 307):
                continue
            findings += scan_html(r.text, lang=lang, source=source, values=values)
    assert pages > 40, f"only {pages} console pages read"
    assert not {u for u in unfilled if "{" in u}, (
        f"no link leads to these routes on any node: {sorted(unfilled)}"
    )
    check(findings, f"console-{lang}", tmp_path_factory)


def peoples_words(homes: Iterable[Path]) -> set[str]:
    """What people entered, stored at ``homes``: the values blanked before scanning (see the
    module's docstring). Desk titles, operators' user names, handover notes, the reasons of
    channel status records, and every string of every stored message body that is not a code
    (``is_code_value``)."""
    import tomllib

    from sqlalchemy import create_engine, select

    from parley.node import resolve_db_url
    from parley.storage.engines import normalise_url
    from parley.storage.tables import desks, envelopes, operators, status_records
    from parley.watch.tables import handovers

    found: set[str] = set()

    def leaves(value: Any) -> Iterator[str]:
        if isinstance(value, dict):
            for v in value.values():
                yield from leaves(v)
        elif isinstance(value, list):
            for v in value:
                yield from leaves(v)
        elif isinstance(value, str):
            yield value

    def signed(raw: bytes, name: str) -> dict[str, Any]:
        """The signed object inside its wrapper ({name: {…}, "signature": …})."""
        document = json.loads(bytes(raw))
        inner = document.get(name, document) if isinstance(document, dict) else {}
        return inner if isinstance(inner, dict) else {}

    for home in homes:
        cfg = tomllib.loads((home / "parley.toml").read_text())
        engine = create_engine(normalise_url(resolve_db_url(home, cfg["database"]["url"])))
        try:
            with engine.connect() as conn:
                found.update(conn.scalars(select(desks.c.title)))
                found.update(conn.scalars(select(operators.c.username)))
                found.update(conn.scalars(select(handovers.c.note)))
                for raw in conn.scalars(select(status_records.c.raw)):
                    found.update(leaves(signed(raw, "record").get("reason")))
                for raw in conn.scalars(select(envelopes.c.raw)):
                    body = signed(raw, "envelope").get("body")
                    found.update(v for v in leaves(body) if not is_code_value(v))
        finally:
            engine.dispose()
    return {v for v in found if v and len(v.strip()) >= MIN_VALUE}


def _cli_findings(results: list[dict[str, Any]], lang: str, values: set[str]) -> list[Finding]:
    findings = []
    for r in results:
        if "skipped" in r:
            continue
        text = blank_values((r["stdout"] + "\n" + r["stderr"]).strip(), values)
        findings += scan_text(text, lang=lang, source=r["command"])
    return findings


@pytest.mark.timeout(600)
@pytest.mark.parametrize("lang", LANGS)
def test_readme_tour_speaks_the_language(
    world: World, lang: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Every ``parley`` command of the README's tour, played with PARLEY_LANG, and the
    refusals after it (tests/language/tour.py)."""
    results = world.tour(lang)
    ran = [r for r in results if "skipped" not in r]
    assert len(ran) >= 20, [r["command"] for r in results]
    homes = [p.parent for p in (world.base / f"tour-{lang}").glob("*/parley.toml")]
    check(_cli_findings(results, lang, peoples_words(homes)), f"readme-tour-{lang}", tmp_path_factory)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("lang", LANGS)
def test_readme_commands_on_the_demo_data(
    world: World, lang: str, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's reading commands (``status``, ``inbox``, ``show`` of a message of each
    type, ``verify``) on the demo's nodes, where there is more to say than on the tour's."""
    monkeypatch.setenv("PARLEY_LANG", lang)
    results = []
    for node in world.nodes.values():
        commands = [["status"], ["inbox"], ["verify"]]
        commands += [["show", mid] for mid in messages_by_type(node)]
        commands += [["show", mid, "--lang", lang] for mid in messages_by_type(node)[:3]]
        for args in commands:
            proc = run_cli_here(node.home, *args, check=False)
            results.append(
                {
                    "command": f"{node.name}: parley {' '.join(args)}",
                    "stdout": proc.stdout,
                    "stderr": proc.stderr,
                }
            )
    values = peoples_words([n.home for n in world.nodes.values()])
    check(_cli_findings(results, lang, values), f"readme-demo-data-{lang}", tmp_path_factory)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("lang", LANGS)
def test_demo_narrates_in_its_language(
    world: World, lang: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    code, text = world.narration_in(lang)
    assert code == 0, f"the demo in {lang} failed:\n{text[-3000:]}"
    how = "in this process" if lang == NARRATION_LANG else "as `parley demo`"
    base = world.base / ("demo" if lang == NARRATION_LANG else f"demo-{lang}")
    text = blank_values(text, peoples_words([p.parent for p in base.glob("*/parley.toml")]))
    # The demo shows each side's view (`show --lang ru` on the Russian node in a Norwegian
    # narration): the other reader's words are expected; English ones are not.
    found = scan_text(text, lang=lang, source=f"demo --lang {lang} ({how})", foreign=False)
    check(found, f"demo-{lang}", tmp_path_factory)


def _api_texts(value: Any) -> Iterator[str]:
    """The texts of an error answer a person reads: message, hint, problems' messages."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k in ("message", "hint", "detail") and isinstance(v, str):
                yield v
            else:
                yield from _api_texts(v)
    elif isinstance(value, list):
        for v in value:
            yield from _api_texts(v)


@pytest.mark.parametrize("lang", LANGS)
def test_api_refusals_follow_accept_language(
    world: World, lang: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The operator API's errors in the language of Accept-Language; the code stays."""
    node = world.nodes["no"]
    calls: list[tuple[str, str, Any, dict[str, str]]] = [
        ("GET", f"/api/v1/messages/{NO_SUCH_ID}", None, {}),
        ("GET", "/api/v1/messages", None, {"authorization": "Bearer not-a-token"}),
        ("POST", "/api/v1/messages", {"channel": "direct-line", "type": "general", "body": {}}, {}),
        ("POST", "/api/v1/messages", {"channel": "no-such-channel", "type": "general", "body": GENERAL}, {}),
        ("POST", "/api/v1/messages", {"channel": "direct-line", "type": "no-such-type", "body": {}}, {}),
        ("GET", "/api/v1/messages?until=not-a-date", None, {}),
        ("POST", "/api/v1/messages", {"channel": "direct-line"}, {}),
    ]  # fmt: skip
    findings: list[Finding] = []
    with node.client() as c:
        for method, path, body, headers in calls:
            r = c.request(method, path, json=body, headers={"accept-language": lang, **headers})
            source = f"API {method} {path} → {r.status_code}"
            assert r.status_code >= 400, source
            try:
                data = r.json()
            except json.JSONDecodeError:
                findings.append(Finding(source, lang, "not JSON", r.text[:60], r.text[:200]))
                continue
            assert "error" in data, f"{source}: the error code is gone: {data}"
            for text in _api_texts(data):
                findings += scan_text(text, lang=lang, source=f"{source} ({data['error']})")
    check(findings, f"api-{lang}", tmp_path_factory)
