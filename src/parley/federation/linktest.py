"""Link tests: a signed round trip per channel and peer, on the charter's schedule.

The initiator signs a request, the responder signs a reply naming the request's hash, and
the initiator measures the round trip. Both keep the signed pair; the initiator reports the
measured round-trip time inside its next request, so the responder's history holds the same
figures (docs/protocol.md §Link tests). The link state follows the results:

* UP        the last test succeeded within the degraded threshold;
* DEGRADED  the last test was slow, or failed fewer than ``down_after_failures`` times in a row;
* DOWN      ``down_after_failures`` consecutive failures — raises an alarm, cleared on recovery.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from parley.channels.registry import get_channel_txn, list_channels_txn
from parley.clock import format_time
from parley.config import LinkTestSection
from parley.errors import ForbiddenError, ParleyError, VerificationError
from parley.node import Node
from parley.protocol import signing
from parley.protocol.canonical import canonical_bytes, content_hash
from parley.storage.tables import alarms, link_state, link_tests

UP, DEGRADED, DOWN = "UP", "DEGRADED", "DOWN"


def evaluate(ok: bool, rtt_ms: float | None, failures: int, cfg: LinkTestSection) -> tuple[str, int]:
    """The new (state, consecutive failures) after one test."""
    if ok:
        assert rtt_ms is not None
        return (UP if rtt_ms < cfg.degraded_rtt_ms else DEGRADED), 0
    failures += 1
    return (DOWN if failures >= cfg.down_after_failures else DEGRADED), failures


def make_request(node: Node, channel: str, peer: str, previous: dict[str, Any] | None) -> dict[str, Any]:
    data = {
        "kind": "linktest-request",
        "id": str(uuid.uuid4()),
        "channel": channel,
        "initiator": node.name,
        "responder": peer,
        "sent_at": format_time(node.clock.now()),
        "previous": previous,
    }
    return {"linktest": data, "signature": signing.sign("linktest", data, node.key)}


def answer_link_test(node: Node, origin: str, payload: Any) -> dict[str, Any]:
    """Responder side: check, store, and sign the reply."""
    if not isinstance(payload, dict) or sorted(payload) != ["linktest", "signature"]:
        raise VerificationError("linktest", "not a link-test request", code="malformed_request")
    data = payload["linktest"]
    keys = ["channel", "id", "initiator", "kind", "previous", "responder", "sent_at"]
    if not isinstance(data, dict) or sorted(data) != keys or data["kind"] != "linktest-request":
        raise VerificationError("linktest", "link-test request fields are wrong", code="malformed_request")
    if data["initiator"] != origin or data["responder"] != node.name:
        raise VerificationError("linktest", "link test names the wrong nodes", code="wrong_sender")
    public = node.key_for(origin)
    if (
        public is None
        or not isinstance(payload["signature"], str)
        or not signing.verify("linktest", data, payload["signature"], public)
    ):
        raise VerificationError("linktest", "link-test signature does not verify")
    now = node.clock.now()
    reply = {
        "kind": "linktest-reply",
        "id": data["id"],
        "channel": data["channel"],
        "responder": node.name,
        "received_at": format_time(now),
        "request_hash": content_hash(data),
    }
    signed_reply = {"reply": reply, "signature": signing.sign("linktest", reply, node.key)}
    with node.engine.begin() as conn:
        ch = get_channel_txn(conn, str(data["channel"]))
        if origin not in ch.charter.member_nodes:
            raise ForbiddenError(f"{origin} is not a member of {ch.id}", code="not_a_member")
        prev = data["previous"]
        if isinstance(prev, dict) and isinstance(prev.get("id"), str):
            rtt = prev.get("rtt_ms")
            conn.execute(
                update(link_tests)
                .where(link_tests.c.id == prev["id"], link_tests.c.initiator == origin)
                .values(rtt_ms=float(rtt) if isinstance(rtt, (int, float)) else None)
            )
        if conn.execute(select(link_tests.c.id).where(link_tests.c.id == data["id"])).first() is None:
            conn.execute(
                insert(link_tests).values(
                    id=data["id"],
                    channel=data["channel"],
                    peer=origin,
                    initiator=origin,
                    sent_at=data["sent_at"],
                    rtt_ms=None,
                    ok=True,
                    error=None,
                    raw=canonical_bytes({"request": payload, "reply": signed_reply}),
                )
            )
    return signed_reply


@dataclass
class LinkResult:
    channel: str
    peer: str
    ok: bool
    rtt_ms: float | None
    state: str
    error: str | None = None


def due_tests(node: Node) -> list[tuple[str, str, float]]:
    """(channel, peer, interval_s) pairs whose next test time has come."""
    now = node.clock.now()
    out = []
    with node.reader.connect() as conn:
        for ch in list_channels_txn(conn):
            if ch.status in ("planned", "closed") or node.name not in ch.charter.member_nodes:
                continue
            for peer in ch.charter.member_nodes:
                if peer == node.name:
                    continue
                row = conn.execute(
                    select(link_state.c.next_test_at).where(
                        link_state.c.channel == ch.id, link_state.c.peer == peer
                    )
                ).first()
                when = None if row is None else _aware(row.next_test_at)
                if when is None or when <= now:
                    out.append((ch.id, peer, ch.charter.link_test_interval_s))
    return out


def _aware(dt: datetime | None) -> datetime | None:
    from datetime import UTC

    if dt is not None and dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt


def last_completed(node: Node, channel: str, peer: str) -> dict[str, Any] | None:
    with node.reader.connect() as conn:
        row = conn.execute(
            select(link_tests.c.id, link_tests.c.rtt_ms)
            # Only a test that came back has a round trip to report; after an outage the
            # last success must still reach the responder's copy of the history.
            .where(
                link_tests.c.channel == channel,
                link_tests.c.peer == peer,
                link_tests.c.initiator == node.name,
                link_tests.c.ok.is_(True),
            )
            .order_by(link_tests.c.sent_at.desc())
            .limit(1)
        ).first()
    return None if row is None else {"id": row.id, "rtt_ms": row.rtt_ms}


def record_result(
    node: Node,
    channel: str,
    peer: str,
    request: dict[str, Any],
    reply: Any,
    ok: bool,
    rtt_ms: float | None,
    error: str | None,
    interval_s: float,
) -> LinkResult:
    now = node.clock.now()
    cfg = node.config.link_test
    with node.engine.begin() as conn:
        row = conn.execute(
            select(link_state).where(link_state.c.channel == channel, link_state.c.peer == peer)
        ).first()
        failures = 0 if row is None else int(row.consecutive_failures)
        old_state = None if row is None else row.state
        state, failures = evaluate(ok, rtt_ms, failures, cfg)
        conn.execute(
            insert(link_tests).values(
                id=request["linktest"]["id"],
                channel=channel,
                peer=peer,
                initiator=node.name,
                sent_at=request["linktest"]["sent_at"],
                rtt_ms=rtt_ms,
                ok=ok,
                error=error,
                raw=canonical_bytes({"request": request, "reply": reply}) if ok else None,
            )
        )
        values = {
            "state": state,
            "last_rtt_ms": rtt_ms if ok else (None if row is None else row.last_rtt_ms),
            "consecutive_failures": failures,
            "next_test_at": now + timedelta(seconds=interval_s),
        }
        if row is None:
            conn.execute(insert(link_state).values(channel=channel, peer=peer, since=now, **values))
        else:
            if state != old_state:
                values["since"] = now
            conn.execute(
                update(link_state)
                .where(link_state.c.channel == channel, link_state.c.peer == peer)
                .values(**values)
            )
        _alarm_txn(conn, channel, peer, old_state, state, now, error)
    return LinkResult(channel, peer, ok, rtt_ms, state, error)


def _alarm_txn(
    conn: Connection, channel: str, peer: str, old: str | None, new: str, now: datetime, error: str | None
) -> None:
    subject = f"{channel}/{peer}"
    if new == DOWN and old != DOWN:
        conn.execute(
            insert(alarms).values(
                kind="link_down",
                subject=subject,
                severity="critical",
                message=f"link to {peer} on {channel} is DOWN: {error or 'no answer'}",
                raised_at=now,
            )
        )
    elif new != DOWN and old == DOWN:
        conn.execute(
            update(alarms)
            .where(alarms.c.kind == "link_down", alarms.c.subject == subject, alarms.c.cleared_at.is_(None))
            .values(cleared_at=now)
        )


async def run_link_test(service: Any, channel: str, peer: str, interval_s: float) -> LinkResult:
    import asyncio

    node: Node = service.node
    previous = await asyncio.to_thread(last_completed, node, channel, peer)
    request = make_request(node, channel, peer, previous)
    start = node.clock.monotonic()
    try:
        reply = await service.client_for(peer).call("POST", "/linktest", request)
        rtt_ms = (node.clock.monotonic() - start) * 1000.0
        _check_reply(node, peer, request, reply)
        ok, error = True, None
    except ParleyError as exc:
        reply, rtt_ms, ok, error = None, None, False, exc.message
    return await asyncio.to_thread(
        record_result, node, channel, peer, request, reply, ok, rtt_ms, error, interval_s
    )


def _check_reply(node: Node, peer: str, request: dict[str, Any], reply: Any) -> None:
    if not isinstance(reply, dict) or sorted(reply) != ["reply", "signature"]:
        raise VerificationError("linktest", "malformed link-test reply")
    data = reply["reply"]
    public = node.key_for(peer)
    if (
        public is None
        or not isinstance(data, dict)
        or data.get("request_hash") != content_hash(request["linktest"])
        or data.get("responder") != peer
        or not signing.verify("linktest", data, str(reply["signature"]), public)
    ):
        raise VerificationError("linktest", f"{peer}'s link-test reply does not verify")
