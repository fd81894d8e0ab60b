"""Link tests and link state: a signed round trip per channel and peer, and what it means.

The initiator signs a request, the responder signs a reply naming the request's hash, and
the initiator measures the round trip. Both keep the signed pair; the initiator reports the
measured round-trip time inside its next request, so the responder's history holds the same
figures (docs/protocol.md §11.6 Link tests).

The link state of a channel and peer follows the evidence (docs/watch.md §Link and record
state, where the thresholds and their reasons are spelled out):

* evidence that the link works (a *success*): a link test whose signed reply verified;
  a batch of envelopes the peer answered with receipts that verified; a batch of
  envelopes from the peer that verified and was stored; a completed checkpoint exchange.
  Traffic proves the transport to the peer, which every channel with that peer shares,
  so it counts for each of them;
* evidence that it does not (a *failure*): a link test that got no valid signed reply.
  A failed delivery is not one itself; the first after a success makes the next test due
  at once (:func:`bring_test_forward_txn`), and the signed test decides;
* UP        the latest evidence is a success and the latest measured round trip was
            under ``degraded_rtt_ms``;
* DEGRADED  the latest link test was slower than that (until a faster one), or 1 to
            ``down_after_failures - 1`` link tests in a row failed since the last success;
* DOWN      ``down_after_failures`` link tests in a row failed with no success between —
            raises a ``link_down`` alarm, cleared by the next success.

Evidence lasts until the next link test: due ``link_test_interval_s`` after a success,
and after a failure sooner (``RETRY_S`` doubled per failure, never later than the
interval), so a dead link is DOWN within about ``RETRY_S · (2^(n-1) - 1)`` seconds of
its first failed test, however long the charter's interval.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, or_, select, update

from parley.channels.registry import get_channel_txn, list_channels_txn
from parley.clock import format_time
from parley.config import LinkTestSection
from parley.errors import ForbiddenError, ParleyError, VerificationError
from parley.federation.models import LinktestBody, check_body
from parley.formats.texts import T, Text
from parley.node import Node
from parley.protocol import signing
from parley.protocol.canonical import canonical_bytes, content_hash
from parley.storage.alarms import raise_alarm_txn
from parley.storage.tables import alarms, link_state, link_tests

UP, DEGRADED, DOWN = "UP", "DEGRADED", "DOWN"
RETRY_S = 5.0  # the first retry after a failed test; doubled per failure, capped at the interval


def next_test_in(ok: bool, failures: int, interval_s: float) -> float:
    """Seconds until the next test: the charter's interval, or sooner after a failure.

    With an hourly interval a single failed test would otherwise leave the link DEGRADED
    for an hour and a dead one undetected for three."""
    if ok or failures <= 0:
        return interval_s
    return min(interval_s, RETRY_S * float(2 ** min(failures - 1, 20)))


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
    """Responder side: check, store, and sign the reply.

    The shape and bounds come first (models.LinktestBody: exact keys, text fields of
    bounded length, ``previous`` null or ``{id, rtt_ms}``), so nothing below meets a list
    where it expects text. The signature is then verified over ``payload`` as it came.
    """
    request = check_body(LinktestBody, payload).linktest
    data = payload["linktest"]
    if request.initiator != origin or request.responder != node.name:
        raise VerificationError("linktest", T("link test names the wrong nodes"), code="wrong_sender")
    public = node.key_for(origin)
    if (
        public is None
        or not isinstance(payload["signature"], str)
        or not signing.verify("linktest", data, payload["signature"], public)
    ):
        raise VerificationError("linktest", T("link-test signature does not verify"))
    now = node.clock.now()
    reply = {
        "kind": "linktest-reply",
        "id": request.id,
        "channel": request.channel,
        "responder": node.name,
        "received_at": format_time(now),
        "request_hash": content_hash(data),
    }
    signed_reply = {"reply": reply, "signature": signing.sign("linktest", reply, node.key)}
    with node.engine.begin() as conn:
        ch = get_channel_txn(conn, request.channel)
        if origin not in ch.charter.member_nodes:
            raise ForbiddenError(
                T("{origin} is not a member of {ch_id}", origin=origin, ch_id=ch.id), code="not_a_member"
            )
        prev = request.previous
        if prev is not None:
            conn.execute(
                update(link_tests)
                .where(link_tests.c.id == prev.id, link_tests.c.initiator == origin)
                .values(rtt_ms=None if prev.rtt_ms is None else float(prev.rtt_ms))
            )
        if conn.execute(select(link_tests.c.id).where(link_tests.c.id == request.id)).first() is None:
            conn.execute(
                insert(link_tests).values(
                    id=request.id,
                    channel=request.channel,
                    peer=origin,
                    initiator=origin,
                    sent_at=request.sent_at,
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
    error: str | Text | None,
    interval_s: float,
) -> LinkResult:
    """Store one link test's outcome, move the link's state, raise or clear its alarm.

    ``error`` may be a Text (a refusal's words): the alarm then reads it in each language.
    """
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
                error=None if error is None else str(error),
                raw=canonical_bytes({"request": request, "reply": reply}) if ok else None,
            )
        )
        values = {
            "state": state,
            "last_rtt_ms": rtt_ms if ok else (None if row is None else row.last_rtt_ms),
            "consecutive_failures": failures,
            "next_test_at": now + timedelta(seconds=next_test_in(ok, failures, interval_s)),
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
    return LinkResult(channel, peer, ok, rtt_ms, state, None if error is None else str(error))


def _alarm_txn(
    conn: Connection,
    channel: str,
    peer: str,
    old: str | None,
    new: str,
    now: datetime,
    error: str | Text | None,
) -> None:
    subject = f"{channel}/{peer}"
    if new == DOWN and old != DOWN:
        if error:
            raise_alarm_txn(conn, "link_down.error", subject, now, peer=peer, channel=channel, error=error)
        else:
            raise_alarm_txn(conn, "link_down", subject, now, peer=peer, channel=channel)
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
        reply, rtt_ms, ok, error = None, None, False, exc.text
    return await asyncio.to_thread(
        record_result, node, channel, peer, request, reply, ok, rtt_ms, error, interval_s
    )


def _check_reply(node: Node, peer: str, request: dict[str, Any], reply: Any) -> None:
    if not isinstance(reply, dict) or sorted(reply) != ["reply", "signature"]:
        raise VerificationError("linktest", T("malformed link-test reply"))
    data = reply["reply"]
    public = node.key_for(peer)
    if (
        public is None
        or not isinstance(data, dict)
        or data.get("request_hash") != content_hash(request["linktest"])
        or data.get("responder") != peer
        or not signing.verify("linktest", data, str(reply["signature"]), public)
    ):
        raise VerificationError("linktest", T("{peer}'s link-test reply does not verify", peer=peer))


# -- traffic as evidence ------------------------------------------------------------------


def state_after_success(last_rtt_ms: float | None, cfg: LinkTestSection) -> str:
    """The state a success without a measured round trip leaves: UP unless the last test was slow."""
    return DEGRADED if last_rtt_ms is not None and last_rtt_ms >= cfg.degraded_rtt_ms else UP


def note_traffic(node: Node, peer: str) -> list[tuple[str, str]]:
    """A delivery, a receipt or an exchange went through with ``peer``: a success for
    every channel with it. Returns the (channel, state) pairs that changed.

    Reads first and writes only when a row changes, so steady traffic over a healthy
    link costs one indexed read per batch and no write."""
    cfg = node.config.link_test
    with node.reader.connect() as conn:
        rows = conn.execute(select(link_state).where(link_state.c.peer == peer)).all()
    stale = [r for r in rows if r.consecutive_failures or r.state != state_after_success(r.last_rtt_ms, cfg)]
    if not stale:
        return []
    now = node.clock.now()
    changed = []
    with node.engine.begin() as conn:
        for r in stale:
            # Re-read under the write: a link test may have recorded meanwhile.
            row = conn.execute(
                select(link_state).where(link_state.c.channel == r.channel, link_state.c.peer == peer)
            ).first()
            if row is None:
                continue
            state = state_after_success(row.last_rtt_ms, cfg)
            if not row.consecutive_failures and row.state == state:
                continue
            values: dict[str, Any] = {"state": state, "consecutive_failures": 0}
            if state != row.state:
                values["since"] = now
                changed.append((str(row.channel), state))
            conn.execute(
                update(link_state)
                .where(link_state.c.channel == row.channel, link_state.c.peer == peer)
                .values(**values)
            )
            _alarm_txn(conn, str(row.channel), peer, row.state, state, now, None)
    return changed


def bring_test_forward_txn(conn: Connection, peer: str, now: datetime) -> None:
    """Bring every channel's next link test with ``peer`` forward to ``now``: a delivery
    just failed, and the state should say so within seconds, not at the next hourly test.
    A failed delivery is not itself a failure of the link; the signed test decides."""
    update_stmt = (
        update(link_state)
        .where(
            link_state.c.peer == peer,
            or_(link_state.c.next_test_at.is_(None), link_state.c.next_test_at > now),
        )
        .values(next_test_at=now)
    )
    conn.execute(update_stmt)


class TrafficEvidence:
    """Turns deliveries and receipts into link evidence without a write per batch.

    At most one check per peer every ``every_s`` seconds; a failed link test calls
    :meth:`forget` so the next traffic after it is counted at once. Checks run in worker
    threads; their tasks are kept here until done (and cancelled by :meth:`close`)."""

    def __init__(self, service: Any, every_s: float = 1.0) -> None:
        self.service = service
        self.every_s = every_s
        self._checked_at: dict[str, float] = {}
        self._tasks: set[Any] = set()

    def seen(self, peer: str) -> None:
        import asyncio

        now = self.service.node.clock.monotonic()
        last = self._checked_at.get(peer)
        if last is not None and now - last < self.every_s:
            return
        self._checked_at[peer] = now
        task = asyncio.ensure_future(self._check(peer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def forget(self, peer: str) -> None:
        self._checked_at.pop(peer, None)

    async def _check(self, peer: str) -> None:
        import logging

        try:
            for channel, state in await self.service.db(note_traffic, self.service.node, peer):
                self.service.publish({"event": "link", "channel": channel, "peer": peer, "state": state})
        except Exception as exc:  # evidence is best effort; the next batch or test tries again
            self.forget(peer)
            logging.getLogger("parley.linktest").warning("link evidence for %s not kept: %s", peer, exc)

    def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()


def links_not_up(node: Node) -> list[dict[str, Any]]:
    """Every tested channel and peer whose link is not UP (never tested counts: UNKNOWN)."""
    out = []
    with node.reader.connect() as conn:
        links = {(r.channel, r.peer): r.state for r in conn.execute(select(link_state))}
        for ch in list_channels_txn(conn):
            if ch.status in ("planned", "closed") or node.name not in ch.charter.member_nodes:
                continue
            for peer in ch.charter.member_nodes:
                state = links.get((ch.id, peer), "UNKNOWN")
                if peer != node.name and state != UP:
                    out.append({"channel": ch.id, "peer": peer, "link": state})
    return out
