"""Recovery before sending: a node behind its peers on its own chains takes them back first.

After a restore from an older backup a node's record ends where the backup was taken, but
its peers hold what it signed and sent afterwards. Were it to go on sending, its next
envelopes would reuse those sequence numbers and the peers would refuse them as
``chain_fork`` (docs/protocol.md §11.5). So on start the node asks each peer, per shared
channel, what it holds of this node's chain (``GET /federation/v1/held``, docs/protocol.md
§11.10); when a peer holds more, the node is *recovering*: its sending loops send nothing
and new sends are refused, it fetches its missing envelopes with the peer's receipts
(``GET /federation/v1/returned``), checks every one — its own signature, the chain links,
the peer's signature on the receipt that names the claimed head, and the peer's cosigned
checkpoint of this node's log — stores them through the normal storage code, and only
then continues its chains.

A peer is trusted for nothing it cannot prove: a head with no receipt signed by it, an
envelope not signed by this node, a chain that does not link, a checkpoint not signed by
this node or not cosigned by the peer are refused with a ``recovery_refused`` alarm, and
its claim is dropped. What no peer holds cannot be recovered; after a restore the node
says so with a ``recovery_unheld`` alarm per channel instead of reusing the numbers
silently.

``parley restore`` leaves ``recovery.json`` in the home: with it the node holds every send
until each peer it shares a channel with has answered (a peer that is down would
otherwise let the node fork the chain it holds). Without it (a normal restart) the check
still runs, but sends are only held once a peer is found to hold more.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from parley.clock import format_time
from parley.errors import ParleyError, RefusedError
from parley.formats.texts import T, Text
from parley.node import Node, marker_path, read_marker, recovering_error, write_marker

if TYPE_CHECKING:
    from parley.federation.runtime import Runtime

log = logging.getLogger("parley.recovery")

HASH_MAX = 128  # an envelope hash is "sha256:" and 64 hex digits (§5)
MAX_NOTE_CHARS = 8192
MAX_RECEIPTS = 1000  # receipts taken from one /returned answer
RETRY_S = (1.0, 30.0)  # first and longest wait before asking a peer that did not answer again


@dataclass
class ChannelReport:
    channel: str
    peer: str
    recovered: int = 0
    head: int = 0
    checkpoint_size: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "peer": self.peer,
            "recovered": self.recovered,
            "head": self.head,
            "checkpoint_size": self.checkpoint_size,
        }


@dataclass
class Recovery:
    """The recovery state of one serving node (held by its Service)."""

    node: Node
    strict: bool = False  # a restore marker: hold sends until every peer has answered
    state: str = "checking"  # checking | recovering | done
    waiting_for: set[str] = field(default_factory=set)
    recovered: list[ChannelReport] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    @classmethod
    def for_node(cls, node: Node) -> Recovery:
        marker = read_marker(node.home)
        rec = cls(node, strict=marker is not None)
        node.hold_sending = rec.check_send
        return rec

    @property
    def holding(self) -> bool:
        """Whether sends are held now: while recovering, and after a restore until done."""
        return self.state == "recovering" or (self.strict and self.state != "done")

    def check_send(self, channel: str) -> None:
        if self.holding:
            raise recovering_error()

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "holding": self.holding,
            "after_restore": self.strict,
            "waiting_for": sorted(self.waiting_for),
            "recovered": [r.to_json() for r in self.recovered],
            "refused": self.refused[-20:],
        }

    def _save(self) -> None:
        if self.holding:
            write_marker(self.node.home, {"state": self.state, "since": format_time(self.node.clock.now())})

    # --- the run ------------------------------------------------------------------------
    async def run(self, service: Runtime) -> None:
        """Ask every peer until each has answered (after a restore) or once (else)."""
        from parley.directory.peers import list_peers

        node = self.node
        peers = [p.name for p in await service.db(list_peers, node)]
        self.waiting_for = set(peers)
        wait = RETRY_S[0]
        while self.waiting_for and not service.stop.is_set():
            for peer in sorted(self.waiting_for):
                try:
                    await self.recover_from(service, peer)
                    self.waiting_for.discard(peer)
                except ParleyError as exc:
                    log.warning("recovery: %s did not answer: %s", peer, exc.message)
                    if not self.strict:
                        self.waiting_for.discard(peer)  # a normal restart does not wait for it
            if self.waiting_for:
                await service._sleep(wait)
                wait = min(wait * 2, RETRY_S[1])
        if service.stop.is_set():
            return
        if self.strict:
            await service.db(self._report_unheld)
        self.state = "done"
        with contextlib.suppress(FileNotFoundError):
            marker_path(node.home).unlink()
        service.wake_senders()
        log.info("recovery done: %d channel(s) recovered", len(self.recovered))

    async def recover_from(self, service: Runtime, peer: str) -> None:
        """Every channel shared with ``peer``; ParleyError if the peer cannot be asked."""
        client = service.client_for(peer)
        for channel in await service.db(_shared_channels, self.node, peer):
            answer = await client.call("GET", f"/held?channel={channel}")
            try:
                claim = await service.db(check_held, self.node, peer, channel, answer)
            except RefusedError as exc:
                await service.db(self._refuse, peer, channel, exc.message)
                continue
            ours = await service.db(_own_head, self.node, channel)
            if claim.seq <= ours:
                if claim.seq and await service.db(_own_hash, self.node, channel, claim.seq) != claim.hash:
                    await service.db(
                        self._refuse,
                        peer,
                        channel,
                        T("the peer holds another envelope at seq {seq} than this node", seq=claim.seq),
                    )
                continue
            if self.state != "recovering":
                self.state = "recovering"
                await service.db(self._save)
            report = ChannelReport(channel, peer, checkpoint_size=claim.checkpoint_size)
            try:
                await self._fetch(service, peer, channel, claim, report)
            except RefusedError as exc:
                await service.db(self._refuse, peer, channel, exc.message)
            if report.recovered:
                self.recovered.append(report)
        if self.state == "recovering" and not self.strict:
            self.state = "checking"  # this peer is done; the run decides when all are

    async def _fetch(
        self, service: Runtime, peer: str, channel: str, claim: HeldClaim, report: ChannelReport
    ) -> None:
        client = service.client_for(peer)
        # Each round stores at least one envelope or stops: the rounds are bounded by the gap.
        for _ in range(claim.seq):
            start = await service.db(_own_head, self.node, channel) + 1
            if start > claim.seq:
                break
            answer = await client.call("GET", f"/returned?channel={channel}&from={start}&to={claim.seq}")
            stored = await service.db(store_returned, self.node, peer, channel, start, claim, answer)
            if stored == 0:
                raise RefusedError(
                    T(
                        "{peer} claims to hold seq {seq} of this node's chain on {channel} "
                        "but returned nothing from seq {start}",
                        peer=peer,
                        seq=claim.seq,
                        channel=channel,
                        start=start,
                    ),
                    code="recovery_refused",
                )
            report.recovered += stored
            report.head = start + stored - 1
        await service.db(_accept_head_receipt, self.node, peer, claim)

    def _refuse(self, peer: str, channel: str, why: Text | str) -> None:
        from parley.formats.texts import render
        from parley.storage.alarms import raise_alarm_txn

        message = render(why, "en") if isinstance(why, Text) else why
        self.refused.append(f"{peer}/{channel}: {message}")
        log.error("recovery: refused what %s said about %s: %s", peer, channel, message)
        with self.node.engine.begin() as conn:
            raise_alarm_txn(
                conn,
                "recovery_refused",
                f"{peer}/{channel}",
                self.node.clock.now(),
                peer=peer,
                channel=channel,
                error=why if isinstance(why, Text) else message[:300],
            )

    def _report_unheld(self) -> None:
        """After a restore: what this node signed that no peer returned is lost; say so."""
        from parley.messaging.chains import chain_head_txn
        from parley.storage.alarms import raise_alarm_txn

        by_channel = {r.channel: r for r in self.recovered}
        with self.node.engine.begin() as conn:
            from parley.federation.outbox import channels_with_txn

            channels: set[str] = set()
            for peer in self._peers(conn):
                channels.update(channels_with_txn(conn, self.node.name, peer))
            for channel in sorted(channels):
                head = chain_head_txn(conn, channel, self.node.name)
                raise_alarm_txn(
                    conn,
                    "recovery_unheld",
                    f"{self.node.name}/{channel}",
                    self.node.clock.now(),
                    channel=channel,
                    seq=0 if head is None else head[0],
                    recovered=by_channel[channel].recovered if channel in by_channel else 0,
                )

    def _peers(self, conn: Any) -> list[str]:
        from sqlalchemy import select

        from parley.storage.tables import peers

        return [str(r.name) for r in conn.execute(select(peers.c.name)).all()]


@dataclass(frozen=True)
class HeldClaim:
    """What a peer says it holds of this node's chain on a channel, checked."""

    peer: str
    channel: str
    seq: int
    hash: str | None
    receipt: Any  # the peer's signed receipt naming (seq, hash), as verified
    checkpoint_size: int | None


