"""The console in a real browser: headless Chromium driven by Playwright.

The acceptance scenario of issue 7: a duty officer on node A logs in, fills the incident
form generated from the schema, picks the position on the offline map, previews how the
Russian side will read it and signs; node B's officer sees it arrive live, in Russian, and
acknowledges it after a confirmation; A sees the receipt and the acknowledgment without
reloading. Screenshots go to test-artifacts/screenshots/ (and the best to docs/screenshots/).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from tests.console.conftest import ARTIFACTS, CHROMIUM_ARGS, REPO
from tests.harness.nodes import PASSWORD, NodeProcess

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

TIMEOUT_MS = 20_000
DOCS = REPO / "docs" / "screenshots"
FOR_README = {
    "01-compose-incident-node-a.png": "console-compose.png",
    "04-message-in-russian-node-b.png": "console-message-ru.png",
    "05-acknowledged-node-a.png": "console-acknowledged.png",
    "06-incidents-map-node-a.png": "console-incidents-map.png",
}


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Browser]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            yield b
        finally:
            b.close()


def open_page(browser: Browser, width: int = 1280, height: int = 800) -> tuple[Page, list[str]]:
    context = browser.new_context(ignore_https_errors=True, viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error":
            errors.append(msg.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "response",
        lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    return page, errors


def log_in(page: Page, node: NodeProcess, user: str) -> None:
    page.goto(node.url + "/console/")
    expect(page).to_have_url(re.compile(r"/console/login"))
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#dashboard")).to_be_visible()
    # The live event stream is open (the page listens for the node's events).
    expect(page.locator("body")).to_have_attribute("data-live-open", "1")


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_incident_report_sent_on_a_arrives_in_russian_on_b_and_is_acknowledged(
    browser: Browser, nodes: tuple[NodeProcess, NodeProcess]
) -> None:
    a, b = nodes
    pa, errors_a = open_page(browser)
    pb, errors_b = open_page(browser)
    log_in(pa, a, "op-node-a")
    log_in(pb, b, "op-node-b")
    expect(pb.locator("h1")).to_contain_text("Обзор")  # node B's officer reads Russian

    # --- A composes an incident report from the generated form -------------------------
    pa.click("nav >> text=Compose")
    pa.select_option("#pick-channel", "test-line")
    pa.click("#pick-submit")
    pa.select_option("#pick-type", "incident-at-sea")
    pa.click("#pick-submit")
    expect(pa.locator("#compose-form")).to_be_visible()
    pa.select_option("#f-precedence", "IMMEDIATE")
    pa.select_option("#f-status", "EXERCISE")
    pa.click(".now-button[data-target='f-time']")
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d", pa.input_value("#f-time"))
    picker = pa.locator(".pick-map[data-pick='point']")
    expect(picker).to_have_attribute("data-basemap", "loaded")  # the offline coastlines
    box = picker.bounding_box()
    assert box is not None
    # A little east and north of the centre, where the map opens: the Barents Sea.
    picker.click(position={"x": box["width"] / 2 + 40, "y": box["height"] / 2 - 20})
    lat, lon = float(pa.input_value("#f-position-lat")), float(pa.input_value("#f-position-lon"))
    assert 60 < lat < 80, lat  # the map opens on the Barents Sea
    assert 10 < lon < 60, lon
    pa.fill("#f-units-0-name", "Severomorsk")
    pa.fill("#f-units-0-hull_number", "619")
    pa.select_option("#f-units-0-unit_type", "warship")
    pa.select_option("#f-category", "unsafe_approach")
    pa.fill("#f-course_deg", "245")
    pa.fill("#f-speed_kn", "18,5")
    pa.fill("#f-description-text", "Destroyer passed within two cables of KV Svalbard at high speed.")
    pa.select_option("#f-description-lang", "en")
    pa.select_option("#f-requested_action", "explanation")
    shot(pa, "01-compose-incident-node-a.png")

    pa.click("#preview-button")
    expect(pa.locator("h1")).to_have_text("Check before sending")
    expect(pa.locator(".preview[lang='ru']")).to_contain_text("Инцидент на море")
    expect(pa.locator(".preview[lang='ru']")).to_contain_text("Опасное сближение")
    expect(pa.locator(".preview[lang='nb']")).to_contain_text("Hendelse til sjøs")
    shot(pa, "02-preview-node-a.png")
    pa.click("#send-button")
    expect(pa.locator(".alert-ok")).to_contain_text("Signed and sent")
    message_id = pa.url.split("/console/messages/")[1].split("?")[0]

    # --- B sees it arrive live, in Russian, and acknowledges it ---------------------------
    link = pb.locator(f"#dashboard a[href='/console/messages/{message_id}']")
    expect(link).to_be_visible(timeout=30_000)  # no reload: the event stream brought it
    expect(pb.locator("#dashboard .countdown").first).to_contain_text("осталось")
    shot(pb, "03-dashboard-node-b.png")
    link.click()
    expect(pb.locator(".rendered-pane")).to_contain_text("Инцидент на море")
    expect(pb.locator(".rendered-pane")).to_contain_text("Опасное сближение")
    expect(pb.locator(".rendered-pane")).to_contain_text("Военный корабль")
    expect(pb.locator(".drill-strip")).to_be_visible()  # EXERCISE, unmistakably
    expect(pb.locator(".original-pane")).to_contain_text("within two cables")
    shot(pb, "04-message-in-russian-node-b.png")
    pb.click("#ack-button")
    expect(pb.locator("#ack-confirm")).to_be_visible()
    pb.click("#ack-confirm-button")
    expect(pb.locator("#ack-state")).to_contain_text("op-node-b")

    # --- A sees the receipt and the acknowledgment without reloading ----------------------
    expect(pa.locator("#receipt-state")).to_contain_text("node-b", timeout=30_000)
    expect(pa.locator("#ack-state")).to_contain_text("op-node-b", timeout=30_000)
    shot(pa, "05-acknowledged-node-a.png")

    pa.click("nav >> text=Incidents")
    expect(pa.locator("#incident-map")).to_have_attribute("data-basemap", "loaded")
    expect(pa.locator("#incident-map")).not_to_have_attribute("data-features", "0")
    expect(pa.locator(f"a[href='/console/messages/{message_id}']").first).to_be_visible()
    shot(pa, "06-incidents-map-node-a.png")

    assert errors_a == [], errors_a  # no script errors, no Content-Security-Policy violations
    assert errors_b == [], errors_b
    DOCS.mkdir(parents=True, exist_ok=True)
    for src, dst in FOR_README.items():
        shutil.copyfile(ARTIFACTS / src, DOCS / dst)


def test_keyboard_and_tablet_width(browser: Browser, nodes: tuple[NodeProcess, NodeProcess]) -> None:
    a, _ = nodes
    page, errors = open_page(browser, 768, 1024)
    page.goto(a.url + "/console/login")
    expect(page.locator("#username")).to_be_focused()  # the form is ready to type into
    page.keyboard.type("op-node-a")
    page.keyboard.press("Tab")
    expect(page.locator("#password")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.locator("#dashboard")).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.locator(".skip-link")).to_be_focused()  # the first stop on every page
    page.keyboard.press("Enter")  # ...and it moves focus past the navigation
    expect(page.locator("#main")).to_be_focused()
    for path in (
        "/console/",
        "/console/inbox?box=out",
        "/console/compose?_channel=test-line&_type=incident-at-sea",
    ):
        page.goto(a.url + path)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways at 768 px by {overflow} px"
    shot(page, "07-tablet-compose-node-a.png")
    assert errors == [], errors
