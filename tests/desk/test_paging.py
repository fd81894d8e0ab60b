"""Keyset paging over stored messages, on SQLite and PostgreSQL (issue 13 item 1).

1,000 messages signed and stored by the real send path: walking the pages older and back
newer visits each exactly once, in order, even while new messages arrive between pages.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from parley.errors import UsageError
from parley.messaging.search import MessagePage, MessageQuery, search_messages
from parley.messaging.send import Draft, do_send_many
from parley.node import Node
from parley.storage.tables import envelopes
from tests.workflows.support import DESK, Pair

N = 1_000


def _fill(pair: Pair, n: int, *, start: int = 0) -> None:
    """``n`` messages, several per millisecond tick so (created, id) ties are broken by id."""
    for first in range(start, start + n, 100):
        drafts = []
        for i in range(first, min(first + 100, start + n)):
            precedence = "FLASH" if i % 10 == 0 else "ROUTINE"
            body = {"text": f"Melding nummer {i}", "lang": "nb"}
            drafts.append(Draft("border-1949", DESK, "general", precedence, "ACTUAL", body))
            if i % 3 == 0:
                pair.clock.advance(0.001)
        do_send_many(pair.a, drafts)


def _expected(node: Node, **where: object) -> list[str]:
    q = select(envelopes.c.id).where(envelopes.c.type != "acknowledgment")
    for col, value in where.items():
        q = q.where(envelopes.c[col] == value)
    with node.engine.connect() as conn:
        rows = conn.execute(q.order_by(envelopes.c.created.desc(), envelopes.c.id.desc())).all()
    return [r.id for r in rows]


def _walk(node: Node, query: MessageQuery, limit: int) -> list[MessagePage]:
    pages = [search_messages(node, query, visible_channels=None, limit=limit)]
    for _ in range(N):  # bounded: never more pages than messages
        if pages[-1].next_cursor is None:
            break
        pages.append(
            search_messages(node, query, visible_channels=None, limit=limit, cursor=pages[-1].next_cursor)
        )
    return pages


def test_paging_visits_each_message_once_in_order(any_pair: Pair) -> None:
    pair = any_pair
    _fill(pair, N)
    want = _expected(pair.a)
    assert len(want) == N
    pages = _walk(pair.a, MessageQuery(), 37)
    got = [m["id"] for p in pages for m in p.items]
    assert got == want
    assert [p.position for p in pages] == list(range(0, N, 37))
    assert all(p.total == N for p in pages)
    assert pages[0].prev_cursor is None
    assert pages[-1].next_cursor is None
    # Back from the last page, newer, to the first: the same pages, reversed.
    back = [pages[-1]]
    while back[-1].prev_cursor is not None and len(back) <= len(pages):
        back.append(
            search_messages(
                pair.a, MessageQuery(), visible_channels=None, limit=37, cursor=back[-1].prev_cursor
            )
        )
    assert [[m["id"] for m in p.items] for p in reversed(back)] == [[m["id"] for m in p.items] for p in pages]
    # "Jump to oldest": the last (partial) page, its position and a way back.
    oldest = search_messages(pair.a, MessageQuery(), visible_channels=None, limit=37, oldest=True)
    assert [m["id"] for m in oldest.items] == want[-37:]
    assert oldest.position == N - 37
    assert oldest.next_cursor is None
    assert oldest.prev_cursor is not None
    # A filter pages the same way over its own matches.
    flash = _walk(pair.a, MessageQuery(precedences=("FLASH",)), 7)
    assert [m["id"] for p in flash for m in p.items] == _expected(pair.a, precedence="FLASH")
    assert flash[0].total == N // 10


def test_messages_arriving_between_pages_move_nothing(sqlite_pair: Pair) -> None:
    pair = sqlite_pair
    _fill(pair, 120)
    want = _expected(pair.a)
    first = search_messages(pair.a, MessageQuery(), visible_channels=None, limit=50)
    pair.clock.advance(1)
    _fill(pair, 30, start=120)  # newer than everything on the first page
    second = search_messages(
        pair.a, MessageQuery(), visible_channels=None, limit=50, cursor=first.next_cursor
    )
    assert [m["id"] for m in first.items + second.items] == want[:100]
    assert second.position == 80
    assert second.total == 150


def test_limits_are_bounded(sqlite_pair: Pair) -> None:
    for limit in (0, 501):
        with pytest.raises(UsageError):
            search_messages(sqlite_pair.a, MessageQuery(), visible_channels=None, limit=limit)


def test_an_empty_result_has_no_cursors(sqlite_pair: Pair) -> None:
    page = search_messages(
        sqlite_pair.a, MessageQuery(since=datetime(2030, 1, 1, tzinfo=UTC)), visible_channels=None
    )
    assert (page.items, page.total, page.next_cursor, page.prev_cursor, page.position) == (
        [],
        0,
        None,
        None,
        0,
    )
