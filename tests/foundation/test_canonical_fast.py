"""Canonical bytes take a fast path only where it writes the reference's bytes (issue 17).

``canonical_bytes`` hands a value without floats, with safe integers and ASCII keys to the
standard library's C encoder; everything else goes to the ``rfc8785`` package. The two must
give the same bytes, or the same refusal, on every value: the published JCS vectors and
hypothesis-made JSON values, from plain ASCII to control characters, astral-plane and
non-ASCII keys, integers at and beyond 2^53 and floats.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parley.protocol.canonical import _in_fast_subset, canonical_bytes, reference_bytes

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "jcs"  # the published JCS vectors


def _same(value: Any) -> None:
    try:
        expected: bytes | type[Exception] = reference_bytes(value)
    except ValueError:
        expected = ValueError
    if expected is ValueError:
        with pytest.raises(ValueError, match="cannot canonicalize"):
            canonical_bytes(value)
    else:
        assert canonical_bytes(value) == expected


@pytest.mark.parametrize("path", sorted((VECTORS / "input").glob("*.json")), ids=lambda p: p.stem)
def test_the_published_vectors_on_both_paths(path: Path) -> None:
    value = json.loads(path.read_text(encoding="utf-8"))
    expected = (VECTORS / "output" / path.name).read_bytes()
    assert canonical_bytes(value) == expected
    assert reference_bytes(value) == expected


TEXT = st.text(
    alphabet=st.characters(codec="utf-8")
    | st.sampled_from(
        ["\x00", "\x1f", "\x7f", '"', "\\", "\b", "\f", "\n", "\r", "\t", "\u2028", "\U0001f600"]
    ),
    max_size=12,
)
ASCII_KEYS = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=127), max_size=8)
SAFE = 2**53 - 1
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-SAFE, max_value=SAFE)
    | st.sampled_from([SAFE, -SAFE, SAFE + 1, -SAFE - 1, 2**63 - 1])
    | TEXT
)


def _json(keys: st.SearchStrategy[str], scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
        max_leaves=12,
    )


@settings(max_examples=500, deadline=None)
@given(_json(ASCII_KEYS, SCALARS))
def test_values_the_fast_path_takes_get_the_reference_bytes(value: Any) -> None:
    _same(value)


@settings(max_examples=300, deadline=None)
@given(_json(TEXT, SCALARS | st.floats(allow_nan=False, allow_infinity=False)))
def test_floats_and_any_keys_get_the_reference_bytes_too(value: Any) -> None:
    _same(value)


def test_what_the_fast_path_leaves_to_the_reference() -> None:
    assert _in_fast_subset({"a": [1, "x", None, True, {"b": -(2**53) + 1}]})
    assert not _in_fast_subset({"a": 1.5})
    assert not _in_fast_subset({"a": 2**53})
    assert not _in_fast_subset({"ключ": 1})  # UTF-16 order is not code-point order beyond the BMP
    assert not _in_fast_subset((1, 2))
    # A key beyond the BMP sorts before one in U+E000..U+FFFF in UTF-16 (RFC 8785 §3.2.3).
    assert canonical_bytes({"\U0001f600": 1, "\ufb01": 2}) == reference_bytes({"\U0001f600": 1, "\ufb01": 2})
    with pytest.raises(ValueError, match="cannot canonicalize"):
        canonical_bytes({"a": "\ud800"})  # a lone surrogate: refused like the reference refuses
