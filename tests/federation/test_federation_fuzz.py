"""A signed fuzzer for the federation API, built from docs/federation.openapi.json (issue 14).

For every operation in the document, hypothesis generates bodies (or queries) from the
operation's schema — valid ones, and mutated ones: a value of the wrong type, an integer
past 2^63, nesting deeper than any parser should follow, an over-long string, a key removed
or added. Part of the valid ones are made to pass the checks behind the shape too: signed
documents re-signed with the peer's key, real checkpoints, real envelopes. Every request is
signed correctly as the peer (node A) and sent over HTTPS to a real node process (B). No
answer may be a 5xx, every refusal is ``{"error": code, "message": …}``, and a refused
request changes nothing stored (docs/protocol.md §11.8).

Bounded: about 2,000 requests in all (``CASES`` per operation and mode), derandomized.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parley.federation.witnessing import prepare_request
from parley.node import Node
from parley.protocol import signing
from parley.protocol.keys import SigningKeyPair
from tests.federation.crafting import Crafter, counts, quick_pair
from tests.harness.nodes import NodeProcess

pytestmark = pytest.mark.e2e

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "federation.openapi.json"
CASES = {"valid": 140, "mutated": 200}  # per operation: 6 x 340 = 2,040 requests
DEEP = "\x00deep\x00"  # stands for nesting too deep to build as Python objects

FUZZ = settings(
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

SPEC: dict[str, Any] = json.loads(DOCUMENT.read_text(encoding="utf-8"))
OPERATIONS = [(path, method, op) for path, ops in SPEC["paths"].items() for method, op in ops.items()]


# --- strategies from JSON Schema ---------------------------------------------------------------

json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
# Names B knows, so that generated requests get past "unknown channel" and the like.
names = st.sampled_from(
    ["test-line", "test-line", "test-line", "node-a", "node-b", "duty", "general", "nope"]
)


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        *_, kind, name = schema["$ref"].split("/")
        schema = SPEC["components"][kind][name]
    return schema


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values valid for ``schema`` (the subset of JSON Schema the document uses)."""
    schema = resolve(schema)
    if "anyOf" in schema:
        return st.one_of([from_schema(s) for s in schema["anyOf"]])
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        props: dict[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", []))
        if not props:
            most = min(int(schema.get("maxProperties", 3)), 3)
            values = (
                from_schema(schema["additionalProperties"])
                if isinstance(schema.get("additionalProperties"), dict)
                else json_value
            )
            keys = from_schema({"type": "string", "maxLength": 12, **schema.get("propertyNames", {})})
            return st.dictionaries(keys, values, max_size=most)
        return st.fixed_dictionaries(
            {k: from_schema(v) for k, v in props.items() if k in required},
            optional={k: from_schema(v) for k, v in props.items() if k not in required},
        )
    if kind == "array":
        items = from_schema(schema.get("items", {}))
        return st.lists(items, max_size=min(int(schema.get("maxItems", 4)), 4))
    if kind == "string":
        low, high = int(schema.get("minLength", 0)), int(schema.get("maxLength", 40))
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True).filter(lambda s: low <= len(s) <= high)
        short = st.text(min_size=low, max_size=min(high, 40))
        known = names.filter(lambda s: low <= len(s) <= high)
        return known | known | short | st.just("y" * high)
    if kind == "integer":
        low, high = int(schema.get("minimum", -(2**63))), int(schema.get("maximum", 2**63 - 1))
        return st.sampled_from([low, high]) | st.integers(low, min(high, low + 50)) | st.integers(low, high)
    if kind == "number":
        floor, ceiling = float(schema.get("minimum", -1e300)), float(schema.get("maximum", 1e300))
        return st.floats(floor, ceiling, allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    return json_value


hostile: st.SearchStrategy[Any] = (
    st.sampled_from(
        [
            2**63,
            2**64,
            10**30,
            -1,
            -(2**63) - 1,
            1.5,
            1e308,
            True,
            None,
            "",
            "x" * 5000,
            "\u0000",
            [],
            {},
            DEEP,
        ]
    )
    | json_value
)


@st.composite
def mutated(draw: st.DrawFn, valid: Any) -> Any:
    """``valid`` with one thing wrong somewhere inside it."""
    if not isinstance(valid, (dict, list)) or not valid or draw(st.integers(0, 19)) == 0:
        return draw(hostile)
    # Every place in the document is as likely to break, however deep it sits.
    places: list[tuple[Any, Any]] = []

    def collect(holder: Any) -> None:
        for key in list(holder) if isinstance(holder, dict) else range(len(holder)):
            places.append((holder, key))
            if isinstance(holder[key], (dict, list)) and holder[key]:
                collect(holder[key])

    collect(valid)
    holder, key = draw(st.sampled_from(places))
    action = draw(st.sampled_from(["replace", "replace", "delete", "extra"]))
    if action == "replace":
        holder[key] = draw(hostile)
    elif action == "delete":
        del holder[key]
    elif isinstance(holder, dict):
        holder[draw(st.text(min_size=1, max_size=8))] = draw(hostile)
    else:
        holder.append(draw(hostile))
    return valid


def encode(value: Any, depth: int) -> bytes:
    text = json.dumps(value)
    return text.replace(json.dumps(DEEP), "[" * depth + "]" * depth).encode()


# --- the target ------------------------------------------------------------------------------


@dataclass
class Target:
    b: NodeProcess
    a_node: Node
    b_node: Node
    craft: Crafter
    checkpoint: dict[str, Any]
    envelope: dict[str, Any]


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    base: Path = tmp_path_factory.mktemp("federation-fuzz")
    a, b = quick_pair(base, config={"federation": {"max_request_bytes": 65536}})
    a_node = Node.open(a.home)
    b_node = Node.open(b.home)
    b.start()
    craft = Crafter(a_node, b.url, b.cert(), b.name)
    try:
        checkpoint = prepare_request(a_node, b_node.name)
        yield Target(b, a_node, b_node, craft, checkpoint, craft.envelope(1, None))
    finally:
        craft.close()
        b.kill()
        a_node.close()
        b_node.close()


def sign(kind: str, payload: Any, key: SigningKeyPair) -> str:
    try:
        return signing.sign(kind, payload, key)
    except ValueError:
        return "not canonicalisable, so not signed"  # sent as it is: refused either way


def deepen(t: Target, path: str, body: Any, draw: Callable[[st.SearchStrategy[Any]], Any]) -> Any:
    """Make a valid-shaped body pass the checks after the shape, some of the time."""
    if not isinstance(body, dict) or draw(st.integers(0, 3)) == 0:
        return body
    key = t.a_node.key
    if (
        path.endswith("/linktest")
        and isinstance(body.get("linktest"), dict)
        and "channel" in body["linktest"]
    ):
        body["linktest"].update(initiator=t.a_node.name, responder=t.b_node.name)
        body["linktest"]["channel"] = draw(st.sampled_from(["test-line"] * 3 + [body["linktest"]["channel"]]))
        body["signature"] = sign("linktest", body["linktest"], key)
    elif path.endswith("/status-records") and isinstance(body.get("record"), dict):
        body["record"].update(signer=t.a_node.name, channel="test-line")
        body["signature"] = sign("status", body["record"], key)
    elif path.endswith("/checkpoint"):
        body["checkpoint"] = t.checkpoint["checkpoint"]
    elif path.endswith("/envelopes") and isinstance(body.get("envelopes"), list):
        body["envelopes"] = [t.envelope, *body["envelopes"][:1]]
    return body


def send(t: Target, method: str, path: str, body: bytes | None, query: str | None, label: str) -> str:
    """Send one signed request; return its outcome (``200`` or the error code)."""
    full = path + (f"?{query}" if query is not None else "")
    content = body or b""
    before = counts(t.b_node.engine)
    headers = t.craft.headers(content, method=method.upper(), path=full)
    try:
        r = t.craft.client.request(method.upper(), full, content=content, headers=headers)
    except httpx.HTTPError as exc:  # pragma: no cover - a dropped connection is a failure too
        raise AssertionError(f"{label}: {exc}") from exc
    assert r.status_code < 500, f"{label}: {r.status_code} {r.text[:300]}"
    if r.status_code >= 400:
        answer = r.json()
        assert isinstance(answer.get("error"), str), f"{label}: {answer}"
        assert answer["error"], f"{label}: {answer}"
        assert isinstance(answer.get("message"), str), f"{label}: {answer}"
        assert counts(t.b_node.engine) == before, f"{label}: refused ({answer['error']}) but state changed"
        return str(answer["error"])
    return str(r.status_code)


@st.composite
def query_of(draw: st.DrawFn, op: dict[str, Any], mode: str) -> str:
    params = [p for p in op["parameters"] if p.get("in") == "query"]
    known = {"channel": st.just("test-line")}  # past "unknown channel", to the range
    if len(params) == 1:
        # A channel alone (GET /held) is one query: other names too, or there is one case.
        known = {"channel": st.just("test-line") | from_schema(params[0]["schema"])}
    pairs = [(p["name"], draw(known.get(p["name"], from_schema(p["schema"])))) for p in params]
    if mode == "mutated":
        i = draw(st.integers(0, len(pairs) - 1))
        action = draw(st.sampled_from(["replace", "replace", "delete", "extra", "twice"]))
        if action == "replace":
            wrong = st.sampled_from(["", "-1", "0", "1.0", "+1", " 1", "1e3", "x", str(2**63), str(10**30)])
            value = draw(wrong | st.text(max_size=80))
            # The same wrong value in every slot it fits, so a range check cannot hide it.
            every = draw(st.booleans())
            pairs = [(k, value if every and k != "channel" else v) for k, v in pairs]
            pairs[i] = (pairs[i][0], value)
        elif action == "delete":
            del pairs[i]
        elif action == "extra":
            pairs.append((draw(st.text(min_size=1, max_size=8)), draw(st.text(max_size=8))))
        else:
            pairs.append(pairs[i])
    return urlencode([(k, str(v)) for k, v in pairs])


@pytest.mark.parametrize("mode", ["valid", "mutated"])
@pytest.mark.parametrize(("path", "method", "op"), OPERATIONS, ids=[f"{m} {p}" for p, m, _ in OPERATIONS])
def test_signed_fuzz_never_answers_5xx(
    target: Target, path: str, method: str, op: dict[str, Any], mode: str
) -> None:
    body_schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    outcomes: dict[str, int] = {}

    @settings(FUZZ, max_examples=CASES[mode])
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        if body_schema is None:
            query = data.draw(query_of(op, mode), label="query")
            got = send(target, method, path, None, query, f"{mode} {method} {path}?{query[:100]}")
            outcomes[got] = outcomes.get(got, 0) + 1
            return
        body = data.draw(from_schema(body_schema), label="valid")
        if mode == "mutated":
            body = data.draw(mutated(body), label="mutated")
        # Re-signed, a mutation also reaches the checks behind the document's signature.
        body = deepen(target, path, body, data.draw)
        depth = data.draw(st.sampled_from([3, 100, 1000, 5000]), label="depth")
        raw = encode(body, depth)
        got = send(target, method, path, raw, None, f"{mode} {method} {path} {raw[:160]!r}")
        outcomes[got] = outcomes.get(got, 0) + 1

    run()
    assert sum(outcomes.values()) >= CASES[mode] // 2, outcomes
    if mode == "valid":
        # What the schema calls valid, the route's model takes: refusals come from later checks.
        assert set(outcomes) - {"malformed_request"}, outcomes
    else:
        assert outcomes.get("malformed_request", 0) > 0, outcomes
