"""Every refusal of the federation API, on the wire, against a real running node.

Node B runs as a real ``parley serve`` process; the test speaks to it as node A would (or as
someone pretending to be A), signing with A's key from A's home. Each refusal must come back
as a 4xx with its machine-readable ``error`` code, and must leave B's stored state exactly
as it was (docs/protocol.md §Federation API, "Error codes").
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from parley.clock import ManualClock, SystemClock, format_time
from parley.node import Node
from parley.protocol.keys import SigningKeyPair
from tests.federation.crafting import Crafter, add_channel_without, counts, quick_pair
from tests.harness.nodes import NodeProcess

pytestmark = pytest.mark.e2e

BODY_LIMIT = 400
REQUEST_LIMIT = 200_000


@dataclasses.dataclass
class World:
    a: NodeProcess
    b: NodeProcess
    a_node: Node
    b_node: Node
    craft: Crafter
    first: dict[str, Any]  # A's envelope seq 1, stored at B


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base: Path = tmp_path_factory.mktemp("refusals")
    cfg: dict[str, dict[str, Any]] = {
        "federation": {"max_body_bytes": BODY_LIMIT, "max_request_bytes": REQUEST_LIMIT}
    }
    a, b = quick_pair(base, config=cfg)
    b_setup = Node.open(b.home)
    add_channel_without(base, b_setup, "node-c", "b-c-line").close()
    b_setup.close()
    a_node = Node.open(a.home)
    b_node = Node.open(b.home)
    b.start()
    craft = Crafter(a_node, b.url, b.cert(), b.name)
    try:
        first = craft.envelope(1, None)
        r = craft.post_envelopes([first])
        assert r.status_code == 200, r.text
        assert r.json()["stored"] == [first["envelope"]["id"]]
        yield World(a, b, a_node, b_node, craft, first)
    finally:
        craft.close()
        b.kill()
        a_node.close()
        b_node.close()


def refused(w: World, r: httpx.Response, status: int, code: str, before: dict[str, int]) -> dict[str, Any]:
    """Assert the refusal and that nothing changed; return the error body."""
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert body["error"] == code, body
    assert isinstance(body.get("message"), str)
    assert body["message"]
    assert counts(w.b_node.engine) == before, "a refused request changed stored state"
    return body


def second(w: World, **kw: Any) -> dict[str, Any]:
    """A's seq 2 continuing the stored seq 1 (not stored by any test)."""
    return w.craft.envelope(2, w.first["hash"], **kw)


# --- request authentication ---------------------------------------------------------------


def test_forged_request_signature(world: World) -> None:
    before = counts(world.b_node.engine)
    body = json.dumps({"envelopes": [second(world)]}).encode()
    headers = world.craft.headers(body)
    sig = headers["parley-signature"]
    headers["parley-signature"] = ("B" if sig[0] != "B" else "C") + sig[1:]
    refused(world, world.craft.post_raw(body, headers), 401, "bad_request_signature", before)


def test_request_signed_with_the_wrong_key(world: World) -> None:
    before = counts(world.b_node.engine)
    r = world.craft.post_envelopes([second(world)], key=SigningKeyPair.generate())
    refused(world, r, 401, "bad_request_signature", before)


def test_body_changed_after_signing(world: World) -> None:
    before = counts(world.b_node.engine)
    body = json.dumps({"envelopes": []}).encode()
    headers = world.craft.headers(body)
    tampered = json.dumps({"envelopes": [second(world)]}).encode()
    refused(world, world.craft.post_raw(tampered, headers), 401, "bad_request_signature", before)


def test_unsigned_request(world: World) -> None:
    before = counts(world.b_node.engine)
    r = world.craft.client.post("/federation/v1/envelopes", json={"envelopes": [second(world)]})
    refused(world, r, 401, "unsigned_request", before)


def test_replayed_request(world: World) -> None:
    before = counts(world.b_node.engine)
    body = json.dumps({"envelopes": []}).encode()
    headers = world.craft.headers(body)
    first = world.craft.post_raw(body, headers)
    assert first.status_code == 200, first.text
    refused(world, world.craft.post_raw(body, headers), 401, "replayed_request", before)


