"""Key history of this node and its peers (docs/protocol.md §13, docs/operations.md "Key rotation").

This node's own root key never has to be on the serving machine: every change is a
*request* written here (``parley key … --request``), signed where the root is
(``parley key sign-request``) and installed here (``--apply``). With ``--root FILE`` the
three steps run in one go. A rotation or revocation is stored, applied to this node's own
history and queued for every peer as a control document (``POST /federation/v1/keys``);
a peer checks it against the root it pinned and keeps every earlier key, so everything
signed before still verifies.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select, update

from parley.clock import format_time
from parley.directory.key_tables import key_records, key_roots
from parley.errors import ConflictError, RefusedError, UsageError
from parley.formats.texts import T
from parley.node import KEY_FILE, Node
from parley.protocol import keyhistory as kh
from parley.protocol.canonical import canonical_bytes, loads_strict
from parley.protocol.keys import PublicKey, SigningKeyPair
from parley.storage.tables import envelopes, peers

PENDING_KEY_FILE = "identity.key.pending"
REQUEST_KIND = "parley-key-request"
ACTIONS = ("certify", "rotate", "revoke")


# -- reading histories ------------------------------------------------------------------------


def history_documents_txn(conn: Connection, name: str) -> dict[str, Any] | None:
    """``{"root_key", "certificate", "records"}`` for ``name``, or None without a root."""
    row = conn.execute(select(key_roots).where(key_roots.c.node == name)).first()
    if row is None:
        return None
    raws = conn.execute(
        select(key_records.c.raw).where(key_records.c.node == name).order_by(key_records.c.serial)
    ).all()
    return {
        "root_key": row.root_key,
        "certificate": loads_strict(row.first_certificate),
        "records": [loads_strict(r.raw) for r in raws],
    }


def history_from_documents(name: str, docs: dict[str, Any]) -> kh.KeyHistory:
    root = PublicKey.from_b64(docs["root_key"])
    return kh.build_history(name, root, docs["certificate"], docs["records"])


def load_history_txn(conn: Connection, name: str) -> kh.KeyHistory | None:
    docs = history_documents_txn(conn, name)
    return None if docs is None else history_from_documents(name, docs)


def current_certificate(docs: dict[str, Any]) -> dict[str, Any]:
    """The signed certificate of the current key: the newest rotation's, else the first."""
    cert: dict[str, Any] = docs["certificate"]
    for doc in docs["records"]:
        if doc["record"]["kind"] == "key-rotation":
            cert = doc["record"]["certificate"]
    return cert


def own_history(node: Node) -> kh.KeyHistory | None:
    with node.reader.connect() as conn:
        return load_history_txn(conn, node.name)


# -- the root key file ------------------------------------------------------------------------


def init_root(out: Path) -> SigningKeyPair:
    """Make a root key in ``out`` (mode 0600, never overwritten)."""
    if out.exists():
        raise ConflictError(
            T("{out} already exists; a root key is never overwritten", out=out),
            hint=T("choose another --out"),
        )
    root = SigningKeyPair.generate()
    root.save(out)
    return root


def load_root(path: Path) -> SigningKeyPair:
    try:
        return SigningKeyPair.load(path)
    except FileNotFoundError:
        raise UsageError(T("root key file {path} does not exist", path=path)) from None
    except PermissionError:
        raise UsageError(
            T("root key file {path} is readable by others", path=path),
            hint=T("run: chmod 600 {path}", path=path),
        ) from None
    except ValueError as exc:
        raise UsageError(T("{path} is not a root key file: {exc}", path=path, exc=exc)) from None


def check_root_outside(home: Path, root_file: Path) -> None:
    """The root is kept off the serving home: refuse a root file inside it."""
    if root_file.resolve().is_relative_to(home.resolve()):
        raise UsageError(
            T("the root key must not be kept in the node's home {home}", home=home),
            hint=T("write it to removable media or another machine: --out /media/…/root.key"),
        )


# -- requests (written on the serving machine) ------------------------------------------------


def _not_running(node: Node) -> None:
    from parley.node_running import serving

    if serving(node.home).running:
        raise ConflictError(
            T("{node_name} is running; its key is changed while it is stopped", node_name=node.name),
            code="node_running",
            hint=T("stop `parley serve`, change the key, then start it again"),
        )


def _now(node: Node) -> str:
    return format_time(node.clock.now())


