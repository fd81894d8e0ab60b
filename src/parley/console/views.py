"""Read models of the console's pages, computed in one place for the HTML views.

Each function runs synchronously on the node's database (the web layer calls it through
``Service.db``) and returns plain dicts for the templates. What an operator sees is limited
to the channels one of their desks is a member of (admins see every channel): the same
authorization policy as the operator API's, :mod:`parley.directory.policy`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from markupsafe import Markup
from sqlalchemy import select

from parley.channels.registry import Channel, get_channel_txn, list_channels_txn
from parley.channels.status import history_txn
from parley.clock import format_time
from parley.console.timefmt import when_for_reader
from parley.directory.operators import Operator
from parley.directory.parties import party_name
from parley.directory.policy import Action, acting_desks, sees_channel, status_for, visible_channels
from parley.errors import NotFoundError, ParleyError
from parley.formats.catalogue import load_catalogue
from parley.formats.exports import to_feature_collection
from parley.formats.labels import duration_in, language_names
from parley.formats.render import render as render_envelope
from parley.formats.render import render_html
from parley.formats.summary import Summary
from parley.formats.texts import T, Text, render
from parley.messaging.views import list_messages, message_detail
from parley.node import Node
from parley.protocol.envelope import SignedEnvelope
from parley.running.status import alarms_in, node_status
from parley.storage.tables import acknowledgments, envelopes

INCIDENT_TYPES = ("incident-at-sea", "border-incident")


def sending_desks(node: Node, op: Operator, channel: Channel) -> list[str]:
    """The desks ``op`` may send and acknowledge for on ``channel`` (none for auditors)."""
    return acting_desks(channel.charter.desks_of(node.name), op, Action.SEND)


def when(text: str | None, lang: str) -> str:
    """A wire time as the operator reads it (UTC, their zone alongside), or a dash."""
    if not text:
        return "–"
    try:
        return when_for_reader(text, lang)  # parley.console.timefmt: one format everywhere
    except ValueError:
        return text


def _titles(node: Node, ids: Sequence[str], lang: str) -> dict[str, str]:
    if not ids:
        return {}
    with node.reader.connect() as conn:
        rows = conn.execute(select(envelopes.c.id, envelopes.c.raw).where(envelopes.c.id.in_(ids))).all()
    out = {}
    for r in rows:
        try:
            out[r.id] = render_envelope(SignedEnvelope.from_bytes(r.raw).envelope, lang).title
        except Exception:  # a title must never hide the message from the list
            out[r.id] = ""
    return out


def messages(
    node: Node, op: Operator, *, outgoing: bool, channel: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Inbox or sent list with titles in the operator's language and deadline state."""
    allowed = {c.id for c in visible_channels(node, op)}
    if channel is not None and channel not in allowed:
        raise NotFoundError(
            T("unknown channel {channel!r}", channel=channel), hint=T("pick a channel from the list")
        )
    rows = list_messages(node, outgoing, channel, limit, op)
    titles = _titles(node, [m["id"] for m in rows], op.lang)
    from parley.console.inbox_view import summaries_of

    summaries = summaries_of(node, [m["id"] for m in rows], op.lang)
    names = {c.id: c.charter.name_in(op.lang) for c in visible_channels(node, op)}
    now = format_time(node.clock.now())
    for m in rows:
        m["title"] = titles.get(m["id"]) or m["type"]
        line = summaries.get(m["id"]) or Summary(((str(m["title"]), ""),))
        m["summary"], m["summary_label"] = line, line.label(op.lang)
        m["channel_name"] = names.get(m["channel"], m["channel"])
        m["created_text"] = when(m["created"], op.lang)
        m["due_text"] = when(m["due_at"], op.lang) if m["due_at"] else ""
        m["overdue"] = bool(m["due_at"] and not m["acknowledged_by"] and m["due_at"] <= now)
        m["drill"] = m["status"] in ("EXERCISE", "TEST")
    return rows


