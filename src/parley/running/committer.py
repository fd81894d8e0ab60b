"""The group committer: what a node process writes on the hot path shares one commit.

Operators' drafts (API and console sends) and the receipts the sending loops bring back are
queued here and written by one task, one transaction per round, so N drafts and M receipt
batches cost one durable commit (one fsync) instead of N + M, and never wait on each other
for SQLite's single writer. A refusal refuses only its own draft or receipt batch (see
``_commit_round``).

A receipt batch that arrives while no draft is queued waits up to ``linger_s`` for one to
share the commit with (compare PostgreSQL's ``commit_delay``): on a busy line the next
message's commit carries the previous message's receipt. The receipt was verified in
memory before it was queued (``PeerSender.covering_sent``) and whoever waited for it
has been told; were the process to die within the linger, the envelope would be sent and
receipted again, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from parley.errors import NotFoundError, ParleyError
from parley.node import Node
from parley.protocol.envelope import SignedEnvelope
from parley.protocol.receipt import Receipt

MAX_GROUP = 500  # drafts per commit
RECEIPT_LINGER_S = 0.005

Db = Callable[..., Awaitable[Any]]


@dataclass
class _Draft:
    draft: Any
    lang: str
    operator: Any
    wait: bool
    fut: asyncio.Future[tuple[SignedEnvelope, Any]]


@dataclass
class _Receipts:
    receipts: list[Receipt]
    fut: asyncio.Future[list[Receipt]]


@dataclass
class Committer:
    node: Node
    db: Db
    # Called on the event loop once a round is durable, with each envelope stored and, for
    # a draft that waits for receipts, the peers of its channel; returns for each what its
    # submitter gets back beside the envelope (the receipt futures).
    on_stored: Callable[[list[tuple[SignedEnvelope, list[str] | None]]], list[Any]]
    linger_s: float = RECEIPT_LINGER_S
    _drafts: list[_Draft] = field(default_factory=list)
    _receipts: list[_Receipts] = field(default_factory=list)
    _task: asyncio.Future[None] | None = None
    _draft_came: asyncio.Event = field(default_factory=asyncio.Event)

    async def submit(
        self, draft: Any, lang: str, operator: Any, *, wait: bool = False
    ) -> tuple[SignedEnvelope, Any]:
        """Store ``draft`` with the next round: the envelope, and what ``on_stored`` said."""
        fut: asyncio.Future[tuple[SignedEnvelope, Any]] = asyncio.get_running_loop().create_future()
        self._drafts.append(_Draft(draft, lang, operator, wait, fut))
        self._draft_came.set()
        self._kick()
        return await fut

    async def store_receipts(self, receipts: list[Receipt]) -> list[Receipt]:
        """Store checked receipts (``parse_peer_receipts``) with the next round; the new ones."""
        fut: asyncio.Future[list[Receipt]] = asyncio.get_running_loop().create_future()
        self._receipts.append(_Receipts(receipts, fut))
        self._kick()
        return await fut

    def _kick(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while self._drafts or self._receipts:
            if not self._drafts and self.linger_s > 0:
                self._draft_came.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._draft_came.wait(), self.linger_s)
            drafts, self._drafts = self._drafts[:MAX_GROUP], self._drafts[MAX_GROUP:]
            receipts, self._receipts = self._receipts, []
            try:
                sent, peers, accepted = await self.db(
                    _commit_round,
                    self.node,
                    [(d.draft, d.lang, d.operator) for d in drafts],
                    {d.draft.channel for d in drafts if d.wait},
                    [r.receipts for r in receipts],
                )
            except BaseException as exc:  # the commit itself failed: everyone hears it
                futs: list[asyncio.Future[Any]] = [d.fut for d in drafts] + [r.fut for r in receipts]
                for f in futs:
                    if not f.done():
                        f.set_exception(exc)
                continue
            for r, result in zip(receipts, accepted, strict=True):
                if r.fut.done():
                    continue
                if isinstance(result, BaseException):
                    r.fut.set_exception(result)
                else:
                    r.fut.set_result(result)
            stored: list[tuple[SignedEnvelope, list[str] | None]] = []
            done: list[_Draft] = []
            for d, result in zip(drafts, sent, strict=True):
                if isinstance(result, BaseException):
                    if not d.fut.done():
                        d.fut.set_exception(result)
                    continue
                stored.append((result, peers.get(result.channel, []) if d.wait else None))
                done.append(d)
            # ``on_stored`` registers receipt waiters before any submitter resumes or any
            # sending loop wakes, so no receipt can come back unnoticed.
            extras = self.on_stored(stored) if stored else []
            for d, (env, _), extra in zip(done, stored, extras, strict=True):
                if not d.fut.done():
                    d.fut.set_result((env, extra))


def _commit_round(
    node: Node,
    items: list[tuple[Any, str, Any]],
    waited_channels: set[str],
    receipts: list[list[Receipt]],
) -> tuple[list[SignedEnvelope | ParleyError], dict[str, list[str]], list[list[Receipt] | ParleyError]]:
    """One worker-thread hop, one transaction: receipts first (they only add what the peer
    already holds), then the drafts; and the peers of the channels someone waits on.

    Savepoints cost two statements each, so a round first runs without them (a draft its
    checks refuse wrote nothing); only if something is refused half-way through its writes
    does the round run again with every item on its own savepoint."""
    from parley.channels.registry import get_channel_txn

    alone = len(items) + len(receipts) == 1
    try:
        sent, accepted = _write_round(node, items, receipts, isolate=False)
    except ParleyError as exc:
        if alone:
            # Alone in the round: the refusal rolled back the whole (otherwise empty) transaction.
            sent, accepted = ([], [exc]) if receipts else ([exc], [])
        else:
            sent, accepted = _write_round(node, items, receipts, isolate=True)
    peers: dict[str, list[str]] = {}
    if waited_channels:
        with node.reader.connect() as conn:
            for channel in waited_channels:
                try:
                    members = get_channel_txn(conn, channel).charter.member_nodes
                except NotFoundError:
                    continue  # the send itself was refused for it
                peers[channel] = [n for n in members if n != node.name]
    return sent, peers, accepted


def _write_round(
    node: Node, items: list[tuple[Any, str, Any]], receipts: list[list[Receipt]], *, isolate: bool
) -> tuple[list[SignedEnvelope | ParleyError], list[list[Receipt] | ParleyError]]:
    from parley.messaging.receipts import accept_receipts_txn
    from parley.messaging.send import isolated_txn, send_group_txn
    from parley.record.journal import buffered

    accepted: list[list[Receipt] | ParleyError] = []
    with node.engine.begin() as conn, buffered(conn):
        for batch in receipts:
            if not isolate:
                accepted.append(accept_receipts_txn(node, conn, batch))
                continue

            def act(b: list[Receipt] = batch) -> list[Receipt]:
                return accept_receipts_txn(node, conn, b)

            accepted.append(isolated_txn(conn, act))
        sent = send_group_txn(node, conn, items, isolate=isolate) if items else []
    return sent, accepted
