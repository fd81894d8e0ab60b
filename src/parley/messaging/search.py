"""Finding messages: filters, full-text search and keyset (cursor) paging.

Paging is keyset pagination ("seek method") on ``(created, id)``, newest first: a page
continues strictly after the last row of the previous one, so it costs the same on page 1
and page 2,000 and never skips or repeats a row when new messages arrive (no ``OFFSET``).
Cursors are opaque to clients but fully validated here: a forged or damaged cursor is a
400 with a hint, never a 500. The full-text part lives in :mod:`parley.messaging.search_index`
(SQLite FTS5, PostgreSQL ``tsvector`` with the norwegian, russian and english configurations).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, not_, select, text, tuple_
from sqlalchemy.sql.expression import TableClause

from parley.clock import format_time
from parley.errors import UsageError
from parley.formats.texts import T, Text
from parley.messaging.thread_tables import incident_messages
from parley.node import Node
from parley.storage.engines import is_sqlite
from parley.storage.tables import acknowledgments, delivery, envelopes

# Bounds on what a client may ask for (docs/security.md: everything from outside is bounded).
MAX_LIMIT = 500
DEFAULT_LIMIT = 50
MAX_TEXT = 200
MAX_VALUES = 20
MAX_CURSOR = 400

DIRECTIONS = ("in", "out")
ACK_STATES = ("unacknowledged", "overdue", "acknowledged")
STATUSES = ("ACTUAL", "EXERCISE", "TEST")
PRECEDENCES = ("ROUTINE", "PRIORITY", "IMMEDIATE", "FLASH")

_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_UUID_RE = re.compile(r"^[0-9a-fA-F-]{1,36}$")
# The envelope's ``created`` as stored: ISO 8601 UTC; compared as text, so it must stay canonical.
_CREATED_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$")

# Query parameter names, shared by the API, the console's URLs and to_params.
_PARAMS = {
    "q": "text",
    "channel": "channels",
    "type": "types",
    "precedence": "precedences",
    "direction": "direction",
    "ack": "ack_state",
    "status": "statuses",
    "since": "since",
    "until": "until",
    "incident": "incident",
}

# The single-value parameters as a reader names them ("give one {name}").
_FIELD_NAMES: dict[str, Text] = {
    "q": T("search text"),
    "direction": T("direction"),
    "ack": T("acknowledgment state"),
    "incident": T("incident"),
}


@dataclass(frozen=True)
class MessageQuery:
    """What an operator asks for; every field narrows the result (empty = no filter)."""

    text: str | None = None  # full-text, any of nb/ru/en
    channels: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    precedences: tuple[str, ...] = ()
    direction: str | None = None  # "in" | "out" | None (both)
    ack_state: str | None = None  # "unacknowledged" | "overdue" | "acknowledged" | None
    statuses: tuple[str, ...] = ()  # ACTUAL, EXERCISE, TEST
    since: datetime | None = None
    until: datetime | None = None
    incident: str | None = None  # incident id

    def __post_init__(self) -> None:
        _check_query(self)

    @classmethod
    def from_params(cls, params: Mapping[str, str | list[str]]) -> MessageQuery:
        """Read a query from URL/query parameters; a bad value is a UsageError naming it."""
        values: dict[str, Any] = {}
        for name, attr in _PARAMS.items():
            raw = params.get(name)
            if raw is None:
                continue
            items = [raw] if isinstance(raw, str) else list(raw)
            if len(items) > MAX_VALUES:
                raise UsageError(
                    T("too many values for {name!r} ({n_items})", name=name, n_items=len(items)),
                    hint=T("give at most {max_values}", max_values=MAX_VALUES),
                )
            # "a,b" and "a&a" both mean a list; empty strings are "no filter" (an empty form field).
            parts = [p.strip() for item in items for p in str(item).split(",") if p.strip()]
            if attr == "text":
                text = " ".join(str(i) for i in items).strip()
                values[attr] = text or None
            elif attr in ("channels", "types", "precedences", "statuses"):
                if len(parts) > MAX_VALUES:
                    raise UsageError(
                        T("too many values for {name!r}", name=name),
                        hint=T("give at most {max_values}", max_values=MAX_VALUES),
                    )
                values[attr] = tuple(dict.fromkeys(parts))
            elif attr in ("since", "until"):
                if parts:
                    values[attr] = parse_time_param(name, parts[-1])
                    if attr == "until" and len(parts[-1]) == 10:
                        # "until 2026-11-29" means to the end of that day, as a person reads it.
                        values[attr] += timedelta(days=1, milliseconds=-1)
            elif parts:
                if len(parts) > 1:
                    raise UsageError(
                        T("{name!r} takes one value, got {n_parts}", name=name, n_parts=len(parts)),
                        hint=T("give one {name}", name=_FIELD_NAMES.get(name, name)),
                    )
                values[attr] = parts[0]
        return cls(**values)

    def to_params(self) -> list[tuple[str, str]]:
        """The query as URL parameters (filters live in the URL so a search can be shared)."""
        out: list[tuple[str, str]] = []
        for name, attr in _PARAMS.items():
            value = getattr(self, attr)
            if value is None or value == ():
                continue
            if isinstance(value, tuple):
                out += [(name, v) for v in value]
            elif isinstance(value, datetime):
                out.append((name, format_param_time(value)))
            else:
                out.append((name, str(value)))
        return out

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) in (None, ()) for f in fields(self))


@dataclass(frozen=True)
class MessagePage:
    """One page of a result, newest first, with cursors to its neighbours."""

    items: list[dict[str, Any]]  # same dicts as list_messages rows
    total: int  # matching messages, exact (an index-only count)
    next_cursor: str | None  # older
    prev_cursor: str | None  # newer
    position: int  # 0-based index of items[0] in the whole result


def parse_time_param(name: str, value: str) -> datetime:
    """``2026-11-29``, ``2026-11-29T18:39`` or a full ISO time; naive means UTC."""
    since = name == "since"
    if len(value) > 40:
        raise UsageError(
            T("since is too long") if since else T("until is too long"),
            hint=T("give a date like 2026-11-29 or 2026-11-29T18:39Z"),
        )
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        raise UsageError(
            T("since {value!r} is not a date or time", value=value)
            if since
            else T("until {value!r} is not a date or time", value=value),
            hint=T("give a date like 2026-11-29 or a UTC time like 2026-11-29T18:39Z"),
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def format_param_time(dt: datetime) -> str:
    dt = dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ") if dt.microsecond == 0 else dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _created_text(dt: datetime) -> str:
    """``dt`` in the envelope's ``created`` text form, so the comparison can use the index."""
    return format_time(dt if dt.tzinfo else dt.replace(tzinfo=UTC))


