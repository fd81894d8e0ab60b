"""Transcripts: a channel's whole signed history, checkable by anyone with the two cards.

``parley transcript export --channel C --out FILE`` writes (format ``parley-transcript/1``,
docs/record.md):

* the charter document with every member's signature, and the signed status records;
* every log entry of the channel, in this node's log order: both sides' envelopes (messages
  and acknowledgments alike) and receipts, each with its leaf index;
* one *set inclusion proof* (:mod:`parley.evidence.proof`) that all those leaves are in the
  tree of the checkpoint;
* the checkpoint, signed by this node and cosigned by the counterpart (or the newest
  cosigned one and the consistency proof to it, see :func:`parley.evidence.proof.log_section`).

``parley verify --transcript FILE --key CARD.json …`` runs steps 1–3 of
:mod:`parley.evidence.offline` (format, cards, checkpoint), then:

4. charter   the charter is in normal form, is the channel's, and carries a valid
             signature of every member node;
5. status    each status record is signed by a member, is the channel's, and follows the
             one before it by an allowed transition (from the charter's initial status);
6. entries   in file order, each entry: its leaf index is larger than the one before (no
             reordering) and inside the checkpoint; it verifies (envelope checks 1–6, or
             the receipt's signature); an envelope is the channel's, from a member desk,
             and continues its sender's chain (``seq`` one more, ``prev`` the hash of the
             one before: a gap means a missing message); an acknowledgment names an
             earlier envelope of another node by id and hash; a receipt is signed by a
             member for another member's chain and names, at ``upto_seq``, an envelope
             already in the transcript with exactly that hash (else it is forged, or the
             envelope is missing);
7. log       the entries' leaves and the set inclusion proof give the checkpoint's root.

It stops at the first failure, by step and entry. With more than a few thousand entries
the signature and hash work of step 6 runs on every core (a process pool over chunks);
the sequential pass that follows reads the results in file order, so the failure
reported is the same, entry and all, however the work was split.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

from sqlalchemy import and_, or_, select

from parley.clock import format_time
from parley.errors import VerificationError
from parley.evidence.offline import KeyRing, LogReport, _hashes, check_log_section, check_signed
from parley.evidence.proof import (
    leaf_hash_of,
    log_section,
    receipt_ref,
    root_from_set_proof,
    set_proof,
)
from parley.formats.texts import N, T, Text, render
from parley.node import Node
from parley.protocol.canonical import canonical_bytes, loads_strict
from parley.protocol.envelope import SignedEnvelope
from parley.protocol.keys import PublicKey, b64
from parley.protocol.receipt import Receipt
from parley.record import merkle
from parley.record.tables import log_leaves
from parley.storage.tables import envelopes, receipts

__all__ = [
    "PARALLEL_MIN",
    "TRANSCRIPT_FORMAT",
    "TranscriptReport",
    "export_transcript",
    "verify_transcript",
]

TRANSCRIPT_FORMAT = "parley-transcript/1"
PARALLEL_MIN = 4000  # below this, starting worker processes costs more than it saves
FIELDS = [
    "channel",
    "charter",
    "entries",
    "exported_at",
    "format",
    "log",
    "set_proof",
    "status_records",
]


# -- export -----------------------------------------------------------------------------------


def export_transcript(node: Node, channel: str) -> dict[str, Any]:
    """The transcript of ``channel`` from this node's record (see the module docstring)."""
    from parley.channels.registry import get_channel_txn
    from parley.channels.status import history_txn

    with node.reader.connect() as conn:
        doc = get_channel_txn(conn, channel).document.to_json()
        status = [r.to_json() for r in history_txn(conn, channel)]
        env_raw = {
            r.id: bytes(r.raw)
            for r in conn.execute(
                select(envelopes.c.id, envelopes.c.raw).where(envelopes.c.channel == channel)
            )
        }
        rec_raw = {
            receipt_ref(channel, r.sender_node, r.receiver_node, int(r.upto_seq)): bytes(r.raw)
            for r in conn.execute(
                select(
                    receipts.c.sender_node,
                    receipts.c.receiver_node,
                    receipts.c.upto_seq,
                    receipts.c.raw,
                ).where(receipts.c.channel == channel)
            )
        }
        leaves = conn.execute(
            select(log_leaves.c.idx, log_leaves.c.kind, log_leaves.c.ref, log_leaves.c.leaf_hash)
            .where(
                or_(
                    and_(
                        log_leaves.c.kind == "receipt",
                        log_leaves.c.ref.startswith(channel + "/", autoescape=True),
                    ),
                    and_(
                        log_leaves.c.kind == "envelope",
                        log_leaves.c.ref.in_(select(envelopes.c.id).where(envelopes.c.channel == channel)),
                    ),
                )
            )
            .order_by(log_leaves.c.idx)
        ).all()
    entries: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for leaf in leaves:
        raw = (env_raw if leaf.kind == "envelope" else rec_raw).get(leaf.ref)
        if raw is None or (leaf.kind, leaf.ref) in seen:
            continue  # a receipt row stored under another ref cannot be this leaf
        if leaf_hash_of(leaf.kind, leaf.ref, raw) != bytes(leaf.leaf_hash):
            raise VerificationError(
                "log",
                T(
                    "leaf {leaf_idx} of this node's log does not match the stored {leaf_kind} {leaf_ref}",
                    leaf_idx=leaf.idx,
                    leaf_kind=leaf.kind,
                    leaf_ref=leaf.ref,
                ),
                hint=T("the record was changed; run `parley verify`"),
            )
        seen.add((leaf.kind, leaf.ref))
        entries.append({"kind": leaf.kind, "leaf_index": int(leaf.idx), "data": loads_strict(raw)})
    need = entries[-1]["leaf_index"] + 1 if entries else 0
    section, checkpoint = log_section(node, need)
    with node.reader.connect() as conn:
        proof = set_proof(conn, [e["leaf_index"] for e in entries], checkpoint.size)
    out = {
        "format": TRANSCRIPT_FORMAT,
        "channel": channel,
        "exported_at": format_time(node.clock.now()),
        "log": section,
        "charter": doc,
        "status_records": status,
        "entries": entries,
        "set_proof": [b64(h) for h in proof],
    }
    return with_key_history(node, out, sorted({m.split("/", 1)[0] for m in doc["charter"]["members"]}))


