"""Witnessing: the two nodes of a link check and cosign each other's Merkle log.

After every successful link test the testing node (the *requester*) posts its latest
signed checkpoint (C2SP tlog-checkpoint, signed note by the node key) to the peer::

    POST /federation/v1/checkpoint
    {"checkpoint": <signed note>, "from_size": m, "proof": [<b64>, …],
     "your_last_size": k, "your_cosignature": {"size": k, "cosignature": <line>} | null}

``proof`` is the RFC 9162 consistency proof from ``m``, the size of the requester's
checkpoint the peer last cosigned, to the new size. The peer (the *responder*) verifies it
with :class:`parley.record.checkpoint.Witness` against the checkpoint it cosigned last,
stores it, and answers in the same round trip with its cosignature (C2SP
tlog-cosignature) and its own latest checkpoint with the consistency proof from ``k``, the
size of the responder's checkpoint the requester last witnessed::

    {"cosignature": <line> | null, "refused": <why> | null,
     "checkpoint": <signed note>, "from_size": k, "proof": [<b64>, …]}

The requester verifies that one the same way and keeps its cosignature of it, which it
hands over as ``your_cosignature`` on the next exchange; since both nodes test the link,
each also gets its own checkpoints cosigned directly. So one round trip witnesses both
directions.

When ``from_size`` is not the size the responder last cosigned (a lost answer, a restored
backup), the responder answers 409 ``witness_size_mismatch`` with ``details.last_size``
and the requester retries once from that size, as C2SP tlog-witness prescribes.

A checkpoint that fails the checks raises a security alarm (``alarms`` row, severity
``security``) and keeps the checkpoint and proof as evidence; nothing else stops:

* ``record_fork``           two different roots for the same size;
* ``record_inconsistent``   a consistency proof that does not verify, or a smaller tree
                            than one already cosigned (a rollback);
* ``record_bad_signature``  a checkpoint not signed by the peer's key under its origin.

A node's log origin, and the key name it signs and cosigns under, is ``parley.<node name>``
(docs/record.md). Its checkpoint signature is an Ed25519 signature by the node's identity
key, the one on its identity card.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from parley.errors import ConflictError, UsageError
from parley.federation.models import MAX_INT, CheckpointBody, check_body
from parley.federation.restart import (
    apply_restart_txn,
    diverged_txn,
    make_notice_txn,
    parse_notice,
    restart_base_txn,
)
from parley.formats.texts import T
from parley.node import Node
from parley.protocol.keys import PublicKey, b64, unb64, unb64_hash
from parley.record import log, merkle
from parley.record.checkpoint import (
    BadSignatureAlarm,
    Checkpoint,
    CheckpointError,
    CosignatureVerifier,
    InconsistencyAlarm,
    RollbackAlarm,
    Witness,
    WitnessAlarm,
    open_checkpoint,
    sign_checkpoint,
    verify_cosignature,
)
from parley.record.note import Ed25519Verifier, Note, NoteError, parse_note
from parley.record.witness_tables import (
    record_checkpoints,
    record_cosignatures,
    witness_evidence,
    witness_state,
    witnessed_checkpoints,
)
from parley.storage.alarms import raise_alarm_txn

if TYPE_CHECKING:
    from starlette.requests import Request

    from parley.federation.runtime import Runtime

__all__ = [
    "ORIGIN_PREFIX",
    "ExchangeResult",
    "accept_response",
    "answer_checkpoint",
    "cosigned_checkpoint_txn",
    "cosigner_verifier",
    "exchange_checkpoints",
    "log_name",
    "log_verifier",
    "own_checkpoint_txn",
    "post_checkpoint",
    "prepare_request",
    "verify_peer_cosignature",
]

logger = logging.getLogger("parley.federation.witnessing")

ORIGIN_PREFIX = "parley."
ROUTE = "/checkpoint"
MAX_NOTE_CHARS = 8192
MAX_PROOF_HASHES = 130  # a consistency proof of a 2^64-leaf log has at most 2*64 + 1
ALARM_SEVERITY = "security"
MISMATCH = "witness_size_mismatch"


def log_name(node: str) -> str:
    """The origin line of ``node``'s checkpoints and its key name as signer and cosigner."""
    return ORIGIN_PREFIX + node


def log_verifier(node: str, public: PublicKey) -> Ed25519Verifier:
    return Ed25519Verifier(log_name(node), public)


def cosigner_verifier(node: str, public: PublicKey) -> CosignatureVerifier:
    return CosignatureVerifier(log_name(node), public)


