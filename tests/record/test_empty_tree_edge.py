"""The empty tree at the record's edge (issue 14 item 11): no consistency proof from size 0.

``merkle.verify_consistency`` refuses a proof from size 0 (RFC 9162 §2.1.4 defines none).
Its callers must not ask for one: a node whose only cosigned checkpoint is the empty tree
still has its next checkpoint cosigned (trust on first use, docs/record-format.md), and
still exports a proof whose ``witnessed`` part an offline verifier accepts.
"""

from __future__ import annotations

from parley.evidence.offline import KeyRing, check_log_section
from parley.evidence.proof import log_section
from parley.federation.witnessing import cosigned_checkpoint_txn
from parley.record import log
from tests.record_integration.conftest import Nodes, exchange, grow, nodes  # noqa: F401
from tests.record_integration.test_witnessing import open_alarms


def test_witnessing_grows_from_the_empty_tree(nodes: Nodes) -> None:  # noqa: F811
    with nodes.a.engine.connect() as conn:
        assert log.size(conn) == 0, "the scenario needs a node whose log is still empty"
    first = exchange(nodes.a, nodes.b)
    assert first.cosigned_by_peer
    assert first.own_size == 0
    grow(nodes.a, 3)
    # The peer last cosigned size 0: no proof is asked for or checked from there.
    second = exchange(nodes.a, nodes.b)
    assert second.cosigned_by_peer, second
    assert second.own_size == 3
    assert second.alarm is None
    assert open_alarms(nodes.a) == []
    assert open_alarms(nodes.b) == []


def test_proof_from_a_cosigned_empty_tree_exports_and_verifies(nodes: Nodes) -> None:  # noqa: F811
    exchange(nodes.a, nodes.b)
    with nodes.a.engine.connect() as conn:
        cosigned = cosigned_checkpoint_txn(conn)
    assert cosigned is not None
    assert cosigned[0].size == 0
    grow(nodes.a, 5)
    section, checkpoint = log_section(nodes.a, 5)
    assert checkpoint.size == 5
    assert section["witnessed"] is not None
    assert section["witnessed"]["consistency"] == []
    keys = KeyRing({nodes.a.name: nodes.a.key.public, nodes.b.name: nodes.b.key.public})
    _, report = check_log_section(section, keys)
    assert report.witnessed_size == 0
    assert [name for name, _ in report.witnessed_cosigners] == [nodes.b.name]
