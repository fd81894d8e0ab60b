"""Keys in two levels: a root key certifies operational keys (docs/protocol.md §13).

A node's **root key** (Ed25519, RFC 8032) is kept offline; it signs *key certificates*
(kind ``key-certificate``) for the node's **operational key** and *key records* (kind
``key-record``): a rotation names the old key and carries the new key's certificate, a
revocation names a key and the time from which its signatures are refused. Every document
carries the node's name and a serial, counted per node from 1, so a document can neither be
moved to another node nor replayed after a later one.

A :class:`KeyHistory` is what a verifier holds for one node: the pinned root, every
operational key it has seen certified (key id -> key, valid interval, revocation time) and
the current key. It *is* a :class:`~parley.protocol.keys.PublicKey` (the current key), so
every existing check keeps working; :meth:`KeyHistory.for_signature` resolves the key an
envelope names by key id and refuses it outside its interval or after its revocation, and
:meth:`KeyHistory.verify` accepts a signature by the current key or by an older key that is
not revoked (for signed objects without a key id: receipts, status records, charters).

Times are the one form of §1, compared as strings (fixed width, UTC).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from parley.clock import format_time, parse_time
from parley.errors import VerificationError
from parley.formats.texts import T
from parley.protocol import signing
from parley.protocol.keys import PublicKey, SigningKeyPair

KEY_PROTOCOL = "parley/2"
# A key certified when a node that existed before §13 got its root: its messages from
# before that time were signed by it, so its interval starts at the beginning of time.
EPOCH = "1970-01-01T00:00:00.000Z"
MAX_SERIAL = 2**53 - 1
# A peer controls how many key documents it sends: at most this many per node are kept.
MAX_HISTORY = 256
MAX_REASON = 2000

CERT_FIELDS = ("protocol", "node", "public_key", "key_id", "valid_from", "serial")
CERT_OPTIONAL = ("valid_until",)
ROTATION_FIELDS = ("kind", "protocol", "node", "serial", "old_key_id", "certificate", "effective")
REVOCATION_FIELDS = ("kind", "protocol", "node", "serial", "key_id", "effective", "reason")
STEP = "key"


def _bad(message: Any, code: str = "bad_key_document", hint: Any = "") -> VerificationError:
    return VerificationError(STEP, message, code=code, hint=hint, http_status=403)


def _time(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise _bad(T("{what} must be a time string", what=what))
    try:
        canonical = format_time(parse_time(value))
    except (ValueError, OverflowError):
        canonical = ""
    if canonical != value:
        raise _bad(
            T(
                "{what} {value!r} is not a UTC time of the form 2026-03-02T06:15:00.000Z",
                what=what,
                value=value,
            )
        )
    return value


def _serial(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_SERIAL:
        raise _bad(T("serial must be an integer from 1 to {max_serial}", max_serial=MAX_SERIAL))
    return value


# -- certificates -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificate:
    node: str
    public: PublicKey
    valid_from: str
    valid_until: str | None
    serial: int
    doc: dict[str, Any]

    @property
    def key_id(self) -> str:
        return self.public.key_id


def make_cert(
    node: str, public: PublicKey, *, valid_from: str, serial: int, valid_until: str | None = None
) -> dict[str, Any]:
    cert: dict[str, Any] = {
        "protocol": KEY_PROTOCOL,
        "node": node,
        "public_key": public.b64,
        "key_id": public.key_id,
        "valid_from": valid_from,
        "serial": serial,
    }
    if valid_until is not None:
        cert["valid_until"] = valid_until
    return cert


def sign_cert(cert: dict[str, Any], root: SigningKeyPair) -> dict[str, Any]:
    return {"cert": cert, "signature": signing.sign("key-certificate", cert, root)}


def parse_cert(doc: Any, root: PublicKey, *, node: str, now: str | None = None) -> Certificate:
    """Check a certificate's form and root signature; with ``now``, that it has not expired."""
    if not isinstance(doc, dict) or sorted(doc) != ["cert", "signature"]:
        raise _bad(T("a key certificate is a JSON object with exactly 'cert' and 'signature'"))
    cert = doc["cert"]
    if not isinstance(cert, dict):
        raise _bad(T("'cert' must be a JSON object"))
    keys = set(cert)
    if not set(CERT_FIELDS) <= keys or not keys <= set(CERT_FIELDS) | set(CERT_OPTIONAL):
        raise _bad(
            T(
                "a certificate has exactly the fields {fields} and optionally valid_until",
                fields=", ".join(CERT_FIELDS),
            )
        )
    if cert["protocol"] != KEY_PROTOCOL:
        raise _bad(
            T(
                "certificate speaks {protocol!r}, not {key_protocol}",
                protocol=cert["protocol"],
                key_protocol=KEY_PROTOCOL,
            )
        )
    if cert["node"] != node:
        raise _bad(T("certificate is for {cert_node!r}, not {node!r}", cert_node=cert["node"], node=node))
    serial = _serial(cert["serial"])
    valid_from = _time(cert["valid_from"], "valid_from")
    valid_until = _time(cert["valid_until"], "valid_until") if "valid_until" in cert else None
    if valid_until is not None and valid_until <= valid_from:
        raise _bad(T("certificate ends before it begins"))
    try:
        public = PublicKey.from_b64(cert["public_key"]) if isinstance(cert["public_key"], str) else None
    except ValueError:
        public = None
    if public is None or public.key_id != cert["key_id"]:
        raise _bad(T("certificate's public key is not a base64 Ed25519 key with that key id"))
    if not isinstance(doc["signature"], str) or not signing.verify(
        "key-certificate", cert, doc["signature"], root
    ):
        raise _bad(
            T(
                "certificate of key {key_id} is not signed by {node}'s root key {root_id}",
                key_id=public.key_id,
                node=node,
                root_id=root.key_id,
            ),
            code="bad_root_signature",
            hint=T(
                "the document was altered, or signed by another root than the one pinned for {node}",
                node=node,
            ),
        )
    if now is not None and valid_until is not None and valid_until <= now:
        raise _bad(
            T(
                "certificate of key {key_id} expired at {valid_until}",
                key_id=public.key_id,
                valid_until=valid_until,
            ),
            code="certificate_expired",
            hint=T("certify a new operational key: `parley key rotate`"),
        )
    return Certificate(node, public, valid_from, valid_until, serial, doc)


