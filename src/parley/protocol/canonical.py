r"""Canonical bytes by RFC 8785 (JSON Canonicalization Scheme).

Everything Parley signs or hashes is first turned into its RFC 8785 form. The ``rfc8785``
package, which passes the published JCS vectors, is the reference. It is written in Python
and was most of the time a transcript check took (2 of every 3 seconds), so a value in the
subset where the standard library's C encoder writes exactly the JCS bytes goes through it:

* no floats (ES6 number forms differ from Python's ``repr``), and integers within the
  JSON-safe ±(2^53 − 1), beyond which the reference refuses;
* object keys in ASCII, where sorting by code point (Python) and by UTF-16 code unit (JCS
  §3.2.3) give one order;
* strings escaped as JCS escapes them (``\"``, ``\\``, ``\b \f \n \r \t``, other controls as
  lowercase ``\u00xx``; everything else as UTF-8), which ``json.dumps`` with
  ``ensure_ascii=False`` does; a lone surrogate cannot be encoded and falls back.

Anything else (a float, a non-ASCII key, a tuple) goes to the reference. Both paths are held
to the same bytes on the JCS vectors and on hypothesis-made values
(tests/foundation/test_canonical_fast.py).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import rfc8785

_SAFE = 2**53 - 1


def _in_fast_subset(value: Any) -> bool:
    """Whether ``json.dumps`` writes ``value``'s JCS bytes (see the module docstring)."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if -_SAFE <= item <= _SAFE:
                continue
            return False
        if kind is dict:
            for key, child in item.items():
                if type(key) is not str or not key.isascii():
                    return False
                stack.append(child)
            continue
        if kind is list:
            stack.extend(item)
            continue
        return False
    return True


def canonical_bytes(value: Any) -> bytes:
    """The RFC 8785 bytes of a JSON value (dicts, lists, str, int, float, bool, None)."""
    if _in_fast_subset(value):
        try:
            text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
            return text.encode("utf-8")
        except (UnicodeEncodeError, RecursionError):
            pass  # a lone surrogate, or nesting json's encoder will not take: the reference decides
    return reference_bytes(value)


def reference_bytes(value: Any) -> bytes:
    """The RFC 8785 bytes by the reference implementation (the ``rfc8785`` package)."""
    try:
        return bytes(rfc8785.dumps(value))
    except rfc8785.CanonicalizationError as exc:
        raise ValueError(f"cannot canonicalize value: {exc}") from exc


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def content_hash(value: Any) -> str:
    """``sha256:<hex>`` of the canonical bytes: how envelopes and records name each other."""
    return "sha256:" + sha256_hex(canonical_bytes(value))


MAX_DEPTH = 64


def loads_strict(data: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON, refusing duplicate keys and non-finite numbers (RFC 8785 forbids both).

    Nesting deeper than ``max_depth`` arrays/objects is refused with a ValueError: nothing
    Parley reads nests beyond a dozen levels, and a hostile document 100,000 levels deep
    would otherwise exhaust the stack here or in every recursive walk after it (RFC 8259 §9
    lets a parser set such a limit).
    """

    def no_dupes(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in pairs:
            if k in out:
                raise ValueError(f"duplicate key {k!r}")
            out[k] = v
        return out

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not valid JSON")

    try:
        value = json.loads(data, object_pairs_hook=no_dupes, parse_constant=no_constant)
    except RecursionError:
        raise ValueError(f"JSON nested deeper than {max_depth} levels") from None
    check_depth(value, max_depth)
    return value


def check_depth(value: Any, max_depth: int = MAX_DEPTH) -> None:
    """Raise ValueError if ``value`` nests arrays/objects deeper than ``max_depth``."""
    # Iterative, so that checking a deep value cannot itself overflow the stack.
    if not isinstance(value, dict | list):
        return
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, dict | list):
                if depth >= max_depth:
                    raise ValueError(f"JSON nested deeper than {max_depth} levels")
                stack.append((child, depth + 1))
