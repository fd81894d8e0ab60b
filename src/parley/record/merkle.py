"""Merkle tree hashes and proofs of RFC 9162 (Certificate Transparency 2.0), §2.1.

Pure functions with no storage and no dependency beyond the standard library, so a third
party can copy this one file to check a Parley transcript. Hashes are SHA-256 with the
domain-separation prefixes of RFC 9162 §2.1.1::

    MTH({})      = SHA-256()
    leaf hash    = SHA-256(0x00 || leaf data)
    node hash    = SHA-256(0x01 || left || right)

Proof *generation* reads hashes of complete subtrees through a ``get_hash(level, index)``
callback: level 0 holds the leaf hashes, and level ``k`` index ``i`` is the root of the
perfect subtree over leaves ``[i * 2**k, (i + 1) * 2**k)``. Such hashes never change once
the log has grown past them, which is what lets a storage-backed log answer any proof (for
any past tree size) with O(log n) reads.

Proof *verification* follows RFC 9162. Both verifiers first compute how many hashes a
correct proof has (so that a wrong-length proof is reported as such, not as a root
mismatch) and then chain the hashes exactly as the RFC prescribes.

Verifying an inclusion proof (§2.1.3.2), given ``leaf_index``, ``tree_size``, the leaf
hash, ``inclusion_path`` and ``root``:

1. Fail if ``leaf_index >= tree_size``.
2. Set ``fn = leaf_index`` and ``sn = tree_size - 1``.
3. Set ``r = leaf hash``.
4. For each ``p`` in ``inclusion_path``:

   a. Fail if ``sn == 0``.
   b. If ``LSB(fn)`` is set or ``fn == sn``: set ``r = HASH(0x01 || p || r)``; then, if
      ``LSB(fn)`` is not set, right-shift ``fn`` and ``sn`` until ``LSB(fn)`` is set or
      ``fn == 0``. Otherwise set ``r = HASH(0x01 || r || p)``.
   c. Right-shift ``fn`` and ``sn`` once.

5. Succeed only if ``sn == 0`` and ``r == root``.

Verifying a consistency proof (§2.1.4.2), given ``first`` (size1), ``second`` (size2),
``first_hash``, ``second_hash`` and ``consistency_path``:

1. Fail if ``consistency_path`` is empty. (Equal sizes are handled before this step: they
   need an empty proof and equal roots. ``first == 0`` with ``second > 0`` is refused there
   too: RFC 9162 §2.1.4 defines PROOF(m, D[n]) only for ``0 < m < n``, and the
   transparency-dev test vectors refuse a proof from the empty tree. A verifier that holds
   nothing yet has nothing to check a proof against; it trusts the first tree it sees.)
2. If ``first`` is an exact power of 2, prepend ``first_hash`` to ``consistency_path``.
3. Set ``fn = first - 1`` and ``sn = second - 1``.
4. If ``LSB(fn)`` is set, right-shift ``fn`` and ``sn`` until ``LSB(fn)`` is not set.
5. Set ``fr`` and ``sr`` to the first value of ``consistency_path``.
6. For each subsequent ``c`` in ``consistency_path``:

   a. Fail if ``sn == 0``.
   b. If ``LSB(fn)`` is set or ``fn == sn``: set ``fr = HASH(0x01 || c || fr)`` and
      ``sr = HASH(0x01 || c || sr)``; then, if ``LSB(fn)`` is not set, right-shift ``fn``
      and ``sn`` until ``LSB(fn)`` is set or ``fn == 0``. Otherwise set
      ``sr = HASH(0x01 || sr || c)``.
   c. Right-shift ``fn`` and ``sn`` once.

7. Succeed only if ``fr == first_hash``, ``sr == second_hash`` and ``sn == 0``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "GetHash",
    "ProofError",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "root_from_leaf_hashes",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

GetHash = Callable[[int, int], bytes]
"""``get_hash(level, index)``: the stored root of a complete subtree (see module docs)."""


class ProofError(Exception):
    """A Merkle proof did not verify, or its inputs cannot form a proof at all."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n >= 2``), RFC 9162's k."""
    return 1 << ((n - 1).bit_length() - 1)


# -- reference implementation -------------------------------------------------------------


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) by the recursive definition of RFC 9162 §2.1.1 (for tests and small logs)."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = _split(n)
    return node_hash(root_from_leaf_hashes(leaf_hashes[:k]), root_from_leaf_hashes(leaf_hashes[k:]))


# -- generation from stored complete subtrees ---------------------------------------------


def _range_root(start: int, end: int, get_hash: GetHash) -> bytes:
    """MTH of leaves ``[start, end)``, where ``start`` is aligned as RFC 9162's splits are."""
    n = end - start
    if n & (n - 1) == 0:
        # A perfect subtree: RFC 9162 splits always leave ``start`` a multiple of its width.
        level = n.bit_length() - 1
        return get_hash(level, start >> level)
    k = _split(n)
    return node_hash(_range_root(start, start + k, get_hash), _range_root(start + k, end, get_hash))


def root(size: int, get_hash: GetHash) -> bytes:
    """MTH of the first ``size`` leaves, from at most log2(size) + 1 stored hashes."""
    if size < 0:
        raise ValueError(f"tree size must not be negative: {size}")
    if size == 0:
        return EMPTY_ROOT
    return _range_root(0, size, get_hash)


