"""Full-text search and filters over stored messages, on SQLite and PostgreSQL (issue 13 item 2).

Real nodes (tests/workflows/support.py): messages are signed and stored by the real send
path, carried to the other node through the real receiving path, and found by the real
index (FTS5 or tsvector) — a Russian query must find a Norwegian original by its rendering.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from parley.cli.main import main
from parley.errors import UsageError
from parley.messaging.search import MessageQuery, decode_cursor, search_messages
from parley.messaging.search_index import ensure_search_index, reindex
from parley.messaging.send import Draft, do_send_message
from parley.node import Node
from tests.workflows.support import DESK, Pair, border_incident, deliver


def _send(
    pair: Pair,
    body: dict[str, object],
    *,
    type: str = "border-incident",
    precedence: str = "ROUTINE",
    status: str = "ACTUAL",
) -> str:
    draft = Draft("border-1949", DESK, type, precedence, status, body)
    return do_send_message(pair.a, draft).id


def node_of(pair: Pair, side: str) -> Node:
    return pair.a if side == "a" else pair.b


def _ids(pair: Pair, node_name: str, query: MessageQuery) -> set[str]:
    node = node_of(pair, node_name)
    return {m["id"] for m in search_messages(node, query, visible_channels=None, limit=500).items}


def test_russian_search_finds_a_norwegian_original(any_pair: Pair) -> None:
    pair = any_pair
    damaged = _send(pair, border_incident("Grensemerke 353 funnet skadet."))
    other = _send(
        pair, {"subject": "Møte", "text": "Vi foreslår møte på tirsdag.", "lang": "nb"}, type="general"
    )
    deliver(pair.a, pair.b)
    for side in ("a", "b"):
        # The category's Russian rendering, not a word of the Norwegian original.
        assert _ids(pair, side, MessageQuery(text="повреждение пограничных")) == {damaged}
        assert _ids(pair, side, MessageQuery(text="Повреждение ЗНАКОВ")) == {damaged}
        # The Norwegian free text, also by a word's beginning.
        assert _ids(pair, side, MessageQuery(text="grensemerke")) == {damaged}
        assert _ids(pair, side, MessageQuery(text="foreslår møte")) == {other}
        if node_of(pair, side).engine.dialect.name == "sqlite":  # no stemming: prefixes instead
            assert _ids(pair, side, MessageQuery(text="tirsd foresl")) == {other}
        else:  # stemming: another form of the same word
            assert _ids(pair, side, MessageQuery(text="forslag")) == set()
            assert _ids(pair, side, MessageQuery(text="tirsdagen")) == {other}
        assert _ids(pair, side, MessageQuery(text="damage border")) == {damaged}
        assert _ids(pair, side, MessageQuery(text="траулер")) == set()
        # Operators' punctuation is never query syntax.
        assert _ids(pair, side, MessageQuery(text='"(* OR NEAR:')) == set()


def test_filters_combine(any_pair: Pair) -> None:
    pair = any_pair
    flash = _send(pair, border_incident("Skudd hørt ved grensen."), precedence="FLASH")
    pair.clock.advance(2 * 3600)
    drill = _send(pair, border_incident("Øvelse: skudd hørt."), precedence="FLASH", status="EXERCISE")
    pair.clock.advance(2 * 86400)
    note = _send(pair, {"text": "Skudd hørt igjen.", "lang": "nb"}, type="general")
    deliver(pair.a, pair.b)
    q = MessageQuery
    assert _ids(pair, "a", q(text="skudd")) == {flash, drill, note}
    assert _ids(pair, "a", q(text="skudd", precedences=("FLASH",))) == {flash, drill}
    assert _ids(pair, "a", q(text="skudd", precedences=("FLASH",), statuses=("ACTUAL",))) == {flash}
    assert _ids(pair, "a", q(types=("general",))) == {note}
    assert _ids(pair, "a", q(direction="in")) == set()
    assert _ids(pair, "b", q(direction="in", statuses=("EXERCISE",))) == {drill}
    start = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    assert _ids(pair, "a", q(since=start + timedelta(hours=1), until=start + timedelta(days=1))) == {drill}
    assert _ids(pair, "b", q(ack_state="unacknowledged", precedences=("FLASH",))) == {flash, drill}
    assert _ids(pair, "b", q(ack_state="acknowledged")) == set()
    assert _ids(pair, "b", q(ack_state="overdue")) == set()
    pair.clock.advance(600)  # past the FLASH deadline (300 s in the charter) from receipt
    assert _ids(pair, "b", q(ack_state="overdue")) == {flash, drill}
    assert _ids(pair, "a", q(channels=("other",))) == set()
    page = search_messages(pair.a, q(), visible_channels={"other"})
    assert page.items == []
    assert page.total == 0


def test_query_from_url_parameters_round_trips_and_refuses_bad_values() -> None:
    params: dict[str, str | list[str]] = {
        "q": "траулер",
        "channel": ["border-1949", "sar"],
        "precedence": "FLASH,IMMEDIATE",
        "direction": "in",
        "ack": "overdue",
        "status": "ACTUAL",
        "since": "2026-03-01",
        "until": "2026-03-02",
    }
    query = MessageQuery.from_params(params)
    assert query.channels == ("border-1949", "sar")
    assert query.precedences == ("FLASH", "IMMEDIATE")
    assert query.until == datetime(2026, 3, 2, 23, 59, 59, 999000, tzinfo=UTC)
    assert MessageQuery.from_params(dict(query.to_params())) != query or True
    again = MessageQuery.from_params(_multi(query.to_params()))
    assert again == query
    for bad in (
        {"precedence": "URGENT"},
        {"direction": "sideways"},
        {"ack": "maybe"},
        {"since": "last thursday"},
        {"q": "x" * 201},
        {"channel": [f"c{i}" for i in range(21)]},
        {"since": "2026-03-02", "until": "2026-03-01"},
        {"incident": "'; drop table envelopes; --"},
    ):
        with pytest.raises(UsageError):
            MessageQuery.from_params(bad)  # type: ignore[arg-type]


def _multi(pairs: list[tuple[str, str]]) -> dict[str, str | list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in pairs:
        out.setdefault(k, []).append(v)
    return dict(out)


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not base64 !!",
        "W10",
        "WyJvbGRlciIsIjIwMjYiLCJ4Il0",
        "A" * 401,
        "WyJzaWRld2F5cyIsIjIwMjYtMDMtMDFUMDk6MDA6MDAuMDAwWiIsImEiXQ",
    ],
)
def test_a_forged_cursor_is_a_clear_usage_error(cursor: str) -> None:
    with pytest.raises(UsageError) as err:
        decode_cursor(cursor)
    assert err.value.code == "bad_cursor"
    assert err.value.http_status == 400


def test_reindex_finds_messages_stored_before_the_index(
    sqlite_pair: Pair, capsys: pytest.CaptureFixture[str]
) -> None:
    """An upgraded node: messages from before the index, then new ones; search must not
    silently miss the old ones, and `parley db reindex` brings them in."""
    pair = sqlite_pair
    old = _send(pair, border_incident())
    with pair.a.engine.begin() as conn:  # the database as it was before this change
        conn.execute(text("DROP TABLE message_fts"))
        conn.execute(text("DROP TABLE message_search_keys"))
    home = pair.a.home
    pair.a.close()
    pair.a = Node.open(home, clock=pair.clock)  # the upgraded node, a new process
    new = _send(pair, border_incident("Nytt grensemerke skadet."))
    with pytest.raises(UsageError) as err:
        _ids(pair, "a", MessageQuery(text="повреждение"))
    assert err.value.code == "no_search_index"
    assert "parley db reindex" in err.value.hint
    assert main(["--home", str(home), "db", "reindex"]) == 0
    assert "2 messages indexed" in capsys.readouterr().out
    assert _ids(pair, "a", MessageQuery(text="повреждение")) == {old, new}
    assert _ids(pair, "a", MessageQuery(text="nytt")) == {new}
    assert reindex(pair.a.engine, batch=1) == 2  # again: the same index, nothing twice
    assert _ids(pair, "a", MessageQuery(text="повреждение")) == {old, new}


def test_an_index_created_in_a_transaction_that_rolls_back_is_created_again(any_pair: Pair) -> None:
    """The first message of a node creates the index in its own transaction; if that one is
    refused and rolled back, the tables go with it, and the next message must not fail."""
    pair = any_pair

    def refused_first_message() -> None:
        with pair.a.engine.begin() as conn:
            ensure_search_index(conn)
            raise LookupError("refused after the index was created")

    with pytest.raises(LookupError):
        refused_first_message()
    kept = _send(pair, border_incident())
    assert _ids(pair, "a", MessageQuery(text="grensemerke")) == {kept}


def test_an_index_added_since_is_built_once_while_two_stores_race(any_pair: Pair) -> None:
    """A node made before ``ix_message_search_created`` existed gets it from the first store
    of a new process; two stores racing to build it, each then writing to the search table
    in the same transaction, must both succeed (no deadlock)."""
    import threading

    from parley.messaging import search_index

    pair = any_pair
    if pair.a.engine.dialect.name == "sqlite":
        pytest.skip("PostgreSQL only: SQLite's FTS5 index has no index added since")
    _send(pair, border_incident())
    with pair.a.engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_message_search_created"))
    search_index._ready.discard(pair.a.engine)  # as a new process finds it
    start = threading.Barrier(2, timeout=30)
    errors: list[BaseException] = []

    def store(n: int) -> None:
        try:
            start.wait()
            with pair.a.engine.begin() as conn:
                ensure_search_index(conn)
                conn.execute(
                    text(
                        "INSERT INTO message_search VALUES (:id, '2026-01-01T00:00:00.000Z', "
                        "'border-1949', 'general', 'ROUTINE', 'ACTUAL', true, ''::tsvector)"
                    ),
                    {"id": f"race-{n}"},
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=store, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with pair.a.engine.connect() as conn:
        assert conn.execute(text("SELECT to_regclass('ix_message_search_created') IS NOT NULL")).scalar_one()
        raced = text("SELECT count(*) FROM message_search WHERE id LIKE 'race-%'")
        assert conn.execute(raced).scalar_one() == 2
