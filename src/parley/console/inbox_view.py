"""The console inbox as a person reads it: one page of a search, and where it sits in the whole.

The old inbox showed the newest 100 messages and said nothing of the rest. This read model
pages through :func:`parley.messaging.search.search_messages` (keyset cursors, newest first)
and always says how many match ("1–50 of 12,345"), so nothing is ever cut off silently. The
filters are the query's URL parameters (:meth:`MessageQuery.from_params`), so a search can be
copied to the next watch. Each row carries the message's summary line
(:func:`parley.formats.summary.summary_of`) and names, not ids, for channels and desks.

Bulk acknowledgment acknowledges each chosen message on its own, through the same
:func:`parley.messaging.acknowledge.do_acknowledge` as the single one: each is a signed
acknowledgment, checked against the desk policy, and reported on its own line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from babel.numbers import format_decimal
from sqlalchemy import select

from parley.channels.registry import Channel
from parley.clock import format_time
from parley.directory.operators import Operator
from parley.directory.policy import Action, acting_desks, visible_channels
from parley.errors import ForbiddenError, NotFoundError, ParleyError, UsageError
from parley.formats.catalogue import load_catalogue
from parley.formats.registry import list_types
from parley.formats.summary import Summary, summary_of
from parley.formats.texts import T
from parley.messaging.search import MessageQuery, search_messages
from parley.node import Node
from parley.protocol.envelope import SignedEnvelope
from parley.storage.tables import desks, envelopes, peers

PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
# One confirmation acknowledges at most a page's worth: each is a signed message of its own.
MAX_BULK = 200
_VIEW_PARAMS = ("limit", "thread", "cursor", "oldest")


@dataclass(frozen=True)
class InboxView:
    """How the list is shown, besides what it shows (the query)."""

    limit: int = DEFAULT_PAGE_SIZE
    thread: bool = False
    cursor: str | None = None
    oldest: bool = False


def _one(params: Mapping[str, Sequence[str]], key: str) -> str:
    values = params.get(key) or ()
    return str(values[-1]).strip() if values else ""


def read_view(params: Mapping[str, Sequence[str]]) -> InboxView:
    """Paging and display options from the URL; a bad value is a UsageError that names it."""
    raw_limit = _one(params, "limit")
    limit = DEFAULT_PAGE_SIZE
    if raw_limit:
        if not raw_limit.isdigit() or int(raw_limit) not in PAGE_SIZES:
            sizes = ", ".join(map(str, PAGE_SIZES))
            raise UsageError(
                T("page size {raw_limit!r} is not offered", raw_limit=raw_limit[:20]),
                hint=T("choose one of {sizes}", sizes=sizes),
            )
        limit = int(raw_limit)
    return InboxView(
        limit=limit,
        thread=_one(params, "thread") == "1",
        cursor=_one(params, "cursor") or None,
        oldest=_one(params, "oldest") == "1",
    )


def read_query(params: Mapping[str, Sequence[str]]) -> MessageQuery:
    """The search from the URL; the old ``box=in|out`` links still work as the direction."""
    query_params: dict[str, list[str]] = {k: list(v) for k, v in params.items() if k not in _VIEW_PARAMS}
    box = query_params.pop("box", [])
    if box and not query_params.get("direction") and box[-1] in ("in", "out"):
        query_params["direction"] = [box[-1]]
    # A date picker's "to 29 Nov" means to the end of that day (UTC), not its first instant.
    until = [u.strip() for u in query_params.get("until", []) if u.strip()]
    if until and re.fullmatch(r"\d{4}-\d{2}-\d{2}", until[-1]):  # else refused as it was typed
        query_params["until"] = [until[-1] + "T23:59:59.999Z"]
    return MessageQuery.from_params(query_params)


def _day(value: Any) -> str:
    """A query's since/until as the date picker shows it (UTC date)."""
    return value.strftime("%Y-%m-%d") if value is not None else ""


def link(query: MessageQuery, view: InboxView, **changes: Any) -> str:
    """The inbox URL for ``query`` shown as ``view`` with ``changes`` (cursor, oldest…)."""
    from urllib.parse import urlencode

    pairs = list(query.to_params())
    shown = {"limit": view.limit, "thread": view.thread, **changes}
    if shown["limit"] != DEFAULT_PAGE_SIZE:
        pairs.append(("limit", str(shown["limit"])))
    if shown["thread"]:
        pairs.append(("thread", "1"))
    if shown.get("cursor"):
        pairs.append(("cursor", str(shown["cursor"])))
    if shown.get("oldest"):
        pairs.append(("oldest", "1"))
    return "/console/inbox" + ("?" + urlencode(pairs) if pairs else "")


