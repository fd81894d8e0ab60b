"""An incident taken from report to closure from its console page only (issue 13, item 4).

Two real nodes and headless Chromium (Debian's, driven by Playwright). Node A reports an
incident through the operator API; from then on everything happens on the incident page:
node B's officer answers it, A's officer proposes closure, B's agrees and closes it, each
step confirmed before it is signed. Both pages follow the record live and end showing the
incident closed, with its position on the offline map and its exports downloadable. The
screenshot for docs/console.md is taken on A.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from tests.console.conftest import ARTIFACTS, CHROMIUM_ARGS, REPO, chromium_path
from tests.desk.incident_page_support import has_incident, report_incident, wait_for
from tests.harness.nodes import PASSWORD, NodeProcess, make_pair

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

__all__ = ["chromium_path"]  # the fixture, shared with the console's browser tests

TIMEOUT_MS = 20_000
SCREENSHOT = REPO / "docs" / "screenshots" / "console-incident.png"


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeProcess, NodeProcess]]:
    a, b = make_pair(tmp_path_factory.mktemp("incident-browser"), interval=3600)
    try:
        a.start()
        b.start()
        yield a, b
    finally:
        a.stop()
        b.stop()


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            yield b
        finally:
            b.close()


def open_page(browser: Browser, errors: list[str]) -> Page:
    context = browser.new_context(
        ignore_https_errors=True, viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error":
            errors.append(msg.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    return page


def log_in(page: Page, node: NodeProcess, user: str, target: str) -> None:
    page.goto(node.url + target)
    expect(page).to_have_url(re.compile(r"/console/login"))
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(re.escape(target) + "$"))


def take_step(page: Page, action: str, text: str) -> None:
    """Fill the step's form, continue, check what will be signed, confirm."""
    page.fill(f"#step-{action}-text", text)
    page.click(f"#step-{action}-button")
    expect(page.locator("#step-confirm")).to_be_visible()
    expect(page.locator("#step-confirm blockquote")).to_have_text(text)
    page.click("#step-confirm-button")
    expect(page.locator("#step-sent")).to_be_visible()


def test_an_incident_from_report_to_closure_on_its_page(
    browser: Browser, nodes: tuple[NodeProcess, NodeProcess]
) -> None:
    a, b = nodes
    incident = report_incident(a)  # the starting point; every later step is on the page
    wait_for("the report reaches node B", lambda: has_incident(b, incident))
    errors_a: list[str] = []
    errors_b: list[str] = []
    pa, pb = open_page(browser, errors_a), open_page(browser, errors_b)
    target = f"/console/incidents/{incident}"
    log_in(pb, b, "op-node-b", "/console/incidents")
    pb.click(f"a.incident-link[href='{target}']")  # the list links each incident to its page
    expect(pb.locator("#incident-map")).to_have_attribute("data-basemap", "loaded")
    expect(pb.locator("#incident-map")).to_have_attribute("data-features", "1")
    expect(pb.locator("#step-agree-closure")).to_have_count(0)  # nothing proposed yet
    take_step(pb, "provide-information", "Our destroyer kept course and speed; no danger arose.")

    log_in(pa, a, "op-node-a", target)
    timeline_a = pa.locator("#incident-timeline")
    expect(timeline_a.locator("tr[data-action='provide-information']")).to_be_visible()
    take_step(pa, "propose-closure", "Explanation accepted; we propose to close the case.")

    # B's page follows the record live: the proposal appears without reloading.
    expect(pb.locator("#incident-phase")).to_have_attribute("data-phase", "closure-proposed", timeout=30_000)
    pb.reload()
    take_step(pb, "agree-closure", "Agreed.")
    expect(pb.locator("#incident-phase")).to_have_attribute("data-phase", "resolved")
    take_step(pb, "close", "Closed by agreement.")

    for page in (pb, pa):  # A without reloading: the live update brings the closure
        expect(page.locator("#incident-phase")).to_have_attribute("data-phase", "closed", timeout=30_000)
    pa.goto(a.url + target)  # as the next watch opens it: the forms are gone
    expect(pa.locator("#no-steps")).to_be_visible()
    expect(pa.locator(".step-form")).to_have_count(0)
    actions = pa.locator("#incident-timeline tr[data-kind='step']")
    expect(actions).to_have_count(4)
    assert [actions.nth(i).get_attribute("data-action") for i in range(4)] == [
        "provide-information",
        "propose-closure",
        "agree-closure",
        "close",
    ]
    expect(pa.locator("#incident-map")).to_have_attribute("data-basemap", "loaded")

    with pa.expect_download() as got:
        pa.click("#export-geojson")
    saved = Path(got.value.path())
    assert json.loads(saved.read_text())["features"][0]["properties"]["id"] == incident
    with pa.expect_download() as got:
        pa.click("#export-cap")
    assert f"<identifier>{incident}</identifier>" in Path(got.value.path()).read_text()

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "08-incident-closed-node-a.png"
    pa.screenshot(path=str(shot), full_page=True)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, SCREENSHOT)
    assert errors_a == [], errors_a  # no script errors, no Content-Security-Policy violations
    assert errors_b == [], errors_b
