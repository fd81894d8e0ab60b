"""Helpers for the message-format tests: example bodies and envelopes around them."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import parley.formats

EXAMPLES = Path(parley.formats.__file__).parent / "examples"
TYPES = sorted(p.stem for p in EXAMPLES.glob("*.json"))
LANGS = ("nb", "ru", "en")


def example(type_name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((EXAMPLES / f"{type_name}.json").read_text("utf-8"))
    return body


def envelope(
    type_name: str,
    status: str = "ACTUAL",
    *,
    body: dict[str, Any] | None = None,
    precedence: str = "IMMEDIATE",
) -> dict[str, Any]:
    """An envelope as the node core builds it (unsigned: signatures are not our concern)."""
    return {
        "protocol": "parley/1",
        "id": "0b9f5a52-6a3e-4f0e-9d55-0c2b8f6a7e01",
        "channel": "incsea-1990",
        "sender": {"node": "no-njhq", "desk": "duty-officer"},
        "seq": 3,
        "prev": "sha256:" + "0" * 64,
        "created": "2026-11-23T10:20:00.000Z",
        "type": type_name,
        "type_version": 1,
        "precedence": precedence,
        "status": status,
        "body": copy.deepcopy(body) if body is not None else example(type_name),
        "refs": ["3f1c2b9e-8d4a-4c1e-9b7a-2e6f0d5c4a11"],
    }
