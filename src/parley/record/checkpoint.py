"""Checkpoints, cosignatures and witnessing of a peer's log.

* C2SP tlog-checkpoint (c2sp.org/tlog-checkpoint@v1.0.0): the note text of a signed tree
  head, three lines (origin, decimal tree size, base64 RFC 9162 root) and optional
  extension lines, signed by the log as a C2SP signed note (:mod:`parley.record.note`).
* C2SP tlog-cosignature (c2sp.org/tlog-cosignature@v1.0.0), Ed25519 type ``0x04``: a
  note signature whose bytes are an 8-byte big-endian POSIX ``timestamp`` followed by an
  Ed25519 signature over::

      cosignature/v1
      time <timestamp>
      <checkpoint note text>

  with key ID ``SHA-256(name || 0x0A || 0x04 || public key)[:4]``.
* :class:`Witness` applies the checks of C2SP tlog-witness (c2sp.org/tlog-witness) to a
  counterpart's checkpoint before cosigning it: a valid log signature, no rollback, the
  same root for the same size, and a verifying RFC 9162 consistency proof from the last
  checkpoint it cosigned. Each failure is a distinct :class:`WitnessAlarm`, because a
  counterpart whose history changed is a security incident, not a transient error.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

from parley.protocol.keys import PublicKey, SigningKeyPair
from parley.record import merkle
from parley.record.note import (
    Note,
    NoteError,
    Signature,
    Verifier,
    check_key_name,
    check_text,
    encode_vkey,
    key_id,
    parse_note,
    sign_note,
    split_vkey,
    verify_note,
)

__all__ = [
    "COSIGNATURE_V1",
    "BadSignatureAlarm",
    "Checkpoint",
    "CheckpointError",
    "CosignatureVerifier",
    "Cosigned",
    "InconsistencyAlarm",
    "RollbackAlarm",
    "Witness",
    "WitnessAlarm",
    "cosign",
    "cosignature_message",
    "open_checkpoint",
    "parse_cosigner_vkey",
    "sign_checkpoint",
    "verify_cosignature",
]

COSIGNATURE_V1 = 0x04
MAX_TIMESTAMP = 2**63 - 1


class CheckpointError(Exception):
    """A checkpoint body or cosignature is malformed or does not verify."""


# -- checkpoint body ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A log's tree head: origin, size and RFC 9162 root, plus opaque extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise CheckpointError(f"a checkpoint origin must be one non-empty line: {self.origin!r}")
        if self.size < 0:
            raise CheckpointError(f"a tree size must not be negative: {self.size}")
        if len(self.root) != merkle.HASH_SIZE:
            raise CheckpointError(f"a root hash is {merkle.HASH_SIZE} bytes, not {len(self.root)}")
        if self.size == 0 and self.root != merkle.EMPTY_ROOT:
            raise CheckpointError("a checkpoint of size 0 must carry the empty tree's root")
        for ext in self.extensions:
            if not ext or "\n" in ext:
                raise CheckpointError(f"an extension must be one non-empty line: {ext!r}")

    def body(self) -> str:
        """The note text: origin, size, base64 root and extensions, each ending in a newline."""
        root_b64 = base64.b64encode(self.root).decode("ascii")
        return "".join(f"{line}\n" for line in (self.origin, str(self.size), root_b64, *self.extensions))

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        """Read a checkpoint note text, refusing anything but its one canonical encoding."""
        if not body.endswith("\n"):
            raise CheckpointError("a checkpoint body must end with a newline")
        try:
            check_text(body)
        except NoteError as exc:
            raise CheckpointError(f"bad checkpoint body: {exc}") from None
        lines = body[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointError(f"a checkpoint has at least 3 lines, not {len(lines)}")
        origin, size_line, root_line, *extensions = lines
        if not size_line.isascii() or not size_line.isdigit():
            raise CheckpointError(f"tree size is not a decimal number: {size_line!r}")
        if size_line != str(int(size_line)):
            raise CheckpointError(f"tree size has leading zeroes: {size_line!r}")
        try:
            root = base64.b64decode(root_line, validate=True)
        except (binascii.Error, ValueError):
            raise CheckpointError(f"root hash is not base64: {root_line!r}") from None
        if base64.b64encode(root).decode("ascii") != root_line:
            raise CheckpointError(f"root hash is not canonical base64: {root_line!r}")
        return cls(origin, int(size_line), root, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, keypair: SigningKeyPair, name: str | None = None) -> str:
    """The checkpoint as a signed note, signed with Ed25519 under ``name`` (the origin)."""
    return sign_note(checkpoint.body(), name or checkpoint.origin, keypair)


def open_checkpoint(signed: str | Note, log: Verifier) -> tuple[Checkpoint, Note]:
    """Verify the log's signature on a checkpoint note; the checkpoint and the parsed note.

    Other signatures (cosignatures, rotated keys) are kept in the returned note unverified.
    Raises :class:`NoteError` for a bad or missing log signature, :class:`CheckpointError`
    for a malformed body or an origin other than the log's key name.
    """
    note = signed if isinstance(signed, Note) else parse_note(signed)
    verify_note(note, [log])
    checkpoint = Checkpoint.parse(note.text)
    if checkpoint.origin != log.name:
        raise CheckpointError(f"checkpoint origin {checkpoint.origin!r} is not the log's name {log.name!r}")
    return checkpoint, note


# -- cosignatures -------------------------------------------------------------------------


def cosignature_message(checkpoint_body: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{checkpoint_body}".encode()


def _check_timestamp(timestamp: int) -> None:
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise CheckpointError(f"a cosignature timestamp must be in [0, 2^63-1]: {timestamp}")


@dataclass(frozen=True, slots=True)
class CosignatureVerifier:
    """An Ed25519 cosigner key (type 0x04), usable wherever a note :class:`Verifier` is."""

    name: str
    public: PublicKey
    max_timestamp: int | None = None  # reject cosignatures claiming to come from later

    def __post_init__(self) -> None:
        check_key_name(self.name)

    @property
    def key_id(self) -> int:
        return key_id(self.name, COSIGNATURE_V1, self.public.raw)

    def verify(self, text: bytes, signature: bytes) -> bool:
        return self.timestamp(text, signature) is not None

    def timestamp(self, text: bytes, signature: bytes) -> int | None:
        """The signed timestamp if ``signature`` is a valid cosignature of ``text``."""
        if len(signature) != 8 + 64:
            return None
        ts = int.from_bytes(signature[:8], "big")
        if ts > MAX_TIMESTAMP or (self.max_timestamp is not None and ts > self.max_timestamp):
            return None
        try:
            body = text.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return ts if self.public.verify(cosignature_message(body, ts), signature[8:]) else None

    def vkey(self) -> str:
        return encode_vkey(self.name, COSIGNATURE_V1, self.public.raw)


def parse_cosigner_vkey(vkey: str) -> CosignatureVerifier:
    """A cosigner verifier from a vkey of signature type 0x04."""
    name, _, sig_type, public_key = split_vkey(vkey)
    if sig_type != COSIGNATURE_V1:
        raise NoteError(f"vkey has signature type 0x{sig_type:02x}, expected cosignature (0x04)")
    try:
        return CosignatureVerifier(name, PublicKey(public_key))
    except ValueError as exc:
        raise NoteError(f"bad cosigner vkey: {exc}") from None


def cosign(checkpoint_body: str, witness_name: str, keypair: SigningKeyPair, timestamp: int) -> str:
    """A cosignature line (ending in a newline) to append to the signed checkpoint."""
    Checkpoint.parse(checkpoint_body)
    _check_timestamp(timestamp)
    check_key_name(witness_name)
    signed = keypair.sign(cosignature_message(checkpoint_body, timestamp))
    kid = key_id(witness_name, COSIGNATURE_V1, keypair.public.raw)
    return Signature(witness_name, kid, timestamp.to_bytes(8, "big") + signed).line()


def verify_cosignature(checkpoint_body: str, signature_line: str, cosigner: CosignatureVerifier) -> int:
    """Check one cosignature line over a checkpoint body; the timestamp it carries.

    Raises :class:`CheckpointError` if the line is not by ``cosigner`` or does not verify.
    """
    line = signature_line if signature_line.endswith("\n") else signature_line + "\n"
    (sig,) = parse_note("x\n\n" + line).signatures
    if (sig.name, sig.key_id) != (cosigner.name, cosigner.key_id):
        raise CheckpointError(
            f"cosignature is by {sig.name} (key ID {sig.key_id:08x}), "
            f"not {cosigner.name} (key ID {cosigner.key_id:08x})"
        )
    ts = cosigner.timestamp(checkpoint_body.encode("utf-8"), sig.signature)
    if ts is None:
        raise CheckpointError(f"cosignature by {sig.name} does not verify")
    return ts


# -- witnessing ---------------------------------------------------------------------------


class WitnessAlarm(Exception):
    """A counterpart's checkpoint must not be cosigned; ``reason`` says why, for alarms.

    The checkpoint and proof that caused it should be kept: they may prove misbehaviour.
    """

    reason = "alarm"


class BadSignatureAlarm(WitnessAlarm):
    """The checkpoint is not validly signed by the counterpart's log key, or is malformed."""

    reason = "bad-signature"


