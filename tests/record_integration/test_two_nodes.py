"""The shared record between two real node processes.

Link tests every second make the nodes exchange and cosign checkpoints; a proof and a
transcript made on either node verify offline with the two identity cards, and each kind
of tampering is caught with its own message. Editing one node's log tables between two
exchanges raises the security alarm on the other, and messages keep flowing.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from parley.cli.main import main
from parley.devnet.nodes import PARLEY
from parley.node import resolve_db_url
from parley.protocol.keys import SigningKeyPair
from parley.protocol.receipt import make_receipt
from parley.record import log
from parley.record.witness_tables import record_checkpoints, record_cosignatures, witness_state
from parley.storage.engines import create_db_engine
from tests.harness.nodes import NodeProcess, make_pair
from tests.record_integration.conftest import tamper_log

pytestmark = pytest.mark.e2e
CHANNEL = "test-line"


def engine_of(node: NodeProcess) -> Engine:
    return create_db_engine(resolve_db_url(node.home, "sqlite:///parley.db"))


def wait_for(what: str, check: Callable[[], bool], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def drained(*nodes: NodeProcess) -> bool:
    return all(sum(p["outbox_depth"] for p in n.cli_json("status")["peers"]) == 0 for n in nodes)


def fully_cosigned(node: NodeProcess, peer: str) -> bool:
    """The node's whole log is in a checkpoint ``peer`` cosigned."""
    engine = engine_of(node)
    try:
        with engine.connect() as conn:
            size = log.size(conn)
            cosigned = conn.execute(
                select(func.max(record_cosignatures.c.size)).where(record_cosignatures.c.cosigner == peer)
            ).scalar()
    finally:
        engine.dispose()
    return cosigned == size


@dataclass
class World:
    a: NodeProcess
    b: NodeProcess
    base: Path
    from_a: list[str]
    from_b: list[str]

    def cards(self) -> list[str]:
        return [
            "--key",
            str(self.base / "node-a.card.json"),
            "--key",
            str(self.base / "node-b.card.json"),
        ]


def start_pair(base: Path) -> tuple[NodeProcess, NodeProcess]:
    a, b = make_pair(base, interval=1, tick=0.2)
    a.start()
    b.start()
    return a, b


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("record")
    a, b = start_pair(base)
    try:
        from_a = [a.send(CHANNEL, f"from a {i}")["id"] for i in range(6)]
        from_b = [b.send(CHANNEL, f"from b {i}")["id"] for i in range(3)]
        wait_for("delivery", lambda: drained(a, b))
        b.cli("ack", from_a[1], "--operator", "op-node-b")
        a.cli("ack", from_b[0], "--operator", "op-node-a")
        wait_for(
            "acknowledgments",
            lambda: (
                a.cli_json("show", from_a[1])["acknowledgment"] is not None
                and b.cli_json("show", from_b[0])["acknowledgment"] is not None
            ),
        )
        wait_for("delivery", lambda: drained(a, b))
        wait_for(
            "cosigned checkpoints",
            lambda: fully_cosigned(a, "node-b") and fully_cosigned(b, "node-a"),
        )
        yield World(a, b, base, from_a, from_b)
    finally:
        a.stop()
        b.stop()


def offline(*args: str) -> subprocess.CompletedProcess[str]:
    """``parley`` with no home at all: nothing but the files given."""
    env = {k: v for k, v in os.environ.items() if k != "PARLEY_HOME"}
    return subprocess.run([*PARLEY, *args], capture_output=True, text=True, timeout=120, env=env)


def verify(
    capsys: pytest.CaptureFixture[str], world: World, kind: str, data: Any, tmp: Path
) -> tuple[int, str, str]:
    """``parley verify --<kind> FILE --key …`` in process, on ``data`` written to a file."""
    path = tmp / f"check-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(data))
    capsys.readouterr()
    code = main(["verify", f"--{kind}", str(path), *world.cards()])
    out = capsys.readouterr()
    return code, out.out, out.err