def _history_keys(public: PublicKey) -> list[PublicKey]:
    """The keys a note by this node may be signed with: with a key history (docs/protocol.md
    §13) the current one first, then every older one not revoked."""
    entries = getattr(public, "entries", None)
    if not entries:
        return [public]
    older = [e.public for e in entries.values() if e.revoked_at is None and e.public != public]
    return [public, *older]


def log_verifier_for(node: str, public: PublicKey, signed: Any) -> Ed25519Verifier:
    """The log verifier for whichever of ``node``'s keys signed the note ``signed``."""
    try:
        ids = {s.key_id for s in (signed if isinstance(signed, Note) else parse_note(signed)).signatures}
    except (NoteError, TypeError, ValueError):
        return log_verifier(node, public)
    for key in _history_keys(public):
        verifier = log_verifier(node, key)
        if verifier.key_id in ids:
            return verifier
    return log_verifier(node, public)


def cosigner_verifier_for(node: str, public: PublicKey, key_id: int) -> CosignatureVerifier | None:
    """The cosignature verifier of ``node``'s key with note key id ``key_id``, if it has one."""
    for key in _history_keys(public):
        verifier = cosigner_verifier(node, key)
        if verifier.key_id == key_id:
            return verifier
    return None


def _timestamp(node: Node) -> int:
    return int(node.clock.now().timestamp())


# -- this node's own checkpoints ------------------------------------------------------------


def own_checkpoint_txn(conn: Connection, node: Node) -> tuple[Checkpoint, str]:
    """This node's checkpoint of its whole log now, signed; stored once per size.

    If the stored checkpoint of this size has another root than the log gives now, the
    log was changed under it: the node signs what its log says (so its peers see the
    change and raise their alarm) and raises a local security alarm of its own.
    """
    size = log.size(conn)
    root = log.root(conn, size)
    checkpoint = Checkpoint(log_name(node.name), size, root)
    row = conn.execute(
        select(record_checkpoints.c.root, record_checkpoints.c.note).where(record_checkpoints.c.size == size)
    ).first()
    if row is not None and bytes(row.root) == root:
        return checkpoint, str(row.note)
    note = sign_checkpoint(checkpoint, node.key)
    now = node.clock.now()
    if row is None:
        conn.execute(insert(record_checkpoints).values(size=size, root=root, note=note, signed_at=now))
    else:
        raise_alarm_txn(conn, "record_local_changed", node.name, now, once=True, size=size)
        conn.execute(
            update(record_checkpoints)
            .where(record_checkpoints.c.size == size)
            .values(root=root, note=note, signed_at=now)
        )
    return checkpoint, note


def cosignature_lines_txn(conn: Connection, size: int) -> list[str]:
    rows = conn.execute(
        select(record_cosignatures.c.line)
        .where(record_cosignatures.c.size == size)
        .order_by(record_cosignatures.c.cosigner)
    ).all()
    return [str(r.line) for r in rows]


def cosigned_checkpoint_txn(conn: Connection) -> tuple[Checkpoint, str] | None:
    """This node's largest checkpoint that a peer cosigned, with every cosignature line."""
    size = conn.execute(select(func.max(record_cosignatures.c.size))).scalar()
    if size is None:
        return None
    row = conn.execute(select(record_checkpoints.c.note).where(record_checkpoints.c.size == size)).first()
    if row is None:
        return None
    note = parse_note(row.note)
    lines = "".join(cosignature_lines_txn(conn, int(size)))
    return Checkpoint.parse(note.text), str(row.note) + lines


def verify_peer_cosignature(body: str, line: str, peer: str, public: PublicKey) -> int:
    """``peer``'s cosignature ``line`` (ending in a newline) on the checkpoint ``body``; its
    timestamp. By whichever unrevoked key of the peer's history the line names (§13.3): a
    rotation dated ahead is pinned here before the peer stops signing with the key it replaces,
    and a checkpoint may have been cosigned before the peer rotated."""
    (named,) = parse_note("x\n\n" + line).signatures
    verifier = cosigner_verifier_for(peer, public, named.key_id) or cosigner_verifier(peer, public)
    return verify_cosignature(body, line, verifier)


