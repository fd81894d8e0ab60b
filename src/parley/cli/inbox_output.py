"""``parley inbox`` output: lines for a person, or NDJSON for a program, streamed page by page.

NDJSON (https://github.com/ndjson/ndjson-spec): one message per line, with its body and its
renderings in nb, ru and en. Pages of at most 500 messages are read with the keyset cursor
of :mod:`parley.messaging.search` and written before the next is read, so ``--all`` over a
year of traffic holds one page in memory, never the whole result. Words a person reads come
from the catalogues (``cli.inbox.*``).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from sqlalchemy import select

from parley.formats.catalogue import Catalogue, load_catalogue
from parley.messaging.search import MAX_LIMIT, MessagePage, MessageQuery, search_messages
from parley.node import Node
from parley.protocol.envelope import SignedEnvelope
from parley.storage.tables import envelopes

LANGS = ("nb", "ru", "en")


def stream_inbox(
    node: Node, query: MessageQuery, *, limit: int | None, cursor: str | None, lang: str, as_json: bool
) -> None:
    """Write the matching messages, newest first; ``limit=None`` means every one of them."""
    cat = load_catalogue(lang)
    shown = 0
    first: MessagePage | None = None
    while True:  # ends: each page starts strictly after the last (keyset), and rows are finite
        want = MAX_LIMIT if limit is None else min(MAX_LIMIT, limit - shown)
        page = search_messages(node, query, visible_channels=None, cursor=cursor, limit=want)
        first = first or page
        if as_json:
            for line in _ndjson(node, page.items):
                sys.stdout.write(line + "\n")
        else:
            for item in page.items:
                sys.stdout.write(_line(item, cat) + "\n")
        sys.stdout.flush()
        shown += len(page.items)
        cursor = page.next_cursor
        if cursor is None or (limit is not None and shown >= limit):
            break
    # The summary goes to stderr under --json, so stdout stays one message per line.
    out = sys.stderr if as_json else sys.stdout
    if shown == 0:
        out.write(cat.get("cli.inbox.none") + "\n")
        return
    start = first.position + 1
    out.write(
        _plural(lang, "cli.inbox.shown", first.total, first=_n(start, cat), last=_n(start + shown - 1, cat))
        + "\n"
    )
    if cursor is not None:
        out.write(cat.get("cli.inbox.more", cursor=cursor) + "\n")


def _n(value: int, cat: Catalogue) -> str:
    from babel.numbers import format_decimal

    return str(format_decimal(value, locale=cat.locale))


def _plural(lang: str, key: str, n: int, **params: object) -> str:
    """A counted phrase: the plural form chosen by ``n``, the number written as ``{total}``."""
    from parley.watch.pagers import ngettext

    return ngettext(lang, key, n, total=_n(n, load_catalogue(lang)), **params)


def _line(item: dict[str, Any], cat: Catalogue) -> str:
    from parley.cli.common import at, label

    lang = cat.lang
    drill = "" if item["status"] == "ACTUAL" else f" [{label('banner.short', item['status'], lang)}]"
    ack = (
        cat.get("cli.inbox.acknowledged_by", operator=item["acknowledged_by"])
        if item["acknowledged_by"]
        else cat.get("cli.inbox.unacknowledged")
    )
    arrow = "→" if item.get("direction") == "out" else "←"
    precedence = label("precedence", item["precedence"], lang)
    kind = label("type", item["type"], lang)
    when = at(item["created"], lang)
    return f"{when} {arrow} {precedence:9} {kind:22} {item['from']:36} {item['id']}{drill}  {ack}"


def _ndjson(node: Node, items: list[dict[str, Any]]) -> list[str]:
    """The page's messages as NDJSON lines, each with its body and renderings."""
    if not items:
        return []
    from parley.formats.render import render, render_text

    ids = [i["id"] for i in items]
    with node.reader.connect() as conn:
        raws = {
            r.id: r.raw
            for r in conn.execute(select(envelopes.c.id, envelopes.c.raw).where(envelopes.c.id.in_(ids)))
        }
    lines = []
    for item in items:
        env = SignedEnvelope.from_bytes(raws[item["id"]])
        rendered: dict[str, Any] = {}
        for lang in LANGS:
            try:
                r = render(env.envelope, lang)
                rendered[lang] = {"title": r.title, "text": render_text(r)}
            except Exception as exc:
                rendered[lang] = {"error": str(exc)}
        row = {
            **item,
            "body": env.envelope.get("body"),
            "refs": env.envelope.get("refs") or [],
            "rendered": rendered,
        }
        lines.append(json.dumps(row, ensure_ascii=False, default=str, separators=(",", ":")))
    return lines