def _check_query(q: MessageQuery) -> None:
    if q.text is not None and len(q.text) > MAX_TEXT:
        raise UsageError(
            T("search text is {n_q_text} characters long", n_q_text=len(q.text)),
            hint=T("search for at most {max_text}", max_text=MAX_TEXT),
        )
    for name, values in (("channel", q.channels), ("type", q.types)):
        if len(values) > MAX_VALUES:
            raise UsageError(
                T("too many values for {name!r}", name=name),
                hint=T("give at most {max_values}", max_values=MAX_VALUES),
            )
        for v in values:
            if not _ID_RE.match(v) and name == "channel":
                raise UsageError(
                    T("channel {v!r} is not a valid name", v=v), hint=T("give a channel name as listed")
                )
            if not _ID_RE.match(v):
                raise UsageError(
                    T("type {v!r} is not a valid name", v=v), hint=T("give a type name as listed")
                )
    for name, values, allowed in (
        ("precedence", q.precedences, PRECEDENCES),
        ("status", q.statuses, STATUSES),
    ):
        if len(values) > MAX_VALUES:
            raise UsageError(
                T("too many values for {name!r}", name=name),
                hint=T("give at most {max_values}", max_values=MAX_VALUES),
            )
        for v in values:
            if v not in allowed:
                raise UsageError(
                    T("unknown precedence {v!r}", v=v)
                    if name == "precedence"
                    else T("unknown status {v!r}", v=v),
                    hint=T("use one of {allowed}", allowed=", ".join(allowed)),
                )
    if q.direction is not None and q.direction not in DIRECTIONS:
        raise UsageError(
            T("unknown direction {q_direction!r}", q_direction=q.direction), hint=T("use in or out")
        )
    if q.ack_state is not None and q.ack_state not in ACK_STATES:
        raise UsageError(
            T("unknown acknowledgment state {q_ack_state!r}", q_ack_state=q.ack_state),
            hint=T("use one of {ack_states}", ack_states=", ".join(ACK_STATES)),
        )
    if q.incident is not None and not _UUID_RE.match(q.incident):
        raise UsageError(
            T("incident {q_incident!r} is not an incident id", q_incident=q.incident),
            hint=T("give the id of the incident report"),
        )
    if q.since and q.until and q.since > q.until:
        raise UsageError(T("since is after until"), hint=T("swap the two dates"))