def _store_cosignature_txn(conn: Connection, node: Node, peer: str, size: int, line: str) -> int:
    """Check ``peer``'s cosignature on this node's checkpoint of ``size`` and keep it."""
    public = node.key_for(peer)
    row = conn.execute(select(record_checkpoints.c.note).where(record_checkpoints.c.size == size)).first()
    if public is None or row is None:
        raise CheckpointError(f"no checkpoint of size {size} was signed here for {peer} to cosign")
    line = line if line.endswith("\n") else line + "\n"
    ts = verify_peer_cosignature(parse_note(row.note).text, line, peer, public)
    exists = conn.execute(
        select(record_cosignatures.c.timestamp).where(
            record_cosignatures.c.size == size, record_cosignatures.c.cosigner == peer
        )
    ).first()
    if exists is None:
        conn.execute(
            insert(record_cosignatures).values(
                size=size, cosigner=peer, line=line, timestamp=ts, received_at=node.clock.now()
            )
        )
    return ts


# -- alarms -----------------------------------------------------------------------------------


def _alarm_kind(exc: WitnessAlarm, same_size: bool) -> str:
    if isinstance(exc, BadSignatureAlarm):
        return "record_bad_signature"
    if isinstance(exc, InconsistencyAlarm) and same_size:
        return "record_fork"
    return "record_inconsistent"


# -- witnessing a peer's checkpoint ---------------------------------------------------------


@dataclass(frozen=True)
class WitnessOutcome:
    """What became of one checkpoint of a peer."""

    size: int | None = None
    cosignature: str | None = None  # our cosignature line, when it was accepted
    alarm: str | None = None  # the alarm kind, when it was rejected
    message: str | None = None
    mismatch: int | None = None  # the size we last cosigned, when from_size was another
    mismatch_root: bytes | None = None  # and its root


def _lock_state_txn(conn: Connection, peer: str) -> Any:
    stmt = select(witness_state).where(witness_state.c.peer == peer).with_for_update()
    row = conn.execute(stmt).first()
    if row is None:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        conn.execute(dialect.insert(witness_state).values(peer=peer).on_conflict_do_nothing())
        row = conn.execute(stmt).first()
    return row


def witness_txn(
    conn: Connection,
    node: Node,
    peer: str,
    signed: str,
    from_size: int,
    proof: list[bytes],
    *,
    strict_from: bool,
    restart: Any = None,
) -> WitnessOutcome:
    """Check ``peer``'s checkpoint against the last one cosigned here; cosign or alarm.

    ``strict_from``: the responder demands a proof from exactly the size it last cosigned
    (a mismatch is answered with that size). The requester asked for a proof from its own
    last size, so a mismatch there means another exchange got in between; it then only
    checks the root against any checkpoint of the same size it already holds.
    ``restart``: a restored peer's restart notice (:mod:`parley.federation.restart`); when it
    holds, the proof is checked from the size it kept instead.
    """
    now = node.clock.now()
    public = node.key_for(peer)
    if public is None:
        raise UsageError(T("{peer!r} is not a known peer", peer=peer))
    state = _lock_state_txn(conn, peer)
    previous = None if state.size is None else Checkpoint(log_name(peer), int(state.size), bytes(state.root))
    last_size = 0 if previous is None else previous.size

    def alarm(exc: WitnessAlarm, same_size: bool, size: int | None = None) -> WitnessOutcome:
        kind = _alarm_kind(exc, same_size)
        message = f"{peer}'s log: {exc}"  # the technical detail, kept with the evidence
        if isinstance(exc, BadSignatureAlarm) or size is None:
            raise_alarm_txn(conn, "record_bad_signature", peer, now, once=True, peer=peer)
        elif isinstance(exc, RollbackAlarm):
            raise_alarm_txn(
                conn, "record_rollback", peer, now, once=True, peer=peer, size=size, old_size=last_size
            )
        elif kind == "record_fork":
            raise_alarm_txn(conn, "record_fork", peer, now, once=True, peer=peer, size=size)
        else:
            raise_alarm_txn(
                conn, "record_inconsistent", peer, now, once=True, peer=peer, size=size, old_size=last_size
            )
        # The same checkpoint shown again (every link test) is kept once.
        kept = conn.execute(
            select(witness_evidence.c.id).where(
                witness_evidence.c.peer == peer,
                witness_evidence.c.reason == kind,
                witness_evidence.c.checkpoint == signed,
            )
        ).first()
        if kept is None:
            conn.execute(
                insert(witness_evidence).values(
                    peer=peer,
                    reason=kind,
                    message=message,
                    from_size=from_size,
                    checkpoint=signed,
                    proof=json.dumps([b64(h) for h in proof]),
                    recorded_at=now,
                )
            )
        return WitnessOutcome(alarm=kind, message=message)

    verifier = log_verifier_for(peer, public, signed)
    try:
        new, _ = open_checkpoint(signed, verifier)
    except (NoteError, CheckpointError) as exc:
        return alarm(BadSignatureAlarm(f"checkpoint rejected: {exc}"), False)
    witness = Witness(log_name(node.name), node.key, verifier)
    timestamp = _timestamp(node)

    if restart is not None and from_size != last_size:
        notice = parse_notice(restart, log_name(peer), public)
        # A notice written before another exchange moved this witness on (both nodes exchange
        # after traffic) has nothing to restart from any more: a plain size mismatch below.
        if notice is None or notice.abandoned_size == last_size:
            holds, base = (
                (False, None)
                if notice is None
                else restart_base_txn(conn, peer, notice, last=state, from_size=from_size)
            )
            if notice is None or not holds:
                # A restart that cannot be checked is a rollback that tried to look honest.
                return alarm(
                    InconsistencyAlarm(
                        f"a restart notice from size {from_size} that does not hold "
                        f"(size {last_size} was cosigned last)"
                    ),
                    False,
                    new.size,
                )
            try:
                cosigned = witness.cosign(base, signed, proof, timestamp)
            except WitnessAlarm as exc:
                return alarm(exc, False, new.size)
            apply_restart_txn(conn, node, peer, notice, last=state)
            return _keep_txn(conn, peer, new, signed, cosigned.cosignature, timestamp, now)

    if from_size != last_size and strict_from:
        # Asked for first, before anything is judged: a restored peer comes back with its
        # restart notice, an honest one that lost an answer with the right proof.
        return WitnessOutcome(mismatch=last_size, mismatch_root=None if previous is None else previous.root)

    # A root for a size cosigned before must be the root cosigned then.
    seen = conn.execute(
        select(witnessed_checkpoints.c.root).where(
            witnessed_checkpoints.c.peer == peer, witnessed_checkpoints.c.size == new.size
        )
    ).first()
    if seen is not None and bytes(seen.root) != new.root:
        return alarm(
            InconsistencyAlarm(
                f"two different roots for size {new.size}: {b64(bytes(seen.root))} cosigned "
                f"before, {b64(new.root)} now"
            ),
            True,
            new.size,
        )
    if from_size != last_size:
        return WitnessOutcome(size=new.size, message="another exchange got in between")

    try:
        cosigned = witness.cosign(previous, signed, proof, timestamp)
    except WitnessAlarm as exc:
        same = previous is not None and new.size == previous.size
        return alarm(exc, same and not isinstance(exc, RollbackAlarm), new.size)
    return _keep_txn(conn, peer, new, signed, cosigned.cosignature, timestamp, now)