def test_replayed_request_carrying_an_envelope(world: World) -> None:
    """A captured request that delivered nothing new cannot be played again either."""
    before = counts(world.b_node.engine)
    body = json.dumps({"envelopes": [world.first]}).encode()
    headers = world.craft.headers(body)
    assert world.craft.post_raw(body, headers).status_code == 200
    refused(world, world.craft.post_raw(body, headers), 401, "replayed_request", before)


@pytest.mark.parametrize(
    "payload",
    [{"envelopes": "not a list"}, {"envelopes": [{"protocol": "parley/1"}]}],
    ids=["shape", "envelope"],
)
def test_refused_request_cannot_be_replayed(world: World, payload: dict[str, Any]) -> None:
    """The nonce of a batch is stored in the batch's own transaction; a refusal rolls that
    back, so it is remembered on its own: the refused request cannot be played again."""
    before = counts(world.b_node.engine)
    body = json.dumps(payload).encode()
    headers = world.craft.headers(body)
    first = world.craft.post_raw(body, headers)
    assert first.status_code == 400, first.text
    refused(world, world.craft.post_raw(body, headers), 401, "replayed_request", before)


@pytest.mark.parametrize("offset_s", [-3600, 3600])
def test_stale_or_future_timestamp(world: World, offset_s: int) -> None:
    before = counts(world.b_node.engine)
    when = format_time(SystemClock().now() + timedelta(seconds=offset_s))
    r = world.craft.post_envelopes([second(world)], time=when)
    body = refused(world, r, 401, "stale_request", before)
    assert "NTP" in body.get("hint", "")


@pytest.mark.parametrize("when", ["yesterday", "2026-01-01T00:00:00", "0001-01-01T00:00:00+01:00"])
def test_unreadable_timestamp(world: World, when: str) -> None:
    before = counts(world.b_node.engine)
    refused(world, world.craft.post_envelopes([second(world)], time=when), 401, "stale_request", before)


def test_request_made_with_a_clock_far_behind(world: World) -> None:
    """The sender's own clock is wrong by an hour: its signed time is refused."""
    before = counts(world.b_node.engine)
    behind = dataclasses.replace(world.a_node, clock=ManualClock(SystemClock().now() - timedelta(hours=1)))
    craft = Crafter(behind, world.b.url, world.b.cert(), world.b.name)
    try:
        refused(world, craft.post_envelopes([second(world)]), 401, "stale_request", before)
    finally:
        craft.close()


def test_wrong_destination(world: World) -> None:
    before = counts(world.b_node.engine)
    r = world.craft.post_envelopes([second(world)], destination="node-c")
    refused(world, r, 401, "wrong_destination", before)


def test_unknown_origin(world: World) -> None:
    before = counts(world.b_node.engine)
    stranger = SigningKeyPair.generate()
    env = second(world, key=stranger, sender="node-x")
    r = world.craft.post_envelopes([env], origin="node-x", key=stranger)
    refused(world, r, 401, "unknown_peer", before)


def test_origin_claiming_to_be_the_receiver(world: World) -> None:
    before = counts(world.b_node.engine)
    r = world.craft.post_envelopes([], origin="node-b")
    refused(world, r, 401, "unknown_peer", before)


# --- envelope checks ----------------------------------------------------------------------


def test_envelope_signed_with_another_key(world: World) -> None:
    before = counts(world.b_node.engine)
    body = refused(
        world,
        world.craft.post_envelopes([second(world, key=SigningKeyPair.generate())]),
        400,
        "verification_failed",
        before,
    )
    assert body["message"].startswith("5 key")


def test_envelope_signature_forged_under_the_pinned_key_id(world: World) -> None:
    before = counts(world.b_node.engine)
    env = second(world, key=SigningKeyPair.generate())
    env["key_id"] = world.a_node.key.public.key_id
    body = refused(world, world.craft.post_envelopes([env]), 400, "verification_failed", before)
    assert body["message"].startswith("6 signature")


