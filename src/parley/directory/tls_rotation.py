"""TLS certificate rotation without downtime (docs/protocol.md §13.7, docs/operations.md).

This node's side (``parley tls rotate``, then the serving loop):

1. *announce*: a new certificate and key are written to ``tls/next-cert.pem`` and
   ``tls/next-key.pem`` (the served pair stays), and a TLS update carrying the new card and
   keeping the old fingerprint is stored and queued for every peer (``POST /keys``);
2. *switch*: once every peer has acknowledged it, the served pair is kept as
   ``tls/previous-*.pem``, the new pair becomes ``tls/cert.pem``/``tls/key.pem`` and the
   running server loads it into its live ``SSLContext`` (RFC 8446 handshakes that start
   afterwards get the new certificate; open connections finish on the old one);
3. *finish*: a second update keeping nothing is queued, so peers drop the old pin.

Each step is recomputed from the files and the database on every tick, so a crash between
two of them is finished by the next tick or start. A peer's side (``apply_tls_update``)
checks an update against the key it pinned and sets the certificates its client trusts.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from parley.clock import format_time
from parley.directory.key_tables import key_roots
from parley.directory.tls_tables import tls_pins, tls_updates
from parley.errors import ConflictError, RefusedError, UsageError, VerificationError
from parley.formats.texts import T
from parley.node import TLS_CERT, TLS_KEY, Node, parse_listen
from parley.protocol import tlsupdate
from parley.protocol.canonical import canonical_bytes, loads_strict
from parley.protocol.card import IdentityCard, parse_card
from parley.protocol.keys import PublicKey
from parley.storage.tables import control_outbox, peers

log = logging.getLogger("parley.tls")

NEXT_CERT = "tls/next-cert.pem"
NEXT_KEY = "tls/next-key.pem"
PREVIOUS_CERT = "tls/previous-cert.pem"
PREVIOUS_KEY = "tls/previous-key.pem"


# -- pins (a peer's certificates) -------------------------------------------------------------


def pinned_certs_txn(conn: Connection, peer: str) -> dict[str, str]:
    """Fingerprint -> PEM of every certificate pinned for ``peer`` (its card's, without rows)."""
    rows = conn.execute(
        select(tls_pins.c.fingerprint, tls_pins.c.cert)
        .where(tls_pins.c.node == peer)
        .order_by(tls_pins.c.fingerprint)
    ).all()
    if rows:
        return {r.fingerprint: r.cert for r in rows}
    row = conn.execute(select(peers.c.card).where(peers.c.name == peer)).first()
    if row is None:
        return {}
    card = loads_strict(row.card)["card"]  # verified when it was pinned
    return {str(card["tls_fingerprint"]): str(card["tls_cert"])}


def pinned_pem(node: Node, peer: str) -> str:
    """The PEM bundle a client context for ``peer`` trusts (one or, in an overlap, several)."""
    with node.reader.connect() as conn:
        return "".join(pinned_certs_txn(conn, peer).values())


# -- a peer's update ----------------------------------------------------------------------------


def apply_tls_update(node: Node, origin: str, payload: Any) -> bool:
    """``POST /keys`` with a TLS update from ``origin``; True when the pins changed.

    Refused, changing nothing: a malformed update; one not signed by ``origin``'s current
    pinned key, or whose card carries another key or root (security alarm
    ``tls_update_forged``); one numbered at or below the last taken (``tls_update_replayed``);
    one that keeps a certificate not pinned here (``unknown_certificate``)."""
    key = node.key_for(origin)
    with node.reader.connect() as conn:
        row = conn.execute(select(peers).where(peers.c.name == origin)).first()
        root = conn.execute(select(key_roots.c.root_key).where(key_roots.c.node == origin)).scalar()
        held = _held_txn(conn, origin, payload)
    if key is None or row is None:
        raise RefusedError(T("{origin!r} is not a known peer", origin=origin), code="unknown_peer")
    if held:
        # Taken before (its answer was lost): checked then, against the key pinned then.
        return False
    upd, signer = _verified(node, origin, key, payload)
    mismatch = None
    if upd.card.public_key != signer.b64:
        mismatch = T(
            "the card in {origin}'s TLS update carries key {key_id}, not its pinned key {pinned}",
            origin=origin,
            key_id=upd.card.key_id,
            pinned=signer.key_id,
        )
    elif upd.card.root_key != root:
        mismatch = T(
            "the card in {origin}'s TLS update carries another root key than the one pinned", origin=origin
        )
    if mismatch is not None:
        refused = RefusedError(
            mismatch, code="key_mismatch", hint=T("ask {origin}'s operators out of band", origin=origin)
        )
        _alarm_forged(node, origin, refused)
        raise refused
    if upd.card.url != row.url or upd.card.party != row.party:
        raise RefusedError(
            T("a TLS update changes only the certificate; its card names another address or party"),
            code="card_mismatch",
            hint=T("a new address is a new card, handed over out of band (`parley peer add`)"),
        )
    with node.engine.begin() as conn:
        raw = canonical_bytes(upd.doc).decode()
        last = conn.execute(
            select(func.max(tls_updates.c.number)).where(tls_updates.c.node == origin)
        ).scalar()
        if last is not None and upd.number <= last:
            raise ConflictError(
                T(
                    "{origin}'s TLS update number {number} is not after the last one taken ({last})",
                    origin=origin,
                    number=upd.number,
                    last=last,
                ),
                code="tls_update_replayed",
            )
        pinned = pinned_certs_txn(conn, origin)
        unknown = [fp for fp in upd.keep if fp not in pinned]
        if unknown:
            raise RefusedError(
                T(
                    "{origin}'s TLS update keeps certificate {fp}, which is not pinned here",
                    origin=origin,
                    fp=unknown[0],
                ),
                code="unknown_certificate",
            )
        now = node.clock.now()
        conn.execute(delete(tls_pins).where(tls_pins.c.node == origin))
        keep = {upd.card.tls_fingerprint: upd.card.tls_cert} | {fp: pinned[fp] for fp in upd.keep}
        for fp, pem in keep.items():
            conn.execute(insert(tls_pins).values(node=origin, fingerprint=fp, cert=pem, pinned_at=now))
        conn.execute(insert(tls_updates).values(node=origin, number=upd.number, raw=raw, received_at=now))
        conn.execute(
            update(peers)
            .where(peers.c.name == origin)
            .values(
                tls_fingerprint=upd.card.tls_fingerprint, card=canonical_bytes(upd.card.to_json()).decode()
            )
        )
    return True


def _verified(node: Node, origin: str, key: PublicKey, payload: Any) -> tuple[tlsupdate.TlsUpdate, PublicKey]:
    """The update checked with ``origin``'s current key, or the unrevoked key valid at its
    ``issued`` time (made just before a rotation dated ahead took over, §13.4); the key."""
    from parley.protocol.keyhistory import key_valid_at

    current: PublicKey = getattr(key, "current", key)
    body = payload.get("tls_update") if isinstance(payload, dict) else None
    issued = body.get("issued") if isinstance(body, dict) else None
    earlier = key_valid_at(key, issued) if isinstance(issued, str) else None
    try:
        return tlsupdate.parse_update(payload, node=origin, key=current), current
    except VerificationError as exc:
        if exc.code != "bad_tls_update_signature":
            raise
        if earlier is not None:
            try:
                return tlsupdate.parse_update(payload, node=origin, key=earlier), earlier
            except VerificationError as again:
                if again.code != "bad_tls_update_signature":
                    raise
        _alarm_forged(node, origin, exc)
        raise


def _held_txn(conn: Connection, origin: str, payload: Any) -> bool:
    """Whether exactly this document is already held for ``origin``."""
    body = payload.get("tls_update") if isinstance(payload, dict) else None
    number = body.get("number") if isinstance(body, dict) else None
    if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= tlsupdate.MAX_NUMBER:
        return False  # out of a column's range: parse_update refuses it
    try:
        raw = canonical_bytes(payload).decode()
    except (TypeError, ValueError):
        return False  # not canonicalizable: parse_update says what is wrong with it
    held = conn.execute(
        select(tls_updates.c.raw).where(tls_updates.c.node == origin, tls_updates.c.number == number)
    ).first()
    return held is not None and held.raw == raw


def _alarm_forged(node: Node, origin: str, exc: Any) -> None:
    from parley.storage.alarms import raise_alarm_txn

    with node.engine.begin() as conn:
        raise_alarm_txn(conn, "tls_update_forged", origin, node.clock.now(), once=True, peer=origin)
    log.warning("refused a TLS update from %s: %s", origin, exc.message)


def forget_pins_txn(conn: Connection, peer: str) -> None:
    """``parley peer remove``: the pins and updates go with the peer."""
    conn.execute(delete(tls_pins).where(tls_pins.c.node == peer))
    conn.execute(delete(tls_updates).where(tls_updates.c.node == peer))


# -- this node's rotation -----------------------------------------------------------------------


@dataclass(frozen=True)
class Rotation:
    """Where this node's certificate rotation stands (``parley tls status``)."""

    phase: str  # "none", "announced", "switched" (old pins being dropped) or "done"
    number: int
    serving: str  # the fingerprint of tls/cert.pem
    new: str | None  # the announced certificate's fingerprint
    waiting_for: list[str]  # peers that have not acknowledged the latest update
    errors: dict[str, str]  # their last refusal or failure

    def to_json(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "number": self.number,
            "serving": self.serving,
            "new": self.new,
            "waiting_for": self.waiting_for,
            "errors": self.errors,
        }


def _fingerprint(path: Path) -> str:
    from parley.protocol.tls import fingerprint_of_pem

    return fingerprint_of_pem(path.read_bytes())


def latest_own_update(conn: Connection, node: Node) -> tlsupdate.TlsUpdate | None:
    row = conn.execute(
        select(tls_updates.c.raw)
        .where(tls_updates.c.node == node.name)
        .order_by(tls_updates.c.number.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    doc = loads_strict(row.raw)
    body = doc["tls_update"]
    # Our own stored update: read, not re-verified (the key that signed it may have rotated since).
    return tlsupdate.TlsUpdate(
        node.name, body["number"], body["issued"], parse_card(body["card"]), tuple(body["keep"]), doc
    )


def _undelivered(conn: Connection, doc: dict[str, Any]) -> dict[str, str]:
    rows = conn.execute(
        select(control_outbox.c.peer, control_outbox.c.last_error).where(
            control_outbox.c.kind == "key",
            control_outbox.c.delivered_at.is_(None),
            control_outbox.c.payload == json.dumps(doc, ensure_ascii=False),
        )
    ).all()
    return {r.peer: r.last_error or "" for r in rows}


def _own_card(node: Node, pem: str) -> IdentityCard:
    """This node's card with the certificate ``pem`` (its key, root and address unchanged)."""
    return node.card(pem)


def _queue_update_txn(conn: Connection, node: Node, card: IdentityCard, keep: list[str]) -> dict[str, Any]:
    from parley.directory.control_outbox import queue_control_txn

    last = conn.execute(
        select(func.max(tls_updates.c.number)).where(tls_updates.c.node == node.name)
    ).scalar()
    now = node.clock.now()
    # Signed by the key that signed the card: the one valid now (§13.4).
    doc = tlsupdate.make_update(
        node.signing_key(now), card, number=int(last or 0) + 1, issued=format_time(now), keep=keep
    )
    # Stored and queued in canonical member order, so the queued text can be found again.
    doc = dict(loads_strict(canonical_bytes(doc)))
    conn.execute(
        insert(tls_updates).values(
            node=node.name,
            number=doc["tls_update"]["number"],
            raw=canonical_bytes(doc).decode(),
            received_at=node.clock.now(),
        )
    )
    names = [r.name for r in conn.execute(select(peers.c.name).order_by(peers.c.name))]
    queue_control_txn(conn, node, names, "key", doc)
    return doc


def rotation_status(node: Node) -> Rotation:
    serving = _fingerprint(node.home / TLS_CERT)
    with node.reader.connect() as conn:
        latest = latest_own_update(conn, node)
        waiting = {} if latest is None else _undelivered(conn, latest.doc)
    if latest is None:
        return Rotation("none", 0, serving, None, [], {})
    phase = "announced" if latest.keep else "switched" if waiting else "done"
    new = latest.card.tls_fingerprint
    errors = {p: e for p, e in waiting.items() if e}
    return Rotation(phase, latest.number, serving, new, sorted(waiting), errors)


def start_rotation(node: Node) -> Rotation:
    """``parley tls rotate``: a new certificate, announced to every peer; the old one still served."""
    from parley.protocol.tls import make_self_signed, write_private

    home = node.home
    with node.reader.connect() as conn:
        latest = latest_own_update(conn, node)
    if latest is not None and latest.keep:
        raise ConflictError(
            T("a TLS certificate rotation is already under way (update {number})", number=latest.number),
            code="tls_rotation_pending",
            hint=T("`parley tls status` shows which peers have not acknowledged it yet"),
        )
    for leftover in (NEXT_CERT, NEXT_KEY):
        if (home / leftover).exists():
            raise ConflictError(
                T("{path} is left from an interrupted rotation", path=home / leftover),
                code="tls_rotation_leftover",
                hint=T(
                    "delete {cert} and {key}, then run `parley tls rotate` again",
                    cert=home / NEXT_CERT,
                    key=home / NEXT_KEY,
                ),
            )
    host, _ = parse_listen(node.config.node.listen)
    cert_pem, key_pem = make_self_signed(host, node.name)
    old_fp = _fingerprint(home / TLS_CERT)
    card = _own_card(node, cert_pem.decode())
    # The key first: a certificate without its key is never left as the next pair.
    write_private(home / NEXT_KEY, key_pem)
    try:
        tmp = home / (NEXT_CERT + ".tmp")
        tmp.write_bytes(cert_pem)
        os.replace(tmp, home / NEXT_CERT)
        with node.engine.begin() as conn:
            _queue_update_txn(conn, node, card, [old_fp])
    except BaseException:
        for leftover in (NEXT_CERT, NEXT_KEY):
            (home / leftover).unlink(missing_ok=True)
        raise
    return rotation_status(node)


def switch_if_acknowledged(node: Node) -> bool:
    """Serve the announced certificate once every peer has it; True when the served files
    are the new pair and the finishing update is not yet queued (the caller reloads the
    server's context, then calls ``finish_switch``)."""
    home = node.home
    with node.reader.connect() as conn:
        latest = latest_own_update(conn, node)
        if latest is None or not latest.keep:
            return False
        waiting = _undelivered(conn, latest.doc)
    new_fp = latest.card.tls_fingerprint
    if _fingerprint(home / TLS_CERT) == new_fp and not (home / NEXT_KEY).exists():
        return True  # switched before a crash, not yet finished
    if waiting:
        return False
    if not (home / NEXT_CERT).exists() or not (home / NEXT_KEY).exists():
        raise UsageError(
            T("the announced certificate {fp} is not in {path}", fp=new_fp, path=home / NEXT_CERT),
            code="tls_next_missing",
            hint=T("restore tls/next-cert.pem and tls/next-key.pem from where they were copied"),
        )
    if _fingerprint(home / NEXT_CERT) != new_fp:
        raise UsageError(
            T("{path} is not the announced certificate {fp}", path=home / NEXT_CERT, fp=new_fp),
            code="tls_next_missing",
        )
    _replace_pair(home)
    return True


def _replace_pair(home: Path) -> None:
    """previous <- served <- next. The served key is replaced before the certificate, and
    ``finish_interrupted_switch`` completes a pair a crash left half replaced."""
    import shutil

    shutil.copyfile(home / TLS_KEY, home / (PREVIOUS_KEY + ".tmp"))
    os.chmod(home / (PREVIOUS_KEY + ".tmp"), 0o600)
    os.replace(home / (PREVIOUS_KEY + ".tmp"), home / PREVIOUS_KEY)
    shutil.copyfile(home / TLS_CERT, home / (PREVIOUS_CERT + ".tmp"))
    os.replace(home / (PREVIOUS_CERT + ".tmp"), home / PREVIOUS_CERT)
    os.replace(home / NEXT_KEY, home / TLS_KEY)
    os.replace(home / NEXT_CERT, home / TLS_CERT)


def finish_interrupted_switch(home: Path) -> bool:
    """Before serving: a crash between the two renames left the new key with the old certificate."""
    if not (home / NEXT_CERT).exists() or (home / NEXT_KEY).exists():
        return False
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate((home / NEXT_CERT).read_bytes())
    key = serialization.load_pem_private_key((home / TLS_KEY).read_bytes(), password=None)
    raw = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if cert.public_key().public_bytes(der, raw) != key.public_key().public_bytes(der, raw):
        return False
    os.replace(home / NEXT_CERT, home / TLS_CERT)
    return True


def finish_switch(node: Node) -> dict[str, Any] | None:
    """Queue the update that keeps nothing: peers drop the old pin. None when already done."""
    with node.engine.begin() as conn:
        latest = latest_own_update(conn, node)
        if latest is None or not latest.keep:
            return None
        pem = (node.home / TLS_CERT).read_text()
        if latest.card.tls_fingerprint != _fingerprint(node.home / TLS_CERT):
            return None
        return _queue_update_txn(conn, node, _own_card(node, pem), [])


def reload_paths(home: Path) -> tuple[Path, Path]:
    return home / TLS_CERT, home / TLS_KEY