def _keep_txn(
    conn: Connection, peer: str, new: Checkpoint, signed: str, cosignature: str, timestamp: int, now: Any
) -> WitnessOutcome:
    """Make ``new`` the checkpoint of ``peer`` cosigned last, and keep it by its size."""
    values = {
        "size": new.size,
        "root": new.root,
        "note": signed,
        "cosignature": cosignature,
        "timestamp": timestamp,
        "witnessed_at": now,
    }
    conn.execute(update(witness_state).where(witness_state.c.peer == peer).values(**values))
    seen = conn.execute(
        select(witnessed_checkpoints.c.size).where(
            witnessed_checkpoints.c.peer == peer, witnessed_checkpoints.c.size == new.size
        )
    ).first()
    if seen is None:
        conn.execute(insert(witnessed_checkpoints).values(peer=peer, **values))
    return WitnessOutcome(size=new.size, cosignature=cosignature)


# -- the exchange: requester ----------------------------------------------------------------


def _b64_list(hashes: list[bytes]) -> list[str]:
    return [b64(h) for h in hashes]


def _proof_from(conn: Connection, size1: int, size2: int) -> list[bytes]:
    """The consistency proof ``size1`` → ``size2``, or none when the log is smaller than size1.

    An empty proof for a shrunken log is what an honest node can say; the witness on the
    other side then raises its rollback alarm.
    """
    if size1 > size2:
        return []
    return log.consistency_proof(conn, size1, size2)


