"""Correctly signed but hostile input to the federation API, on the wire (issue 14, 6/7/10).

Node B runs as a real ``parley serve`` process; the test signs every request with node A's
key, so each one passes authentication and reaches the parsing behind it. Each refusal must
be a 4xx with its code and leave B's stored state exactly as it was (docs/protocol.md §11.8).
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, func, select, text

from parley.federation.linktest import make_request
from parley.federation.witnessing import log_name, prepare_request
from parley.messaging.send import Draft, do_send_many
from parley.node import Node
from parley.protocol import signing
from parley.protocol.keys import SigningKeyPair
from parley.record.checkpoint import Checkpoint, sign_checkpoint
from parley.record.witness_tables import record_cosignatures, witness_evidence, witness_state
from parley.storage.tables import alarms, seen_requests
from tests.conftest import PG_BASE, _driver_url, _drop, require_pg
from tests.federation.crafting import Crafter, counts, quick_pair
from tests.harness.nodes import NodeProcess

pytestmark = pytest.mark.e2e

REQUEST_LIMIT = 6000  # small, so a few of B's own envelopes pass it
OWN_ENVELOPES = 8
TEXT = "x" * 1000


@dataclasses.dataclass
class World:
    b: NodeProcess
    a_node: Node
    b_node: Node
    craft: Crafter


@pytest.fixture(scope="module")
def b_database() -> Iterator[str | None]:
    """B's database on PostgreSQL, where text columns have their declared lengths."""
    require_pg()
    name = "parley_test_" + secrets.token_hex(6)
    admin = create_engine(_driver_url(PG_BASE + "/postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG_BASE}/{name}"
    finally:
        _drop(admin, name)
        admin.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    b_url = request.getfixturevalue("b_database") if request.param == "postgresql" else None
    base: Path = tmp_path_factory.mktemp("signed-input")
    cfg = {"federation": {"max_request_bytes": REQUEST_LIMIT}}
    a, b = quick_pair(base, db_urls=(None, b_url), config=cfg)
    a_node = Node.open(a.home)
    b_node = Node.open(b.home)
    # B's own chain on the channel, for GET /chain (A is never started: nothing is sent).
    draft = Draft("test-line", "duty", "general", "ROUTINE", "EXERCISE", {"text": TEXT, "lang": "en"})
    do_send_many(b_node, [draft] * OWN_ENVELOPES)
    b.start()
    craft = Crafter(a_node, b.url, b.cert(), b.name)
    try:
        yield World(b, a_node, b_node, craft)
    finally:
        craft.close()
        b.kill()
        a_node.close()
        b_node.close()


def state(w: World) -> dict[str, int]:
    """What a refused request must not change: the record, link tests and witnessing."""
    out = counts(w.b_node.engine)
    with w.b_node.engine.connect() as conn:
        for t in (witness_state, witness_evidence, record_cosignatures):
            out[t.name] = int(conn.execute(select(func.count()).select_from(t)).scalar() or 0)
        # A link-down alarm comes from the node's own link tests to a peer that never answers.
        own = select(func.count()).select_from(alarms).where(alarms.c.kind != "link_down")
        out[alarms.name] = int(conn.execute(own).scalar() or 0)
    return out


def refused(w: World, r: httpx.Response, status: int, code: str, before: dict[str, int]) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert body["error"] == code, body
    assert body["message"]
    assert state(w) == before, "a refused request changed stored state"
    return body


def get(w: World, query: str) -> httpx.Response:
    path = f"/federation/v1/chain?{query}"
    return w.craft.client.get(path, headers=w.craft.headers(b"", method="GET", path=path))


def nonces_stored(w: World) -> int:
    with w.b_node.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(seen_requests)).scalar() or 0)


# --- item 6: signed input that used to reach the database as it came ------------------------


def signed_linktest(w: World, **changes: Any) -> dict[str, Any]:
    request = make_request(w.a_node, "test-line", w.b_node.name, None)
    data = {**request["linktest"], **changes}
    return {"linktest": data, "signature": signing.sign("linktest", data, w.a_node.key)}


def test_honest_link_test_is_answered(world: World) -> None:
    r = world.craft.post_json(signed_linktest(world), "/federation/v1/linktest")
    assert r.status_code == 200, r.text
    assert r.json()["reply"]["kind"] == "linktest-reply"


@pytest.mark.parametrize("field", ["id", "sent_at"])
@pytest.mark.parametrize("value", [["a", "b"], {"a": 1}, 7, None, "x" * 65])
def test_link_test_fields_of_the_wrong_type(world: World, field: str, value: Any) -> None:
    before = state(world)
    r = world.craft.post_json(signed_linktest(world, **{field: value}), "/federation/v1/linktest")
    body = refused(world, r, 400, "malformed_request", before)
    assert body["details"]["problems"][0]["path"].startswith(f"linktest.{field}")


def test_link_test_previous_of_the_wrong_shape(world: World) -> None:
    before = state(world)
    previous = {"id": ["x"], "rtt_ms": "fast"}
    r = world.craft.post_json(signed_linktest(world, previous=previous), "/federation/v1/linktest")
    refused(world, r, 400, "malformed_request", before)


def test_chain_range_is_answered(world: World) -> None:
    r = get(world, "channel=test-line&from=1&to=1")
    assert r.status_code == 200, r.text
    assert len(r.json()["envelopes"]) == 1