def with_key_history(node: Node, out: dict[str, Any], members: list[str]) -> dict[str, Any]:
    """Add ``key_history`` (docs/protocol.md §13) for the members with a root key, if any."""
    from parley.directory.keys import history_documents_txn

    with node.reader.connect() as conn:
        found = {n: history_documents_txn(conn, n) for n in members}
    history = {n: docs for n, docs in found.items() if docs is not None}
    if history:
        out["key_history"] = history
    return out


# -- step 6, per entry (runs in worker processes for large transcripts) -----------------------

# What the sequential pass needs of one entry: (error, leaf hash, leaf index, summary).
# The summary of an envelope is ("envelope", id, channel, sender, desk, seq, prev, hash,
# type, acked id, acked hash, operator); of a receipt ("receipt", channel, sender, receiver,
# upto_seq, upto_hash, received_at).
Checked = tuple[str | None, bytes, int, tuple[Any, ...]]


def _summary(obj: SignedEnvelope | Receipt) -> tuple[Any, ...]:
    if isinstance(obj, SignedEnvelope):
        body = obj.body if obj.type == "acknowledgment" else {}
        return (
            "envelope",
            obj.id,
            obj.channel,
            obj.sender_node,
            obj.sender_desk,
            obj.seq,
            obj.prev,
            obj.hash,
            obj.type,
            body.get("message"),
            body.get("hash"),
            body.get("operator"),
        )
    return (
        "receipt",
        obj.channel,
        obj.sender,
        obj.receiver,
        obj.upto_seq,
        obj.upto_hash,
        obj.received_at,
    )