def prepare_request(
    node: Node, peer: str, from_size: int | None = None, from_root: bytes | None = None
) -> dict[str, Any]:
    """The body of ``POST /checkpoint`` to ``peer`` (signs a new checkpoint if the log grew).

    ``from_size`` (and ``from_root``) is what the peer said it last cosigned; if this node's
    log cannot prove consistency from there (it was restored from a backup), the body
    carries a restart notice and the proof starts where the notice says."""
    restart = None
    with node.engine.begin() as conn:
        own, note = own_checkpoint_txn(conn, node)
        if from_size is None:
            # What the peer last cosigned of ours is, as far as we know, what it last saw.
            known = conn.execute(
                select(func.max(record_cosignatures.c.size)).where(record_cosignatures.c.cosigner == peer)
            ).scalar()
            from_size = int(known or 0)
        elif diverged_txn(conn, from_size, from_root):
            restart = make_notice_txn(conn, node, peer, from_size)
            from_size = int(restart["notice"]["kept_size"])
        proof = _proof_from(conn, from_size, own.size)
        state = conn.execute(select(witness_state).where(witness_state.c.peer == peer)).first()
    last, theirs = 0, None
    if state is not None and state.size is not None:
        last = int(state.size)
        theirs = {"size": last, "cosignature": str(state.cosignature)}
    body = {
        "checkpoint": note,
        "from_size": from_size,
        "proof": _b64_list(proof),
        "your_last_size": last,
        "your_cosignature": theirs,
    }
    if restart is not None:
        body["restart"] = restart
    return body


@dataclass(frozen=True)
class ExchangeResult:
    """One exchange seen from the requester."""

    peer: str
    own_size: int
    cosigned_by_peer: bool
    peer_size: int | None
    alarm: str | None = None
    message: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def accept_response(node: Node, peer: str, request: dict[str, Any], response: Any) -> ExchangeResult:
    """Requester side: keep the peer's cosignature, then witness the peer's checkpoint."""
    body = _parse_response(response)
    own = Checkpoint.parse(parse_note(request["checkpoint"]).text)
    cosigned = False
    problem: str | None = body["refused"]
    with node.engine.begin() as conn:
        if body["cosignature"] is not None:
            try:
                _store_cosignature_txn(conn, node, peer, own.size, body["cosignature"])
                cosigned = True
            except (CheckpointError, NoteError) as exc:
                problem = f"{peer}'s cosignature is not valid: {exc}"
                logger.warning("%s", problem)
        outcome = witness_txn(
            conn,
            node,
            peer,
            body["checkpoint"],
            body["from_size"],
            body["proof"],
            strict_from=False,
            restart=body.get("restart"),
        )
    return ExchangeResult(
        peer=peer,
        own_size=own.size,
        cosigned_by_peer=cosigned,
        peer_size=outcome.size,
        alarm=outcome.alarm,
        message=outcome.message or problem,
    )


async def exchange_checkpoints(service: Runtime, peer: str) -> ExchangeResult:
    """Post this node's checkpoint to ``peer`` and witness the one it answers with."""
    from parley.federation.client import PeerRefused

    node = service.node
    client = service.client_for(peer)
    request = await service.db(prepare_request, node, peer)
    try:
        response = await client.call("POST", ROUTE, request)
    except PeerRefused as exc:
        details = exc.body.get("details") if isinstance(exc.body, dict) else None
        last = details.get("last_size") if isinstance(details, dict) else None
        if exc.code != MISMATCH or not _is_size(last):
            raise
        request = await service.db(prepare_request, node, peer, last, _root_of(details))
        response = await client.call("POST", ROUTE, request)
    result = await service.db(accept_response, node, peer, request, response)
    if result.alarm:
        service.publish({"event": "alarm", "kind": result.alarm, "peer": peer})
    return result


def _root_of(details: Any) -> bytes | None:
    """The root a ``witness_size_mismatch`` answer names beside ``last_size``, if well formed."""
    value = details.get("last_root") if isinstance(details, dict) else None
    try:
        root = unb64(value) if isinstance(value, str) else b""
    except ValueError:
        return None
    return root if len(root) == merkle.HASH_SIZE else None


# -- the exchange: responder ----------------------------------------------------------------


