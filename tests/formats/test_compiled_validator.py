"""The compiled validator gives the reference validator's verdict (issue 17, the hot path).

``validate_body`` accepts a body on the compiled validator's word (jsonschema-rs) and asks
the reference (jsonschema) only about a body it refuses. That is sound only if the two agree:
on every published example, and on bodies that differ from them in one place — a value of
another type or bound, an impossible date, a missing member, a member too many.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parley.formats.registry import compiled_verdict, latest_version, list_types, reference_verdict

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "parley" / "formats" / "examples"
TYPES = [t.name for t in list_types()]


def _example(type_name: str) -> Any:
    return json.loads((EXAMPLES / f"{type_name}.json").read_text(encoding="utf-8"))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value, the root included."""
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def test_every_type_has_a_published_example() -> None:
    assert sorted(p.stem for p in EXAMPLES.glob("*.json")) == sorted(TYPES)


@pytest.mark.parametrize("type_name", TYPES)
def test_both_accept_every_published_example(type_name: str) -> None:
    body = _example(type_name)
    version = latest_version(type_name)
    assert reference_verdict(type_name, version, body)
    assert compiled_verdict(type_name, version, body) is True


DATES = st.sampled_from(
    [
        "2026-11-20T07:40:00Z",
        "2026-11-20T07:40:00+03:00",
        "2026-02-30T00:00:00Z",  # no such day
        "2026-11-20T25:00:00Z",
        "2026-11-20",
        "2026-13-01",
        "2024-02-29",
        "2025-02-29",
        "20261120T074000Z",
        "",
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | DATES
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, Any]:
    type_name = draw(st.sampled_from(TYPES))
    body = copy.deepcopy(_example(type_name))
    path = draw(st.sampled_from(_paths(body)))
    how = draw(st.sampled_from(["replace", "delete", "add"]))
    if not path:
        return type_name, draw(JSON) if how == "replace" else body
    parent = body
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if how == "replace":
        parent[last] = draw(JSON)
    elif how == "delete":
        del parent[last]
    elif isinstance(parent, dict):
        parent[draw(st.text(min_size=1, max_size=12))] = draw(JSON)
    else:
        parent.append(draw(JSON))
    return type_name, body


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_both_give_the_same_verdict_on_bodies_one_change_from_an_example(case: tuple[str, Any]) -> None:
    type_name, body = case
    version = latest_version(type_name)
    fast = compiled_verdict(type_name, version, body)
    if fast is None:  # a value the compiled validator cannot take: the reference decides
        return
    assert fast == reference_verdict(type_name, version, body), json.dumps(body, ensure_ascii=False)[:500]


def test_a_value_beyond_64_bits_is_left_to_the_reference() -> None:
    body = _example("general")
    body["extra_number"] = 2**70
    verdict = compiled_verdict("general", latest_version("general"), body)
    assert verdict in (None, reference_verdict("general", latest_version("general"), body))
