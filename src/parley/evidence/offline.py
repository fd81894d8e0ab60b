"""Checking proofs and transcripts offline: ``parley verify --proof/--transcript FILE --key …``.

No database and no network: only the file and the identity cards of the nodes, given with
``--key CARD.json`` (each card is checked against its own signature first). A check stops at
the first thing that is wrong and names it; the order of the steps is fixed, so the same
file always gives the same answer.

Checking a proof file (:mod:`parley.evidence.proof`) runs these steps:

1. format      the file is a ``parley-proof/1`` object with the expected fields;
2. cards       every card verifies, and no two cards give one node two keys;
3. checkpoint  the checkpoint is a C2SP signed note of origin ``parley.<node>`` signed by
               that node's key; every cosignature by another carded node verifies
               (C2SP tlog-cosignature); a ``witnessed`` older checkpoint is signed and
               cosigned the same way and the RFC 9162 consistency proof joins the two;
4. items       each envelope passes the envelope checks 1–6 (shape, protocol, fields,
               hash, key, signature) and each receipt its signature; its leaf, rebuilt as
               ``kind || 0x00 || ref || 0x00 || canonical bytes``, has a verifying RFC 9162
               inclusion proof at its index against the checkpoint's root;
5. relations   the message comes first; each receipt names, at its ``upto_seq``, an
               envelope of the file with exactly the hash it signed, linked back to the
               message (or its acknowledgment) by ``prev`` hashes; the acknowledgment
               names the message's id and hash and comes from another node.

Transcripts are checked by :func:`parley.evidence.transcript.verify_transcript`, with steps
1–3 shared from here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from parley.errors import ParleyError, UsageError, VerificationError
from parley.evidence.proof import PROOF_FORMAT, leaf_hash_of, receipt_ref
from parley.federation.witnessing import ORIGIN_PREFIX, cosigner_verifier_for, log_name, log_verifier_for
from parley.formats.texts import T, Text, cli_lang
from parley.protocol.canonical import canonical_bytes
from parley.protocol.card import parse_card
from parley.protocol.envelope import SignedEnvelope
from parley.protocol.keys import PublicKey, unb64_hash
from parley.protocol.receipt import Receipt, parse_receipt
from parley.protocol.verify import verify_envelope
from parley.record import merkle
from parley.record.checkpoint import Checkpoint, CheckpointError, open_checkpoint
from parley.record.note import Note, NoteError

__all__ = [
    "KeyRing",
    "LogReport",
    "ProofReport",
    "check_log_section",
    "load_cards",
    "verify_offline_cli",
    "verify_proof",
]


# -- step 2: cards ----------------------------------------------------------------------------


class KeyRing:
    """Node name → public key, from identity cards only (and root keys, from v2 cards)."""

    def __init__(self, keys: dict[str, PublicKey], roots: dict[str, PublicKey] | None = None) -> None:
        self.keys = keys
        self.roots = roots or {}

    def with_history(self, history: Any) -> KeyRing:
        """This ring with each carded node's key history from a file (docs/protocol.md §13).

        A history counts only under the root its node's card carries, so a file cannot
        bring keys of its own; a node whose card has no root keeps its one carded key."""
        from parley.directory.keys import history_from_documents

        if not isinstance(history, dict):
            raise VerificationError("1 format", T("key_history must be an object of node names"))
        keys = dict(self.keys)
        for name, docs in history.items():
            root = self.roots.get(name)
            if root is None:
                continue
            if not isinstance(docs, dict) or sorted(docs) != ["certificate", "records", "root_key"]:
                raise VerificationError("1 format", T("key history of {name!r} is malformed", name=name))
            if docs["root_key"] != root.b64:
                raise VerificationError(
                    "2 cards", T("key history of {name!r} is under another root than its card", name=name)
                )
            try:
                ring = history_from_documents(name, docs)
            except (VerificationError, ValueError, TypeError, KeyError) as exc:
                problem = getattr(exc, "message", str(exc))
                raise VerificationError(
                    "2 cards", T("key history of {name!r}: {exc}", name=name, exc=problem)
                ) from None
            if keys[name].key_id not in ring.entries:
                raise VerificationError(
                    "2 cards", T("the card's key of {name!r} is not in its key history", name=name)
                )
            keys[name] = ring
        return KeyRing(keys, self.roots)

    def has_history(self) -> bool:
        return any(hasattr(k, "for_signature") for k in self.keys.values())

    def get(self, name: str) -> PublicKey | None:
        return self.keys.get(name)

    def require(self, name: str, why: str) -> PublicKey:
        public = self.keys.get(name)
        if public is None:
            raise VerificationError(
                "2 cards",
                T("no identity card for {name!r}, needed to check {why}", name=name, why=why),
                hint=T("pass {name}'s card with --key CARD.json", name=name),
            )
        return public

    def raw(self) -> dict[str, bytes]:
        return {name: k.raw for name, k in self.keys.items()}


def load_cards(paths: Sequence[Path]) -> KeyRing:
    from parley.files import read_json_file

    keys: dict[str, PublicKey] = {}
    roots: dict[str, PublicKey] = {}
    for path in paths:
        try:
            card = parse_card(read_json_file(path))
        except ParleyError as exc:
            raise VerificationError("2 cards", f"{path}: {exc.message}", hint=exc.hint) from None
        known = keys.get(card.name)
        if known is not None and known != card.public:
            raise VerificationError(
                "2 cards",
                T("two cards give {card_name!r} different keys", card_name=card.name),
                hint=T("pass one card per node"),
            )
        keys[card.name] = card.public
        if card.root_key is not None:
            roots[card.name] = PublicKey.from_b64(card.root_key)
    return KeyRing(keys, roots)


# -- step 3: checkpoints ----------------------------------------------------------------------


@dataclass
class LogReport:
    node: str
    size: int
    cosigners: list[tuple[str, int]] = field(default_factory=list)
    witnessed_size: int | None = None
    witnessed_cosigners: list[tuple[str, int]] = field(default_factory=list)

    def lines(self, lang: str = "en") -> list[str]:
        """What the checkpoint proves, for a person reading ``lang``."""
        head = T(
            "checkpoint of {node}'s log at size {size}: signed by {node}", node=self.node, size=self.size
        )
        out: list[Text] = [head]
        if self.cosigners:
            out[0] = T("{line}, cosigned by {cosigners}", line=head, cosigners=_cosigned(self.cosigners))
        elif self.witnessed_size is not None:
            out.append(
                T(
                    "  extends the checkpoint at size {size} cosigned by {cosigners}; "
                    "leaves from {size} on are not witnessed yet",
                    size=self.witnessed_size,
                    cosigners=_cosigned(self.witnessed_cosigners),
                )
            )
        else:
            out.append(T("  WARNING: no other node has cosigned this log yet"))
        return [line.render(lang) for line in out]

    @property
    def witnessed_below(self) -> int:
        """Leaves below this index are covered by a counterpart's cosignature."""
        if self.cosigners:
            return self.size
        return self.witnessed_size or 0


