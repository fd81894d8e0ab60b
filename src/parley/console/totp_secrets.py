"""TOTP secrets sealed at rest with AES-256-GCM (NIST SP 800-38D), keyed from the node's home.

The key is ``console.key`` in the node's home: 32 random bytes, created on the first
enrolment with mode 0600 and never written to the database, so a copy of the database
(a backup, a dump, a PostgreSQL replica) does not yield anyone's second factor. The
associated data binds each ciphertext to its operator's user name: a sealed secret copied
onto another operator's row does not open.

Stored form: ``v1:`` + Base85 of nonce (12 bytes) ‖ ciphertext of the 20-byte secret ‖ tag
(16 bytes) — 63 characters, within the column's 64. A secret stored in plain Base32 by an
older Parley is sealed the first time it is read (:func:`open_secret` with ``migrate``).
"""

from __future__ import annotations

import base64
import os
import secrets
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from parley.errors import ParleyError
from parley.formats.texts import T

KEY_FILE = "console.key"
PREFIX = "v1:"
_KEY_BYTES = 32
_NONCE_BYTES = 12
_AAD = b"parley totp secret v1\x00"


class SecretSealError(ParleyError):
    code = "totp_key"
    http_status = 500


def _key_path(home: Path) -> Path:
    return home / KEY_FILE


def _read_key(path: Path) -> bytes:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretSealError(
            T(
                "{path} can be read by other users (mode {stat_s_imode:04o})",
                path=path,
                stat_s_imode=stat.S_IMODE(mode),
            ),
            hint=T("chmod 600 {path}", path=path),
        )
    key = path.read_bytes()
    if len(key) != _KEY_BYTES:
        raise SecretSealError(
            T(
                "{path} is not a Parley console key ({n_key} bytes, expected {key_bytes})",
                path=path,
                n_key=len(key),
                key_bytes=_KEY_BYTES,
            ),
            hint=T("restore it from the node's backup; without it, enrolled operators must re-enrol"),
        )
    return key


def load_key(home: Path) -> bytes:
    """The console key; an error (not a new key) when it is missing, since sealed secrets
    in the database could then never be opened again."""
    path = _key_path(home)
    if not path.exists():
        raise SecretSealError(
            T("{path} is missing, so the stored TOTP secrets cannot be read", path=path),
            hint=T(
                "restore console.key from the node's backup, or re-enrol each operator "
                "with `parley operator totp USER`"
            ),
        )
    return _read_key(path)


def key_for_sealing(home: Path) -> bytes:
    """The console key, created now (mode 0600, never replaced) if there is none yet."""
    path = _key_path(home)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(path)
    try:
        os.write(fd, secrets.token_bytes(_KEY_BYTES))
        os.fsync(fd)
    finally:
        os.close(fd)
    return _read_key(path)


def _aad(username: str) -> bytes:
    return _AAD + username.encode()


def seal(home: Path, username: str, secret_b32: str) -> str:
    raw = base64.b32decode(secret_b32)
    nonce = secrets.token_bytes(_NONCE_BYTES)
    sealed = AESGCM(key_for_sealing(home)).encrypt(nonce, raw, _aad(username))
    return PREFIX + base64.b85encode(nonce + sealed).decode("ascii")


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX)


def open_secret(home: Path, username: str, stored: str) -> str:
    """The Base32 secret of ``username`` from its stored form (sealed, or plain from before)."""
    if not is_sealed(stored):
        return stored
    try:
        blob = base64.b85decode(stored[len(PREFIX) :])
        raw = AESGCM(load_key(home)).decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], _aad(username))
    except (InvalidTag, ValueError):
        raise SecretSealError(
            T("the TOTP secret of {username} does not open with this node's console.key", username=username),
            hint=T(
                "restore the console.key that sealed it, or re-enrol with `parley operator totp {username}`",
                username=username,
            ),
        ) from None
    return base64.b32encode(raw).decode("ascii")