def test_envelope_altered_after_signing(world: World) -> None:
    before = counts(world.b_node.engine)
    env = second(world)
    env["envelope"]["body"]["text"] = "something else"
    body = refused(world, world.craft.post_envelopes([env]), 400, "verification_failed", before)
    assert body["message"].startswith("4 hash")


def test_envelope_of_another_node_delivered_by_a(world: World) -> None:
    before = counts(world.b_node.engine)
    env = world.craft.envelope(1, None, key=world.b_node.key, sender="node-b")
    refused(world, world.craft.post_envelopes([env]), 403, "wrong_sender", before)


def test_channel_the_sender_is_not_in(world: World) -> None:
    before = counts(world.b_node.engine)
    env = world.craft.envelope(1, None, channel="b-c-line")
    body = refused(world, world.craft.post_envelopes([env]), 403, "not_a_member", before)
    assert "b-c-line" in body["message"]


def test_desk_that_is_not_a_member(world: World) -> None:
    before = counts(world.b_node.engine)
    refused(
        world,
        world.craft.post_envelopes([second(world, desk="press")]),
        403,
        "not_a_member",
        before,
    )


def test_unknown_channel(world: World) -> None:
    before = counts(world.b_node.engine)
    env = world.craft.envelope(1, None, channel="no-such-line")
    refused(world, world.craft.post_envelopes([env]), 403, "unknown_channel", before)


def test_type_not_in_the_charter(world: World) -> None:
    before = counts(world.b_node.engine)
    env = second(world, type="sar-request", body={"anything": True})
    refused(world, world.craft.post_envelopes([env]), 403, "type_not_allowed", before)


def test_suspended_channel_refuses_non_exempt_types(world: World) -> None:
    world.b.cli("channel", "suspend", "test-line", "--reason", "talks paused", "--exempt", "incident-at-sea")
    try:
        before = counts(world.b_node.engine)
        body = refused(world, world.craft.post_envelopes([second(world)]), 403, "channel_suspended", before)
        assert "Incident at sea" in body.get("hint", "")  # the type's label, for the peer's operator
        assert body["details"]["exempt_types"] == ["incident-at-sea"]  # its code, for the peer's machine
    finally:
        world.b.cli("channel", "resume", "test-line", "--reason", "talks resumed")


def test_oversized_body(world: World) -> None:
    before = counts(world.b_node.engine)
    env = second(world, body={"text": "x" * (BODY_LIMIT * 2), "lang": "en"})
    body = refused(world, world.craft.post_envelopes([env]), 413, "body_too_large", before)
    assert str(BODY_LIMIT) in body["message"]


def test_oversized_request(world: World) -> None:
    before = counts(world.b_node.engine)
    body = b'{"envelopes": [' + b'"x",' * (REQUEST_LIMIT // 4) + b'"x"]}'
    refused(
        world,
        world.craft.post_raw(body, world.craft.headers(body)),
        413,
        "request_too_large",
        before,
    )


def test_body_that_does_not_match_its_schema(world: World) -> None:
    before = counts(world.b_node.engine)
    env = second(world, body={"text": "no language"})
    refused(world, world.craft.post_envelopes([env]), 422, "invalid_body", before)


@pytest.mark.parametrize(
    "raw", [b"{not json", b'{"envelopes": [}', b'{"a": 1, "a": 2}', b"[NaN]", b"\xff\xfe"]
)
def test_malformed_json(world: World, raw: bytes) -> None:
    before = counts(world.b_node.engine)
    refused(world, world.craft.post_raw(raw, world.craft.headers(raw)), 400, "malformed_json", before)


@pytest.mark.parametrize(
    "payload",
    [[], {"envelope": []}, {"envelopes": {}}, {"envelopes": [], "extra": 1}, "envelopes", None],
)
def test_wrong_shape(world: World, payload: Any) -> None:
    before = counts(world.b_node.engine)
    refused(world, world.craft.post_json(payload), 400, "malformed_request", before)


def test_envelope_of_the_wrong_shape(world: World) -> None:
    before = counts(world.b_node.engine)
    body = refused(world, world.craft.post_envelopes([{"envelope": {}}]), 400, "verification_failed", before)
    assert body["message"].startswith("1 shape")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", "{00000000-0000-4000-8000-000000000001}"),
        ("id", "00000000000040008000000000000001"),
        ("created", "2026-01-01T00:00:00Z"),
        ("created", "20260101T000000.000Z"),
        ("seq", 2**60),
    ],
)
def test_non_canonical_field_forms(world: World, field: str, value: Any) -> None:
    """Signed by A, but in a form the protocol does not allow: refused before storage."""
    before = counts(world.b_node.engine)
    env = second(world)
    inner = dict(env["envelope"], **{field: value})
    from parley.protocol import signing
    from parley.protocol.canonical import content_hash

    try:
        digest = content_hash(inner)
    except ValueError:
        digest = env["hash"]  # not even canonicalisable: any hash will do
    wire = {"envelope": inner, "hash": digest, "key_id": env["key_id"], "signature": ""}
    try:
        wire["signature"] = signing.sign("envelope", inner, world.a_node.key)
    except ValueError:
        wire["signature"] = env["signature"]
    refused(world, world.craft.post_envelopes([wire]), 400, "verification_failed", before)


