"""When to exchange checkpoints: after traffic, debounced, and after every link test.

The exchange itself (C2SP tlog-witness style, RFC 9162 consistency proofs) is in
:mod:`parley.federation.witnessing`; docs/record.md §Witnessing and docs/watch.md §Link and
record state say what it guarantees. Each node makes sure its *own* log gets cosigned:
as the requester of an exchange it receives the peer's cosignature of its checkpoint in
the same round trip, whereas its cosignature of the peer's checkpoint reaches the peer
only on a later exchange. So each side asks for itself, and after traffic both do.

The schedule looks at the log's size on every tick of the service (an O(1) read) rather
than at events, so leaves appended by another process on the same database (``parley
ack`` on the command line, a second ``serve``) count too. An exchange with a peer is due
when

* this node's log is larger than the largest checkpoint the peer has cosigned, and
* the log has not grown for ``quiet_s`` seconds (the burst is over), or has had uncosigned
  entries for ``max_wait_s`` seconds (steady traffic still gets witnessed), and
* the last attempt with that peer is at least ``min_interval_s`` ago — doubled after each
  failed attempt, up to ``max_wait_s``, so a peer that is down is not hammered.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from parley.node import Node

if TYPE_CHECKING:
    from parley.federation.runtime import Runtime

log = logging.getLogger("parley.federation.witness_schedule")

QUIET_S = 2.0
MIN_INTERVAL_S = 5.0
MAX_WAIT_S = 60.0


@dataclass
class WitnessSchedule:
    """The debouncing decision, on a clock the caller supplies (monotonic seconds)."""

    quiet_s: float = QUIET_S
    min_interval_s: float = MIN_INTERVAL_S
    max_wait_s: float = MAX_WAIT_S
    _size: int | None = None
    _changed_at: float = 0.0
    _pending_since: dict[str, float] = field(default_factory=dict)
    _attempted_at: dict[str, float] = field(default_factory=dict)
    _failures: dict[str, int] = field(default_factory=dict)

    def observe(self, size: int, now: float) -> None:
        """The log's size as read at ``now``."""
        if size != self._size:
            self._size = size
            self._changed_at = now

    def due(self, peer: str, cosigned_size: int, now: float) -> bool:
        """Whether to exchange with ``peer`` now, given the size it last cosigned."""
        if self._size is None or self._size <= cosigned_size:
            self._pending_since.pop(peer, None)
            return False
        pending_since = self._pending_since.setdefault(peer, now)
        settled = now - self._changed_at >= self.quiet_s or now - pending_since >= self.max_wait_s
        if not settled:
            return False
        last = self._attempted_at.get(peer)
        if last is None:
            return True
        failures = self._failures.get(peer, 0)
        gap = min(self.max_wait_s, self.min_interval_s * float(2 ** min(failures, 20)))
        return now - last >= gap

    def attempted(self, peer: str, now: float, ok: bool) -> None:
        self._attempted_at[peer] = now
        self._failures[peer] = 0 if ok else self._failures.get(peer, 0) + 1


def witness_view(node: Node) -> tuple[int, dict[str, int], list[str]]:
    """This node's log size, the largest size each peer cosigned, and the peers to ask:
    every peer on a channel that is tested (neither planned nor closed)."""
    from parley.channels.registry import list_channels_txn
    from parley.record import log as record_log
    from parley.record.witness_tables import record_cosignatures

    with node.reader.connect() as conn:
        size = record_log.size(conn)
        cosigned = {
            str(r.cosigner): int(r.size)
            for r in conn.execute(
                select(
                    record_cosignatures.c.cosigner, func.max(record_cosignatures.c.size).label("size")
                ).group_by(record_cosignatures.c.cosigner)
            )
        }
        peers: set[str] = set()
        for ch in list_channels_txn(conn):
            if ch.status in ("planned", "closed") or node.name not in ch.charter.member_nodes:
                continue
            peers.update(m for m in ch.charter.member_nodes if m != node.name)
    return size, cosigned, sorted(peers)


class Witnessing:
    """The service's side: one exchange at a time per peer, and the loop after traffic."""

    def __init__(self, schedule: WitnessSchedule | None = None) -> None:
        self.schedule = schedule or WitnessSchedule()
        self._locks: dict[str, asyncio.Lock] = {}

    async def exchange(self, service: Runtime, peer: str) -> bool:
        """One checkpoint exchange with ``peer``: True when the peer cosigned this node's
        checkpoint. Never raises (failures are logged)."""
        from parley.federation.witnessing import exchange_checkpoints

        lock = self._locks.setdefault(peer, asyncio.Lock())
        async with lock:
            try:
                result = await exchange_checkpoints(service, peer)
            except Exception as exc:
                log.warning("checkpoint exchange with %s failed: %s", peer, exc)
                return False
        evidence = getattr(service, "evidence", None)
        if evidence is not None:
            evidence.seen(peer)
        return bool(result.cosigned_by_peer)

    async def run(self, service: Runtime) -> None:
        """Until the service stops: exchange with each peer when the schedule says so."""
        node = service.node
        while not service.stop.is_set():
            try:
                size, cosigned, peers = await service.db(witness_view, node)
                self.schedule.observe(size, node.clock.monotonic())
                for peer in peers:
                    if self.schedule.due(peer, cosigned.get(peer, 0), node.clock.monotonic()):
                        ok = await self.exchange(service, peer)
                        self.schedule.attempted(peer, node.clock.monotonic(), ok)
            except Exception:
                log.exception("witness schedule failed; retrying")
            await service._sleep(service.tick_s)
