"""The CLI as a working tool, against real node processes (issue 13 item 7).

``send --wait`` reports who receipted a message and when, and gives up with exit code 3
(stored, still queued) when the peer does not answer in time; ``serve`` refuses to start a
second time on a running home or on a port another program holds, without first claiming
to serve; ``peer remove`` refuses while the node runs. Processes are started and stopped
by PID (parley.devnet.nodes).
"""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from parley.devnet.nodes import PARLEY, NodeProcess, init_node, make_pair

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeProcess, NodeProcess]]:
    a, b = make_pair(tmp_path_factory.mktemp("cli-tool"), tick=0.2)
    try:
        a.start()
        b.start()
        yield a, b
    finally:
        a.stop()
        b.stop()


def _serve(home: Path) -> subprocess.CompletedProcess[str]:
    """``parley serve`` expected to refuse: it must exit on its own, well within the bound."""
    return subprocess.run(
        [*PARLEY, "--home", str(home), "serve"], capture_output=True, text=True, timeout=60, check=False
    )


def test_send_wait_reports_the_receipt_then_gives_up_with_exit_3(
    running: tuple[NodeProcess, NodeProcess],
) -> None:
    a, b = running
    out = a.cli_here("send", "--channel", "test-line", "--text", "ping", "--wait", "--timeout", "60").stdout
    lines = out.splitlines()
    assert lines[0].startswith("Stored: General message, ROUTINE, Actual, on channel test-line as no. 1")
    assert lines[1].startswith(f"Receipted by {b.name} at 20")
    assert "; acknowledgment due 20" in lines[1]
    message_id = lines[-1].split()[-1]
    data = json.loads(a.cli_here("send", "--channel", "test-line", "--text", "2", "--wait", "--json").stdout)
    assert data["receipted_by_all"] is True
    assert data["serving"] is True
    assert [r["receiver"] for r in data["receipts"]] == [b.name]
    assert data["receipts"][0]["receipted_at"].endswith("Z")
    shown = json.loads(b.cli_here("show", message_id, "--json").stdout)
    assert shown["wire"]["envelope"]["body"]["text"] == "ping"

    b.stop()
    late = a.cli_here(
        "send", "--channel", "test-line", "--text", "3", "--wait", "--timeout", "1", check=False
    )
    assert late.returncode == 3, late.stderr
    assert f"Not receipted by {b.name} within" in late.stdout
    assert "it stays queued" in late.stdout
    assert json.loads(a.cli_here("status", "--json").stdout)["peers"][0]["outbox_depth"] == 1
    b.start()


def test_serve_and_peer_remove_refuse_while_the_node_runs(
    running: tuple[NodeProcess, NodeProcess],
) -> None:
    a, _ = running
    pid_file = (a.home / "serve.pid").read_text()
    second = _serve(a.home)
    assert second.returncode == 1
    assert second.stderr.startswith(
        f"error: {a.name} is already running (pid {a.proc.pid if a.proc else '?'}"
    )
    assert "serving on" not in second.stderr + second.stdout
    assert (a.home / "serve.pid").read_text() == pid_file, "the running node's pid file is left alone"
    refused = a.cli_here("peer", "remove", "node-b", check=False)
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"error: {a.name} is running; a peer is removed while it is stopped")


def test_serve_says_the_port_is_taken(tmp_path: Path) -> None:
    node = init_node(tmp_path, "node-p", "Norway")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", node.port))
        holder.listen(1)
        result = _serve(node.home)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: port {node.port} on 127.0.0.1 is taken by another program — stop it "
        f"(`ss -ltnp 'sport = :{node.port}'` shows which), or give this node another port: "
        "[node] listen in parley.toml"
    ]
    assert not (node.home / "serve.pid").exists()