def _is_size(value: Any) -> bool:
    """A tree size a peer may name: an integer in 0..2^63-1, what a BIGINT column holds."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_INT


def _parse_proof(value: Any, what: str) -> list[bytes]:
    if not isinstance(value, list) or len(value) > MAX_PROOF_HASHES:
        raise UsageError(
            T(
                "{what} must be a list of at most {max_proof_hashes} base64 hashes",
                what=what,
                max_proof_hashes=MAX_PROOF_HASHES,
            ),
            code="malformed_request",
        )
    out = [unb64_hash(item) for item in value]
    if None in out:
        raise UsageError(
            T("{what} holds something that is not a base64 SHA-256 hash", what=what),
            code="malformed_request",
        )
    return [h for h in out if h is not None]


def _parse_note_text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_NOTE_CHARS:
        raise UsageError(T("{what} must be a signed note (text)", what=what), code="malformed_request")
    return value


def _parse_request(payload: Any) -> dict[str, Any]:
    """The requester's body, checked against models.CheckpointBody: every size within
    0..2^63-1 (a 2^64 reached the database and failed there), text and lists bounded."""
    body = check_body(CheckpointBody, payload)
    theirs = body.your_cosignature
    return {
        "checkpoint": body.checkpoint,
        "from_size": body.from_size,
        "proof": _parse_proof(payload["proof"], "proof"),
        "your_last_size": body.your_last_size,
        "your_cosignature": None
        if theirs is None
        else {"size": theirs.size, "cosignature": theirs.cosignature},
        "restart": payload.get("restart"),
    }


def _parse_response(response: Any) -> dict[str, Any]:
    keys = ["checkpoint", "cosignature", "from_size", "proof", "refused"]
    if not isinstance(response, dict) or sorted(k for k in response if k != "restart") != keys:
        raise CheckpointError("the peer's checkpoint answer has the wrong fields")
    if not _is_size(response["from_size"]):
        raise CheckpointError("the peer's from_size is not a size")
    for name in ("cosignature", "refused"):
        if response[name] is not None and not isinstance(response[name], str):
            raise CheckpointError(f"the peer's {name} is not text")
    try:
        proof = _parse_proof(response["proof"], "proof")
        note = _parse_note_text(response["checkpoint"], "checkpoint")
    except UsageError as exc:
        raise CheckpointError(f"the peer's answer is malformed: {exc.message}") from None
    return {**response, "proof": proof, "checkpoint": note}


def answer_checkpoint(node: Node, origin: str, payload: Any) -> dict[str, Any]:
    """Responder side: witness ``origin``'s checkpoint, answer with ours and a proof."""
    body = _parse_request(payload)
    with node.engine.begin() as conn:
        outcome = witness_txn(
            conn,
            node,
            origin,
            body["checkpoint"],
            body["from_size"],
            body["proof"],
            strict_from=True,
            restart=body["restart"],
        )
        if outcome.mismatch is not None:
            details: dict[str, Any] = {"last_size": outcome.mismatch}
            if outcome.mismatch_root is not None:
                details["last_root"] = b64(outcome.mismatch_root)
            raise ConflictError(
                T(
                    "{node_name} last cosigned {origin}'s checkpoint of size {outcome_mismatch}, "
                    "not {body_from_size}",
                    node_name=node.name,
                    origin=origin,
                    outcome_mismatch=outcome.mismatch,
                    body_from_size=body["from_size"],
                ),
                code=MISMATCH,
                hint=T("send the consistency proof from last_size"),
                details=details,
            )
        theirs = body["your_cosignature"]
        since = body["your_last_size"]
        # Whether the peer's cosignature of what it last cosigned holds on our checkpoint of
        # that size. A restored log can grow back to exactly that size with another root:
        # the size alone would then pass for consistent, and the peer would see a fork.
        holds: bool | None = None  # None: the peer sent no cosignature of `since`
        if theirs is not None:
            try:
                _store_cosignature_txn(conn, node, origin, theirs["size"], theirs["cosignature"])
                holds = True if theirs["size"] == since else None
            except (CheckpointError, NoteError) as exc:
                logger.warning("cosignature from %s not kept: %s", origin, exc)
                holds = False if theirs["size"] == since else None
        own, note = own_checkpoint_txn(conn, node)
        restart = None
        if diverged_txn(conn, since, None, cosignature_holds=holds):
            # What the peer cosigned last is not in this log: it was restored from a backup.
            restart = make_notice_txn(conn, node, origin, since)
            since = int(restart["notice"]["kept_size"])
        proof = _proof_from(conn, since, own.size)
    answer = {
        "cosignature": outcome.cosignature,
        "refused": outcome.message if outcome.alarm else None,
        "checkpoint": note,
        "from_size": since,
        "proof": _b64_list(proof),
    }
    if restart is not None:
        answer["restart"] = restart
    return answer


async def post_checkpoint(service: Runtime, origin: str, payload: Any, request: Request) -> Any:
    """``POST /federation/v1/checkpoint`` (see the module docstring)."""
    answer = await service.db(answer_checkpoint, service.node, origin, payload)
    if answer["refused"]:
        service.publish({"event": "alarm", "kind": "record", "peer": origin})
    return answer
