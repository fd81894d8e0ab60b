"""The node's state at a glance: what ``parley status`` prints and the dashboard shows.

Besides the per-peer and per-channel figures it says whether the node is serving
(:mod:`parley.node_running`), which tested links are not UP (the states are defined in
:mod:`parley.federation.linktest` and docs/watch.md), and how far each peer's latest
cosignature of this node's log is behind the log (:mod:`parley.federation.witness_schedule`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from parley.channels.registry import list_channels_txn
from parley.federation.outbox import oldest_unreceipted_txn, outbox_depth_txn
from parley.messaging.deadlines import overdue_messages
from parley.node import Node
from parley.storage.alarms import alarm_json, render_alarm_items
from parley.storage.tables import alarms, link_state, peer_links


def node_status(node: Node) -> dict[str, Any]:
    with node.reader.connect() as conn:
        chans = list_channels_txn(conn)
        links = {(r.channel, r.peer): r for r in conn.execute(select(link_state))}
        peer_rows = {r.peer: r for r in conn.execute(select(peer_links))}
        peers_out = []
        for peer, row in sorted(peer_rows.items()):
            peers_out.append(
                {
                    "peer": peer,
                    "outbox_depth": outbox_depth_txn(conn, node.name, peer),
                    # Signed control documents (charters, status records, key documents) not
                    # yet taken by the peer: a rotation waits for its certified card.
                    "control_pending": _control_pending_txn(conn, peer),
                    "oldest_unreceipted": oldest_unreceipted_txn(conn, node.name, peer),
                    "failures": row.failures,
                    "next_attempt_at": row.next_attempt_at,
                    "last_error": row.last_error,
                    "last_success_at": row.last_success_at,
                }
            )
        channels_out = []
        for ch in chans:
            for peer in ch.charter.member_nodes:
                if peer == node.name:
                    continue
                link = links.get((ch.id, peer))
                channels_out.append(
                    {
                        "channel": ch.id,
                        "peer": peer,
                        "status": ch.status,
                        "exempt_types": ch.exempt_types,
                        "link": link.state if link else "UNKNOWN",
                        "link_since": link.since if link else None,
                        "last_rtt_ms": link.last_rtt_ms if link else None,
                    }
                )
        open_alarms = [
            alarm_json(a)
            for a in conn.execute(select(alarms).where(alarms.c.cleared_at.is_(None)).order_by(alarms.c.id))
        ]
    overdue = [o.to_json() for o in overdue_messages(node)]
    from parley.federation.linktest import links_not_up
    from parley.node_running import serving
    from parley.running.workflows_status import extra_status

    extra = extra_status(node)
    if isinstance(extra.get("record"), dict):
        extra["record"]["cosignatures"] = cosignature_progress(node)
    return {
        "node": node.name,
        "party": node.config.node.party,
        "time": node.clock.now(),
        "peers": peers_out,
        "channels": channels_out,
        "overdue": overdue,
        "alarms": open_alarms,
        "serving": serving(node.home).to_json(),
        "recovery": recovery_status(node),
        "links_not_up": links_not_up(node),
        **extra,
    }


def recovery_status(node: Node) -> dict[str, Any] | None:
    """None, or what ``recovery.json`` says: the node recovers its own chains (or has been
    restored and not started since) and signs nothing until that is done (parley.continuity.recovery)."""
    from parley.node import read_marker

    marker = read_marker(node.home)
    if marker is None:
        return None
    return {"recovering": True, "state": str(marker.get("state", "pending")), "since": marker.get("since")}


def alarms_in(node: Node, items: list[dict[str, Any]], lang: str) -> list[dict[str, Any]]:
    """Open alarms (``node_status(...)["alarms"]``) for a reader of ``lang``: each keeps its
    ``kind``, ``code`` and ``params`` and gains ``text`` (also in ``message``) and ``lang``;
    channel names come from the charters in that language."""
    with node.reader.connect() as conn:
        channels = {c.id: c.charter.name_in for c in list_channels_txn(conn)}
    return render_alarm_items(items, lang, channels)


def status_in(status: dict[str, Any], node: Node, lang: str) -> dict[str, Any]:
    """``status`` (from :func:`node_status`) with its alarms read in ``lang``."""
    return {**status, "alarms": alarms_in(node, status["alarms"], lang)}


def cosignature_progress(node: Node) -> list[dict[str, Any]]:
    """Per peer that witnesses this node: the largest size it cosigned, of how many."""
    from parley.federation.witness_schedule import witness_view

    size, cosigned, peers = witness_view(node)
    return [
        {"peer": p, "size": cosigned.get(p, 0), "log_size": size, "behind": max(0, size - cosigned.get(p, 0))}
        for p in sorted(set(peers) | set(cosigned))
    ]


def _control_pending_txn(conn: Any, peer: str) -> int:
    from sqlalchemy import func

    from parley.storage.tables import control_outbox

    return int(
        conn.execute(
            select(func.count())
            .select_from(control_outbox)
            .where(control_outbox.c.peer == peer, control_outbox.c.delivered_at.is_(None))
        ).scalar_one()
    )