def request_certify(node: Node) -> dict[str, Any]:
    """Certify the existing key (the migration of a node made before §13)."""
    if own_history(node) is not None:
        raise ConflictError(
            T("{node_name} already has a root key", node_name=node.name),
            hint=T("use `parley key rotate` to change the operational key"),
        )
    cert = kh.make_cert(node.name, node.key.public, valid_from=kh.EPOCH, serial=1)
    return {"key_request": {"kind": REQUEST_KIND, "action": "certify", "node": node.name, "cert": cert}}


def _require_history(node: Node) -> kh.KeyHistory:
    history = own_history(node)
    if history is None:
        raise UsageError(
            T("{node_name} has no root key yet", node_name=node.name),
            code="no_root",
            hint=T("make one with `parley key root init --out FILE`, then `parley key certify --root FILE`"),
        )
    return history


def request_rotate(node: Node, effective: str | None = None) -> dict[str, Any]:
    """A new operational key (kept here, as identity.key.pending) and its unsigned rotation.

    ``effective``: a time ahead, from which the new key signs; then the node may keep
    serving, and takes the key up at that time (parley.directory.key_swap)."""
    if effective is None:
        _not_running(node)
    else:
        from parley.directory.key_swap import check_ahead

        effective = check_ahead(node, kh._time(effective, "--effective"), at_request=True)
    history = _require_history(node)
    pending = node.home / PENDING_KEY_FILE
    if pending.exists():
        raise ConflictError(
            T("a rotation is already pending ({pending})", pending=pending),
            hint=T(
                "apply its signed request with `parley key rotate --apply`, or delete the file to start over"
            ),
        )
    new = SigningKeyPair.generate()
    new.save(pending)
    effective = effective or _now(node)
    serial = history.serial + 1
    cert = kh.make_cert(node.name, new.public, valid_from=effective, serial=serial)
    record = kh.rotation_record(
        node.name, serial=serial, old_key_id=history.current_id, certificate=cert, effective=effective
    )
    return {
        "key_request": {
            "kind": REQUEST_KIND,
            "action": "rotate",
            "node": node.name,
            "root_key_id": history.root.key_id,
            "record": record,
        }
    }


def request_revoke(node: Node, key_id: str, effective: str, reason: str) -> dict[str, Any]:
    history = _require_history(node)
    effective = kh._time(effective, "--effective")
    record = kh.revocation_record(
        node.name, serial=history.serial + 1, key_id=key_id, effective=effective, reason=reason
    )
    # Checked now, so a request that cannot apply is never carried to the root.
    history.apply(
        kh.KeyRecord("key-revocation", node.name, history.serial + 1, effective, {}, key_id), now=None
    )
    return {
        "key_request": {
            "kind": REQUEST_KIND,
            "action": "revoke",
            "node": node.name,
            "root_key_id": history.root.key_id,
            "record": record,
        }
    }


# -- signing (where the root is) --------------------------------------------------------------


@dataclass(frozen=True)
class SignedRequest:
    action: str
    node: str
    document: dict[str, Any]


def sign_request(root: SigningKeyPair, data: Any) -> SignedRequest:
    """Sign a request file with the root; refuse anything that is not one."""
    req = data.get("key_request") if isinstance(data, dict) and sorted(data) == ["key_request"] else None
    if not isinstance(req, dict) or req.get("kind") != REQUEST_KIND or req.get("action") not in ACTIONS:
        raise UsageError(
            T("not a key request: expected the file written by `parley key … --request`"),
            code="bad_key_request",
        )
    node = req.get("node")
    if not isinstance(node, str):
        raise UsageError(T("the key request names no node"), code="bad_key_request")
    action = str(req["action"])
    if action != "certify" and req.get("root_key_id") != root.public.key_id:
        raise UsageError(
            T(
                "this request is for root key {wanted}; this root key is {root_id}",
                wanted=req.get("root_key_id"),
                root_id=root.public.key_id,
            ),
            code="wrong_root",
            hint=T("sign it with {node}'s root key file", node=node),
        )
    if action == "certify":
        cert = req.get("cert")
        doc = {"root_key": root.public.b64, "certificate": kh.sign_cert(cert, root)}  # type: ignore[arg-type]
        kh.parse_cert(doc["certificate"], root.public, node=node)
        return SignedRequest(action, node, doc)
    record = req.get("record")
    if not isinstance(record, dict):
        raise UsageError(T("the key request carries no record"), code="bad_key_request")
    if action == "rotate":
        record = {**record, "certificate": kh.sign_cert(record.get("certificate"), root)}  # type: ignore[arg-type]
    signed = kh.sign_record(record, root)
    kh.parse_record(signed, root.public, node=node)  # what is signed must be well formed
    return SignedRequest(action, node, signed)