class RollbackAlarm(WitnessAlarm):
    """The checkpoint is smaller than one already cosigned: the log went back in time."""

    reason = "rollback"


class InconsistencyAlarm(WitnessAlarm):
    """The checkpoint does not extend the one already cosigned: the history was rewritten."""

    reason = "inconsistent"


@dataclass(frozen=True, slots=True)
class Cosigned:
    checkpoint: Checkpoint
    cosignature: str  # the signature line, ending in a newline
    timestamp: int
    note: str  # the checkpoint note as received, with the cosignature line appended


@dataclass(frozen=True, slots=True)
class Witness:
    """Cosigns a counterpart log's checkpoints after checking they only ever grow.

    Stateless: the caller stores the last checkpoint it had cosigned (returned in
    :class:`Cosigned`) and passes it back as ``previous`` next time, in the same
    transaction that records the cosignature.
    """

    name: str
    keypair: SigningKeyPair
    log: Verifier

    def cosign(
        self,
        previous: Checkpoint | None,
        signed_checkpoint: str,
        proof: Sequence[bytes],
        timestamp: int,
    ) -> Cosigned:
        try:
            new, note = open_checkpoint(signed_checkpoint, self.log)
        except (NoteError, CheckpointError) as exc:
            raise BadSignatureAlarm(f"checkpoint from {self.log.name} rejected: {exc}") from exc
        old_size = 0 if previous is None else previous.size
        if previous is not None and previous.origin != new.origin:
            raise BadSignatureAlarm(
                f"checkpoint origin {new.origin!r} differs from the witnessed {previous.origin!r}"
            )
        if new.size < old_size:
            raise RollbackAlarm(f"{new.origin} rolled back from size {old_size} to size {new.size}")
        if previous is None or previous.size == 0:
            # Trust on first use: nothing is known yet. A cosigned empty tree tells nothing
            # either, and RFC 9162 has no consistency proof from it (merkle refuses one).
            if proof:
                raise InconsistencyAlarm(
                    f"{new.origin}: a first checkpoint needs an empty proof, got {len(proof)} hashes"
                )
        else:
            try:
                merkle.verify_consistency(previous.size, new.size, list(proof), previous.root, new.root)
            except merkle.ProofError as exc:
                if new.size == previous.size:
                    raise InconsistencyAlarm(
                        f"{new.origin} has two different roots for size {new.size}: {exc}"
                    ) from exc
                raise InconsistencyAlarm(
                    f"{new.origin} at size {new.size} is not an extension of size {previous.size}: {exc}"
                ) from exc
        line = cosign(note.text, self.name, self.keypair, timestamp)
        return Cosigned(new, line, timestamp, str(note) + line)

    def verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier(self.name, self.keypair.public)
