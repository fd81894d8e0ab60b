"""The console inbox in a real browser (Debian's Chromium via Playwright), two real nodes.

Node B sends a few hundred messages to node A through the batch API (signed, delivered and
receipted by the real federation path). On A: page to the oldest message; a Russian-language
search finds a report whose original is Norwegian (through its rendered fields); five messages
acknowledged at once after one confirmation; and no word broken mid-word at 1280 and 768 px.
The inbox with filters is saved as docs/screenshots/console-inbox.png.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.console.conftest import ARTIFACTS, CHROMIUM_ARGS, REPO, chromium_path  # noqa: F401 (fixture)
from tests.desk.test_inbox import _example, send_batch, wait_received
from tests.harness.nodes import PASSWORD, NodeProcess, make_pair

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

TIMEOUT_MS = 20_000
N_GENERAL = 240
DOCS = REPO / "docs" / "screenshots"

# Every word in the list's cells drawn on one line: a word split over two lines has two boxes.
# Words with a hyphen or slash may break after it (that is not mid-word); ids in <code> may break.
BROKEN_WORDS_JS = """
() => {
  const broken = [];
  let checked = 0;
  for (const cell of document.querySelectorAll('#message-list td, #message-list th')) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    let node;
    while ((node = walker.nextNode()) && checked < 20000) {
      if (node.parentElement.closest('code')) continue;
      const re = /\\S+/g;
      let m;
      while ((m = re.exec(node.textContent)) && checked < 20000) {
        checked++;
        if (/[-\u2010-\u2015/]/.test(m[0])) continue;
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const boxes = Array.from(range.getClientRects()).filter(r => r.width > 0 && r.height > 0);
        const lines = new Set(boxes.map(r => Math.round(r.top)));
        if (lines.size > 1) broken.push(m[0]);
      }
    }
  }
  return {broken, checked};
}
"""


def _messages() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(N_GENERAL):
        precedence = ("FLASH", "IMMEDIATE", "PRIORITY", "ROUTINE", "ROUTINE")[i % 5]
        status = "EXERCISE" if i % 17 == 0 else "ACTUAL"
        text = f"Melding {i}: statusrapport fra grensestasjonen ved Storskog, ingen avvik observert."
        body = {"subject": f"Vaktrapport nr. {i}", "text": text, "lang": "nb"}
        out.append(
            {
                "channel": "test-line",
                "type": "general",
                "precedence": precedence,
                "status": status,
                "body": body,
            }
        )
    border = {"channel": "test-line", "type": "border-incident", "precedence": "PRIORITY"}
    out.append({**border, "body": _example("border-incident")})
    # The report to find in Russian: its free text is Norwegian, its category a rendered enum.
    incident = {"channel": "test-line", "type": "incident-at-sea", "precedence": "IMMEDIATE"}
    out.append({**incident, "body": _example("incident-at-sea")})
    return out


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeProcess, NodeProcess, int]]:
    a, b = make_pair(tmp_path_factory.mktemp("inbox-browser"))
    try:
        a.start()
        b.start()
        messages = _messages()
        send_batch(b, messages)
        wait_received(a, len(messages))
        yield a, b, len(messages)
    finally:
        for n in (a, b):
            n.stop()


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Browser]:  # noqa: F811 (the imported fixture)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            yield b
        finally:
            b.close()


def logged_in(browser: Browser, node: NodeProcess, width: int = 1280) -> tuple[Page, list[str]]:
    context = browser.new_context(ignore_https_errors=True, viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(node.url + "/console/login")
    page.fill("#username", f"op-{node.name}")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#dashboard")).to_be_visible()
    return page, errors


def test_page_to_the_oldest_search_in_russian_and_acknowledge_five(
    browser: Browser, busy: tuple[NodeProcess, NodeProcess, int]
) -> None:
    a, _, total = busy
    page, errors = logged_in(browser, a)

    page.goto(a.url + "/console/inbox")
    expect(page.locator("#inbox-range")).to_have_text(f"1–50 of {total}")
    page.click("a.pager-oldest >> nth=0")
    expect(page.locator("#inbox-range")).to_have_text(f"{total - 49}–{total} of {total}")
    # The oldest message is the first one sent; nothing newer than it is missing in between.
    expect(page.locator("#message-list tbody tr").last).to_contain_text("Vaktrapport nr. 0")
    expect(page.locator("a.pager-older")).to_have_count(0)
    page.click("a.pager-newer >> nth=0")
    expect(page.locator("#inbox-range")).to_have_text(f"{total - 99}–{total - 50} of {total}")

    # A Russian search finds the report whose original is Norwegian, by its rendered category.
    page.goto(a.url + "/console/inbox")
    page.fill("#q", "опасное маневрирование")
    page.click("#inbox-search button[type=submit]")
    expect(page).to_have_url(re.compile(r"[?&]q="))
    expect(page.locator("#inbox-range")).to_have_text("1–1 of 1")
    expect(page.locator("#message-list tbody tr")).to_contain_text("KV Barentshav")

    # Five at once: tick, one confirmation, five signed acknowledgments reported one by one.
    page.goto(a.url + "/console/inbox?ack=unacknowledged&type=general&precedence=ROUTINE")
    boxes = page.locator("#message-list input[name=id]")
    chosen = [boxes.nth(i).get_attribute("value") for i in range(5)]
    for i in range(5):
        boxes.nth(i).check()
    page.click("#bulk-ack-button")
    expect(page.locator("#bulk-confirm .bulk-list li")).to_have_count(5)
    page.click("#bulk-confirm-button")
    # Five signed acknowledgments, each stored and queued: the page's wait, not expect's 5 s.
    expect(page.locator("#bulk-results tr.bulk-ok")).to_have_count(5, timeout=TIMEOUT_MS)
    done = [page.locator("#bulk-results tr.bulk-ok").nth(i).get_attribute("data-id") for i in range(5)]
    assert sorted(done) == sorted(chosen)  # type: ignore[type-var]
    page.goto(a.url + "/console/inbox?ack=acknowledged")
    expect(page.locator("#inbox-range")).to_have_text("1–5 of 5")
    assert not errors, errors


@pytest.mark.parametrize("width", [1280, 768])
def test_no_word_is_broken_mid_word(
    browser: Browser, busy: tuple[NodeProcess, NodeProcess, int], width: int
) -> None:
    a, _, _ = busy
    page, errors = logged_in(browser, a, width)
    page.goto(a.url + "/console/inbox?direction=in&limit=100")
    expect(page.locator("#message-list tbody tr")).to_have_count(100)
    found = page.evaluate(BROKEN_WORDS_JS)
    assert found["checked"] > 1000
    assert found["broken"] == [], f"words broken mid-word at {width} px: {found['broken'][:20]}"
    page.screenshot(path=str(ARTIFACTS / f"inbox-{width}.png"), full_page=False)
    if width == 1280:
        # The inbox with filters for docs/console.md: what a watch hands over to the next.
        page.goto(a.url + "/console/inbox?direction=in&ack=unacknowledged&status=ACTUAL&limit=25")
        expect(page.locator("#message-list tbody tr")).to_have_count(25)
        # Tall enough to show the list below the alert bar (issue 12) that stays on top.
        page.set_viewport_size({"width": 1280, "height": 1500})
        page.screenshot(path=str(ARTIFACTS / "inbox-filters.png"), full_page=False)
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ARTIFACTS / "inbox-filters.png", DOCS / "console-inbox.png")
    assert not errors, errors