# -- applying (on the serving machine) --------------------------------------------------------


def _peer_names(conn: Connection) -> list[str]:
    return [r.name for r in conn.execute(select(peers.c.name).order_by(peers.c.name))]


def apply_signed(node: Node, doc: Any) -> tuple[str, bool]:
    """Install a signed request for this node; return (action, changed)."""
    from parley.directory.control_outbox import queue_control_txn

    if not isinstance(doc, dict):
        raise UsageError(T("not a signed key request"), code="bad_key_request")
    now = _now(node)
    if "root_key" in doc:
        try:
            root = PublicKey.from_b64(doc["root_key"])
        except (ValueError, TypeError):
            raise UsageError(T("root_key is not a base64 Ed25519 key"), code="bad_key_request") from None
        cert = kh.parse_cert(doc.get("certificate"), root, node=node.name, now=now)
        if cert.public != node.key.public:
            raise RefusedError(
                T(
                    "this certificate is for key {key_id}, not this node's key {own}",
                    key_id=cert.key_id,
                    own=node.key.public.key_id,
                ),
                code="key_mismatch",
            )
        with node.engine.begin() as conn:
            row = conn.execute(select(key_roots).where(key_roots.c.node == node.name)).first()
            if row is not None:
                if row.root_key == root.b64:
                    return "certify", False
                raise ConflictError(T("{node_name} already has another root key", node_name=node.name))
            conn.execute(
                insert(key_roots).values(
                    node=node.name,
                    root_key=root.b64,
                    root_key_id=root.key_id,
                    first_certificate=canonical_bytes(cert.doc).decode(),
                    pinned_at=node.clock.now(),
                )
            )
            # The upgraded card is signed by the key every peer pinned: that is why they take it.
            queue_control_txn(conn, node, _peer_names(conn), "key", _card_with_root(node, root, cert.doc))
        node.forget_key_cache()
        return "certify", True
    history = _require_history(node)
    record = kh.parse_record(doc, history.root, node=node.name)
    raw = canonical_bytes(doc).decode()
    with node.reader.connect() as conn:
        held = conn.execute(
            select(key_records.c.raw).where(
                key_records.c.node == node.name, key_records.c.serial == record.serial
            )
        ).first()
    if held is not None and loads_strict(held.raw)["record"] == doc["record"]:
        return record.kind, False
    new_key: SigningKeyPair | None = None
    # A rotation dated ahead is installed while the node serves; it takes the key up then.
    ahead = record.kind == "key-rotation" and record.effective > now
    if record.kind == "key-rotation":
        if ahead:
            from parley.directory.key_swap import check_ahead

            check_ahead(node, record.effective, at_request=False)
        else:
            _not_running(node)
        pending = node.home / PENDING_KEY_FILE
        if not pending.exists():
            raise UsageError(
                T("no pending key ({pending}): this rotation was not requested here", pending=pending),
                hint=T("apply it on the machine that ran `parley key rotate --request`"),
            )
        new_key = SigningKeyPair.load(pending)
        assert record.certificate is not None
        if new_key.public != record.certificate.public:
            raise RefusedError(
                T(
                    "the signed rotation certifies key {key_id}, not the pending key {pending_id}",
                    key_id=record.certificate.key_id,
                    pending_id=new_key.public.key_id,
                ),
                code="key_mismatch",
            )
        if "old_signature" not in doc and node.key.public.key_id == record.key_id:
            doc = kh.add_old_signature(doc, node.key)
            record = kh.parse_record(doc, history.root, node=node.name)
            raw = canonical_bytes(doc).decode()
    history.apply(record, now=now)
    with node.engine.begin() as conn:
        if record.kind == "key-rotation":
            late = conn.execute(
                select(envelopes.c.id)
                .where(envelopes.c.sender_node == node.name, envelopes.c.created >= record.effective)
                .limit(1)
            ).first()
            if late is not None:
                raise ConflictError(
                    T(
                        "message {message_id} was signed with the old key after the rotation ({effective})",
                        message_id=late.id,
                        effective=record.effective,
                    ),
                    code="rotation_too_late",
                    hint=T(
                        "delete {pending} and make a new request; send nothing between request and apply",
                        pending=PENDING_KEY_FILE,
                    ),
                )
        conn.execute(
            insert(key_records).values(
                node=node.name, serial=record.serial, kind=record.kind, raw=raw, received_at=node.clock.now()
            )
        )
        queue_control_txn(conn, node, _peer_names(conn), "key", doc)
    if new_key is not None and not ahead:
        # After the commit: the record says the pending key is current, so it becomes the key.
        os.replace(node.home / PENDING_KEY_FILE, node.home / KEY_FILE)
        node.key = new_key
    node.forget_key_cache()
    return record.kind, True