@pytest.mark.parametrize(
    "query",
    [
        "channel=test-line&from=99999999999999999999&to=99999999999999999999",
        "channel=test-line&from=1&to=99999999999999999999",
        f"channel=test-line&from={2**63}&to={2**63}",
        "channel=test-line&from=1.0&to=2",
        "channel=test-line&from=%2B1&to=2",
        "channel=test-line&from=1&to=2&from=3",
        "channel=test-line&from=1&to=2&extra=1",
        "channel=" + "c" * 65 + "&from=1&to=2",
        "from=1&to=2",
        "channel=test-line&from=0&to=2",
    ],
)
def test_chain_query_out_of_bounds(world: World, query: str) -> None:
    before = state(world)
    refused(world, get(world, query), 400, "malformed_request", before)


def test_chain_at_the_largest_seq_is_empty(world: World) -> None:
    r = get(world, f"channel=test-line&from={2**63 - 1}&to={2**63 - 1}")
    assert r.status_code == 200, r.text
    assert r.json() == {"envelopes": []}


def forged_checkpoint(w: World) -> str:
    """A checkpoint under A's log name signed by a key that is not A's (an alarm if read)."""
    return sign_checkpoint(Checkpoint(log_name(w.a_node.name), 1, b"\x01" * 32), SigningKeyPair.generate())


@pytest.mark.parametrize("size", [2**64, 2**63, -1])
def test_checkpoint_from_size_out_of_bounds(world: World, size: int) -> None:
    before = state(world)
    body = {"checkpoint": forged_checkpoint(world), "from_size": size, "proof": []}
    r = world.craft.post_json(body, "/federation/v1/checkpoint")
    problems = refused(world, r, 400, "malformed_request", before)["details"]["problems"]
    assert problems[0]["path"] == "from_size"


@pytest.mark.parametrize("size", [2**64, 2**63])
def test_checkpoint_cosignature_size_out_of_bounds(world: World, size: int) -> None:
    before = state(world)
    body = prepare_request(world.a_node, world.b_node.name)
    with world.b_node.engine.connect() as conn:
        last = conn.execute(select(witness_state.c.size).where(witness_state.c.peer == "node-a")).scalar()
    body["from_size"] = int(last or 0)
    body["your_cosignature"] = {"size": size, "cosignature": "— parley.node-a AAAA\n"}
    r = world.craft.post_json(body, "/federation/v1/checkpoint")
    problems = refused(world, r, 400, "malformed_request", before)["details"]["problems"]
    assert problems[0]["path"] == "your_cosignature.size"


# --- item 10, last point: a signed body that is not JSON -------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_body_that_is_not_application_json(world: World, content_type: str | None) -> None:
    before = state(world)
    nonces = nonces_stored(world)
    body = json.dumps({"envelopes": []}).encode()
    headers = world.craft.headers(body)
    del headers["content-type"]
    sent = dict(headers) if content_type is None else {**headers, "content-type": content_type}
    r = world.craft.client.post("/federation/v1/envelopes", content=body, headers=sent)
    answer = refused(world, r, 415, "unsupported_media_type", before)
    assert "application/json" in answer["hint"]
    assert nonces_stored(world) == nonces, "the refusal consumed the nonce"
    # The very same signed request, sent as JSON, is then taken: its nonce was not used up.
    r = world.craft.post_raw(body, {**headers, "content-type": "application/json; charset=utf-8"})
    assert r.status_code == 200, r.text


def test_415_comes_before_the_signature_check(world: World) -> None:
    """A text body with a bad signature is refused for its type, without a key or clock."""
    before = state(world)
    body = b"hello"
    headers = {**world.craft.headers(b"other"), "content-type": "text/plain"}
    refused(world, world.craft.post_raw(body, headers), 415, "unsupported_media_type", before)


# --- item 7: nonces ---------------------------------------------------------------------------


def test_nonces_sharing_a_long_prefix_are_distinct(world: World) -> None:
    body = json.dumps({"envelopes": []}).encode()
    prefix = "f" * 60
    first = world.craft.headers(body, nonce=prefix + "0001")
    second = world.craft.headers(body, nonce=prefix + "0002")
    assert world.craft.post_raw(body, first).status_code == 200
    r = world.craft.post_raw(body, second)
    assert r.status_code == 200, f"a fresh nonce was taken for a replay: {r.text}"
    before = state(world)
    refused(world, world.craft.post_raw(body, second), 401, "replayed_request", before)
    refused(world, world.craft.post_raw(body, first), 401, "replayed_request", before)


# --- the size of GET /chain's answer ----------------------------------------------------------


def test_chain_answer_is_bounded_in_bytes(world: World) -> None:
    r = get(world, f"channel=test-line&from=1&to={OWN_ENVELOPES}")
    assert r.status_code == 200, r.text
    wires = r.json()["envelopes"]
    assert 1 <= len(wires) < OWN_ENVELOPES, len(wires)
    assert len(r.content) <= REQUEST_LIMIT
    assert [w["envelope"]["seq"] for w in wires] == list(range(1, len(wires) + 1))
    # The rest is there for the next request.
    r = get(world, f"channel=test-line&from={len(wires) + 1}&to={OWN_ENVELOPES}")
    assert r.json()["envelopes"][0]["envelope"]["seq"] == len(wires) + 1
