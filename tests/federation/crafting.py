"""Crafting federation requests by hand, as a peer (honest or not) would send them.

The refusal and fuzz tests speak to a real running node over HTTPS with its pinned
certificate, signing requests with the OTHER node's key from its home, so every check of
docs/protocol.md §Federation API is exercised on the wire, not in-process.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, func, select

from parley.clock import format_time
from parley.federation.auth import H_DEST, H_NONCE, H_ORIGIN, H_SIG, H_TIME, request_payload
from parley.node import Node
from parley.protocol import signing
from parley.protocol.envelope import build_envelope
from parley.protocol.keys import SigningKeyPair
from parley.protocol.tls import pinned_client_context
from parley.storage import tables
from tests.harness.nodes import NodeProcess

ENVELOPES_PATH = "/federation/v1/envelopes"

# The tables a refused request must leave untouched.
WATCHED = (
    tables.envelopes,
    tables.chain_heads,
    tables.receipts,
    tables.delivery,
    tables.acknowledgments,
    tables.channels,
    tables.status_records,
    tables.link_tests,
)


def counts(engine: Engine) -> dict[str, int]:
    """Rows per watched table. Of the link tests, only those a peer initiated count: the
    node's own tests run on its own schedule (retried within seconds after a failure, and a
    crafting peer never answers), whatever a peer sends."""
    with engine.connect() as conn:
        out: dict[str, int] = {}
        for t in WATCHED:
            q = select(func.count()).select_from(t)
            if t is tables.link_tests:
                q = q.where(t.c.initiator == t.c.peer)
            out[t.name] = int(conn.execute(q).scalar() or 0)
        return out


@dataclass
class Crafter:
    """Signs envelopes and requests as ``sender`` and posts them to the node at ``url``."""

    sender: Node
    url: str
    cert_pem: str
    destination: str
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.url, verify=pinned_client_context(self.cert_pem), timeout=30)

    def close(self) -> None:
        self.client.close()

    def envelope(
        self,
        seq: int,
        prev: str | None,
        *,
        type: str = "general",
        body: dict[str, Any] | None = None,
        channel: str = "test-line",
        desk: str = "duty",
        key: SigningKeyPair | None = None,
        sender: str | None = None,
        created: datetime | None = None,
    ) -> dict[str, Any]:
        env = build_envelope(
            key=key or self.sender.key,
            channel=channel,
            sender_node=sender or self.sender.name,
            sender_desk=desk,
            seq=seq,
            prev=prev,
            created=created or self.sender.clock.now(),
            type=type,
            type_version=1,
            precedence="ROUTINE",
            status="EXERCISE",
            body=body if body is not None else {"text": f"message {seq}", "lang": "en"},
        )
        return env.to_wire()

    def headers(
        self,
        body: bytes,
        *,
        method: str = "POST",
        path: str = ENVELOPES_PATH,
        origin: str | None = None,
        destination: str | None = None,
        key: SigningKeyPair | None = None,
        time: str | None = None,
        nonce: str | None = None,
    ) -> dict[str, str]:
        origin = origin or self.sender.name
        destination = destination or self.destination
        time = time or format_time(self.sender.clock.now())
        nonce = nonce or secrets.token_hex(16)
        payload = request_payload(method, path, origin, destination, time, nonce, body)
        return {
            H_ORIGIN: origin,
            H_DEST: destination,
            H_TIME: time,
            H_NONCE: nonce,
            H_SIG: signing.sign("request", payload, key or self.sender.key),
            "content-type": "application/json",
        }

    def post_raw(self, body: bytes, headers: dict[str, str], path: str = ENVELOPES_PATH) -> httpx.Response:
        return self.client.post(path, content=body, headers=headers)

    def post_envelopes(self, wires: list[Any], **header_kw: Any) -> httpx.Response:
        body = json.dumps({"envelopes": wires}).encode()
        return self.post_raw(body, self.headers(body, **header_kw))

    def post_json(self, payload: Any, path: str = ENVELOPES_PATH) -> httpx.Response:
        body = json.dumps(payload).encode()
        return self.post_raw(body, self.headers(body, path=path), path)


def add_channel_without(base: Path, host: Node, third_name: str, channel: str) -> Node:
    """Give ``host`` a channel with a third node only, in-process (offline files path).

    Returns the third node (open; the caller closes it).
    """
    from parley.channels.charter import charter_from_toml
    from parley.channels.setup import do_accept_channel, do_propose_channel
    from parley.directory.desks import do_add_desk
    from parley.directory.peers import do_add_peer
    from parley.node import init_home

    home = init_home(base / third_name, name=third_name, party="Finland", listen="127.0.0.1:1")
    third = Node.open(home)
    do_add_desk(third, "duty")
    do_add_peer(third, host.card().to_json())
    do_add_peer(host, third.card().to_json())
    charter = charter_from_toml(
        f"""
id = "{channel}"
members = ["{host.name}/duty", "{third_name}/duty"]
types = ["general"]
languages = ["en"]
[name]
en = "Another channel"
[basis]
agreement = "Test agreement"
date = 2020-01-01
"""
    )
    proposal = do_propose_channel(host, charter, third_name)
    countersigned, _ = do_accept_channel(third, proposal.to_json())
    do_accept_channel(host, countersigned.to_json())
    return third


def quick_pair(
    base: Path,
    *,
    db_urls: tuple[str | None, str | None] = (None, None),
    config: dict[str, dict[str, Any]] | None = None,
    interval: float = 3600,
    flash: int = 300,
    tick: float = 0.2,
) -> tuple[NodeProcess, NodeProcess]:
    """The harness's ``make_pair``, with these tests' defaults (link tests hourly)."""
    from parley.devnet.nodes import make_pair

    return make_pair(base, db_urls=db_urls, config=config, interval=interval, flash=flash, tick=tick)