def _card_with_root(node: Node, root: PublicKey, certificate: dict[str, Any]) -> dict[str, Any]:
    """``node.card()`` as it is once the root is stored (built here: that is not committed yet)."""
    from parley.protocol.card import make_card
    from parley.protocol.tls import fingerprint_of_pem

    pem = node.tls_cert_pem()
    card = make_card(
        key=node.key,
        name=node.name,
        party=node.config.node.party,
        url=node.config.node.url,
        tls_cert_pem=pem,
        tls_fingerprint=fingerprint_of_pem(pem),
        root_key=root,
        certificate=certificate,
    )
    return card.to_json()


def finish_interrupted_rotation(node: Node) -> bool:
    """Finish a rotation stored but not yet moved into ``identity.key`` (an interrupted --apply)."""
    pending = node.home / PENDING_KEY_FILE
    if not pending.exists():
        return False
    history = own_history(node)
    new = SigningKeyPair.load(pending)
    if history is None or history.current_id != new.public.key_id or node.key.public == new.public:
        return False  # a request not yet applied: the pending key waits for its signed rotation
    if history.entries[new.public.key_id].valid_from > _now(node):
        return False  # a rotation dated ahead: the key is taken up at its time (key_swap)
    os.replace(pending, node.home / KEY_FILE)
    node.key = new
    node.forget_key_cache()
    return True


# -- a peer's documents (over the link, or its card) ------------------------------------------


def pin_card_root_txn(conn: Connection, node: Node, card: Any) -> bool:
    """Pin the root a v2 card carries for its node; False when already pinned, refuse another."""
    if card.root_key is None:
        return False
    row = conn.execute(select(key_roots).where(key_roots.c.node == card.name)).first()
    if row is not None:
        if row.root_key == card.root_key:
            return False
        raise ConflictError(
            T(
                "{name!r} is pinned with root key {pinned}, the card carries {root_id}",
                name=card.name,
                pinned=row.root_key_id,
                root_id=card.root_key_id,
            ),
            code="root_mismatch",
            hint=T("a node's root key never changes; ask {name}'s operators out of band", name=card.name),
        )
    conn.execute(
        insert(key_roots).values(
            node=card.name,
            root_key=card.root_key,
            root_key_id=card.root_key_id,
            first_certificate=canonical_bytes(card.certificate).decode(),
            pinned_at=node.clock.now(),
        )
    )
    return True


