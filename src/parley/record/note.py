"""Signed notes, as specified by C2SP signed-note (c2sp.org/signed-note@v1.0.0).

A signed note is a UTF-8 text ending in a newline, a blank line, and one or more signature
lines ``— <key name> base64(key ID || signature)``, each ending in a newline. The text is
everything up to and including the newline before the *last* blank line. Parley signs with
Ed25519 (signature type ``0x01``) and identifies a key by its name and 4-byte key ID::

    key ID = SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4]

A verifier key (*vkey*) is ``<name>+<hex key ID>+base64(0x01 || public key)``.

Verification follows the spec's rules: signatures from unknown keys (name and key ID not
both matching a configured verifier) are ignored; a signature from a known key that fails
to verify rejects the whole note; a note with no verified signature is rejected.

Other signature types plug in through the :class:`Verifier` protocol; the timestamped
cosignatures of C2SP tlog-cosignature (type ``0x04``) live in
:mod:`parley.record.checkpoint`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from parley.protocol.keys import PublicKey, SigningKeyPair

__all__ = [
    "ED25519",
    "MAX_SIGNATURES",
    "Ed25519Signer",
    "Ed25519Verifier",
    "Note",
    "NoteError",
    "Signature",
    "Signer",
    "Verifier",
    "add_signatures",
    "encode_vkey",
    "key_id",
    "parse_note",
    "parse_vkey",
    "sign_note",
    "verify_note",
]

ED25519 = 0x01
EM_DASH_PREFIX = "\u2014 "
MAX_SIGNATURES = 100  # the spec requires accepting at least 16


class NoteError(Exception):
    """A note is malformed, unsigned by any known key, or carries a bad signature."""


class Verifier(Protocol):
    """A configured key that can check signatures of one name and key ID."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def verify(self, text: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (the bytes after the key ID) is valid over note ``text``."""
        ...


