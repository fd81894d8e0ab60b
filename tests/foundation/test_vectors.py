"""Published vectors (RFC 8032, RFC 8785) and Parley's own envelope vectors.

The envelope vectors under ``tests/vectors/envelopes/`` are what an independent
implementation checks itself against (docs/protocol.md §Test vectors); this test proves the
committed files are what ``scripts/make-envelope-vectors`` makes today and that every value
in them follows from the others by the rules of the protocol document.
"""

from __future__ import annotations

import hashlib
import json
import runpy
from pathlib import Path
from typing import Any

import pytest

from parley.errors import VerificationError
from parley.protocol import signing
from parley.protocol.canonical import canonical_bytes
from parley.protocol.keys import PublicKey, SigningKeyPair, b64
from parley.protocol.verify import check_chain_link, verify_envelope

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors"
RFC8032 = sorted((VECTORS / "rfc8032").glob("*.json"))
JCS = sorted((VECTORS / "jcs" / "input").glob("*.json"))
VALID = sorted((VECTORS / "envelopes" / "valid").glob("*.json"))
INVALID = sorted((VECTORS / "envelopes" / "invalid").glob("*.json"))


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_vector_sets_are_all_there() -> None:
    assert [p.stem for p in RFC8032] == ["test-1", "test-1024", "test-2", "test-3", "test-sha-abc"]
    assert len(JCS) >= 4
    assert len(VALID) >= 3
    assert len(INVALID) >= 8


@pytest.mark.parametrize("path", RFC8032, ids=lambda p: p.stem)
def test_rfc8032_ed25519(path: Path) -> None:
    v = _load(path)
    key = SigningKeyPair(bytes.fromhex(v["secret_key"]))
    message, signature = bytes.fromhex(v["message"]), bytes.fromhex(v["signature"])
    assert key.public.raw.hex() == v["public_key"]
    assert key.sign(message) == signature
    public = PublicKey(bytes.fromhex(v["public_key"]))
    assert public.verify(message, signature)
    assert not public.verify(message + b"\x00", signature)
    assert not public.verify(message, bytes([signature[0] ^ 1]) + signature[1:])


@pytest.mark.parametrize("path", JCS, ids=lambda p: p.stem)
def test_rfc8785_canonical_bytes(path: Path) -> None:
    expected = (VECTORS / "jcs" / "output" / path.name).read_bytes()
    assert canonical_bytes(json.loads(path.read_bytes())) == expected


def test_committed_envelope_vectors_are_current() -> None:
    script = runpy.run_path(str(ROOT / "scripts" / "make-envelope-vectors"))
    rendered: dict[Path, str] = script["render"]()
    committed = {p: p.read_text(encoding="utf-8") for p in VALID + INVALID}
    assert rendered == committed, "run: .venv/bin/python scripts/make-envelope-vectors"


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_envelope_vector(path: Path) -> None:
    v = _load(path)
    key = SigningKeyPair(bytes.fromhex(v["seed"]))
    assert key.public.b64 == v["public_key"]
    assert key.public.key_id == v["key_id"] == hashlib.sha256(key.public.raw).hexdigest()[:16]
    canonical = canonical_bytes(v["envelope"])
    assert canonical == v["canonical"].encode("utf-8")
    assert v["hash"] == "sha256:" + hashlib.sha256(canonical).hexdigest()
    signing_input = b"parley/1 envelope\n" + canonical
    assert signing_input.hex() == v["signing_input_hex"]
    assert signing.signing_input("envelope", v["envelope"]) == signing_input
    assert b64(key.sign(signing_input)) == v["signature"]
    assert v["wire"] == {
        "envelope": v["envelope"],
        "hash": v["hash"],
        "key_id": v["key_id"],
        "signature": v["signature"],
    }
    signed = verify_envelope(v["wire"], {v["envelope"]["sender"]["node"]: key.public}.get)
    assert signed.hash == v["hash"]


def test_the_valid_vectors_chain() -> None:
    first, second = (_load(p)["wire"] for p in VALID[:2])
    key = PublicKey.from_b64(_load(VALID[0])["public_key"])
    a = verify_envelope(first, {"no-njhq": key}.get, previous=None, check_chain=True)
    b = verify_envelope(second, {"no-njhq": key}.get, previous=(1, a.hash), check_chain=True)
    assert b.prev == a.hash
    with pytest.raises(VerificationError, match=r"^7 chain"):
        check_chain_link(b, (1, "sha256:" + "0" * 64))


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_envelope_vector(path: Path) -> None:
    v = _load(path)
    key = PublicKey.from_b64(v["public_key"])
    with pytest.raises(VerificationError) as caught:
        verify_envelope(v["wire"], {v["sender"]: key}.get)
    assert caught.value.step == v["expect_step"]