def dashboard(node: Node, op: Operator) -> dict[str, Any]:
    st = status_for(node, op, node_status(node))  # alarms and meetings of her channels only
    allowed = {c.id for c in visible_channels(node, op)}
    with node.reader.connect() as conn:
        names = {c.id: c.charter.name_in(op.lang) for c in list_channels_txn(conn)}
    chans = [
        dict(c, name=names.get(c["channel"], c["channel"])) for c in st["channels"] if c["channel"] in allowed
    ]
    overdue = [o for o in st["overdue"] if o["channel"] in allowed]
    incoming = [
        m for m in messages(node, op, outgoing=False, limit=200) if m["due_at"] and not m["acknowledged_by"]
    ]
    outgoing = [m for m in messages(node, op, outgoing=True, limit=200) if not m["acknowledged_by"]]
    overdue_ids = {o["message_id"] for o in overdue}
    titles = _titles(node, [o["message_id"] for o in overdue], op.lang)
    for o in overdue:
        o["title"] = titles.get(o["message_id"]) or o["type"]
        o["due_text"] = when(o["due_at"], op.lang)
    extra = {
        k: v
        for k, v in st.items()
        if k not in ("node", "party", "time", "peers", "channels", "overdue", "alarms")
    }
    return {
        "node": st["node"],
        "party": party_name(str(st["party"] or ""), op.lang),
        "now": format_time(node.clock.now()),
        "alarms": alarms_in(node, st["alarms"], op.lang),
        "overdue": overdue,
        "channels": chans,
        "peers": st["peers"],
        "unacked_in": sorted((m for m in incoming if m["id"] not in overdue_ids), key=lambda m: m["due_at"]),
        "awaiting_out": [m for m in outgoing if m["id"] not in overdue_ids],
        "extra": extra,
    }


def message_page(node: Node, op: Operator, message_id: str) -> dict[str, Any]:
    detail = message_detail(node, message_id, op.lang)
    env: dict[str, Any] = detail["wire"]["envelope"]
    with node.reader.connect() as conn:
        channel = get_channel_txn(conn, env["channel"])
    if not sees_channel(node, op, channel):
        # Not "forbidden": whether the message exists is itself not this operator's to know.
        raise NotFoundError(T("no message {message_id}", message_id=message_id), hint=T("see the inbox"))
    rendered = _html(env, op.lang)
    # The original: the message in its author's language (that of its free text), when
    # that is not the reader's, plus the signed bytes themselves.
    author_lang = _author_language(env)
    original = _html(env, author_lang) if author_lang and author_lang != op.lang else None
    ack = detail["acknowledgment"]
    can_ack = (
        not detail["outgoing"]
        and env["type"] != "acknowledgment"
        and ack is None
        and bool(sending_desks(node, op, channel))
    )
    receipts = [
        dict(r, receipted_text=when(r["receipted_at"], op.lang), due_text=when(r["due_at"], op.lang))
        for r in detail["receipts"]
    ]
    return {
        "id": message_id,
        "envelope": env,
        "outgoing": detail["outgoing"],
        "rendered_html": rendered,
        "original_html": original,
        "original_lang": author_lang,
        "signed_json": json.dumps(detail["wire"], ensure_ascii=False, indent=2, sort_keys=True),
        "receipts": receipts,
        "acknowledgment": None if ack is None else dict(ack, at_text=when(ack["at"], op.lang)),
        "can_ack": can_ack,
        "drill": env["status"] in ("EXERCISE", "TEST"),
        "channel_name": channel.charter.name_in(op.lang),
        "desks": sending_desks(node, op, channel),
    }


def _ack_html(env: Mapping[str, Any], lang: str) -> str:
    """An acknowledgment has no form of its own to render: a sentence says what it confirms."""
    raw = env.get("body")
    body: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    marker = "\x00message\x00"
    said = render(
        T(
            "{operator} acknowledged message {message} for desk {desk}: it has been read and taken in hand.",
            operator=str(body.get("operator", "?")),
            desk=str(body.get("desk", "?")),
            message=marker,
        ),
        lang,
    )
    message = str(body.get("message", ""))
    link = Markup('<a href="/console/messages/{0}">{0}</a>').format(message) if message else "?"
    head, _, tail = said.partition(marker)
    note = render(
        T("An acknowledgment has no content of its own: it is sent from the message it answers."), lang
    )
    return str(Markup("<p>{}{}{}</p><p class='muted'>{}</p>").format(head, link, tail, note))


