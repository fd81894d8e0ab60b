"""The outbound client refuses, before any byte is sent, a peer address that is not https
(issue 14 item 3); its bounds come from ``[federation]`` in parley.toml.

The behaviour against a live hostile server is tested end to end in test_hostile_peer.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from parley.config import Config
from parley.errors import PeerError
from parley.federation.client import PeerClient
from parley.node import Node, init_home


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    home = init_home(tmp_path / "a", name="node-a", party="Norway", listen="127.0.0.1:1")
    n = Node.open(home)
    yield n
    n.close()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8443",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "HTTP://x",
        "https://",
        "127.0.0.1:8443",
    ],
)
def test_no_client_for_an_address_that_is_not_https(node: Node, url: str) -> None:
    with pytest.raises(PeerError) as caught:
        PeerClient(node, "node-b", url, node.tls_cert_pem(), 1.0)
    assert caught.value.code == "peer_url_not_https"
    assert "nothing was sent" in caught.value.message
    assert "https://" in caught.value.hint


def test_client_bounds_come_from_the_config(node: Node) -> None:
    defaults = Config().federation
    assert defaults.max_answer_bytes == 8 * 1024 * 1024
    assert defaults.connect_timeout_s <= defaults.read_timeout_s <= defaults.request_timeout_s
    client = PeerClient(node, "node-b", "HTTPS://127.0.0.1:8443/", node.tls_cert_pem(), 4.0)
    assert client._max_answer == defaults.max_answer_bytes
    assert client._timeout.total == 4.0
    assert client._timeout.sock_connect == min(defaults.connect_timeout_s, 4.0)
    assert client._timeout.sock_read == 4.0  # never longer than the whole request