# -- witnessing ---------------------------------------------------------------------------


def test_both_nodes_hold_each_others_cosigned_checkpoints(world: World) -> None:
    for node, peer in ((world.a, "node-b"), (world.b, "node-a")):
        engine = engine_of(node)
        try:
            with engine.connect() as conn:
                size = log.size(conn)
                assert size > 0
                own = conn.execute(select(record_checkpoints.c.size)).scalars().all()
                assert size in own
                state = conn.execute(select(witness_state).where(witness_state.c.peer == peer)).one()
                assert state.size is not None
                assert state.size > 0
                assert state.note.startswith(f"parley.{peer}\n")
        finally:
            engine.dispose()
        assert [a for a in node.cli_json("status")["alarms"] if a["severity"] == "security"] == []


# -- proofs -------------------------------------------------------------------------------


def test_proof_verifies_offline_with_both_cards(world: World, tmp_path: Path) -> None:
    message = world.from_a[1]
    for node in (world.a, world.b):
        out = tmp_path / f"proof-{node.name}.json"
        made = node.cli("proof", message, "--out", str(out))
        assert "wrote the proof" in made.stdout
        checked = offline("verify", "--proof", str(out), *world.cards())
        assert checked.returncode == 0, checked.stderr
        text = checked.stdout
        assert f"proof of message {message} VALID" in text
        assert "receipted by node-b" in text
        assert "acknowledged by op-node-b" in text
        assert "acknowledgment receipted by node-a" in text
        other = "node-b" if node is world.a else "node-a"
        assert f"cosigned by {other}" in text
        assert "not yet cosigned" not in text
        data = json.loads(out.read_text())
        roles = [i["role"] for i in data["items"]]
        assert roles[0] == "message"
        assert "acknowledgment" in roles
        assert "receipt" in roles


def test_proof_needs_the_cards(world: World, tmp_path: Path) -> None:
    out = tmp_path / "proof.json"
    world.a.cli("proof", world.from_a[0], "--out", str(out))
    only_a = offline("verify", "--proof", str(out), "--key", str(world.base / "node-a.card.json"))
    assert only_a.returncode == 1
    assert "no identity card for 'node-b'" in only_a.stderr