# --- chains -------------------------------------------------------------------------------


def test_sequence_gap(world: World) -> None:
    before = counts(world.b_node.engine)
    two = second(world)
    three = world.craft.envelope(3, two["hash"])
    body = refused(world, world.craft.post_envelopes([three]), 409, "sequence_gap", before)
    assert body["details"]["expected_seq"] == 2
    assert body["details"]["got_seq"] == 3


def test_fork_at_a_stored_seq(world: World) -> None:
    before = counts(world.b_node.engine)
    other_one = world.craft.envelope(1, None, body={"text": "a different first message", "lang": "en"})
    refused(world, world.craft.post_envelopes([other_one]), 409, "chain_fork", before)


def test_broken_prev_link(world: World) -> None:
    before = counts(world.b_node.engine)
    env = world.craft.envelope(2, "sha256:" + "0" * 64)
    refused(world, world.craft.post_envelopes([env]), 400, "chain_broken", before)


def test_batch_is_all_or_nothing(world: World) -> None:
    """A good envelope followed by a refused one: neither is stored."""
    before = counts(world.b_node.engine)
    two = second(world)
    bad_three = world.craft.envelope(3, two["hash"], type="sar-request", body={})
    body = refused(world, world.craft.post_envelopes([two, bad_three]), 403, "type_not_allowed", before)
    assert body["details"]["index"] == 1


def test_duplicate_envelope_is_receipted_not_stored(world: World) -> None:
    before = counts(world.b_node.engine)
    r = world.craft.post_envelopes([world.first])
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["stored"] == []
    assert answer["duplicates"] == [world.first["envelope"]["id"]]
    assert answer["receipts"][0]["receipt"]["upto_seq"] == 1
    assert counts(world.b_node.engine) == before


def test_chain_fetch_refused_to_a_non_member(world: World) -> None:
    before = counts(world.b_node.engine)
    path = "/federation/v1/chain?channel=b-c-line&from=1&to=5"
    r = world.craft.client.get(path, headers=world.craft.headers(b"", method="GET", path=path))
    refused(world, r, 403, "not_a_member", before)


@pytest.mark.parametrize(
    "query",
    ["channel=test-line&from=x&to=2", "channel=test-line&from=5&to=1", "channel=nope&from=1&to=2"],
)
def test_chain_fetch_bad_range(world: World, query: str) -> None:
    before = counts(world.b_node.engine)
    path = f"/federation/v1/chain?{query}"
    r = world.craft.client.get(path, headers=world.craft.headers(b"", method="GET", path=path))
    assert r.status_code in (400, 404), r.text
    assert r.json()["error"] in ("malformed_request", "unknown_channel")
    assert counts(world.b_node.engine) == before