# --- cursors ---------------------------------------------------------------------------


def encode_cursor(created: str, message_id: str, direction: str) -> str:
    raw = json.dumps([direction, created, message_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str, str]:
    """(direction, created, id) of ``cursor``; UsageError (400) for anything not made by us."""
    bad = UsageError(
        T("the paging cursor is not valid"),
        hint=T("start again from the first page (drop the cursor parameter)"),
        code="bad_cursor",
    )
    if len(cursor) > MAX_CURSOR:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad from None
    if not (isinstance(value, list) and len(value) == 3 and all(isinstance(v, str) for v in value)):
        raise bad
    direction, created, message_id = value
    if (
        direction not in ("older", "newer")
        or not _CREATED_RE.match(created)
        or not _UUID_RE.match(message_id)
    ):
        raise bad
    return direction, created, message_id


# --- the query -------------------------------------------------------------------------


def _conditions(
    node: Node, query: MessageQuery, visible_channels: set[str] | None, source: TableClause
) -> list[ColumnElement[bool]]:
    """The filters of ``query`` on ``source`` (envelopes, or the search keys: same column names)."""
    e = source.c
    conds: list[ColumnElement[bool]] = [e.type != "acknowledgment"]
    channel: ColumnElement[Any] = e.channel
    if is_sqlite(node.engine):
        # Given ``channel IN (…)``, SQLite picks the (channel, type) index and sorts every
        # match by time (230 ms at 10^5 messages); as an expression the channel cannot use an
        # index, so the covering (created, id, channel, …) index serves order and count alike
        # (0.1 ms for a page). PostgreSQL plans this well by itself.
        channel = e.channel.concat("")
    if visible_channels is not None:
        conds.append(channel.in_(sorted(visible_channels)))
    if query.channels:
        conds.append(channel.in_(query.channels))
    if query.types:
        conds.append(e.type.in_(query.types))
    if query.precedences:
        conds.append(e.precedence.in_(query.precedences))
    if query.statuses:
        conds.append(e.status.in_(query.statuses))
    if query.direction is not None:
        conds.append(e.outgoing == (query.direction == "out"))
    if query.since is not None:
        conds.append(e.created >= _created_text(query.since))
    if query.until is not None:
        conds.append(e.created <= _created_text(query.until))
    if query.incident is not None:
        conds.append(
            e.id.in_(
                select(incident_messages.c.message_id).where(
                    incident_messages.c.incident_id == query.incident
                )
            )
        )
    if query.ack_state is not None:
        acked = exists().where(acknowledgments.c.message_id == e.id)
        if query.ack_state == "acknowledged":
            conds.append(acked)
        elif query.ack_state == "unacknowledged":
            conds.append(not_(acked))
        else:
            now = _created_text(node.clock.now())
            due = exists().where(
                and_(delivery.c.message_id == e.id, delivery.c.due_at.is_not(None), delivery.c.due_at <= now)
            )
            conds += [not_(acked), due]
    return conds


def search_messages(
    node: Node,
    query: MessageQuery,
    *,
    visible_channels: set[str] | None,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
    oldest: bool = False,
) -> MessagePage:
    """One page of the messages matching ``query`` that the viewer may see, newest first.

    ``cursor`` continues from a page's ``next_cursor`` (older) or ``prev_cursor`` (newer);
    ``oldest`` jumps to the last page (the oldest messages).
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise UsageError(
            T("limit {limit} is out of range", limit=limit),
            hint=T("give a limit from 1 to {max_limit}", max_limit=MAX_LIMIT),
        )
    if visible_channels is not None and not visible_channels:
        return MessagePage([], 0, None, None, 0)
    source: TableClause = envelopes
    conds: list[ColumnElement[bool]] = []
    if query.text:
        from parley.messaging.search_index import text_source

        if not _index_ready(node):
            return MessagePage([], 0, None, None, 0)
        source, matches = text_source(node.engine, query.text)
        conds.append(matches)
    e = source.c
    key = tuple_(e.created, e.id)
    conds += _conditions(node, query, visible_channels, source)
    where = and_(*conds)
    page_q = select(e.id, e.created).select_from(source).where(where)
    newer_first = True
    if cursor is not None:
        direction, created, message_id = decode_cursor(cursor)
        if direction == "older":
            page_q = page_q.where(key < tuple_(created, message_id))
        else:
            page_q = page_q.where(key > tuple_(created, message_id))
            newer_first = False
    elif oldest:
        newer_first = False
    if newer_first:
        page_q = page_q.order_by(e.created.desc(), e.id.desc())
    else:
        page_q = page_q.order_by(e.created.asc(), e.id.asc())
    # One row more than asked tells whether there is a page beyond this one.
    page_q = page_q.limit(limit + 1)
    with node.reader.connect() as conn:
        keys = [(r.id, r.created) for r in conn.execute(page_q)]
        more = len(keys) > limit
        keys = keys[:limit]
        if not newer_first:
            keys.reverse()
        if query.text and not is_sqlite(node.engine):
            # Counting a word's matches reads them through the GIN index (21 ms for 6,700 of
            # 10^5 messages); misjudging how many match, the planner would rather test every
            # document (148 ms). Only for this transaction, which only reads.
            conn.execute(text("SET LOCAL enable_seqscan = off"))
        total = int(conn.execute(select(func.count()).select_from(source).where(where)).scalar_one())
        position = 0
        if keys and oldest and cursor is None:
            position = total - len(keys)
        elif keys and cursor is not None:  # the first page is at 0: no count needed
            first_id, first_created = keys[0]
            position = int(
                conn.execute(
                    select(func.count())
                    .select_from(source)
                    .where(and_(where, key > tuple_(first_created, first_id)))
                ).scalar_one()
            )
        items = _rows(conn, [k[0] for k in keys])
    if not keys:
        return MessagePage([], total, None, None, 0 if cursor is None else position)
    has_older = (more if newer_first else cursor is not None and not oldest) or (
        not newer_first and position + len(keys) < total
    )
    has_newer = position > 0
    next_cursor = encode_cursor(keys[-1][1], keys[-1][0], "older") if has_older else None
    prev_cursor = encode_cursor(keys[0][1], keys[0][0], "newer") if has_newer else None
    return MessagePage(items, total, next_cursor, prev_cursor, position)


def _index_ready(node: Node) -> bool:
    """Whether text can be searched; a node whose index misses older messages says how to fix it."""
    from parley.messaging.search_index import search_index_complete

    with node.reader.connect() as conn:
        if search_index_complete(conn):
            return True
        if (
            conn.execute(select(envelopes.c.id).where(envelopes.c.type != "acknowledgment").limit(1)).first()
            is None
        ):
            return False  # no messages yet, so nothing to find
    raise UsageError(
        T("this node's search index does not cover all its messages yet"),
        hint=T("run `parley db reindex` once (it indexes the messages stored before the upgrade)"),
        code="no_search_index",
        http_status=503,
    )


def _rows(conn: Any, ids: list[str]) -> list[dict[str, Any]]:
    """The list rows for ``ids``, in that order (the same dicts as views.list_messages)."""
    if not ids:
        return []
    q = (
        select(
            envelopes.c.id,
            envelopes.c.channel,
            envelopes.c.sender_node,
            envelopes.c.sender_desk,
            envelopes.c.seq,
            envelopes.c.type,
            envelopes.c.precedence,
            envelopes.c.status,
            envelopes.c.created,
            envelopes.c.outgoing,
            acknowledgments.c.operator,
            acknowledgments.c.acked_at,
            acknowledgments.c.late,
        )
        .outerjoin(acknowledgments, acknowledgments.c.message_id == envelopes.c.id)
        .where(envelopes.c.id.in_(ids))
    )
    rows = {r.id: r for r in conn.execute(q)}
    dues: dict[str, tuple[Any, Any]] = {}
    for d in conn.execute(select(delivery).where(delivery.c.message_id.in_(ids))):
        dues[d.message_id] = (d.receipted_at, d.due_at)
    out = []
    for i in ids:
        r = rows[i]
        out.append(
            {
                "id": r.id,
                "channel": r.channel,
                "from": f"{r.sender_node}/{r.sender_desk}",
                "seq": r.seq,
                "type": r.type,
                "precedence": r.precedence,
                "status": r.status,
                "created": r.created,
                "direction": "out" if r.outgoing else "in",
                "receipted_at": dues.get(r.id, (None, None))[0],
                "due_at": dues.get(r.id, (None, None))[1],
                "acknowledged_by": r.operator,
                "acknowledged_at": r.acked_at,
                "late": r.late,
            }
        )
    return out


__all__ = ["MessagePage", "MessageQuery", "search_messages"]
