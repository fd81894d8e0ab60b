"""RFC 9162 proof verification against the transparency-dev test vectors, and properties.

The vectors under ``tests/vectors/merkle`` come from github.com/transparency-dev/merkle
(Apache-2.0, see the LICENSE there); each says whether verification must fail.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parley.record import merkle
from parley.record.merkle import ProofError

VECTORS = Path(__file__).parent.parent / "vectors" / "merkle"
INCLUSION = sorted((VECTORS / "inclusion").glob("*/*.json"))
CONSISTENCY = sorted((VECTORS / "consistency").glob("*/*.json"))


def _b64(text: str) -> bytes:
    return base64.b64decode(text)


def _proof(v: dict[str, Any]) -> list[bytes]:
    return [_b64(p) for p in v["proof"] or []]


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def test_vectors_present() -> None:
    assert len(INCLUSION) >= 40
    assert len(CONSISTENCY) >= 40


@pytest.mark.parametrize("path", INCLUSION, ids=_id)
def test_inclusion_vector(path: Path) -> None:
    v = json.loads(path.read_text())
    args = (_b64(v["leafHash"]), v["leafIdx"], v["treeSize"], _proof(v), _b64(v["root"]))
    if v["wantErr"]:
        with pytest.raises(ProofError):
            merkle.verify_inclusion(*args)
    else:
        merkle.verify_inclusion(*args)


@pytest.mark.parametrize("path", CONSISTENCY, ids=_id)
def test_consistency_vector(path: Path) -> None:
    v = json.loads(path.read_text())
    args = (v["size1"], v["size2"], _proof(v), _b64(v["root1"]), _b64(v["root2"]))
    if v["wantErr"]:
        with pytest.raises(ProofError):
            merkle.verify_consistency(*args)
    else:
        merkle.verify_consistency(*args)


# -- in-memory tree -----------------------------------------------------------------------


def memory_tree(leaves: list[bytes]) -> Callable[[int, int], bytes]:
    """A ``get_hash`` over every complete subtree of ``leaves`` (leaf hashes)."""
    levels = [list(leaves)]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([merkle.node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])

    def get_hash(level: int, index: int) -> bytes:
        return levels[level][index]

    return get_hash


def flip(data: bytes, bit: int) -> bytes:
    b = bytearray(data)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


def test_known_roots() -> None:
    # RFC 6962 / transparency-dev reference tree of eight leaves.
    leaves = [
        bytes.fromhex(h)
        for h in [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
    ]
    hashes = [merkle.leaf_hash(d) for d in leaves]
    assert merkle.root_from_leaf_hashes([]).hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert merkle.root_from_leaf_hashes(hashes).hex() == (
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    )
    assert merkle.root(8, memory_tree(hashes)) == merkle.root_from_leaf_hashes(hashes)


leaf_lists = st.lists(st.binary(max_size=8), min_size=1, max_size=70).map(
    lambda ds: [merkle.leaf_hash(d) for d in ds]
)


@settings(max_examples=150, deadline=None)
@given(leaf_lists, st.data())
def test_inclusion_proofs_verify(hashes: list[bytes], data: st.DataObject) -> None:
    get_hash = memory_tree(hashes)
    size = data.draw(st.integers(1, len(hashes)), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    root = merkle.root_from_leaf_hashes(hashes[:size])
    assert merkle.root(size, get_hash) == root
    proof = merkle.inclusion_proof(index, size, get_hash)
    merkle.verify_inclusion(hashes[index], index, size, proof, root)

    # Any single bit flipped in the proof, the leaf or the root must be caught.
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1), label="hash")
        bit = data.draw(st.integers(0, 255), label="bit")
        bad = list(proof)
        bad[i] = flip(bad[i], bit)
        with pytest.raises(ProofError):
            merkle.verify_inclusion(hashes[index], index, size, bad, root)
    bit = data.draw(st.integers(0, 255), label="root bit")
    with pytest.raises(ProofError, match="root mismatch"):
        merkle.verify_inclusion(hashes[index], index, size, proof, flip(root, bit))
    with pytest.raises(ProofError, match="root mismatch"):
        merkle.verify_inclusion(flip(hashes[index], bit), index, size, proof, root)
    # The same proof does not vouch for a neighbouring position.
    if size > 1:
        other = (index + 1) % size
        if hashes[other] != hashes[index]:
            with pytest.raises(ProofError):
                merkle.verify_inclusion(hashes[index], other, size, proof, root)


@settings(max_examples=150, deadline=None)
@given(leaf_lists, st.data())
def test_consistency_proofs_verify(hashes: list[bytes], data: st.DataObject) -> None:
    get_hash = memory_tree(hashes)
    size2 = data.draw(st.integers(0, len(hashes)), label="size2")
    size1 = data.draw(st.integers(0, size2), label="size1")
    root1 = merkle.root_from_leaf_hashes(hashes[:size1])
    root2 = merkle.root_from_leaf_hashes(hashes[:size2])
    proof = merkle.consistency_proof(size1, size2, get_hash)
    if size1 == 0 and size2 > 0:
        # RFC 9162 defines no proof from the empty tree (issue 14 item 11).
        with pytest.raises(ProofError, match="empty tree"):
            merkle.verify_consistency(size1, size2, proof, root1, root2)
        return
    merkle.verify_consistency(size1, size2, proof, root1, root2)

    if proof:
        i = data.draw(st.integers(0, len(proof) - 1), label="hash")
        bit = data.draw(st.integers(0, 255), label="bit")
        bad = list(proof)
        bad[i] = flip(bad[i], bit)
        with pytest.raises(ProofError):
            merkle.verify_consistency(size1, size2, bad, root1, root2)
        with pytest.raises(ProofError, match=r"wrong size|is empty"):
            merkle.verify_consistency(size1, size2, proof[:-1], root1, root2)
        with pytest.raises(ProofError, match="wrong size"):
            merkle.verify_consistency(size1, size2, [*proof, proof[0]], root1, root2)
    if size1 > 0:
        # Only the empty tree is consistent with anything; a non-empty one is pinned.
        bit = data.draw(st.integers(0, 255), label="root bit")
        with pytest.raises(ProofError):
            merkle.verify_consistency(size1, size2, proof, flip(root1, bit), root2)
        with pytest.raises(ProofError):
            merkle.verify_consistency(size1, size2, proof, root1, flip(root2, bit))


def test_error_messages() -> None:
    hashes = [merkle.leaf_hash(bytes([i])) for i in range(8)]
    get_hash = memory_tree(hashes)
    root = merkle.root(8, get_hash)
    proof = merkle.inclusion_proof(2, 8, get_hash)
    with pytest.raises(ProofError, match=r"^inclusion proof has wrong size: expected 3 hashes, got 4$"):
        merkle.verify_inclusion(hashes[2], 2, 8, [*proof, proof[0]], root)
    with pytest.raises(ProofError, match=r"^root mismatch: calculated [0-9a-f]{64}, expected 00+$"):
        merkle.verify_inclusion(hashes[2], 2, 8, proof, bytes(32))
    with pytest.raises(ProofError, match="beyond tree size"):
        merkle.verify_inclusion(hashes[2], 8, 8, proof, root)
    with pytest.raises(ProofError, match="smaller than size1"):
        merkle.verify_consistency(5, 4, [], root, root)
    with pytest.raises(ProofError, match="consistency proof is empty"):
        merkle.verify_consistency(3, 8, [], root, root)


def test_generation_rejects_bad_ranges() -> None:
    get_hash = memory_tree([merkle.leaf_hash(b"x")])
    with pytest.raises(ValueError, match="not in a tree"):
        merkle.inclusion_proof(1, 1, get_hash)
    with pytest.raises(ValueError, match="no consistency proof"):
        merkle.consistency_proof(2, 1, get_hash)


def test_no_consistency_proof_from_the_empty_tree() -> None:
    """Issue 14 item 11: RFC 9162 §2.1.4 defines PROOF(m, D[n]) for 0 < m < n only, and the
    transparency-dev vector ``consistency/1/size1-sub-@1`` (size1 0) wants an error."""
    hashes = [merkle.leaf_hash(bytes([i])) for i in range(8)]
    root8 = merkle.root_from_leaf_hashes(hashes)
    for proof in ([], [hashes[0]], merkle.consistency_proof(1, 8, memory_tree(hashes))):
        with pytest.raises(ProofError, match=r"^no consistency proof exists from the empty tree"):
            merkle.verify_consistency(0, 8, proof, merkle.EMPTY_ROOT, root8)
    # Not even the empty tree's root against any second root: nothing would be checked.
    with pytest.raises(ProofError, match="empty tree"):
        merkle.verify_consistency(0, 1, [], merkle.EMPTY_ROOT, hashes[0])
    # Equal sizes stay defined: the empty tree is consistent with the empty tree.
    merkle.verify_consistency(0, 0, [], merkle.EMPTY_ROOT, merkle.EMPTY_ROOT)
    vector = json.loads((VECTORS / "consistency" / "1" / "size1-sub-@1.json").read_text())
    assert vector["size1"] == 0
    assert vector["wantErr"] is True