# -- key records ------------------------------------------------------------------------------


def rotation_record(
    node: str, *, serial: int, old_key_id: str, certificate: dict[str, Any], effective: str
) -> dict[str, Any]:
    return {
        "kind": "key-rotation",
        "protocol": KEY_PROTOCOL,
        "node": node,
        "serial": serial,
        "old_key_id": old_key_id,
        "certificate": certificate,
        "effective": effective,
    }


def revocation_record(node: str, *, serial: int, key_id: str, effective: str, reason: str) -> dict[str, Any]:
    return {
        "kind": "key-revocation",
        "protocol": KEY_PROTOCOL,
        "node": node,
        "serial": serial,
        "key_id": key_id,
        "effective": effective,
        "reason": reason,
    }


def sign_record(record: dict[str, Any], root: SigningKeyPair) -> dict[str, Any]:
    return {"record": record, "signature": signing.sign("key-record", record, root)}


def add_old_signature(doc: dict[str, Any], old: SigningKeyPair) -> dict[str, Any]:
    """The old operational key's countersignature on a rotation, when that key is at hand."""
    return {**doc, "old_signature": signing.sign("key-record", doc["record"], old)}


@dataclass(frozen=True)
class KeyRecord:
    kind: str
    node: str
    serial: int
    effective: str
    doc: dict[str, Any]
    key_id: str  # rotation: the old key; revocation: the revoked key
    certificate: Certificate | None = None
    reason: str = ""


