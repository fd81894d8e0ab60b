"""The escalation section of the console's message page: every page sent or tried.

Issue 12 item 3: every page sent, and every failure to send, is shown on the message page.
Times are shown as the console shows all times (the reader's zone, UTC alongside).
"""

from __future__ import annotations

from typing import Any

from parley.console.views import when
from parley.formats.texts import render, text_from_json
from parley.node import Node
from parley.watch.chains import target_label
from parley.watch.pagers import ngettext
from parley.watch.paging import pages_for


def pages_shown(node: Node, message_id: str, lang: str) -> list[dict[str, Any]]:
    """The message's pages, oldest first, with times as the reader reads them."""
    return [
        dict(
            p,
            due_text=when(p["due_at"], lang),
            sent_text=when(p["sent_at"], lang),
            attempts_text=ngettext(lang, "page.console.attempts", int(p["attempts"])),
            target_text=target_label(str(p.get("target") or ""), lang),
            error_text=render(text_from_json(p["last_error_text"]), lang) if p.get("last_error_text") else "",
        )
        for p in pages_for(node, message_id)
    ]
