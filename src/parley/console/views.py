"""Read models of the console's pages, computed in one place for the HTML views.

Each function runs synchronously on the node's database (the web layer calls it through
``Service.db``) and returns plain dicts for the templates. What an operator sees is limited
to the channels one of their desks is a member of (admins see every channel), following the
roles of :mod:`parley.directory.operators`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup
from sqlalchemy import select

from parley.channels.registry import Channel, get_channel_txn, list_channels_txn
from parley.channels.status import history_txn
from parley.clock import format_time
from parley.directory.operators import Operator
from parley.errors import NotFoundError, ParleyError
from parley.formats.catalogue import load_catalogue
from parley.formats.exports import to_feature_collection
from parley.formats.render import format_utc_time, render, render_html
from parley.messaging.views import list_messages, message_detail
from parley.node import Node
from parley.protocol.envelope import SignedEnvelope
from parley.status import node_status
from parley.storage.tables import acknowledgments, envelopes

INCIDENT_TYPES = ("incident-at-sea", "border-incident")


def sees_channel(node: Node, op: Operator, channel: Channel) -> bool:
    return op.is_admin or any(d in op.roles for d in channel.charter.desks_of(node.name))


def visible_channels(node: Node, op: Operator) -> list[Channel]:
    with node.reader.connect() as conn:
        return [c for c in list_channels_txn(conn) if sees_channel(node, op, c)]


def sending_desks(node: Node, op: Operator, channel: Channel) -> list[str]:
    """The desks ``op`` may send and acknowledge for on ``channel`` (none for auditors)."""
    return [d for d in channel.charter.desks_of(node.name) if op.can_act_on(d)]


def when(text: str | None, lang: str) -> str:
    """A wire time as the operator reads it (their zone, UTC alongside), or a dash."""
    if not text:
        return "–"
    try:
        return format_utc_time(text, load_catalogue(lang))
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
            out[r.id] = render(SignedEnvelope.from_bytes(r.raw).envelope, lang).title
        except Exception:  # a title must never hide the message from the list
            out[r.id] = ""
    return out


def messages(
    node: Node, op: Operator, *, outgoing: bool, channel: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Inbox or sent list with titles in the operator's language and deadline state."""
    allowed = {c.id for c in visible_channels(node, op)}
    if channel is not None and channel not in allowed:
        raise NotFoundError(f"unknown channel {channel!r}", hint="pick a channel from the list")
    rows = [m for m in list_messages(node, outgoing, channel, limit) if m["channel"] in allowed]
    titles = _titles(node, [m["id"] for m in rows], op.lang)
    now = format_time(node.clock.now())
    for m in rows:
        m["title"] = titles.get(m["id"]) or m["type"]
        m["created_text"] = when(m["created"], op.lang)
        m["due_text"] = when(m["due_at"], op.lang) if m["due_at"] else ""
        m["overdue"] = bool(m["due_at"] and not m["acknowledged_by"] and m["due_at"] <= now)
        m["drill"] = m["status"] in ("EXERCISE", "TEST")
    return rows


def dashboard(node: Node, op: Operator) -> dict[str, Any]:
    st = node_status(node)
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
        "party": st["party"],
        "now": format_time(node.clock.now()),
        "alarms": st["alarms"],
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
        raise NotFoundError(f"no message {message_id}", hint="see the inbox")
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


def _html(env: Mapping[str, Any], lang: str) -> str:
    try:
        return render_html(render(env, lang))
    except ParleyError as exc:
        return str(Markup("<p class='error'>{}</p>").format(exc.message))


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
                "title": render(env, op.lang).title,
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
                        "topic": a.get("topic"),
                        "title": (a.get("title") or {}).get("text", ""),
                    }
                    for a in proposal.get("agenda", [])
                ],
                "protocol_id": protocol["id"] if protocol else None,
                "held_text": when(st.held_at, op.lang) if st.held_at else "",
                "decisions": [
                    (d.get("item_id"), (d.get("text") or {}).get("text", ""))
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
        "basis": data.get("basis", {}),
        "members": c.charter.members,
        "types": c.charter.types,
        "topics": data.get("topics", []),
        "languages": data.get("languages", []),
        "deadlines": data.get("deadlines_s", {}),
        "link_test_interval_s": data.get("link_test_interval_s"),
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


def _checkpoints_hold(node: Node) -> list[str]:
    """Every checkpoint this node signed must still match its log at that size."""
    from parley.record import log
    from parley.record.witness_tables import record_checkpoints

    bad = []
    with node.reader.connect() as conn:
        size = log.size(conn)
        for r in conn.execute(select(record_checkpoints.c.size, record_checkpoints.c.root)):
            if r.size > size or log.root(conn, int(r.size)) != bytes(r.root):
                bad.append(f"checkpoint of size {r.size} no longer matches the log")
    return bad


def verify_record(node: Node) -> dict[str, Any]:
    """Re-verify every stored envelope, chain and receipt and recompute the log root."""
    from parley.messaging.integrity import verify_store

    try:
        report = verify_store(node)
    except ParleyError as exc:
        return {"ok": False, "error": exc.one_line()}
    bad = _checkpoints_hold(node)
    if bad:
        return {"ok": False, "error": "; ".join(bad)}
    rec = record(node)
    return {
        "ok": True,
        "envelopes": report.envelopes,
        "chains": report.chains,
        "receipts": report.receipts,
        **rec,
    }
