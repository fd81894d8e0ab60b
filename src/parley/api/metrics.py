"""Prometheus text exposition of a node's state (``/metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from parley.node import Node


def render_metrics(node: Node) -> str:
    from parley.status import node_status

    st = node_status(node)
    reg = CollectorRegistry()
    depth = Gauge("parley_outbox_depth", "Envelopes not yet receipted by a peer", ["peer"], registry=reg)
    for p in st["peers"]:
        depth.labels(p["peer"]).set(p["outbox_depth"])
    up = Gauge(
        "parley_link_up", "1 if the channel's link to the peer is UP", ["channel", "peer"], registry=reg
    )
    rtt = Gauge("parley_link_rtt_ms", "Last link-test round trip", ["channel", "peer"], registry=reg)
    for c in st["channels"]:
        up.labels(c["channel"], c["peer"]).set(1 if c["link"] == "UP" else 0)
        if c["last_rtt_ms"] is not None:
            rtt.labels(c["channel"], c["peer"]).set(c["last_rtt_ms"])
    Gauge("parley_overdue_acknowledgments", "Messages past their deadline", registry=reg).set(
        len(st["overdue"])
    )
    Gauge("parley_open_alarms", "Alarms not cleared", registry=reg).set(len(st["alarms"]))
    return generate_latest(reg).decode()