def _when(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cosigned(cosigners: list[tuple[str, int]]) -> list[Text]:
    return [T("{node} at {at}", node=n, at=_when(t)) for n, t in cosigners]


def _cosigners(
    note: Note, checkpoint: Checkpoint, log_node: str, keys: KeyRing, what: str
) -> list[tuple[str, int]]:
    """Every cosignature on ``note`` by a carded node other than the log's; each must verify."""
    found: list[tuple[str, int]] = []
    for sig in note.signatures:
        if not sig.name.startswith(ORIGIN_PREFIX):
            continue
        name = sig.name[len(ORIGIN_PREFIX) :]
        public = keys.get(name)
        if name == log_node or public is None:
            continue
        verifier = cosigner_verifier_for(name, public, sig.key_id)
        if verifier is None:
            continue
        ts = verifier.timestamp(checkpoint.body().encode(), sig.signature)
        if ts is None:
            raise VerificationError(
                "3 checkpoint", T("{name}'s cosignature on {what} does not verify", name=name, what=what)
            )
        found.append((name, ts))
    return found


def _open(text: Any, log_node: str, public: PublicKey, what: str) -> tuple[Checkpoint, Note]:
    if not isinstance(text, str):
        raise VerificationError("3 checkpoint", T("{what} is not a signed note", what=what))
    try:
        return open_checkpoint(text, log_verifier_for(log_node, public, text))
    except (NoteError, CheckpointError) as exc:
        raise VerificationError("3 checkpoint", f"{what}: {exc}") from None


def _hashes(value: Any, what: str) -> list[bytes]:
    if not isinstance(value, list):
        raise VerificationError("1 format", T("{what} must be a list of base64 hashes", what=what))
    out = [unb64_hash(item) for item in value]
    if None in out:
        raise VerificationError(
            "1 format", T("{what} holds something that is not a base64 SHA-256 hash", what=what)
        )
    return [h for h in out if h is not None]


def check_log_section(section: Any, keys: KeyRing) -> tuple[Checkpoint, LogReport]:
    """Step 3: the checkpoint proofs are against, its cosignatures and its witnessed past."""
    if not isinstance(section, dict) or sorted(section) != [
        "checkpoint",
        "node",
        "origin",
        "witnessed",
    ]:
        raise VerificationError("1 format", T("log must have node, origin, checkpoint and witnessed"))
    node = section["node"]
    if not isinstance(node, str) or section["origin"] != log_name(node):
        raise VerificationError(
            "1 format", T("log origin must be {origin_prefix}<node>", origin_prefix=ORIGIN_PREFIX)
        )
    public = keys.require(node, f"the checkpoint of {node}'s log")
    checkpoint, note = _open(section["checkpoint"], node, public, "the checkpoint")
    report = LogReport(node, checkpoint.size)
    report.cosigners = _cosigners(note, checkpoint, node, keys, "the checkpoint")
    witnessed = section["witnessed"]
    if witnessed is not None:
        if not isinstance(witnessed, dict) or sorted(witnessed) != ["checkpoint", "consistency"]:
            raise VerificationError("1 format", T("witnessed must have checkpoint and consistency"))
        old, old_note = _open(witnessed["checkpoint"], node, public, "the witnessed checkpoint")
        cosigners = _cosigners(old_note, old, node, keys, "the witnessed checkpoint")
        if not cosigners:
            raise VerificationError(
                "3 checkpoint",
                T("the witnessed checkpoint carries no cosignature by a carded node"),
                hint=T("pass the counterpart's card with --key"),
            )
        if old.size > checkpoint.size:
            raise VerificationError(
                "3 checkpoint",
                T(
                    "the witnessed checkpoint (size {old_size}) is larger than the checkpoint",
                    old_size=old.size,
                ),
            )
        try:
            consistency = _hashes(witnessed["consistency"], "consistency")
            # A witnessed empty tree is a prefix of any log: RFC 9162 has no proof from it
            # (merkle refuses one), so only an empty list is right here.
            if old.size == 0 and consistency:
                raise merkle.ProofError("a consistency proof from the empty tree must be empty")
            if old.size > 0:
                merkle.verify_consistency(old.size, checkpoint.size, consistency, old.root, checkpoint.root)
        except merkle.ProofError as exc:
            raise VerificationError(
                "3 checkpoint",
                T(
                    "the checkpoint at size {checkpoint_size} does not extend the one cosigned at "
                    "size {old_size}: {exc}",
                    checkpoint_size=checkpoint.size,
                    old_size=old.size,
                    exc=exc,
                ),
            ) from None
        report.witnessed_size = old.size
        report.witnessed_cosigners = cosigners
    return checkpoint, report


# -- step 4: one signed object and its leaf ---------------------------------------------------


def check_signed(
    kind: Any, data: Any, key_for: Callable[[str], PublicKey | None]
) -> tuple[SignedEnvelope | Receipt, bytes]:
    """Verify an envelope or receipt; return it and its leaf hash in the log."""
    if kind == "envelope":
        env = verify_envelope(data, key_for)
        # The verified wire object's bytes, framed around the envelope's bytes that step 4
        # computed (SignedEnvelope.to_bytes): the envelope is canonicalized once, not twice.
        return env, leaf_hash_of("envelope", env.id, env.to_bytes())
    if kind == "receipt":
        receipt = parse_receipt(data, key_for)
        ref = receipt_ref(receipt.channel, receipt.sender, receipt.receiver, receipt.upto_seq)
        return receipt, leaf_hash_of("receipt", ref, canonical_bytes(data))
    raise VerificationError("1 format", T("unknown kind {kind!r} (envelope or receipt)", kind=kind))


def signer_of(kind: Any, data: Any) -> str | None:
    """The node whose key signed an envelope or receipt, read before anything is checked."""
    try:
        name = data["envelope"]["sender"]["node"] if kind == "envelope" else data["receipt"]["receiver"]
    except (KeyError, TypeError):
        return None
    return name if isinstance(name, str) else None


def describe(obj: SignedEnvelope | Receipt) -> str:
    if isinstance(obj, SignedEnvelope):
        return f"{obj.type} {obj.id} ({obj.sender_node} seq {obj.seq})"
    return f"receipt by {obj.receiver} for {obj.sender} up to seq {obj.upto_seq}"


# -- proofs -----------------------------------------------------------------------------------


@dataclass
class ProofReport:
    message: SignedEnvelope
    leaf_index: int
    log: LogReport
    receipts: list[tuple[Receipt, int]] = field(default_factory=list)
    acknowledgment: tuple[SignedEnvelope, int] | None = None
    ack_receipts: list[tuple[Receipt, int]] = field(default_factory=list)

    def lines(self, lang: str = "en") -> list[str]:
        """What the proof proves, for a person reading ``lang``."""
        m = self.message
        out: list[Text] = [
            T("proof of message {id} VALID", id=m.id),
            T(
                "  {type} from {node}/{desk} on {channel}, seq {seq}, created {created}, hash {hash}",
                type=m.type,
                node=m.sender_node,
                desk=m.sender_desk,
                channel=m.channel,
                seq=m.seq,
                created=m.created,
                hash=m.hash,
            ),
            self._leaf(
                T("  in {node}'s log at leaf {i}", node=self.log.node, i=self.leaf_index), self.leaf_index
            ),
        ]
        for r, i in self.receipts:
            out.append(
                self._leaf(
                    T("  receipted by {node} at {at} (leaf {i})", node=r.receiver, at=r.received_at, i=i), i
                )
            )
        if not self.receipts:
            out.append(T("  no receipt in the proof"))
        if self.acknowledgment is None:
            out.append(T("  not acknowledged in the proof"))
        else:
            a, i = self.acknowledgment
            line = T(
                "  acknowledged by {operator} ({node}/{desk}) at {at} (leaf {i})",
                operator=a.body["operator"],
                node=a.sender_node,
                desk=a.body["desk"],
                at=a.created,
                i=i,
            )
            out.append(self._leaf(line, i))
            for r, j in self.ack_receipts:
                out.append(
                    T(
                        "  acknowledgment receipted by {node} at {at} (leaf {i})",
                        node=r.receiver,
                        at=r.received_at,
                        i=j,
                    )
                )
        return [line.render(lang) for line in out] + ["  " + line for line in self.log.lines(lang)]

    def _leaf(self, line: Text, index: int) -> Text:
        if index < self.log.witnessed_below:
            return line
        return T("{line} — not yet cosigned", line=line)


def _fail(step: str, what: str, message: str) -> VerificationError:
    return VerificationError(step, f"{what}: {message}")


def verify_proof(data: Any, keys: KeyRing) -> ProofReport:
    # Step 1: format.
    fields = ["channel", "format", "items", "log", "message"]
    if isinstance(data, dict) and "key_history" in data:
        keys = keys.with_history(data["key_history"])
        data = {k: v for k, v in data.items() if k != "key_history"}
    if not isinstance(data, dict) or sorted(data) != fields:
        raise VerificationError(
            "1 format", T("not a proof file: expected {fields}", fields=", ".join(fields))
        )
    if data["format"] != PROOF_FORMAT:
        raise VerificationError(
            "1 format",
            T(
                "format is {data_format!r}, expected {proof_format!r}",
                data_format=data["format"],
                proof_format=PROOF_FORMAT,
            ),
        )
    items = data["items"]
    if not isinstance(items, list) or not items:
        raise VerificationError("1 format", T("items must be a non-empty list"))
    # Step 3: checkpoint (step 2, the cards, ran when they were loaded).
    checkpoint, log_report = check_log_section(data["log"], keys)

    # Step 4: each item, its signature and its inclusion proof.
    checked: list[tuple[str, SignedEnvelope | Receipt, int]] = []
    for n, item in enumerate(items, 1):
        what = f"item {n}"
        if not isinstance(item, dict) or sorted(item) != [
            "data",
            "inclusion",
            "kind",
            "leaf_index",
            "role",
        ]:
            raise _fail("1 format", what, "must have role, kind, leaf_index, data and inclusion")
        role, index = item["role"], item["leaf_index"]
        if role not in ("message", "link", "receipt", "acknowledgment"):
            raise _fail("1 format", what, f"unknown role {role!r}")
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise _fail("1 format", what, "leaf_index must be a non-negative integer")
        what = f"item {n} ({role})"
        signer = signer_of(item["kind"], item["data"])
        if signer is not None:
            keys.require(signer, what)
        try:
            obj, leaf = check_signed(item["kind"], item["data"], keys.get)
        except VerificationError as exc:
            raise _fail(exc.step, what, exc.message.split(": ", 1)[-1]) from None
        what = f"item {n} ({describe(obj)})"
        try:
            merkle.verify_inclusion(
                leaf,
                index,
                checkpoint.size,
                _hashes(item["inclusion"], f"{what} inclusion"),
                checkpoint.root,
            )
        except merkle.ProofError as exc:
            raise _fail(
                "4 log",
                what,
                f"not in {log_report.node}'s log at leaf {index} of the checkpoint: {exc}",
            ) from None
        checked.append((role, obj, index))

    # Step 5: how the items belong together.
    role, message, index = checked[0]
    if role != "message" or not isinstance(message, SignedEnvelope):
        raise VerificationError("5 relations", T("the first item must be the message"))
    if message.id != data["message"] or message.channel != data["channel"]:
        raise VerificationError("5 relations", T("the message is not the one the file names"))
    report = ProofReport(message, index, log_report)
    chain: dict[tuple[str, int], SignedEnvelope] = {}
    for n, (role, obj, index) in enumerate(checked, 1):
        what = f"item {n} ({describe(obj)})"
        if n > 1 and role == "message":
            raise _fail("5 relations", what, "a proof holds one message")
        if obj.channel != message.channel:
            raise _fail(
                "5 relations",
                what,
                f"is on channel {obj.channel}, the message on {message.channel}",
            )
        if isinstance(obj, SignedEnvelope):
            if role == "acknowledgment":
                _check_ack(obj, message, what)
                report.acknowledgment = (obj, index)
            chain[(obj.sender_node, obj.seq)] = obj
            continue
        if role != "receipt":
            raise _fail("5 relations", what, f"a receipt cannot have role {role!r}")
        ack = report.acknowledgment[0] if report.acknowledgment else None
        subject = message if obj.sender == message.sender_node else ack
        if subject is None or obj.sender != subject.sender_node:
            raise _fail("5 relations", what, "covers neither the message nor its acknowledgment")
        _check_cover(obj, subject, chain, what)
        (report.receipts if subject is message else report.ack_receipts).append((obj, index))
    return report


def _check_ack(ack: SignedEnvelope, message: SignedEnvelope, what: str) -> None:
    body = ack.body
    if ack.type != "acknowledgment":
        raise _fail("5 relations", what, "the acknowledgment is not an envelope of type acknowledgment")
    if body.get("message") != message.id or body.get("hash") != message.hash:
        raise _fail("5 relations", what, "does not acknowledge this message (id and hash)")
    if ack.sender_node == message.sender_node:
        raise _fail("5 relations", what, "a node cannot acknowledge its own message")


def _check_cover(
    receipt: Receipt,
    subject: SignedEnvelope,
    chain: dict[tuple[str, int], SignedEnvelope],
    what: str,
) -> None:
    """The receipt names, at upto_seq, an envelope that ``prev`` links back to ``subject``."""
    if receipt.receiver == subject.sender_node:
        raise _fail("5 relations", what, "a node does not receipt its own envelopes")
    if receipt.upto_seq < subject.seq:
        raise _fail("5 relations", what, f"stops at seq {receipt.upto_seq}, before seq {subject.seq}")
    named = chain.get((subject.sender_node, receipt.upto_seq))
    if named is None:
        raise _fail(
            "5 relations",
            what,
            f"the envelope at seq {receipt.upto_seq} it names is not in the proof",
        )
    if named.hash != receipt.upto_hash:
        raise _fail(
            "5 relations",
            what,
            f"forged receipt: it names hash {receipt.upto_hash} for seq {receipt.upto_seq}, "
            f"the envelope there has hash {named.hash}",
        )
    seq = receipt.upto_seq
    while seq > subject.seq:
        below = chain.get((subject.sender_node, seq - 1))
        if below is None:
            raise _fail("5 relations", what, f"the linking envelope at seq {seq - 1} is missing")
        if chain[(subject.sender_node, seq)].prev != below.hash:
            raise _fail("5 relations", what, f"seq {seq} does not link to seq {seq - 1} (prev hash)")
        seq -= 1
    if chain[(subject.sender_node, subject.seq)] is not subject:
        raise _fail("5 relations", what, "links to another envelope than the one it should cover")


# -- the CLI ----------------------------------------------------------------------------------


def _read(path: Path, what: str) -> Any:
    from parley.files import read_json_file

    try:
        return read_json_file(path)
    except UsageError as exc:
        raise VerificationError("1 format", f"{what} {exc.message}", hint=exc.hint) from None


def verify_offline_cli(*, proof: Path | None, transcript: Path | None, cards: list[Path]) -> None:
    """``parley verify --proof FILE`` / ``--transcript FILE`` with ``--key CARD.json …``.

    Prints what was proved; raises :class:`VerificationError` (exit 1) naming the first
    thing that is wrong.
    """
    import typer

    if not cards:
        raise UsageError(
            T("an offline check needs the identity cards of the nodes"),
            hint=T("pass each node's card with --key CARD.json (from `parley identity`)"),
        )
    keys = load_cards(cards)
    if proof is not None:
        report = verify_proof(_read(proof, "proof file"), keys)
        for line in report.lines(cli_lang()):
            typer.echo(line)
    if transcript is not None:
        from parley.evidence.transcript import verify_transcript

        treport = verify_transcript(_read(transcript, "transcript"), keys)
        for line in treport.lines(cli_lang()):
            typer.echo(line)
