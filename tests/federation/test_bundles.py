"""Offline bundles: two nodes that talk only by files, and a link that is partly replaced by one.

The CLI runs in this process (``parley.cli.main.main``) on real homes and real databases;
the mixed case runs real ``parley serve`` processes for the part that goes over the link.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from parley.cli.main import main
from parley.messaging.send import Draft, do_send_message
from parley.node import Node
from parley.storage.tables import acknowledgments, channels, envelopes
from tests.federation.crafting import counts, quick_pair


def cli(capsys: pytest.CaptureFixture[str], home: Path, *args: str) -> tuple[int, str, str]:
    code = main(["--home", str(home), *args])
    out, err = capsys.readouterr()
    return code, out, err


def cli_ok(capsys: pytest.CaptureFixture[str], home: Path, *args: str) -> str:
    code, out, err = cli(capsys, home, *args)
    assert code == 0, err
    return out


def import_json(capsys: pytest.CaptureFixture[str], home: Path, file: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(cli_ok(capsys, home, "import", str(file), "--json"))
    return result


def send(home: Path, text: str) -> str:
    node = Node.open(home)
    try:
        draft = Draft("test-line", "duty", "general", "ROUTINE", "EXERCISE", {"text": text, "lang": "en"})
        return do_send_message(node, draft).id
    finally:
        node.close()


def chain(home: Path, sender: str) -> list[tuple[str, int]]:
    node = Node.open(home)
    try:
        with node.engine.connect() as conn:
            rows = conn.execute(
                select(envelopes.c.id, envelopes.c.seq)
                .where(envelopes.c.sender_node == sender, envelopes.c.type == "general")
                .order_by(envelopes.c.seq)
            ).all()
        return [(r.id, int(r.seq)) for r in rows]
    finally:
        node.close()


def state(home: Path) -> dict[str, int]:
    node = Node.open(home)
    try:
        return counts(node.engine)
    finally:
        node.close()


def urls(engine_kind: str, request: pytest.FixtureRequest) -> tuple[str | None, str | None]:
    if engine_kind == "postgresql":
        factory: Callable[[], str] = request.getfixturevalue("pg_factory")
        return (factory(), factory())
    return (None, None)


def test_exchange_by_bundles_only(
    tmp_path: Path,
    engine_kind: str,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a, b = quick_pair(tmp_path / "homes", db_urls=urls(engine_kind, request))
    files = tmp_path / "carried"
    sent_a = [send(a.home, f"from a {i}") for i in range(3)]
    sent_b = [send(b.home, f"from b {i}") for i in range(2)]

    # A → B: A's envelopes.
    out = cli_ok(
        capsys,
        a.home,
        "export",
        "--channel",
        "test-line",
        "--peer",
        "node-b",
        "--out",
        str(files / "a1.json"),
    )
    assert "3 envelope(s), 0 receipt(s)" in out
    first = import_json(capsys, b.home, files / "a1.json")
    assert (first["stored"], first["duplicates"], first["origin"]) == (3, 0, "node-a")
    assert [i for i, _ in chain(b.home, "node-a")] == sent_a

    # The same bundle again: nothing changes.
    before = state(b.home)
    again = import_json(capsys, b.home, files / "a1.json")
    assert (
        again["stored"],
        again["duplicates"],
        again["receipts_accepted"],
        again["control_applied"],
    ) == (0, 3, 0, 0)
    assert state(b.home) == before
    assert "nothing changed" in cli_ok(capsys, b.home, "import", str(files / "a1.json"))

    # B → A: B's envelopes and B's receipt for A's chain.
    cli_ok(
        capsys,
        b.home,
        "export",
        "--channel",
        "test-line",
        "--peer",
        "node-a",
        "--out",
        str(files / "b1.json"),
    )
    back = import_json(capsys, a.home, files / "b1.json")
    assert (back["stored"], back["receipts_accepted"]) == (2, 1)
    assert [i for i, _ in chain(a.home, "node-b")] == sent_b
    status_a = json.loads(cli_ok(capsys, a.home, "status", "--json"))
    assert [p["outbox_depth"] for p in status_a["peers"] if p["peer"] == "node-b"] == [0]

    # A → B again: nothing new of A's, but A's receipt for B's chain travels back.
    cli_ok(
        capsys,
        a.home,
        "export",
        "--channel",
        "test-line",
        "--peer",
        "node-b",
        "--out",
        str(files / "a2.json"),
    )
    carried = json.loads((files / "a2.json").read_text())["bundle"]
    assert carried["envelopes"] == []
    assert len(carried["receipts"]) == 1
    assert import_json(capsys, b.home, files / "a2.json")["receipts_accepted"] == 1
    status_b = json.loads(cli_ok(capsys, b.home, "status", "--json"))
    assert [p["outbox_depth"] for p in status_b["peers"] if p["peer"] == "node-a"] == [0]

    # An acknowledgment and a status change travel the same way.
    cli_ok(capsys, b.home, "ack", sent_a[0], "--operator", "op-node-b")
    cli_ok(
        capsys,
        a.home,
        "channel",
        "suspend",
        "test-line",
        "--reason",
        "paused",
        "--exempt",
        "incident-at-sea",
    )
    cli_ok(
        capsys,
        b.home,
        "export",
        "--channel",
        "test-line",
        "--peer",
        "node-a",
        "--out",
        str(files / "b2.json"),
    )
    cli_ok(
        capsys,
        a.home,
        "export",
        "--channel",
        "test-line",
        "--peer",
        "node-b",
        "--out",
        str(files / "a3.json"),
    )
    assert import_json(capsys, a.home, files / "b2.json")["stored"] == 1
    assert import_json(capsys, b.home, files / "a3.json")["control_applied"] >= 1
    for home in (a.home, b.home):
        node = Node.open(home)
        try:
            with node.engine.connect() as conn:
                assert conn.execute(select(channels.c.status)).scalar() == "suspended"
                acked = conn.execute(select(acknowledgments.c.message_id)).scalars().all()
            assert acked == [sent_a[0]]
        finally:
            node.close()

    # Both records are intact and hold the same chains.
    for home in (a.home, b.home):
        assert "record intact" in cli_ok(capsys, home, "verify")
    assert chain(a.home, "node-a") == chain(b.home, "node-a")
    assert chain(a.home, "node-b") == chain(b.home, "node-b")


def test_tampered_misaddressed_and_forged_bundles_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = quick_pair(tmp_path / "homes")
    send(a.home, "original text")
    path = tmp_path / "a1.json"
    cli_ok(capsys, a.home, "export", "--channel", "test-line", "--peer", "node-b", "--out", str(path))
    good = json.loads(path.read_text())
    before = state(b.home)

    def refused(doc: Any, code_word: str) -> str:
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps(doc))
        code, _, err = cli(capsys, b.home, "import", str(bad))
        assert code == 1
        assert err.startswith("error: "), err
        assert code_word in err, err
        assert state(b.home) == before, "a refused bundle changed stored state"
        return err

    tampered = json.loads(json.dumps(good))
    tampered["bundle"]["envelopes"][0]["envelope"]["body"]["text"] = "altered text"
    refused(tampered, "does not verify")

    dropped = json.loads(json.dumps(good))
    dropped["bundle"]["receipts"] = [{"receipt": {}, "signature": ""}]
    refused(dropped, "does not verify")

    # Signed by A, but the envelope inside was altered before A signed the bundle: the
    # envelope's own signature still catches it, as it would over the link.
    from parley.protocol import signing

    inner = json.loads(json.dumps(good["bundle"]))
    inner["envelopes"][0]["envelope"]["body"]["text"] = "altered before signing"
    a_node = Node.open(a.home)
    try:
        resigned = {"bundle": inner, "signature": signing.sign("bundle", inner, a_node.key)}
    finally:
        a_node.close()
    refused(resigned, "4 hash")

    # Addressed to someone else; and not a bundle at all.
    code, _, err = cli(capsys, a.home, "import", str(path))
    assert code == 1
    assert "addressed to 'node-b'" in err
    refused({"envelopes": []}, "not a Parley bundle")
    (tmp_path / "junk.json").write_text("{not json")
    code, _, err = cli(capsys, b.home, "import", str(tmp_path / "junk.json"))
    assert code == 1
    assert "not valid JSON" in err

    # The genuine bundle is still accepted afterwards.
    assert import_json(capsys, b.home, path)["stored"] == 1


def test_a_bundle_carries_a_key_rotation_and_is_signed_by_the_new_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Keys change while the link is down (docs/protocol.md §13.4): node-a certifies and
    rotates its key, and its next bundle, signed by the new key, carries its upgraded card
    and the rotation; node-b takes both, then the envelopes signed by the new key. A bundle
    signed by a key no rotation in it introduces is refused."""
    from parley.protocol import signing
    from parley.protocol.keys import SigningKeyPair

    a, b = quick_pair(tmp_path / "homes")
    send(a.home, "before the rotation")
    first = tmp_path / "a1.json"
    cli_ok(capsys, a.home, "export", "--channel", "test-line", "--peer", "node-b", "--out", str(first))
    assert import_json(capsys, b.home, first)["stored"] == 1
    root = tmp_path / "offline" / "a-root.key"
    root.parent.mkdir()
    cli_ok(capsys, a.home, "key", "root", "init", "--out", str(root))
    cli_ok(capsys, a.home, "key", "certify", "--root", str(root))
    cli_ok(capsys, a.home, "key", "rotate", "--root", str(root))
    after = [send(a.home, f"after the rotation {i}") for i in range(2)]
    second = tmp_path / "a2.json"
    cli_ok(capsys, a.home, "export", "--channel", "test-line", "--peer", "node-b", "--out", str(second))
    doc = json.loads(second.read_text())
    assert [c["kind"] for c in doc["bundle"]["control"]][-2:] == ["key", "key"]  # card, rotation

    stranger = {
        "bundle": doc["bundle"],
        "signature": signing.sign("bundle", doc["bundle"], SigningKeyPair.generate()),
    }
    (tmp_path / "stranger.json").write_text(json.dumps(stranger))
    before = state(b.home)
    code, _, err = cli(capsys, b.home, "import", str(tmp_path / "stranger.json"))
    assert code == 1
    assert "does not verify" in err, err
    assert state(b.home) == before

    result = import_json(capsys, b.home, second)
    assert result["stored"] == 2
    assert result["control_applied"] >= 2
    assert [i for i, _ in chain(b.home, "node-a")][1:] == after
    new_id = json.loads(cli_ok(capsys, a.home, "key", "history", "--json"))["keys"][1]["key_id"]
    node_b = Node.open(b.home)
    try:
        pinned = node_b.key_for("node-a")
        assert pinned is not None
        assert pinned.key_id == new_id
    finally:
        node_b.close()