def _html(env: Mapping[str, Any], lang: str) -> str:
    if env.get("type") == "acknowledgment":
        return _ack_html(env, lang)
    try:
        return render_html(render_envelope(env, lang))
    except ParleyError as exc:
        return str(Markup("<p class='error'>{}</p>").format(exc.one_line(lang)))


def _author_language(env: Mapping[str, Any]) -> str | None:
    """The language of the first free text in the body (general messages carry it at the top)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, Mapping):
            if isinstance(value.get("text"), str) and isinstance(value.get("lang"), str):
                found.append(value["lang"].split("-")[0])
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(env.get("body"))
    return found[0] if found and found[0] in ("nb", "ru", "en") else None


def _envelopes_of(node: Node, op: Operator, types: Sequence[str], limit: int = 500) -> list[dict[str, Any]]:
    allowed = {c.id for c in visible_channels(node, op)}
    with node.reader.connect() as conn:
        rows = conn.execute(
            select(
                envelopes.c.raw,
                envelopes.c.outgoing,
                acknowledgments.c.operator,
                acknowledgments.c.node,
            )
            .outerjoin(acknowledgments, acknowledgments.c.message_id == envelopes.c.id)
            .where(envelopes.c.type.in_(types))
            .order_by(envelopes.c.stored_at.desc())
            .limit(limit)
        ).all()
    out = []
    for r in rows:
        env = SignedEnvelope.from_bytes(r.raw).envelope
        if env["channel"] not in allowed:
            continue
        out.append(
            {
                "envelope": env,
                "outgoing": bool(r.outgoing),
                "acked_by": r.operator,
                "acked_node": r.node,
            }
        )
    return out


def incidents(node: Node, op: Operator) -> dict[str, Any]:
    """Incident reports (until the incident workflow lands: the reports themselves)."""
    from parley.workflows.incidents import load_incidents_txn

    items = _envelopes_of(node, op, INCIDENT_TYPES)
    with node.reader.connect() as conn:
        states = {s.id: s for s in load_incidents_txn(conn, ids=[it["envelope"]["id"] for it in items])}
    rows = []
    for it in items:
        env = it["envelope"]
        rows.append(
            {
                "id": env["id"],
                "title": render_envelope(env, op.lang).title,
                "type": env["type"],
                "precedence": env["precedence"],
                "status": env["status"],
                "drill": env["status"] in ("EXERCISE", "TEST"),
                "channel": env["channel"],
                "from": f"{env['sender']['node']}/{env['sender']['desk']}",
                "created_text": when(env["created"], op.lang),
                "acked_by": it["acked_by"],
                "outgoing": it["outgoing"],
                "phase": states[env["id"]].phase if env["id"] in states else None,
            }
        )
    features = to_feature_collection([it["envelope"] for it in items], lang=op.lang)
    return {"incidents": rows, "geojson": features}


def meetings(node: Node, op: Operator) -> dict[str, Any]:
    """Meetings as the workflow projects them from the signed messages: the current
    proposal with its agenda, the protocol, and which member nodes have signed it.
    """
    from parley.workflows.meetings import list_meetings

    cat = load_catalogue(op.lang)
    chans = {c.id: c for c in visible_channels(node, op)}
    out = []
    for st in list_meetings(node):
        channel = chans.get(st.channel)
        if channel is None:
            continue
        proposal = st.proposal
        protocol = st.protocol
        signed = st.signatures.get(protocol["hash"], {}) if protocol else {}
        level_key = f"enum.meeting-proposal.level.{st.level}"
        out.append(
            {
                "meeting_id": st.meeting_id,
                "channel": channel.charter.name_in(op.lang),
                "phase": st.phase,
                "level": cat.get(level_key) if cat.has(level_key) else st.level,
                "start_text": when(st.start, op.lang),
                "place": (proposal.get("place") or {}).get("name", ""),
                "proposal_id": st.current.get("id"),
                "agenda": [
                    {
                        "item_id": a.get("item_id"),
                        # The charter's (or the catalogue's) label, never the topic code.
                        "topic": channel.charter.topic_label(str(a.get("topic", "")), op.lang),
                        "title": (a.get("title") or {}).get("text", ""),
                        # The proposer's own words, in their language (marked on the page).
                        "title_lang": str((a.get("title") or {}).get("lang", "")),
                    }
                    for a in proposal.get("agenda", [])
                ],
                "protocol_id": protocol["id"] if protocol else None,
                "held_text": when(st.held_at, op.lang) if st.held_at else "",
                "decisions": [
                    (
                        d.get("item_id"),
                        (d.get("text") or {}).get("text", ""),
                        str((d.get("text") or {}).get("lang", "")),
                    )
                    for d in (protocol["body"].get("decisions", []) if protocol else [])
                ],
                "signatures": [
                    {
                        "node": n,
                        "signed": n in signed,
                        "at_text": when(signed[n]["at"], op.lang) if n in signed else "",
                    }
                    for n in channel.charter.member_nodes
                ]
                if protocol
                else [],
                "agreed": st.agreed is not None,
                "drill": st.drill,
                "channel_id": st.channel,
                # A person of a member desk may sign a draft this node has not signed yet.
                "can_sign": bool(
                    protocol
                    and node.name not in signed
                    and sending_desks(node, op, channel)
                    and st.agreed is None
                ),
            }
        )
    return {"meetings": out}


def channels(node: Node, op: Operator) -> list[dict[str, Any]]:
    out = []
    with node.reader.connect() as conn:
        for c in list_channels_txn(conn):
            if not sees_channel(node, op, c):
                continue
            out.append(_channel_json(node, op, c, history_txn(conn, c.id)))
    return out


def _channel_json(node: Node, op: Operator, c: Channel, history: Sequence[Any]) -> dict[str, Any]:
    data = c.charter.data
    return {
        "id": c.id,
        "name": c.charter.name_in(op.lang),
        "status": c.status,
        "exempt_types": c.exempt_types,
        "hash": c.charter.hash,
        # Name, basis and topics in the reader's language (a missing one marked as such).
        "basis": {"agreement": c.charter.agreement_in(op.lang), "date": c.charter.basis_date_in(op.lang)},
        "members": c.charter.members,
        "types": c.charter.types,
        "topics": c.charter.topic_labels_in(op.lang),
        "languages": language_names(c.charter.languages, op.lang),
        "deadlines": {pr: duration_in(s, op.lang) for pr, s in data.get("deadlines_s", {}).items()},
        "link_test_interval": duration_in(c.charter.link_test_interval_s, op.lang),
        "cadence": data.get("cadence", []),
        "signatures": sorted(c.document.signatures),
        "history": [
            {
                "status": h.status,
                "effective_text": when(h.effective, op.lang),
                "signer": h.signer,
                "reason": h.reason,
                "exempt_types": h.exempt_types,
            }
            for h in history
        ],
        "can_send": bool(sending_desks(node, op, c)),
    }


def record(node: Node, limit: int = 5) -> dict[str, Any]:
    """The Merkle log (RFC 9162) with this node's latest checkpoints and who cosigned them,
    and the peers' checkpoints this node witnessed (C2SP tlog-checkpoint / tlog-cosignature).
    """
    from parley.record import log
    from parley.record.witness_tables import record_checkpoints, record_cosignatures, witness_state

    with node.reader.connect() as conn:
        size = log.size(conn)
        root = log.root(conn).hex() if size else ""
        own = conn.execute(
            select(record_checkpoints.c.size, record_checkpoints.c.root, record_checkpoints.c.signed_at)
            .order_by(record_checkpoints.c.size.desc())
            .limit(limit)
        ).all()
        sizes = [r.size for r in own]
        cosigners: dict[int, list[str]] = {}
        if sizes:
            for c in conn.execute(
                select(record_cosignatures.c.size, record_cosignatures.c.cosigner).where(
                    record_cosignatures.c.size.in_(sizes)
                )
            ):
                cosigners.setdefault(int(c.size), []).append(c.cosigner)
        witnessed = conn.execute(select(witness_state).order_by(witness_state.c.peer)).all()
    return {
        "size": size,
        "root": root,
        "checkpoints": [
            {
                "origin": node.name,
                "size": r.size,
                "root": bytes(r.root).hex(),
                "signed_at": r.signed_at,
                "cosigners": sorted(cosigners.get(int(r.size), [])),
            }
            for r in own
        ],
        "witnessed": [
            {
                "peer": w.peer,
                "size": w.size,
                "root": bytes(w.root).hex() if w.root is not None else "",
                "witnessed_at": w.witnessed_at,
            }
            for w in witnessed
        ],
    }


def _checkpoints_hold(node: Node) -> list[Text]:
    """Every checkpoint this node signed must still match its log at that size."""
    from parley.record import log
    from parley.record.witness_tables import record_checkpoints

    bad = []
    with node.reader.connect() as conn:
        size = log.size(conn)
        for r in conn.execute(select(record_checkpoints.c.size, record_checkpoints.c.root)):
            if r.size > size or log.root(conn, int(r.size)) != bytes(r.root):
                bad.append(T("checkpoint of size {size} no longer matches the record", size=int(r.size)))
    return bad


def verify_record(node: Node) -> dict[str, Any]:
    """Re-verify every stored envelope, chain and receipt and recompute the log root."""
    from parley.messaging.integrity import verify_store

    try:
        report = verify_store(node)
    except ParleyError as exc:
        return {"ok": False, "errors": [exc.text]}
    bad = _checkpoints_hold(node)
    if bad:
        return {"ok": False, "errors": bad}
    rec = record(node)
    return {
        "ok": True,
        "envelopes": report.envelopes,
        "chains": report.chains,
        "receipts": report.receipts,
        **rec,
    }


def status_facts(
    extra: Mapping[str, Any], lang: str, when_: Callable[[str | None], str]
) -> list[tuple[str, list[str]]]:
    """The node's further status (the record, overdue meetings, links not up, the server) as
    (label, lines) in the reader's language: what the dashboard shows under its tables."""
    from parley.console import counts

    cat = load_catalogue(lang)
    out: list[tuple[str, list[str]]] = []
    rec = extra.get("record")
    if isinstance(rec, Mapping):
        lines = [render(counts.entries(int(rec.get("log_size") or 0)), lang)]
        for c in rec.get("cosignatures") or ():
            lines.append(
                render(
                    T(
                        "{peer} has cosigned {entries} ({behind})",
                        peer=c["peer"],
                        entries=counts.entries(int(c["size"])),
                        behind=counts.behind(int(c["behind"])),
                    ),
                    lang,
                )
            )
        for peer, seen in sorted((rec.get("witnessing") or {}).items()):
            size = seen.get("size") if isinstance(seen, Mapping) else None
            at = when_(seen.get("at")) if isinstance(seen, Mapping) and seen.get("at") else "–"
            lines.append(
                render(
                    T(
                        "we witnessed the record of {peer}: {entries}, {at}",
                        peer=peer,
                        entries=counts.entries(int(size or 0)),
                        at=at,
                    ),
                    lang,
                )
            )
        out.append((cat.get("console.dash.record"), lines))
    overdue = extra.get("meetings_overdue") or []
    if overdue:
        lines = []
        for m in overdue:
            kind_key = f"console.cadence.{m.get('kind')}"
            level_key = f"enum.meeting-proposal.level.{m.get('level')}"
            lines.append(
                render(
                    T(
                        "{kind} ({level}) on {channel}: due {due}, {late}",
                        kind=cat.get(kind_key) if cat.has(kind_key) else str(m.get("kind")),
                        level=cat.get(level_key) if cat.has(level_key) else str(m.get("level")),
                        channel=str(m.get("channel")),
                        due=when_(m.get("due")),
                        late=counts.days_late(int(m.get("days_overdue") or 0)),
                    ),
                    lang,
                )
            )
        out.append((cat.get("console.dash.meetings_overdue"), lines))
    links = extra.get("links_not_up") or []
    if links:
        lines = [
            render(
                T(
                    "{channel}, link to {peer}: {state}",
                    channel=str(link["channel"]),
                    peer=str(link["peer"]),
                    state=cat.get(f"console.link.{link['link']}"),
                ),
                lang,
            )
            for link in links
        ]
        out.append((cat.get("console.dash.links_not_up"), lines))
    serving = extra.get("serving")
    if isinstance(serving, Mapping) and serving.get("crashed"):
        out.append(
            (cat.get("console.dash.serving"), [render(T("the node's process ended unexpectedly"), lang)])
        )
    return out