def test_tampered_proofs_are_refused(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "proof.json"
    world.a.cli("proof", world.from_a[1], "--out", str(out))
    good = json.loads(out.read_text())
    assert verify(capsys, world, "proof", good, tmp_path)[0] == 0

    edited = copy.deepcopy(good)
    edited["items"][0]["data"]["envelope"]["body"]["text"] += "!"
    code, _, err = verify(capsys, world, "proof", edited, tmp_path)
    assert code == 1
    assert "4 hash: item 1 (message)" in err

    moved = copy.deepcopy(good)
    moved["items"][0]["leaf_index"] += 1
    code, _, err = verify(capsys, world, "proof", moved, tmp_path)
    assert code == 1
    assert "4 log" in err
    assert "not in node-a's log at leaf" in err

    ack = next(i for i in good["items"] if i["role"] == "acknowledgment")
    swapped = copy.deepcopy(good)
    swapped["items"][0] = copy.deepcopy(ack)
    swapped["items"][0]["role"] = "message"
    code, _, err = verify(capsys, world, "proof", swapped, tmp_path)
    assert code == 1
    assert "5 relations" in err


# -- transcripts --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def transcript(world: World, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("transcript") / "transcript.json"
    made = world.a.cli("transcript", "export", "--channel", CHANNEL, "--out", str(out), "--json")
    summary = json.loads(made.stdout)
    assert summary["envelopes"] == 6 + 3 + 2  # messages and acknowledgments of both sides
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def test_transcript_verifies_offline(world: World, tmp_path: Path) -> None:
    for node in (world.a, world.b):
        out = tmp_path / f"transcript-{node.name}.json"
        # node-b goes through the offline bundles' `parley export`, which hands it over.
        command = ("transcript", "export") if node is world.a else ("export", "--transcript")
        node.cli(*command, "--channel", CHANNEL, "--out", str(out))
        checked = offline("verify", "--transcript", str(out), *world.cards())
        assert checked.returncode == 0, checked.stderr
        text = checked.stdout
        assert f"transcript of channel {CHANNEL} VALID" in text
        assert "node-a: 7 envelopes, seq 1–7, receipted by node-b up to seq 7" in text
        assert "node-b: 4 envelopes, seq 1–4, receipted by node-a up to seq 4" in text
        assert "2 acknowledgments" in text
        assert "not cosigned" not in text


def envelope_entries(data: dict[str, Any], sender: str) -> list[int]:
    return [
        n
        for n, e in enumerate(data["entries"])
        if e["kind"] == "envelope" and e["data"]["envelope"]["sender"]["node"] == sender
    ]


def test_changed_byte_is_caught(
    world: World, transcript: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = copy.deepcopy(transcript)
    n = envelope_entries(data, "node-b")[1]
    body = data["entries"][n]["data"]["envelope"]["body"]
    body["text"] = body["text"].replace("b", "B", 1)
    code, _, err = verify(capsys, world, "transcript", data, tmp_path)
    assert code == 1
    assert err.startswith(f"error: 4 hash: entry {n}: content hash is")


def test_missing_message_is_caught(
    world: World, transcript: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = copy.deepcopy(transcript)
    ours = envelope_entries(data, "node-a")
    del data["entries"][ours[2]]
    code, _, err = verify(capsys, world, "transcript", data, tmp_path)
    assert code == 1
    assert "6 chain" in err
    assert "node-a's seq 3 is missing before it" in err
    # The last message of a chain is missed by the receipt that names it.
    data = copy.deepcopy(transcript)
    theirs = envelope_entries(data, "node-b")
    last = data["entries"][theirs[-1]]["data"]["envelope"]["seq"]
    del data["entries"][theirs[-1]]
    code, _, err = verify(capsys, world, "transcript", data, tmp_path)
    assert code == 1
    assert f"names node-b's seq {last}" in err
    assert "a message is missing" in err


def test_reordered_messages_are_caught(
    world: World, transcript: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = copy.deepcopy(transcript)
    i, j = envelope_entries(data, "node-a")[:2]
    data["entries"][i], data["entries"][j] = data["entries"][j], data["entries"][i]
    code, _, err = verify(capsys, world, "transcript", data, tmp_path)
    assert code == 1
    assert "6 order" in err
    assert "reordered" in err
    assert f"entry {i}" in err
    # Swapping the leaf indices as well does not help: the chain gives it away.
    data["entries"][i]["leaf_index"], data["entries"][j]["leaf_index"] = (
        data["entries"][j]["leaf_index"],
        data["entries"][i]["leaf_index"],
    )
    code, _, err = verify(capsys, world, "transcript", data, tmp_path)
    assert code == 1
    assert "6 order" in err
    assert "node-a's seq 1 comes after it" in err


def test_forged_receipt_is_caught(
    world: World, transcript: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = copy.deepcopy(transcript)
    n = next(
        n
        for n, e in enumerate(data["entries"])
        if e["kind"] == "receipt" and e["data"]["receipt"]["receiver"] == "node-b"
    )
    real = data["entries"][n]["data"]["receipt"]
    # Someone without node-b's key: the signature gives it away.
    stranger = make_receipt(
        key=SigningKeyPair.generate(),
        receiver="node-b",
        channel=CHANNEL,
        sender="node-a",
        upto_seq=real["upto_seq"],
        upto_hash=real["upto_hash"],
        received_at=real["received_at"],
    )
    data["entries"][n]["data"] = stranger.to_json()
    code, _, err = verify(capsys, world, "transcript", data, tmp_path)
    assert code == 1
    assert f"entry {n}" in err
    assert "signature of 'node-b' on the receipt does not verify" in err
    # node-b's own key, receipting a hash node-a never sent: signed, but forged.
    key_b = SigningKeyPair.load(world.b.home / "identity.key")
    lying = make_receipt(
        key=key_b,
        receiver="node-b",
        channel=CHANNEL,
        sender="node-a",
        upto_seq=real["upto_seq"],
        upto_hash="sha256:" + "0" * 64,
        received_at=real["received_at"],
    )
    data["entries"][n]["data"] = lying.to_json()
    code, _, err = verify(capsys, world, "transcript", data, tmp_path)
    assert code == 1
    assert f"entry {n}" in err
    assert "forged receipt" in err


def test_wrong_checkpoint_is_caught(
    world: World, transcript: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Another root in the signed note: the signature no longer holds.
    data = copy.deepcopy(transcript)
    origin, size, root, rest = data["log"]["checkpoint"].split("\n", 3)
    other = root[:-2] + ("A" if root[-2] != "A" else "E") + "="
    data["log"]["checkpoint"] = "\n".join([origin, size, other, rest])
    code, _, err = verify(capsys, world, "transcript", data, tmp_path)
    assert code == 1
    assert err.startswith("error: 3 checkpoint: the checkpoint:")
    # A genuine checkpoint of node-a, but an older one: the entries do not fit it.
    engine = engine_of(world.a)
    try:
        with engine.connect() as conn:
            older = conn.execute(
                select(record_checkpoints.c.note)
                .where(record_checkpoints.c.size < int(size))
                .order_by(record_checkpoints.c.size.desc())
            ).first()
    finally:
        engine.dispose()
    assert older is not None
    data = copy.deepcopy(transcript)
    data["log"]["checkpoint"] = older.note
    data["log"]["witnessed"] = None
    code, _, err = verify(capsys, world, "transcript", data, tmp_path)
    assert code == 1
    assert "beyond the checkpoint" in err or "7 log" in err
    # The checkpoint of the other node's log is not this log's.
    data = copy.deepcopy(transcript)
    data["log"]["node"], data["log"]["origin"] = "node-b", "parley.node-b"
    code, _, err = verify(capsys, world, "transcript", data, tmp_path)
    assert code == 1
    assert "3 checkpoint" in err


# -- an inconsistent peer log -------------------------------------------------------------


def test_inconsistent_peer_log_raises_an_alarm_and_messages_flow(tmp_path: Path) -> None:
    a, b = start_pair(tmp_path / "pair")
    try:
        for i in range(4):
            b.send(CHANNEL, f"before {i}")
        wait_for("delivery", lambda: drained(a, b))
        wait_for("node-a witnessing node-b", lambda: fully_cosigned(b, "node-a"))
        engine = engine_of(b)
        try:
            tamper_log(engine)
        finally:
            engine.dispose()

        def alarmed() -> bool:
            alarms = a.cli_json("status")["alarms"]
            return any(
                x["severity"] == "security"
                and x["kind"] in ("record_fork", "record_inconsistent")
                and x["subject"] == "node-b"
                for x in alarms
            )

        wait_for("the security alarm on node-a", alarmed)
        shown = a.cli("status").stdout
        assert "ALARM [SECURITY] " in shown  # the severity as the catalogue names it
        assert "node-b's record" in shown
        # Nothing else stops: messages still flow both ways and are receipted.
        sent = [b.send(CHANNEL, f"after {i}")["id"] for i in range(3)]
        sent += [a.send(CHANNEL, f"reply {i}")["id"] for i in range(2)]
        wait_for("delivery after the alarm", lambda: drained(a, b))
        assert all(a.cli_json("show", m)["wire"] for m in sent[:3])
        assert alarmed()
    finally:
        a.stop()
        b.stop()
