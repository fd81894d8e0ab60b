"""Status lines contributed by the workflows and the record (meetings overdue, witnessing)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from parley.node import Node


def extra_status(node: Node) -> dict[str, Any]:
    from parley.workflows.cadence import cadence_for_node

    overdue = [c.to_json() for c in cadence_for_node(node) if c.overdue]
    return {"meetings_overdue": overdue, "record": record_status(node)}


def record_status(node: Node) -> dict[str, Any]:
    """This node's log, its latest checkpoint cosigned by peers, and the peers it witnesses."""
    from parley.record import log
    from parley.record.witness_tables import record_cosignatures, witness_state

    with node.reader.connect() as conn:
        size = log.size(conn)
        cosigned = conn.execute(
            select(
                record_cosignatures.c.cosigner, func.max(record_cosignatures.c.size).label("size")
            ).group_by(record_cosignatures.c.cosigner)
        ).all()
        witnessed = conn.execute(
            select(witness_state.c.peer, witness_state.c.size, witness_state.c.witnessed_at)
        ).all()
    return {
        "log_size": size,
        "cosigned_by": {r.cosigner: int(r.size) for r in cosigned},
        "witnessing": {
            r.peer: {"size": None if r.size is None else int(r.size), "at": r.witnessed_at} for r in witnessed
        },
    }
