"""A running node: the HTTP server's shared state and its background work.

``Service`` owns the node, the HTTP clients to peers, one sending loop per peer, the link
tester, the deadline watch and the gap fetches. ``parley serve`` runs it under uvicorn;
tests run it in real processes. Database work runs in worker threads so the event loop
keeps serving while a commit waits for the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from typing import Any, TypeVar

from parley.federation.client import PeerClient
from parley.federation.linktest import TrafficEvidence
from parley.federation.sender import PeerSender
from parley.federation.witness_schedule import Witnessing
from parley.node import Node
from parley.protocol.envelope import SignedEnvelope
from parley.running.committer import Committer
from parley.watch.paging import paging_loop

log = logging.getLogger("parley.service")
T = TypeVar("T")


class Service:
    def __init__(self, node: Node, *, tick_s: float = 1.0) -> None:
        from parley.watch.pagers import check_pager_config

        check_pager_config(node)  # a [pager] that cannot work is refused before serving
        self.node = node
        self.tick_s = tick_s
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self.stop = asyncio.Event()
        self.clients: dict[str, PeerClient] = {}
        self.senders: dict[str, PeerSender] = {}
        self.tasks: list[asyncio.Task[Any]] = []
        self.listeners: set[asyncio.Queue[dict[str, Any]]] = set()
        self._gap_tasks: set[asyncio.Task[Any]] = set()
        self.committer = Committer(node, self.db, self._on_stored)
        # (peer, channel) -> [(seq, future)] resolved when the peer's receipt covers seq.
        self._receipt_waiters: dict[tuple[str, str], list[tuple[int, asyncio.Future[None]]]] = {}
        # Traffic counts as link evidence; checkpoints are exchanged after it (docs/watch.md).
        self.evidence = TrafficEvidence(self)
        self.witnessing = Witnessing()
        # Loop name -> monotonic time of its last round, for /readyz (parley.api.health).
        self.beats: dict[str, float] = {}
        from parley.continuity.recovery import Recovery

        # Nothing is signed or sent while the node is behind its peers on its own chains.
        self.recovery = Recovery.for_node(node)
        self._recovery_task: asyncio.Task[None] | None = None
        # Loads tls/cert.pem and tls/key.pem into the live server context (set by `parley serve`).
        self.tls_reload: Callable[[], None] | None = None
        from parley.continuity.standby import Standby, check_poll

        # On a hot standby this process waits read-only until promotion (parley.continuity.standby).
        self.standby = Standby(check_poll(node.config.database.standby_poll_s))
        self._standby_task: asyncio.Task[None] | None = None

    async def submit(
        self, draft: Any, lang: str, operator: Any, *, wait_receipt: bool = False
    ) -> tuple[SignedEnvelope, list[asyncio.Future[None]]]:
        """Send a draft through the group committer: concurrent sends share one commit.

        With ``wait_receipt`` the answer also holds one future per peer of the channel,
        registered before the sending loop is woken, so no receipt can slip past it."""
        env, futures = await self.committer.submit(draft, lang, operator, wait=wait_receipt)
        return env, list(futures)

    def _on_stored(self, stored: list[tuple[SignedEnvelope, list[str] | None]]) -> list[Any]:
        futures = [self.wait_for_receipts(env, peers) if peers else [] for env, peers in stored]
        self.on_sent([env for env, _ in stored])
        return futures

    async def wait_receipted(
        self, env: SignedEnvelope, futures: list[asyncio.Future[None]], timeout: float
    ) -> bool:
        """True once every future is done; False after ``timeout`` seconds.

        Another ``serve`` process on the same database may hold the sending lease and
        receive the receipt instead of us: so the database is asked once per tick too."""
        deadline = asyncio.get_running_loop().time() + timeout
        pending = [f for f in futures if not f.done()]
        while pending:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return False
            await asyncio.wait(pending, timeout=min(left, max(self.tick_s, 0.1)))
            pending = [f for f in pending if not f.done()]
            if pending:
                for peer, upto in await self.db(_receipted_upto, self.node, env.channel):
                    self._resolve(peer, env.channel, upto)
                pending = [f for f in pending if not f.done()]
        return True

    async def db(self, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        return await asyncio.to_thread(fn, *args, **kw)

    # --- peers ---------------------------------------------------------------------------
    def client_for(self, peer: str) -> PeerClient:
        client = self.clients.get(peer)
        if client is None:
            from parley.directory.peers import get_peer
            from parley.directory.tls_rotation import pinned_pem

            p = get_peer(self.node, peer)
            # Every certificate pinned for the peer: two while it rotates (docs/protocol.md §13.7).
            pems = pinned_pem(self.node, peer)
            client = PeerClient(self.node, peer, p.url, pems, self.node.config.federation.request_timeout_s)
            self.clients[peer] = client
        return client

    async def repin(self, peer: str) -> None:
        """``peer``'s TLS pins changed: its client trusts the new set from its next connection."""
        client = self.clients.get(peer)
        if client is not None:
            from parley.directory.tls_rotation import pinned_pem

            client.repin(await self.db(pinned_pem, self.node, peer))

    def wake_senders(self) -> None:
        for s in self.senders.values():
            s.wake.set()

    def on_sent(self, envs: list[SignedEnvelope]) -> None:
        """Envelopes this process has committed: hand them to the sending loops and wake them."""
        for sender in self.senders.values():
            sender.offer(envs)
        self.wake_senders()
        for env in envs:
            self.publish({"event": "sent", "id": env.id, "channel": env.channel})

    def wait_for_receipts(self, env: SignedEnvelope, peers: list[str]) -> list[asyncio.Future[None]]:
        """Futures that complete when each of ``peers`` has receipted ``env``."""
        loop = asyncio.get_running_loop()
        futures = []
        for peer in peers:
            fut: asyncio.Future[None] = loop.create_future()
            self._receipt_waiters.setdefault((peer, env.channel), []).append((env.seq, fut))
            futures.append(fut)
        return futures

    def _resolve(self, peer: str, channel: str, upto: int) -> None:
        waiting = self._receipt_waiters.get((peer, channel))
        if not waiting:
            return
        keep = []
        for seq, fut in waiting:
            if seq <= upto:
                if not fut.done():
                    fut.set_result(None)
            elif not fut.done():
                keep.append((seq, fut))
        self._receipt_waiters[(peer, channel)] = keep

    def on_receipts(self, peer: str, receipts: list[Any], *, stored: bool = True) -> None:
        """Receipts from ``peer``: verified in memory (``stored=False``) or stored too."""
        for r in receipts:
            self._resolve(peer, r.channel, r.upto_seq)
        if stored:
            self.evidence.seen(peer)
        if receipts and stored:
            self.publish({"event": "receipted", "peer": peer})

    def on_received(self, envs: list[SignedEnvelope]) -> None:
        for sender in {env.sender_node for env in envs}:
            self.evidence.seen(sender)
        for env in envs:
            self.publish({"event": "received", "id": env.id, "channel": env.channel, "type": env.type})

    def publish(self, event: dict[str, Any]) -> None:
        for q in list(self.listeners):
            if q.qsize() < 1000:
                q.put_nowait(event)

    def schedule_gap_fetch(self, peer: str, channel: str, start: int, end: int) -> None:
        from parley.federation.handlers import fetch_gap

        async def run() -> None:
            try:
                n = await fetch_gap(self, peer, channel, start, end)
                log.info("fetched %d missing envelopes of %s on %s", n, peer, channel)
            except Exception as exc:
                log.warning("gap fetch from %s failed: %s", peer, exc)

        task = asyncio.ensure_future(run())
        self._gap_tasks.add(task)
        task.add_done_callback(self._gap_tasks.discard)

    # --- background work ---------------------------------------------------------------
    async def start(self) -> None:
        """Start the background work, or, on a standby database, wait for its promotion first."""
        from parley.continuity.standby import gate_wait

        self._standby_task = await gate_wait(self, self._start_work)

    async def _start_work(self) -> None:
        from parley.directory.peers import list_peers

        for peer in await self.db(list_peers, self.node):
            self._start_sender(peer.name)
        # Not among ``tasks``: it ends when done, which /readyz must not take for a failure.
        self._recovery_task = asyncio.ensure_future(self._recover())
        self.tasks.append(asyncio.ensure_future(self._control_loop()))
        self.tasks.append(asyncio.ensure_future(self._link_test_loop()))
        self.tasks.append(asyncio.ensure_future(self._deadline_loop()))
        self.tasks.append(asyncio.ensure_future(paging_loop(self)))  # parley.watch.paging
        from parley.watch.gaps import gap_loop

        self.tasks.append(asyncio.ensure_future(gap_loop(self)))  # rostered desks with nobody on watch
        self.tasks.append(asyncio.ensure_future(self.witnessing.run(self)))
        from parley.federation.tls_switch import tls_rotation_loop

        self.tasks.append(asyncio.ensure_future(tls_rotation_loop(self)))  # docs/protocol.md §13.7

    def _start_sender(self, peer: str) -> None:
        sender = PeerSender(
            self.node,
            self.client_for(peer),
            self.owner,
            on_receipts=self.on_receipts,
            store_receipts=self.committer.store_receipts,
            hold=lambda: self.recovery.holding,
        )
        self.senders[peer] = sender
        self.tasks.append(asyncio.ensure_future(sender.run(self.stop, poll_s=self.tick_s)))

    async def shutdown(self) -> None:
        self.stop.set()
        for t in self.tasks:
            try:
                await asyncio.wait_for(t, timeout=5)
            except (TimeoutError, asyncio.CancelledError):
                t.cancel()
            except Exception:
                log.exception("background task failed at shutdown")
        for t in list(self._gap_tasks):
            t.cancel()
        if self._recovery_task is not None:
            self._recovery_task.cancel()
        if self._standby_task is not None:
            self._standby_task.cancel()
        self.evidence.close()
        for c in self.clients.values():
            await c.close()
        self.node.close()

    async def _recover(self) -> None:
        """Check the peers' view of this node's chains, recovering first if it is behind."""
        try:
            await self.recovery.run(self)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("recovery failed; sends stay held until the next start")

    def beat(self, loop: str) -> None:
        """``loop`` begins a round (read by the readiness probe, parley.api.health)."""
        self.beats[loop] = self.node.clock.monotonic()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), timeout=seconds)

    async def _control_loop(self) -> None:
        """Deliver queued charters and status records; pick up peers added meanwhile."""
        from parley.directory.control_outbox import ROUTES, mark_delivered, pending_control
        from parley.directory.peers import list_peers
        from parley.federation.client import PeerRefused

        while not self.stop.is_set():
            self.beat("delivery")
            try:
                for peer in await self.db(list_peers, self.node):
                    if peer.name not in self.senders:
                        self._start_sender(peer.name)
                    for item_id, kind, payload in await self.db(pending_control, self.node, peer.name):
                        try:
                            await self.client_for(peer.name).call("POST", ROUTES[kind], payload)
                            await self.db(mark_delivered, self.node, item_id)
                        except PeerRefused as exc:
                            await self.db(mark_delivered, self.node, item_id, exc.message)
                            log.warning("%s refused %s: %s", peer.name, kind, exc.message)
                            break
                        except Exception as exc:
                            log.info("cannot deliver %s to %s yet: %s", kind, peer.name, exc)
                            break
            except Exception:
                log.exception("control loop failed; retrying")
            await self._sleep(self.tick_s)

    async def _link_test_loop(self) -> None:
        from parley.federation.linktest import due_tests, run_link_test

        while not self.stop.is_set():
            self.beat("link_tests")
            try:
                for channel, peer, interval in await self.db(due_tests, self.node):
                    result = await run_link_test(self, channel, peer, interval)
                    self.publish({"event": "link", "channel": channel, "peer": peer, "state": result.state})
                    if result.ok:
                        await self._exchange_checkpoints(peer)
                    else:
                        self.evidence.forget(peer)
            except Exception:
                log.exception("link test loop failed; retrying")
            await self._sleep(self.tick_s)

    async def _exchange_checkpoints(self, peer: str) -> None:
        """Witness each other's Merkle log after a link test (docs/record.md); never fatal."""
        await self.witnessing.exchange(self, peer)

    async def _deadline_loop(self) -> None:
        from parley.messaging.deadlines import DeadlineWatch

        watch = DeadlineWatch()
        while not self.stop.is_set():
            self.beat("deadlines")
            try:
                for item in await self.db(watch.tick, self.node):
                    self.publish({"event": "overdue", "id": item.message_id})
            except Exception:
                log.exception("deadline watch failed; retrying")
            await self._sleep(self.tick_s)


def _receipted_upto(node: Node, channel: str) -> list[tuple[str, int]]:
    from sqlalchemy import func, select

    from parley.storage.tables import receipts

    with node.reader.connect() as conn:
        rows = conn.execute(
            select(receipts.c.receiver_node, func.max(receipts.c.upto_seq))
            .where(receipts.c.channel == channel, receipts.c.sender_node == node.name)
            .group_by(receipts.c.receiver_node)
        ).all()
    return [(str(r[0]), int(r[1] or 0)) for r in rows]