def test_export_refuses_bad_requests_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, _ = quick_pair(tmp_path / "homes")
    out = str(tmp_path / "x.json")
    for args, words in [
        (("--channel", "nope", "--peer", "node-b"), "unknown channel"),
        (("--channel", "test-line", "--peer", "node-z"), "node-z"),
        (("--channel", "test-line"), "--channel and --peer"),
    ]:
        code, _, err = cli(capsys, a.home, "export", *args, "--out", out)
        assert code == 1, err
        assert words in err, err
        assert not Path(out).exists()
    code, _, err = cli(capsys, a.home, "export", "--transcript", "--out", out)
    assert code == 1
    assert "--transcript needs --channel" in err

    # --transcript hands over to the record's transcript export.
    send(a.home, "on the record")
    cli_ok(capsys, a.home, "export", "--transcript", "--channel", "test-line", "--out", out)
    assert json.loads(Path(out).read_text())


@pytest.mark.e2e
@pytest.mark.timeout(180)
def test_part_by_link_part_by_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = quick_pair(tmp_path / "homes")
    a.start()
    b.start()
    try:
        by_link = [a.send("test-line", f"link {i}")["id"] for i in range(5)]
        _wait_depth(a, 0)
        b.kill()  # the link is down: B is unreachable (crashed, even)
        by_file = [a.send("test-line", f"file {i}")["id"] for i in range(5)]
        out = cli_ok(
            capsys,
            a.home,
            "export",
            "--channel",
            "test-line",
            "--peer",
            "node-b",
            "--out",
            str(tmp_path / "a.json"),
        )
        assert "5 envelope(s)" in out, "only what B has not receipted"
        assert import_json(capsys, b.home, tmp_path / "a.json")["stored"] == 5
        cli_ok(
            capsys,
            b.home,
            "export",
            "--channel",
            "test-line",
            "--peer",
            "node-a",
            "--out",
            str(tmp_path / "b.json"),
        )
        assert import_json(capsys, a.home, tmp_path / "b.json")["receipts_accepted"] == 1
        _wait_depth(a, 0)

        b.start()  # the link is back: it carries on from where the bundle left off
        after = a.send("test-line", "link again")["id"]
        _wait_depth(a, 0)
        got = chain(b.home, "node-a")
        assert [i for i, _ in got] == by_link + by_file + [after]
        assert [s for _, s in got] == list(range(1, 12))
    finally:
        a.kill()
        b.kill()


def _wait_depth(node: Any, depth: int, timeout: float = 30.0) -> None:
    """Wait until the running node's outbox to node-b holds ``depth`` envelopes."""
    from parley.federation.outbox import outbox_depth_txn

    reader = Node.open(node.home)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with reader.engine.connect() as conn:
                if outbox_depth_txn(conn, node.name, "node-b") == depth:
                    return
            time.sleep(0.1)
    finally:
        reader.close()
    raise AssertionError(f"outbox depth did not reach {depth}")