def apply_peer_document(node: Node, origin: str, payload: Any) -> bool:
    """``POST /keys``: a peer's upgraded card (its root) or a rotation or revocation record."""
    from parley.protocol.card import parse_card

    if not isinstance(payload, dict):
        raise UsageError(T("a key document is a JSON object"), code="malformed_request")
    if "tls_update" in payload:  # a new TLS pin (§13.7)
        from parley.directory.tls_rotation import apply_tls_update

        return apply_tls_update(node, origin, payload)
    if "card" in payload:
        card = parse_card(payload)
        if card.name != origin or card.root_key is None:
            raise RefusedError(
                T("a card over the link is the deliverer's own, with a root key"), code="wrong_sender"
            )
        with node.engine.begin() as conn:
            row = conn.execute(select(peers).where(peers.c.name == origin)).first()
            if (
                row is None
                or row.public_key != card.public_key
                or row.tls_fingerprint != card.tls_fingerprint
            ):
                raise RefusedError(
                    T("the card's key or certificate is not the one pinned for {origin}", origin=origin),
                    code="key_mismatch",
                )
            changed = pin_card_root_txn(conn, node, card)
            if changed:
                conn.execute(
                    update(peers)
                    .where(peers.c.name == origin)
                    .values(card=canonical_bytes(card.to_json()).decode())
                )
        node.forget_key_cache()
        return changed
    with node.reader.connect() as conn:
        history = load_history_txn(conn, origin)
    if history is None:
        raise RefusedError(
            T("no root key is pinned for {origin}", origin=origin),
            code="no_root_pinned",
            hint=T("{origin} sends its upgraded card first (or `parley peer add` it)", origin=origin),
        )
    record = kh.parse_record(payload, history.root, node=origin)
    with node.engine.begin() as conn:
        held = conn.execute(
            select(key_records.c.raw).where(
                key_records.c.node == origin, key_records.c.serial == record.serial
            )
        ).first()
        if held is not None and loads_strict(held.raw) == payload:
            return False  # delivered again: changes nothing
        new = history.apply(record, now=_now(node))
        conn.execute(
            insert(key_records).values(
                node=origin,
                serial=record.serial,
                kind=record.kind,
                raw=canonical_bytes(payload).decode(),
                received_at=node.clock.now(),
            )
        )
        if record.kind == "key-rotation":
            conn.execute(
                update(peers)
                .where(peers.c.name == origin)
                .values(public_key=new.current.b64, key_id=new.current_id)
            )
    node.forget_key_cache()
    return True


def key_documents_pending(node: Node, peer: str) -> bool:
    """Whether a rotation of this node's key waits to be delivered to ``peer`` (a card or a
    revocation changes nothing this node signs, so those do not hold its answers back)."""
    from parley.storage.tables import control_outbox

    with node.reader.connect() as conn:
        row = conn.execute(
            select(control_outbox.c.id)
            .where(
                control_outbox.c.peer == peer,
                control_outbox.c.kind == "key",
                control_outbox.c.delivered_at.is_(None),
                # queue_control_txn stores json.dumps with its default separators.
                control_outbox.c.payload.contains('"kind": "key-rotation"', autoescape=True),
            )
            .limit(1)
        ).first()
    return row is not None


def rotated_key(payload: Any, root: PublicKey, origin: str) -> PublicKey | None:
    """The new key of ``origin``'s rotation record ``payload`` if it verifies against ``root``."""
    try:
        record = kh.parse_record(payload, root, node=origin)
    except Exception:
        return None
    if record.kind != "key-rotation" or record.certificate is None:
        return None
    return record.certificate.public


def vouching_root(node: Node, origin: str, payload: Any) -> PublicKey | None:
    """The root of ``payload`` if it is ``origin``'s own version 2 card carrying the key pinned
    for it (so signed by that key), else None (§13.4).

    A node that rotates before its upgraded card reached a peer sends that card in a request
    (or a bundle) signed by its new key, which the peer cannot know until the card pins the
    root and the rotation follows: the card vouches for itself, and taking it again changes
    nothing, so whatever key signed what carries it does not matter."""
    from parley.protocol.card import parse_card

    if not isinstance(payload, dict) or "card" not in payload:
        return None
    try:
        card = parse_card(payload)
        with node.reader.connect() as conn:
            pinned = conn.execute(select(peers.c.public_key).where(peers.c.name == origin)).scalar()
    except Exception:
        return None
    if card.name != origin or card.root_key is None or pinned is None or pinned != card.public_key:
        return None
    return PublicKey.from_b64(card.root_key)


def rotation_key_for_request(node: Node, origin: str, body: bytes) -> PublicKey | None:
    """The new key of a rotation posted to ``/keys``, if it verifies against the pinned root.

    The request carrying a rotation is signed by the new key, which the receiver cannot know
    yet; the rotation's root signature is what vouches for it (§13.4)."""
    try:
        payload = loads_strict(body)
        with node.reader.connect() as conn:
            history = load_history_txn(conn, origin)
    except Exception:
        return None
    return None if history is None else rotated_key(payload, history.root, origin)


def card_vouches_for_request(node: Node, origin: str, body: bytes) -> bool:
    """Whether the body posted to ``/keys`` is ``origin``'s own upgraded card with the pinned key
    (see :func:`vouching_root`)."""
    try:
        payload = loads_strict(body)
    except Exception:
        return False
    return vouching_root(node, origin, payload) is not None