def _check_entry(entry: Any, keys: dict[str, PublicKey]) -> Checked:
    if not isinstance(entry, dict) or sorted(entry) != ["data", "kind", "leaf_index"]:
        return ("1 format: must have kind, leaf_index and data", b"", -1, ())
    index = entry["leaf_index"]
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        return ("1 format: leaf_index must be a non-negative integer", b"", -1, ())
    try:
        obj, leaf = check_signed(entry["kind"], entry["data"], keys.get)
    except VerificationError as exc:
        return (exc.message, b"", index, ())
    return (None, leaf, index, _summary(obj))


def _check_chunk(entries: list[Any], raw_keys: dict[str, bytes]) -> list[Checked]:
    keys = {name: PublicKey(raw) for name, raw in raw_keys.items()}
    return [_check_entry(e, keys) for e in entries]


_FORKED_ENTRIES: list[Any] = []  # set in the parent just before its workers fork


def _check_forked_range(bounds: tuple[int, int], raw_keys: dict[str, bytes]) -> list[Checked]:
    return _check_chunk(_FORKED_ENTRIES[bounds[0] : bounds[1]], raw_keys)


def _checked(entries: list[Any], keys: KeyRing, workers: int | None) -> Iterator[Checked]:
    cores = workers if workers is not None else (os.cpu_count() or 1)
    if keys.has_history():
        # Key histories stay in this process (the workers get raw keys only).
        yield from (_check_entry(e, keys.keys) for e in entries)
        return
    if cores <= 1 or len(entries) < PARALLEL_MIN:
        yield from _check_chunk(entries, keys.raw())
        return
    size = max(500, -(-len(entries) // (cores * 4)))
    ranges = [(i, min(i + size, len(entries))) for i in range(0, len(entries), size)]
    global _FORKED_ENTRIES
    # Forked workers read the entries from the memory they inherit, so only index ranges
    # go out and (error, leaf, index, summary) tuples come back: pickling every entry to a
    # worker cost about as much as checking it. Forking a process that runs threads is
    # unsafe, so a threaded caller (a serving node) sends the entries instead.
    forked = "fork" in mp.get_all_start_methods() and threading.active_count() == 1
    if forked:
        _FORKED_ENTRIES = entries  # before the pool exists, so every worker inherits it
    pool = ProcessPoolExecutor(max_workers=cores, mp_context=mp.get_context("fork") if forked else None)
    try:
        if forked:
            results = pool.map(_check_forked_range, ranges, repeat(keys.raw()))
        else:
            results = pool.map(_check_chunk, [entries[i:j] for i, j in ranges], repeat(keys.raw()))
        # map() yields in submission order: results come back in file order.
        for result in results:
            yield from result
    finally:
        # On the first failure the caller stops reading: drop the chunks not started.
        pool.shutdown(wait=True, cancel_futures=True)
        _FORKED_ENTRIES = []


# -- verification -----------------------------------------------------------------------------


@dataclass
class ChainReport:
    sender: str
    envelopes: int = 0
    last_seq: int = 0
    last_hash: str | None = None
    receipted: dict[str, int] = field(default_factory=dict)  # receiver -> upto_seq


@dataclass
class TranscriptReport:
    channel: str
    charter_hash: str
    members: list[str]
    log: LogReport
    status: list[str] = field(default_factory=list)
    chains: dict[str, ChainReport] = field(default_factory=dict)
    receipts: int = 0
    acknowledgments: int = 0
    entries: int = 0
    unwitnessed: int = 0

    def lines(self, lang: str = "en") -> list[str]:
        """The report as a reader of ``lang`` reads it."""
        out = [
            N(
                "transcript of channel {channel} VALID: {n} entry",
                "transcript of channel {channel} VALID: {n} entries",
                self.entries,
                channel=self.channel,
            ),
            T("  charter {hash} signed by {members}", hash=self.charter_hash, members=list(self.members)),
        ]
        if self.status:
            out.append(T("  status: {history}", history=" → ".join(self.status)))
        for chain in self.chains.values():
            got = [
                T("receipted by {r} up to seq {s}", r=r, s=str(s)) for r, s in sorted(chain.receipted.items())
            ]
            line = N(
                "  {sender}: {n} envelope, seq 1–{last}",
                "  {sender}: {n} envelopes, seq 1–{last}",
                chain.envelopes,
                sender=chain.sender,
                last=str(chain.last_seq),
            )
            out.append(T("{line}, {got}", line=line, got=got) if got else T("{line}, no receipt", line=line))
        receipts = N("{n} receipt", "{n} receipts", self.receipts)
        acks = N("{n} acknowledgment", "{n} acknowledgments", self.acknowledgments)
        out.append(T("  {receipts}, {acks}", receipts=receipts, acks=acks))
        rendered = [render(x, lang) for x in out]
        rendered += ["  " + line for line in self.log.lines()]
        if self.unwitnessed:
            rendered.append(
                N(
                    "  {n} entry is not cosigned by the counterpart yet",
                    "  {n} entries are not cosigned by the counterpart yet",
                    self.unwitnessed,
                ).render(lang)
            )
        return rendered


def _fail(step: str, where: str | Text, message: str | Text) -> VerificationError:
    return VerificationError(step, T("{where}: {message}", where=where, message=message))


def verify_transcript(data: Any, keys: KeyRing, *, workers: int | None = None) -> TranscriptReport:
    """Check a transcript (module docstring, steps 1–7); the first failure raises."""
    from parley.channels.charter import parse_charter_document
    from parley.channels.status import TRANSITIONS, parse_status_record

    # Step 1: format. ``key_history`` (§13) is there when a member node has a root key.
    if isinstance(data, dict) and "key_history" in data:
        keys = keys.with_history(data["key_history"])
        data = {k: v for k, v in data.items() if k != "key_history"}
    if not isinstance(data, dict) or sorted(data) != FIELDS:
        raise VerificationError(
            "1 format", T("not a transcript: expected {fields}", fields=", ".join(FIELDS))
        )
    if data["format"] != TRANSCRIPT_FORMAT:
        raise VerificationError(
            "1 format",
            T(
                "format is {data_format!r}, expected {transcript_format!r}",
                data_format=data["format"],
                transcript_format=TRANSCRIPT_FORMAT,
            ),
        )
    channel, entries = data["channel"], data["entries"]
    if not isinstance(channel, str) or not isinstance(entries, list):
        raise VerificationError("1 format", T("channel must be a name and entries a list"))
    if not isinstance(data["status_records"], list):
        raise VerificationError("1 format", T("status_records must be a list"))
    set_hashes = _hashes(data["set_proof"], "set_proof")

    # Step 3: checkpoint.
    checkpoint, log_report = check_log_section(data["log"], keys)

    # Step 4: charter.
    raw_charter = data["charter"]
    charter_data = raw_charter.get("charter") if isinstance(raw_charter, dict) else None
    members_raw = charter_data.get("members") if isinstance(charter_data, dict) else None
    if isinstance(members_raw, list):
        for node in sorted({str(m).split("/", 1)[0] for m in members_raw}):
            keys.require(node, f"the charter of {channel}")
    try:
        doc = parse_charter_document(raw_charter, keys.get)
    except VerificationError as exc:
        raise _fail("4 charter", channel, exc.detail) from None
    except Exception as exc:  # a malformed charter is reported, whatever raised it
        message = getattr(exc, "message", str(exc))
        raise _fail("4 charter", channel, message) from None
    charter = doc.charter
    if charter.id != channel:
        raise _fail("4 charter", channel, T("the charter is for channel {other!r}", other=charter.id))
    if not doc.complete:
        raise _fail("4 charter", channel, T("the charter is not signed by every member node"))
    members = charter.member_nodes
    if log_report.node not in members:
        raise _fail(
            "4 charter", channel, T("{node}, whose log this is, is not a member", node=log_report.node)
        )
    report = TranscriptReport(channel, charter.hash, members, log_report)

    # Step 5: status records.
    status = str(charter.data.get("initial_status", "active"))
    for n, raw in enumerate(data["status_records"], 1):
        where = T("status record {n}", n=n)
        try:
            record = parse_status_record(raw, keys.get)
        except VerificationError as exc:
            raise _fail("5 status", where, exc.detail) from None
        if record.channel != channel or record.signer not in members:
            raise _fail("5 status", where, T("is for another channel or not signed by a member"))
        if record.status not in TRANSITIONS[status]:
            raise _fail(
                "5 status",
                where,
                T(
                    "the channel cannot go from {status} to {new_status}",
                    status=status,
                    new_status=record.status,
                ),
            )
        status = record.status
        report.status.append(f"{record.status} ({record.effective}, by {record.signer})")

    # Step 6: entries, in order. Where each envelope sits (read unverified, only to tell a
    # reordered chain from one with a missing message when a sequence number is skipped).
    positions: dict[tuple[str, int], int] = {}
    for n, entry in enumerate(entries):
        try:
            env = entry["data"]["envelope"]
            positions.setdefault((str(env["sender"]["node"]), int(env["seq"])), n)
        except (KeyError, TypeError, ValueError):
            continue
    chains = {m: ChainReport(m) for m in members}
    envelope_at: dict[tuple[str, int], str] = {}  # (sender, seq) -> hash
    ids: dict[str, tuple[str, str]] = {}  # id -> (sender, hash)
    leaves: list[tuple[int, bytes]] = []
    last_index = -1
    witnessed_below = log_report.witnessed_below
    for n, (error, leaf, index, summary) in enumerate(_checked(entries, keys, workers)):
        where = T("entry {n}", n=n)
        if error is not None and index < 0:
            step, _, message = error.partition(": ")
            raise _fail(step, where, message)
        if index <= last_index:
            raise _fail(
                "6 order",
                where,
                T(
                    "leaf index {index} does not come after {last_index}: entries were reordered or repeated",
                    index=index,
                    last_index=last_index,
                ),
            )
        if index >= checkpoint.size:
            raise _fail(
                "6 order",
                where,
                T(
                    "leaf index {index} is beyond the checkpoint (size {size})",
                    index=index,
                    size=checkpoint.size,
                ),
            )
        last_index = index
        if error is not None:
            step, _, message = error.partition(": ")
            raise _fail(step, where, message)
        if summary[0] == "envelope":
            _, mid, ch, sender, desk, seq, prev, h, type_, acked, acked_hash, _op = summary
            where = T(
                "entry {n} ({type} {id}, {sender} seq {seq})", n=n, type=type_, id=mid, sender=sender, seq=seq
            )
            if ch != channel:
                raise _fail(
                    "6 channel", where, T("is on channel {ch}, not {channel}", ch=ch, channel=channel)
                )
            if sender not in members or desk not in charter.desks_of(sender):
                raise _fail(
                    "6 channel",
                    where,
                    T(
                        "{sender}/{desk} is not a member desk of {channel}",
                        sender=sender,
                        desk=desk,
                        channel=channel,
                    ),
                )
            chain = chains[sender]
            if seq != chain.last_seq + 1:
                later = positions.get((sender, chain.last_seq + 1), -1)
                if seq > chain.last_seq + 1 and later > n:
                    raise _fail(
                        "6 order",
                        where,
                        T(
                            "{sender}'s seq {seq} comes after it, at entry {later}: entries were reordered",
                            sender=sender,
                            seq=chain.last_seq + 1,
                            later=later,
                        ),
                    )
                if seq > chain.last_seq + 1:
                    first, last = chain.last_seq + 1, seq - 1
                    if last > first:
                        gap = T(
                            "{sender}'s seq {first}–{last} is missing before it",
                            sender=sender,
                            first=first,
                            last=last,
                        )
                    else:
                        gap = T("{sender}'s seq {first} is missing before it", sender=sender, first=first)
                    raise _fail("6 chain", where, gap)
                raise _fail(
                    "6 chain",
                    where,
                    T("{sender}'s seq {seq} comes again or out of order", sender=sender, seq=seq),
                )
            if prev != chain.last_hash:
                raise _fail(
                    "6 chain",
                    where,
                    T(
                        "prev {prev} is not the hash of {sender}'s seq {seq}",
                        prev=prev,
                        sender=sender,
                        seq=seq - 1,
                    ),
                )
            if type_ == "acknowledgment":
                target = ids.get(str(acked))
                if target is None:
                    raise _fail(
                        "6 acknowledgment",
                        where,
                        T("acknowledges {acked}, which is not earlier in the transcript", acked=acked),
                    )
                if target[1] != acked_hash or target[0] == sender:
                    raise _fail(
                        "6 acknowledgment",
                        where,
                        T(
                            "does not match message {acked} (hash, or acknowledged by its own sender)",
                            acked=acked,
                        ),
                    )
                report.acknowledgments += 1
            chain.envelopes += 1
            chain.last_seq, chain.last_hash = seq, h
            envelope_at[(sender, seq)] = h
            ids[mid] = (sender, h)
        else:
            _, ch, sender, receiver, upto, upto_hash, _at = summary
            where = T(
                "entry {n} (receipt by {receiver} for {sender} up to seq {upto})",
                n=n,
                receiver=receiver,
                sender=sender,
                upto=upto,
            )
            if ch != channel:
                raise _fail(
                    "6 channel", where, T("is on channel {ch}, not {channel}", ch=ch, channel=channel)
                )
            if sender not in members or receiver not in members or sender == receiver:
                raise _fail("6 channel", where, T("sender and receiver must be two member nodes"))
            named = envelope_at.get((sender, upto))
            if named is None:
                raise _fail(
                    "6 receipt",
                    where,
                    T(
                        "names {sender}'s seq {upto}, but the transcript holds {sender}'s chain "
                        "only up to seq {last}: a message is missing",
                        sender=sender,
                        upto=upto,
                        last=chains[sender].last_seq,
                    ),
                )
            if named != upto_hash:
                raise _fail(
                    "6 receipt",
                    where,
                    T(
                        "forged receipt: it names hash {upto_hash} for seq {upto}, "
                        "the envelope there has hash {named}",
                        upto_hash=upto_hash,
                        upto=upto,
                        named=named,
                    ),
                )
            chains[sender].receipted[receiver] = max(upto, chains[sender].receipted.get(receiver, 0))
            report.receipts += 1
        leaves.append((index, leaf))
        if index >= witnessed_below:
            report.unwitnessed += 1
    report.entries = len(leaves)
    report.chains = {m: c for m, c in chains.items() if c.envelopes or c.receipted}

    # Step 7: the log.
    try:
        root = root_from_set_proof(checkpoint.size, leaves, set_hashes)
    except merkle.ProofError as exc:
        raise VerificationError("7 log", T("set inclusion proof: {exc}", exc=exc)) from None
    if root != checkpoint.root:
        raise VerificationError(
            "7 log",
            T(
                "the entries and the set inclusion proof give root {b64}, but "
                "{log_report_node}'s checkpoint at size {checkpoint_size} says "
                "{b642}: an entry was changed, "
                "added or left out, or the checkpoint is not the one the entries were logged under",
                b64=b64(root),
                log_report_node=log_report.node,
                checkpoint_size=checkpoint.size,
                b642=b64(checkpoint.root),
            ),
        )
    return report


# -- synthetic transcripts, for the benchmark -------------------------------------------------


def synthetic_transcript(
    n: int, *, other_every: int = 3, receipt_every: int = 10
) -> tuple[dict[str, Any], KeyRing]:
    """A valid transcript of about ``n`` entries between two fresh nodes, and their keys.

    Built in memory with the real signing code: envelopes alternate between the nodes in
    runs of three, each side receipts the other every ``receipt_every`` envelopes, and the
    exporting node's log holds one leaf of another channel after every ``other_every``
    entries, so the set inclusion proof has real gaps to cover.
    """
    from datetime import UTC, datetime

    from parley.channels.charter import CharterDocument, charter_from_dict
    from parley.federation.witnessing import log_name
    from parley.protocol.envelope import build_envelope
    from parley.protocol.keys import SigningKeyPair
    from parley.protocol.receipt import make_receipt
    from parley.record.checkpoint import Checkpoint, cosign, sign_checkpoint

    names = ("node-a", "node-b")
    keys = {name: SigningKeyPair(bytes([i + 1]) * 32) for i, name in enumerate(names)}
    charter = charter_from_dict(
        {
            "id": "bench-line",
            "name": {"en": "Bench", "nb": "Benk", "ru": "Скамья"},
            "basis": {"agreement": "Benchmark", "date": "2020-01-01"},
            "members": ["node-a/duty", "node-b/duty"],
            "types": ["general"],
            "languages": ["nb", "ru", "en"],
        }
    )
    doc = CharterDocument(charter, {})
    for name in names:
        doc = doc.signed_by(name, keys[name])
    created = datetime(2026, 1, 1, tzinfo=UTC)
    heads: dict[str, tuple[int, str | None]] = {name: (0, None) for name in names}
    unreceipted = dict.fromkeys(names, 0)
    entries: list[dict[str, Any]] = []
    leaf_hashes: list[bytes] = []
    indices: list[int] = []

    def log_entry(kind: str, data: Any, ref: str) -> None:
        if other_every and len(entries) % other_every == other_every - 1:
            leaf_hashes.append(merkle.leaf_hash(b"another channel %d" % len(leaf_hashes)))
        indices.append(len(leaf_hashes))
        leaf_hashes.append(leaf_hash_of(kind, ref, canonical_bytes(data)))
        entries.append({"kind": kind, "leaf_index": indices[-1], "data": data})

    i = 0
    while len(entries) < n:
        sender = names[(i // 3) % 2]
        other = names[1 - names.index(sender)]
        seq, prev = heads[sender]
        env = build_envelope(
            key=keys[sender],
            channel=charter.id,
            sender_node=sender,
            sender_desk="duty",
            seq=seq + 1,
            prev=prev,
            created=created,
            type="general",
            type_version=1,
            precedence="ROUTINE",
            status="EXERCISE",
            body={"text": f"message {i}", "lang": "en"},
        )
        heads[sender] = (seq + 1, env.hash)
        log_entry("envelope", env.to_wire(), env.id)
        unreceipted[sender] += 1
        if unreceipted[sender] >= receipt_every and len(entries) < n:
            receipt = make_receipt(
                key=keys[other],
                receiver=other,
                channel=charter.id,
                sender=sender,
                upto_seq=seq + 1,
                upto_hash=env.hash,
                received_at=format_time(created),
            )
            log_entry("receipt", receipt.to_json(), receipt_ref(charter.id, sender, other, seq + 1))
            unreceipted[sender] = 0
        i += 1

    levels = [leaf_hashes]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([merkle.node_hash(below[j], below[j + 1]) for j in range(0, len(below) - 1, 2)])
    size = len(leaf_hashes)

    def get(level: int, index: int) -> bytes:
        return levels[level][index]

    checkpoint = Checkpoint(log_name("node-a"), size, merkle.root(size, get))
    note = sign_checkpoint(checkpoint, keys["node-a"])
    note += cosign(checkpoint.body(), log_name("node-b"), keys["node-b"], 1767225600)
    proof = [get(level, index) for level, index in _coords(indices, size)]
    data = {
        "format": TRANSCRIPT_FORMAT,
        "channel": charter.id,
        "exported_at": format_time(created),
        "log": {
            "node": "node-a",
            "origin": log_name("node-a"),
            "checkpoint": note,
            "witnessed": None,
        },
        "charter": doc.to_json(),
        "status_records": [],
        "entries": entries,
        "set_proof": [b64(h) for h in proof],
    }
    return data, KeyRing({name: k.public for name, k in keys.items()})


def _coords(indices: Sequence[int], size: int) -> list[tuple[int, int]]:
    from parley.evidence.proof import set_proof_coords

    return set_proof_coords(indices, size)