def _refused(message: Text) -> RefusedError:
    return RefusedError(message, code="recovery_refused")


def check_held(node: Node, peer: str, channel: str, answer: Any) -> HeldClaim:
    """Check a ``/held`` answer: shape and bounds, the peer's receipt naming the head it
    claims, and the checkpoint of this node's log it cosigned. RefusedError if anything
    fails: the claim is then not acted on."""
    from parley.messaging.receipts import parse_peer_receipts

    if not isinstance(answer, dict) or answer.get("channel") != channel:
        raise _refused(T("the answer is not a /held answer for {channel}", channel=channel))
    head = answer.get("head")
    if head is None:
        return HeldClaim(peer, channel, 0, None, None, None)
    if (
        not isinstance(head, dict)
        or not isinstance(head.get("seq"), int)
        or isinstance(head.get("seq"), bool)
        or not 1 <= head["seq"] < 2**53
        or not isinstance(head.get("hash"), str)
        or not 0 < len(head["hash"]) <= HASH_MAX
    ):
        raise _refused(T("the claimed chain head is malformed"))
    seq, digest = int(head["seq"]), str(head["hash"])
    try:
        (receipt,) = parse_peer_receipts(node, peer, [answer.get("receipt")])
    except (ParleyError, ValueError, TypeError) as exc:
        raise _refused(
            T("the claimed head carries no valid receipt signed by the peer: {exc}", exc=str(exc)[:200])
        ) from None
    if (receipt.channel, receipt.upto_seq, receipt.upto_hash) != (channel, seq, digest):
        raise _refused(T("the peer's receipt does not name the head it claims"))
    size = _check_checkpoint(node, peer, answer.get("checkpoint"))
    return HeldClaim(peer, channel, seq, digest, receipt, size)