def parse_record(doc: Any, root: PublicKey, *, node: str) -> KeyRecord:
    """Check a key record's form and root signature (not yet against a history)."""
    if (
        not isinstance(doc, dict)
        or not {"record", "signature"} <= set(doc)
        or not set(doc) <= {"record", "signature", "old_signature"}
    ):
        raise _bad(
            T("a key record is a JSON object with 'record', 'signature' and optionally 'old_signature'")
        )
    rec = doc["record"]
    if not isinstance(rec, dict) or rec.get("kind") not in ("key-rotation", "key-revocation"):
        raise _bad(T("'record' must be a key-rotation or key-revocation object"))
    fields = ROTATION_FIELDS if rec["kind"] == "key-rotation" else REVOCATION_FIELDS
    if sorted(rec) != sorted(fields):
        raise _bad(
            T("a {kind} record has exactly the fields {fields}", kind=rec["kind"], fields=", ".join(fields))
        )
    if rec["protocol"] != KEY_PROTOCOL:
        raise _bad(
            T(
                "key record speaks {protocol!r}, not {key_protocol}",
                protocol=rec["protocol"],
                key_protocol=KEY_PROTOCOL,
            )
        )
    if rec["node"] != node:
        raise _bad(
            T("key record is for {rec_node!r}, not {node!r}", rec_node=rec["node"], node=node),
            code="wrong_sender",
        )
    serial = _serial(rec["serial"])
    effective = _time(rec["effective"], "effective")
    if not isinstance(doc["signature"], str) or not signing.verify("key-record", rec, doc["signature"], root):
        raise _bad(
            T(
                "key record {serial} is not signed by {node}'s root key {root_id}",
                serial=serial,
                node=node,
                root_id=root.key_id,
            ),
            code="bad_root_signature",
            hint=T(
                "the document was altered, or signed by another root than the one pinned for {node}",
                node=node,
            ),
        )
    if rec["kind"] == "key-revocation":
        if (
            not isinstance(rec["key_id"], str)
            or not isinstance(rec["reason"], str)
            or len(rec["reason"]) > MAX_REASON
        ):
            raise _bad(
                T("a revocation names a key id and a reason of at most {max} characters", max=MAX_REASON)
            )
        if "old_signature" in doc:
            raise _bad(T("a revocation is signed by the root alone"))
        return KeyRecord("key-revocation", node, serial, effective, doc, rec["key_id"], reason=rec["reason"])
    cert = parse_cert(rec["certificate"], root, node=node)
    if cert.serial != serial or cert.valid_from != effective:
        raise _bad(T("the new certificate must have the rotation's serial and begin at its effective time"))
    if not isinstance(rec["old_key_id"], str):
        raise _bad(T("old_key_id must be a key id"))
    return KeyRecord("key-rotation", node, serial, effective, doc, rec["old_key_id"], certificate=cert)


# -- the history ------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyEntry:
    public: PublicKey
    valid_from: str
    valid_until: str | None
    revoked_at: str | None
    serial: int


