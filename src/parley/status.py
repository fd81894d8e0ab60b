"""The node's state at a glance: what ``parley status`` prints and the dashboard shows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from parley.channels.registry import list_channels_txn
from parley.federation.outbox import oldest_unreceipted_txn, outbox_depth_txn
from parley.messaging.deadlines import overdue_messages
from parley.node import Node
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
            {
                "id": a.id,
                "kind": a.kind,
                "severity": a.severity,
                "subject": a.subject,
                "message": a.message,
                "raised_at": a.raised_at,
            }
            for a in conn.execute(select(alarms).where(alarms.c.cleared_at.is_(None)).order_by(alarms.c.id))
        ]
    overdue = [o.to_json() for o in overdue_messages(node)]
    from parley.workflows_status import extra_status

    return {
        "node": node.name,
        "party": node.config.node.party,
        "time": node.clock.now(),
        "peers": peers_out,
        "channels": channels_out,
        "overdue": overdue,
        "alarms": open_alarms,
        **extra_status(node),
    }