def _check_checkpoint(node: Node, peer: str, doc: Any) -> int | None:
    """The size of this node's log the peer last cosigned, once both signatures verify."""
    if doc is None:
        return None
    from parley.federation.witnessing import log_verifier_for, verify_peer_cosignature
    from parley.record.checkpoint import CheckpointError, open_checkpoint
    from parley.record.note import NoteError

    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("note"), str)
        or not isinstance(doc.get("cosignature"), str)
        or len(doc["note"]) > MAX_NOTE_CHARS
        or len(doc["cosignature"]) > MAX_NOTE_CHARS
    ):
        raise _refused(T("the checkpoint in the answer is malformed"))
    public = node.key_for(peer)
    if public is None:
        raise _refused(T("{peer} is not a pinned peer", peer=peer))
    from parley.directory.keys import own_history

    # By whichever key of either history signed (§13.3): the peer may have witnessed this
    # checkpoint before one of the two rotated its key.
    own = own_history(node) or node.key.public
    try:
        checkpoint, _ = open_checkpoint(doc["note"], log_verifier_for(node.name, own, doc["note"]))
        line = doc["cosignature"] if doc["cosignature"].endswith("\n") else doc["cosignature"] + "\n"
        verify_peer_cosignature(checkpoint.body(), line, peer, public)
    except (CheckpointError, NoteError, ValueError) as exc:
        log.warning("checkpoint from %s refused: %s", peer, exc)  # the technical detail
        raise _refused(
            T("the checkpoint of this node's log is not signed by it or not cosigned by the peer")
        ) from None
    return int(checkpoint.size)


