"""A reply from the message page becomes one thread on both nodes (headless Chromium, two real nodes).

Node A sends a message through the API; node B's duty officer (reading Russian) opens it,
presses Reply, finds Compose filled in (channel, type, precedence, the message answered),
writes the text and sends. Both consoles then show the two messages as one thread. The
screenshot of A's view is docs/screenshots/console-thread.png.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from tests.console.conftest import ARTIFACTS, CHROMIUM_ARGS, REPO, chromium_path
from tests.harness.nodes import PASSWORD, NodeProcess, make_pair

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

__all__ = ["chromium_path"]  # the fixture, shared with the console's browser tests

TIMEOUT_MS = 20_000
DOCS = REPO / "docs" / "screenshots"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeProcess, NodeProcess]]:
    a, b = make_pair(tmp_path_factory.mktemp("threads"))
    b.cli_here("operator", "lang", "op-node-b", "ru")
    try:
        a.start()
        b.start()
        yield a, b
    finally:
        for n in (a, b):
            n.stop()


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Browser]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            yield b
        finally:
            b.close()


def open_page(browser: Browser) -> tuple[Page, list[str]]:
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error":
            errors.append(msg.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    return page, errors


def log_in(page: Page, node: NodeProcess, user: str) -> None:
    page.goto(node.url + "/console/login")
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#dashboard")).to_be_visible()


def open_message(page: Page, node: NodeProcess, message_id: str, wait_s: float = 20) -> None:
    """Open the message page once the message has arrived (delivery is asynchronous)."""
    page.goto(f"{node.url}/console/messages/{message_id}")
    # Until it arrives the page is a 404; the message page refreshes itself once it is there.
    for _ in range(int(wait_s * 4)):
        if page.locator("#message").count():
            return
        page.wait_for_timeout(250)
        page.goto(f"{node.url}/console/messages/{message_id}")
    raise AssertionError(f"message {message_id} did not reach {node.name} within {wait_s}s")


def test_a_reply_from_the_message_page_is_one_thread_on_both_nodes(
    browser: Browser, pair: tuple[NodeProcess, NodeProcess]
) -> None:
    a, b = pair
    first = a.send("test-line", "Fishing vessel adrift near border mark 353.", precedence="PRIORITY")
    pb, errors_b = open_page(browser)
    log_in(pb, b, "op-node-b")
    open_message(pb, b, first["id"])
    expect(pb.locator("#thread")).to_have_count(0)  # a message alone is no thread yet
    pb.click("#action-reply")

    expect(pb.locator("#compose-form")).to_be_visible()
    expect(pb.locator("#in-reply-to a")).to_have_attribute("href", f"/console/messages/{first['id']}")
    expect(pb.locator("#f-precedence")).to_have_value("PRIORITY")  # the precedence of what it answers
    expect(pb.locator("input[name='_channel']")).to_have_value("test-line")
    expect(pb.locator("input[name='_type']")).to_have_value("general")
    pb.fill("#f-text", "Судно видим, направляем катер.")
    pb.select_option("#f-lang", "ru")
    pb.click("#preview-button")
    pb.click("#send-button")
    expect(pb.locator(".alert-ok")).to_be_visible()
    reply_id = pb.url.split("/console/messages/")[1].split("?")[0]
    expect(pb.locator("#thread .thread-item")).to_have_count(2)
    expect(pb.locator("#thread .thread-item").first).to_have_attribute("data-id", first["id"])

    pa, errors_a = open_page(browser)
    log_in(pa, a, "op-node-a")
    open_message(pa, a, reply_id)
    items = pa.locator("#thread .thread-item")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_have_attribute("data-id", first["id"])
    expect(items.nth(1)).to_have_attribute("data-id", reply_id)
    expect(pa.locator("#thread")).to_contain_text("Thread: 2 messages")
    expect(pa.locator(".original-pane")).to_contain_text("направляем катер")
    pa.screenshot(path=str(ARTIFACTS / "console-thread.png"), full_page=True)
    # The original's page on A lists the same thread.
    open_message(pa, a, first["id"])
    expect(pa.locator("#thread .thread-item")).to_have_count(2)

    # A answers through the API, naming only the id; B's page of the first message grows.
    third = a.send("test-line", "Thank you.", reply_to=reply_id)
    open_message(pb, b, third["id"])
    expect(pb.locator("#thread .thread-item")).to_have_count(3)
    expect(pb.locator("#thread .thread-item").nth(2)).to_have_attribute("aria-current", "page")

    DOCS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ARTIFACTS / "console-thread.png", DOCS / "console-thread.png")
    assert Path(DOCS / "console-thread.png").stat().st_size > 0

    # Only the 404s of waiting for the message to arrive; no script or policy errors.
    assert [e for e in errors_b if " 404 " not in f" {e} "] == [], errors_b
    assert [e for e in errors_a if " 404 " not in f" {e} "] == [], errors_a