class Signer(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def sign(self, text: bytes) -> bytes:
        """The signature bytes over note ``text`` (without the key ID)."""
        ...


def check_key_name(name: str) -> None:
    if not name:
        raise NoteError("a key name must not be empty")
    if "+" in name or any(ch.isspace() for ch in name):
        raise NoteError(f"a key name must not contain spaces or '+': {name!r}")
    _check_characters(name, "key name")


def key_id(name: str, sig_type: int, public_key: bytes) -> int:
    """The recommended key ID: SHA-256(name || 0x0A || type || public key)[:4], big-endian."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


@dataclass(frozen=True, slots=True)
class Ed25519Verifier:
    name: str
    public: PublicKey

    def __post_init__(self) -> None:
        check_key_name(self.name)

    @property
    def key_id(self) -> int:
        return key_id(self.name, ED25519, self.public.raw)

    def verify(self, text: bytes, signature: bytes) -> bool:
        return self.public.verify(text, signature)

    def vkey(self) -> str:
        return encode_vkey(self.name, ED25519, self.public.raw)


@dataclass(frozen=True, slots=True)
class Ed25519Signer:
    name: str
    keypair: SigningKeyPair

    def __post_init__(self) -> None:
        check_key_name(self.name)

    @property
    def key_id(self) -> int:
        return key_id(self.name, ED25519, self.keypair.public.raw)

    def sign(self, text: bytes) -> bytes:
        return self.keypair.sign(text)

    def verifier(self) -> Ed25519Verifier:
        return Ed25519Verifier(self.name, self.keypair.public)


def encode_vkey(name: str, sig_type: int, public_key: bytes) -> str:
    check_key_name(name)
    material = base64.b64encode(bytes([sig_type]) + public_key).decode("ascii")
    return f"{name}+{key_id(name, sig_type, public_key):08x}+{material}"


def split_vkey(vkey: str) -> tuple[str, int, int, bytes]:
    """``(name, key ID, signature type, public key)`` of a vkey, with the key ID checked."""
    # Only the first two '+' separate parts: names cannot hold one, base64 key material can.
    parts = vkey.split("+", 2)
    if len(parts) != 3:
        raise NoteError(f"a vkey is name+keyid+key, got {len(parts)} parts: {vkey!r}")
    name, hex_id, material_b64 = parts
    check_key_name(name)
    if len(hex_id) != 8 or any(c not in "0123456789abcdef" for c in hex_id):
        raise NoteError(f"a vkey key ID is 8 lowercase hex digits, got {hex_id!r}")
    try:
        material = base64.b64decode(material_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError(f"vkey key material is not base64: {exc}") from None
    if not material:
        raise NoteError("vkey key material is empty")
    sig_type, public_key = material[0], material[1:]
    if int(hex_id, 16) != key_id(name, sig_type, public_key):
        raise NoteError(f"vkey key ID {hex_id} does not match its name and key")
    return name, int(hex_id, 16), sig_type, public_key


def parse_vkey(vkey: str) -> Ed25519Verifier:
    """An Ed25519 (type 0x01) verifier from its vkey string."""
    name, _, sig_type, public_key = split_vkey(vkey)
    if sig_type != ED25519:
        raise NoteError(f"vkey has signature type 0x{sig_type:02x}, expected Ed25519 (0x01)")
    try:
        return Ed25519Verifier(name, PublicKey(public_key))
    except ValueError as exc:
        raise NoteError(f"bad Ed25519 vkey: {exc}") from None


@dataclass(frozen=True, slots=True)
class Signature:
    """One signature line: the key name, the key ID, and the signature bytes after it."""

    name: str
    key_id: int
    signature: bytes

    def line(self) -> str:
        """The signature line, including its final newline."""
        blob = self.key_id.to_bytes(4, "big") + self.signature
        return f"{EM_DASH_PREFIX}{self.name} {base64.b64encode(blob).decode('ascii')}\n"


@dataclass(frozen=True, slots=True)
class Note:
    """A note's text (ending in a newline) and its signatures, in order of appearance."""

    text: str
    signatures: tuple[Signature, ...] = ()

    def __str__(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)

    def signed_by(self, verifier: Verifier) -> list[Signature]:
        return [s for s in self.signatures if s.name == verifier.name and s.key_id == verifier.key_id]


def _check_characters(text: str, what: str) -> None:
    for ch in text:
        if ch < " " and ch != "\n":
            raise NoteError(f"{what} contains the control character U+{ord(ch):04X}")
        if "\ud800" <= ch <= "\udfff":
            raise NoteError(f"{what} is not valid UTF-8")


def check_text(text: str) -> None:
    """A note text must be non-empty, end in a newline, and hold no control characters."""
    if not text.endswith("\n"):
        raise NoteError("a note text must end with a newline")
    _check_characters(text, "note text")


def parse_note(note: str | bytes) -> Note:
    """Split a signed note into text and signatures, checking the format but no signature."""
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NoteError(f"a note must be UTF-8: {exc}") from None
    _check_characters(note, "note")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("a note needs a blank line between its text and its signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block:
        raise NoteError("a note needs at least one signature line")
    if not block.endswith("\n"):
        raise NoteError("the last signature line must end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"a note may carry at most {MAX_SIGNATURES} signatures, not {len(lines)}")
    signatures = []
    for number, line in enumerate(lines, 1):
        if not line.startswith(EM_DASH_PREFIX):
            raise NoteError(f"signature line {number} does not start with an em dash and space")
        name, sep, encoded = line[len(EM_DASH_PREFIX) :].partition(" ")
        if not sep or not encoded:
            raise NoteError(f"signature line {number} lacks a signature after the key name")
        check_key_name(name)
        try:
            blob = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise NoteError(f"signature line {number} is not base64") from None
        if len(blob) < 5:
            raise NoteError(f"signature line {number} is too short ({len(blob)} bytes)")
        signatures.append(Signature(name, int.from_bytes(blob[:4], "big"), blob[4:]))
    return Note(text, tuple(signatures))


def verify_note(note: str | bytes | Note, verifiers: Iterable[Verifier]) -> Note:
    """Check a signed note against the known ``verifiers``.

    Returns the note with only the signatures that verified (each known key counted once).
    Raises :class:`NoteError` if the note is malformed, if any signature from a known key
    fails, or if no known key signed it.
    """
    parsed = note if isinstance(note, Note) else parse_note(note)
    known = {(v.name, v.key_id): v for v in verifiers}
    message = parsed.text.encode("utf-8")
    verified: dict[tuple[str, int], Signature] = {}
    for sig in parsed.signatures:
        v = known.get((sig.name, sig.key_id))
        if v is None:
            continue  # an unknown key, even one sharing a name or an ID with a known key
        if not v.verify(message, sig.signature):
            raise NoteError(f"signature by {sig.name} (key ID {sig.key_id:08x}) is invalid")
        verified.setdefault((sig.name, sig.key_id), sig)
    if not verified:
        names = ", ".join(sorted({name for name, _ in known})) or "none configured"
        raise NoteError(f"note is not signed by any known key (known: {names})")
    return Note(parsed.text, tuple(verified.values()))


def add_signatures(note: str | Note, signers: Sequence[Signer]) -> str:
    """The note with one more signature line per signer, after its existing ones."""
    parsed = note if isinstance(note, Note) else parse_note(note)
    message = parsed.text.encode("utf-8")
    extra = tuple(Signature(s.name, s.key_id, s.sign(message)) for s in signers)
    return str(Note(parsed.text, parsed.signatures + extra))


def sign_note(text: str, name: str, keypair: SigningKeyPair) -> str:
    """A signed note of ``text`` (which must end in a newline) with one Ed25519 signature."""
    check_text(text)
    signer = Ed25519Signer(name, keypair)
    signature = Signature(signer.name, signer.key_id, signer.sign(text.encode("utf-8")))
    return str(Note(text, (signature,)))