def store_returned(node: Node, peer: str, channel: str, start: int, claim: HeldClaim, answer: Any) -> int:
    """Verify and store one ``/returned`` page; the number of envelopes stored.

    Everything is checked before anything is written: each envelope is this node's own,
    signed by its key, on ``channel``, continuing the chain from the stored head, and none
    passes the claimed head; the last one of the claim must have the claimed hash."""
    from parley.messaging.chains import chain_head_txn, store_envelopes_txn
    from parley.messaging.receipts import accept_receipts_txn, parse_peer_receipts
    from parley.messaging.search_index import index_messages_txn
    from parley.protocol.verify import check_chain_link, verify_envelope
    from parley.record.journal import buffered

    if not isinstance(answer, dict) or not isinstance(answer.get("envelopes"), list):
        raise _refused(T("the answer is not a /returned answer"))
    wires = answer["envelopes"][: claim.seq - start + 1]
    raws = answer.get("receipts", [])
    if not isinstance(raws, list) or len(raws) > MAX_RECEIPTS:
        raise _refused(T("the receipts in the answer are malformed or too many"))
    now = node.clock.now()
    with node.engine.begin() as conn, buffered(conn):
        head = chain_head_txn(conn, channel, node.name, for_update=True)
        if (0 if head is None else head[0]) != start - 1:
            return 0  # the chain moved meanwhile (another process): the caller asks again
        accepted = []
        for wire in wires:
            try:
                env = verify_envelope(wire, node.key_for)
                if env.sender_node != node.name or env.channel != channel:
                    raise _refused(
                        T("an envelope returned is not this node's own on {channel}", channel=channel)
                    )
                expected = 1 if head is None else head[0] + 1
                if env.seq != expected:
                    raise _refused(
                        T(
                            "the envelopes returned skip from seq {expected} to {got}",
                            expected=expected,
                            got=env.seq,
                        )
                    )
                check_chain_link(env, head)
            except RefusedError:
                raise
            except ParleyError as exc:
                raise _refused(T("an envelope returned does not verify: {exc}", exc=exc.message)) from None
            if env.seq == claim.seq and env.hash != claim.hash:
                raise _refused(T("the envelope at the claimed head has another hash than the receipt names"))
            accepted.append(env)
            head = (env.seq, env.hash)
        store_envelopes_txn(conn, accepted, outgoing=True, stored_at=now)
        index_messages_txn(conn, accepted, outgoing=True)
        if any(e.reply_to is not None for e in accepted):
            from parley.messaging.threads import link_reply_txn

            for env in accepted:
                link_reply_txn(conn, env)
        try:
            receipts = parse_peer_receipts(node, peer, raws)
        except ParleyError as exc:
            raise _refused(T("a receipt returned does not verify: {exc}", exc=exc.message)) from None
        upto = 0 if head is None else head[0]
        covered = sorted(
            (r for r in receipts if r.channel == channel and r.upto_seq <= upto), key=lambda r: r.upto_seq
        )
        accept_receipts_txn(node, conn, covered)
    return len(accepted)


def _accept_head_receipt(node: Node, peer: str, claim: HeldClaim) -> None:
    from parley.messaging.receipts import accept_checked

    if claim.receipt is not None:
        accept_checked(node, [claim.receipt])


def _own_head(node: Node, channel: str) -> int:
    from parley.messaging.chains import chain_head_txn

    with node.reader.connect() as conn:
        head = chain_head_txn(conn, channel, node.name)
    return 0 if head is None else head[0]


def _own_hash(node: Node, channel: str, seq: int) -> str | None:
    from parley.messaging.receive import HASH_AT

    with node.reader.connect() as conn:
        row = conn.execute(HASH_AT, {"channel": channel, "sender": node.name, "seq": seq}).first()
    return None if row is None else str(row.hash)


def _shared_channels(node: Node, peer: str) -> list[str]:
    from parley.federation.outbox import channels_with_txn

    with node.reader.connect() as conn:
        return list(channels_with_txn(conn, node.name, peer))
