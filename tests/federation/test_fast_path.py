"""The sending loop's in-memory path: what the API just committed goes out without being read
back, and anything else (a message another process stored) falls back to the outbox query,
so the peer still receives every envelope once and in chain order."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.federation.test_exactly_once import db_urls, stored, wait_drained
from tests.harness.nodes import NodeProcess, make_pair

pytestmark = pytest.mark.e2e


def send_waiting(node: NodeProcess, text: str) -> dict[str, object]:
    with node.client() as c:
        r = c.post(
            "/api/v1/messages?wait=receipt&timeout=20",
            json={"channel": "test-line", "type": "general", "body": {"text": text, "lang": "en"}},
        )
    assert r.status_code == 201, r.text
    out: dict[str, object] = r.json()
    return out


def send_batch(node: NodeProcess) -> list[dict[str, object]]:
    """A batch whose second message is refused: only that one is, the rest share a commit."""
    good = {"channel": "test-line", "type": "general", "body": {"text": "batched", "lang": "en"}}
    bad = {"channel": "test-line", "type": "general", "body": {"lang": "en"}}  # no text
    with node.client() as c:
        r = c.post("/api/v1/messages/batch", json={"messages": [good, bad, good]})
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["stored"], out["refused"]) == (2, 1)
    first, refused, third = out["results"]
    assert refused["error"] == "invalid_body", refused
    assert [p["path"] for p in refused["details"]["problems"]] == ["/text"], refused
    assert third["seq"] == first["seq"] + 1
    return [first, third]


def test_message_stored_by_another_process_is_not_skipped(
    tmp_path: Path, engine_kind: str, pg_factory: Callable[[], str] | None
) -> None:
    a, b = make_pair(tmp_path, db_urls=db_urls(engine_kind, pg_factory), tick=0.2)
    a.start()
    b.start()
    try:
        first = send_waiting(a, "through the API, before")
        # Stored by a CLI process: the serving process never holds it in memory.
        cli = a.cli_json(
            "send", "--channel", "test-line", "--type", "general", "--text", "from the command line"
        )
        last = send_waiting(a, "through the API, after")
        burst = [a.send("test-line", f"burst {i}") for i in range(30)]
        batch = send_batch(a)
        wait_drained(a)
        at_b = stored(b, a.name)
        assert [seq for _, seq in at_b] == list(range(1, len(at_b) + 1)), "a gap or a duplicate at B"
        ids = [i for i, _ in at_b]
        for sent in (first, cli, last, *burst, *batch):
            assert ids.count(str(sent["id"])) == 1, sent
        # The waited-for message after the CLI one was receipted, so the CLI one was too.
        assert ids.index(str(cli["id"])) < ids.index(str(last["id"]))
    finally:
        a.kill()
        b.kill()