Names = dict[str, str]


def _names(node: Node, op: Operator, seen: Sequence[Channel]) -> tuple[Names, Names, Names]:
    """Channel names in the reader's language, desk titles, and each node's party."""
    chans = {c.id: c.charter.name_in(op.lang) for c in seen}
    with node.reader.connect() as conn:
        titles = {r.name: r.title for r in conn.execute(select(desks.c.name, desks.c.title)) if r.title}
        parties = {r.name: r.party for r in conn.execute(select(peers.c.name, peers.c.party))}
    parties[node.name] = node.config.node.party
    return chans, titles, parties


def summaries_of(node: Node, ids: Sequence[str], lang: str) -> dict[str, Summary]:
    """The summary line of each of ``ids`` (at most a page's worth) in ``lang``: a template
    shows it as is (the sender's words marked with their language), an attribute its
    ``label(lang)``."""
    if not ids:
        return {}
    with node.reader.connect() as conn:
        rows = conn.execute(select(envelopes.c.id, envelopes.c.raw).where(envelopes.c.id.in_(ids))).all()
    out = {}
    for r in rows:
        try:
            out[r.id] = summary_of(SignedEnvelope.from_bytes(r.raw).envelope, lang)
        except (ParleyError, ValueError, KeyError, TypeError):
            out[r.id] = Summary(())  # a summary must never hide the message from the list
    return out


def _one_per_thread(node: Node, rows: list[dict[str, Any]], lang: str) -> list[dict[str, Any]]:
    """The newest message of each thread on this page, with how many of the page it stands for."""
    from parley.messaging.threads import thread_roots
    from parley.watch.pagers import ngettext  # the catalogues' plural forms

    roots = thread_roots(node, [m["id"] for m in rows])
    kept: dict[str, dict[str, Any]] = {}
    for m in rows:  # newest first, so the first of each thread is its newest
        root = roots.get(m["id"], m["id"])
        if root in kept:
            kept[root]["thread_count"] += 1
        else:
            kept[root] = dict(m, thread_root=root, thread_count=1)
    for m in kept.values():
        count = int(m["thread_count"])
        m["thread_text"] = ngettext(lang, "console.inbox.thread_count", count) if count > 1 else ""
    return list(kept.values())