def inclusion_proof(index: int, size: int, get_hash: GetHash) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 §2.1.3.1, ordered from the leaf upwards."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")
    path: list[bytes] = []
    start, end = 0, size
    # Walk down from the root; each step records the sibling of the half holding ``index``.
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append(_range_root(start + k, end, get_hash))
            end = start + k
        else:
            path.append(_range_root(start, start + k, get_hash))
            start += k
    path.reverse()
    return path


def consistency_proof(size1: int, size2: int, get_hash: GetHash) -> list[bytes]:
    """PROOF(size1, D[size2]) of RFC 9162 §2.1.4.1; empty when size1 equals size2.

    Empty also when size1 is 0: there is no such proof, and :func:`verify_consistency`
    refuses one; callers only ask for it to send "nothing" to a peer that holds nothing.
    """
    if not 0 <= size1 <= size2:
        raise ValueError(f"no consistency proof from size {size1} to size {size2}")
    if size1 == 0 or size1 == size2:
        return []
    path: list[bytes] = []
    start, end, m = 0, size2, size1
    # SUBPROOF(m, D[start:end], whole) unrolled; ``whole`` is True while D[0:m] is the very
    # tree the verifier already holds the root of, so that root is not repeated in the proof.
    whole = True
    while True:
        n = end - start
        if m == n:
            if not whole:
                path.append(_range_root(start, end, get_hash))
            break
        k = _split(n)
        if m <= k:
            path.append(_range_root(start + k, end, get_hash))
            end = start + k
        else:
            path.append(_range_root(start, start + k, get_hash))
            start += k
            m -= k
            whole = False
    path.reverse()
    return path


# -- verification --------------------------------------------------------------------------


def _check_hash(what: str, h: bytes) -> None:
    if len(h) != HASH_SIZE:
        raise ProofError(f"{what} is {len(h)} bytes, a SHA-256 hash is {HASH_SIZE}")


def _check_root(calculated: bytes, expected: bytes, what: str = "root") -> None:
    if calculated != expected:
        raise ProofError(f"{what} mismatch: calculated {calculated.hex()}, expected {expected.hex()}")


def _inclusion_path_length(index: int, size: int) -> int:
    # Levels where the path to ``index`` diverges from the path to the last leaf hold a
    # full sibling; above them, each 1 bit left in ``index`` is a left-hand border sibling.
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def verify_inclusion(leaf_hash: bytes, index: int, tree_size: int, proof: list[bytes], root: bytes) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``tree_size`` with ``root``.

    Raises :class:`ProofError` on any failure; returns None on success.
    """
    if index < 0 or tree_size < 0:
        raise ProofError(f"index {index} and tree size {tree_size} must not be negative")
    if index >= tree_size:  # step 1
        raise ProofError(f"leaf index {index} is beyond tree size {tree_size}")
    _check_hash("leaf hash", leaf_hash)
    expected = _inclusion_path_length(index, tree_size)
    if len(proof) != expected:
        raise ProofError(f"inclusion proof has wrong size: expected {expected} hashes, got {len(proof)}")
    for i, p in enumerate(proof):
        _check_hash(f"inclusion proof hash {i}", p)

    fn, sn = index, tree_size - 1  # step 2
    r = leaf_hash  # step 3
    for p in proof:  # step 4
        if sn == 0:
            raise ProofError("inclusion proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:  # step 5
        raise ProofError("inclusion proof is shorter than the path to the root")
    _check_root(r, root)


def verify_consistency(size1: int, size2: int, proof: list[bytes], root1: bytes, root2: bytes) -> None:
    """Check that the tree of ``size1`` with ``root1`` is a prefix of ``size2`` with ``root2``.

    Raises :class:`ProofError` on any failure; returns None on success.
    """
    if size1 < 0 or size2 < 0:
        raise ProofError(f"tree sizes {size1} and {size2} must not be negative")
    if size2 < size1:
        raise ProofError(f"size2 ({size2}) is smaller than size1 ({size1})")
    if size1 == size2:
        if proof:
            raise ProofError(f"consistency proof has wrong size: expected 0 hashes, got {len(proof)}")
        _check_root(root2, root1, "root")
        return
    if size1 == 0:
        # RFC 9162 defines no consistency proof from the empty tree: "proving" it would
        # accept any root2 at all, so a caller relying on it would check nothing.
        raise ProofError(
            f"no consistency proof exists from the empty tree (size 0) to size {size2} "
            "(RFC 9162 §2.1.4 defines them for 0 < size1 < size2); a verifier that holds no "
            "tree yet takes the first one it sees as it is"
        )
    if not proof:  # step 1
        raise ProofError("consistency proof is empty")

    _check_hash("root1", root1)
    # The proof is the inclusion path of leaf size1 - 1 in size2 with its lowest ``shift``
    # levels replaced by one hash (the perfect subtree ending at size1), which is left out
    # when that subtree is the whole of the first tree.
    shift = (size1 & -size1).bit_length() - 1
    first_is_perfect = size1 == 1 << shift
    expected = _inclusion_path_length(size1 - 1, size2) - shift + (0 if first_is_perfect else 1)
    if len(proof) != expected:
        raise ProofError(f"consistency proof has wrong size: expected {expected} hashes, got {len(proof)}")
    for i, c in enumerate(proof):
        _check_hash(f"consistency proof hash {i}", c)

    path = [root1, *proof] if first_is_perfect else list(proof)  # step 2
    fn, sn = size1 - 1, size2 - 1  # step 3
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            raise ProofError("consistency proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:  # step 7
        raise ProofError("consistency proof is shorter than the path to the root")
    _check_root(fr, root1, "root1")
    _check_root(sr, root2, "root2")
