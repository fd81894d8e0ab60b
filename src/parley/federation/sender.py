"""One sending loop per peer: read the outbox, post a batch, store the receipts, repeat.

The loop holds a lease on the peer's ``peer_links`` row, claimed with
``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL, so when several ``serve`` processes share
one database exactly one of them sends to a given peer at a time. A failure to reach the
peer counts towards the backoff kept in the same row; a refusal (4xx) is recorded as the
peer's last error and retried at the backoff ceiling, since sending the same bytes again
immediately would be refused again.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update

from parley.errors import ParleyError
from parley.federation.backoff import next_attempt
from parley.federation.client import PeerClient, PeerRefused
from parley.federation.linktest import bring_test_forward_txn
from parley.federation.outbox import channels_with_txn, next_batch_txn
from parley.messaging.receipts import accept_checked, parse_peer_receipts
from parley.node import Node
from parley.protocol.envelope import SignedEnvelope
from parley.protocol.receipt import Receipt
from parley.storage.tables import peer_links

log = logging.getLogger("parley.sender")
LEASE_S = 30.0
HOT_MAX = 20_000  # envelopes held for the fast path before falling back to the query


@dataclass
class SendOutcome:
    sent: int = 0
    receipted: int = 0
    error: str | None = None
    refused: bool = False


@dataclass
class PeerSender:
    node: Node
    client: PeerClient
    owner: str
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    resend_from: dict[str, int] = field(default_factory=dict)
    on_receipts: Any = None
    # Where receipts are stored: the node's group committer when serving, so they share
    # the next send's commit; a transaction of their own when None.
    store_receipts: Any = None
    # True while nothing may be sent (the node recovers its own chains, parley.continuity.recovery).
    hold: Any = None
    _healthy: bool = False
    ticked: float = 0.0  # monotonic time the loop last began a round (read by /readyz)
    _lease_until: float = 0.0  # monotonic time until which our lease is surely valid
    # The fast path (see ``offer``): envelopes this process just committed, and per channel
    # the next seq the peer is known to expect (learned from its last receipt).
    _hot: list[SignedEnvelope] = field(default_factory=list)
    _next_seq: dict[str, int] = field(default_factory=dict)
    _query_due: bool = False
    _shared: set[str] | None = None  # channels shared with the peer, once the query said

    @property
    def peer(self) -> str:
        return self.client.peer

    @property
    def batch_limit(self) -> int:
        return self.node.config.federation.batch_size

    # --- database steps (run in a worker thread) ---------------------------------------
    def claim(self) -> bool:
        """Take or renew the lease on this peer; False if another process holds it."""
        now = self.node.clock.now()
        links = peer_links
        with self.node.engine.begin() as conn:
            q = select(links.c.peer, links.c.next_attempt_at).where(
                links.c.peer == self.peer,
                or_(
                    links.c.lease_owner.is_(None),
                    links.c.lease_owner == self.owner,
                    links.c.lease_until < now,
                ),
            )
            if conn.dialect.name == "postgresql":
                q = q.with_for_update(skip_locked=True)
            row = conn.execute(q).first()
            if row is None:
                return False
            conn.execute(
                update(links)
                .where(links.c.peer == self.peer)
                .values(lease_owner=self.owner, lease_until=now + timedelta(seconds=LEASE_S))
            )
        return True

    def release(self) -> None:
        with self.node.engine.begin() as conn:
            conn.execute(
                update(peer_links)
                .where(peer_links.c.peer == self.peer, peer_links.c.lease_owner == self.owner)
                .values(lease_owner=None, lease_until=None)
            )

    def seconds_until_allowed(self) -> float:
        with self.node.reader.connect() as conn:
            when = conn.execute(
                select(peer_links.c.next_attempt_at).where(peer_links.c.peer == self.peer)
            ).scalar()
        if when is None:
            return 0.0
        if when.tzinfo is None:  # SQLite hands back naive datetimes; they were stored as UTC
            from datetime import UTC

            when = when.replace(tzinfo=UTC)
        return max(0.0, float((when - self.node.clock.now()).total_seconds()))

    def load_batch(self) -> list[dict[str, Any]]:
        with self.node.reader.connect() as conn:
            self._shared = set(channels_with_txn(conn, self.node.name, self.peer))
            return next_batch_txn(
                conn, self.node.name, self.peer, self.node.config.federation.batch_size, self.resend_from
            )

    def record_success(self) -> None:
        with self.node.engine.begin() as conn:
            conn.execute(
                update(peer_links)
                .where(peer_links.c.peer == self.peer)
                .values(
                    failures=0, next_attempt_at=None, last_error=None, last_success_at=self.node.clock.now()
                )
            )

    def record_failure(self, error: str, *, refused: bool) -> None:
        cfg = self.node.config.federation
        with self.node.engine.begin() as conn:
            failures = (
                int(
                    conn.execute(select(peer_links.c.failures).where(peer_links.c.peer == self.peer)).scalar()
                    or 0
                )
                + 1
            )
            ceiling_failures = 64 if refused else failures
            if failures == 1 and not refused:
                # The first failure after a success: let the link test confirm it now.
                bring_test_forward_txn(conn, self.peer, self.node.clock.now())
            conn.execute(
                update(peer_links)
                .where(peer_links.c.peer == self.peer)
                .values(
                    failures=failures,
                    last_error=error[:1000],
                    next_attempt_at=next_attempt(
                        self.node.clock.now(), ceiling_failures, cfg.backoff_initial_s, cfg.backoff_max_s
                    ),
                )
            )

    # --- the fast path -----------------------------------------------------------------
    def offer(self, envs: list[SignedEnvelope]) -> None:
        """Envelopes this process has just committed, handed over in memory.

        The outbox query stays the truth: these are sent without reading them back only
        while they continue exactly where the peer's last receipt left off; anything else
        (another process sent too, a restart, an error) falls back to the query."""
        if self._shared is not None:
            envs = [e for e in envs if e.channel in self._shared]
        if len(self._hot) + len(envs) > HOT_MAX:
            self._hot.clear()  # far behind: the query is the better tool anyway
            self._query_due = True
            return
        self._hot.extend(envs)

    def take_hot(self) -> list[dict[str, Any]] | None:
        """The next batch from memory, or None when there is none there.

        An envelope of a channel this loop has not synchronised yet, or one past a gap (a
        message another process stored), is left to the outbox query, which carries
        everything unreceipted in order: ``_query_due`` asks for that next round."""
        expected = dict(self._next_seq)
        batch: list[dict[str, Any]] = []
        limit = self.batch_limit
        rest: list[SignedEnvelope] = []
        for i, env in enumerate(self._hot):
            if len(batch) >= limit:
                rest = self._hot[i:]
                break
            nxt = expected.get(env.channel)
            if nxt is None or env.seq > nxt:
                self._query_due = True
            elif env.seq == nxt:
                batch.append(env.to_wire())
                expected[env.channel] = nxt + 1
        self._hot = rest
        return batch or None

    def _learn(self, accepted: list[Any]) -> None:
        for r in accepted:
            if r.upto_seq + 1 > self._next_seq.get(r.channel, 0):
                self._next_seq[r.channel] = r.upto_seq + 1

    def _forget(self) -> None:
        self._hot.clear()
        self._next_seq.clear()

    def covering_sent(self, batch: list[dict[str, Any]], receipts: list[Receipt]) -> list[Receipt]:
        """The receipts that name the hash of an envelope in ``batch``: the hash check
        ``accept_receipts`` makes against storage, made against what was just sent."""
        sent = {(w["envelope"]["channel"], w["envelope"]["seq"]): w["hash"] for w in batch}
        return [r for r in receipts if sent.get((r.channel, r.upto_seq)) == r.upto_hash]

    # --- one round ---------------------------------------------------------------------
    async def run_once(self) -> SendOutcome:
        """Send one batch if any is due; never raises for peer trouble (it is recorded)."""
        outcome = SendOutcome()
        if self.hold is not None and self.hold():
            return outcome
        batch = None
        if self._healthy and not self.resend_from and not self._query_due:
            batch = self.take_hot()
        if batch is None:
            self._query_due = False
            batch = await asyncio.to_thread(self.load_batch)
        if not batch:
            return outcome
        try:
            answer = await self.client.call("POST", "/envelopes", {"envelopes": batch})
            outcome.sent = len(batch)
            raws = answer.get("receipts", []) if isinstance(answer, dict) else []
            receipts = parse_peer_receipts(self.node, self.peer, raws)
            if self.on_receipts is not None:
                # Whoever waits for the receipt hears of it once it names what was just
                # sent; storing it follows at once. Were this process to die in between,
                # the envelope would be sent and receipted again: nothing is lost.
                held = self.covering_sent(batch, receipts)
                if held:
                    self.on_receipts(self.peer, held, stored=False)
            if self.store_receipts is not None:
                accepted = await self.store_receipts(receipts)
            else:
                accepted = await asyncio.to_thread(accept_checked, self.node, receipts)
            outcome.receipted = sum(1 for _ in accepted)
            self._learn(accepted)
            self.resend_from.clear()
            if self.on_receipts is not None:
                self.on_receipts(self.peer, accepted)
            if not self._healthy:
                # One write when the link recovers, not one per batch.
                await asyncio.to_thread(self.record_success)
                self._healthy = True
        except PeerRefused as exc:
            details = exc.body.get("details", {}) if isinstance(exc.body, dict) else {}
            if exc.code == "sequence_gap" and isinstance(details, dict) and "expected_seq" in details:
                # The peer lost envelopes it had receipted (restored from a backup, say):
                # resend from where it says it is; its own fetch may get there first.
                self.resend_from[str(details.get("channel"))] = int(details["expected_seq"])
            outcome.error, outcome.refused = exc.message, True
            self._healthy = False
            self._forget()
            log.warning("%s refused a batch: %s", self.peer, exc.message)
            # A peer that does not know this node's new key yet learns it from the control
            # loop in a moment (§13): retried on the ordinary backoff, not the ceiling.
            retry_soon = exc.code in ("sequence_gap", "bad_request_signature", "key_update_pending")
            await asyncio.to_thread(self.record_failure, exc.message, refused=not retry_soon)
        except ParleyError as exc:
            outcome.error = exc.message
            self._healthy = False
            self._forget()
            await asyncio.to_thread(self.record_failure, exc.message, refused=False)
        return outcome

    async def run(self, stop: asyncio.Event, poll_s: float = 1.0) -> None:
        """Loop until ``stop``: wake on new mail, on ``poll_s`` (other processes), or backoff."""
        while not stop.is_set():
            self.ticked = self.node.clock.monotonic()
            try:
                if self.node.clock.monotonic() >= self._lease_until:
                    # Renew well before the lease runs out, not on every round.
                    if not await asyncio.to_thread(self.claim):
                        await _wait(self.wake, stop, LEASE_S / 3)
                        continue
                    self._lease_until = self.node.clock.monotonic() + LEASE_S / 3
                wait = 0.0 if self._healthy else await asyncio.to_thread(self.seconds_until_allowed)
                if wait > 0:
                    # Backing off: new mail does not shorten the wait, only stop does.
                    await _wait(stop, stop, min(wait, poll_s * 5), clear=False)
                    continue
                self.wake.clear()
                outcome = await self.run_once()
                if (
                    outcome.sent
                    and not outcome.error
                    and (
                        self.wake.is_set() or self._hot or self._query_due or outcome.sent >= self.batch_limit
                    )
                ):
                    continue  # there is, or may be, more: go again at once
                if not outcome.error:
                    await _wait(self.wake, stop, poll_s)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug or a database outage: log it, keep the loop alive
                log.exception("sending loop for %s failed; retrying", self.peer)
                await _wait(self.wake, stop, poll_s)
        await asyncio.to_thread(self.release)


async def _wait(event: asyncio.Event, stop: asyncio.Event, timeout: float, clear: bool = True) -> None:
    waiters = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(stop.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
    if clear:
        event.clear()