def inbox_page(node: Node, op: Operator, params: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """One page of the inbox for ``op``, as the template shows it."""
    from parley.directory.parties import party_name

    query = read_query(params)
    view = read_view(params)
    seen = visible_channels(node, op)
    chans, titles, parties = _names(node, op, seen)
    unknown = [c for c in query.channels if c not in chans]
    if unknown:
        # Like the API: a channel the operator may not see is not named to them at all.
        raise NotFoundError(
            T("unknown channel {unknown_0!r}", unknown_0=unknown[0]), hint=T("pick a channel from the list")
        )
    result = search_messages(
        node, query, visible_channels=set(chans), cursor=view.cursor, limit=view.limit, oldest=view.oldest
    )
    summaries = summaries_of(node, [m["id"] for m in result.items], op.lang)
    now = format_time(node.clock.now())
    can_ack_on = {c.id for c in seen if acting_desks(c.charter.desks_of(node.name), op, Action.ACKNOWLEDGE)}
    rows = []
    for item in result.items:
        m = dict(item)
        sender_node, _, sender_desk = str(m["from"]).partition("/")
        line = summaries.get(m["id"]) or Summary(((str(m["type"]), ""),))
        m["summary"], m["summary_label"] = line, line.label(op.lang)
        m["channel_name"] = chans.get(m["channel"], m["channel"])
        m["desk_name"] = titles.get(sender_desk, sender_desk) if sender_node == node.name else sender_desk
        m["party"] = party_name(str(parties.get(sender_node) or sender_node), op.lang)
        m["sender_node"] = sender_node
        m["overdue"] = bool(m["due_at"] and not m["acknowledged_by"] and str(m["due_at"]) <= now)
        m["drill"] = m["status"] in ("EXERCISE", "TEST")
        m["can_ack"] = m["direction"] == "in" and not m["acknowledged_by"] and m["channel"] in can_ack_on
        rows.append(m)
    if view.thread:
        rows = _one_per_thread(node, rows, op.lang)
    first = result.position + 1 if result.items else 0
    locale = load_catalogue(op.lang).locale

    def number(n: int) -> str:
        return format_decimal(n, locale=locale)

    return {
        "range": {"first": number(first), "last": number(result.position + len(result.items))},
        "total_text": number(result.total),
        "types": [(t.name, t.name) for t in list_types()],
        "since_value": _day(query.since),
        "until_value": _day(query.until),
        "rows": rows,
        "query": query,
        "view": view,
        "total": result.total,
        "first": first,
        "last": result.position + len(result.items),
        "newer": link(query, view, cursor=result.prev_cursor) if result.prev_cursor else None,
        "older": link(query, view, cursor=result.next_cursor) if result.next_cursor else None,
        "newest": link(query, view) if result.position > 0 else None,
        "oldest": link(query, view, oldest=True) if result.next_cursor else None,
        "channels": sorted(chans.items(), key=lambda kv: kv[1].casefold()),
        "self_link": link(query, view, cursor=view.cursor, oldest=view.oldest),
        "any_ack": any(m["can_ack"] for m in rows),
    }


@dataclass(frozen=True)
class BulkOutcome:
    """What became of one message of a bulk acknowledgment."""

    message_id: str
    ok: bool
    ack_id: str = ""
    error: str = ""
    summary: Summary | str = ""  # the line as shown; summary_label for an attribute
    summary_label: str = ""
    code: str = ""  # the ParleyError code of a refusal (not_found, forbidden, conflict…)


def bulk_ids(values: Sequence[str]) -> list[str]:
    """The chosen message ids, de-duplicated and bounded; a UsageError says what is wrong."""
    ids = list(dict.fromkeys(v.strip() for v in values if v.strip()))
    if not ids:
        raise UsageError(
            T("no message was chosen to acknowledge"), hint=T("tick the messages to acknowledge")
        )
    if len(ids) > MAX_BULK:
        raise UsageError(
            T(
                "{n_ids} messages chosen; one confirmation acknowledges at most {max_bulk}",
                n_ids=len(ids),
                max_bulk=MAX_BULK,
            ),
            hint=T("acknowledge them a page at a time"),
        )
    for i in ids:
        if len(i) > 64 or not all(ch.isalnum() or ch == "-" for ch in i):
            raise UsageError(
                T("{i!r} is not a message id", i=i[:64]), hint=T("choose messages from the inbox list")
            )
    return ids


def ack_one(node: Node, op: Operator, message_id: str) -> tuple[SignedEnvelope | None, BulkOutcome]:
    """Acknowledge one message of a bulk request: visibility and desk policy checked for it alone."""
    from parley.messaging.acknowledge import do_acknowledge
    from parley.messaging.views import require_visible_message

    summary: Summary | str = ""
    try:
        channel_id = require_visible_message(node, op, message_id)
        summary = summaries_of(node, [message_id], op.lang).get(message_id, "")
        label = summary.label(op.lang) if isinstance(summary, Summary) else summary
        chan = next(c for c in visible_channels(node, op) if c.id == channel_id)
        own = acting_desks(chan.charter.desks_of(node.name), op, Action.ACKNOWLEDGE)
        if not own:
            raise ForbiddenError(
                T(
                    "{op_username} may not acknowledge for any desk of channel {channel_id!r}",
                    op_username=op.username,
                    channel_id=channel_id,
                ),
                hint=T("ask an officer with a duty or supervisor role at that desk"),
            )
        env = do_acknowledge(node, message_id, op, own[0])
    except ParleyError as exc:
        return None, BulkOutcome(
            message_id,
            False,
            error=exc.one_line(op.lang),
            summary=summary,
            summary_label=summary.label(op.lang) if isinstance(summary, Summary) else summary,
            code=exc.code,
        )
    return env, BulkOutcome(message_id, True, ack_id=env.id, summary=summary, summary_label=label)


def safe_back(target: str) -> str:
    """Where "back to the list" goes: an inbox URL of this console only, never another site."""
    if target.startswith("/console/inbox") and "//" not in target and len(target) <= 2_000:
        return target
    return "/console/inbox"


def chosen(node: Node, op: Operator, ids: Sequence[str]) -> list[dict[str, Any]]:
    """The messages a bulk acknowledgment would cover, for the confirmation (changes nothing).

    A message the operator may not see is listed as not found, like one that does not exist."""
    from parley.messaging.views import require_visible_message

    summaries = summaries_of(node, ids, op.lang)
    out: list[dict[str, Any]] = []
    for message_id in ids:
        try:
            require_visible_message(node, op, message_id)
        except NotFoundError as exc:
            out.append({"id": message_id, "summary": "", "error": exc.one_line(op.lang)})
            continue
        line = summaries.get(message_id) or Summary(())
        out.append({"id": message_id, "summary": line, "summary_label": line.label(op.lang), "error": ""})
    return out
