"""Ed25519 identity keys (RFC 8032), by PyNaCl.

A node has one signing key. Its public key travels base64-encoded (standard alphabet, with
padding); its *key id* is the first 8 bytes of SHA-256 over the raw 32-byte public key, in
hex, so operators can compare it by reading it out over a telephone.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    """Decode canonical base64 only: one text per byte string, so signed bytes are unique."""
    data = base64.b64decode(text.encode("ascii"), validate=True)
    if b64(data) != text:
        raise ValueError("not canonical base64 (standard alphabet, padding, zero pad bits)")
    return data


def unb64_hash(value: object) -> bytes | None:
    """``value`` as a SHA-256 hash in canonical base64 (a Merkle node, a root), or None if it
    is not one: not text, not canonical base64, or not 32 bytes."""
    if not isinstance(value, str):
        return None
    try:
        digest = unb64(value)
    except ValueError:
        return None
    return digest if len(digest) == hashlib.sha256().digest_size else None


def key_id(public_key: bytes) -> str:
    return hashlib.sha256(public_key).hexdigest()[:16]


class PublicKey:
    """A verifying key; ``verify`` answers True or False and never raises on bad input."""

    __slots__ = ("_vk", "raw")

    def __init__(self, raw: bytes) -> None:
        if len(raw) != 32:
            raise ValueError(f"an Ed25519 public key is 32 bytes, not {len(raw)}")
        self.raw = raw
        self._vk = VerifyKey(raw)

    @classmethod
    def from_b64(cls, text: str) -> PublicKey:
        return cls(unb64(text))

    @property
    def b64(self) -> str:
        return b64(self.raw)

    @property
    def key_id(self) -> str:
        return key_id(self.raw)

    def verify(self, message: bytes, signature: bytes) -> bool:
        if len(signature) != 64:
            return False
        try:
            self._vk.verify(message, signature)
        except BadSignatureError:
            return False
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and other.raw == self.raw

    def __hash__(self) -> int:
        return hash(self.raw)


class SigningKeyPair:
    """A node's private signing key and its public half."""

    __slots__ = ("_sk", "public")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        self._sk = SigningKey(seed)
        self.public = PublicKey(bytes(self._sk.verify_key))

    @classmethod
    def generate(cls) -> SigningKeyPair:
        return cls(os.urandom(32))

    @property
    def seed(self) -> bytes:
        return bytes(self._sk)

    def sign(self, message: bytes) -> bytes:
        return bytes(self._sk.sign(message).signature)

    def save(self, path: Path) -> None:
        """Write the seed, base64, readable by the owner only (mode 0600 from creation)."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(b64(self.seed) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    @classmethod
    def load(cls, path: Path) -> SigningKeyPair:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise PermissionError(f"{path} is readable by others (mode {mode:o}); run: chmod 600 {path}")
        return cls(unb64(path.read_text().strip()))
