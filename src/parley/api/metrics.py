"""Prometheus text exposition of a node's state (``/metrics``), behind a scrape token.

The metrics name channels, peers and link states, so a scraper authenticates like any API
client (RFC 6750 bearer token). Only the token's SHA-256 is kept, in ``[metrics]
token_sha256`` (set by ``parley metrics token``); the comparison runs in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from parley.config import MetricsSection
from parley.errors import AuthError, NotFoundError
from parley.formats.texts import T
from parley.node import Node

TOKEN_BYTES = 32


def new_scrape_token() -> tuple[str, str]:
    """A fresh token and the SHA-256 (hex) to keep in ``[metrics] token_sha256``."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, hashlib.sha256(token.encode()).hexdigest()


def check_scrape_token(metrics: MetricsSection, authorization: str) -> None:
    """Raise unless ``authorization`` is ``Bearer <the scrape token>``."""
    expected = metrics.token_sha256.strip().lower()
    if not expected:
        raise NotFoundError(
            T("/metrics is off: no scrape token is configured"),
            code="metrics_off",
            hint=T("run `parley metrics token` on the node, restart it, and give the token to the scraper"),
        )
    scheme, _, token = authorization.partition(" ")
    given = hashlib.sha256(token.strip().encode()).hexdigest()
    # Digest against digest: the comparison time does not depend on where they differ.
    if scheme.lower() != "bearer" or not hmac.compare_digest(given, expected):
        raise AuthError(
            T("scrape token missing or wrong"),
            code="metrics_token",
            hint=T("send Authorization: Bearer <token> (parley metrics token makes a new one)"),
        )


def render_metrics(node: Node) -> str:
    from parley.running.status import node_status

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