class KeyHistory(PublicKey):
    """One node's pinned root and operational keys; as a PublicKey it is the current key."""

    __slots__ = ("current_id", "entries", "node", "root", "serial")

    def __init__(
        self, node: str, root: PublicKey, entries: dict[str, KeyEntry], current_id: str, serial: int
    ) -> None:
        super().__init__(entries[current_id].public.raw)
        self.node = node
        self.root = root
        self.entries = entries
        self.current_id = current_id
        self.serial = serial

    @classmethod
    def start(cls, node: str, root: PublicKey, cert: Certificate) -> KeyHistory:
        entry = KeyEntry(cert.public, cert.valid_from, cert.valid_until, None, cert.serial)
        return cls(node, root, {cert.key_id: entry}, cert.key_id, cert.serial)

    @property
    def current(self) -> PublicKey:
        return self.entries[self.current_id].public

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Any key of the history: for undated objects (charters), which only ever arrive in
        requests signed by the current key; dated ones go through :meth:`dated` first."""
        if self.entries[self.current_id].public.verify(message, signature):
            return True
        return any(
            e.public.verify(message, signature) for kid, e in self.entries.items() if kid != self.current_id
        )

    def dated(self, when: str) -> KeyHistory:
        """This history as it verifies something dated ``when``: without the keys revoked by then."""
        entries = {
            kid: e
            for kid, e in self.entries.items()
            if kid == self.current_id or e.revoked_at is None or e.revoked_at > when
        }
        return KeyHistory(self.node, self.root, entries, self.current_id, self.serial)

    def for_signature(self, key_id: str, created: str) -> PublicKey:
        """The key ``key_id`` if it may have signed something dated ``created`` (step 5)."""
        entry = self.entries.get(key_id)
        if entry is None:
            raise VerificationError(
                "5 key",
                T(
                    "key id {key_id} is not in {node}'s key history (current key {current})",
                    key_id=key_id,
                    node=self.node,
                    current=self.current_id,
                ),
            )
        if entry.revoked_at is not None and created >= entry.revoked_at:
            raise VerificationError(
                "5 key",
                T(
                    "key {key_id} of {node} was revoked from {revoked_at}; this was signed {created}",
                    key_id=key_id,
                    node=self.node,
                    revoked_at=entry.revoked_at,
                    created=created,
                ),
                code="key_revoked",
                http_status=403,
                details={"key_id": key_id, "revoked_at": entry.revoked_at},
                hint=T(
                    "{node}'s root revoked the key: whoever signed this may not be {node}", node=self.node
                ),
            )
        if created < entry.valid_from or (entry.valid_until is not None and created >= entry.valid_until):
            raise VerificationError(
                "5 key",
                T(
                    "key {key_id} of {node} is valid from {valid_from} until {valid_until}; "
                    "this was signed {created}",
                    key_id=key_id,
                    node=self.node,
                    valid_from=entry.valid_from,
                    valid_until=entry.valid_until or "-",
                    created=created,
                ),
                code="key_not_valid",
                http_status=403,
            )
        return entry.public

    def apply(self, record: KeyRecord, *, now: str | None) -> KeyHistory:
        """The history after ``record`` (already checked by :func:`parse_record`); refuse clearly.

        ``now`` checks a new certificate's expiry; None when replaying stored records."""
        if record.serial <= self.serial:
            raise _bad(
                T(
                    "key record {serial} of {node} is older than the last one applied ({last}): a replay",
                    serial=record.serial,
                    node=self.node,
                    last=self.serial,
                ),
                code="key_record_replayed",
            )
        if len(self.entries) >= MAX_HISTORY:
            raise _bad(
                T("{node} has {max} keys in its history; no more are kept", node=self.node, max=MAX_HISTORY),
                code="key_history_full",
            )
        entries = dict(self.entries)
        current = self.current_id
        if record.kind == "key-rotation":
            cert = record.certificate
            assert cert is not None
            if record.key_id != self.current_id:
                raise _bad(
                    T(
                        "rotation replaces key {old}, but {node}'s current key is {current}",
                        old=record.key_id,
                        node=self.node,
                        current=self.current_id,
                    ),
                    code="key_record_stale",
                )
            if cert.key_id in entries:
                raise _bad(
                    T("key {key_id} is already in {node}'s history", key_id=cert.key_id, node=self.node),
                    code="key_record_replayed",
                )
            if now is not None and cert.valid_until is not None and cert.valid_until <= now:
                raise _bad(
                    T(
                        "certificate of key {key_id} expired at {valid_until}",
                        key_id=cert.key_id,
                        valid_until=cert.valid_until,
                    ),
                    code="certificate_expired",
                )
            old = entries[current]
            if record.effective < old.valid_from:
                raise _bad(T("rotation takes effect before the key it replaces began"))
            old_sig = record.doc.get("old_signature")
            if old_sig is not None and not (
                isinstance(old_sig, str)
                and signing.verify("key-record", record.doc["record"], old_sig, old.public)
            ):
                raise _bad(
                    T("the old key's signature on the rotation does not verify"), code="bad_key_signature"
                )
            until = record.effective if old.valid_until is None else min(old.valid_until, record.effective)
            entries[current] = replace(old, valid_until=until)
            entries[cert.key_id] = KeyEntry(cert.public, cert.valid_from, cert.valid_until, None, cert.serial)
            current = cert.key_id
        else:
            target = entries.get(record.key_id)
            if target is None:
                raise _bad(
                    T("key {key_id} is not in {node}'s key history", key_id=record.key_id, node=self.node),
                    code="unknown_key",
                )
            if record.key_id == current:
                raise _bad(
                    T(
                        "key {key_id} is {node}'s current key; rotate it first, then revoke it",
                        key_id=record.key_id,
                        node=self.node,
                    ),
                    code="key_revoke_current",
                    hint=T("run `parley key rotate`, then `parley key revoke`"),
                )
            at = record.effective if target.revoked_at is None else min(target.revoked_at, record.effective)
            entries[record.key_id] = replace(target, revoked_at=at)
        return KeyHistory(self.node, self.root, entries, current, record.serial)

    def describe(self) -> list[dict[str, Any]]:
        return [
            {
                "key_id": kid,
                "public_key": e.public.b64,
                "valid_from": e.valid_from,
                "valid_until": e.valid_until,
                "revoked_at": e.revoked_at,
                "serial": e.serial,
                "current": kid == self.current_id,
            }
            for kid, e in sorted(self.entries.items(), key=lambda kv: kv[1].serial)
        ]


def build_history(
    node: str, root: PublicKey, first_cert: dict[str, Any], records: list[dict[str, Any]]
) -> KeyHistory:
    """Replay a node's documents (a first certificate, then records by serial) into a history."""
    history = KeyHistory.start(node, root, parse_cert(first_cert, root, node=node))
    for doc in records[:MAX_HISTORY]:
        history = history.apply(parse_record(doc, root, node=node), now=None)
    return history


def key_valid_at(public: Any, at: str) -> Any:
    """The retired, unrevoked key of a history whose interval holds ``at`` (None without one)."""
    entries = getattr(public, "entries", None)
    if not isinstance(entries, dict):
        return None
    for kid, e in entries.items():
        if kid == public.current_id or (e.revoked_at is not None and at >= e.revoked_at):
            continue
        if e.valid_from <= at and (e.valid_until is None or at < e.valid_until):
            return e.public
    return None
